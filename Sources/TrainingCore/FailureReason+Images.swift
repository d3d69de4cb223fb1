/// Image pulls (issue 14).
extension FailureReason {
    /// SageMaker's text for an image it cannot pull, "ClientError: Cannot pull algorithm container.
    /// Either the image does not exist or its permissions are incorrect." (aws/sagemaker-python-sdk#57,
    /// #1968), followed by what Trainyard knows and SageMaker does not say: the reference pulled (the
    /// registry's name for an ECR URI) and the registry's or engine's own words.
    public static func imagePullFailed(image: String, pulled: String, message: String) -> String {
        let what = pulled == image ? "The training image \(image)" : "The training image \(image) (pulled as \(pulled))"
        return capped(
            "ClientError: Cannot pull algorithm container. Either the image does not exist or its permissions are incorrect. "
                + "\(what) could not be pulled: \(message). "
                + "Push it to the registry (--registry), or build or load it on this machine (docker build / docker load).")
    }
}
