import ContainerRuntime
import JobStore
import Logging
import TrainingCore

/// The training image, in Downloading after the data, as SageMaker fetches it ("Downloading -
/// Downloading input data" then "Downloading - Downloading the training image", sagemaker-semantics
/// §2.1; a bad image fails the job there, aws/sagemaker-python-sdk#1968).
extension TrainingScheduler {
    /// How often a running pull looks whether its job was stopped meanwhile.
    static let pullStopCheckInterval = Duration.milliseconds(500)

    /// Pulls the job's image unless the engine has it. The runtime maps the name (`--registry`,
    /// RegistryMappedRuntime); the job keeps the user's TrainingImage. A failed pull throws
    /// `.imagePullFailed`, which `launch` turns into the job's ClientError. A job stopped while its
    /// image downloads ends the pull and returns: `launch` then sees it is no longer to be started
    /// (a pull can take minutes, or hang on a registry that never answers).
    func pullImageIfMissing(_ job: TrainingJob) async throws {
        let image = job.spec.trainingImage
        if try await runtime.imageExists(image) { return }
        try store.update(id: job.id) { current in
            current.secondaryStatus == .downloading
                ? current.withStatusMessage(StatusMessage.downloadingImage, now: self.clock.now) : nil
        }
        logger.info("pulling the training image", metadata: ["job.name": "\(job.name)", "image": "\(image)"])
        let started = ContinuousClock.now
        let runtime = self.runtime
        let store = self.store
        let stopped = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await runtime.pullImage(image)
                return false
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: Self.pullStopCheckInterval)
                    if try store.job(id: job.id)?.status != .inProgress { return true }
                }
            }
            // The first to finish decides; the other is cancelled (a cancelled pull aborts its
            // request, and the engine abandons the download).
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
        if stopped {
            logger.info("job stopped while its image was pulled", metadata: ["job.name": "\(job.name)", "image": "\(image)"])
            return
        }
        logger.info(
            "training image pulled",
            metadata: ["job.name": "\(job.name)", "image": "\(image)", "duration": "\(ContinuousClock.now - started)"])
    }
}
