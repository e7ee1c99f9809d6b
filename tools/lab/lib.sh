# Shared settings and helpers for tools/lab/*.sh (sourced, not run).
# shellcheck shell=bash disable=SC2034

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_HERE/../.." && pwd)
CACHE=${EKSD_CACHE:-${HOME:-/root}/.cache/eksd}
LABCACHE=$CACHE/lab
RUN=$LABCACHE/run
# The lab's SSH key pair (made once by lab-up, kept) and the nodes' host keys (rewritten by every lab-up).
SSH_DIR=$LABCACHE/ssh
SSH_KEY=$SSH_DIR/id_ed25519
SSH_KNOWN_HOSTS=$SSH_DIR/known_hosts
NET=${EKSD_LAB_NETWORK:-eksd-lab}
SUBNET=${EKSD_LAB_SUBNET:-10.89.64.0/24}
PREFIX=${EKSD_LAB_PREFIX:-eksd-node}
IMAGE=${EKSD_LAB_IMAGE:-localhost/eksd-lab-node}
MIRROR_DIR=${MIRROR_DIR:-$CACHE/mirror}
MIRROR_PORT=${EKSD_LAB_MIRROR_PORT:-8080}
REGISTRY_PORT=${EKSD_LAB_REGISTRY_PORT:-5000}
REGISTRY_DIR=${EKSD_LAB_REGISTRY_DIR:-$CACHE/registry}
# Debian's python3, not whatever python3 comes first on PATH (pyenv shims, virtualenvs).
SYS_PYTHON=/usr/bin/python3
[[ -x $SYS_PYTHON ]] || SYS_PYTHON=python3
# Only the lab's own addresses are ever contacted: no proxies.
CURL=(curl -fsS --noproxy '*' --max-time 5)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

# subnet_addr OFFSET [SUBNET] -> the address at OFFSET from the subnet's network address (1 = gateway)
subnet_addr() {
    "$SYS_PYTHON" -c 'import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(n.network_address+int(sys.argv[2]))' \
        "${2:-$SUBNET}" "$1"
}
GATEWAY=$(subnet_addr 1)
# Routed shape (EKSD_LAB_ROUTED=1): odd nodes on NET, even nodes on a second network NET2 (default: NET-2 on the
# /24 after SUBNET), routed to each other through this host without NAT (not one layer-2 segment).
ROUTED=${EKSD_LAB_ROUTED:-0}
[[ $ROUTED == 1 || $ROUTED == true || $ROUTED == yes ]] && ROUTED=1 || ROUTED=0
NET2=${EKSD_LAB_NETWORK2:-$NET-2}
SUBNET2=${EKSD_LAB_SUBNET2:-$("$SYS_PYTHON" -c 'import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(ipaddress.ip_network(f"{n.broadcast_address+1}/{n.prefixlen}"))' "$SUBNET")}
GATEWAY2=$(subnet_addr 1 "$SUBNET2")
# iptables rules of the routed shape on this host carry this comment (lab-down removes them by it).
ROUTED_COMMENT="eksd-lab routed $NET $NET2"
# Machine-wide settings that lab nodes (netavark, kubelets) change; lab-down puts them back.
# (the kernel parameters are those every kubelet sets, or with protectKernelDefaults node_prep: they are global)
LAB_SYSCTLS="net/ipv4/ip_forward vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
  kernel/keys/root_maxbytes fs/inotify/max_user_instances"
LAB_INOTIFY_INSTANCES=1024
# node_network N / node_ip N: a node's network and address (.11, .12, ...; even nodes on NET2 in the routed shape)
node_network() { if ((ROUTED && $1 % 2 == 0)); then echo "$NET2"; else echo "$NET"; fi; }
node_ip() { if ((ROUTED && $1 % 2 == 0)); then subnet_addr $((10 + $1)) "$SUBNET2"; else subnet_addr $((10 + $1)); fi; }

# routed_rules ACTION: the host's iptables rules between SUBNET and SUBNET2 (ACTION -C, -I or -D): forwarded both ways
# and not masqueraded (netavark masquerades whatever leaves a network's subnet), so nodes see each other's addresses.
routed_rules() {
    local action=$1 src dst table chain rc=0
    for pair in "$SUBNET $SUBNET2" "$SUBNET2 $SUBNET"; do
        read -r src dst <<< "$pair"
        for table_chain in "nat POSTROUTING" "filter FORWARD"; do
            read -r table chain <<< "$table_chain"
            iptables -w -t "$table" "$action" "$chain" -s "$src" -d "$dst" -m comment --comment "$ROUTED_COMMENT" -j ACCEPT \
                2>/dev/null || rc=1
        done
    done
    return $rc
}

# pid_alive PIDFILE PATTERN: the pidfile names a live process whose command line contains PATTERN.
pid_alive() {
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# stop_pidfile PIDFILE PATTERN NAME: stop that process (TERM, then KILL after 5 s), drop the pidfile.
stop_pidfile() {
    local pid
    if pid_alive "$1" "$2"; then
        pid=$(<"$1")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
        echo "stopped $3 (pid $pid)"
    fi
    rm -f "$1"
}

# This lab's nodes only: several labs (EKSD_LAB_PREFIX, _NETWORK, _SUBNET, ports, EKSD_CACHE) may run side by side.
lab_nodes() { podman ps -a --filter label=eksd-lab.node --format '{{.Names}}' 2>/dev/null | grep -E "^${PREFIX}[0-9]+$" | sort -V; }

# remove_containers TIMEOUT NAME...: podman rm -f, tried again after a pause: a node that stops on its own while
# podman kills it makes podman fail with "container state improper: stopped" and leave it in place.
remove_containers() {
    local timeout=$1 try
    shift
    for try in 1 2 3; do
        podman rm -f -i -t "$timeout" "$@" >/dev/null 2>&1 && return 0
        echo "podman rm ${*} failed (try $try), trying again" >&2
        sleep 2
    done
    podman rm -f -i -t "$timeout" "$@" >/dev/null
}
