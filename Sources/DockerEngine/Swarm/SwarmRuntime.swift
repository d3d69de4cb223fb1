public import ContainerRuntime
public import Foundation
public import Logging
import Synchronization
import WorkspaceStaging

/// `ContainerRuntime` on a Docker Swarm cluster, through the manager's Engine API (`--runtime
/// swarm`, manager from `--docker-host`): each host of a job is one service (SwarmServiceSpec), on
/// an overlay network of the job's own, placed by Swarm on any node that satisfies the
/// `--swarm-constraint`s, spread over the nodes. With `--workspace-staging api` (the swarm default)
/// this runtime is wrapped in a `StagingRuntime` with `SwarmStagingEngine`, which pins each host to
/// a node first (label `SwarmServiceSpec.nodeLabel` → a `node.id==` constraint) and fills and
/// empties its node-local volumes through the server's API: no node needs the server's filesystem.
///
/// A "container" here is a service: its name is the container name the scheduler asks for
/// (shortened to Swarm's 63 characters when longer), so the scheduler's deterministic names and
/// labels (instance id included) adopt services after a restart exactly as they adopt containers.
///
/// Stop: scaling the service to 0 makes Swarm send SIGTERM, then SIGKILL after `StopGracePeriod`
/// (= `--stop-grace-seconds`), on whichever node runs it; the stop leaves a label so that the end
/// is reported as a stop also after Swarm has reaped the task (and its exit code) and after a
/// restart of the server.
public struct SwarmRuntime: ClusterBackend {
    let client: DockerClient
    let options: SwarmServiceSpec.Options
    let logger: Logger
    /// How often `wait` and log following look at a task (the manager has no per-task wait).
    let pollInterval: Duration

    public init(
        host: String, options: SwarmServiceSpec.Options, logger: Logger, pollInterval: Duration = .milliseconds(250)
    ) throws(ContainerRuntimeError) {
        client = try DockerClient(host: host, logger: logger)
        self.options = options
        self.logger = logger
        self.pollInterval = pollInterval
    }

    public var host: String { client.host }

    func serviceName(_ id: ContainerID) -> String { SwarmServiceSpec.serviceName(for: id.rawValue) }

    /// The job's network: the scheduler's network name for a job of several hosts, else one named
    /// after the container without its host (a single-host job gets a network too: a Swarm task
    /// needs one, and `algo-1` then resolves as on the other hosts).
    static func networkName(for spec: ContainerSpec) -> String {
        if let network = spec.clusterNetwork { return SwarmServiceSpec.serviceName(for: network) }
        let suffix = "-" + spec.hostname
        let base = spec.name.hasSuffix(suffix) ? String(spec.name.dropLast(suffix.count)) : spec.name + "-net"
        return SwarmServiceSpec.serviceName(for: base)
    }

    // MARK: ContainerRuntime

    public func launch(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        guard !hosts.isEmpty else { return }
        let nodes = try await client.nodes().filter { $0.isActive && $0.state == .ready }
        // As DockerRuntime: a GPU instance type needs somewhere to get its GPUs. On Swarm that is
        // a node advertising the NVIDIA-GPU generic resource; without one the task would wait
        // `pending` forever, so fail now with the Docker runtime's words.
        if let requested = hosts.first(where: { $0.gpuCount > 0 })?.gpuCount,
            !nodes.contains(where: { SwarmPlacement.gpus(of: $0) > 0 })
        {
            throw .noGPURuntime(requested: requested)
        }
        for network in Set(hosts.map(Self.networkName(for:))) {
            let labels = hosts.first { Self.networkName(for: $0) == network }?.labels ?? [:]
            var networkLabels = labels.filter { $0.key != "trainyard.host" }
            networkLabels[SwarmServiceSpec.networkLabel] = network
            try await client.ensureOverlayNetwork(network, labels: networkLabels)
        }
        for spec in hosts {
            let service = SwarmServiceSpec.make(
                for: spec, serviceName: serviceName(ContainerID(spec.name)), network: Self.networkName(for: spec),
                nodes: nodes, options: options)
            // False: an earlier pass created it (a restart): adopted as it is, never run twice.
            _ = try await client.createService(service)
        }
    }

    public func create(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> ContainerID {
        if try await client.service(serviceName(ContainerID(spec.name))) != nil { throw .nameInUse(spec.name) }
        try await launch([spec])
        return ContainerID(spec.name)
    }

    /// A service runs once created: nothing to start.
    public func start(_ id: ContainerID) async throws(ContainerRuntimeError) {
        guard try await client.service(serviceName(id)) != nil else { throw .noSuchContainer(id.rawValue) }
    }

    /// SIGTERM and SIGKILL both scale the service to 0: Swarm itself sends SIGTERM and, after
    /// `StopGracePeriod` (= `--stop-grace-seconds`, the scheduler's own window), SIGKILL on the
    /// node. The manager offers no signal to a task on another node, so the scheduler's SIGKILL
    /// only records itself (for the exit code); Swarm's arrives at the same moment.
    public func kill(_ id: ContainerID, signal: ContainerSignal) async throws(ContainerRuntimeError) {
        let name = serviceName(id)
        for attempt in 1...5 {
            guard let service = try await client.service(name) else { throw .noSuchContainer(id.rawValue) }
            if service.replicas == 0, service.labels[SwarmServiceSpec.stopLabel] == signal.rawValue { return }
            if service.replicas == 0, signal == .term, service.labels[SwarmServiceSpec.stopLabel] != nil { return }
            var spec = service.spec
            var labels = service.labels
            labels[SwarmServiceSpec.stopLabel] = signal.rawValue
            spec["Labels"] = labels
            spec["Mode"] = ["Replicated": ["Replicas": 0]]
            do {
                try await client.updateService(service, spec: spec)
                logger.debug("swarm service scaled to 0", metadata: ["service": "\(name)", "signal": "\(signal.rawValue)"])
                return
            } catch .engine(let status, let message) where attempt < 5 && message.contains("out of sequence") {
                // Another change landed in between: look again.
                logger.debug("swarm service update raced", metadata: ["service": "\(name)", "status": "\(status)"])
            }
        }
    }

    public func wait(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerExit {
        while true {
            guard let state = try await inspect(id) else { throw .noSuchContainer(id.rawValue) }
            if !state.isRunning {
                return ContainerExit(exitCode: state.exitCode ?? -1, oomKilled: state.oomKilled, loss: state.loss)
            }
            do {
                try await Task.sleep(for: pollInterval)
            } catch {
                throw .cancelled
            }
        }
    }

    public func inspect(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerState? {
        let name = serviceName(id)
        guard let service = try await client.service(name) else { return nil }
        let tasks = try await client.tasks(service: service.id)
        var nodes: [String: ClusterNode] = [:]
        if SwarmTaskState.needsNodeCheck(tasks) {
            for node in try await client.nodes() { nodes[node.id] = node }
        }
        var state = SwarmTaskState.state(name: id.rawValue, serviceID: service.id, labels: service.labels, tasks: tasks, nodes: nodes)
        state.id = id
        // A staged host's stage-out must run where its volumes are: the node it was pinned to, or
        // else (a service made unpinned) the node its task ran on.
        if state.labels[StagedContainer.stagingLabel] != nil, state.labels[SwarmServiceSpec.nodeLabel] == nil,
            let node = tasks.max(by: { ($0.version?.index ?? 0) < ($1.version?.index ?? 0) })?.nodeID
        {
            state.labels[SwarmServiceSpec.nodeLabel] = node
        }
        return state
    }

    /// Follows the service's log through the manager. Swarm's followed stream does not end when
    /// the task does, and a stopped task's logs vanish with its container: so the stream is read
    /// while the task runs (each line handed on at once, for the scheduler to store), and ended a
    /// moment after the task is seen to end, with a last plain read for lines the followed stream
    /// had not delivered yet.
    public func logs(_ id: ContainerID, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        let name = serviceName(id)
        guard follow else { return client.serviceLogs(name, since: since, follow: false) }
        let client = self.client
        let runtime = self
        let (stream, continuation) = AsyncThrowingStream<LogLine, any Error>.makeStream()
        let newest = NewestTimestamp()
        let reader = Task {
            do {
                for try await line in client.serviceLogs(name, since: since, follow: true) {
                    newest.saw(line.timestamp)
                    continuation.yield(line)
                }
            } catch {
                if !Task.isCancelled { continuation.finish(throwing: error) }
            }
        }
        let watcher = Task {
            // Until the task has ended (or the service is gone)...
            var last: ContainerState?
            while !Task.isCancelled {
                last = try? await runtime.inspect(id)
                if let state = last, state.isRunning {
                    try? await Task.sleep(for: runtime.pollInterval)
                    continue
                }
                break
            }
            // ...then give the followed stream a moment for its last lines, end it, and read once
            // more — not from a node that is gone (the manager would wait for it forever), and
            // never for long: the job's end waits for this stream.
            try? await Task.sleep(for: .seconds(1))
            reader.cancel()
            _ = await reader.result
            if !Task.isCancelled, last?.loss == nil {
                let after = newest.value
                let catchUp = Task {
                    for try await line in client.serviceLogs(name, since: after ?? since, follow: false)
                    where after.map({ line.timestamp > $0 }) ?? true {
                        continuation.yield(line)
                    }
                }
                let limit = Task {
                    try? await Task.sleep(for: .seconds(5))
                    catchUp.cancel()
                }
                // A failure is no loss: a stopped task's logs are gone with it, and what was
                // followed is all there is.
                _ = await catchUp.result
                limit.cancel()
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in
            reader.cancel()
            watcher.cancel()
        }
        return stream
    }

    /// Removes the service (Swarm stops a task that still runs: SIGTERM, then SIGKILL after the
    /// grace period), and the job's network with the job's last service.
    public func remove(_ id: ContainerID) async throws(ContainerRuntimeError) {
        let name = serviceName(id)
        let network = try await client.service(name)?.labels[SwarmServiceSpec.networkLabel]
        _ = try await client.removeService(name)
        if let network { try await removeNetworkIfUnused(network) }
    }

    /// The manager refuses to remove a network a service still names; a network whose tasks are
    /// still shutting down can take a moment to be released, so try for a few seconds.
    private func removeNetworkIfUnused(_ network: String) async throws(ContainerRuntimeError) {
        guard try await client.serviceNames(labels: [SwarmServiceSpec.networkLabel: network]).isEmpty else { return }
        for _ in 0..<40 {
            let response = try await client.request(.delete, "/networks/\(DockerClient.escape(network))")
            if [200, 204, 404].contains(response.status) { return }
            do {
                try await Task.sleep(for: .milliseconds(250))
            } catch {
                throw .cancelled
            }
        }
        logger.warning("cannot remove a job's overlay network yet", metadata: ["network": "\(network)"])
    }

    /// Nodes resolve (and pull) images themselves, each from the registry its reference names:
    /// the manager's own image store says nothing about them. A node that cannot get the image
    /// rejects the task, which fails the job with Swarm's words (SwarmTaskState).
    public func imageExists(_ image: String) async throws(ContainerRuntimeError) -> Bool { true }

    public func ping() async throws(ContainerRuntimeError) {
        try await client.ping()
    }

    // MARK: ClusterBackend

    public func nodes() async throws(ContainerRuntimeError) -> [ClusterNode] {
        try await client.nodes()
    }

    public func removeLeftovers(
        instance: String, isOver: @Sendable ([String: String]) -> Bool
    ) async throws(ContainerRuntimeError) -> [String] {
        var removed: [String] = []
        var networks: Set<String> = []
        for service in try await client.serviceNames(labels: ["trainyard.instance": instance]) where isOver(service.labels) {
            if try await client.removeService(service.name) { removed.append(service.name) }
            if let network = service.labels[SwarmServiceSpec.networkLabel] { networks.insert(network) }
        }
        for network in try await client.listNetworks(labels: ["trainyard.instance": instance]) {
            let labels = network.labels ?? [:]
            if labels[SwarmServiceSpec.networkLabel] == network.name, isOver(labels) { networks.insert(network.name) }
        }
        for network in networks {
            try await removeNetworkIfUnused(network)
            removed.append(network)
        }
        return removed
    }
}

/// The newest line timestamp the followed log delivered (written by the reader task, read by the
/// watcher after the reader has ended; the lock makes the hand-over explicit).
private final class NewestTimestamp: Sendable {
    private let newest = Mutex<Date?>(nil)
    func saw(_ date: Date) { newest.withLock { if $0.map({ date > $0 }) ?? true { $0 = date } } }
    var value: Date? { newest.withLock { $0 } }
}
