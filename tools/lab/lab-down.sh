#!/usr/bin/env bash
# Take the lab down: nodes, their volumes, the network, the artifact mirror and the registry.
#
#   tools/lab/lab-down.sh
#
# Keeps the caches and the lab's SSH key pair: the node image and its rootfs tarball, $MIRROR_DIR, the registry's storage.
# Nodes get 2 s to shut down, then are killed (they are disposable).
# Idempotent: with nothing up it does nothing. Restores the kernel settings lab-up recorded (LAB_SYSCTLS) to what they were before
# the first lab-up if no podman container is left running.
set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "lab-down.sh: run as root" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

T0=$(now)
if command -v podman >/dev/null; then
    mapfile -t nodes < <(lab_nodes)
    if ((${#nodes[@]})); then
        remove_containers 2 "${nodes[@]}"
        echo "removed ${nodes[*]}"
    fi
    mapfile -t vols < <(podman volume ls -q 2>/dev/null | grep -E "^${PREFIX}[0-9]+-(containerd|kubelet)$" | sort -u)
    if ((${#vols[@]})); then
        podman volume rm -f "${vols[@]}" >/dev/null
        echo "removed volumes ${vols[*]}"
    fi
    # the routed shape's second network (named in lab.env, else by the same defaults) and its host rules
    if [[ -s $LABCACHE/lab.env ]]; then
        net2=$(sed -n 's/^EKSD_LAB_NETWORK2=//p' "$LABCACHE/lab.env")
        subnet2=$(sed -n 's/^EKSD_LAB_SUBNET2=//p' "$LABCACHE/lab.env")
        if [[ -n $net2 ]]; then NET2=$net2; SUBNET2=$subnet2; ROUTED_COMMENT="eksd-lab routed $NET $NET2"; fi
    fi
    for net in "$NET" "$NET2"; do
        if podman network exists "$net" && { [[ $net == "$NET" ]] \
                || [[ $(podman network inspect "$net" --format '{{index .Labels "eksd-lab"}}') == 1 ]]; }; then
            podman network rm -f "$net" >/dev/null
            echo "removed network $net"
        fi
    done
fi
# (the rules are read whole first: grep -q stopping early would fail the pipeline under pipefail)
if command -v iptables >/dev/null \
        && grep -qF "\"$ROUTED_COMMENT\"" <<< "$(iptables -w -S FORWARD 2>/dev/null; iptables -w -t nat -S POSTROUTING 2>/dev/null)"; then
    routed_rules -D || true
    echo "removed the routing rules '$ROUTED_COMMENT'"
fi

stop_pidfile "$RUN/mirror.pid" http.server "artifact mirror"
stop_pidfile "$RUN/registry.pid" docker-registry registry

if [[ -s $RUN/sysctl.orig ]] && [[ -z $(podman ps -q --filter label=eksd-lab.node 2>/dev/null) ]]; then
    while read -r key orig; do
        if [[ $(<"/proc/sys/$key") != "$orig" ]]; then
            echo "$orig" > "/proc/sys/$key"
            echo "restored ${key//\//.}=$orig"
        fi
    done < "$RUN/sysctl.orig"
    rm -f "$RUN/sysctl.orig"
fi

rm -f "$LABCACHE/hosts.yml" "$LABCACHE/lab.env" "$SSH_KNOWN_HOSTS"
# The lab cluster's PKI and admin kubeconfig (tools/lab/lab.sh) belong to the hosts just removed.
rm -rf "$LABCACHE/cluster" "$LABCACHE/manifests"
[[ -d $RUN ]] && find "$RUN" -mindepth 1 -maxdepth 1 ! -name sysctl.orig -exec rm -rf {} +
rmdir "$RUN" 2>/dev/null || true
echo "lab down in $(elapsed "$T0")s (kept: image $IMAGE, $LABCACHE/rootfs-*.tar, $MIRROR_DIR, $REGISTRY_DIR)"
