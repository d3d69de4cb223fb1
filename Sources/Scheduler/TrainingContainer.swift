public import ContainerRuntime
public import TrainingCore

/// How a job's container is named, labelled and configured (DESIGN §4, sagemaker-semantics §1).
public enum TrainingContainer {
    /// The only host Trainyard runs per job.
    public static let host = "algo-1"

    public static let jobLabel = "trainyard.job"
    public static let jobIDLabel = "trainyard.job-id"
    public static let accountLabel = "trainyard.account"
    public static let hostLabel = "trainyard.host"

    /// Deterministic, so a restarted server finds the container again. The job id (never reused)
    /// keeps a re-created job of the same name from adopting an old container.
    public static func name(for job: TrainingJob, host: String = host) -> String {
        "trainyard-\(job.id)-\(job.name)-\(host)"
    }

    public static func labels(for job: TrainingJob, host: String = host) -> [String: String] {
        [jobLabel: job.name, jobIDLabel: String(job.id), accountLabel: job.account, hostLabel: host]
    }

    public struct Options: Sendable {
        public var region: String
        public var networkMode: String
        public var shmSizeBytes: Int64?
        public init(region: String, networkMode: String = "none", shmSizeBytes: Int64? = 1 << 30) {
            self.region = region
            self.networkMode = networkMode
            self.shmSizeBytes = shmSizeBytes
        }
    }

    /// SageMaker runs `docker run image train`: the image's ENTRYPOINT with the single argument
    /// `train`, which replaces CMD. ContainerEntrypoint replaces the ENTRYPOINT and
    /// ContainerArguments the arguments; with either, no `train` is added (DG-run).
    public static func spec(
        for job: TrainingJob, host: String = host, mounts: [ContainerSpec.Mount], options: Options
    ) -> ContainerSpec {
        let entrypoint = job.spec.containerEntrypoint
        let command: [String]
        if let arguments = job.spec.containerArguments {
            command = arguments
        } else if entrypoint != nil {
            command = []
        } else {
            command = ["train"]
        }
        // The platform's variables first; the request's Environment cannot hide the job's identity
        // from toolkits that read it (TRAINING_JOB_NAME is mandatory for SDK v3 drivers).
        var environment = job.spec.environment
        environment["TRAINING_JOB_NAME"] = job.name
        environment["TRAINING_JOB_ARN"] = job.arn
        environment["AWS_REGION"] = options.region
        environment["AWS_DEFAULT_REGION"] = options.region
        return ContainerSpec(
            name: name(for: job, host: host), image: job.spec.trainingImage, entrypoint: entrypoint,
            command: command, environment: environment, labels: labels(for: job, host: host), hostname: host,
            mounts: mounts, networkMode: options.networkMode, shmSizeBytes: options.shmSizeBytes)
    }
}
