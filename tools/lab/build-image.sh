#!/usr/bin/env bash
# Build a lab host image: Debian with systemd, made with debootstrap (no image pulls), one per Debian suite.
#
#   tools/lab/build-image.sh                            # bookworm: builds once, then reuses (prints the image reference)
#   EKSD_LAB_SUITE=trixie tools/lab/build-image.sh      # Debian 13
#   EKSD_LAB_REBUILD=1 tools/lab/build-image.sh         # rebuild even if cached
#
# Prints progress on stderr and the image reference on stdout.
# Result: podman image localhost/eksd-lab-node:<suite>-<key>, also tagged :<suite> (and :latest for bookworm, the
# default suite, so that the image name existing labs use keeps meaning bookworm), where <key> hashes everything
# that goes into the image (the suite, this script, the package list, the host's apt configuration copied into
# it). The rootfs tarball is cached per suite as ${EKSD_CACHE:-~/.cache/eksd}/lab/rootfs-<suite>-<key>.tar, so a
# machine that lost its podman storage only re-imports; building one suite never drops another suite's image or
# tarball.
#
# Kubernetes node packages (containerd, conntrack, socat, ebtables, ethtool, ...) are deliberately NOT
# in the image: the collection's roles install them. The image carries the host's apt sources and
# apt settings (proxy, auth, Check-Valid-Until) so `apt-get install containerd` works inside a node; where the
# suite is not the host's own, the host's codename in those sources (bookworm, bookworm-updates,
# bookworm-security, ...) is replaced by the suite's, so a trixie node installs trixie's packages.
#
# Env: EKSD_CACHE, EKSD_LAB_IMAGE (default localhost/eksd-lab-node), EKSD_LAB_SUITE (bookworm),
#      EKSD_DEBIAN_MIRROR (default: first Debian URI of the host's apt sources), EKSD_LAB_REBUILD=1.
set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "build-image.sh: run as root" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${EKSD_CACHE:-${HOME:-/root}/.cache/eksd}
LABCACHE=$CACHE/lab
IMAGE=${EKSD_LAB_IMAGE:-localhost/eksd-lab-node}
SUITE=${EKSD_LAB_SUITE:-bookworm}
DEFAULT_SUITE=bookworm
[[ $SUITE =~ ^[a-z]+$ ]] || { echo "build-image.sh: EKSD_LAB_SUITE must be a Debian codename (bookworm, trixie), not '$SUITE'" >&2; exit 1; }
# The host's own codename: its apt sources name it, and a node of another suite gets that suite's name instead.
HOST_SUITE=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
INCLUDE=systemd,systemd-sysv,dbus,python3,sudo,iproute2,procps,iptables,ca-certificates,curl,kmod,iputils-ping,openssh-server

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
log() { echo "build-image: $*" >&2; }

# --- the host's apt configuration that goes into the image ----------------------------------------
# Sources (one-line and deb822), keyrings, auth, and the apt.conf.d files that set Acquire:: options
# (proxy, Check-Valid-Until, ...). Files named *.disabled* or not ending in .list/.sources are skipped.
apt_files() {
    local f
    [[ -f /etc/apt/sources.list ]] && echo /etc/apt/sources.list
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] && echo "$f"
    done
    [[ -f /etc/apt/auth.conf ]] && echo /etc/apt/auth.conf
    for f in /etc/apt/auth.conf.d/* /etc/apt/keyrings/* /etc/apt/trusted.gpg /etc/apt/trusted.gpg.d/*; do
        [[ -f $f ]] && echo "$f"
    done
    for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
        [[ -f $f ]] && grep -qiE '^[[:space:]]*Acquire' "$f" && echo "$f"
    done
    return 0
}
# Keyring files named by Signed-By outside /etc/apt (e.g. /usr/share/keyrings/...).
signed_by_files() {
    local f
    for f in $(apt_files | grep -E '\.(list|sources)$'); do
        grep -ohE '(Signed-By:[[:space:]]*|signed-by=)[^] ,]+' "$f" | sed -E 's/^(Signed-By:[[:space:]]*|signed-by=)//'
    done | sort -u | while read -r k; do [[ -f $k && $k != /etc/apt/* ]] && echo "$k"; done
    return 0
}

debian_mirror() {
    [[ -n ${EKSD_DEBIAN_MIRROR:-} ]] && { echo "$EKSD_DEBIAN_MIRROR"; return; }
    local uri
    uri=$(apt_files | grep -E '\.(list|sources)$' | xargs -r cat 2>/dev/null \
          | grep -oE '(https?)://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ')
    echo "${uri:-http://deb.debian.org/debian}"
}

MIRROR=$(debian_mirror)
mapfile -t APT_FILES < <(apt_files; signed_by_files)

# --- cache key --------------------------------------------------------------------------------------
KEY=$( {
    echo "suite=$SUITE host_suite=$HOST_SUITE include=$INCLUDE mirror=$MIRROR"
    sha256sum "${BASH_SOURCE[0]}" "$HERE/node-cgroups.sh" | cut -d' ' -f1
    for f in "${APT_FILES[@]}"; do echo "$f"; sha256sum "$f" | cut -d' ' -f1; done
} | sha256sum | cut -c1-12 )
REF=$IMAGE:$SUITE-$KEY
TARBALL=$LABCACHE/rootfs-$SUITE-$KEY.tar
# Tags that name this suite's current image: :<suite>, and :latest for the default suite.
ALIASES=("$IMAGE:$SUITE")
[[ $SUITE == "$DEFAULT_SUITE" ]] && ALIASES+=("$IMAGE:latest")
tag_aliases() { local a; for a in "${ALIASES[@]}"; do podman tag "$REF" "$a"; done; }

T0=$(now)
if [[ -z ${EKSD_LAB_REBUILD:-} ]] && podman image exists "$REF"; then
    tag_aliases
    log "image $REF exists: nothing to do"
    echo "$REF"
    exit 0
fi

mkdir -p "$LABCACHE"

if [[ -n ${EKSD_LAB_REBUILD:-} || ! -s $TARBALL ]]; then
    command -v debootstrap >/dev/null || { echo "build-image: debootstrap missing: run tools/lab/setup-host.sh" >&2; exit 1; }
    WORK=$(mktemp -d "$LABCACHE/build-$KEY.XXXXXX")
    ROOTFS=$WORK/rootfs
    cleanup() {
        # debootstrap mounts proc/sys/dev inside the target; never rm -rf through a mount.
        if [[ -d $ROOTFS ]]; then
            findmnt -rno TARGET | grep -F "$ROOTFS" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
            if findmnt -rno TARGET | grep -qF "$ROOTFS"; then
                echo "build-image: mounts remain under $ROOTFS, leaving it" >&2; return
            fi
        fi
        rm -rf --one-file-system "$WORK"
    }
    trap cleanup EXIT

    log "debootstrap $SUITE from $MIRROR"
    t=$(now)
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOTFS" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
        || { tail -30 "$WORK/debootstrap.log" >&2; exit 1; }
    T_DEBOOTSTRAP=$(elapsed "$t")
    log "debootstrap took ${T_DEBOOTSTRAP}s"

    t=$(now)
    # apt: the host's sources, keys, auth and Acquire settings replace debootstrap's sources.list.
    rm -f "$ROOTFS/etc/apt/sources.list"
    for f in "${APT_FILES[@]}"; do
        install -D -m "$(stat -c %a "$f")" "$f" "$ROOTFS$f"
    done
    # Another suite than the host's: its sources name the suite (bookworm-updates -> trixie-updates, ...); the
    # expression runs twice because two names in a row ("bookworm bookworm-updates") share the space between them.
    if [[ -n $HOST_SUITE && $HOST_SUITE != "$SUITE" ]]; then
        for f in "${APT_FILES[@]}"; do
            [[ $f =~ \.(list|sources)$ ]] || continue
            sed -i -E "s/(^|[[:space:]])$HOST_SUITE(-[a-z]+)?([[:space:]]|$)/\1$SUITE\2\3/g; s/(^|[[:space:]])$HOST_SUITE(-[a-z]+)?([[:space:]]|$)/\1$SUITE\2\3/g" "$ROOTFS$f"
        done
        log "apt sources: $HOST_SUITE replaced by $SUITE"
    fi
    # Identity: an empty machine-id makes systemd generate one per container at boot.
    : > "$ROOTFS/etc/machine-id"
    rm -f "$ROOTFS/var/lib/dbus/machine-id"
    echo node > "$ROOTFS/etc/hostname"
    # No consoles in a container; no udev; no timers that download or churn.
    for u in getty@tty1.service serial-getty@.service console-getty.service getty.target \
             systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service \
             apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
             systemd-firstboot.service; do
        ln -sfn /dev/null "$ROOTFS/etc/systemd/system/$u"
    done
    # journald: keep the logs in memory, bounded.
    mkdir -p "$ROOTFS/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=64M\n' > "$ROOTFS/etc/systemd/journald.conf.d/lab.conf"
    # apt inside nodes: no recommends, no docs (smaller, faster installs by the roles).
    printf 'APT::Install-Recommends "false";\n' > "$ROOTFS/etc/apt/apt.conf.d/90lab-no-recommends"

    # modprobe: this kernel has every module built in and no /lib/modules. At boot, a unit writes
    # /lib/modules/$(uname -r)/modules.builtin (the modules among those a node asks for that
    # /proc/config.gz says are built in, plus those in /sys/module) and runs depmod, so that
    # `modprobe br_netfilter` succeeds while `modprobe ip_vs` still fails on a kernel without IPVS.
    # If the host bind-mounts a real /lib/modules, the unit does nothing.
    install -m 0755 /dev/stdin "$ROOTFS/usr/local/sbin/eksd-lab-modules" <<'SH'
#!/bin/sh
# Generated by tools/lab/build-image.sh: make modprobe succeed for built-in modules.
set -eu
KVER=$(uname -r)
DIR=/lib/modules/$KVER
[ -e "$DIR/modules.dep" ] && [ ! -e "$DIR/.eksd-lab" ] && exit 0
mkdir -p "$DIR"
CONFIG=$(mktemp)
if [ -r /proc/config.gz ]; then zcat /proc/config.gz > "$CONFIG"; fi
{
  while read -r mod sym; do
      grep -q "^CONFIG_$sym=y" "$CONFIG" && echo "$mod"
  done <<'MAP'
overlay OVERLAY_FS
bridge BRIDGE
stp BRIDGE
llc LLC
br_netfilter BRIDGE_NETFILTER
veth VETH
vxlan VXLAN
geneve GENEVE
ipip NET_IPIP
tun TUN
dummy DUMMY
macvlan MACVLAN
ipvlan IPVLAN
wireguard WIREGUARD
8021q VLAN_8021Q
x_tables NETFILTER_XTABLES
ip_tables IP_NF_IPTABLES
iptable_filter IP_NF_FILTER
iptable_nat IP_NF_NAT
iptable_mangle IP_NF_MANGLE
iptable_raw IP_NF_RAW
ip6_tables IP6_NF_IPTABLES
ip6table_filter IP6_NF_FILTER
ip6table_nat IP6_NF_NAT
ip6table_mangle IP6_NF_MANGLE
ip6table_raw IP6_NF_RAW
nf_conntrack NF_CONNTRACK
nf_nat NF_NAT
nf_defrag_ipv4 NF_DEFRAG_IPV4
nf_defrag_ipv6 NF_DEFRAG_IPV6
nf_reject_ipv4 NF_REJECT_IPV4
nf_tables NF_TABLES
nft_compat NFT_COMPAT
nft_chain_nat NFT_NAT
nft_ct NFT_CT
nft_masq NFT_MASQ
nft_nat NFT_NAT
nfnetlink NETFILTER_NETLINK
ip_set IP_SET
xt_conntrack NETFILTER_XT_MATCH_CONNTRACK
xt_comment NETFILTER_XT_MATCH_COMMENT
xt_mark NETFILTER_XT_MARK
xt_addrtype NETFILTER_XT_MATCH_ADDRTYPE
xt_multiport NETFILTER_XT_MATCH_MULTIPORT
xt_statistic NETFILTER_XT_MATCH_STATISTIC
xt_set NETFILTER_XT_SET
xt_MASQUERADE NETFILTER_XT_TARGET_MASQUERADE
xt_nat NETFILTER_XT_NAT
xt_tcpudp NETFILTER_XTABLES
xt_physdev NETFILTER_XT_MATCH_PHYSDEV
xt_recent NETFILTER_XT_MATCH_RECENT
xt_REDIRECT NETFILTER_XT_TARGET_REDIRECT
ip_vs IP_VS
ip_vs_rr IP_VS_RR
ip_vs_wrr IP_VS_WRR
ip_vs_sh IP_VS_SH
MAP
  ls /sys/module 2>/dev/null | while read -r m; do [ -e "/sys/module/$m/initstate" ] || echo "$m"; done
} | sort -u | sed 's|.*|kernel/builtin/&.ko|' > "$DIR/modules.builtin"
rm -f "$CONFIG"
: > "$DIR/modules.order"
touch "$DIR/.eksd-lab"
depmod -a "$KVER"
SH
    cat > "$ROOTFS/etc/systemd/system/eksd-lab-modules.service" <<'UNIT'
[Unit]
Description=Lab: declare the kernel's built-in modules to modprobe
DefaultDependencies=no
Before=systemd-modules-load.service sysinit.target
ConditionVirtualization=container

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/eksd-lab-modules
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
UNIT
    mkdir -p "$ROOTFS/etc/systemd/system/sysinit.target.wants"
    ln -sfn /etc/systemd/system/eksd-lab-modules.service \
        "$ROOTFS/etc/systemd/system/sysinit.target.wants/eksd-lab-modules.service"

    # Reboots: the nested cgroup view (node-cgroups.sh) is made again at every boot, before any service
    # (containerd, etcd, the kubelet ...) starts, so that a restarted node comes back like a machine.
    install -m 0755 "$HERE/node-cgroups.sh" "$ROOTFS/usr/local/sbin/eksd-lab-cgroups"
    cat > "$ROOTFS/etc/systemd/system/eksd-lab-cgroups.service" <<'UNIT'
[Unit]
Description=Lab: show the node's own cgroups at the root of each cgroup v1 hierarchy
DefaultDependencies=no
Before=sysinit.target containerd.service kubelet.service etcd.service
ConditionVirtualization=container

[Service]
Type=oneshot
ExecStart=/bin/sh /usr/local/sbin/eksd-lab-cgroups
RemainAfterExit=yes

[Install]
WantedBy=sysinit.target
UNIT
    ln -sfn /etc/systemd/system/eksd-lab-cgroups.service \
        "$ROOTFS/etc/systemd/system/sysinit.target.wants/eksd-lab-cgroups.service"

    # SSH, as on a real host: root logs in with a key (tools/lab/lab-up.sh installs the lab's public key).
    # No host keys in the image: each node makes its own at first boot (they survive restarts, not re-creation).
    rm -f "$ROOTFS"/etc/ssh/ssh_host_*
    cat > "$ROOTFS/etc/systemd/system/eksd-lab-ssh-keys.service" <<'UNIT'
[Unit]
Description=Lab: generate this node's SSH host keys
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
UNIT
    mkdir -p "$ROOTFS/etc/systemd/system/multi-user.target.wants" "$ROOTFS/etc/systemd/system/ssh.service.wants"
    ln -sfn /etc/systemd/system/eksd-lab-ssh-keys.service \
        "$ROOTFS/etc/systemd/system/ssh.service.wants/eksd-lab-ssh-keys.service"
    printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\nMaxStartups 100:30:200\n' \
        > "$ROOTFS/etc/ssh/sshd_config.d/lab.conf"
    ln -sfn /lib/systemd/system/ssh.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/ssh.service"

    # Smaller image: no apt lists or caches (nodes run apt-get update themselves).
    rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
           "$ROOTFS"/var/log/*.log "$ROOTFS"/debootstrap

    tar --numeric-owner --xattrs --acls -C "$ROOTFS" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    T_TAR=$(elapsed "$t")
    log "configured and packed $(du -h "$TARBALL" | cut -f1) in ${T_TAR}s -> $TARBALL"
    trap - EXIT
    cleanup
    # Keep only the current key's tarball of this suite (and drop the default suite's tarballs from before
    # suites were in the name, rootfs-<key>.tar).
    find "$LABCACHE" -maxdepth 1 -name "rootfs-$SUITE-*.tar" ! -name "rootfs-$SUITE-$KEY.tar" -delete
    if [[ $SUITE == "$DEFAULT_SUITE" ]]; then
        find "$LABCACHE" -maxdepth 1 -regextype egrep -regex '.*/rootfs-[0-9a-f]{12}\.tar' -delete
    fi
else
    log "reusing cached rootfs $TARBALL"
fi

t=$(now)
podman import --quiet \
    --change 'CMD ["/sbin/init"]' \
    --change 'ENV container=podman' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL eksd.lab.key=$KEY" \
    --change "LABEL eksd.lab.suite=$SUITE" \
    "$TARBALL" "$REF" >/dev/null
tag_aliases
# Drop this suite's images of earlier keys (kept if a container still uses them), and for the default suite
# the tags from before suites were in the name (:<key>). Other suites' images stay.
old_tags="^$SUITE-[0-9a-f]{12}\$"
[[ $SUITE == "$DEFAULT_SUITE" ]] && old_tags="$old_tags|^[0-9a-f]{12}\$"
for tag in $(podman images --filter reference="$IMAGE" --format '{{.Tag}}' | grep -E "$old_tags" | grep -vx "$SUITE-$KEY"); do
    if podman rmi "$IMAGE:$tag" >/dev/null 2>&1; then log "removed old image $IMAGE:$tag"; fi
done
log "podman import took $(elapsed "$t")s"
log "done in $(elapsed "$T0")s: $REF (also ${ALIASES[*]})"
echo "$REF"
