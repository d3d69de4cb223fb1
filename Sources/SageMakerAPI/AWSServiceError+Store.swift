import JobStore
import TrainingCore

extension AWSServiceError {
    /// The one conversion from the store's errors to what clients read (DESIGN §7.4): operations
    /// let JobStoreError through and SageMakerService.dispatch renders it with this.
    init(_ error: JobStoreError) {
        switch error {
        case .nameInUse(let existing):
            // Observed wording (amazon-sagemaker-examples PR #3108), whatever the old job's status.
            self.init(
                code: "ResourceInUse",
                message: "Training job names must be unique within an AWS account and region, and a training job with this name already exists (\(existing))")
        case .instanceQuotaExceeded(let refusal):
            self = .resourceLimitExceeded(refusal)
        case .notFound:
            self = .resourceNotFound
        case .notTerminal(let status), .rejected(.notInProgress(let status)):
            // Observed wording for StopTrainingJob (awslabs/benchmark-ai#928). SageMaker deletes only
            // Completed, Failed and Stopped jobs (API DeleteTrainingJob); its wording is unverified,
            // so it follows StopTrainingJob's.
            self = .validation("The request was rejected because the training job is in status \(status.rawValue).")
        case .rejected(.illegalTransition(let from, _)):
            self = .validation("The request was rejected because the training job is in secondary status \(from.rawValue).")
        case .tooManyTags(let limit):
            // Wording unverified; SageMaker allows at most 50 tags per resource.
            self = .validation("Too many tags: a resource can have at most \(limit) tags.")
        case .cannotOpen, .schemaTooNew, .migrationFailed, .database:
            // The details go to the server's log, not to the client.
            self = .internalFailure("We encountered an internal error. Please try again.")
        }
    }
}
