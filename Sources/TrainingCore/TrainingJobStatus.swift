/// `TrainingJobStatus` as in the SageMaker API (service model enum `TrainingJobStatus`).
public enum TrainingJobStatus: String, Sendable, CaseIterable, Codable {
    case inProgress = "InProgress"
    case completed = "Completed"
    case failed = "Failed"
    case stopping = "Stopping"
    case stopped = "Stopped"
    case deleting = "Deleting"

    /// Completed, Failed and Stopped jobs never change status again (DeleteTrainingJob accepts only these).
    public var isTerminal: Bool { self == .completed || self == .failed || self == .stopped }

    /// InProgress and Stopping jobs still need the scheduler.
    public var isActive: Bool { self == .inProgress || self == .stopping }
}

/// `SecondaryStatus` values Trainyard produces (service model enum `SecondaryStatus`; the
/// deprecated LaunchingMLInstances, PreparingTrainingStack and DownloadingTrainingImage are never used).
public enum SecondaryStatus: String, Sendable, CaseIterable, Codable {
    case starting = "Starting"
    case pending = "Pending"
    case downloading = "Downloading"
    case training = "Training"
    case uploading = "Uploading"
    case stopping = "Stopping"
    case stopped = "Stopped"
    case maxRuntimeExceeded = "MaxRuntimeExceeded"
    case completed = "Completed"
    case failed = "Failed"

    /// The primary status a job has while in this secondary status (API `DescribeTrainingJob.SecondaryStatus` doc).
    public var primaryStatus: TrainingJobStatus {
        switch self {
        case .starting, .pending, .downloading, .training, .uploading: .inProgress
        case .stopping: .stopping
        case .stopped, .maxRuntimeExceeded: .stopped
        case .completed: .completed
        case .failed: .failed
        }
    }
}
