@testable import EventHTTP
import Glibc
import Locking
import Testing

// Request bodies streamed to a consumer as they arrive (RequestBodyStreaming), and response bodies
// sent from a file (FileBody).

/// Streams PUT bodies of paths starting with /stream into a counter; the responder reports what
/// arrived (X-Streamed-Count and a byte sum) and whether evhttp buffered anything.
final class CountingStreaming: RequestBodyStreaming {
    let dropped = Locked(0)

    struct Totals: Sendable {
        var count: Int64
        var sum: UInt64
    }

    final class Consumer: RequestBodyConsumer {
        let owner: CountingStreaming
        var totals = Totals(count: 0, sum: 0)
        var finished = false
        init(owner: CountingStreaming) { self.owner = owner }
        func consume(_ bytes: UnsafeRawBufferPointer) {
            totals.count += Int64(bytes.count)
            for byte in bytes { totals.sum &+= UInt64(byte) }
        }
        func finish() -> any Sendable {
            finished = true
            return totals
        }
        deinit { if !finished { owner.dropped.withLock { $0 += 1 } } }
    }

    func bodyConsumer(for head: HTTPRequestHead) -> (any RequestBodyConsumer)? {
        head.method == "PUT" && head.path.hasPrefix("/stream") ? Consumer(owner: self) : nil
    }
}

struct StreamReportingResponder: HTTPResponder {
    func respond(to request: HTTPRequest) async -> HTTPResponse {
        var headers = HTTPHeaders()
        if let totals = request.streamedBody as? CountingStreaming.Totals {
            headers.add(name: "X-Streamed-Count", value: String(totals.count))
            headers.add(name: "X-Streamed-Sum", value: String(totals.sum))
        }
        headers.add(name: "X-Buffered-Count", value: String(request.body.count))
        headers.add(name: "X-Method", value: request.method)
        return HTTPResponse(status: 200, headers: headers)
    }
}

func makeStreamingServer(streaming: CountingStreaming, maxBodyBytes: Int = 1024, responder: any HTTPResponder = StreamReportingResponder())
    throws -> (HTTPServer, Int)
{
    var configuration = HTTPServer.Configuration()
    configuration.port = 0
    configuration.maxBodyBytes = maxBodyBytes
    configuration.loopThreads = 1
    let server = HTTPServer(
        configuration: configuration, responder: responder,
        oversizedBodyResponse: HTTPResponse(status: 413, body: oversizedJSON), bodyStreaming: streaming)
    return (server, try server.start())
}

@Suite("Streamed bodies")
struct StreamingBodyTests {
    @Test func largeBodyStreamsPastTheLimitAndTheConnectionStaysUsable() async throws {
        let streaming = CountingStreaming()
        let (server, port) = try makeStreamingServer(streaming: streaming)
        let body = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let expectedSum = body.reduce(UInt64(0)) { $0 &+ UInt64($1) }
        let (streamed, next) = try await onThread {
            let client = try RawClient(port: port)
            let streamed = try client.request("PUT", "/stream/object?x=1", headers: [("X-Custom", "kept")], body: body)
            let next = try client.request("PUT", "/plain", body: Array("small".utf8))
            return (streamed, next)
        }
        #expect(streamed.status == 200)
        #expect(streamed.headers["X-Streamed-Count"] == String(body.count))
        #expect(streamed.headers["X-Streamed-Sum"] == String(expectedSum))
        #expect(streamed.headers["X-Buffered-Count"] == "0")
        #expect(next.status == 200 && next.headers["X-Streamed-Count"] == nil && next.headers["X-Buffered-Count"] == "5")
        await server.shutdown(drainTimeout: .seconds(2))
    }

    @Test func expectContinueIsAnsweredBeforeTheBodyIsSent() async throws {
        let streaming = CountingStreaming()
        let (server, port) = try makeStreamingServer(streaming: streaming)
        let response = try await onThread { () -> RawClient.Response in
            let client = try RawClient(port: port)
            try client.send("PUT /stream/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n")
            let interim = try client.readResponse()
            guard interim.status == 100 else { throw RawClient.Failure(description: "expected 100, got \(interim.status)") }
            try client.send([UInt8](repeating: 1, count: 4096))
            return try client.readResponse()
        }
        #expect(response.status == 200 && response.headers["X-Streamed-Count"] == "4096")
        #expect(response.headers["X-Streamed-Sum"] == "4096")
        await server.shutdown(drainTimeout: .seconds(2))
    }

    @Test func aClientLeavingMidBodyDropsTheConsumer() async throws {
        let streaming = CountingStreaming()
        let (server, port) = try makeStreamingServer(streaming: streaming)
        try await onThread {
            let client = try RawClient(port: port)
            try client.send("PUT /stream/cut HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n")
            try client.send([UInt8](repeating: 2, count: 10_000))
        }  // the client is closed here, 990,000 bytes short
        #expect(await eventually { streaming.dropped.withLock { $0 } == 1 })
        #expect(await eventually { server.requestsInFlight == 0 })
        await server.shutdown(drainTimeout: .seconds(2))
    }
}

/// Answers GET/HEAD /file with the file region given at init.
struct FileResponder: HTTPResponder {
    let path: String
    let offset: Int64
    let length: Int64

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        return HTTPResponse(status: 200, headers: ["Content-Type": "application/octet-stream"], file: FileBody(fd: fd, offset: offset, length: length))
    }
}

@Suite("File bodies")
struct FileBodyTests {
    @Test func aFileRegionIsSentWithItsLength() async throws {
        let path = "/tmp/eventhttp-filebody-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let content = (0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        content.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
        close(fd)
        defer { unlink(path) }
        let (server, port) = try makeStreamingServer(
            streaming: CountingStreaming(), responder: FileResponder(path: path, offset: 1000, length: Int64(content.count - 2000)))
        let (get, head, again) = try await onThread {
            let client = try RawClient(port: port)
            return (try client.request("GET", "/file"), try client.request("HEAD", "/file"), try client.request("GET", "/file"))
        }
        #expect(get.status == 200 && get.body == Array(content[1000..<(content.count - 1000)]))
        #expect(head.status == 200 && head.headers["Content-Length"] == String(content.count - 2000) && head.body.isEmpty)
        #expect(again.body.count == content.count - 2000)
        #expect(await eventually { server.requestsInFlight == 0 })
        await server.shutdown(drainTimeout: .seconds(2))
    }
}
