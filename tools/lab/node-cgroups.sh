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
# Hierarchies podman does not place the container in (hugetlb, perf_event, net_cls,net_prio show "/" in
# /proc/1/cgroup) would be the host's root, shared by every lab node: each node's kubelet then sees the others' pod
# cgroups there as orphans and removes them, and runc fails now and then with "unable to apply cgroup
# configuration: ... openat2 /sys/fs/cgroup/hugetlb/kubepods.slice/...: no such file or directory" (conformance
# runs with two workers hit it a few times per run). Each such hierarchy gets a cgroup of the node's own, at the
# path podman gave it in the others (unique per container), with every process of the node moved into it first.
# (The host does not mount those hierarchies; the empty cgroups a removed node leaves there cost nothing.)
set -eu
[ -e /run/eksd-cgroup-fixed ] && exit 0
own=$(awk -F: '$2 == "pids" {print $3}' /proc/1/cgroup | head -1)
for mnt in $(grep -E ' - cgroup2? ' /proc/self/mountinfo | awk '{print $5}' | sort -u); do
    line=$(grep -E ' - cgroup2? ' /proc/self/mountinfo | awk -v m="$mnt" '$5 == m' | tail -1)   # the topmost mount
    root=$(echo "$line" | awk '{print $4}')
    case $line in
        *" - cgroup2 "*) key= ;;   # the v2 hierarchy: "0::<path>" in /proc/1/cgroup
        *) key=$(echo "$line" | sed 's/.* - cgroup [^ ]* //' | tr ',' '\n' | grep -vE '^(rw|ro|nosuid|nodev|noexec|relatime|xattr)$' | paste -sd, -) ;;
    esac
    path=$(awk -F: -v k="$key" '$2 == k {print $3}' /proc/1/cgroup | head -1)
    path=${path%/init.scope}
    if [ "$path" = / ] && [ -n "$key" ] && [ -n "$own" ] && [ "$own" != / ] && [ "$root" = / ]; then
        mkdir -p "$mnt$own"
        for pid in $(cat "$mnt/cgroup.procs"); do   # this PID namespace's processes only (the node's)
            [ "$pid" -gt 0 ] 2>/dev/null && echo "$pid" > "$mnt$own/cgroup.procs" 2>/dev/null || true
        done
        path=$own
    fi
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
