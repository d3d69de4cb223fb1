public import Foundation

/// The engine's identifier of a container.
public struct ContainerID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

public enum ContainerStatus: String, Sendable, Equatable {
    case created, running, paused, restarting, removing, exited, dead
}

/// What `inspect` observes.
public struct ContainerState: Sendable, Equatable {
    public var id: ContainerID
    public var name: String
    public var status: ContainerStatus
    public var labels: [String: String]
    /// Set once the container has exited.
    public var exitCode: Int?
    public var oomKilled: Bool
    /// Set when the container ended through no doing of its own (a cluster node died, the
    /// cluster refused the task): the job fails with a platform reason, not an AlgorithmError.
    public var loss: ContainerLoss?

    public init(
        id: ContainerID, name: String, status: ContainerStatus, labels: [String: String] = [:],
        exitCode: Int? = nil, oomKilled: Bool = false, loss: ContainerLoss? = nil
    ) {
        self.id = id
        self.name = name
        self.status = status
        self.labels = labels
        self.exitCode = exitCode
        self.oomKilled = oomKilled
        self.loss = loss
    }

    /// True while the process may still run (a created-but-not-started container counts as not running).
    public var isRunning: Bool { status == .running || status == .paused || status == .restarting }
}

/// How a container ended.
public struct ContainerExit: Sendable, Equatable {
    public var exitCode: Int
    public var oomKilled: Bool
    /// The platform, not the process, ended it (ContainerState.loss).
    public var loss: ContainerLoss?
    public init(exitCode: Int, oomKilled: Bool = false, loss: ContainerLoss? = nil) {
        self.exitCode = exitCode
        self.oomKilled = oomKilled
        self.loss = loss
    }
}

/// Why a cluster backend's container ended without its process deciding to: what the job's
/// FailureReason reports instead of an exit code.
public enum ContainerLoss: Sendable, Equatable {
    /// The node running it went down (or its task was orphaned): the instance failed mid-job.
    case nodeLost(String)
    /// The cluster refused to run it (no node can pull the image, no node fits): the words of the
    /// cluster's scheduler.
    case rejected(String)
}

public enum ContainerSignal: String, Sendable {
    case term = "SIGTERM"
    case kill = "SIGKILL"
}

/// One line of container output.
public struct LogLine: Sendable, Equatable {
    public enum Stream: String, Sendable { case stdout, stderr }
    public var timestamp: Date
    public var stream: Stream
    public var text: String
    public init(timestamp: Date, stream: Stream, text: String) {
        self.timestamp = timestamp
        self.stream = stream
        self.text = text
    }
}

public enum ContainerRuntimeError: Error, Sendable, Equatable {
    /// The image is not present on the engine.
    case noSuchImage(String)
    case noSuchContainer(String)
    /// A container with this name already exists (carries the name).
    case nameInUse(String)
    /// The engine could not be reached (socket missing, connection refused, ...).
    case engineUnreachable(String)
    /// The engine answered with an error.
    case engine(status: Int, message: String)
    /// Pulling the image failed: `image` is the reference pulled, `message` what the engine or the
    /// registry said (manifest unknown, connection refused, invalid reference format, ...).
    case imagePullFailed(image: String, message: String)
    /// The containers ask for GPUs (the count of the first host that does) and the engine has no
    /// NVIDIA GPU runtime to give them.
    case noGPURuntime(requested: Int)
    /// A cluster has no room for the job's hosts now, but would have on an emptier cluster
    /// (`reserveCapacity`; SwarmPlacement has the rule). Not a failure: the scheduler keeps the job
    /// InProgress/Pending and tries again, as it does for `--max-concurrent-jobs`.
    case insufficientCapacity(String)
    /// The request was given up because the calling task was cancelled (the server is stopping):
    /// no fault of the engine or of the job.
    case cancelled
}
