internal import CLibevent
internal import Glibc
internal import Locking
internal import Synchronization

/// `evthread_use_pthreads()` must run once, before any event_base exists: it gives bases the locks that
/// make `event_active` from other threads safe. A global `let` is initialised exactly once, thread-safely.
let libeventThreadingReady: Bool = evthread_use_pthreads() == 0

/// Work handed to the loop thread through the job queue.
enum LoopJob: Sendable {
    /// A responder finished: send `response` for request `id` on `connection`, unless it closed meanwhile.
    case reply(Connection, UInt64, HTTPResponse)
    case control(@Sendable (EventLoop) -> Void)
}

/// A request copied out of libevent, waiting for `startResponders` at the end of the loop iteration.
struct PendingResponder: Sendable {
    let request: HTTPRequest
    let connection: Connection
    let id: UInt64
}

/// Lock-protected hand-off from any thread to the loop thread.
struct JobQueue {
    var jobs: [LoopJob] = []
    /// True while a wakeup is pending: later enqueuers only append (one event_active per batch).
    var armed = false
    /// The wakeup event; nil once the loop has torn down (late jobs are then dropped).
    var wake: WakeEvent?
}

/// The loop's wakeup `struct event *`. Sendable: other threads only pass it to event_active, which is
/// thread-safe once evthread_use_pthreads() ran, and only under the queue lock, which teardown takes
/// before freeing the event.
struct WakeEvent: @unchecked Sendable {
    let event: OpaquePointer
}

struct StopSignal {
    var done = false
    var waiter: CheckedContinuation<Void, Never>?
}

/// One event_base, one evhttp, one thread.
///
/// Sendable: the C handles and every `var` below are touched only on the loop thread, except where
/// noted (`queue`, `stopSignal` and `inFlight` are synchronised; `thread` is written before the loop
/// thread starts and read after it has stopped). Setup happens on the starting thread before
/// pthread_create, which orders it before everything the loop thread does.
final class EventLoop: @unchecked Sendable {
    let base: OpaquePointer
    let http: OpaquePointer
    let responder: any HTTPResponder
    let bodyStreaming: (any RequestBodyStreaming)?
    let oversizedBodyResponse: HTTPResponse
    let badRequestResponse: HTTPResponse
    let overloadedResponse: HTTPResponse
    /// This loop's share of Configuration.maxConnections.
    let slots: ConnectionSlots
    /// Shared by every loop of the server (Configuration.maxRequestsInFlight).
    let requestSlots: ConnectionSlots
    let acceptErrorPause: timeval
    let errorLog: (@Sendable (String) -> Void)?
    let maxBodyBytes: Int
    let maxHeaderBytes: Int
    let requestTimeoutNanoseconds: UInt64
    /// Declared bodies above the limit are read and discarded before the 413 up to this size; larger
    /// ones are answered at once and the connection is closed.
    let drainLimit: Int64

    /// Requests received and not yet fully answered (reply written) nor abandoned (connection closed).
    let inFlight = Atomic<Int>(0)
    private let queue = Locked(JobQueue())
    private let stopSignal = Locked(StopSignal())
    var thread: pthread_t?

    // Loop-thread state.
    var connections: [UInt: Connection] = [:]
    private var acceptedBufferevents: [OpaquePointer] = []
    private var acceptedEvent: OpaquePointer?
    private var dispatchEvent: OpaquePointer?
    /// Periodic sweep closing connections whose request takes too long to arrive.
    private var requestDeadlineEvent: OpaquePointer?
    /// Requests copied out during this loop iteration, started together by `startResponders`.
    private var pendingResponders: [PendingResponder] = []
    private var boundSocket: OpaquePointer?
    private var draining = false
    private var finished = false
    private var nextRequestID: UInt64 = 0
    private var spareJobs: [LoopJob] = []
    private var acceptErrors = RateLimitedLog()
    private var refusedConnections = RateLimitedLog()
    private var evictedConnections = RateLimitedLog()
    /// Connections in the order they became idle (`idleOrder[idleOrderHead...]`), for eviction
    /// without a scan of every connection. An entry is stale once its connection closed or became
    /// busy (its `idleSince` changed or it is not idle): such entries are skipped and dropped.
    private var idleOrder: [IdleEntry] = []
    private var idleOrderHead = 0
    private var overloadedRequests = RateLimitedLog()
    /// Re-enables the listener after an accept error paused it.
    private var resumeAcceptingEvent: OpaquePointer?
    /// evhttp 2.1 passes its evhttp_connection as the bufferevent callback argument; we read it back
    /// to register the close callback before the first request (so connections that never send one are
    /// cleaned up too). Only relied upon for the 2.1 series.
    private let closeCallbackAtAccept: Bool
    /// The BodyLimitGuard (Connection.swift) runs only on libevent 2.1, whose request parsing
    /// RequestHeadScan mirrors; elsewhere a head it misreads could desynchronise the connection,
    /// so oversized bodies get libevent's own HTML 413 instead. Measured cost and the reasons to
    /// keep it: README "Known limits".
    let guardsBodyLimit: Bool

    init(
        listeningSocket fd: Int32, configuration: HTTPServer.Configuration, responder: any HTTPResponder,
        oversizedBodyResponse: HTTPResponse, badRequestResponse: HTTPResponse, overloadedResponse: HTTPResponse,
        slots: ConnectionSlots, requestSlots: ConnectionSlots, errorLog: (@Sendable (String) -> Void)?,
        bodyStreaming: (any RequestBodyStreaming)? = nil
    ) throws(HTTPServerError) {
        guard libeventThreadingReady else {
            throw HTTPServerError(description: "libevent: evthread_use_pthreads() failed")
        }
        // EPOLL_USE_CHANGELIST: libevent then folds the epoll_ctl calls one loop iteration makes for
        // a descriptor into one (evhttp disables reading, enables writing, ... on every request).
        guard let config = event_config_new() else {
            throw HTTPServerError(description: "libevent: cannot create an event_config")
        }
        event_config_set_flag(config, Int32(EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST.rawValue))
        let createdBase = event_base_new_with_config(config)
        event_config_free(config)
        guard let base = createdBase else {
            throw HTTPServerError(description: "libevent: cannot create an event_base")
        }
        guard let http = evhttp_new(base) else {
            event_base_free(base)
            throw HTTPServerError(description: "libevent: cannot create an evhttp server")
        }
        self.base = base
        self.http = http
        self.responder = responder
        self.bodyStreaming = bodyStreaming
        self.oversizedBodyResponse = oversizedBodyResponse
        self.badRequestResponse = badRequestResponse
        self.slots = slots
        self.overloadedResponse = overloadedResponse
        self.requestSlots = requestSlots
        let pause = configuration.acceptErrorPause.components
        let pauseMicroseconds = max(1000, pause.seconds * 1_000_000 + pause.attoseconds / 1_000_000_000_000)
        self.acceptErrorPause = timeval(tv_sec: Int(pauseMicroseconds / 1_000_000), tv_usec: Int(pauseMicroseconds % 1_000_000))
        self.errorLog = errorLog
        self.maxBodyBytes = max(0, configuration.maxBodyBytes)
        self.maxHeaderBytes = max(1024, configuration.maxHeaderBytes)
        // 64 MiB (or 4x the limit) at most: enough for an SDK that sends the whole body before it
        // reads the answer to see the 413 instead of a reset, without letting a client make the
        // server read a gigabyte it will throw away (issue 12).
        self.drainLimit = max(Int64(maxBodyBytes) * 4, 64 << 20)
        self.requestTimeoutNanoseconds = UInt64(max(1, configuration.requestTimeoutSeconds)) * 1_000_000_000
        self.closeCallbackAtAccept = (event_get_version_number() >> 16) == 0x0201
        self.guardsBodyLimit = (event_get_version_number() >> 16) == 0x0201

        // From here on `self` is complete; the C side gets unretained pointers to it. The loop thread
        // holds a strong reference (see startThread) for as long as any of these callbacks can run.
        let context = Unmanaged.passUnretained(self).toOpaque()
        evhttp_set_gencb(
            http,
            { request, context in
                guard let request, let context else { return }
                Unmanaged<EventLoop>.fromOpaque(context).takeUnretainedValue().handle(request)
            }, context)
        evhttp_set_bevcb(
            http,
            { _, context in
                guard let context else { return nil }
                return Unmanaged<EventLoop>.fromOpaque(context).takeUnretainedValue().makeBufferevent()
            }, context)
        // Every bit of the public mask: the responder decides what is allowed. That includes the bit
        // evhttp uses for a method it does not name (e.g. QUERY), which otherwise gets libevent's own
        // HTML 501 instead of the responder's 4xx JSON; no private constant is needed to say "all".
        evhttp_set_allowed_methods(http, UInt16.max)
        evhttp_set_default_content_type(http, nil)  // no implicit text/html
        evhttp_set_max_headers_size(http, maxHeaderBytes)
        // Backstop for bodies the guard leaves to evhttp (chunked ones): libevent's own 413.
        evhttp_set_max_body_size(http, maxBodyBytes)
        evhttp_set_flags(http, Int32(EVHTTP_SERVER_LINGERING_CLOSE))
        evhttp_set_timeout(http, Int32(clamping: max(1, configuration.connectionTimeoutSeconds)))

        let wakeEvent = event_new(base, -1, 0, { _, _, context in
            guard let context else { return }
            Unmanaged<EventLoop>.fromOpaque(context).takeUnretainedValue().runJobs()
        }, context)
        let accepted = event_new(base, -1, 0, { _, _, context in
            guard let context else { return }
            Unmanaged<EventLoop>.fromOpaque(context).takeUnretainedValue().registerAcceptedConnections()
        }, context)
        let dispatch = event_new(base, -1, 0, { _, _, context in
            guard let context else { return }
            Unmanaged<EventLoop>.fromOpaque(context).takeUnretainedValue().startResponders()
        }, context)
        let requestDeadline = event_new(base, -1, Int16(EV_PERSIST), { _, _, context in
            guard let context else { return }
            Unmanaged<EventLoop>.fromOpaque(context).takeUnretainedValue().closeOverdueRequests()
        }, context)
        let resumeAccepting = event_new(base, -1, 0, { _, _, context in
            guard let context else { return }
            Unmanaged<EventLoop>.fromOpaque(context).takeUnretainedValue().resumeAccepting()
        }, context)
        guard let wake = wakeEvent, let accepted, let dispatch, let requestDeadline, let resumeAccepting else {
            for event in [wakeEvent, accepted, dispatch, requestDeadline, resumeAccepting] { if let event { event_free(event) } }
            evhttp_free(http)
            event_base_free(base)
            throw HTTPServerError(description: "libevent: cannot create events")
        }
        queue.withLock { $0.wake = WakeEvent(event: wake) }
        acceptedEvent = accepted
        dispatchEvent = dispatch
        requestDeadlineEvent = requestDeadline
        resumeAcceptingEvent = resumeAccepting
        // Checked a few times per timeout: a connection is closed at most a quarter late.
        let sweepMilliseconds = min(1000, max(50, Int(requestTimeoutNanoseconds / 4_000_000)))
        var interval = timeval(tv_sec: sweepMilliseconds / 1000, tv_usec: Int((sweepMilliseconds % 1000) * 1000))
        event_add(requestDeadline, &interval)
        guard let bound = evhttp_accept_socket_with_handle(http, fd) else {
            evhttp_free(http)
            event_free(wake)
            event_free(accepted)
            event_free(dispatch)
            event_free(requestDeadline)
            event_free(resumeAccepting)
            event_base_free(base)
            throw HTTPServerError(description: "libevent: cannot listen on the bound socket")
        }
        boundSocket = bound  // the listener now owns fd (LEV_OPT_CLOSE_ON_FREE)
        // Without an error callback libevent logs every failed accept() and, the connection still
        // being in the backlog, is woken again at once: at the descriptor limit that is a busy loop
        // writing "Too many open files" (issue 12: 147% CPU, /health unanswered). The callback's
        // argument is evhttp's, so the loop is found by its base.
        if let listener = evhttp_bound_socket_get_listener(bound) {
            AcceptErrorRoutes.register(self)
            evconnlistener_set_error_cb(listener) { listener, _ in
                guard let listener, let base = evconnlistener_get_base(listener) else { return }
                AcceptErrorRoutes.loop(for: base)?.acceptFailed(listener)
            }
        }
    }

    /// Frees everything when the loop thread could not be started.
    func discardUnstarted() {
        evhttp_free(http)
        if let wake = queue.withLock({ queue -> WakeEvent? in
            defer { queue.wake = nil }
            return queue.wake
        }) {
            event_free(wake.event)
        }
        if let acceptedEvent { event_free(acceptedEvent) }
        if let dispatchEvent { event_free(dispatchEvent) }
        if let requestDeadlineEvent { event_free(requestDeadlineEvent) }
        if let resumeAcceptingEvent { event_free(resumeAcceptingEvent) }
        AcceptErrorRoutes.unregister(self)
        for connection in connections.values where connection.holdsSlot { slots.release() }
        connections.removeAll()
        event_base_free(base)
    }

    /// Test hook: number of connections the loop tracks (asks the loop thread).
    func trackedConnectionCount() async -> Int {
        await withCheckedContinuation { continuation in
            enqueue(.control { continuation.resume(returning: $0.connections.count) })
        }
    }

    func log(_ message: String) {
        errorLog?("EventHTTP: " + message)
    }

    // MARK: - Thread

    func startThread() throws(HTTPServerError) {
        // +1 owned by the loop thread (taken back with takeRetainedValue as it starts): the loop object
        // outlives every callback, all of which run inside event_base_loop on that thread.
        let retained = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(
            &tid, nil,
            { argument in
                let loop = Unmanaged<EventLoop>.fromOpaque(argument!).takeRetainedValue()
                loop.run()
                return nil
            }, retained)
        guard rc == 0 else {
            Unmanaged<EventLoop>.fromOpaque(retained).release()
            throw HTTPServerError(description: "cannot start the HTTP loop thread: \(String(cString: strerror(rc)))")
        }
        thread = tid
    }

    private func run() {
        event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY)
        // finish() freed evhttp and detached the wake event from the queue.
        if let wake = wakeEventToFree { event_free(wake) }
        if let acceptedEvent { event_free(acceptedEvent) }
        if let dispatchEvent { event_free(dispatchEvent) }
        if let requestDeadlineEvent { event_free(requestDeadlineEvent) }
        if let resumeAcceptingEvent { event_free(resumeAcceptingEvent) }
        AcceptErrorRoutes.unregister(self)
        event_base_free(base)
        let waiter = stopSignal.withLock { signal -> CheckedContinuation<Void, Never>? in
            signal.done = true
            defer { signal.waiter = nil }
            return signal.waiter
        }
        waiter?.resume()
    }

    private var wakeEventToFree: OpaquePointer?

    /// Frees evhttp (closing every connection) and stops the loop; the loop thread then frees the base.
    /// Waits for the loop thread to finish and joins it.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = stopSignal.withLock { signal -> Bool in
                if signal.done { return true }
                signal.waiter = continuation
                return false
            }
            if done {
                continuation.resume()
            } else {
                enqueue(.control { $0.finish() })
            }
        }
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
    }

    /// For a server dropped without shutdown: stop without waiting; the thread cleans up after itself.
    func stopDetached() {
        enqueue(.control { $0.finish() })
        if let thread {
            pthread_detach(thread)
            self.thread = nil
        }
    }

    // MARK: - Job queue (any thread → loop thread)

    func enqueue(_ job: LoopJob) {
        queue.withLock { queue in
            guard let wake = queue.wake else { return }  // loop gone: drop
            queue.jobs.append(job)
            if !queue.armed {
                queue.armed = true
                // Under the queue lock so teardown cannot free the event in between. No lock-order
                // problem: libevent releases its base lock while running our callbacks.
                event_active(wake.event, EV_READ, 0)
            }
        }
    }

    private func runJobs() {
        var batch = spareJobs
        spareJobs = []
        queue.withLock { queue in
            swap(&queue.jobs, &batch)
            queue.armed = false
        }
        for job in batch {
            if finished { break }
            switch job {
            case .reply(let connection, let id, let response):
                deliver(response, id: id, on: connection)
            case .control(let body):
                body(self)
            }
        }
        batch.removeAll(keepingCapacity: true)
        spareJobs = batch
    }

    func stopAccepting() {
        draining = true
        if let resumeAcceptingEvent { event_del(resumeAcceptingEvent) }
        if let boundSocket {
            evhttp_del_accept_socket(http, boundSocket)  // frees the listener and closes its socket
            self.boundSocket = nil
        }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        draining = true
        boundSocket = nil  // evhttp_free frees it
        evhttp_free(http)  // frees every connection; their close callbacks run and drop their state
        for bufferevent in acceptedBufferevents { bufferevent_decref(bufferevent) }
        acceptedBufferevents.removeAll()
        for _ in pendingResponders { requestSlots.release() }
        pendingResponders.removeAll()  // their connections were just closed
        for connection in connections.values {
            connection.closed = true
            connection.pendingRequest = nil
            if connection.holdsSlot {
                connection.holdsSlot = false
                slots.release()
            }
        }
        connections.removeAll()
        wakeEventToFree = queue.withLock { queue -> WakeEvent? in
            defer {
                queue.wake = nil
                queue.jobs.removeAll()
                queue.armed = false
            }
            return queue.wake
        }?.event
        event_base_loopbreak(base)
    }

    // MARK: - Connections

    /// evhttp_set_bevcb: evhttp accepted a socket and asks for its bufferevent.
    private func makeBufferevent() -> OpaquePointer? {
        guard let bufferevent = bufferevent_socket_new(base, -1, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)) else {
            return nil
        }
        let connection = Connection(bufferevent: bufferevent, loop: self)
        // Unretained: the entry in `connections` keeps it alive until the close callback, which
        // removes this evbuffer callback first.
        connection.inputCallback = evbuffer_add_cb(
            connection.input,
            { _, info, context in
                guard let info, info.pointee.n_added > 0, let context else { return }
                Unmanaged<Connection>.fromOpaque(context).takeUnretainedValue().inputGrew()
            }, Unmanaged.passUnretained(connection).toOpaque())
        connection.holdsSlot = slots.acquire()
        connections[connection.key] = connection
        becameIdle(connection)
        connection.beginHead()
        if closeCallbackAtAccept, let acceptedEvent {
            bufferevent_incref(bufferevent)  // kept valid until registerAcceptedConnections
            acceptedBufferevents.append(bufferevent)
            if acceptedBufferevents.count == 1 { event_active(acceptedEvent, EV_READ, 0) }
        }
        return bufferevent
    }

    /// Runs right after evhttp finished setting up freshly accepted connections.
    private func registerAcceptedConnections() {
        for bufferevent in acceptedBufferevents {
            Self.disableNagle(bufferevent)
            var callbackArgument: UnsafeMutableRawPointer?
            bufferevent_getcb(bufferevent, nil, nil, nil, &callbackArgument)
            if let connection = connections[Self.key(bufferevent)] {
                if let callbackArgument {
                    if !connection.closeCallbackRegistered {
                        registerCloseCallback(OpaquePointer(callbackArgument), connection)
                    }
                    if !connection.holdsSlot {
                        connection.holdsSlot = evictIdleConnection(for: connection) && slots.acquire()
                        if !connection.holdsSlot { refuse(connection) }
                    }
                } else {
                    // bufferevent_free clears the callbacks: evhttp dropped the connection during setup.
                    forget(connection)
                }
            }
            bufferevent_decref(bufferevent)
        }
        acceptedBufferevents.removeAll(keepingCapacity: true)
    }

    /// Queues `connection` as idle from now: accepted, or its reply written.
    func becameIdle(_ connection: Connection) {
        connection.idleSince = monotonicNanoseconds()
        idleOrder.append(IdleEntry(key: connection.key, since: connection.idleSince))
        compactIdleOrder()
    }

    /// Drops consumed and stale entries once they outnumber the connections: the queue stays
    /// within a small multiple of the open connections, at amortised O(1) per entry.
    private func compactIdleOrder() {
        guard idleOrder.count - idleOrderHead > 2 * connections.count + 64 || idleOrderHead > 4096 else { return }
        idleOrder = idleOrder[idleOrderHead...].filter { entry in
            connections[entry.key].map { $0.idleSince == entry.since && $0.isIdle } ?? false
        }
        idleOrderHead = 0
    }

    /// Bytes have arrived on the socket that the loop has not read yet.
    private static func hasUnreadInput(_ bufferevent: OpaquePointer) -> Bool {
        let fd = bufferevent_getfd(bufferevent)
        var pending: Int32 = 0
        return fd >= 0 && ioctl(fd, UInt(FIONREAD), &pending) == 0 && pending > 0
    }

    /// A response larger than one segment otherwise waits for the client's delayed ACK (Nagle's
    /// algorithm meeting delayed ACKs: ~40 ms per large reply on Linux loopback).
    private static func disableNagle(_ bufferevent: OpaquePointer) {
        let fd = bufferevent_getfd(bufferevent)
        guard fd >= 0 else { return }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Every slot of this loop's share is taken: closes its longest-idle connection (no request arriving, being
    /// answered or streaming) to make room for `newcomer`, so that a flood of sockets that never
    /// send anything cannot lock real clients out (issue 12: `/health` unanswered behind idle
    /// connections). A flood now only churns through idle sockets, its own first; a request in
    /// progress is never cut. False when this loop has nothing idle to close.
    private func evictIdleConnection(for newcomer: Connection) -> Bool {
        // Oldest first; entries of connections that closed or got busy since are dropped as met
        // (a busy one is queued again when its reply is written).
        var passedOver = 0
        var chosen: Connection?
        while idleOrderHead < idleOrder.count {
            let entry = idleOrder[idleOrderHead]
            idleOrderHead += 1
            guard let connection = connections[entry.key], connection.idleSince == entry.since, connection !== newcomer,
                connection.holdsSlot, connection.evcon != nil, connection.isIdle
            else { continue }
            // A request whose bytes wait in the kernel, not yet read by this loop (a flood accepted
            // in the same pass), is in progress too. A few such are passed over (and queued again);
            // then the newcomer is refused.
            if Self.hasUnreadInput(connection.bufferevent) {
                idleOrder.append(entry)
                passedOver += 1
                if passedOver == 8 { break }
                continue
            }
            chosen = connection
            break
        }
        compactIdleOrder()
        guard let oldest = chosen, let evcon = oldest.evcon else { return false }
        if let count = evictedConnections.occurrences() {
            log("closed \(count) idle connection(s) to admit new ones: \(slots.limit) connections are open on this event loop (its share of --max-connections)")
        }
        evhttp_connection_free(evcon)  // runs the close callback, which forgets it and frees its slot
        return true
    }

    /// A connection over `maxConnections` with no idle connection to give way: closed at once,
    /// before evhttp reads from it.
    private func refuse(_ connection: Connection) {
        if let count = refusedConnections.occurrences() {
            log("refused \(count) connection(s): \(slots.limit) connections are open on this event loop (its share of --max-connections), none idle")
        }
        guard !connection.closed, let evcon = connection.evcon else { return }
        evhttp_connection_free(evcon)  // runs the close callback, which forgets the connection
    }

    /// accept() failed with an error that retrying at once cannot fix (EMFILE, ENFILE, ENOBUFS,
    /// ENOMEM): pause the listener briefly instead of spinning, and say so at most once a second.
    fileprivate func acceptFailed(_ listener: OpaquePointer) {
        let error = errno
        if let count = acceptErrors.occurrences() {
            log("accept() failed \(count) time(s): \(String(cString: strerror(error))); pausing new connections for a moment")
        }
        guard boundSocket != nil, let resumeAcceptingEvent else { return }
        evconnlistener_disable(listener)
        var pause = acceptErrorPause
        event_add(resumeAcceptingEvent, &pause)
    }

    private func resumeAccepting() {
        guard !draining, let boundSocket, let listener = evhttp_bound_socket_get_listener(boundSocket) else { return }
        evconnlistener_enable(listener)
    }

    private func registerCloseCallback(_ evcon: OpaquePointer, _ connection: Connection) {
        connection.closeCallbackRegistered = true
        connection.evcon = evcon
        // Unretained: evhttp calls this from evhttp_connection_free, while our entry still exists.
        evhttp_connection_set_closecb(
            evcon,
            { _, context in
                guard let context else { return }
                let connection = Unmanaged<Connection>.fromOpaque(context).takeUnretainedValue()
                connection.loop.connectionClosed(connection)
            }, Unmanaged.passUnretained(connection).toOpaque())
    }

    /// evhttp is freeing the connection (client gone, timeout, error, `Connection: close`, or evhttp_free).
    private func connectionClosed(_ connection: Connection) {
        if let request = connection.pendingRequest {
            connection.pendingRequest = nil
            // A request still queued on the connection is freed by evhttp right after this callback.
            // One it already detached (req->evcon == NULL: read EOF or timeout while we held it) is
            // ours to free. Either way the late reply will find `closed` and be dropped.
            if evhttp_request_get_connection(request) == nil { evhttp_request_free(request) }
        }
        forget(connection)
    }

    private func forget(_ connection: Connection) {
        connection.closed = true
        if connection.holdsSlot {
            connection.holdsSlot = false
            slots.release()
        }
        if connection.counted {
            connection.counted = false
            inFlight.subtract(1, ordering: .releasing)
        }
        connection.streamConsumer = nil  // an unfinished streamed body: its consumer cleans up
        connection.streamedBody = nil
        if let entry = connection.inputCallback {
            evbuffer_remove_cb_entry(connection.input, entry)
            connection.inputCallback = nil
        }
        connections.removeValue(forKey: connection.key)
    }

    /// Closes connections whose request started arriving more than the request timeout ago and is
    /// still incomplete (slowloris-style clients). Requests already received and being answered are
    /// not timed here.
    private func closeOverdueRequests() {
        let now = monotonicNanoseconds()
        let overdue = connections.values.filter { connection in
            guard let started = connection.requestStartedAt, connection.pendingRequest == nil, connection.evcon != nil else {
                return false
            }
            return now &- started > requestTimeoutNanoseconds
        }
        for connection in overdue {
            guard !connection.closed, let evcon = connection.evcon else { continue }
            log("closing \(connection.remoteAddress ?? "a connection"): its request did not arrive within the request timeout")
            evhttp_connection_free(evcon)  // runs the close callback, which forgets the connection
        }
    }

    // MARK: - Requests

    /// evhttp_set_gencb: a complete request (headers and body) has been read.
    private func handle(_ request: UnsafeMutablePointer<evhttp_request>) {
        guard let evcon = evhttp_request_get_connection(request),
            let bufferevent = evhttp_connection_get_bufferevent(evcon),
            let connection = connections[Self.key(bufferevent)]
        else {
            // Only if our bufferevent callback could not run (out of memory): answer, untracked.
            log("request on an untracked connection; answering 500")
            evhttp_add_header(evhttp_request_get_output_headers(request), "Connection", "close")
            evhttp_send_reply(request, 500, "Internal Server Error", nil)
            return
        }
        if !connection.closeCallbackRegistered { registerCloseCallback(evcon, connection) }
        connection.counted = true
        inFlight.add(1, ordering: .relaxed)
        // Read nothing more from this connection until its reply is written (evhttp re-enables
        // reading for the next request then): a client that half-closes after its request would
        // otherwise make evhttp see EOF and free the connection mid-reply (issue 12: 16 KB of a
        // 250 KB reply). send() disables it again after evhttp_send_reply turned it on.
        bufferevent_disable(connection.bufferevent, Int16(EV_READ))

        if !connection.holdsSlot {
            // Only where the connection could not be refused at accept (libevent other than 2.1).
            connection.beginHead()
            send(Self.closing(badRequestResponse, status: 503), on: request, connection)
            return
        }

        if connection.nextIsOversized {
            connection.nextIsOversized = false
            connection.beginHead()
            send(oversizedBodyResponse, on: request, connection)
            return
        }
        if draining {
            connection.beginHead()
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Connection", value: "close")
            let body = Array(#"{"message":"The server is shutting down."}"#.utf8)
            send(HTTPResponse(status: 503, headers: headers, body: body), on: request, connection)
            return
        }

        let copied = copyRequest(request, evcon, connection)
        if Self.hasAmbiguousFraming(copied.headers) {
            connection.beginHead()
            log("answering 400 to a request with ambiguous framing (duplicate Content-Length or Content-Length with Transfer-Encoding)")
            send(Self.closing(badRequestResponse, status: 400), on: request, connection)
            return
        }
        if let response = responder.respondOnLoopThread(to: copied) {
            connection.beginHead()
            send(response, on: request, connection)
            return
        }
        guard requestSlots.acquire() else {  // released when its responder returns
            connection.beginHead()
            if let count = overloadedRequests.occurrences() {
                log("answered \(count) request(s) with 503: \(requestSlots.limit) requests are in progress")
            }
            send(overloadedResponse, on: request, connection)
            return
        }
        nextRequestID &+= 1
        let id = nextRequestID
        connection.pendingID = id
        connection.pendingRequest = request
        connection.beginHead()  // bytes after this request (pipelined) belong to the next head

        pendingResponders.append(PendingResponder(request: copied, connection: connection, id: id))
        if pendingResponders.count == 1, let dispatchEvent { event_active(dispatchEvent, EV_READ, 0) }
    }

    /// Starts the responders for the requests read in this loop iteration (runs once per iteration
    /// that had requests, after evhttp's callbacks). One request: one Task. Several: one Task that
    /// starts a Task per request from a pool thread, so the loop thread wakes the pool once per batch
    /// instead of once per request (measured: ~30k -> ~50k req/s with wrk -t2 -c64 on 2 cores).
    private func startResponders() {
        let batch = pendingResponders
        pendingResponders.removeAll(keepingCapacity: true)
        let responder = self.responder
        let requestSlots = self.requestSlots
        if batch.count == 1 {
            let item = batch[0]
            Task {
                let response = await responder.respond(to: item.request)
                requestSlots.release()
                self.enqueue(.reply(item.connection, item.id, response))
            }
        } else if !batch.isEmpty {
            Task {
                for item in batch {
                    Task {
                        let response = await responder.respond(to: item.request)
                        requestSlots.release()
                        self.enqueue(.reply(item.connection, item.id, response))
                    }
                }
            }
        }
    }

    private func deliver(_ response: HTTPResponse, id: UInt64, on connection: Connection) {
        // The connection closed meanwhile (its request was freed with it): drop the late reply.
        guard !connection.closed, connection.pendingID == id, let request = connection.pendingRequest else { return }
        connection.pendingRequest = nil
        send(response, on: request, connection)
    }

    private func copyRequest(
        _ request: UnsafeMutablePointer<evhttp_request>, _ evcon: OpaquePointer, _ connection: Connection
    ) -> HTTPRequest {
        let method = Self.methodName(evhttp_request_get_command(request))

        var path = ""
        var query: String?
        if let uri = evhttp_request_get_evhttp_uri(request) {
            if let rawPath = evhttp_uri_get_path(uri) { path = String(cString: rawPath) }
            if let rawQuery = evhttp_uri_get_query(uri) { query = String(cString: rawQuery) }
        } else if let rawURI = evhttp_request_get_uri(request) {
            let uri = String(cString: rawURI)
            if let mark = uri.firstIndex(of: "?") {
                path = String(uri[..<mark])
                query = String(uri[uri.index(after: mark)...])
            } else {
                path = uri
            }
        }

        var headers = HTTPHeaders(reservingCapacity: 12)
        if let list = evhttp_request_get_input_headers(request) {
            var field = list.pointee.tqh_first
            while let current = field {
                headers.add(name: String(cString: current.pointee.key), value: String(cString: current.pointee.value))
                field = current.pointee.next.tqe_next
            }
        }

        var body: [UInt8] = []
        if let input = evhttp_request_get_input_buffer(request) {
            let length = evbuffer_get_length(input)
            if length > 0 {
                body = [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
                    let copied = evbuffer_copyout(input, buffer.baseAddress, length)
                    initialized = copied == length ? length : 0
                }
            }
        }

        if connection.remoteAddress == nil {
            var address: UnsafeMutablePointer<CChar>?
            var port: UInt16 = 0
            evhttp_connection_get_peer(evcon, &address, &port)
            let host = address.map { String(cString: $0) } ?? ""
            connection.remoteAddress = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }

        var copied = HTTPRequest(
            method: method, path: path, query: query, headers: headers, body: body,
            remoteAddress: connection.remoteAddress ?? "")
        copied.streamedBody = connection.streamedBody
        connection.streamedBody = nil
        return copied
    }

    private func send(_ response: HTTPResponse, on request: UnsafeMutablePointer<evhttp_request>, _ connection: Connection) {
        var status = response.status
        if !(200...599).contains(status) {
            log("responder returned invalid status \(status); sending 500")
            status = 500
        }
        let outputHeaders = evhttp_request_get_output_headers(request)
        for (name, value) in response.headers {
            // Framing is ours: evhttp computes Content-Length from the body.
            if asciiCaseInsensitiveEquals(name, "Content-Length") || asciiCaseInsensitiveEquals(name, "Transfer-Encoding") {
                continue
            }
            if evhttp_add_header(outputHeaders, name, value) != 0 {
                log("dropping invalid response header \(name.debugDescription)")
            }
        }
        // For a reply from memory and a file (sendFile) alike. Unretained: called from
        // evhttp_send_done while the connection (and our entry) still exists.
        evhttp_request_set_on_complete_cb(
            request,
            { _, context in
                guard let context else { return }
                let connection = Unmanaged<Connection>.fromOpaque(context).takeUnretainedValue()
                connection.loop.replyWritten(connection)
            }, Unmanaged.passUnretained(connection).toOpaque())
        let mayHaveBody = status != 204 && status != 304
        if mayHaveBody, let file = response.file, evhttp_request_get_command(request) != EVHTTP_REQ_HEAD {
            sendFile(file, status: status, on: request, connection)
            // As below: a half-close while the file is sent must not cut it short.
            if !connection.closed { bufferevent_disable(connection.bufferevent, Int16(EV_READ)) }
            return
        }
        if mayHaveBody {
            if evhttp_request_get_command(request) == EVHTTP_REQ_HEAD {
                // evhttp never adds Content-Length to a HEAD answer; report the GET length ourselves.
                evhttp_add_header(outputHeaders, "Content-Length", String(response.file?.length ?? Int64(response.body.count)))
            } else if !response.body.isEmpty, let output = evhttp_request_get_output_buffer(request) {
                response.body.withUnsafeBytes { _ = evbuffer_add(output, $0.baseAddress, $0.count) }
            }
        }
        Self.reasonPhrase(status).withCString { reason in
            evhttp_send_reply(request, Int32(status), reason, nil)
        }
        // evhttp_send_reply enabled reading to notice a close while writing; a half-close is not
        // one (see handle). The write itself happens later in this loop, so this is in time.
        if !connection.closed { bufferevent_disable(connection.bufferevent, Int16(EV_READ)) }
    }

    /// Two Content-Length fields (evhttp reads the first), or Content-Length beside
    /// Transfer-Encoding: the classic request-smuggling shapes (RFC 9112 §6.3 lets a server reject them).
    static func hasAmbiguousFraming(_ headers: HTTPHeaders) -> Bool {
        var contentLengths = 0
        var transferEncoding = false
        for field in headers {
            if asciiCaseInsensitiveEquals(field.name, "Content-Length") {
                contentLengths += 1
            } else if asciiCaseInsensitiveEquals(field.name, "Transfer-Encoding") {
                transferEncoding = true
            }
        }
        return contentLengths > 1 || (contentLengths == 1 && transferEncoding)
    }

    /// `response` with `status` and `Connection: close`.
    static func closing(_ response: HTTPResponse, status: Int) -> HTTPResponse {
        var response = response
        response.status = status
        response.headers.replaceOrAdd(name: "Connection", value: "close")
        return response
    }

    /// The reply has been handed to the kernel in full.
    func replyWritten(_ connection: Connection) {
        if connection.counted {
            connection.counted = false
            inFlight.subtract(1, ordering: .releasing)
        }
        becameIdle(connection)
    }

    /// Connections are keyed by their bufferevent's address.
    static func key(_ bufferevent: OpaquePointer) -> UInt {
        UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(bufferevent)))
    }

    static func methodName(_ command: evhttp_cmd_type) -> String {
        switch command {
        case EVHTTP_REQ_GET: "GET"
        case EVHTTP_REQ_POST: "POST"
        case EVHTTP_REQ_HEAD: "HEAD"
        case EVHTTP_REQ_PUT: "PUT"
        case EVHTTP_REQ_DELETE: "DELETE"
        case EVHTTP_REQ_OPTIONS: "OPTIONS"
        case EVHTTP_REQ_TRACE: "TRACE"
        case EVHTTP_REQ_CONNECT: "CONNECT"
        case EVHTTP_REQ_PATCH: "PATCH"
        default: "UNKNOWN"
        }
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Payload Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Entity"
        case 425: "Too Early"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default:
            switch status / 100 {
            case 2: "Success"
            case 3: "Redirection"
            case 4: "Client Error"
            default: "Server Error"
            }
        }
    }
}

/// Finds the loop of a listener in libevent's accept error callback, whose argument is evhttp's.
/// Registered while the loop's base exists; looked up only when accept() fails.
enum AcceptErrorRoutes {
    /// Sendable: an unowned reference, removed before its loop's base is freed.
    private struct Route: @unchecked Sendable {
        unowned(unsafe) let loop: EventLoop
    }

    private static let routes = Locked<[UInt: Route]>([:])

    static func register(_ loop: EventLoop) {
        routes.withLock { $0[key(loop.base)] = Route(loop: loop) }
    }

    static func unregister(_ loop: EventLoop) {
        _ = routes.withLock { $0.removeValue(forKey: key(loop.base)) }
    }

    static func loop(for base: OpaquePointer) -> EventLoop? {
        routes.withLock { $0[key(base)]?.loop }
    }

    private static func key(_ base: OpaquePointer) -> UInt {
        UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(base)))
    }
}

/// A connection that became idle at `since` (its `idleSince` then).
struct IdleEntry {
    let key: UInt
    let since: UInt64
}
