public import EventHTTP
import ObjectStore

/// Which request bodies stream to disk as they arrive (EventHTTP's RequestBodyStreaming): S3
/// uploads — PutObject and UploadPart — of more than `threshold` bytes. They are not bound by
/// `--max-body-bytes` (S3 takes up to 5 GiB in one PUT), and never sit in memory whole.
///
/// The head is checked first, on the loop thread: signature (which also yields the chunk-signing
/// key for STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies) and bucket ownership. A refused request's body
/// is read and dropped, then answered with the refusal, so the connection stays usable.
public final class S3BodyStreaming: RequestBodyStreaming {
    let s3: S3Service
    /// Smaller bodies are buffered by evhttp and taken in by the handler (one write, fewer hops).
    let threshold: Int64

    public init(s3: S3Service, threshold: Int64 = 64 << 10) {
        self.s3 = s3
        self.threshold = threshold
    }

    public func bodyConsumer(for head: HTTPRequestHead) -> (any RequestBodyConsumer)? {
        guard head.method == "PUT", head.contentLength > threshold, head.headers["x-amz-copy-source"] == nil else { return nil }
        let http = HTTPRequest(method: head.method, path: head.path, query: head.query, headers: head.headers)
        guard FrontDoor.route(http) == .s3 else { return nil }
        do {
            let request = try S3Request(http)
            guard let bucket = request.bucket, request.key != nil else { return nil }
            let identity = try s3.authenticator.authenticate(http, query: request.query)
            try s3.store.requireBucket(bucket, account: identity.account)
            let intake = try BodyIntake(store: s3.store, headers: head.headers, identity: identity)
            return IntakeConsumer(intake: intake, identity: identity)
        } catch {
            return IntakeConsumer(failure: error)
        }
    }
}

/// Feeds a streamed body to a BodyIntake; remembers the first refusal and drops the rest.
final class IntakeConsumer: RequestBodyConsumer {
    private var intake: BodyIntake?
    private let identity: S3Authenticator.Identity?
    private var failure: S3Error?

    init(intake: BodyIntake, identity: S3Authenticator.Identity) {
        self.intake = intake
        self.identity = identity
    }

    init(failure: S3Error) {
        self.failure = failure
        self.identity = nil
    }

    func consume(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, let intake else { return }
        do {
            try intake.feed(bytes)
        } catch {
            failure = error
            self.intake = nil  // removes the partial file
        }
    }

    func finish() -> any Sendable {
        if let failure { return StreamedS3Body(.failure(failure), identity: identity) }
        guard let intake else { return StreamedS3Body(.failure(.internalError("The body was lost.")), identity: identity) }
        do {
            return StreamedS3Body(.success(try intake.finish()), identity: identity)
        } catch {
            return StreamedS3Body(.failure(error), identity: identity)
        }
    }
}
