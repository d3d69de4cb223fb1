import ContainerRuntime
import Foundation
import Logging
import Synchronization

/// A response with its whole body (everything but logs).
struct HTTPResponse: Sendable {
    var status: Int
    var body: Data

    /// The engine's `{"message": "..."}`, or the raw body when it is not that shape.
    var engineMessage: String {
        if let decoded = try? JSONDecoder().decode(EngineErrorBody.self, from: body) {
            return decoded.message
        }
        return String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var engineError: ContainerRuntimeError {
        .engine(status: status, message: engineMessage)
    }

    func decode<T: Decodable>(_ type: T.Type) throws(ContainerRuntimeError) -> T {
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch {
            throw .engine(status: status, message: "unexpected response from the Docker engine (\(T.self)): \(error)")
        }
    }
}

struct EngineErrorBody: Decodable {
    let message: String
}

/// An HTTP client for the Docker Engine API over the engine's unix socket.
///
/// libcurl's calls block, so each request runs on a thread of its own and resumes the caller's
/// continuation when done: the Swift concurrency pool (two threads on a two-core machine) is never
/// blocked, and a long request (a container wait, a followed log) never holds up a short one.
final class DockerClient: Sendable {
    let host: String
    let socketPath: String
    let logger: Logger
    private let transport: CurlTransport
    private let requestTimeoutMilliseconds: Int
    /// Negotiated on first use and kept; a failed negotiation is retried by the next request.
    private let negotiatedVersion = Mutex<APIVersion?>(nil)

    /// `host` is a `unix://` address such as `unix:///var/run/docker.sock` (DOCKER_HOST's form).
    init(host: String, logger: Logger, requestTimeout: Duration = .seconds(120)) throws(ContainerRuntimeError) {
        let scheme = "unix://"
        guard host.hasPrefix(scheme) else {
            throw .engineUnreachable(
                "unsupported Docker host \"\(host)\": Trainyard talks to the Docker engine over a unix socket only "
                    + "(DOCKER_HOST=unix:///path/to/docker.sock)")
        }
        let path = String(host.dropFirst(scheme.count))
        guard !path.isEmpty else {
            throw .engineUnreachable("Docker host \"\(host)\" names no socket path (expected unix:///path/to/docker.sock)")
        }
        self.host = host
        self.socketPath = path
        self.logger = logger
        self.transport = CurlTransport(socketPath: path)
        self.requestTimeoutMilliseconds = Self.milliseconds(requestTimeout)
    }

    static func milliseconds(_ duration: Duration) -> Int {
        let components = duration.components
        return max(1, Int(components.seconds) * 1000 + Int(components.attoseconds / 1_000_000_000_000_000))
    }

    // MARK: Async API (callable from any task)

    /// One request, its body collected. `longRunning` requests (wait) have no time limit;
    /// `timeout` replaces the client's default limit for the others.
    func request(
        _ method: CurlRequest.Method, _ path: String, query: [(String, String)] = [], body: Data? = nil,
        versioned: Bool = true, longRunning: Bool = false, timeout: Duration? = nil
    ) async throws(ContainerRuntimeError) -> HTTPResponse {
        try await onTransferThread { cancellation in
            self.requestBlocking(
                method, path, query: query, body: body, versioned: versioned, longRunning: longRunning,
                timeout: timeout, cancellation: cancellation)
        }.get()
    }

    /// Runs blocking work on a new thread and suspends the caller until it is done. Task
    /// cancellation sets the flag the transfer polls, so a cancelled wait ends within a second.
    func onTransferThread<T: Sendable>(
        _ work: @escaping @Sendable (CancellationFlag) -> Result<T, ContainerRuntimeError>
    ) async -> Result<T, ContainerRuntimeError> {
        let cancellation = CancellationFlag()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, ContainerRuntimeError>, Never>) in
                Self.startThread {
                    continuation.resume(returning: work(cancellation))
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// A thread per transfer: simple, and cheap next to the request itself (a whole inspect, thread
    /// included, measured 0.4 ms p50 here). Small stacks: the work is libcurl plus a little parsing.
    static func startThread(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = "trainyard-docker"
        thread.stackSize = 1 << 20
        thread.start()
    }

    // MARK: Blocking API (only on threads started by `startThread`)

    func requestBlocking(
        _ method: CurlRequest.Method, _ path: String, query: [(String, String)] = [], body: Data? = nil,
        versioned: Bool = true, longRunning: Bool = false, timeout: Duration? = nil, cancellation: CancellationFlag
    ) -> Result<HTTPResponse, ContainerRuntimeError> {
        let sink = BufferSink()
        return sendBlocking(
            method, path, query: query, body: body, versioned: versioned, longRunning: longRunning, timeout: timeout,
            sink: sink, cancellation: cancellation
        ).map { HTTPResponse(status: $0, body: sink.data) }
    }

    /// Sends a request, handing the body to `sink` as it arrives; returns the HTTP status.
    func sendBlocking(
        _ method: CurlRequest.Method, _ path: String, query: [(String, String)] = [], body: Data? = nil,
        versioned: Bool = true, longRunning: Bool = false, timeout: Duration? = nil, headers: [String] = [],
        sink: any ResponseSink, cancellation: CancellationFlag
    ) -> Result<Int, ContainerRuntimeError> {
        var prefix = ""
        if versioned {
            switch apiVersion(cancellation: cancellation) {
            case .success(let version): prefix = "/v\(version)"
            case .failure(let error): return .failure(error)
            }
        }
        let request = CurlRequest(
            method: method, url: "http://localhost" + prefix + path + Self.queryString(query), jsonBody: body,
            timeoutMilliseconds: longRunning ? 0 : timeout.map(Self.milliseconds) ?? requestTimeoutMilliseconds,
            headers: headers)
        let started = ContinuousClock.now
        let outcome = transport.perform(request, sink: sink, cancellation: cancellation)
        switch outcome {
        case .response(let status, let newConnection):
            logger.trace(
                "docker request",
                metadata: [
                    "method": "\(method.rawValue)", "path": "\(path)", "status": "\(status)",
                    "duration": "\(ContinuousClock.now - started)", "newConnection": "\(newConnection)",
                ])
            return .success(status)
        case .cancelled:
            return .failure(.cancelled)
        case .failed(let message):
            logger.debug("docker request failed", metadata: ["method": "\(method.rawValue)", "path": "\(path)", "error": "\(message)"])
            return .failure(.engineUnreachable("cannot reach the Docker engine at \(host): \(message)"))
        }
    }

    /// `GET /version` once: min(engine's ApiVersion, 1.47), never below its MinAPIVersion.
    private func apiVersion(cancellation: CancellationFlag) -> Result<APIVersion, ContainerRuntimeError> {
        if let known = negotiatedVersion.withLock({ $0 }) {
            return .success(known)
        }
        let response: HTTPResponse
        switch requestBlocking(.get, "/version", versioned: false, cancellation: cancellation) {
        case .success(let value): response = value
        case .failure(let error): return .failure(error)
        }
        guard response.status == 200 else { return .failure(response.engineError) }
        let info: VersionResponse
        do {
            info = try response.decode(VersionResponse.self)
        } catch {
            return .failure(error)
        }
        guard let server = APIVersion(info.apiVersion) else {
            return .failure(.engine(status: 200, message: "the Docker engine reported an unreadable API version \"\(info.apiVersion)\""))
        }
        let chosen = APIVersion.negotiate(serverVersion: server, serverMinimum: info.minAPIVersion.flatMap(APIVersion.init))
        negotiatedVersion.withLock { $0 = chosen }
        logger.debug(
            "negotiated Docker API version",
            metadata: ["engine": "\(info.version ?? "?")", "engineAPI": "\(server)", "using": "\(chosen)"])
        return .success(chosen)
    }

    // MARK: URL building

    /// RFC 3986 unreserved characters: everything else in a query value or path segment is
    /// percent-encoded (container names are restricted, but label values and filters are not).
    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    /// Image references keep their '/', ':' and '@': the engine routes `/images/{name:.*}/json`.
    private static let imageReferenceAllowed = unreserved.union(CharacterSet(charactersIn: "/:@"))

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    static func escapeImageReference(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: imageReferenceAllowed) ?? text
    }

    static func queryString(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        return "?" + query.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }
}

// MARK: List filters

extension DockerClient {
    /// The `filters` query parameter of the engine's list endpoints (`{"label":["k=v"],...}`).
    static func filters(_ filters: [String: [String]]) -> String {
        // A dictionary of string arrays always serialises; sorted keys give the same request each time.
        let data = (try? JSONSerialization.data(withJSONObject: filters, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A `label` filter matching every one of `labels` (`key=value`).
    static func labelFilters(_ labels: [String: String]) -> String {
        filters(["label": labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }])
    }
}
