internal import CLibevent
internal import Glibc
internal import Locking
internal import Synchronization

/// HTTP/1.1 server on libevent's evhttp.
///
/// Threading: `loopThreads` event_bases, each with its own evhttp, run on their own threads
/// (EventLoop) and accept from the same listening socket (each through a duplicate of its
/// descriptor; whichever loop wakes first takes a new connection, which then stays on that loop).
/// evhttp's generic callback copies each request into a Sendable `HTTPRequest` on its loop thread;
/// the responder answers it there when it can (`respondOnLoopThread`), else in a Task whose response
/// comes back through a lock-protected job queue and one coalesced `event_active` wakeup, and is
/// sent on the loop thread. A reply for a connection that closed meanwhile is dropped.
///
/// Limits: a declared body over `maxBodyBytes` is answered with `oversizedBodyResponse` without being
/// buffered (see BodyLimitGuard in Connection.swift; chunked bodies are the exception, answered by
/// libevent's own 413); heads over `maxHeaderBytes` are rejected by evhttp (400); connections idle for
/// `connectionTimeoutSeconds` while reading or writing are closed, and so are those whose request
/// has not arrived whole `requestTimeoutSeconds` after its first byte.
///
/// Sendable: all state is immutable or behind `state`'s lock; the loop object documents its own.
public final class HTTPServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String = "127.0.0.1"
        /// 0 picks a free port; `start()` returns the one bound.
        public var port: Int = 8080
        /// Larger request bodies are answered with `oversizedBodyResponse` and never buffered.
        public var maxBodyBytes: Int = 8 << 20
        public var maxHeaderBytes: Int = 64 << 10
        /// Idle/read/write timeout per connection (slow or half-open clients).
        public var connectionTimeoutSeconds: Int = 60
        /// A request must arrive whole (head and body) within this many seconds of its first byte,
        /// or its connection is closed: a client trickling a byte now and then never trips the idle
        /// timeout above, and would otherwise hold its connection forever.
        public var requestTimeoutSeconds: Int = 60
        /// Event loops (threads) serving connections. One loop thread saturates a core with
        /// DescribeTrainingJob answered on it; two on this 2-core machine measured ~1.3x the
        /// requests per second (README Benchmarks). Default: the processor count, at most 4.
        public var loopThreads: Int = min(4, max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
        /// Connections open at once, over all loop threads (each loop thread holds an equal share).
        /// For a connection beyond it, the loop closes its longest-idle connection (no request
        /// arriving or being answered), or, with none idle, the newcomer at once (without a reply):
        /// idle clients can neither use up the process's descriptors (at the descriptor limit
        /// libevent's accept loop would spin on EMFILE) nor lock out new clients (issue 12).
        public var maxConnections: Int = 4096
        /// How long the listener pauses after accept() fails (EMFILE, ENFILE, ENOBUFS): the failing
        /// connection stays in the backlog and would wake the loop again at once.
        public var acceptErrorPause: Duration = .milliseconds(100)
        /// Requests handed to the responder's `respond(to:)` and not yet answered, over all loops.
        /// Beyond it a request is answered at once with `overloadedResponse`: each one holds its body
        /// (up to maxBodyBytes) and a Task, so an unbounded number is unbounded memory.
        public var maxRequestsInFlight: Int = 512

        public init() {}
    }

    public let configuration: Configuration
    private let responder: any HTTPResponder
    private let bodyStreaming: (any RequestBodyStreaming)?
    private let oversizedBodyResponse: HTTPResponse
    private let badRequestResponse: HTTPResponse
    private let overloadedResponse: HTTPResponse
    private let errorLog: (@Sendable (String) -> Void)?
    private let state = Locked(State.idle)

    private enum State {
        case idle
        case running([EventLoop])
        case stopping([EventLoop])
        case stopped
    }

    /// - Parameters:
    ///   - oversizedBodyResponse: sent as is (status, headers, body) for a request whose body exceeds
    ///     `maxBodyBytes`; callers pass a 413 with a JSON body.
    ///   - badRequestResponse: sent, with `Connection: close`, for a request whose framing is
    ///     ambiguous (two `Content-Length` fields, or `Content-Length` with `Transfer-Encoding`): the
    ///     bytes after it cannot be trusted to start the next request (RFC 9112 §6.3).
    ///   - overloadedResponse: sent for a request beyond `maxRequestsInFlight` (callers pass a 503
    ///     that clients retry).
    ///   - errorLog: receives one-line diagnostics (dropped headers, oversized bodies); never called
    ///     with request data.
    ///   - bodyStreaming: takes chosen request bodies as they arrive (RequestBodyStreaming.swift).
    public init(
        configuration: Configuration, responder: any HTTPResponder, oversizedBodyResponse: HTTPResponse,
        badRequestResponse: HTTPResponse? = nil, overloadedResponse: HTTPResponse? = nil,
        errorLog: (@Sendable (String) -> Void)? = nil, bodyStreaming: (any RequestBodyStreaming)? = nil
    ) {
        self.configuration = configuration
        self.responder = responder
        self.bodyStreaming = bodyStreaming
        self.oversizedBodyResponse = oversizedBodyResponse
        self.badRequestResponse =
            badRequestResponse
            ?? HTTPResponse(
                status: 400, headers: ["Content-Type": "application/json"],
                body: Array(#"{"message":"The request's framing is ambiguous (duplicate Content-Length)."}"#.utf8))
        self.overloadedResponse =
            overloadedResponse
            ?? HTTPResponse(
                status: 503, headers: ["Content-Type": "application/json"],
                body: Array(#"{"message":"Too many requests in progress; retry later."}"#.utf8))
        self.errorLog = errorLog
    }

    deinit {
        // Dropped without shutdown(): stop the loop without draining; its thread frees everything.
        state.withLock { state in
            if case .running(let loops) = state { loops.forEach { $0.stopDetached() } }
            state = .stopped
        }
    }

    /// Binds and starts the loop thread. Returns the bound port. Throws HTTPServerError with a clear
    /// message (e.g. "address 127.0.0.1:8080 is already in use") when binding fails.
    /// Also ignores SIGPIPE process-wide (a peer closing mid-write must not kill the process).
    public func start() throws(HTTPServerError) -> Int {
        try state.withLock { (state) throws(HTTPServerError) -> Int in
            guard case .idle = state else {
                throw HTTPServerError(description: "the HTTP server was already started")
            }
            // Writing to a socket the peer closed must be an EPIPE error, not a process-killing signal.
            _ = signal(SIGPIPE, SIG_IGN)
            let listening = try ListeningSocket.bind(host: configuration.host, port: configuration.port)
            let connectionLimit = max(1, configuration.maxConnections)
            // At most one loop per allowed connection, so that every loop's share is at least one.
            let loopCount = min(max(1, configuration.loopThreads), connectionLimit)
            let requestSlots = ConnectionSlots(limit: max(1, configuration.maxRequestsInFlight))
            var loops: [EventLoop] = []
            do throws(HTTPServerError) {
                for index in 0..<loopCount {
                    // Each loop owns its share of maxConnections (the shares add up to it). Over its
                    // share a loop closes its own longest-idle connection for a newcomer; with one
                    // pool for all loops, a newcomer could land on a loop with nothing idle to
                    // close while another held every slot (the loops take turns accepting from one
                    // socket, unevenly), and be refused.
                    let share = connectionLimit / loopCount + (index < connectionLimit % loopCount ? 1 : 0)
                    let slots = ConnectionSlots(limit: share)
                    // Each loop's listener owns (and closes) its own descriptor of the one socket.
                    let descriptor = index == 0 ? listening.fd : fcntl(listening.fd, F_DUPFD_CLOEXEC, 0)
                    guard descriptor >= 0 else {
                        throw HTTPServerError(description: "cannot share the listening socket: \(String(cString: strerror(errno)))")
                    }
                    do throws(HTTPServerError) {
                        loops.append(
                            try EventLoop(
                                listeningSocket: descriptor, configuration: configuration, responder: responder,
                                oversizedBodyResponse: oversizedBodyResponse, badRequestResponse: badRequestResponse,
                                overloadedResponse: overloadedResponse, slots: slots, requestSlots: requestSlots,
                                errorLog: errorLog, bodyStreaming: bodyStreaming))
                    } catch {
                        close(descriptor)
                        throw error
                    }
                }
            } catch {
                loops.forEach { $0.discardUnstarted() }  // closes their descriptors
                throw error
            }
            for (index, loop) in loops.enumerated() {
                do throws(HTTPServerError) {
                    try loop.startThread()
                } catch {
                    loops[..<index].forEach { $0.stopDetached() }
                    loops[index...].forEach { $0.discardUnstarted() }
                    throw error
                }
            }
            state = .running(loops)
            return listening.port
        }
    }

    /// Graceful shutdown: stop accepting new connections, let requests in flight finish (up to
    /// `drainTimeout`), then free everything. Safe to call once; subsequent calls return immediately.
    /// Requests arriving meanwhile on open keep-alive connections get 503 and `Connection: close`.
    public func shutdown(drainTimeout: Duration) async {
        let loops: [EventLoop] = state.withLock { state in
            guard case .running(let loops) = state else { return [] }
            state = .stopping(loops)
            return loops
        }
        guard !loops.isEmpty else { return }
        for loop in loops { loop.enqueue(.control { $0.stopAccepting() }) }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: drainTimeout)
        while loops.contains(where: { $0.inFlight.load(ordering: .acquiring) > 0 }) && clock.now < deadline {
            do {
                try await Task.sleep(for: .milliseconds(5))
            } catch {
                break  // cancelled: stop waiting, still shut down
            }
        }
        for loop in loops { await loop.stop() }
        state.withLock { $0 = .stopped }
    }

    /// Test hook: connections the loop threads still track (nil unless running).
    func trackedConnectionCount() async -> Int? {
        let loops: [EventLoop]? = state.withLock { state in
            if case .running(let loops) = state { return loops }
            return nil
        }
        guard let loops else { return nil }
        var count = 0
        for loop in loops { count += await loop.trackedConnectionCount() }
        return count
    }

    /// Requests received and not yet answered (reply fully written) or abandoned.
    public var requestsInFlight: Int {
        state.withLock { state in
            switch state {
            case .running(let loops), .stopping(let loops): loops.reduce(0) { $0 + $1.inFlight.load(ordering: .relaxed) }
            case .idle, .stopped: 0
            }
        }
    }
}

/// Socket, bind and listen done here (not by evhttp_bind_socket) to report errno precisely.
enum ListeningSocket {
    static func bind(host: String, port: Int) throws(HTTPServerError) -> (fd: Int32, port: Int) {
        guard (0...65535).contains(port) else {
            throw HTTPServerError(description: "invalid port \(port): must be 0...65535")
        }
        let display = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let lookup = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &results)
        guard lookup == 0, let first = results else {
            let reason = lookup == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(lookup))
            throw HTTPServerError(description: "cannot bind \(display): unknown host '\(host)' (\(reason))")
        }
        defer { freeaddrinfo(results) }

        var firstError: HTTPServerError?
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let fd = socket(
                info.pointee.ai_family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 {
                firstError = firstError ?? describe(errno, display: display, host: host, action: "create a socket for")
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                let error = errno
                close(fd)
                firstError = firstError ?? describe(error, display: display, host: host, action: "bind")
                continue
            }
            if listen(fd, SOMAXCONN) != 0 {
                let error = errno
                close(fd)
                firstError = firstError ?? describe(error, display: display, host: host, action: "listen on")
                continue
            }
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard bound == 0 else {
                let error = errno
                close(fd)
                firstError = firstError ?? describe(error, display: display, host: host, action: "inspect")
                continue
            }
            let boundPort: UInt16 = withUnsafePointer(to: &address) { pointer in
                if Int32(pointer.pointee.ss_family) == AF_INET6 {
                    return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                }
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
            return (fd, Int(boundPort))
        }
        throw firstError ?? HTTPServerError(description: "cannot bind \(display): no usable address")
    }

    private static func describe(_ error: Int32, display: String, host: String, action: String) -> HTTPServerError {
        let reason = String(cString: strerror(error))
        switch error {
        case EADDRINUSE:
            return HTTPServerError(description: "address \(display) is already in use")
        case EADDRNOTAVAIL:
            return HTTPServerError(description: "cannot bind \(display): \(host) is not an address of this machine (\(reason))")
        case EACCES:
            return HTTPServerError(description: "cannot bind \(display): permission denied (\(reason))")
        default:
            return HTTPServerError(description: "cannot \(action) \(display): \(reason)")
        }
    }
}

/// A count bounded by `limit`: one loop thread's share of `Configuration.maxConnections`, or the
/// requests in progress over all loops (`Configuration.maxRequestsInFlight`).
final class ConnectionSlots: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot; false when all are taken.
    func acquire() -> Bool {
        var current = used.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = used.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func release() {
        used.subtract(1, ordering: .relaxed)
    }

    var inUse: Int { used.load(ordering: .relaxed) }
}

/// At most one line a second about a recurring condition, with the count of those not logged.
struct RateLimitedLog {
    private var lastLogged: UInt64 = 0
    private var suppressed = 0

    /// The number of occurrences the line should report, or nil to stay quiet this time.
    mutating func occurrences(now: UInt64 = monotonicNanoseconds()) -> Int? {
        suppressed += 1
        guard lastLogged == 0 || now &- lastLogged >= 1_000_000_000 else { return nil }
        lastLogged = now
        defer { suppressed = 0 }
        return suppressed
    }
}
