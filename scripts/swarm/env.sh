# Shared names of the test swarm (sourced by up.sh and down.sh). Everything lives on addresses this
# machine does not otherwise use: the bridge 10.199.0.1/24, node addresses 10.199.0.x, the overlay
# pool 10.200.0.0/16, the engines' local pool 10.201.0.0/16.
TYSWARM_DIR=${TYSWARM_DIR:-/run/trainyard-swarm}          # sockets, pids, logs, registry data
TYSWARM_DATA=${TYSWARM_DATA:-/var/lib/trainyard-swarm}    # the two engines' --data-root
TYSWARM_BRIDGE=tyswarm-br
TYSWARM_HOST_IP=10.199.0.1
TYSWARM_WORKER_IP=10.199.0.2
TYSWARM_NETNS=tyswarm-n2
TYSWARM_VETH=tyswarm-v2
TYSWARM_REGISTRY=$TYSWARM_HOST_IP:5000
TYSWARM_MANAGER_SOCK=$TYSWARM_DIR/manager.sock
TYSWARM_WORKER_SOCK=$TYSWARM_DIR/worker.sock
