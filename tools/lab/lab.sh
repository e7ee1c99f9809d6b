#!/usr/bin/env bash
# `make lab`: a real EKS-D cluster on the local lab, the air-gapped way.
#   1. build (or reuse) the offline mirror for RELEASE from upstream sources
#   2. bring up the lab: NODES podman hosts (HA=1: three control planes), the mirror server, the registry
#   3. ansible-playbook site.yml -e eksd_release=RELEASE against the lab inventory
#   4. show the nodes; the last line printed is the admin kubeconfig, usable from this machine
# Usage: tools/lab/lab.sh [RELEASE]   (env: NODES, HA, EKSD_CACHE; extra ansible-playbook args in ANSIBLE_ARGS)
set -euo pipefail
release=${1:-${RELEASE:-1-24-9}}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${EKSD_CACHE:-$HOME/.cache/eksd}
cluster_dir=$cache/lab/cluster
python=${PYTHON:-python3}
t0=$(date +%s)

echo "== mirror for $release"
mirror=$("$python" "$repo/tools/mirror/build_mirror.py" "$release" | tee /dev/stderr | tail -n 1)

echo "== lab"
MIRROR_DIR=$mirror bash "$here/lab-up.sh" ${NODES:+"$NODES"}
inventory=$cache/lab/hosts.yml

echo "== site.yml -e eksd_release=$release"
cd "$repo"
# shellcheck disable=SC2086 # ANSIBLE_ARGS is a list of words on purpose
ansible-playbook -i "$inventory" site.yml -e eksd_release="$release" -e eksd_pki_dir="$cluster_dir/pki" ${ANSIBLE_ARGS:-}

kubeconfig=$cluster_dir/admin.conf
[[ $release =~ ^(kubernetes-|v)?([0-9]+)-([0-9]+)-(eks-)?([0-9]+)$ ]]
kubectl=$(find "$mirror/kubernetes-${BASH_REMATCH[2]}-${BASH_REMATCH[3]}/releases/${BASH_REMATCH[5]}" \
    -path '*/bin/linux/amd64/kubectl' -print -quit)
# The pod network's last step restarts containerd: the kubelet reports its node Ready again within seconds.
"$kubectl" --kubeconfig "$kubeconfig" wait --for=condition=Ready nodes --all --timeout=120s >/dev/null
echo "== nodes ($(( $(date +%s) - t0 ))s since start)"
"$kubectl" --kubeconfig "$kubeconfig" get nodes -o wide
"$kubectl" --kubeconfig "$kubeconfig" -n kube-system get pods -o wide
echo "$kubeconfig"
