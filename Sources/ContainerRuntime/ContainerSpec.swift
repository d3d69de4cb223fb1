/// Everything needed to create one training container.
public struct ContainerSpec: Sendable, Equatable {
    /// A bind mount of a host directory into the container, or (kind `.volume`) a named volume of
    /// the engine: how workspace staging (WorkspaceStaging) keeps `/opt/ml` off the server's disk.
    public struct Mount: Sendable, Equatable {
        public enum Kind: String, Sendable, Equatable {
            /// `source` is a directory on the engine's machine.
            case bind
            /// `source` names a volume, made (with `volumeLabels`) by the engine if missing.
            case volume
        }
        public var source: String
        public var target: String
        public var readOnly: Bool
        public var kind: Kind
        /// Labels a volume is created with (for cleanup and adoption); unused for binds.
        public var volumeLabels: [String: String]
        public init(
            source: String, target: String, readOnly: Bool = false, kind: Kind = .bind, volumeLabels: [String: String] = [:]
        ) {
            self.source = source
            self.target = target
            self.readOnly = readOnly
            self.kind = kind
            self.volumeLabels = volumeLabels
        }
    }

    public var name: String
    public var image: String
    /// Overrides the image's ENTRYPOINT when set.
    public var entrypoint: [String]?
    /// Replaces the image's CMD when set (SageMaker passes `["train"]`).
    public var command: [String]?
    public var environment: [String: String]
    public var labels: [String: String]
    public var hostname: String
    /// Extra `/etc/hosts` lines, `name:address` (Docker's `ExtraHosts`): how every `algo-N` of a
    /// job resolves inside its containers, also with network `none`.
    public var extraHosts: [String]
    public var mounts: [Mount]
    /// Docker network mode; "none" keeps training containers off every network.
    public var networkMode: String
    public var shmSizeBytes: Int64?
    public var memoryLimitBytes: Int64?
    public var nanoCPUs: Int64?
    /// Most processes (and threads) the container may have at once.
    public var pidsLimit: Int64?
    /// NVIDIA GPUs the container asks the engine for (its instance type's; 0: none, `--gpus none`).
    public var gpuCount: Int

    public init(
        name: String, image: String, entrypoint: [String]? = nil, command: [String]? = nil,
        environment: [String: String] = [:], labels: [String: String] = [:], hostname: String,
        mounts: [Mount] = [], networkMode: String = "none", shmSizeBytes: Int64? = nil,
        memoryLimitBytes: Int64? = nil, nanoCPUs: Int64? = nil, extraHosts: [String] = [], pidsLimit: Int64? = nil,
        gpuCount: Int = 0
    ) {
        self.name = name
        self.image = image
        self.entrypoint = entrypoint
        self.command = command
        self.environment = environment
        self.labels = labels
        self.hostname = hostname
        self.extraHosts = extraHosts
        self.mounts = mounts
        self.networkMode = networkMode
        self.shmSizeBytes = shmSizeBytes
        self.memoryLimitBytes = memoryLimitBytes
        self.nanoCPUs = nanoCPUs
        self.pidsLimit = pidsLimit
        self.gpuCount = gpuCount
    }
}
