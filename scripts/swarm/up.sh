#!/usr/bin/env bash
# A real 2-node Docker Swarm on this one machine, for the end-to-end tests (Tests/EndToEnd/test_swarm.py):
#
#   manager  a second dockerd in this machine's network namespace (its own socket, data-root,
#            exec-root, pid file), advertising 10.199.0.1 on the bridge tyswarm-br. The shared
#            engine at /var/run/docker.sock is left alone: it never becomes a swarm node.
#   worker   a third dockerd inside the network namespace tyswarm-n2 (10.199.0.2), joined to the
#            bridge by a veth pair; it joins the swarm as a worker.
#   registry Debian's docker-registry on 10.199.0.1:5000 (both engines trust it as insecure):
#            trainyard-test/busybox is pushed there, and loaded into both engines.
#
# Prints KEY=VALUE lines (MANAGER, WORKER, REGISTRY, ...) on success. Needs root, iproute2,
# util-linux (nsenter, unshare), docker.io, docker-registry. scripts/swarm/down.sh removes it all.
# Learned from ../shared/reference/cluster/swarm-2node.sh: `nsenter --net` (not `ip netns exec`,
# which remounts /sys and makes dockerd die with "Devices cgroup isn't mounted").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
[ "$(id -u)" = 0 ] || { echo "$0: needs root (network namespaces, a dockerd)" >&2; exit 1; }
IMAGE=${TYSWARM_IMAGE:-trainyard-test/busybox:latest}

# A previous run that died half way: start clean.
"$here/down.sh" >/dev/null 2>&1 || true
mkdir -p "$TYSWARM_DIR" "$TYSWARM_DATA/manager" "$TYSWARM_DATA/worker"

# ---- network: bridge on this side, the worker's namespace on a veth
ip link add "$TYSWARM_BRIDGE" type bridge
ip addr add "$TYSWARM_HOST_IP/24" dev "$TYSWARM_BRIDGE"
ip link set "$TYSWARM_BRIDGE" up
ip netns add "$TYSWARM_NETNS"
ip link add "$TYSWARM_VETH" type veth peer name eth0 netns "$TYSWARM_NETNS"
ip link set "$TYSWARM_VETH" master "$TYSWARM_BRIDGE" up
ip -n "$TYSWARM_NETNS" addr add "$TYSWARM_WORKER_IP/24" dev eth0
ip -n "$TYSWARM_NETNS" link set eth0 up
ip -n "$TYSWARM_NETNS" link set lo up

# ---- registry, on the bridge address (both engines reach it)
"$here/../registry.sh" start "$TYSWARM_REGISTRY" "$TYSWARM_DIR/registry"

common=(--insecure-registry "$TYSWARM_REGISTRY" --default-address-pool base=10.201.0.0/16,size=24)
wait_engine() {  # SOCKET LOG
    for _ in $(seq 300); do docker -H "unix://$1" info >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "$0: the engine on $1 did not answer; see $2:" >&2; tail -20 "$2" >&2; exit 1
}

# ---- manager engine (this namespace; no docker0, no iptables: like the shared engine)
setsid dockerd --data-root "$TYSWARM_DATA/manager" --exec-root "$TYSWARM_DIR/manager-exec" \
    --pidfile "$TYSWARM_DIR/manager.pid" -H "unix://$TYSWARM_MANAGER_SOCK" --bridge=none --iptables=false \
    --cgroup-parent /tyswarm-manager "${common[@]}" >"$TYSWARM_DIR/manager.log" 2>&1 </dev/null &
# ---- worker engine, in its own network and UTS namespace (node hostname tyswarm-n2)
setsid nsenter --net="/run/netns/$TYSWARM_NETNS" unshare --uts sh -c "hostname $TYSWARM_NETNS; exec dockerd \
    --data-root $TYSWARM_DATA/worker --exec-root $TYSWARM_DIR/worker-exec --pidfile $TYSWARM_DIR/worker.pid \
    -H unix://$TYSWARM_WORKER_SOCK --bip 10.199.17.1/24 --cgroup-parent /tyswarm-worker \
    --insecure-registry $TYSWARM_REGISTRY --default-address-pool base=10.201.0.0/16,size=24" \
    >"$TYSWARM_DIR/worker.log" 2>&1 </dev/null &
wait_engine "$TYSWARM_MANAGER_SOCK" "$TYSWARM_DIR/manager.log"
wait_engine "$TYSWARM_WORKER_SOCK" "$TYSWARM_DIR/worker.log"
M=(docker -H "unix://$TYSWARM_MANAGER_SOCK")
W=(docker -H "unix://$TYSWARM_WORKER_SOCK")

# ---- swarm
"${M[@]}" swarm init --advertise-addr "$TYSWARM_HOST_IP" --listen-addr "$TYSWARM_HOST_IP:2377" \
    --data-path-addr "$TYSWARM_HOST_IP" --default-addr-pool 10.200.0.0/16 >/dev/null
"${W[@]}" swarm join --token "$("${M[@]}" swarm join-token -q worker)" --advertise-addr "$TYSWARM_WORKER_IP" \
    --listen-addr "$TYSWARM_WORKER_IP:2377" "$TYSWARM_HOST_IP:2377" >/dev/null
for _ in $(seq 300); do
    [ "$("${M[@]}" node ls --format '{{.Status}}' | grep -c Ready)" = 2 ] && break; sleep 0.1
done
[ "$("${M[@]}" node ls --format '{{.Status}}' | grep -c Ready)" = 2 ] || { echo "$0: worker not Ready" >&2; exit 1; }
# Heartbeats every second (default 5 s): a node that stops answering is `down` within a few
# seconds, which the node-death test waits for.
"${M[@]}" swarm update --dispatcher-heartbeat 1s >/dev/null

# ---- images: the test image on both nodes by name, and in the registry (ECR-style URIs map there)
docker save "$IMAGE" | "${M[@]}" load -q >/dev/null
docker save "$IMAGE" | "${W[@]}" load -q >/dev/null
repo=${IMAGE%:*}
for target in "$TYSWARM_REGISTRY/$repo:latest" "$TYSWARM_REGISTRY/busybox:latest"; do
    "${M[@]}" tag "$IMAGE" "$target"
    "${M[@]}" push -q "$target" >/dev/null
    "${M[@]}" rmi "$target" >/dev/null   # nodes must really pull it
done

echo "MANAGER=unix://$TYSWARM_MANAGER_SOCK"
echo "WORKER=unix://$TYSWARM_WORKER_SOCK"
echo "REGISTRY=$TYSWARM_REGISTRY"
echo "WORKER_HOSTNAME=$TYSWARM_NETNS"
echo "MANAGER_HOSTNAME=$(hostname)"
echo "WORKER_PIDFILE=$TYSWARM_DIR/worker.pid"
