public import ContainerRuntime
public import Foundation
public import TrainingCore

/// How a job's container is named, labelled and configured (DESIGN §4, sagemaker-semantics §1).
public enum TrainingContainer {
    /// The first host of every job (the only one of a single-host job).
    public static let host = "algo-1"

    public static let jobLabel = "trainyard.job"
    public static let jobIDLabel = "trainyard.job-id"
    public static let accountLabel = "trainyard.account"
    public static let hostLabel = "trainyard.host"
    /// `s3` on containers that get the S3 gateway (DockerEngine's GatewayRuntime reads it).
    public static let gatewayLabel = "trainyard.gateway"
    /// The data dir's instance id (issue 12 item 8).
    public static let instanceLabel = "trainyard.instance"

    /// Deterministic, so a restarted server finds the container again. The job id (never reused)
    /// keeps a re-created job of the same name from adopting an old container; the instance id
    /// (one per database) keeps two servers on one engine, whose job ids both start at 1, from
    /// adopting each other's containers.
    public static func name(for job: TrainingJob, host: String = host, instance: String) -> String {
        instance.isEmpty ? "trainyard-\(job.id)-\(job.name)-\(host)" : "trainyard-\(instance)-\(job.id)-\(job.name)-\(host)"
    }

    public static func labels(for job: TrainingJob, host: String = host, instance: String) -> [String: String] {
        [jobLabel: job.name, jobIDLabel: String(job.id), accountLabel: job.account, hostLabel: host, instanceLabel: instance]
    }

    public struct Options: Sendable {
        public var region: String
        public var networkMode: String
        public var shmSizeBytes: Int64?
        /// How containers of jobs that are not network-isolated reach the S3 API; nil: they don't.
        public var s3Access: S3Access?
        /// This data dir's instance id, in container names and labels.
        public var instanceID: String
        /// Give containers their instance type's memory, CPUs and PIDs (`--container-limits`).
        public var applyInstanceLimits: Bool
        public var hostMemoryBytes: Int64
        public var hostCPUs: Int
        /// `--gpus`: whether GPU instance types get GPUs (TrainingContainer+GPUs).
        public var gpus: GPUMode
        public init(
            region: String, networkMode: String = "none", shmSizeBytes: Int64? = 1 << 30, s3Access: S3Access? = nil,
            instanceID: String = "", applyInstanceLimits: Bool = false,
            hostMemoryBytes: Int64 = Int64(ProcessInfo.processInfo.physicalMemory),
            hostCPUs: Int = ProcessInfo.processInfo.activeProcessorCount, gpus: GPUMode = .auto
        ) {
            self.region = region
            self.networkMode = networkMode
            self.shmSizeBytes = shmSizeBytes
            self.s3Access = s3Access
            self.instanceID = instanceID
            self.applyInstanceLimits = applyInstanceLimits
            self.hostMemoryBytes = hostMemoryBytes
            self.hostCPUs = hostCPUs
            self.gpus = gpus
        }
    }

    /// What a container needs to reach the S3 API through its gateway (DockerEngine's
    /// ContainerGateway listens on 127.0.0.1:<the server's port> inside the container).
    public struct S3Access: Sendable {
        /// The server's port; nil until the server has bound it.
        public var port: @Sendable () -> Int?
        /// The job's own access key id and secret (valid for S3 and STS while the job runs).
        public var credentials: @Sendable (TrainingJob) -> (accessKeyID: String, secretAccessKey: String)
        public init(
            port: @escaping @Sendable () -> Int?,
            credentials: @escaping @Sendable (TrainingJob) -> (accessKeyID: String, secretAccessKey: String)
        ) {
            self.port = port
            self.credentials = credentials
        }
    }

    /// Every host of the job, as SageMaker names them (`algo-1` ... `algo-N`, resourceconfig.json's
    /// `hosts`; ClusterLayout).
    public static func hosts(for job: TrainingJob) -> [String] { job.spec.cluster.hostNames }

    /// `/etc/hosts` lines that make every `algo-N` of the job resolve inside its containers. The
    /// toolkit waits until they resolve (sagemaker-training entry_point.py `_wait_hostname_resolution`, retried for 15 minutes), and on
    /// SageMaker they do. With network `none` a container has only its loopback, and the only host
    /// is the container itself: `algo-1` → 127.0.0.1. Other network modes get the engine's own
    /// hostname entry.
    static func extraHosts(for job: TrainingJob, networkMode: String) -> [String] {
        guard networkMode == "none" else { return [] }
        return hosts(for: job).map { "\($0):127.0.0.1" }
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
        var labels = labels(for: job, host: host, instance: options.instanceID)
        // EnableNetworkIsolation: "the training container cannot make any outbound network calls,
        // even to other AWS services such as Amazon S3" (API CreateTrainingJob): network `none`,
        // no gateway, no credentials.
        // A job with several hosts is on its own network, also when isolated (TrainingContainer+Cluster).
        let network = clusterNetwork(for: job)
        if let network { labels[ContainerSpec.clusterNetworkLabel] = network }
        let networkMode = network ?? (job.spec.enableNetworkIsolation ? "none" : options.networkMode)
        if !job.spec.enableNetworkIsolation, let access = options.s3Access, let port = access.port() {
            // As SageMaker hands a container its execution role's credentials: the job's own key,
            // valid only for its account's S3 (and STS) and only while it runs. The endpoint
            // variables are the ones boto3 (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3) and the training
            // toolkit (S3_ENDPOINT_URL, params.py) read.
            let endpoint = "http://127.0.0.1:\(port)"
            let key = access.credentials(job)
            environment["AWS_ACCESS_KEY_ID"] = key.accessKeyID
            environment["AWS_SECRET_ACCESS_KEY"] = key.secretAccessKey
            environment["AWS_ENDPOINT_URL"] = endpoint
            environment["AWS_ENDPOINT_URL_S3"] = endpoint
            environment["S3_ENDPOINT_URL"] = endpoint
            labels[gatewayLabel] = "s3"
        }
        // The instance type's resources (issue 12 item 7); an OOM kill then fails the job with
        // SageMaker's memory ClientError (FailureReason.outOfMemory). A host of a heterogeneous
        // cluster gets its own group's type.
        let limits = options.applyInstanceLimits
            ? ContainerLimits.forInstanceType(
                instanceType(of: job, host: host), hostMemoryBytes: options.hostMemoryBytes, hostCPUs: options.hostCPUs) : nil
        return ContainerSpec(
            name: name(for: job, host: host, instance: options.instanceID), image: job.spec.trainingImage, entrypoint: entrypoint,
            command: command, environment: environment, labels: labels, hostname: host,
            mounts: mounts, networkMode: networkMode, shmSizeBytes: options.shmSizeBytes,
            memoryLimitBytes: limits?.memoryBytes, nanoCPUs: limits?.nanoCPUs,
            extraHosts: extraHosts(for: job, networkMode: networkMode), pidsLimit: limits?.pids,
            gpuCount: gpuCount(of: job, host: host, mode: options.gpus))
    }
}
