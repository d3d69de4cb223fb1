public import Foundation

/// What a runtime that hands containers to a cluster engine needs beyond `ContainerRuntime`
/// (issue 14 item 5). The scheduler still speaks only `ContainerRuntime` — launch a job's hosts
/// together, signal, wait, inspect, follow logs, remove — so the local engine, the simulated runtime
/// and every cluster backend are driven by the same reconcile loop. This protocol holds the rest:
/// what only a cluster has (nodes with capacities, placement, a network that spans nodes, data that
/// cannot be bind-mounted from the server's disk) and what the server's start-up and health checks
/// ask of it.
///
/// Implemented by `SwarmRuntime` (Docker Swarm, DockerEngine/Swarm). A Kubernetes Jobs backend is
/// the next implementation; how each requirement maps onto Kubernetes (measured with Kubernetes
/// 1.20 in ../shared/reference/cluster/README.md):
///
/// | requirement | Docker Swarm (built) | Kubernetes Jobs (next) |
/// |---|---|---|
/// | one host of a job | a `Replicated{Replicas:1}` service, `RestartPolicy none` | a `batch/v1 Job`, `backoffLimit: 0`, `restartPolicy: Never`, `args: ["train"]`; several hosts: one Indexed Job (`completionMode: Indexed`, `completions = parallelism = N`) |
/// | `algo-N` names | per-job attachable overlay network, service `Hostname` + alias `algo-N`, `EndpointSpec.Mode: dnsrr` | a headless Service (`clusterIP: None`) selecting the job's pods, pod `hostname: algo-N` (from the completion index) and `subdomain` = the Service |
/// | stop: SIGTERM, SIGKILL after the window | scale to 0; Swarm kills after `StopGracePeriod` = `--stop-grace-seconds` | `terminationGracePeriodSeconds` = the window; stop = PATCH `spec.activeDeadlineSeconds` to the elapsed time (keeps the Job; remember it was a stop) or `DELETE ?propagationPolicy=Foreground` |
/// | MaxRuntimeInSeconds | Trainyard's own timer, then the same stop | `Job.spec.activeDeadlineSeconds` (server-side; the Job ends `Failed/DeadlineExceeded` → `Stopped/MaxRuntimeExceeded`) |
/// | exit code | `/tasks` → `Status.ContainerStatus.ExitCode` | `pod.status.containerStatuses[0].state.terminated.exitCode` |
/// | logs | `/services/{id}/logs?follow=1`, followed while it runs and stored (a stop destroys them) | `GET pods/{pod}/log?follow=true`, followed and stored (gone with the pod) |
/// | adoption after a restart | service labels `trainyard.*` incl. the instance id | the same labels on the Job and its pods; list with a label selector |
/// | node died mid-job | task `orphaned`, or its node `down` → `ContainerLoss.nodeLost` | pod `Failed` with reason `NodeLost`/`Evicted`, or its node `NotReady` → the same |
/// | GPUs | generic resource `NVIDIA-GPU` reservations | `resources.limits["nvidia.com/gpu"]` (device plugin) |
/// | staging inputs/outputs (`--workspace-staging api`, the default) | node-local named volumes; a one-task helper service (staging image from `--registry`, network `host`) fills them from `<advertise-url>/_trainyard/staging/<token>/in` before the training service and sends the outputs to `.../out` after it exits; all three pinned `node.id==X` (node chosen per host before stage-in, kept in label `trainyard.swarm-node`); the stage-out helper empties the volumes after the upload (the manager cannot delete another node's volume) | a PVC per host (or an `emptyDir` shared inside one pod): an init container runs the stage-in script, a sidecar that waits for the training container's exit (or a follow-up pod on the same PVC) runs the stage-out script; no pinning needed with an `emptyDir` (same pod), `volumeBindingMode: WaitForFirstConsumer` with a PVC |
///
/// Placement and capacity come from `nodes()`: a job whose hosts find no room now waits Pending
/// (`ContainerRuntime.reserveCapacity` → `.insufficientCapacity`; Swarm's rule is
/// `SwarmPlacement.place`), as for `--max-concurrent-jobs`. A Kubernetes backend would hold a job
/// the same way until its pods fit the nodes' allocatable memory and `nvidia.com/gpu`.
public protocol ClusterBackend: ContainerRuntime {
    /// The cluster's nodes as the manager sees them now.
    func nodes() async throws(ContainerRuntimeError) -> [ClusterNode]

    /// Removes what a server that died left behind for jobs that are over: the per-job networks
    /// (and services) labelled with `instance`, whose labels `isOver` accepts. Returns their names.
    func removeLeftovers(
        instance: String, isOver: @Sendable ([String: String]) -> Bool
    ) async throws(ContainerRuntimeError) -> [String]
}

/// One node of a cluster, as placement needs it.
public struct ClusterNode: Sendable, Equatable {
    public enum State: String, Sendable { case ready, down, unknown, disconnected }
    public var id: String
    public var hostname: String
    public var isManager: Bool
    public var state: State
    /// Whether the scheduler may place new work there (Swarm availability `active`).
    public var isActive: Bool
    public var nanoCPUs: Int64
    public var memoryBytes: Int64
    /// Generic resources the node advertises (`NVIDIA-GPU` → count).
    public var genericResources: [String: Int64]
    /// The node's own labels (`docker node update --label-add`), for `node.labels.X==Y` constraints.
    public var labels: [String: String]

    public init(
        id: String, hostname: String, isManager: Bool = false, state: State = .ready, isActive: Bool = true,
        nanoCPUs: Int64, memoryBytes: Int64, genericResources: [String: Int64] = [:], labels: [String: String] = [:]
    ) {
        self.labels = labels
        self.id = id
        self.hostname = hostname
        self.isManager = isManager
        self.state = state
        self.isActive = isActive
        self.nanoCPUs = nanoCPUs
        self.memoryBytes = memoryBytes
        self.genericResources = genericResources
    }
}
