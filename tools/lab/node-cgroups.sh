#!/bin/sh
# Runs inside a lab node (a podman container sharing the host's cgroup namespace, cgroup v1).
# Makes each v1 hierarchy show the node's own cgroup both at its root and under its full path, as kind
# does, so systemd (which finds itself at the full path in /proc/1/cgroup) and the kubelet and runc
# (which look from the root) see the same cgroups. Without it the kubelet fails with "root container
# [kubepods] doesn't exist" and runc with "error mounting cgroup ... /sys/fs/kubepods.slice". A real
# host needs nothing of the sort; the preflight role detects the situation and says so.
# The v2 "unified" hierarchy of hybrid mode (/sys/fs/cgroup/unified) gets the same treatment: Debian 13's runc
# (1.1.15) records a container's cgroups from the root ("/kubepods.slice/..."), unified included, and without it
# `kubectl exec` into a pod fails with "error adding pid ... to cgroups: openat2
# /sys/fs/cgroup/unified/kubepods.slice/...: no such file or directory" (bookworm's runc 1.1.5 records full paths).
# The image runs it at every boot (eksd-lab-cgroups.service, before containerd, etcd and the kubelet),
# so that a restarted node comes back; once per boot (/run/eksd-cgroup-fixed).
set -eu
[ -e /run/eksd-cgroup-fixed ] && exit 0
for mnt in $(grep -E ' - cgroup2? ' /proc/self/mountinfo | awk '{print $5}' | sort -u); do
    line=$(grep -E ' - cgroup2? ' /proc/self/mountinfo | awk -v m="$mnt" '$5 == m' | tail -1)   # the topmost mount
    root=$(echo "$line" | awk '{print $4}')
    case $line in
        *" - cgroup2 "*) key= ;;   # the v2 hierarchy: "0::<path>" in /proc/1/cgroup
        *) key=$(echo "$line" | sed 's/.* - cgroup [^ ]* //' | tr ',' '\n' | grep -vE '^(rw|ro|nosuid|nodev|noexec|relatime|xattr)$' | paste -sd, -) ;;
    esac
    path=$(awk -F: -v k="$key" '$2 == k {print $3}' /proc/1/cgroup | head -1)
    path=${path%/init.scope}
    [ -n "$path" ] && [ "$path" != / ] || continue
    if [ "$root" != "$path" ]; then
        [ -d "$mnt$path" ] || continue
        mount --bind "$mnt$path" "$mnt"      # the hierarchy's root shows the container's cgroup
    fi
    mkdir -p "$mnt$path"
    mount --bind "$mnt" "$mnt$path"          # ... and so does the container's full path
    echo "fixed $mnt (${key:-cgroup2}) -> $path"
done
touch /run/eksd-cgroup-fixed
