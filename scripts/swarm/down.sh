#!/usr/bin/env bash
# Removes everything scripts/swarm/up.sh made: swarm state, both engines (and their containers),
# the registry, the network namespace, the bridge, mounts and folders. Idempotent: safe to run
# when nothing (or only part) is there. Never touches the shared engine at /var/run/docker.sock.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
[ "$(id -u)" = 0 ] || { echo "$0: needs root" >&2; exit 1; }

engine_up() { [ -S "$1" ] && timeout 5 docker -H "unix://$1" info >/dev/null 2>&1; }
stop_engine() {  # NAME SOCKET
    local pidfile="$TYSWARM_DIR/$1.pid" pid
    if engine_up "$2"; then
        # Running tasks first (a replicated-job service being removed keeps its container on
        # Docker 20.10, moby#44312), then the swarm.
        timeout 20 docker -H "unix://$2" ps -aq | xargs -r timeout 20 docker -H "unix://$2" rm -f >/dev/null 2>&1
        timeout 20 docker -H "unix://$2" swarm leave --force >/dev/null 2>&1
    fi
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && grep -qa dockerd "/proc/$pid/cmdline" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
}
# Worker first, so the manager does not wait for it.
stop_engine worker "$TYSWARM_WORKER_SOCK"
stop_engine manager "$TYSWARM_MANAGER_SOCK"
"$here/../registry.sh" stop "$TYSWARM_REGISTRY" "$TYSWARM_DIR/registry" 2>/dev/null

ip netns del "$TYSWARM_NETNS" 2>/dev/null
ip link del "$TYSWARM_VETH" 2>/dev/null
ip link del "$TYSWARM_BRIDGE" 2>/dev/null
# The manager's gateway bridge in this namespace, unless the shared engine is itself in a swarm
# (then the bridge may be its own).
if [ "$(timeout 5 docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" != active ]; then
    ip link del docker_gwbridge 2>/dev/null
fi
# Mounts dockerd left under its folders (netns files, overlay layers, shm).
for root in "$TYSWARM_DATA" "$TYSWARM_DIR"; do
    grep -o " $root[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
done
rm -rf "$TYSWARM_DATA" "$TYSWARM_DIR"
for c in /sys/fs/cgroup/*/tyswarm-manager /sys/fs/cgroup/*/tyswarm-worker; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
done
exit 0
