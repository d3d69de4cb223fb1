public import ContainerRuntime

/// What a host's container is, seen through its Swarm service and tasks: a pure function, so that
/// every mapping (including a dead node) is unit-tested with fake `/tasks` answers.
public enum SwarmTaskState {
    /// Swarm's task states before the container has ended (moby api/types/swarm/task.go).
    static let pendingStates: Set<String> = ["new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"]

    /// - service: the service's labels (a stop leaves `SwarmServiceSpec.stopLabel`).
    /// - tasks: its tasks from `GET /tasks`; the newest one counts.
    /// - nodeStates: the state of each node by id (`GET /nodes`); only needed while a task runs.
    public static func state(
        name: String, serviceID: String, labels: [String: String], tasks: [SwarmTask], nodes: [String: ClusterNode]
    ) -> ContainerState {
        let stopSignal = labels[SwarmServiceSpec.stopLabel]
        // Exit codes of a stopped container whose task Swarm already reaped (it destroys the
        // container within about 0.4 s of the kill, ../shared/reference/cluster/README.md).
        let stopExitCode = stopSignal == ContainerSignal.kill.rawValue ? 137 : 143
        func state(_ status: ContainerStatus, exitCode: Int? = nil, loss: ContainerLoss? = nil) -> ContainerState {
            ContainerState(
                id: ContainerID(name), name: name, status: status, labels: labels, exitCode: exitCode, loss: loss)
        }
        guard let task = tasks.max(by: { ($0.version?.index ?? 0) < ($1.version?.index ?? 0) }) else {
            // No task: not made yet (just created), or removed after a stop.
            return stopSignal != nil ? state(.exited, exitCode: stopExitCode) : state(.running)
        }
        let exitCode = task.status.containerStatus?.exitCode
        let detail = [task.status.err, task.status.message].compactMap { $0 }.first { !$0.isEmpty } ?? task.status.state
        switch task.status.state {
        case "complete":
            return state(.exited, exitCode: exitCode ?? 0)
        case "failed":
            return state(.exited, exitCode: (exitCode ?? 0) != 0 ? exitCode : 1)
        case "shutdown", "remove":
            // Stopped by Trainyard (or scaled down by someone else: the same end, a signal).
            return state(.exited, exitCode: exitCode.flatMap { $0 >= 0 ? $0 : nil } ?? stopExitCode)
        case "rejected":
            if stopSignal != nil { return state(.exited, exitCode: stopExitCode) }
            return state(.exited, exitCode: 1, loss: .rejected(detail))
        case "orphaned":
            // The node stopped answering for longer than the orphan delay: the task is given up.
            if stopSignal != nil { return state(.exited, exitCode: stopExitCode) }
            let node = task.nodeID.flatMap { nodes[$0]?.hostname } ?? task.nodeID ?? "?"
            return state(.exited, exitCode: 137, loss: .nodeLost("Swarm node \(node) is unreachable; its task was orphaned"))
        default:
            // Running, or on its way: unless its node is down, in which case nothing will ever
            // report its end (Swarm does not reschedule a task with restart condition none).
            if let nodeID = task.nodeID, let node = nodes[nodeID], node.state == .down {
                if stopSignal != nil { return state(.exited, exitCode: stopExitCode) }
                return state(.exited, exitCode: 137, loss: .nodeLost("Swarm node \(node.hostname) is down"))
            }
            return state(.running)
        }
    }

    /// Whether the newest task still runs on a node that needs looking at (for the node check).
    static func needsNodeCheck(_ tasks: [SwarmTask]) -> Bool {
        guard let task = tasks.max(by: { ($0.version?.index ?? 0) < ($1.version?.index ?? 0) }) else { return false }
        return task.status.state == "running" || pendingStates.contains(task.status.state)
    }
}
