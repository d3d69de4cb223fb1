import ObjectStore

/// A body that arrived streamed (see S3BodyStreaming): already taken in by a BodyIntake while it
/// arrived, and handed to the handler with the request, with the identity its head was verified as.
final class StreamedS3Body: Sendable {
    let result: Result<BodyIntake.Received, S3Error>
    /// nil when the head was refused (the refusal is in `result`).
    let identity: S3Authenticator.Identity?

    init(_ result: Result<BodyIntake.Received, S3Error>, identity: S3Authenticator.Identity?) {
        self.result = result
        self.identity = identity
    }
}

extension BodyIntake.Received {
    /// A streamed body without an identity always carries a failure; this is never reached.
    func failureExpected() -> S3Error { .internalError("The request was not authenticated.") }
}
