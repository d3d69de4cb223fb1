#!/usr/bin/env bash
# A throwaway Docker registry (Debian's docker-registry package, distribution v2) for tests and
# local use. Everything lives in DIR: the generated config, the image store, the log and the pid.
#
#   scripts/registry.sh start ADDR:PORT DIR   start it listening on ADDR:PORT; returns once /v2/ answers
#   scripts/registry.sh stop  ADDR:PORT DIR   stop the one started with DIR (its pid file)
#
# Listen on loopback (127.0.0.1:<port>): the Docker engine treats 127.0.0.0/8 as an insecure
# registry by default, so it pulls and pushes over plain HTTP without further setup.
set -euo pipefail

usage() { echo "usage: $0 start|stop ADDR:PORT DIR" >&2; exit 2; }
[ $# -eq 3 ] || usage
action=$1 address=$2 dir=$3
case "$address" in *:[0-9]*) ;; *) echo "$0: ADDR:PORT expected, got '$address'" >&2; exit 2 ;; esac

pid_file="$dir/registry.pid"
log_file="$dir/registry.log"
config_file="$dir/config.yml"

stop() {
    [ -f "$pid_file" ] || return 0
    local pid
    pid=$(cat "$pid_file")
    # Only the process this script started: the pid file's process, if it still runs docker-registry.
    if [ -n "$pid" ] && grep -qa docker-registry "/proc/$pid/cmdline" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
}

case "$action" in
start)
    command -v docker-registry >/dev/null || {
        echo "$0: docker-registry is not installed (apt-get install docker-registry; scripts/install-deps.sh --test)" >&2
        exit 1
    }
    mkdir -p "$dir/data"
    stop
    cat >"$config_file" <<YAML
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $(cd "$dir" && pwd)/data
  delete:
    enabled: true
http:
  addr: $address
YAML
    setsid docker-registry serve "$config_file" >>"$log_file" 2>&1 </dev/null &
    echo $! >"$pid_file"
    for _ in $(seq 100); do
        if curl -fsS -o /dev/null "http://$address/v2/" 2>/dev/null; then exit 0; fi
        if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
            echo "$0: docker-registry exited; see $log_file:" >&2
            tail -5 "$log_file" >&2
            rm -f "$pid_file"
            exit 1
        fi
        sleep 0.1
    done
    echo "$0: docker-registry did not answer on http://$address/v2/ within 10 s; see $log_file" >&2
    stop
    exit 1
    ;;
stop) stop ;;
*) usage ;;
esac
