/// The parts of a CreateTrainingJob request that decide how the job runs. The API layer builds it
/// from the validated request; the scheduler and the workspace read it. (What Describe echoes is
/// kept separately, verbatim, in `TrainingJob.requestEcho`.)
public struct TrainingJobSpec: Sendable, Equatable, Codable {
    public struct Channel: Sendable, Equatable, Codable {
        public var name: String
        /// `s3://bucket/key` (the local object store) or `file:///abs/dir`.
        public var uri: String
        public var s3DataType: String
        public var distributionType: String
        public var contentType: String?
        public var compressionType: String
        public var recordWrapperType: String
        /// The channel's own InputMode, or nil to use the job's TrainingInputMode.
        public var inputMode: String?
        /// `S3DataSource.InstanceGroupNames`: only these groups' hosts get the channel (nil: all).
        public var instanceGroupNames: [String]?

        public init(
            name: String, uri: String, s3DataType: String = "S3Prefix", distributionType: String = "FullyReplicated",
            contentType: String? = nil, compressionType: String = "None", recordWrapperType: String = "None",
            inputMode: String? = nil, instanceGroupNames: [String]? = nil
        ) {
            self.instanceGroupNames = instanceGroupNames
            self.name = name
            self.uri = uri
            self.s3DataType = s3DataType
            self.distributionType = distributionType
            self.contentType = contentType
            self.compressionType = compressionType
            self.recordWrapperType = recordWrapperType
            self.inputMode = inputMode
        }
    }

    public struct Checkpoint: Sendable, Equatable, Codable {
        public var uri: String
        public var localPath: String
        public init(uri: String, localPath: String = "/opt/ml/checkpoints") {
            self.uri = uri
            self.localPath = localPath
        }
    }

    /// One `ResourceConfig.InstanceGroups` entry (heterogeneous clusters).
    public struct InstanceGroup: Sendable, Equatable, Codable {
        public var name: String
        public var instanceType: String
        public var instanceCount: Int
        public init(name: String, instanceType: String, instanceCount: Int) {
            self.name = name
            self.instanceType = instanceType
            self.instanceCount = instanceCount
        }
    }

    public struct MetricDefinition: Sendable, Equatable, Codable {
        public var name: String
        public var regex: String
        public init(name: String, regex: String) {
            self.name = name
            self.regex = regex
        }
    }

    public var trainingImage: String
    public var containerEntrypoint: [String]?
    public var containerArguments: [String]?
    public var trainingInputMode: String
    public var hyperParameters: [String: String]
    public var environment: [String: String]
    public var channels: [Channel]
    /// `OutputDataConfig.S3OutputPath`.
    public var outputPath: String
    public var checkpoint: Checkpoint?
    public var instanceType: String
    public var instanceCount: Int
    public var volumeSizeInGB: Int
    public var maxRuntimeSeconds: Int64
    /// `StoppingCondition.MaxPendingTimeInSeconds`, if given.
    public var maxPendingSeconds: Int64?
    public var metricDefinitions: [MetricDefinition]
    public var enableNetworkIsolation: Bool
    /// Further `/opt/ml/input/config` files, by name, with their JSON text (the debugger, profiler
    /// and TensorBoard configs). Optional so that specs stored before it existed still decode.
    public var extraConfigFiles: [String: String]?
    /// `ResourceConfig.InstanceGroups`, when the request gave them instead of InstanceType and
    /// InstanceCount. Optional so that specs stored before it existed still decode.
    public var instanceGroups: [InstanceGroup]?

    public init(
        trainingImage: String, containerEntrypoint: [String]? = nil, containerArguments: [String]? = nil,
        trainingInputMode: String = "File", hyperParameters: [String: String] = [:],
        environment: [String: String] = [:], channels: [Channel] = [], outputPath: String,
        checkpoint: Checkpoint? = nil, instanceType: String = "ml.m5.large", instanceCount: Int = 1,
        volumeSizeInGB: Int = 30, maxRuntimeSeconds: Int64 = TrainingJobSpec.defaultMaxRuntimeSeconds,
        maxPendingSeconds: Int64? = nil, metricDefinitions: [MetricDefinition] = [],
        enableNetworkIsolation: Bool = false, extraConfigFiles: [String: String]? = nil,
        instanceGroups: [InstanceGroup]? = nil
    ) {
        self.instanceGroups = instanceGroups
        self.extraConfigFiles = extraConfigFiles
        self.trainingImage = trainingImage
        self.containerEntrypoint = containerEntrypoint
        self.containerArguments = containerArguments
        self.trainingInputMode = trainingInputMode
        self.hyperParameters = hyperParameters
        self.environment = environment
        self.channels = channels
        self.outputPath = outputPath
        self.checkpoint = checkpoint
        self.instanceType = instanceType
        self.instanceCount = instanceCount
        self.volumeSizeInGB = volumeSizeInGB
        self.maxRuntimeSeconds = maxRuntimeSeconds
        self.maxPendingSeconds = maxPendingSeconds
        self.metricDefinitions = metricDefinitions
        self.enableNetworkIsolation = enableNetworkIsolation
    }

    /// "The default value is 1 day" (API `StoppingCondition.MaxRuntimeInSeconds`).
    public static let defaultMaxRuntimeSeconds: Int64 = 86_400

    /// `<S3OutputPath>/<job>/output/model.tar.gz` (reference api-fidelity §3, observed).
    public func modelArtifactsURI(jobName: String) -> String {
        "\(outputPrefix(jobName: jobName))/model.tar.gz"
    }

    /// `<S3OutputPath>/<job>/output`, where model.tar.gz and output.tar.gz land.
    public func outputPrefix(jobName: String) -> String {
        var base = outputPath
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/\(jobName)/output"
    }
}
