import TrainingCore

extension AWSServiceError {
    /// CreateTrainingJob over an account-level instance quota. The quota's name is its AWS Service
    /// Quotas name for SageMaker training ("ml.<type> for training job usage"). The first sentence
    /// is SageMaker's as users quote it (gabehollombe-aws/jupyter-notebooks#1,
    /// aws/amazon-sagemaker-examples#1543), "Instances" even for one. Those 2020 quotes end with
    /// "Please contact AWS support to request an increase for this limit."; the Service Quotas
    /// ending used here is the current wording as reported to the project, not verified here.
    static func resourceLimitExceeded(_ refusal: InstanceQuotaExceeded) -> AWSServiceError {
        AWSServiceError(
            code: "ResourceLimitExceeded",
            message: "The account-level service limit '\(refusal.instanceType) for training job usage' is "
                + "\(refusal.limit) Instances, with current utilization of \(refusal.currentUtilization) Instances "
                + "and a request delta of \(refusal.requestDelta) Instances. Please use AWS Service Quotas to request "
                + "an increase for this quota. If AWS Service Quotas is not available, contact AWS support to "
                + "request an increase for this quota.")
    }
}
