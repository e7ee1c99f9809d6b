#!/usr/bin/env bash
# Check a running lab end to end (run tools/lab/lab-up.sh first).
#
#   tools/lab/smoke.sh [NODE]      # NODE: container that gets containerd (default: the last node)
#
# 1. every node pings every other node by hostname (nodeN), container name and IP;
# 2. every node fetches the artifact mirror (http://<gateway>:8080/);
# 3. builds a one-file busybox image with tools/lab/oci.py and pushes it to the lab registry as
#    eks-distro/test/busybox:v1;
# 4. on NODE: installs containerd from Debian (apt inside the node), configures it as the roles do
#    (SystemdCgroup, config_path=/etc/containerd/certs.d, hosts.toml mirroring public.ecr.aws to the
#    lab registry), pulls public.ecr.aws/eks-distro/test/busybox:v1 with ctr through the mirror,
#    and runs it with `ctr run`. With a crictl binary (EKSD_CRICTL=/path, or on PATH) it also pulls
#    through the CRI plugin, the way kubelet does.
# NODE is left with containerd installed and configured: take the lab down and up for a clean one.
set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "smoke.sh: run as root" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -s $LABCACHE/lab.env ]] || { echo "smoke: no lab up (run tools/lab/lab-up.sh)" >&2; exit 1; }
# shellcheck disable=SC1091
source "$LABCACHE/lab.env"
GATEWAY=$EKSD_LAB_GATEWAY
REGISTRY=$EKSD_IMAGE_MIRROR
mapfile -t NODES < <(lab_nodes)
NODE=${1:-${NODES[-1]}}
fail=0
pass=0
ok()  { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
T0=$(now)

# --- 1, 2: network ------------------------------------------------------------------------------------
for src in "${NODES[@]}"; do
    for dst in "${NODES[@]}"; do
        [[ $src == "$dst" ]] && continue
        i=${dst#"$PREFIX"}
        for target in "node$i" "$dst" "$(node_ip "$i")"; do
            if podman exec "$src" ping -c1 -W2 "$target" >/dev/null 2>&1; then
                ok "$src pings $target"
            else
                bad "$src cannot ping $target"
            fi
        done
    done
    if podman exec "$src" curl -fsS --max-time 5 -o /dev/null "$EKSD_ARTIFACT_MIRROR/"; then
        ok "$src fetches $EKSD_ARTIFACT_MIRROR/"
    else
        bad "$src cannot fetch $EKSD_ARTIFACT_MIRROR/"
    fi
done

# --- 3: image into the registry ------------------------------------------------------------------------
BUSYBOX=$(command -v busybox || echo /bin/busybox)
if [[ ! -x $BUSYBOX ]] || ldd "$BUSYBOX" >/dev/null 2>&1; then
    echo "smoke: no static busybox (tools/lab/setup-host.sh installs busybox-static)" >&2; exit 1
fi
if digest=$("$SYS_PYTHON" "$LAB_HERE/oci.py" push --registry "$REGISTRY" --repo eks-distro/test/busybox --tag v1 \
        --file /bin/busybox="$BUSYBOX" --entrypoint /bin/busybox --cmd 'echo hello from the lab'); then
    ok "pushed $REGISTRY/eks-distro/test/busybox:v1@$digest"
else
    bad "push to $REGISTRY"
fi

# --- 4: containerd in a node pulls through the mirror and runs the image -------------------------------
t=$(now)
podman exec -i "$NODE" bash -s "$GATEWAY" "$REGISTRY" > "$RUN/smoke-containerd.log" 2>&1 <<'SH' || true
set -euo pipefail
GATEWAY=$1 REGISTRY=$2
export DEBIAN_FRONTEND=noninteractive
if ! command -v containerd >/dev/null; then
    apt-get update -q
    apt-get install -y -q containerd
fi
mkdir -p /etc/containerd/certs.d/public.ecr.aws
containerd config default \
    | sed -e 's/SystemdCgroup = false/SystemdCgroup = true/' \
          -e 's|config_path = ""|config_path = "/etc/containerd/certs.d"|' > /etc/containerd/config.toml
cat > /etc/containerd/certs.d/public.ecr.aws/hosts.toml <<EOF
server = "https://public.ecr.aws"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
systemctl restart containerd
for _ in $(seq 50); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done
echo "== containerd: $(containerd --version)"
echo "== pull"
ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d public.ecr.aws/eks-distro/test/busybox:v1
echo "== run"
ctr -n k8s.io run --rm --runc-systemd-cgroup --cgroup "system.slice:eksd-smoke:smoke-$$" \
    public.ecr.aws/eks-distro/test/busybox:v1 "smoke-$$" \
    /bin/busybox sh -c 'echo "RUN-OK $(/bin/busybox uname -r) pid=$$"'
SH
CRICTL=${EKSD_CRICTL:-$(command -v crictl || true)}
if [[ -n $CRICTL && -x $CRICTL ]]; then
    podman cp "$CRICTL" "$NODE:/usr/local/bin/crictl"
    podman exec "$NODE" bash -c 'export CONTAINER_RUNTIME_ENDPOINT=unix:///run/containerd/containerd.sock
        echo "== crictl rmi + pull (CRI plugin, registry config_path)"
        crictl rmi public.ecr.aws/eks-distro/test/busybox:v1 >/dev/null 2>&1 || true
        ctr -n k8s.io images rm public.ecr.aws/eks-distro/test/busybox:v1 >/dev/null 2>&1 || true
        crictl pull public.ecr.aws/eks-distro/test/busybox:v1 2>&1 | grep -v crictl.yaml && echo CRI-PULL-OK' \
        >> "$RUN/smoke-containerd.log" 2>&1 || true
fi
sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/     | /' "$RUN/smoke-containerd.log"
if grep -q '^== pull' "$RUN/smoke-containerd.log" && grep -qE '^(done|unpacking)' "$RUN/smoke-containerd.log"; then
    ok "$NODE: containerd pulled public.ecr.aws/eks-distro/test/busybox:v1 through http://$REGISTRY"
else
    bad "$NODE: containerd pull through the mirror"
fi
if grep -q '^RUN-OK' "$RUN/smoke-containerd.log"; then
    ok "$NODE: ctr run ran the image"
else
    bad "$NODE: ctr run"
fi
if [[ -n $CRICTL && -x $CRICTL ]]; then
    if grep -q '^CRI-PULL-OK' "$RUN/smoke-containerd.log"; then ok "$NODE: CRI pull (crictl)"; else bad "$NODE: CRI pull (crictl)"; fi
fi
echo "containerd checks took $(elapsed "$t")s; all checks $(elapsed "$T0")s"
echo "smoke: $pass passed, $fail failed"
((fail == 0))
