import ObjectStore

/// A body that arrived streamed (see S3BodyStreaming): already taken in by a BodyIntake while it
/// arrived, and handed to the handler with the request.
final class StreamedS3Body: Sendable {
    let result: Result<BodyIntake.Received, S3Error>

    init(_ result: Result<BodyIntake.Received, S3Error>) {
        self.result = result
    }
}
