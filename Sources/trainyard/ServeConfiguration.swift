import ArgumentParser
import EventHTTP
import Foundation
import TrainingCore

/// `trainyard serve`'s settings, resolved from flags, then `TRAINYARD_<FLAG>` variables, then
/// defaults (DESIGN §1).
struct ServeConfiguration {
    enum RuntimeKind: String, CaseIterable, ExpressibleByArgument {
        case docker, simulated
        /// A Docker Swarm cluster: the manager's Engine API at --docker-host (DockerEngine/Swarm).
        case swarm
    }

    enum AuthMode: String, CaseIterable, ExpressibleByArgument {
        /// Any request, signed or not, acts for --account-id (local use).
        case none
        /// AWS Signature Version 4 with the keys of --credentials-file.
        case sigv4
    }

    static let defaultDataDir = "./.trainyard"

    var host = "127.0.0.1"
    var port = 8080
    var dataDir = defaultDataDir
    var runtime = RuntimeKind.docker
    var dockerHost = "unix:///var/run/docker.sock"
    /// SageMaker's window between SIGTERM and SIGKILL (API StopTrainingJob).
    var stopGraceSeconds = 120.0
    var region = "us-east-1"
    var accountID = "123456789012"
    var s3Root: String?
    var simulatedPhaseSeconds = 0.5
    var containerNetwork = "none"
    var shmSizeBytes: Int64 = 1 << 30
    var maxBodyBytes = 8 << 20
    var keepWorkspaces = false
    var logLevel = "info"
    /// Jobs that may run at once (0: no limit); further jobs wait InProgress/Pending.
    var maxConcurrentJobs = 0
    /// Days container log lines are kept (0: forever), like a CloudWatch log group's retention.
    var logRetentionDays = 0
    /// Per-account instance quotas (ResourceLimitExceeded on CreateTrainingJob); none by default.
    var instanceQuotas = InstanceQuotas.unlimited
    var auth = AuthMode.none
    var credentialsFile: String?
    var httpThreads = HTTPServer.Configuration().loopThreads
    var requestTimeoutSeconds = HTTPServer.Configuration().requestTimeoutSeconds
    /// HTTP connections open at once; nil: `defaultMaxConnections(descriptorLimit:)`.
    var maxConnections: Int?
    /// `--registry host:port`: where ECR image URIs are pulled from (ImageReference); nil: images
    /// are used as named.
    var registry: String?
    /// `--swarm-constraint`: placement constraints of every service (`--runtime swarm`).
    var swarmConstraints: [String] = []
    /// `--workspace-staging`: how a training container gets its `/opt/ml` (WorkspaceStaging).
    var workspaceStaging = WorkspaceStagingMode.bind
    enum WorkspaceStagingMode: String, CaseIterable, ExpressibleByArgument {
        /// The workspace folders are bind-mounted (the engine runs on this machine).
        case bind
        /// Volumes on the engine, filled and emptied by helper containers through this server's API.
        case api
    }
    /// `--advertise-url`; nil: `http://<listening address>:<port>` (127.0.0.1 for a wildcard host).
    var advertiseURL: String?
    var stagingBusybox = "/bin/busybox"
    var stagingMaxOutputBytes: Int64 = 50 << 30

    /// At most 4096, and at most half the descriptor limit: the rest is for the database, the
    /// container engine's sockets, log streams and job files.
    static func defaultMaxConnections(descriptorLimit: Int) -> Int {
        max(16, min(4096, descriptorLimit / 2))
    }

    /// `--allow-file-uris`: prefixes under which `file://` URIs are accepted. Nil: the default
    /// for the auth mode (`allowedFileURIPrefixes`).
    var allowFileURIs: [String]?
    enum ContainerLimitsMode: String, CaseIterable, ExpressibleByArgument {
        /// Memory, CPUs and PIDs of the job's instance type, capped at the host's.
        case instanceType = "instance-type"
        case none
    }
    var containerLimits = ContainerLimitsMode.instanceType
    /// `--gpus`: auto asks the engine for a GPU instance type's GPUs (a job fails with a
    /// ClientError when the engine has no NVIDIA GPU runtime); none runs every job on the CPU.
    var gpus = GPUsMode.auto
    enum GPUsMode: String, CaseIterable, ExpressibleByArgument {
        case auto
        case none
    }

    /// With `--auth none` (one person on a laptop) any local path, as SDK local mode allows; with
    /// `--auth sigv4` (a shared server) none unless the operator says so (issue 12 item 1).
    var allowedFileURIPrefixes: [String] { allowFileURIs ?? (auth == .none ? ["/"] : []) }

    var databasePath: String { Self.databasePath(dataDir: dataDir) }
    var resolvedS3Root: String { s3Root ?? (dataDir as NSString).appendingPathComponent("s3") }

    static func databasePath(dataDir: String) -> String {
        (dataDir as NSString).appendingPathComponent("trainyard.sqlite")
    }
}

/// Reads `TRAINYARD_<FLAG>` for a flag that was not given on the command line.
struct EnvironmentSettings {
    let environment: [String: String]

    func value<T>(
        _ flag: T?, _ name: String, default fallback: T, parse: (String) -> T?
    ) throws -> T {
        if let flag { return flag }
        let variable = "TRAINYARD_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
        guard let text = environment[variable] else { return fallback }
        guard let parsed = parse(text) else {
            throw ValidationError("\(variable)=\(text) is not a valid value for --\(name)")
        }
        return parsed
    }

    /// For an option without a default: nil when neither the flag nor the variable is set. (With
    /// `value(_:_:default: nil)` an absent optional flag arrives as `.some(nil)` and hides the variable.)
    func optionalValue<T>(_ flag: T?, _ name: String, parse: (String) -> T?) throws -> T? {
        try value(flag.map { Optional($0) }, name, default: nil) { text in parse(text).map { Optional($0) } }
    }
}
