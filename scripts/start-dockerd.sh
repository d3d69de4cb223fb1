#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine, for tests and CI.
# If `docker info` already works, does nothing. Otherwise installs docker.io and
# busybox-static (for the test images) when missing, starts
#   dockerd --bridge=none --iptables=false
# in the background (this machine has no network to bridge to, and may not allow iptables),
# with its output in $DOCKERD_LOG (default /tmp/trainyard-dockerd.log), never on the terminal,
# writes its pid to $DOCKERD_PIDFILE when that is set, and waits up to 60 s for `docker info`.
# $DOCKERD_EXTRA_ARGS (optional, split on spaces) is appended to dockerd's arguments, e.g. to run
# an isolated second engine: -H unix:///tmp/e/docker.sock --data-root ... --exec-root ... --pidfile ...
# (then set DOCKER_HOST to the same socket so that `docker info` asks that engine).
set -euo pipefail

log="${DOCKERD_LOG:-/tmp/trainyard-dockerd.log}"

die() { echo "start-dockerd.sh: $*" >&2; exit 1; }

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    exit 0
fi

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
[[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || die "need root to install ${missing[*]}"
    echo "start-dockerd.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } \
        || die "apt-get install ${missing[*]} failed"
fi
command -v dockerd >/dev/null || die "dockerd is not installed"
[[ $(id -u) == 0 ]] || die "dockerd must be started as root"

echo "start-dockerd.sh: starting dockerd (log: $log)" >&2
# setsid + nohup: dockerd outlives this script and its terminal; all its output goes to the log.
# shellcheck disable=SC2086 # word splitting of the extra arguments is intended
setsid nohup dockerd --bridge=none --iptables=false ${DOCKERD_EXTRA_ARGS:-} </dev/null >>"$log" 2>&1 &
pid=$!
if [[ -n "${DOCKERD_PIDFILE:-}" ]]; then
    echo "$pid" > "$DOCKERD_PIDFILE"
fi

for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then
        echo "start-dockerd.sh: dockerd is up (pid $pid)" >&2
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "start-dockerd.sh: dockerd exited; last lines of $log:" >&2
        tail -n 20 "$log" >&2 || true
        exit 1
    fi
    sleep 0.5
done
echo "start-dockerd.sh: dockerd did not answer within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
