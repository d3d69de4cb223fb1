@testable import EventHTTP
import Glibc
import Locking
import Testing

/// A tiny blocking HTTP/1.1 client over a real loopback socket, for controllable tests.
/// Sendable only so a test can hand a connection to the thread that uses it; one thread at a time.
final class RawClient: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []

    struct Response {
        var status: Int
        var reason: String
        var headers: HTTPHeaders
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Connects to 127.0.0.1:port; receive timeout guards every read so no test can hang.
    init(port: Int, timeoutSeconds: Int = 10) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let error = errno
            close(fd)
            throw Failure(description: "connect: \(String(cString: strerror(error)))")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Sends a request built from parts; adds Host and Content-Length (when there is a body).
    func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = []
    ) throws -> Response {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try send(Array(head.utf8) + body)
        return try readResponse(forHead: method == "HEAD")
    }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { return false }
        if n < 0 {
            throw Failure(description: "recv: \(String(cString: strerror(errno)))")
        }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    func readResponse(forHead: Bool = false) throws -> Response {
        var headEnd: Int?
        while headEnd == nil {
            if let range = findCRLFCRLF() { headEnd = range; break }
            guard try fill() else { throw Failure(description: "connection closed before a response head") }
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2).map(String.init)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(description: "bad status line \(statusLine)") }
        var headers = HTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.add(
                name: String(line[..<colon]),
                value: String(line[line.index(after: colon)...]).trimmingSpaces())
        }
        var body: [UInt8] = []
        if !forHead, let length = headers["Content-Length"].flatMap(Int.init) {
            while buffer.count < length {
                guard try fill() else { throw Failure(description: "connection closed inside a body") }
            }
            body = Array(buffer[0..<length])
            buffer.removeFirst(length)
        }
        return Response(status: status, reason: parts.count > 2 ? parts[2] : "", headers: headers, body: body)
    }

    /// True when the server closed the connection (EOF) within the receive timeout.
    func waitForClose() -> Bool {
        do {
            while try fill() {}
            return true
        } catch {
            return false
        }
    }

    /// Waits up to `waitingMilliseconds` for the server to close the connection (EOF or reset).
    func isClosed(waitingMilliseconds: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, waitingMilliseconds) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK)) <= 0
    }

    private func findCRLFCRLF() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }
}

extension String {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while slice.first == " " { slice.removeFirst() }
        while slice.last == " " { slice.removeLast() }
        return String(slice)
    }
}

/// Echoes the request back: status 200, request facts in X- headers, the body as is.
/// Paths: /slow sleeps 200 ms; /gate waits until the test opens `gate`.
struct EchoResponder: HTTPResponder {
    let gate: Gate

    init(gate: Gate = Gate()) { self.gate = gate }

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        if request.path == "/slow" {
            try? await Task.sleep(for: .milliseconds(200))
        }
        if request.path == "/gate" {
            await gate.wait()
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/octet-stream")
        headers.add(name: "X-Method", value: request.method)
        headers.add(name: "X-Path", value: request.path)
        headers.add(name: "X-Query", value: request.query ?? "<none>")
        headers.add(name: "X-Remote", value: request.remoteAddress)
        headers.add(name: "X-Test-Header", value: request.headers["x-test"] ?? "<none>")
        headers.add(name: "X-Test-Count", value: String(request.headers.values(name: "X-TEST").count))
        headers.add(name: "Content-Length", value: "999999")  // must be ignored: the server frames bodies
        return HTTPResponse(status: request.path == "/created" ? 201 : 200, headers: headers, body: request.body)
    }
}

/// A one-shot latch responders can wait on (polling keeps it simple and cancellation-free).
final class Gate: Sendable {
    private let opened = Locked(false)
    func open() { opened.withLock { $0 = true } }
    func wait(timeout: Duration = .seconds(20)) async {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !opened.withLock({ $0 }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

let oversizedJSON = Array(#"{"__type":"ValidationException","message":"Request body too large"}"#.utf8)

func makeServer(
    responder: any HTTPResponder = EchoResponder(), maxBodyBytes: Int = 8 << 20, timeoutSeconds: Int = 60,
    requestTimeoutSeconds: Int = 60, loopThreads: Int = 2, log: (@Sendable (String) -> Void)? = nil,
    configure: (inout HTTPServer.Configuration) -> Void = { _ in }
) throws -> (HTTPServer, Int) {
    var configuration = HTTPServer.Configuration()
    configuration.port = 0
    configuration.maxBodyBytes = maxBodyBytes
    configuration.connectionTimeoutSeconds = timeoutSeconds
    configuration.requestTimeoutSeconds = requestTimeoutSeconds
    configuration.loopThreads = loopThreads
    configure(&configuration)
    let server = HTTPServer(
        configuration: configuration, responder: responder,
        oversizedBodyResponse: HTTPResponse(
            status: 413, headers: ["Content-Type": "application/x-amz-json-1.1"], body: oversizedJSON),
        errorLog: log)
    let port = try server.start()
    return (server, port)
}

/// Polls `condition` until true or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

func eventually(timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return await condition()
}

/// Runs blocking client code off the cooperative pool (a real thread), returning its result.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let box = Unmanaged.passRetained(ThreadBox(body: { continuation.resume(with: Result { try body() }) }))
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { argument in
                let box = Unmanaged<ThreadBox>.fromOpaque(argument!).takeRetainedValue()
                box.body()
                return nil
            }, box.toOpaque())
        if rc == 0 {
            pthread_detach(thread)
        } else {
            box.release()
            continuation.resume(throwing: RawClient.Failure(description: "pthread_create failed"))
        }
    }
}

private final class ThreadBox {
    let body: () -> Void
    init(body: @escaping () -> Void) { self.body = body }
}
