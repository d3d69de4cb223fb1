public import ContainerRuntime
public import Foundation

/// `POST /services/create` body for one host of a job (Engine API 1.41, Docker Swarm).
///
/// Mode: `Replicated{Replicas: 1}` with `RestartPolicy.Condition: none`, not `ReplicatedJob`. Both
/// run the container once, but on Docker 20.10 (Debian 12's) a ReplicatedJob service has two bugs
/// that break SageMaker's contract (../shared/reference/cluster/README.md, measured again here):
/// removing a running one sends no SIGTERM at all (moby/moby#44312), and removing a finished one
/// leaves its container on the node (moby#42789). A replicated service with one replica and no
/// restart runs the task once, keeps it (`complete`/`failed` with its exit code) until the service
/// is removed, and removal or scaling to 0 stops it with SIGTERM, then SIGKILL after
/// `StopGracePeriod`, and removes the container.
public struct SwarmServiceSpec: Encodable, Equatable, Sendable {
    public struct Mount: Encodable, Equatable, Sendable {
        public struct TmpfsOptions: Encodable, Equatable, Sendable {
            var sizeBytes: Int64
            enum CodingKeys: String, CodingKey { case sizeBytes = "SizeBytes" }
        }
        public struct VolumeOptions: Encodable, Equatable, Sendable {
            /// True: a new volume starts empty (not seeded from the image's folder).
            var noCopy: Bool
            var labels: [String: String]
            enum CodingKeys: String, CodingKey { case noCopy = "NoCopy", labels = "Labels" }
        }
        var type: String
        var source: String?
        var target: String
        var readOnly: Bool?
        var tmpfsOptions: TmpfsOptions?
        var volumeOptions: VolumeOptions?
        enum CodingKeys: String, CodingKey {
            case type = "Type", source = "Source", target = "Target", readOnly = "ReadOnly", tmpfsOptions = "TmpfsOptions",
                volumeOptions = "VolumeOptions"
        }
    }

    public struct TaskContainerSpec: Encodable, Equatable, Sendable {
        var image: String
        /// Swarm's `Command` is the ENTRYPOINT, `Args` the CMD (docker service create --entrypoint / args).
        var command: [String]?
        var args: [String]?
        var hostname: String
        var env: [String]
        var labels: [String: String]
        var mounts: [Mount]
        /// Nanoseconds between SIGTERM and SIGKILL when the task is stopped.
        var stopGracePeriod: Int64
        enum CodingKeys: String, CodingKey {
            case image = "Image", command = "Command", args = "Args", hostname = "Hostname", env = "Env", labels = "Labels",
                mounts = "Mounts", stopGracePeriod = "StopGracePeriod"
        }
    }

    public struct GenericResource: Encodable, Equatable, Sendable {
        public struct Discrete: Encodable, Equatable, Sendable {
            var kind: String
            var value: Int64
            enum CodingKeys: String, CodingKey { case kind = "Kind", value = "Value" }
        }
        var discreteResourceSpec: Discrete
        enum CodingKeys: String, CodingKey { case discreteResourceSpec = "DiscreteResourceSpec" }
    }

    public struct Limits: Encodable, Equatable, Sendable {
        var nanoCPUs: Int64?
        var memoryBytes: Int64?
        var pids: Int64?
        enum CodingKeys: String, CodingKey { case nanoCPUs = "NanoCPUs", memoryBytes = "MemoryBytes", pids = "Pids" }
    }

    public struct Reservations: Encodable, Equatable, Sendable {
        var genericResources: [GenericResource]
        enum CodingKeys: String, CodingKey { case genericResources = "GenericResources" }
    }

    public struct Resources: Encodable, Equatable, Sendable {
        var limits: Limits?
        var reservations: Reservations?
        enum CodingKeys: String, CodingKey { case limits = "Limits", reservations = "Reservations" }
    }

    public struct Placement: Encodable, Equatable, Sendable {
        public struct Preference: Encodable, Equatable, Sendable {
            public struct Spread: Encodable, Equatable, Sendable {
                var spreadDescriptor: String
                enum CodingKeys: String, CodingKey { case spreadDescriptor = "SpreadDescriptor" }
            }
            var spread: Spread
            enum CodingKeys: String, CodingKey { case spread = "Spread" }
        }
        var constraints: [String]
        var preferences: [Preference]
        enum CodingKeys: String, CodingKey { case constraints = "Constraints", preferences = "Preferences" }
    }

    public struct NetworkAttachment: Encodable, Equatable, Sendable {
        var target: String
        var aliases: [String]?
        enum CodingKeys: String, CodingKey { case target = "Target", aliases = "Aliases" }
    }

    public struct TaskTemplate: Encodable, Equatable, Sendable {
        var containerSpec: TaskContainerSpec
        var resources: Resources
        var restartPolicy = ["Condition": "none"]
        var placement: Placement
        var networks: [NetworkAttachment]
        enum CodingKeys: String, CodingKey {
            case containerSpec = "ContainerSpec", resources = "Resources", restartPolicy = "RestartPolicy",
                placement = "Placement", networks = "Networks"
        }
    }

    var name: String
    var labels: [String: String]
    var taskTemplate: TaskTemplate
    var mode = ["Replicated": ["Replicas": 1]]
    /// DNS round robin: `algo-N` resolves to the task's own address. The default (a virtual IP
    /// through IPVS) cannot work where the kernel has no IP_VS, as on this project's machines.
    var endpointSpec = ["Mode": "dnsrr"]

    enum CodingKeys: String, CodingKey {
        case name = "Name", labels = "Labels", taskTemplate = "TaskTemplate", mode = "Mode", endpointSpec = "EndpointSpec"
    }

    /// The label that carries a service's job network, so that removing the last service of a job
    /// removes the network too, also after a restart.
    public static let networkLabel = "trainyard.swarm-network"
    /// Set by a stop (scale to 0): the signal asked for, `SIGTERM` or `SIGKILL`.
    public static let stopLabel = "trainyard.stop"
    /// On a staged host's services (training and helpers) and in its plan: the id of the node it
    /// is pinned to (`node.id==` constraint), since its staging volumes exist only there
    /// (SwarmStagingEngine.place). A restarted server reads it back from the service's labels.
    public static let nodeLabel = "trainyard.swarm-node"
    /// Swarm's generic resource kind for NVIDIA GPUs (node-generic-resources in daemon.json).
    public static let gpuResourceKind = "NVIDIA-GPU"

    /// How the server's options shape every service.
    public struct Options: Sendable, Equatable {
        /// `--swarm-constraint`: placement constraints added to every service (`node.role==worker`).
        public var constraints: [String]
        /// `--stop-grace-seconds`, in nanoseconds: Swarm enforces the SIGKILL itself.
        public var stopGraceNanoseconds: Int64
        public init(constraints: [String] = [], stopGraceNanoseconds: Int64 = 120_000_000_000) {
            self.constraints = constraints
            self.stopGraceNanoseconds = stopGraceNanoseconds
        }
    }

    /// The service for one host's `ContainerSpec`.
    ///
    /// Resources: the instance type's CPUs, memory and PIDs become *limits*, capped at the largest
    /// node (the container may use that much and no more), and no CPU or memory *reservations*:
    /// Swarm leaves a task whose reservation fits no node `pending` forever ("insufficient
    /// resources"), and an instance type (ml.m5.xlarge: 4 vCPUs, 16 GiB) is usually larger than a
    /// small team's node. GPUs are the exception: they are reserved as the `NVIDIA-GPU` generic
    /// resource, so a task lands only on a node that has them free (the caller has checked that
    /// some node advertises them).
    public static func make(
        for spec: ContainerSpec, serviceName: String, network: String, nodes: [ClusterNode], options: Options
    ) -> SwarmServiceSpec {
        let largestCPUs = nodes.map(\.nanoCPUs).max()
        let largestMemory = nodes.map(\.memoryBytes).max()
        func capped(_ value: Int64?, _ cap: Int64?) -> Int64? {
            guard let value else { return nil }
            guard let cap, cap > 0 else { return value }
            return min(value, cap)
        }
        let limits = Limits(
            nanoCPUs: capped(spec.nanoCPUs, largestCPUs), memoryBytes: capped(spec.memoryLimitBytes, largestMemory),
            pids: spec.pidsLimit)
        let hasLimits = limits.nanoCPUs != nil || limits.memoryBytes != nil || limits.pids != nil
        let reservations = spec.gpuCount > 0
            ? Reservations(genericResources: [.init(discreteResourceSpec: .init(kind: gpuResourceKind, value: Int64(spec.gpuCount)))])
            : nil
        var mounts = workspaceMounts(spec.mounts)
        // Swarm has no ShmSize: a tmpfs at /dev/shm of the same size (SageMaker's instances have a
        // large /dev/shm; PyTorch data loaders need it).
        if let shm = spec.shmSizeBytes {
            mounts.append(Mount(type: "tmpfs", source: nil, target: "/dev/shm", readOnly: nil, tmpfsOptions: .init(sizeBytes: shm)))
        }
        var labels = spec.labels
        labels[networkLabel] = network
        return SwarmServiceSpec(
            name: serviceName, labels: labels,
            taskTemplate: TaskTemplate(
                containerSpec: TaskContainerSpec(
                    image: spec.image, command: spec.entrypoint, args: spec.command, hostname: spec.hostname,
                    // Sorted: the same spec gives the same request.
                    env: spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
                    labels: spec.labels, mounts: mounts, stopGracePeriod: options.stopGraceNanoseconds),
                resources: Resources(limits: hasLimits ? limits : nil, reservations: reservations),
                // Spread a job's hosts over the nodes, as SageMaker gives each host an instance of its own.
                placement: Placement(
                    constraints: constraints(for: spec, options: options),
                    preferences: [.init(spread: .init(spreadDescriptor: "node.id"))]),
                networks: [NetworkAttachment(target: network, aliases: [spec.hostname])]),
            mode: ["Replicated": ["Replicas": 1]])
    }

    /// `--swarm-constraint`s, plus `node.id==<id>` for a host pinned to a node (`nodeLabel`).
    static func constraints(for spec: ContainerSpec, options: Options) -> [String] {
        guard let node = spec.labels[nodeLabel] else { return options.constraints }
        return options.constraints + ["node.id==\(node)"]
    }

    /// The one place the job's data reaches the node. With `--workspace-staging api` (the swarm
    /// default) every mount is a named volume (`.volume`), filled and emptied by helper services on
    /// the same node (SwarmStagingEngine): nothing of the server's filesystem is needed there.
    /// With `--workspace-staging bind` they are bind mounts of the server's workspace folders,
    /// exactly as DockerRuntime mounts them, which needs the same path on every node.
    static func workspaceMounts(_ mounts: [ContainerSpec.Mount]) -> [Mount] {
        mounts.map { mount in
            switch mount.kind {
            case .bind:
                Mount(type: "bind", source: mount.source, target: mount.target, readOnly: mount.readOnly, tmpfsOptions: nil)
            case .volume:
                Mount(
                    type: "volume", source: mount.source, target: mount.target, readOnly: mount.readOnly, tmpfsOptions: nil,
                    volumeOptions: .init(noCopy: true, labels: mount.volumeLabels))
            }
        }
    }

    /// A staging helper (StagedContainer.helper) as a one-task service: on network `host` (it
    /// reaches the advertise URL as the node does; `docker service create --network host` sends
    /// the same attachment), its volumes as node-local named volumes, pinned to the host's node by
    /// the `nodeLabel` its labels carry from the training spec, no restart, no job network.
    public static func helper(_ spec: ContainerSpec, options: Options) -> SwarmServiceSpec {
        SwarmServiceSpec(
            name: serviceName(for: spec.name), labels: spec.labels,
            taskTemplate: TaskTemplate(
                containerSpec: TaskContainerSpec(
                    image: spec.image, command: spec.entrypoint, args: spec.command.flatMap { $0.isEmpty ? nil : $0 },
                    hostname: spec.hostname,
                    env: spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
                    labels: spec.labels, mounts: workspaceMounts(spec.mounts), stopGracePeriod: options.stopGraceNanoseconds),
                resources: Resources(limits: nil, reservations: nil),
                placement: Placement(constraints: constraints(for: spec, options: options), preferences: []),
                networks: [NetworkAttachment(target: spec.networkMode, aliases: nil)]),
            mode: ["Replicated": ["Replicas": 1]])
    }

    /// A Swarm service name: at most 63 characters of a DNS label. Container names that fit are kept
    /// (a person recognises them in `docker service ls`); longer ones keep their start and end and
    /// get a stable hash of the whole in between, so the name stays deterministic for adoption.
    public static func serviceName(for containerName: String) -> String {
        guard containerName.count > 63 else { return containerName }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, 64 bits: stable across runs and builds
        for byte in containerName.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let digest = String(hash, radix: 16)
        let tail = String(containerName.suffix(12))
        let head = String(containerName.prefix(63 - digest.count - tail.count - 2))
        return "\(head)-\(digest)-\(tail)"
    }
}
