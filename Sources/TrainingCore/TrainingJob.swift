/// A training job as Trainyard stores it: SageMaker's visible state plus the bookkeeping the
/// scheduler needs to finish the job after a restart (all of it persisted; nothing lives only in memory).
public struct TrainingJob: Sendable, Equatable {
    /// Store row id: unique for the life of the database, also across a deleted and re-created name.
    public var id: Int64
    /// The 12-digit AWS account that owns the job.
    public var account: String
    public var name: String
    public var arn: String
    public var status: TrainingJobStatus
    public var secondaryStatus: SecondaryStatus
    public var failureReason: String?
    public var creationTime: Timestamp
    public var lastModifiedTime: Timestamp
    public var trainingStartTime: Timestamp?
    public var trainingEndTime: Timestamp?
    public var transitions: [StatusTransition]
    public var spec: TrainingJobSpec
    /// The JSON object (text) Describe echoes: the accepted CreateTrainingJob members with SageMaker's
    /// defaults filled in, updated by UpdateTrainingJob. Opaque to everything but the API layer.
    public var requestEcho: String
    /// Why the job is Stopping / Stopped.
    public var stopReason: StopReason?
    /// When SIGTERM went to the container; SIGKILL follows after the grace window.
    public var sigtermSentTime: Timestamp?
    public var sigkillSentTime: Timestamp?
    /// How the container ended, once it has.
    public var exit: ContainerOutcome?
    public var finalMetrics: [MetricValue]
    /// Incremented on every stored change; the store's compare-and-set key.
    public var version: Int64

    public init(
        id: Int64 = 0, account: String, name: String, arn: String, status: TrainingJobStatus,
        secondaryStatus: SecondaryStatus, failureReason: String? = nil, creationTime: Timestamp,
        lastModifiedTime: Timestamp, trainingStartTime: Timestamp? = nil, trainingEndTime: Timestamp? = nil,
        transitions: [StatusTransition], spec: TrainingJobSpec, requestEcho: String, stopReason: StopReason? = nil,
        sigtermSentTime: Timestamp? = nil, sigkillSentTime: Timestamp? = nil, exit: ContainerOutcome? = nil,
        finalMetrics: [MetricValue] = [], version: Int64 = 0
    ) {
        self.id = id
        self.account = account
        self.name = name
        self.arn = arn
        self.status = status
        self.secondaryStatus = secondaryStatus
        self.failureReason = failureReason
        self.creationTime = creationTime
        self.lastModifiedTime = lastModifiedTime
        self.trainingStartTime = trainingStartTime
        self.trainingEndTime = trainingEndTime
        self.transitions = transitions
        self.spec = spec
        self.requestEcho = requestEcho
        self.stopReason = stopReason
        self.sigtermSentTime = sigtermSentTime
        self.sigkillSentTime = sigkillSentTime
        self.exit = exit
        self.finalMetrics = finalMetrics
        self.version = version
    }

    /// `TrainingTimeInSeconds`: TrainingEndTime − TrainingStartTime, rounded, at least 1
    /// (observed: 125 for 11:11:32.239 → 11:13:37.265); absent until the job has ended.
    public var trainingTimeInSeconds: Int64? {
        guard let start = trainingStartTime, let end = trainingEndTime else { return nil }
        let seconds = (Double(end.millisecondsSince(start)) / 1000).rounded()
        return max(1, Int64(seconds))
    }

    /// `BillableTimeInSeconds`: equal to the training time for on-demand jobs (every observed log).
    public var billableTimeInSeconds: Int64? { trainingTimeInSeconds }

    /// The MaxRuntimeInSeconds deadline, counted from training start (API StoppingCondition).
    public var maxRuntimeDeadline: Timestamp? {
        trainingStartTime?.adding(seconds: spec.maxRuntimeSeconds)
    }
}

public enum StopReason: String, Sendable, Codable {
    /// StopTrainingJob.
    case requested
    /// StoppingCondition.MaxRuntimeInSeconds passed.
    case maxRuntimeExceeded
}

/// How the training container ended.
public struct ContainerOutcome: Sendable, Equatable, Codable {
    public var exitCode: Int
    public var oomKilled: Bool
    /// The FailureReason of a container the platform ended (a cluster node died mid-job, the
    /// cluster refused the task); nil for a process that exited by itself. Optional in the stored
    /// JSON, so outcomes stored before it existed still decode.
    public var platformFailure: String?
    public init(exitCode: Int, oomKilled: Bool = false, platformFailure: String? = nil) {
        self.exitCode = exitCode
        self.oomKilled = oomKilled
        self.platformFailure = platformFailure
    }
}

/// One `FinalMetricDataList` entry.
public struct MetricValue: Sendable, Equatable, Codable {
    public var name: String
    public var value: Double
    public var timestamp: Timestamp
    public init(name: String, value: Double, timestamp: Timestamp) {
        self.name = name
        self.value = value
        self.timestamp = timestamp
    }
}
