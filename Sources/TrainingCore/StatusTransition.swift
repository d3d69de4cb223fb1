/// One `SecondaryStatusTransitions` entry. There is one entry per secondary status; its message is
/// updated in place (the SageMaker Python SDK prints a changed message of the last entry, SDK2
/// `utils.py:secondary_training_status_message`). Entries are contiguous: each EndTime is the next
/// StartTime, and the final entry of a finished job has StartTime == EndTime (reference §3 transcript).
public struct StatusTransition: Sendable, Equatable, Codable {
    public var status: SecondaryStatus
    public var startTime: Timestamp
    public var endTime: Timestamp?
    public var message: String

    public init(status: SecondaryStatus, startTime: Timestamp, endTime: Timestamp? = nil, message: String) {
        self.status = status
        self.startTime = startTime
        self.endTime = endTime
        self.message = message
    }
}

/// SageMaker's status messages, as printed by the SDK from real jobs (reference
/// sagemaker-semantics.md §2.1). AWS says they may change and must not be parsed.
public enum StatusMessage {
    public static let startingTheJob = "Starting the training job"
    public static let preparingInstances = "Preparing the instances for training"
    public static let downloadingInput = "Downloading input data"
    /// Downloading's message while the training image is pulled (SDK-printed job logs, 2020–2025).
    public static let downloadingImage = "Downloading the training image"
    public static let training = "Training image download completed. Training in progress."
    public static let uploading = "Uploading generated training model"
    public static let completed = "Training job completed"
    public static let failed = "Training job failed"
    public static let stopping = "Stopping the training job"
    public static let stopped = "Training job stopped"
    /// Unverified wording (sagemaker-semantics.md §2.1): the SDK only prints it.
    public static let maxRuntimeExceeded = "Training job runtime exceeded MaxRuntimeInSeconds provided"
    public static let pending = "Waiting for a free slot to run the training job"
}
