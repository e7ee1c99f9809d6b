#!/usr/bin/env bash
# Bring up the lab: N Debian/systemd hosts in privileged podman containers, an HTTP artifact mirror
# and a container registry, all on a podman network of the lab's own.
#
#   tools/lab/lab-up.sh [NODES]        # default 2: node1 control plane + etcd, node2 worker
#   HA=1 tools/lab/lab-up.sh [NODES]   # default 4: node1-3 control plane + stacked etcd, rest workers
#   SPARE=2 tools/lab/lab-up.sh 4      # the last 2 nodes in group spare, outside the cluster (for scale.yml)
#   EKSD_LAB_SUITES="bookworm trixie" tools/lab/lab-up.sh   # node1 Debian 12, node2 Debian 13 (one image per suite)
#
# Idempotent: with a lab up it reuses the network, nodes and servers (starts stopped ones, adds
# missing nodes, removes nodes beyond NODES). Runs tools/lab/setup-host.sh and build-image.sh first
# (both are no-ops once done).
#
# Nodes:     eksd-node1..N (hostname and network alias node1..N), IPs <subnet>.11, .12, ...
# Suites:    EKSD_LAB_SUITES, Debian suites by node: the first word for node1, the second for node2, ...; nodes past
#            the list take its last word (default: EKSD_LAB_SUITE, else bookworm, for every node). A node that
#            runs another suite than asked is re-created.
# Network:   eksd-lab, 10.89.64.0/24, gateway 10.89.64.1 (EKSD_LAB_SUBNET to change)
# Routed:    EKSD_LAB_ROUTED=1 puts even nodes on a second network (EKSD_LAB_NETWORK2, default <network>-2, and
#            EKSD_LAB_SUBNET2, default the next /24), routed to the first through this host without NAT
# Mirror:    http://<gateway>:8080/ serves $MIRROR_DIR (default ${EKSD_CACHE:-~/.cache/eksd}/mirror)
# Registry:  <gateway>:5000, plain HTTP, storage ${EKSD_CACHE}/registry (Debian's docker-registry)
# Inventory: ${EKSD_CACHE}/lab/hosts.yml (inventories/lab/hosts.yml is the committed 2-node one): nodes by IP over
#            SSH as root with the key ${EKSD_CACHE}/lab/ssh/id_ed25519; EKSD_LAB_CONNECTION=podman for containers.podman
# Servers run detached with pidfiles in ${EKSD_CACHE}/lab/run; tools/lab/lab-down.sh stops them.
set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "lab-up.sh: run as root" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HA=${HA:-0}
[[ $HA == 1 || $HA == true || $HA == yes ]] && HA=1 || HA=0
NODES=${1:-${NODES:-$( ((HA)) && echo 4 || echo 2 )}}
[[ $NODES =~ ^[0-9]+$ && $NODES -ge 1 ]] || { echo "lab-up: NODES must be a positive number" >&2; exit 1; }
((HA && NODES < 3)) && { echo "lab-up: HA needs at least 3 nodes" >&2; exit 1; }
CONTROL_PLANES=$( ((HA)) && echo 3 || echo 1 )
# Spare nodes: up and reachable, but in no cluster group, so that scale.yml has hosts to add.
SPARE=${SPARE:-${EKSD_LAB_SPARE:-0}}
[[ $SPARE =~ ^[0-9]+$ ]] && ((NODES - SPARE >= CONTROL_PLANES)) \
    || { echo "lab-up: SPARE must be a number that leaves $CONTROL_PLANES control plane(s) of $NODES nodes" >&2; exit 1; }
((NODES <= 200)) || { echo "lab-up: at most 200 nodes" >&2; exit 1; }

# How Ansible reaches the nodes: ssh (by IP, as on real hosts; the default) or podman (containers.podman).
CONNECTION=${EKSD_LAB_CONNECTION:-ssh}
[[ $CONNECTION == ssh || $CONNECTION == podman ]] \
    || { echo "lab-up: EKSD_LAB_CONNECTION must be ssh or podman, not '$CONNECTION'" >&2; exit 1; }

log() { echo "lab-up: $*"; }
T0=$(now)

# Debian suite of each node (NODE_SUITE[i]) from EKSD_LAB_SUITES.
read -r -a SUITES <<< "${EKSD_LAB_SUITES:-${EKSD_LAB_SUITE:-bookworm}}"
((${#SUITES[@]})) || SUITES=(bookworm)
declare -A NODE_SUITE=() SUITE_REF=()
for i in $(seq 1 "$NODES"); do
    s=${SUITES[$(( i <= ${#SUITES[@]} ? i - 1 : ${#SUITES[@]} - 1 ))]}
    [[ $s =~ ^[a-z]+$ ]] || { echo "lab-up: EKSD_LAB_SUITES holds '$s', not a Debian codename (bookworm, trixie)" >&2; exit 1; }
    NODE_SUITE[$i]=$s
done

# --- host prerequisites and images (one per suite) ----------------------------------------------------
mkdir -p "$RUN" "$MIRROR_DIR" "$REGISTRY_DIR"
"$LAB_HERE/setup-host.sh" > "$RUN/setup-host.log" 2>&1 || { cat "$RUN/setup-host.log" >&2; exit 1; }
t=$(now)
for s in $(printf '%s\n' "${NODE_SUITE[@]}" | sort -u); do
    SUITE_REF[$s]=$(EKSD_LAB_SUITE=$s "$LAB_HERE/build-image.sh" | tail -1)
done
REF=${SUITE_REF[${NODE_SUITE[1]}]}
T_IMAGE=$(elapsed "$t")

# --- network(s) ---------------------------------------------------------------------------------------
t=$(now)
# make_network NAME SUBNET GATEWAY: reuse it with that subnet, or create it where the subnet is free.
make_network() {
    local net=$1 subnet=$2 gateway=$3 have others routes
    if podman network exists "$net"; then
        have=$(podman network inspect "$net" --format '{{range .Subnets}}{{.Subnet}} {{end}}' | xargs)
        [[ $have == "$subnet" ]] || {
            echo "lab-up: network $net has subnet '$have', wanted $subnet: run tools/lab/lab-down.sh first" >&2; exit 1; }
        log "network $net ($subnet) exists"
        return 0
    fi
    # The subnet must not overlap anything this host routes to or another podman network.
    others=$(podman network ls --format '{{.Name}}' | grep -vx "$net" \
             | xargs -r podman network inspect --format '{{range .Subnets}}{{.Subnet}} {{end}}' 2>/dev/null || true)
    routes=$(ip -o -4 route show table all | awk '$1 != "default" && $1 != "broadcast" && $1 != "local" {print $1} $1 == "local" || $1 == "broadcast" {print $2}')
    # shellcheck disable=SC2086 # word lists
    "$SYS_PYTHON" - "$subnet" $others $routes <<'PY'
import ipaddress, sys
want = ipaddress.ip_network(sys.argv[1])
for other in sys.argv[2:]:
    try:
        net = ipaddress.ip_network(other, strict=False)
    except ValueError:
        continue
    if net.version == want.version and net.prefixlen > 0 and net.overlaps(want):
        sys.exit(f"lab-up: subnet {want} overlaps {net} on this host: set EKSD_LAB_SUBNET (EKSD_LAB_SUBNET2 for the second network)")
PY
    # Global kernel settings the lab changes on this machine: netavark turns on ip_forward for NAT, and
    # a kubelet in a privileged node sets the vm/kernel tunables it wants. Remember them for lab-down.
    if [[ ! -e $RUN/sysctl.orig ]]; then
        for key in $LAB_SYSCTLS; do echo "$key $(<"/proc/sys/$key")"; done > "$RUN/sysctl.orig"
    fi
    podman network create --subnet "$subnet" --gateway "$gateway" --label eksd-lab=1 "$net" >/dev/null
    log "created network $net ($subnet, gateway $gateway)"
}
make_network "$NET" "$SUBNET" "$GATEWAY"
if ((ROUTED)); then
    ((NODES >= 2)) || { echo "lab-up: EKSD_LAB_ROUTED=1 needs at least 2 nodes" >&2; exit 1; }
    make_network "$NET2" "$SUBNET2" "$GATEWAY2"
    # The host routes between its two bridges (both subnets are connected routes here): forward both ways and do
    # not masquerade between them (only these two subnets; lab-down removes the rules by their comment).
    if ! routed_rules -C; then
        routed_rules -D || true
        routed_rules -I
        log "routing $SUBNET <-> $SUBNET2 through this host without NAT (iptables, comment '$ROUTED_COMMENT')"
    fi
elif podman network exists "$NET2" && [[ $(podman network inspect "$NET2" --format '{{index .Labels "eksd-lab"}}') == 1 ]] \
        && [[ -z $(podman ps -a --filter network="$NET2" --format '{{.Names}}') ]]; then
    podman network rm -f "$NET2" >/dev/null
    routed_rules -D || true
    log "removed network $NET2 of an earlier routed lab"
fi

# Every node's systemd, containerd and kubelet take inotify instances from the one per-user limit of
# the host (root's, 128 by default): a few nodes exhaust it and kubelets fail with "too many open files".
# lab-down puts the recorded value back.
if (($(</proc/sys/fs/inotify/max_user_instances) < LAB_INOTIFY_INSTANCES)); then
    echo "$LAB_INOTIFY_INSTANCES" > /proc/sys/fs/inotify/max_user_instances
    log "raised fs.inotify.max_user_instances to $LAB_INOTIFY_INSTANCES"
fi

# --- nodes --------------------------------------------------------------------------------------------
# Hosts of the apt sources that this machine resolves through /etc/hosts resolve the same in nodes.
add_hosts=()
# shellcheck disable=SC2013 # host names, one per word
for h in $(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
           | grep -oE 'https?://[^/ ]+' | sed -E 's|https?://||; s|:[0-9]+$||' | sort -u); do
    addr=$(awk -v h="$h" '!/^#/ { for (i = 2; i <= NF; i++) if ($i == h) { print $1; exit } }' /etc/hosts)
    [[ -n $addr ]] && add_hosts+=(--add-host "$h:$addr")
done
# The lab is an air gap: the EKS-D site and public.ecr.aws resolve to nowhere inside nodes, so a
# mirror that is not used (or a registry fallback) fails at once instead of leaving the machine.
for h in distro.eks.amazonaws.com public.ecr.aws; do
    add_hosts+=(--add-host "$h:127.0.0.255")
done

# remove_node NAME REASON: the node and its volumes go (the next loop makes it anew when it is within NODES).
remove_node() {
    remove_containers 5 "$1"
    podman volume rm -f "$1-containerd" "$1-kubelet" >/dev/null 2>&1 || true
    log "removed $1 ($2)"
}

# Nodes beyond NODES from an earlier, bigger lab go.
for c in $(lab_nodes); do
    n=${c#"$PREFIX"}
    if [[ $n =~ ^[0-9]+$ ]] && ((n > NODES)); then
        remove_node "$c" "beyond NODES=$NODES"
    fi
done

created=0
for i in $(seq 1 "$NODES"); do
    name=$PREFIX$i
    ip=$(node_ip "$i")
    suite=${NODE_SUITE[$i]}
    if podman container exists "$name"; then
        have=$(podman inspect "$name" --format '{{index .Config.Labels "eksd-lab.suite"}}')
        have_net=$(podman inspect "$name" --format '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}')
        if [[ ${have:-bookworm} != "$suite" ]]; then
            remove_node "$name" "Debian ${have:-bookworm}, wanted $suite"
        elif [[ $have_net != "$(node_network "$i")" ]]; then
            remove_node "$name" "on another network than $(node_network "$i")"
        fi
    fi
    if podman container exists "$name"; then
        state=$(podman inspect "$name" --format '{{.State.Status}}')
        if [[ $state == running ]] && podman exec "$name" true >/dev/null 2>&1; then
            continue
        fi
        start_error=
        if [[ $state != running ]]; then
            if start_error=$(podman start "$name" 2>&1 >/dev/null); then
                log "started $name ($state before)"
                continue
            fi
            start_error=$(tail -n 1 <<<"$start_error")
        fi
        # Podman's record says running but nothing runs, or it cannot start the node: its state outlived the
        # processes (a machine restored from a snapshot, or restarted with /run on disk, where podman's own
        # reboot check does not fire). Such a node cannot be revived; it is made anew, like a missing one.
        remove_node "$name" "podman lists it as $state, but it does not run${start_error:+ and podman start says: $start_error}"
    fi
    for v in "$name-containerd" "$name-kubelet"; do
        podman volume exists "$v" || podman volume create --label eksd-lab=1 "$v" >/dev/null
    done
    # --privileged + --systemd=always: systemd as PID 1 with a writable cgroup tree (per NOTES.md).
    # /var/lib/containerd on a volume: overlayfs snapshots cannot sit on the node's overlay root.
    # /var/lib/kubelet on a volume with rshared propagation, for kubelet's volume mounts.
    podman run -d --name "$name" --hostname "node$i" \
        --label eksd-lab.node="node$i" --label eksd-lab.suite="$suite" \
        --systemd=always --privileged \
        --network "$(node_network "$i")" --ip "$ip" --network-alias "node$i" \
        "${add_hosts[@]}" \
        -v "$name-containerd:/var/lib/containerd" \
        -v "$name-kubelet:/var/lib/kubelet:rshared" \
        "${SUITE_REF[$suite]}" /sbin/init >/dev/null 2>"$RUN/podman-run.err" \
        || { cat "$RUN/podman-run.err" >&2; exit 1; }
    # (aardvark-dns, started with the first node, says "failed to connect to syslog": harmless)
    grep -v 'failed to connect to syslog' "$RUN/podman-run.err" >&2 || true
    created=$((created + 1))
done
log "$NODES node(s) up ($created created)"

# Wait for systemd in every node: about a second on an idle machine, minutes when other clusters load it.
boot_timeout=${EKSD_LAB_BOOT_TIMEOUT:-300}
for i in $(seq 1 "$NODES"); do
    name=$PREFIX$i
    state=
    deadline=$((SECONDS + boot_timeout))
    while ((SECONDS < deadline)); do
        state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
        [[ $state == running || $state == degraded ]] && break
        sleep 0.5
    done
    case $state in
        running) ;;
        degraded) log "WARNING: $name is degraded: $(podman exec "$name" systemctl --failed --no-legend --plain | awk '{print $1}' | xargs)" ;;
        *) echo "lab-up: $name did not boot (systemctl is-system-running: '$state')" >&2
           podman logs --tail 30 "$name" >&2 || true; exit 1 ;;
    esac
done
# Nested cgroups the way kind does them (node-cgroups.sh): the image's eksd-lab-cgroups.service does it at
# every boot, before containerd and the kubelet; check that it did.
for i in $(seq 1 "$NODES"); do
    podman exec "$PREFIX$i" test -e /run/eksd-cgroup-fixed \
        || { echo "lab-up: eksd-lab-cgroups.service did not run in $PREFIX$i" >&2; exit 1; }
done

# --- SSH: one key pair for the lab (made once, kept with the cache), root's authorized key in every node,
# and the nodes' host keys in a known_hosts file of the lab's own (rewritten here: re-created nodes have new
# host keys). Ansible reaches the nodes by IP over SSH unless EKSD_LAB_CONNECTION=podman.
mkdir -p "$SSH_DIR"
chmod 700 "$SSH_DIR"
if [[ ! -s $SSH_KEY || ! -s $SSH_KEY.pub ]]; then
    rm -f "$SSH_KEY" "$SSH_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C "eksd-lab@$(hostname)" -f "$SSH_KEY"
    log "made the lab's SSH key $SSH_KEY"
fi
: > "$SSH_KNOWN_HOSTS.new"
for i in $(seq 1 "$NODES"); do
    name=$PREFIX$i
    podman exec -i "$name" sh -c 'umask 077; mkdir -p /root/.ssh; cat > /root/.ssh/authorized_keys' < "$SSH_KEY.pub"
    deadline=$((SECONDS + boot_timeout))
    until podman exec "$name" systemctl is-active -q ssh.service; do
        ((SECONDS < deadline)) || { echo "lab-up: sshd does not run in $name" >&2
                                    podman exec "$name" systemctl status --no-pager ssh.service >&2 || true; exit 1; }
        sleep 0.5
    done
    hostkey=$(podman exec "$name" cat /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $1, $2}')
    echo "$(node_ip "$i") $hostkey" >> "$SSH_KNOWN_HOSTS.new"
done
mv "$SSH_KNOWN_HOSTS.new" "$SSH_KNOWN_HOSTS"
T_NODES=$(elapsed "$t")

# --- artifact mirror (HTTP) and registry, bound to the gateway address -------------------------------
t=$(now)
for _ in $(seq 50); do ip -o -4 addr show | grep -q " $GATEWAY/" && break; sleep 0.1; done
ip -o -4 addr show | grep -q " $GATEWAY/" || { echo "lab-up: gateway $GATEWAY not on this host" >&2; exit 1; }

MIRROR_URL=http://$GATEWAY:$MIRROR_PORT
if ! pid_alive "$RUN/mirror.pid" http.server || ! "${CURL[@]}" -o /dev/null "$MIRROR_URL/"; then
    stop_pidfile "$RUN/mirror.pid" http.server "artifact mirror" >/dev/null
    setsid "$SYS_PYTHON" -m http.server --bind "$GATEWAY" --directory "$MIRROR_DIR" "$MIRROR_PORT" \
        >> "$RUN/mirror.log" 2>&1 < /dev/null &
    echo $! > "$RUN/mirror.pid"
    disown
    log "started artifact mirror (pid $(<"$RUN/mirror.pid")) serving $MIRROR_DIR"
fi

REGISTRY=$GATEWAY:$REGISTRY_PORT
cat > "$RUN/registry.yml.new" <<EOF
# Generated by tools/lab/lab-up.sh
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
EOF
if ! cmp -s "$RUN/registry.yml.new" "$RUN/registry.yml"; then
    mv "$RUN/registry.yml.new" "$RUN/registry.yml"
    stop_pidfile "$RUN/registry.pid" docker-registry registry >/dev/null
else
    rm -f "$RUN/registry.yml.new"
fi
if ! pid_alive "$RUN/registry.pid" docker-registry || ! "${CURL[@]}" -o /dev/null "http://$REGISTRY/v2/"; then
    stop_pidfile "$RUN/registry.pid" docker-registry registry >/dev/null
    setsid /usr/bin/docker-registry serve "$RUN/registry.yml" >> "$RUN/registry.log" 2>&1 < /dev/null &
    echo $! > "$RUN/registry.pid"
    disown
    log "started registry (pid $(<"$RUN/registry.pid")) storing in $REGISTRY_DIR"
fi

wait_http() {
    local url=$1 what=$2 logf=$3
    for _ in $(seq 100); do
        "${CURL[@]}" -o /dev/null "$url" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "lab-up: $what does not answer at $url; last log lines:" >&2
    tail -20 "$logf" >&2 || true
    exit 1
}
wait_http "$MIRROR_URL/" "artifact mirror" "$RUN/mirror.log"
wait_http "http://$REGISTRY/v2/" registry "$RUN/registry.log"
T_SERVERS=$(elapsed "$t")

# --- images: the mirror builder leaves OCI layouts at $MIRROR_DIR/images/<repo>/<tag>; publish them
# under eks-distro/<repo>:<tag>, the paths public.ecr.aws uses, so a registry mirror for it serves them.
t=$(now)
pushed=0
if [[ -d $MIRROR_DIR/images ]]; then
    while IFS= read -r layout; do
        rel=${layout#"$MIRROR_DIR/images/"}
        repo=eks-distro/${rel%/*}
        tag=${rel##*/}
        "$SYS_PYTHON" "$LAB_HERE/oci.py" push --registry "$REGISTRY" --repo "$repo" --tag "$tag" --layout "$layout" >/dev/null
        pushed=$((pushed + 1))
    done < <(find "$MIRROR_DIR/images" -name index.json -printf '%h\n' | sort)
fi
# Images that are not EKS-D's (tools/mirror/build_flannel.py: flannel) lie at $MIRROR_DIR/oci/<repo>/<tag> and are
# published under <repo>:<tag> as they are (docker.io/flannel/flannel is served from <registry>/flannel/flannel).
if [[ -d $MIRROR_DIR/oci ]]; then
    while IFS= read -r layout; do
        rel=${layout#"$MIRROR_DIR/oci/"}
        "$SYS_PYTHON" "$LAB_HERE/oci.py" push --registry "$REGISTRY" --repo "${rel%/*}" --tag "${rel##*/}" --layout "$layout" >/dev/null
        pushed=$((pushed + 1))
    done < <(find "$MIRROR_DIR/oci" -name index.json -printf '%h\n' | sort)
fi
log "published $pushed image(s) from $MIRROR_DIR/images and $MIRROR_DIR/oci to $REGISTRY in $(elapsed "$t")s"

# --- inventory ----------------------------------------------------------------------------------------
# host_vars NODE_NUMBER INDENT: how Ansible reaches that node
host_vars() {
    local pad=$2
    if [[ $CONNECTION == ssh ]]; then
        echo "${pad}ansible_host: $(node_ip "$1")"
    else
        echo "${pad}ansible_host: $PREFIX$1"
    fi
    echo "${pad}ip: $(node_ip "$1")"
    echo "${pad}lab_container: $PREFIX$1"
    echo "${pad}lab_suite: ${NODE_SUITE[$1]}"
}
# connection_vars INDENT
connection_vars() {
    local pad=$1
    if [[ $CONNECTION == ssh ]]; then
        echo "${pad}ansible_connection: ssh"
        echo "${pad}ansible_user: root"
        echo "${pad}ansible_ssh_private_key_file: $SSH_KEY"
        echo "${pad}ansible_ssh_common_args: -o UserKnownHostsFile=$SSH_KNOWN_HOSTS -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
    else
        echo "${pad}ansible_connection: containers.podman.podman"
    fi
    echo "${pad}ansible_python_interpreter: /usr/bin/python3"
}
write_inventory() {
    local i
    echo "# Lab inventory generated by tools/lab/lab-up.sh: $NODES node(s)$( ((HA)) && echo ', HA'), network $NET $SUBNET$( ((ROUTED)) \
        && echo " (odd nodes) and $NET2 $SUBNET2 (even nodes), routed through the host")."
    if [[ $CONNECTION == ssh ]]; then
        echo "# Hosts are podman containers (lab_container) reached over SSH by IP, as root with the lab's key."
    else
        echo "# Hosts are podman containers (tools/lab/lab-up.sh); reach them with the containers.podman connection."
    fi
    echo "all:"
    echo "  children:"
    echo "    k8s_cluster:"
    echo "      vars:"
    connection_vars "        "
    echo "        eksd_artifact_mirror: http://$GATEWAY:$MIRROR_PORT"
    echo "        eksd_image_mirror: $GATEWAY:$REGISTRY_PORT"
    echo "        eksd_allow_http: true"
    echo "        # this lab's manifests are rebuilt in place (same URL, new content): cache them with the lab"
    echo "        eksd_manifest_cache_dir: $LABCACHE/manifests"
    echo "        # the lab's resolvers (podman's aardvark-dns 1.4 on the gateway, the machine's) answer DNS over UDP only:"
    echo "        # pods' dig +tcp of names that reach them through the search list (dns.podman) would get SERVFAIL"
    echo "        coredns_upstream_prefer_udp: true"
    echo "        # lab nodes see the host's disk: the kubelet's default thresholds (15% image fs, 10% node fs free)"
    echo "        # would taint every node with disk-pressure as soon as the development machine's disk is 85% full"
    echo "        kubelet_config_overrides:"
    echo "          evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}"
    echo "      children:"
    echo "        control_plane:"
    echo "          hosts:"
    for i in $(seq 1 "$CONTROL_PLANES"); do
        echo "            node$i:"
        host_vars "$i" "              "
    done
    echo "        etcd:"
    echo "          hosts:"
    for i in $(seq 1 "$CONTROL_PLANES"); do
        echo "            node$i:"
    done
    if ((NODES - SPARE > CONTROL_PLANES)); then
        echo "        workers:"
        echo "          hosts:"
        for i in $(seq $((CONTROL_PLANES + 1)) $((NODES - SPARE))); do
            echo "            node$i:"
            host_vars "$i" "              "
        done
    else
        echo "        workers:"
    fi
    ((SPARE > 0)) || return 0
    echo "    spare:"
    echo "      vars:"
    connection_vars "        "
    echo "      hosts:"
    for i in $(seq $((NODES - SPARE + 1)) "$NODES"); do
        echo "        node$i:"
        host_vars "$i" "          "
    done
}
write_inventory > "$LABCACHE/hosts.yml"
cat > "$LABCACHE/lab.env" <<EOF
# Generated by tools/lab/lab-up.sh
EKSD_LAB_NETWORK=$NET
EKSD_LAB_SUBNET=$SUBNET
EKSD_LAB_GATEWAY=$GATEWAY
EKSD_LAB_NODES=$NODES
EKSD_LAB_HA=$HA
EKSD_LAB_ROUTED=$ROUTED
EKSD_LAB_NETWORK2=$( ((ROUTED)) && echo "$NET2")
EKSD_LAB_SUBNET2=$( ((ROUTED)) && echo "$SUBNET2")
EKSD_LAB_IMAGE=$REF
EKSD_LAB_SUITES="$(for i in $(seq 1 "$NODES"); do echo "${NODE_SUITE[$i]}"; done | xargs)"
EKSD_ARTIFACT_MIRROR=$MIRROR_URL
EKSD_IMAGE_MIRROR=$REGISTRY
EKSD_LAB_INVENTORY=$LABCACHE/hosts.yml
EKSD_LAB_CONNECTION=$CONNECTION
EKSD_LAB_SSH_KEY=$SSH_KEY
EKSD_LAB_KNOWN_HOSTS=$SSH_KNOWN_HOSTS
MIRROR_DIR=$MIRROR_DIR
EKSD_LAB_REGISTRY_DIR=$REGISTRY_DIR
EOF

same=
if cmp -s <(grep -v '^#' "$LABCACHE/hosts.yml") <(grep -v '^#' "$LAB_REPO/inventories/lab/hosts.yml" 2>/dev/null); then
    same=" (same hosts as inventories/lab/hosts.yml)"
fi

# --- summary ------------------------------------------------------------------------------------------
echo
echo "Lab up in $(elapsed "$T0")s (image ${T_IMAGE}s, network+nodes ${T_NODES}s, mirror+registry ${T_SERVERS}s)"
printf '  %-12s %-8s %-14s %-24s %-9s %s\n' CONTAINER HOST IP ROLE SUITE STATE
for i in $(seq 1 "$NODES"); do
    role=worker
    ((i <= CONTROL_PLANES)) && role=control_plane+etcd
    ((i > NODES - SPARE)) && role=spare
    printf '  %-12s %-8s %-14s %-24s %-9s %s\n' "$PREFIX$i" "node$i" "$(node_ip "$i")" "$role" "${NODE_SUITE[$i]}" \
        "$(podman exec "$PREFIX$i" systemctl is-system-running 2>/dev/null || true)"
done
for s in $(printf '%s\n' "${NODE_SUITE[@]}" | sort -u); do
    printf '  image:     %s (%s)\n' "${SUITE_REF[$s]}" "$s"
done
echo "  network:   $NET $SUBNET gateway $GATEWAY"
((ROUTED)) && echo "  network:   $NET2 $SUBNET2 gateway $GATEWAY2 (even nodes; routed to $NET through this host, no NAT)"
echo "  mirror:    $MIRROR_URL/ -> $MIRROR_DIR"
echo "  registry:  $REGISTRY (http) -> $REGISTRY_DIR"
echo "  inventory: $LABCACHE/hosts.yml$same ($CONNECTION)"
if [[ $CONNECTION == ssh ]]; then
    echo "  ssh:       ssh -i $SSH_KEY -o UserKnownHostsFile=$SSH_KNOWN_HOSTS root@$(node_ip 1)"
fi
echo "  env:       $LABCACHE/lab.env"
