public import ContainerRuntime
import Foundation
public import Logging
public import WorkspaceStaging

/// `--workspace-staging api` on a swarm (the default there): nodes need nothing of the server's
/// filesystem, only to reach `--advertise-url` and `--registry`.
///
/// - Image: the staging image is made on the manager's engine (DockerStagingEngine) and pushed to
///   `--registry` as `<registry>/trainyard/stage:<hash>`, which every node pulls.
/// - Placement (`place`): named volumes are node-local, so the stage-in helper, the training
///   service and the stage-out helper of one host must run on one node. Each host is pinned before
///   stage-in: label `SwarmServiceSpec.nodeLabel` = the node id, which `SwarmServiceSpec` turns into
///   a `node.id==<id>` constraint. The label travels in the training service's labels, so a
///   restarted server pins the stage-out helper to the node where the training task ran.
/// - Helpers (`runHelper`): a one-task service, `RestartPolicy none`, on network `host`, with its
///   volume mounts; waited for through `/tasks`, its output read from the service's logs, removed.
/// - Volumes (`removeVolumes`): the manager's Engine API removes only the manager's own volumes
///   (`DELETE /volumes/{name}` acts on the local engine; Swarm has no call for another node's
///   local volume, and cluster volumes need a CSI plugin). So the stage-out helper empties the
///   volumes after a successful upload (StagedContainer.helper), and on a worker an empty named
///   volume per mount stays behind (README "Known limits": `docker volume prune` on the node).
public final class SwarmStagingEngine: StagingEngine {
    let client: DockerClient
    let options: SwarmServiceSpec.Options
    /// The staging image on the manager's engine; also the manager's own staging volumes (which a
    /// restarted server cleans up like the Docker runtime's).
    public let images: DockerStagingEngine
    let logger: Logger
    let pollInterval: Duration

    public init(
        swarm: SwarmRuntime, registry: String, busybox: String = "/bin/busybox", logger: Logger,
        pollInterval: Duration = .milliseconds(100)
    ) {
        client = swarm.client
        options = swarm.options
        images = DockerStagingEngine(client: swarm.client, busybox: busybox, registry: registry, logger: logger)
        self.logger = logger
        self.pollInterval = pollInterval
    }

    public func stagingImage() async throws(ContainerRuntimeError) -> String {
        try await images.stagingImage()
    }

    /// Pins every host of a job to a node: the nodes that may run it (ready, active, matching the
    /// `--swarm-constraint`s, with GPUs when it needs them) in turn, starting at the one with the
    /// fewest pinned Trainyard services (ties: by a hash of the job), so a job's hosts spread over
    /// the nodes as SageMaker gives each host an instance of its own. No node at all fails the
    /// launch (the job fails with the reason) instead of leaving helpers pending.
    public func place(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) -> [ContainerSpec] {
        guard let first = hosts.first else { return hosts }
        let nodes = try await client.nodes()
        var load: [String: Int] = [:]
        for service in try await client.serviceNames(labelKeys: [SwarmServiceSpec.nodeLabel]) {
            if let node = service.labels[SwarmServiceSpec.nodeLabel] { load[node, default: 0] += 1 }
        }
        let chosen = SwarmPlacement.nodes(
            forHosts: hosts.count, job: SwarmRuntime.networkName(for: first), nodes: nodes, constraints: options.constraints,
            needsGPUs: hosts.contains { $0.gpuCount > 0 }, load: load)
        guard chosen.count == hosts.count else {
            // No node can take the job. Unpinned, its helper would wait `pending` for ever (and a
            // helper and its training task could land on different nodes): fail the job now.
            if let requested = hosts.first(where: { $0.gpuCount > 0 })?.gpuCount { throw .noGPURuntime(requested: requested) }
            throw .engine(
                status: 0,
                message: "no ready, active swarm node matches the placement constraints \(options.constraints) (workspace staging pins each host to a node)")
        }
        return zip(hosts, chosen).map { spec, node in
            // A host pinned before (a launch after a restart) keeps its node.
            guard spec.labels[SwarmServiceSpec.nodeLabel] == nil else { return spec }
            var pinned = spec
            pinned.labels[SwarmServiceSpec.nodeLabel] = node
            return pinned
        }
    }

    public func runHelper(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> (exitCode: Int, output: String) {
        let service = SwarmServiceSpec.helper(spec, options: options)
        if try await !client.createService(service) {
            // A crashed server's helper: its transfer is void now; start over.
            _ = try await client.removeService(service.name)
            try await waitUntilGone(service.name)
            _ = try await client.createService(service)
        }
        do {
            let task = try await waitForEnd(service.name, node: spec.labels[SwarmServiceSpec.nodeLabel])
            let output = await lastLines(service.name, task: task)
            _ = try await client.removeService(service.name)
            // Exit code -1: the task never ran (rejected: no image, no such node...).
            return (task.status.containerStatus?.exitCode ?? -1, output)
        } catch {
            _ = try? await client.removeService(service.name)
            throw error
        }
    }

    /// Removes what the manager can: volumes of hosts that ran on the manager node. A worker's
    /// volumes were emptied by the stage-out helper and stay as empty named volumes (type doc).
    public func removeVolumes(_ names: [String]) async throws(ContainerRuntimeError) {
        for name in names {
            do {
                try await client.removeVolume(name)
            } catch {
                // Still held by a container the node is removing: harmless, it is empty.
                logger.debug("cannot remove a staging volume on the manager", metadata: ["volume": "\(name)", "error": "\(error)"])
            }
        }
    }

    /// Swarm's final task states (moby api/types/swarm/task.go).
    static let finalStates: Set<String> = ["complete", "failed", "rejected", "shutdown", "orphaned", "remove"]

    /// The helper's final task. A helper pinned to a node that is down or gone would wait
    /// `pending` forever (a stage-out after the node died): that fails at once instead.
    private func waitForEnd(_ name: String, node: String?) async throws(ContainerRuntimeError) -> SwarmTask {
        var lastNodeCheck = ContinuousClock.now
        while true {
            guard let service = try await client.service(name) else {
                throw .engine(status: 0, message: "the staging helper service \(name) vanished")
            }
            let tasks = try await client.tasks(service: service.id)
            if let task = tasks.max(by: { ($0.version?.index ?? 0) < ($1.version?.index ?? 0) }),
                Self.finalStates.contains(task.status.state)
            {
                return task
            }
            if let node, ContinuousClock.now - lastNodeCheck > .seconds(2) {
                lastNodeCheck = .now
                let nodes = try await client.nodes()
                if let found = nodes.first(where: { $0.id == node }), found.state == .ready {
                    // Still there: wait on.
                } else {
                    throw .engine(status: 0, message: "the staging helper's node \(node) is down or gone")
                }
            }
            do {
                try await Task.sleep(for: pollInterval)
            } catch {
                throw .cancelled
            }
        }
    }

    private func waitUntilGone(_ name: String) async throws(ContainerRuntimeError) {
        for _ in 0..<100 {
            guard try await client.service(name) != nil else { return }
            do {
                try await Task.sleep(for: pollInterval)
            } catch {
                throw .cancelled
            }
        }
    }

    /// The helper's last lines (for a failure's message), or Swarm's own words when the task never
    /// ran; never waits long (a node that is gone would hold the manager's log stream).
    private func lastLines(_ name: String, task: SwarmTask) async -> String {
        let client = self.client
        let reader = Task { () -> [String] in
            var lines: [String] = []
            do {
                for try await line in client.serviceLogs(name, since: nil, follow: false) {
                    lines.append(line.text)
                    if lines.count > 20 { lines.removeFirst() }
                }
            } catch {
                lines.append("(output unavailable: \(error))")
            }
            return lines
        }
        let limit = Task {
            try? await Task.sleep(for: .seconds(5))
            reader.cancel()
        }
        var lines = await reader.value
        limit.cancel()
        if task.status.containerStatus?.exitCode == nil || lines.isEmpty {
            lines.append("task \(task.status.state): \([task.status.err, task.status.message].compactMap { $0 }.joined(separator: ": "))")
        }
        return lines.joined(separator: " / ")
    }
}

/// Which node runs each host of a job (SwarmStagingEngine.place): a pure function, unit-tested.
public enum SwarmPlacement {
    /// Node ids for `count` hosts, round-robin over the eligible nodes (sorted by id) starting at
    /// the least loaded one (ties: FNV-1a of `job`); empty when no node is eligible.
    public static func nodes(
        forHosts count: Int, job: String, nodes: [ClusterNode], constraints: [String], needsGPUs: Bool, load: [String: Int]
    ) -> [String] {
        var eligible = nodes.filter { $0.state == .ready && $0.isActive && matches($0, constraints) }.sorted { $0.id < $1.id }
        if needsGPUs {
            eligible = eligible.filter { ($0.genericResources[SwarmServiceSpec.gpuResourceKind] ?? 0) > 0 }
        }
        guard !eligible.isEmpty, count > 0 else { return [] }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in job.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let offset = Int(hash % UInt64(eligible.count))
        // Least loaded first; among equals, the hash's pick (then the ones after it).
        let ranked = eligible.indices.min { a, b in
            let loadA = load[eligible[a].id] ?? 0
            let loadB = load[eligible[b].id] ?? 0
            if loadA != loadB { return loadA < loadB }
            return (a - offset + eligible.count) % eligible.count < (b - offset + eligible.count) % eligible.count
        }!
        return (0..<count).map { eligible[(ranked + $0) % eligible.count].id }
    }

    /// Whether a node satisfies Swarm constraints of the forms `node.id`, `node.hostname`,
    /// `node.role`, `node.labels.<key>` with `==` or `!=`. Other attributes (`engine.labels.*`,
    /// `node.platform.*`) are not judged here: Swarm checks them on the pinned service, whose task
    /// then says why it cannot run.
    public static func matches(_ node: ClusterNode, _ constraints: [String]) -> Bool {
        constraints.allSatisfy { constraint in
            let equal = !constraint.contains("!=")
            let parts = constraint.components(separatedBy: equal ? "==" : "!=")
            guard parts.count == 2 else { return true }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            let actual: String?
            switch key {
            case "node.id": actual = node.id
            case "node.hostname": actual = node.hostname
            case "node.role": actual = node.isManager ? "manager" : "worker"
            case _ where key.hasPrefix("node.labels."): actual = node.labels[String(key.dropFirst("node.labels.".count))]
            default: return true
            }
            return (actual == value) == equal
        }
    }
}
