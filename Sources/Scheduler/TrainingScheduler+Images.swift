import ContainerRuntime
import JobStore
import Logging
import TrainingCore

/// The training image, in Downloading after the data, as SageMaker fetches it ("Downloading -
/// Downloading input data" then "Downloading - Downloading the training image", sagemaker-semantics
/// §2.1; a bad image fails the job there, aws/sagemaker-python-sdk#1968).
extension TrainingScheduler {
    /// Pulls the job's image unless the engine has it. The runtime maps the name (`--registry`,
    /// RegistryMappedRuntime); the job keeps the user's TrainingImage. A failed pull throws
    /// `.imagePullFailed`, which `launch` turns into the job's ClientError.
    func pullImageIfMissing(_ job: TrainingJob) async throws {
        let image = job.spec.trainingImage
        if try await runtime.imageExists(image) { return }
        try store.update(id: job.id) { current in
            current.secondaryStatus == .downloading
                ? current.withStatusMessage(StatusMessage.downloadingImage, now: self.clock.now) : nil
        }
        logger.info("pulling the training image", metadata: ["job.name": "\(job.name)", "image": "\(image)"])
        let started = ContinuousClock.now
        try await runtime.pullImage(image)
        logger.info(
            "training image pulled",
            metadata: ["job.name": "\(job.name)", "image": "\(image)", "duration": "\(ContinuousClock.now - started)"])
    }
}
