import ArgumentParser
import ContainerRuntime
import DockerEngine
import EventHTTP
import Foundation
import JobStore
import Logging
import SageMakerAPI
import Scheduler
import TrainingCore
import WorkspaceStaging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the SageMaker training API and run training jobs.",
        discussion: "Every option can also be set with an environment variable TRAINYARD_<OPTION>, e.g. TRAINYARD_STOP_GRACE_SECONDS=5.")

    @Option(help: "Address to listen on.") var host: String?
    @Option(help: "Port to listen on (0 picks a free one).") var port: Int?
    @Option(name: .customLong("data-dir"), help: "Holds the database, job workspaces and the object store (default ./.trainyard).")
    var dataDir: String?
    @Option(help: "Where training containers run: docker, swarm (a Docker Swarm cluster; manager from --docker-host) or simulated (no containers).") var runtime: ServeConfiguration.RuntimeKind?
    @Option(name: .customLong("docker-host"), help: "Docker engine socket (default $DOCKER_HOST or unix:///var/run/docker.sock).")
    var dockerHost: String?
    @Option(name: .customLong("stop-grace-seconds"), help: "Seconds between SIGTERM and SIGKILL when a job stops (SageMaker: 120).")
    var stopGraceSeconds: Double?
    @Option(help: "AWS region in ARNs and in the container's AWS_REGION.") var region: String?
    @Option(name: .customLong("account-id"), help: "12-digit AWS account id in ARNs.") var accountId: String?
    @Option(name: .customLong("s3-root"), help: "Folder backing s3://bucket/key (default <data-dir>/s3).") var s3Root: String?
    @Option(name: .customLong("simulated-phase-seconds"), help: "Simulated runtime: seconds per phase and default training time.")
    var simulatedPhaseSeconds: Double?
    @Option(name: .customLong("container-network"), help: "Docker network mode for training containers.") var containerNetwork: String?
    @Option(name: .customLong("shm-size"), help: "Bytes of /dev/shm for training containers (default 1 GiB).") var shmSize: Int64?
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted.") var maxBodyBytes: Int?
    @Option(name: .customLong("keep-workspaces"), help: "Keep job workspaces after jobs end (true/false).") var keepWorkspaces: Bool?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String?
    @Option(name: .customLong("max-concurrent-jobs"), help: "Jobs that may run at once; further jobs wait InProgress/Pending (0: no limit).")
    var maxConcurrentJobs: Int?
    @Option(
        name: .customLong("instance-quota"),
        help: ArgumentHelp(
            "Account-level quota of an instance type (repeatable); CreateTrainingJob beyond it answers ResourceLimitExceeded. Environment: TRAINYARD_INSTANCE_QUOTA=ml.m5.large=2,ml.p3.2xlarge=0.",
            valueName: "type=n"))
    var instanceQuota: [String] = []
    @Option(name: .customLong("default-instance-quota"), help: "Quota of every instance type without an --instance-quota (default: no limit).")
    var defaultInstanceQuota: Int?
    @Option(name: .customLong("log-retention-days"), help: "Days container log lines are kept (0: forever).")
    var logRetentionDays: Int?
    @Option(help: "none (any request acts for --account-id) or sigv4 (verify AWS Signature V4 with --credentials-file).")
    var auth: ServeConfiguration.AuthMode?
    @Option(name: .customLong("credentials-file"), help: "JSON file of access keys and their accounts (for --auth sigv4).")
    var credentialsFile: String?
    @Option(name: .customLong("request-timeout-seconds"), help: "Seconds a request may take to arrive whole; slower ones are cut off.")
    var requestTimeoutSeconds: Int?
    @Option(
        name: .customLong("allow-file-uris"),
        help: ArgumentHelp(
            "Accept file:// URIs under this absolute prefix (repeatable; default: / with --auth none, none with --auth sigv4). Environment: TRAINYARD_ALLOW_FILE_URIS=/data,/scratch.",
            valueName: "prefix"))
    var allowFileURIs: [String] = []
    @Option(
        name: .customLong("container-limits"),
        help: "instance-type (memory, CPUs and PIDs of the job's instance type, capped at the host's) or none.")
    var containerLimits: ServeConfiguration.ContainerLimitsMode?
    @Option(
        name: .customLong("gpus"),
        help: "auto (GPU instance types get their GPUs; a job fails when the engine has no NVIDIA GPU runtime) or none (every job on the CPU).")
    var gpus: ServeConfiguration.GPUsMode?
    @Option(
        name: .customLong("max-connections"),
        help: "HTTP connections open at once; more are closed as they arrive (default: 4096, at most half the open-file limit).")
    var maxConnections: Int?
    @Option(name: .customLong("http-threads"), help: "Threads serving HTTP connections (default: processor count, at most 4).")
    var httpThreads: Int?
    @Option(
        help: ArgumentHelp(
            "Registry that ECR image URIs (<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>) are pulled from, as <registry>/<repo>:<tag>.",
            valueName: "host:port"))
    var registry: String?
    @Option(
        name: .customLong("swarm-constraint"),
        help: ArgumentHelp("With --runtime swarm: a placement constraint for every job's services (repeatable).", valueName: "expr"))
    var swarmConstraints: [String] = []
    @Option(
        name: .customLong("workspace-staging"),
        help: "bind (bind-mount the job workspace from this machine) or api (volumes on the engine, filled and emptied through this server's HTTP API: for an engine on another machine; the default with --runtime swarm).")
    var workspaceStaging: ServeConfiguration.WorkspaceStagingMode?
    @Option(
        name: .customLong("advertise-url"),
        help: ArgumentHelp(
            "This server's address as the engine's machines reach it, for --workspace-staging api (default http://127.0.0.1:<port>).",
            valueName: "http://host:port"))
    var advertiseURL: String?
    @Option(name: .customLong("staging-busybox"), help: "Static busybox the staging image is made of (default /bin/busybox).")
    var stagingBusybox: String?
    @Option(
        name: .customLong("staging-max-output-bytes"),
        help: "Most bytes of outputs (model, output, checkpoints) a host may send back with --workspace-staging api (default 50 GiB).")
    var stagingMaxOutputBytes: Int64?

    func resolve(_ environment: [String: String]) throws -> ServeConfiguration {
        let env = EnvironmentSettings(environment: environment)
        var config = ServeConfiguration()
        config.host = try env.value(host, "host", default: config.host) { $0 }
        config.port = try env.value(port, "port", default: config.port) { Int($0) }
        config.dataDir = try env.value(dataDir, "data-dir", default: config.dataDir) { $0 }
        config.runtime = try env.value(runtime, "runtime", default: config.runtime) { .init(rawValue: $0) }
        let dockerDefault = environment["DOCKER_HOST"] ?? config.dockerHost
        config.dockerHost = try env.value(dockerHost, "docker-host", default: dockerDefault) { $0 }
        config.stopGraceSeconds = try env.value(stopGraceSeconds, "stop-grace-seconds", default: config.stopGraceSeconds) { Double($0) }
        config.region = try env.value(region, "region", default: config.region) { $0 }
        config.accountID = try env.value(accountId, "account-id", default: config.accountID) { $0 }
        config.s3Root = try env.optionalValue(s3Root, "s3-root") { $0 }
        config.simulatedPhaseSeconds = try env.value(simulatedPhaseSeconds, "simulated-phase-seconds", default: config.simulatedPhaseSeconds) { Double($0) }
        config.containerNetwork = try env.value(containerNetwork, "container-network", default: config.containerNetwork) { $0 }
        config.shmSizeBytes = try env.value(shmSize, "shm-size", default: config.shmSizeBytes) { Int64($0) }
        config.maxBodyBytes = try env.value(maxBodyBytes, "max-body-bytes", default: config.maxBodyBytes) { Int($0) }
        config.keepWorkspaces = try env.value(keepWorkspaces, "keep-workspaces", default: config.keepWorkspaces) { Bool($0) }
        config.logLevel = try env.value(logLevel, "log-level", default: config.logLevel) { $0 }
        config.maxConcurrentJobs = try env.value(maxConcurrentJobs, "max-concurrent-jobs", default: config.maxConcurrentJobs) { Int($0) }
        guard config.maxConcurrentJobs >= 0 else { throw ValidationError("--max-concurrent-jobs must be zero or more") }
        config.instanceQuotas = try resolveInstanceQuotas(env)
        config.logRetentionDays = try env.value(logRetentionDays, "log-retention-days", default: config.logRetentionDays) { Int($0) }
        guard config.logRetentionDays >= 0 else { throw ValidationError("--log-retention-days must be zero or more") }
        config.auth = try env.value(auth, "auth", default: config.auth) { .init(rawValue: $0) }
        config.credentialsFile = try env.optionalValue(credentialsFile, "credentials-file") { $0 }
        config.requestTimeoutSeconds = try env.value(requestTimeoutSeconds, "request-timeout-seconds", default: config.requestTimeoutSeconds) { Int($0) }
        guard config.requestTimeoutSeconds >= 1 else { throw ValidationError("--request-timeout-seconds must be 1 or more") }
        config.httpThreads = try env.value(httpThreads, "http-threads", default: config.httpThreads) { Int($0) }
        guard (1...64).contains(config.httpThreads) else { throw ValidationError("--http-threads must be between 1 and 64") }
        if !allowFileURIs.isEmpty {
            config.allowFileURIs = allowFileURIs
        } else if let text = environment["TRAINYARD_ALLOW_FILE_URIS"] {
            config.allowFileURIs = text.split(separator: ",").map { String($0) }
        }
        for prefix in config.allowFileURIs ?? [] where !prefix.hasPrefix("/") {
            throw ValidationError("--allow-file-uris \(prefix): the prefix must be an absolute path")
        }
        config.containerLimits = try env.value(containerLimits, "container-limits", default: config.containerLimits) { .init(rawValue: $0) }
        config.gpus = try env.value(gpus, "gpus", default: config.gpus) { .init(rawValue: $0) }
        config.maxConnections = try env.optionalValue(maxConnections, "max-connections") { Int($0) }
        if let limit = config.maxConnections, limit < 1 { throw ValidationError("--max-connections must be 1 or more") }
        config.registry = try env.optionalValue(registry, "registry") { $0 }
        if let registry = config.registry, !ImageReference.isValidRegistry(registry) {
            throw ValidationError("--registry \(registry): expected host or host:port (no scheme, no path), e.g. 127.0.0.1:5000")
        }
        if !swarmConstraints.isEmpty {
            config.swarmConstraints = swarmConstraints
        } else if let text = environment["TRAINYARD_SWARM_CONSTRAINT"], !text.isEmpty {
            config.swarmConstraints = text.split(separator: ",").map { String($0) }
        }
        if !config.swarmConstraints.isEmpty && config.runtime != .swarm {
            throw ValidationError("--swarm-constraint needs --runtime swarm")
        }
        // A swarm's nodes do not have this server's filesystem: staging through the API is its default.
        config.workspaceStaging = try env.value(
            workspaceStaging, "workspace-staging", default: config.runtime == .swarm ? .api : config.workspaceStaging) { .init(rawValue: $0) }
        if config.runtime == .swarm, config.workspaceStaging == .api, config.registry == nil {
            throw ValidationError(
                "--runtime swarm stages workspaces through the API and needs --registry HOST:PORT (its nodes pull the staging image from there), or --workspace-staging bind when every node has this server's data directory")
        }
        config.advertiseURL = try env.optionalValue(advertiseURL, "advertise-url") { $0 }
        if let url = config.advertiseURL {
            do {
                _ = try AdvertisedAddress(parsing: url)
            } catch {
                throw ValidationError(error.description)
            }
        }
        config.stagingBusybox = try env.value(stagingBusybox, "staging-busybox", default: config.stagingBusybox) { $0 }
        config.stagingMaxOutputBytes = try env.value(
            stagingMaxOutputBytes, "staging-max-output-bytes", default: config.stagingMaxOutputBytes) { Int64($0) }
        guard config.stagingMaxOutputBytes > 0 else { throw ValidationError("--staging-max-output-bytes must be more than zero") }
        if config.auth == .sigv4 && config.credentialsFile == nil {
            throw ValidationError("--auth sigv4 needs --credentials-file")
        }

        guard (0...65535).contains(config.port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard config.stopGraceSeconds >= 0, config.stopGraceSeconds.isFinite else {
            throw ValidationError("--stop-grace-seconds must be zero or more")
        }
        guard config.accountID.count == 12, config.accountID.allSatisfy(\.isASCIIDigit) else {
            throw ValidationError("--account-id must be 12 digits")
        }
        guard config.simulatedPhaseSeconds >= 0 else { throw ValidationError("--simulated-phase-seconds must be zero or more") }
        guard Logger.Level(rawValue: config.logLevel) != nil else { throw ValidationError("--log-level \(config.logLevel) is not a log level") }
        return config
    }

    /// Flags win over the environment as a whole: any `--instance-quota` replaces TRAINYARD_INSTANCE_QUOTA.
    private func resolveInstanceQuotas(_ env: EnvironmentSettings) throws -> InstanceQuotas {
        let limits: [String: Int]
        if !instanceQuota.isEmpty {
            limits = try InstanceQuotaOption.limits(instanceQuota, source: "--instance-quota")
        } else if let text = env.environment["TRAINYARD_INSTANCE_QUOTA"] {
            limits = try InstanceQuotaOption.limits(
                InstanceQuotaOption.entries(fromEnvironment: text), source: "TRAINYARD_INSTANCE_QUOTA")
        } else {
            limits = [:]
        }
        let defaultLimit = try env.optionalValue(defaultInstanceQuota, "default-instance-quota") { Int($0) }
        if let defaultLimit, defaultLimit < 0 { throw ValidationError("--default-instance-quota must be zero or more") }
        return InstanceQuotas(limits: limits, defaultLimit: defaultLimit)
    }

    func run() async throws {
        let config = try resolve(ProcessInfo.processInfo.environment)
        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "trainyard")
        let server = try await Server.start(config, logger: logger)
        try await server.run()
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
