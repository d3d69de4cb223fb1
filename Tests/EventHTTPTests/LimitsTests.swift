@testable import EventHTTP
import Glibc
import Testing

// What one client can and cannot do to the server's other clients (issue 12): hold connections,
// hold requests, confuse framing, or lose its own reply by half-closing.

@Suite("Connection and request limits")
struct LimitsTests {
    @Test func overTheLimitTheLongestIdleConnectionGivesWayToTheNewcomer() async throws {
        let (server, port) = try makeServer(loopThreads: 1, configure: { $0.maxConnections = 2 })
        let (evicted, kept, served) = try await onThread { () -> (Bool, Bool, Int) in
            let held = try (0..<2).map { _ in try RawClient(port: port) }
            for client in held { _ = try client.request("GET", "/") }  // both accepted, served, now idle
            // A third connection is served: the one idle longest (held[0]) is closed for it.
            let extra = try RawClient(port: port)
            let served = try extra.request("GET", "/newcomer").status
            return (held[0].isClosed(waitingMilliseconds: 5000), !held[1].isClosed(waitingMilliseconds: 200), served)
        }
        #expect(served == 200, "the newcomer is answered")
        #expect(evicted, "the longest-idle connection was closed for it")
        #expect(kept, "only one connection gave way")
        await server.shutdown(drainTimeout: .seconds(1))
    }

    @Test func connectionsWithARequestInProgressAreNeverEvictedAndTheNewcomerIsRefused() async throws {
        let gate = Gate()
        let (server, port) = try makeServer(responder: EchoResponder(gate: gate), loopThreads: 1, configure: { $0.maxConnections = 2 })
        let busy = try await onThread { () -> [RawClient] in
            let busy = try (0..<2).map { _ in try RawClient(port: port) }
            for client in busy { try client.send("GET /gate HTTP/1.1\r\nHost: x\r\n\r\n") }  // answered once the gate opens
            return busy
        }
        #expect(await eventually { server.requestsInFlight == 2 })
        let refusedClosed = try await onThread { try RawClient(port: port).isClosed(waitingMilliseconds: 5000) }
        #expect(refusedClosed, "with nothing idle, a third connection is closed without an answer")
        gate.open()
        let finished = try await onThread { try busy.map { try $0.readResponse().status } }
        #expect(finished == [200, 200], "the requests in progress were not cut")
        // Closing one frees its slot: a new connection is then served.
        let freed = try await onThread { () -> Int in
            close(busy[0].fd)  // the client's deinit closes it again harmlessly
            for _ in 0..<200 {
                if let response = try? RawClient(port: port).request("GET", "/again") { return response.status }
                usleep(20_000)
            }
            return 0
        }
        #expect(freed == 200)
        await server.shutdown(drainTimeout: .seconds(1))
    }

    @Test func requestsBeyondTheInFlightLimitGetTheOverloadedAnswer() async throws {
        let gate = Gate()
        let (server, port) = try makeServer(responder: EchoResponder(gate: gate), configure: { $0.maxRequestsInFlight = 1 })
        let waiting = try await onThread { () -> RawClient in
            let client = try RawClient(port: port)
            try client.send("GET /gate HTTP/1.1\r\nHost: x\r\n\r\n")
            return client
        }
        #expect(await eventually { server.requestsInFlight == 1 })
        let overloaded = try await onThread { try RawClient(port: port).request("GET", "/second") }
        #expect(overloaded.status == 503)
        gate.open()
        let first = try await onThread { try waiting.readResponse() }
        #expect(first.status == 200)
        let after = try await onThread { try RawClient(port: port).request("GET", "/third") }
        #expect(after.status == 200, "the slot was given back")
        await server.shutdown(drainTimeout: .seconds(1))
    }

    @Test(arguments: [
        "Content-Length: 3\r\nContent-Length: 3\r\n",
        "Content-Length: 3\r\ncontent-length: 40\r\n",
        "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
    ])
    func ambiguousFramingGets400AndTheConnectionCloses(framing: String) async throws {
        let (server, port) = try makeServer()
        let (response, closed) = try await onThread { () -> (RawClient.Response, Bool) in
            let client = try RawClient(port: port)
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\n\(framing)\r\n0\r\n\r\n")
            let response = try client.readResponse()
            return (response, client.isClosed(waitingMilliseconds: 5000))
        }
        #expect(response.status == 400)
        #expect(response.headers["Connection"] == "close")
        #expect(closed)
        await server.shutdown(drainTimeout: .seconds(1))
    }

    @Test(arguments: ["/", "/slow"])
    func aHalfClosedClientGetsTheWholeReply(path: String) async throws {
        let (server, port) = try makeServer()
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)  // many socket writes' worth
        let response = try await onThread { () -> RawClient.Response in
            let client = try RawClient(port: port)
            try client.send(Array("POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: \(payload.count)\r\n\r\n".utf8) + payload)
            shutdown(client.fd, Int32(SHUT_WR))  // "no more requests", not "gone"
            return try client.readResponse()
        }
        #expect(response.status == 200)
        #expect(response.body.count == payload.count)
        await server.shutdown(drainTimeout: .seconds(1))
    }

    @Test func rateLimitedLogSaysOnceASecondWithTheCount() {
        var log = RateLimitedLog()
        #expect(log.occurrences(now: 1_000_000_000) == 1)
        #expect(log.occurrences(now: 1_100_000_000) == nil)
        #expect(log.occurrences(now: 1_900_000_000) == nil)
        #expect(log.occurrences(now: 2_000_000_001) == 3)
    }
}
