import ContainerRuntime
import Foundation

// MARK: Wire shapes

/// One line of the JSON stream `POST /images/create` and `POST /images/{name}/push` answer with
/// (moby `jsonmessage.JSONMessage`): progress (`status`, `id`, `progress`) or, once the pull or push
/// has failed, `error` and `errorDetail`. The HTTP status is 200 either way: a failure that happens
/// after the engine has started streaming can only be told from these lines.
struct ProgressMessage: Decodable {
    struct ErrorDetail: Decodable {
        let message: String?
    }
    let status: String?
    let error: String?
    let errorDetail: ErrorDetail?

    /// The failure this line reports, if it reports one.
    var failure: String? {
        if let message = errorDetail?.message, !message.isEmpty { return message }
        if let error, !error.isEmpty { return error }
        return nil
    }
}

/// Reads a progress stream line by line as it arrives, keeping only what decides the outcome: the
/// first error line, and (for a non-2xx answer) the body, whose `message` is the engine's reason.
/// Memory stays small however long the stream is (a large image sends thousands of progress lines).
final class ProgressStreamSink: ResponseSink {
    /// A longer line is not a progress message; it is dropped rather than buffered without bound.
    private static let maximumLineBytes = 64 << 10
    private var pending = Data()
    private var skippingLongLine = false
    private(set) var failure: String?
    private(set) var errorBody = Data()
    private(set) var lastStatus: String?

    func receive(_ bytes: UnsafeRawBufferPointer, status: Int) -> Bool {
        guard (200..<300).contains(status) else {
            if errorBody.count < Self.maximumLineBytes { errorBody.append(contentsOf: bytes.prefix(Self.maximumLineBytes - errorBody.count)) }
            return true
        }
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if !skippingLongLine { take(pending) }
                pending.removeAll(keepingCapacity: true)
                skippingLongLine = false
            } else if !skippingLongLine {
                pending.append(byte)
                if pending.count > Self.maximumLineBytes {
                    pending.removeAll(keepingCapacity: true)
                    skippingLongLine = true
                }
            }
        }
        return true
    }

    /// The line after the last newline (the engine ends every message with one, but a stream cut
    /// short may not).
    func finish() {
        if !skippingLongLine, !pending.isEmpty { take(pending) }
        pending.removeAll()
    }

    private func take(_ line: Data) {
        guard let message = try? JSONDecoder().decode(ProgressMessage.self, from: line) else { return }
        if failure == nil, let text = message.failure { failure = text }
        if let status = message.status { lastStatus = status }
    }
}

// MARK: Endpoints

extension DockerClient {
    /// The registry credentials the engine's pull and push take, base64 of a JSON `AuthConfig`. An
    /// empty object means anonymous access (what `docker push` sends to a registry it has no login
    /// for); the engine refuses a push without the header ("Bad parameters and missing X-Registry-Auth").
    static let anonymousRegistryAuth = "X-Registry-Auth: " + Data("{}".utf8).base64EncodedString()

    /// `GET /images/{name}/json`: 200 present, 404 absent.
    func imageExists(_ reference: String) async throws(ContainerRuntimeError) -> Bool {
        let response = try await request(.get, "/images/\(Self.escapeImageReference(reference))/json")
        switch response.status {
        case 200: return true
        case 404: return false
        default: throw response.engineError
        }
    }

    /// `POST /images/create?fromImage=<name>&tag=<tag or digest>`, read to the end of its progress
    /// stream. The tag is always sent (`latest` when the reference has none): without one the
    /// engine pulls every tag of the repository. No time limit: a large image takes as long as it
    /// takes; cancelling the task aborts the pull.
    func pullImage(_ reference: String) async throws(ContainerRuntimeError) {
        let parsed: ImageReference
        do {
            parsed = try ImageReference(parsing: reference)
        } catch {
            throw .imagePullFailed(image: reference, message: error.description)
        }
        let query = [("fromImage", parsed.name), ("tag", parsed.tagOrDigest)]
        try await streamProgress(.post, "/images/create", query: query) { message in
            .imagePullFailed(image: reference, message: message)
        }
    }

    /// `POST /images/{source}/tag?repo=<name>&tag=<tag>`: `target` names the same image too.
    func tagImage(_ source: String, as target: String) async throws(ContainerRuntimeError) {
        let parsed: ImageReference
        do {
            parsed = try ImageReference(parsing: target)
        } catch {
            throw .engine(status: 400, message: error.description)
        }
        guard parsed.digest == nil else {
            throw .engine(status: 400, message: "cannot tag an image with a digest reference: \(target)")
        }
        let response = try await request(
            .post, "/images/\(Self.escapeImageReference(source))/tag",
            query: [("repo", parsed.name), ("tag", parsed.tag ?? ImageReference.defaultTag)])
        switch response.status {
        case 200, 201: return
        case 404: throw .noSuchImage(source)
        default: throw response.engineError
        }
    }

    /// `POST /images/{name}/push?tag=<tag>` with anonymous registry credentials, read to the end of
    /// its progress stream; a failure in the stream (registry unreachable, refused) is thrown as
    /// `.engine` with the registry's words.
    func pushImage(_ reference: String) async throws(ContainerRuntimeError) {
        let parsed: ImageReference
        do {
            parsed = try ImageReference(parsing: reference)
        } catch {
            throw .engine(status: 400, message: error.description)
        }
        let path = "/images/\(Self.escapeImageReference(parsed.name))/push"
        try await streamProgress(.post, path, query: [("tag", parsed.tag ?? ImageReference.defaultTag)]) { message in
            .engine(status: 200, message: "pushing \(reference) failed: \(message)")
        }
    }

    /// Sends a request whose answer is a progress stream and reads the stream to its end. A non-2xx
    /// answer (the engine refused at once: 404 "pull access denied", 400 bad reference, 500) or an
    /// error line in the stream is thrown as `failed(message)`.
    private func streamProgress(
        _ method: CurlRequest.Method, _ path: String, query: [(String, String)],
        failed: @escaping @Sendable (String) -> ContainerRuntimeError
    ) async throws(ContainerRuntimeError) {
        try await onTransferThread { cancellation -> Result<Void, ContainerRuntimeError> in
            let sink = ProgressStreamSink()
            let status: Int
            switch self.sendBlocking(
                method, path, query: query, longRunning: true, headers: [Self.anonymousRegistryAuth], sink: sink,
                cancellation: cancellation)
            {
            case .success(let value): status = value
            case .failure(let error): return .failure(error)
            }
            sink.finish()
            guard (200..<300).contains(status) else {
                return .failure(failed(HTTPResponse(status: status, body: sink.errorBody).engineMessage))
            }
            if let failure = sink.failure { return .failure(failed(failure)) }
            return .success(())
        }.get()
    }
}
