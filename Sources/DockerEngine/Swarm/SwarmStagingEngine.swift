public import ContainerRuntime
import Foundation
public import Logging
import Synchronization
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
    /// Placements made by this process and not released yet, by training service name (`place`).
    private let held = Mutex<[String: SwarmPlacement.Pinned]>([:])

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

    /// Pins every host of a job to a node, all at once (a gang), where there is room (the rule:
    /// SwarmPlacement.place): in turn over the nodes that may run it (ready, active, matching the
    /// `--swarm-constraint`s, with GPUs when it needs them), starting at the one with the fewest
    /// pinned Trainyard hosts (ties: by a hash of the job), skipping nodes without room, so a job's
    /// hosts spread over the nodes as SageMaker gives each host an instance of its own.
    ///
    /// What is in use on each node comes from the manager, so a restarted server derives it again:
    /// every service of a pinned host (its stage-in and stage-out helpers, its training service,
    /// until the job's end removes it) carries the node and the host's charge in its labels. In
    /// this process, a placement is also held (`held`) from here until `release` (StagingRuntime's
    /// `remove` of the container at the job's end, or a failed launch), covering the moments when
    /// none of its services exists (before stage-in, between stage-in and the training service)
    /// and placements made concurrently; a host seen both ways counts once.
    ///
    /// No room now: `.insufficientCapacity` (the job waits Pending). No room ever (no eligible
    /// node, or none big enough even when empty): the launch fails at once with the reason.
    public func place(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) -> [ContainerSpec] {
        guard let first = hosts.first else { return hosts }
        let nodes = try await client.nodes()
        let services = try await client.serviceNames(labelKeys: [SwarmServiceSpec.nodeLabel])
        let job = Set(hosts.map { SwarmServiceSpec.serviceName(for: $0.name) })
        // One entry per pinned host (its helpers and training service carry the same labels).
        var pinned: [String: SwarmPlacement.Pinned] = [:]
        var training: Set<String> = []
        for service in services {
            guard let node = service.labels[SwarmServiceSpec.nodeLabel] else { continue }
            let host = service.labels[StagedContainer.containerLabel].map(SwarmServiceSpec.serviceName(for:)) ?? service.name
            if host == service.name { training.insert(host) }
            pinned[host] = SwarmPlacement.Pinned(node: node, charge: SwarmPlacement.Charge(labels: service.labels))
        }
        let outcome: SwarmPlacement.Outcome = held.withLock { held in
            // This job's hosts that have a node already: a training service (adopted after a
            // restart), an earlier placement held here (reserveCapacity, then launch), a pinned spec.
            var known: [String: SwarmPlacement.Pinned] = [:]
            for spec in hosts {
                let host = SwarmServiceSpec.serviceName(for: spec.name)
                if training.contains(host), let found = pinned[host] {
                    known[host] = found
                } else if let found = held[host] {
                    known[host] = found
                } else if let node = spec.labels[SwarmServiceSpec.nodeLabel] {
                    known[host] = SwarmPlacement.Pinned(node: node, charge: SwarmPlacement.Charge(labels: spec.labels))
                }
            }
            if known.count == hosts.count {
                return .placed(hosts.map { known[SwarmServiceSpec.serviceName(for: $0.name)]! })
            }
            // Others' hosts: on the manager, or held here. This job's own leftovers (a crashed
            // server's helpers) are replaced, so they do not count.
            var inUse = pinned.filter { !job.contains($0.key) }
            for (host, placement) in held where !job.contains(host) && inUse[host] == nil { inUse[host] = placement }
            let outcome = SwarmPlacement.place(
                hosts.map { SwarmPlacement.Demand(memoryBytes: $0.memoryLimitBytes, gpus: Int64($0.gpuCount)) },
                job: SwarmRuntime.networkName(for: first), nodes: nodes, constraints: options.constraints,
                inUse: Array(inUse.values), fixed: hosts.map { known[SwarmServiceSpec.serviceName(for: $0.name)] })
            if case .placed(let placements) = outcome {
                for (spec, placement) in zip(hosts, placements) { held[SwarmServiceSpec.serviceName(for: spec.name)] = placement }
            }
            return outcome
        }
        switch outcome {
        case .placed(let placements):
            return zip(hosts, placements).map { spec, placement in
                var pinned = spec
                pinned.labels[SwarmServiceSpec.nodeLabel] = placement.node
                placement.charge.write(to: &pinned.labels)
                return pinned
            }
        case .notNow(let why):
            throw .insufficientCapacity(why)
        case .never(let why):
            // Unpinned, its helper would wait `pending` for ever (and a helper and its training
            // task could land on different nodes): fail the job now.
            if let requested = hosts.first(where: { $0.gpuCount > 0 })?.gpuCount,
                !nodes.contains(where: { SwarmPlacement.gpus(of: $0) > 0 })
            {
                throw .noGPURuntime(requested: requested)
            }
            throw .engine(status: 0, message: why)
        }
    }

    public func release(_ containers: [String]) {
        held.withLock { held in
            for name in containers { held[SwarmServiceSpec.serviceName(for: name)] = nil }
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
    /// The capacity rule (issue 14: jobs wait for cluster capacity, as for `--max-concurrent-jobs`):
    /// a node can take a host when the memory charged for the Trainyard hosts pinned to it and not
    /// yet removed, plus this host's, fits the node's memory, and, for a GPU instance type, when its
    /// `NVIDIA-GPU` count not yet reserved covers the host's GPUs. A host's memory charge is its
    /// instance type's memory capped at the node (its service's memory limit), so an instance
    /// type larger than a node takes that whole node. CPUs are not counted: they are time-shared,
    /// and oversubscribing them slows jobs down but kills none (memory overcommit gets them
    /// OOM-killed). A node that reports no memory is not limited by it.
    public struct Demand: Sendable, Equatable {
        public var memoryBytes: Int64?
        public var gpus: Int64
        public init(memoryBytes: Int64?, gpus: Int64 = 0) {
            self.memoryBytes = memoryBytes
            self.gpus = gpus
        }
        /// What the host takes of `node`: its memory capped at the node's.
        func charge(on node: ClusterNode) -> Charge {
            let memory = memoryBytes.map { node.memoryBytes > 0 ? min($0, node.memoryBytes) : $0 } ?? 0
            return Charge(memoryBytes: memory, gpus: gpus)
        }
    }

    /// What a pinned host takes of its node; kept in the labels of the host's services, so that a
    /// restarted server reads it back from the manager.
    public struct Charge: Sendable, Equatable {
        public static let memoryLabel = "trainyard.swarm-memory"
        public static let gpusLabel = "trainyard.swarm-gpus"
        public var memoryBytes: Int64
        public var gpus: Int64
        public init(memoryBytes: Int64, gpus: Int64) {
            self.memoryBytes = memoryBytes
            self.gpus = gpus
        }
        /// Missing labels (a service pinned by a server without them) count as nothing.
        public init(labels: [String: String]) {
            memoryBytes = labels[Self.memoryLabel].flatMap { Int64($0) } ?? 0
            gpus = labels[Self.gpusLabel].flatMap { Int64($0) } ?? 0
        }
        public func write(to labels: inout [String: String]) {
            labels[Self.memoryLabel] = String(memoryBytes)
            labels[Self.gpusLabel] = String(gpus)
        }
        public static let none = Charge(memoryBytes: 0, gpus: 0)
        /// Two hosts' charges on one node, together.
        public static func += (total: inout Charge, charge: Charge) {
            total.memoryBytes += charge.memoryBytes
            total.gpus += charge.gpus
        }
    }

    /// A host pinned to a node, and what it takes there.
    public struct Pinned: Sendable, Equatable {
        public var node: String
        public var charge: Charge
        public init(node: String, charge: Charge) {
            self.node = node
            self.charge = charge
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// One per host, in order.
        case placed([Pinned])
        /// No room now, but there would be on a cluster without the hosts in use: wait.
        case notNow(String)
        /// No room even on an empty cluster (or no eligible node): fail.
        case never(String)
    }

    /// Places every host of a job or none (a gang), by the capacity rule above. `inUse`: the
    /// other hosts pinned now; `fixed`: per host, a node it already has (kept as it is), or nil.
    /// Order: round-robin over the eligible nodes (sorted by id) from the one with the fewest
    /// pinned hosts (ties: FNV-1a of `job`), skipping nodes without room for the host.
    public static func place(
        _ demands: [Demand], job: String, nodes: [ClusterNode], constraints: [String], inUse: [Pinned], fixed: [Pinned?] = []
    ) -> Outcome {
        var eligible = nodes.filter { $0.state == .ready && $0.isActive && matches($0, constraints) }.sorted { $0.id < $1.id }
        if demands.contains(where: { $0.gpus > 0 }) {
            eligible = eligible.filter { gpus(of: $0) > 0 }
        }
        guard !eligible.isEmpty else {
            return .never("no ready, active swarm node matches the placement constraints \(constraints) (workspace staging pins each host to a node)")
        }
        func attempt(_ inUse: [Pinned]) -> [Pinned]? {
            var used: [String: Charge] = [:]
            var count: [String: Int] = [:]
            for pinned in inUse + fixed.compactMap({ $0 }) {
                used[pinned.node, default: .none] += pinned.charge
                count[pinned.node, default: 0] += 1
            }
            var next = startIndex(eligible, job: job, load: count)
            var placed: [Pinned] = []
            for (index, demand) in demands.enumerated() {
                if index < fixed.count, let kept = fixed[index] {
                    placed.append(kept)
                    continue
                }
                let found = (0..<eligible.count).lazy.map { (next + $0) % eligible.count }.first { candidate in
                    let node = eligible[candidate]
                    let charge = demand.charge(on: node)
                    let taken = used[node.id] ?? .none
                    let memoryFits = node.memoryBytes <= 0 || taken.memoryBytes + charge.memoryBytes <= node.memoryBytes
                    let gpusFit = charge.gpus == 0 || taken.gpus + charge.gpus <= gpus(of: node)
                    return memoryFits && gpusFit
                }
                guard let found else { return nil }
                let node = eligible[found]
                let charge = demand.charge(on: node)
                used[node.id, default: .none] += charge
                placed.append(Pinned(node: node.id, charge: charge))
                next = (found + 1) % eligible.count
            }
            return placed
        }
        if let placed = attempt(inUse) { return .placed(placed) }
        let need = describe(demands)
        if attempt([]) != nil {
            return .notNow("waiting for cluster capacity: \(demands.count) host(s) of \(need) do not fit the free memory/GPUs of the eligible swarm nodes now")
        }
        return .never(
            "the job's \(demands.count) host(s) of \(need) do not fit the ready, active swarm nodes matching the placement constraints \(constraints) even when they are empty")
    }

    static func gpus(of node: ClusterNode) -> Int64 { node.genericResources[SwarmServiceSpec.gpuResourceKind] ?? 0 }

    private static func describe(_ demands: [Demand]) -> String {
        guard let largest = demands.max(by: { ($0.memoryBytes ?? 0, $0.gpus) < ($1.memoryBytes ?? 0, $1.gpus) }) else { return "nothing" }
        let memory = largest.memoryBytes.map { String(format: "%.1f GiB memory", Double($0) / 1_073_741_824) } ?? "no memory limit"
        return largest.gpus > 0 ? "\(memory) and \(largest.gpus) GPU(s)" : memory
    }

    /// The least loaded eligible node's index (ties: FNV-1a of `job`, then the ones after it).
    static func startIndex(_ eligible: [ClusterNode], job: String, load: [String: Int]) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in job.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let offset = Int(hash % UInt64(eligible.count))
        return eligible.indices.min { a, b in
            let loadA = load[eligible[a].id] ?? 0
            let loadB = load[eligible[b].id] ?? 0
            if loadA != loadB { return loadA < loadB }
            return (a - offset + eligible.count) % eligible.count < (b - offset + eligible.count) % eligible.count
        }!
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
