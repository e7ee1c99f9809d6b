#!/usr/bin/env bash
# Prepare this machine (Debian 12, root) to run the lab of test hosts.
#
#   tools/lab/setup-host.sh
#
# - installs from Debian's packages whatever is missing: podman and its network stack, runc,
#   debootstrap (node image), docker-registry (the lab's image registry; its packaged service is
#   kept from starting), skopeo (debugging only), busybox-static (tools/lab/smoke.sh's test image);
# - writes the three podman settings this kind of machine needs into /etc/containers/containers.conf
#   (other content is kept; running it again changes nothing).
# Idempotent and unattended (CI runs it as root on a fresh machine).
set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "setup-host.sh: run as root" >&2; exit 1; }

PACKAGES=(podman runc netavark aardvark-dns slirp4netns fuse-overlayfs uidmap iptables
          debootstrap docker-registry skopeo python3 curl ca-certificates busybox-static)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done

if ((${#missing[@]})); then
    echo "setup-host: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep package maintainer scripts from starting daemons (docker-registry would bind :5000 on
    # every address): the lab starts its own registry bound to the lab network only.
    policy_created=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_created=1
    fi
    trap 'if [[ $policy_created == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    rm -f /usr/sbin/policy-rc.d; policy_created=0
else
    echo "setup-host: packages already installed"
fi

# --- /etc/containers/containers.conf: the three settings, merged into existing content -------------
CONF=/etc/containers/containers.conf
mkdir -p /etc/containers
python3 - "$CONF" <<'PY'
import os, re, sys

path = sys.argv[1]
wanted = {
    "containers": {"default_ulimits": '["nofile=20000:20000", "nproc=32768:32768"]'},
    "engine": {"runtime": '"runc"'},
    "network": {"network_backend": '"netavark"'},
}
text = open(path).read() if os.path.exists(path) else ""
lines = text.splitlines()

def section_bounds(name):
    start = None
    for i, line in enumerate(lines):
        m = re.match(r"^\s*\[([^\]]+)\]\s*(#.*)?$", line)
        if m:
            if start is not None:
                return start, i
            if m.group(1).strip() == name:
                start = i
    return (start, len(lines)) if start is not None else (None, None)

for section, kv in wanted.items():
    for key, value in kv.items():
        start, end = section_bounds(section)
        newline = f"{key} = {value}"
        if start is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines += [f"[{section}]", newline]
            continue
        for i in range(start + 1, end):
            if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
                lines[i] = newline
                break
        else:
            lines.insert(start + 1, newline)

new = "\n".join(lines) + "\n"
if new != text:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)
    print(f"setup-host: updated {path}")
else:
    print(f"setup-host: {path} already set")
PY

podman --version
runc --version | head -1
