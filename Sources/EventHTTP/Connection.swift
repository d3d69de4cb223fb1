internal import CLibevent
internal import Glibc

/// Per-connection state, owned by the loop thread.
///
/// Lifetime: created in the bufferevent callback when evhttp accepts a socket, held strongly by
/// `EventLoop.connections` and removed there when evhttp frees the connection (its close callback).
/// The C side only ever gets unretained pointers to it (evbuffer callback, close callback,
/// on-complete callback); each of those is called only while the connection, and therefore the
/// dictionary entry, exists.
///
/// Sendable: a reference travels inside the responder's Task only to come back with the reply job;
/// every mutable field is read and written on the loop thread alone.
final class Connection: @unchecked Sendable {
    let bufferevent: OpaquePointer
    let input: OpaquePointer
    /// Dereferenced only in loop-thread callbacks, and the loop object lives until its thread ends.
    unowned(unsafe) let loop: EventLoop
    var key: UInt { EventLoop.key(bufferevent) }

    // MARK: reply bookkeeping
    /// The request handed to the responder and not yet answered. evhttp 2.1 serves one request at a
    /// time per connection, so one slot is enough. Cleared when the reply is sent or the connection closes.
    var pendingRequest: UnsafeMutablePointer<evhttp_request>?
    var pendingID: UInt64 = 0
    /// This connection's current request is counted in `requestsInFlight` (until its reply is written
    /// or the connection closes, whichever comes first).
    var counted = false
    var closed = false
    var closeCallbackRegistered = false
    /// The evhttp connection, once known (to close it when its request takes too long to arrive).
    var evcon: OpaquePointer?
    /// When the first byte of the request being received arrived (monotonic nanoseconds); nil
    /// between requests and while a received request is being answered.
    var requestStartedAt: UInt64?
    var remoteAddress: String?
    var inputCallback: OpaquePointer?
    /// Counted in the server's ConnectionSlots; false for a connection over the limit (closed at once).
    var holdsSlot = false
    /// Since when the connection has been idle (monotonic nanoseconds): accepted, or its last reply
    /// written. Which connection gives way to a newcomer when every slot is taken.
    var idleSince: UInt64 = 0

    /// No request on its way in, being answered, or streaming: closing it loses nobody's work.
    var isIdle: Bool {
        requestStartedAt == nil && pendingRequest == nil && !counted && streamConsumer == nil && !closed
    }

    // MARK: body-limit guard (see `BodyLimitGuard` below)
    enum Phase { case head, evhttp, discard, stream }
    var phase: Phase = .head
    var frozen = false
    var editing = false
    var headBytes: [UInt8] = []
    var lineStart = 0
    var searchFrom = 0
    var scan = RequestHeadScan()
    var heldHead: [UInt8] = []
    var discardRemaining: Int64 = 0
    /// The next request evhttp completes on this connection is a rewritten oversized one: answer 413.
    var nextIsOversized = false

    // MARK: streamed bodies (see RequestBodyStreaming.swift)
    var streamConsumer: (any RequestBodyConsumer)?
    var streamRemaining: Int64 = 0
    /// The finished consumer's result, for the request evhttp completes next on this connection.
    var streamedBody: (any Sendable)?

    init(bufferevent: OpaquePointer, loop: EventLoop) {
        self.bufferevent = bufferevent
        self.loop = loop
        self.input = bufferevent_get_input(bufferevent)
        headBytes.reserveCapacity(1024)
    }
}

// MARK: - BodyLimitGuard
//
// How a JSON 413 is produced with libevent 2.1.12:
//
// evhttp offers no way to look at a server request between "headers parsed" and "body read"
// (evhttp_request_set_header_cb can only be set on requests we create; evhttp_set_newreqcb is 2.2+),
// and evhttp_set_max_body_size answers with a hard-coded text/html page. So we look at the bytes
// *before* evhttp does: an evbuffer callback on the connection's input buffer runs inside
// bufferevent_readcb right after new bytes land and before evhttp's read callback parses them.
//
// * phase .head: the bytes at the front of the input buffer are the next request head. While it is
//   incomplete the buffer front is frozen (evbuffer_freeze(at_front)), so evhttp's evbuffer_readln
//   sees nothing and waits. Once the empty line arrives, RequestHeadScan decides:
//     - normal head: unfreeze, phase .evhttp; evhttp parses it as if we were not there.
//     - Content-Length above maxBodyBytes: remove the head, keep a rewritten copy
//       ("<request line>", "Content-Length: 0", the Connection semantics), phase .discard.
// * phase .discard: drain the declared body bytes as they arrive (never buffered); when the last one
//   is gone, prepend the rewritten head. evhttp then parses a bodiless request, the generic callback
//   sees `nextIsOversized` and answers with the caller's 413 response. The whole body has been read,
//   so the connection stays usable (keep-alive) or closes cleanly without a TCP reset.
//   Exceptions, answered at once with `Connection: close` instead of draining: `Expect: 100-continue`
//   (the client is waiting and will not send the body) and declared lengths above `drainLimit`.
// * phase .evhttp: evhttp owns the bytes (the rest of the head and the body). When its generic
//   callback fires, the request has been consumed entirely and the guard goes back to .head.
//
// Anything this reading is unsure about (chunked bodies, folded headers, malformed lines, heads over
// maxHeaderBytes) is passed on untouched; evhttp's own limits still apply to it.

extension Connection {
    /// Called when evhttp has consumed a whole request (generic callback) and at connection start.
    func beginHead() {
        // Bytes of the next request may already be here (pipelining): its clock starts now.
        requestStartedAt = evbuffer_get_length(input) > 0 ? monotonicNanoseconds() : nil
        guard loop.guardsBodyLimit else {
            phase = .evhttp  // libevent's own (HTML) 413 applies
            return
        }
        phase = .head
        scan = RequestHeadScan()
        if headBytes.capacity > 16 << 10 { headBytes = [] }
        headBytes.removeAll(keepingCapacity: true)
        lineStart = 0
        searchFrom = 0
        advance()
    }

    /// Input evbuffer callback body: new bytes arrived.
    func inputGrew() {
        if requestStartedAt == nil && pendingRequest == nil { requestStartedAt = monotonicNanoseconds() }
        if editing || phase == .evhttp { return }
        advance()
    }

    private func advance() {
        editing = true
        defer { editing = false }
        while true {
            switch phase {
            case .evhttp:
                return
            case .discard:
                discardAvailable()
                return
            case .stream:
                streamAvailable()
                return
            case .head:
                scanHead()
                if phase != .discard { return }
            }
        }
    }

    private func discardAvailable() {
        let available = Int64(evbuffer_get_length(input))
        let count = min(available, discardRemaining)
        if count > 0 {
            evbuffer_drain(input, Int(count))
            discardRemaining -= count
        }
        if discardRemaining == 0 {
            heldHead.withUnsafeBytes { _ = evbuffer_prepend(input, $0.baseAddress, $0.count) }
            heldHead = []
            nextIsOversized = true
            phase = .evhttp
        }
    }

    private func scanHead() {
        let length = evbuffer_get_length(input)
        let limit = min(length, loop.maxHeaderBytes + 1)
        var complete = false
        // Copy only bytes not copied before (the front is frozen, so offsets are stable), in growing
        // steps so a head followed by a large body does not copy the body: O(n) in total, even for a
        // client that trickles its head one byte at a time.
        while !complete && headBytes.count < limit {
            let old = headBytes.count
            let wanted = min(limit, max(old * 2, 1024))
            headBytes.append(contentsOf: repeatElement(0, count: wanted - old))
            let copied = headBytes.withUnsafeMutableBytes {
                copyInput(into: $0.baseAddress! + old, from: old, count: wanted - old)
            }
            if !copied {  // cannot happen; fail open
                passThrough()
                return
            }
            complete = scanCopiedLines()
        }
        if !complete {
            if length > loop.maxHeaderBytes {
                passThrough()  // evhttp rejects heads over evhttp_set_max_headers_size itself
            } else if !frozen {
                evbuffer_freeze(input, 1)
                frozen = true
            }
            return
        }
        let headLength = lineStart
        if beginStreamingIfWanted(headLength: headLength) {
            streamAvailable()
            return
        }
        if !scan.declaresBodyLonger(than: loop.maxBodyBytes) {
            passThrough()
            return
        }
        let declared = scan.contentLength ?? 0
        let answerNow = scan.expectsContinue || declared > loop.drainLimit
        let closeAfter = answerNow || scan.connection == .close
        var rewritten: [UInt8] = []
        rewritten.reserveCapacity(scan.requestLineLength + 64)
        rewritten.append(contentsOf: headBytes[0..<scan.requestLineLength])
        rewritten.append(contentsOf: "\r\nContent-Length: 0\r\n".utf8)
        if closeAfter {
            rewritten.append(contentsOf: "Connection: close\r\n".utf8)
        } else if scan.connection == .keepAlive {
            rewritten.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        rewritten.append(contentsOf: "\r\n".utf8)
        unfreeze()
        evbuffer_drain(input, headLength)
        loop.log(
            "request body of \(declared) bytes exceeds the limit of \(loop.maxBodyBytes) bytes; "
                + (answerNow ? "answering 413 and closing" : "discarding it and answering 413"))
        if answerNow {
            rewritten.withUnsafeBytes { _ = evbuffer_prepend(input, $0.baseAddress, $0.count) }
            nextIsOversized = true
            phase = .evhttp
        } else {
            heldHead = rewritten
            discardRemaining = declared
            phase = .discard
        }
    }

    /// Feeds the complete lines copied so far to `scan`; true once the empty line was seen.
    private func scanCopiedLines() -> Bool {
        headBytes.withUnsafeBufferPointer { bytes in
            while true {
                guard let lf = Self.indexOfLF(bytes, from: searchFrom) else {
                    searchFrom = bytes.count
                    return false
                }
                let line = UnsafeBufferPointer(rebasing: bytes[lineStart..<lf])
                lineStart = lf + 1
                searchFrom = lineStart
                if scan.consume(line: line) { return true }
            }
        }
    }

    private func passThrough() {
        unfreeze()
        phase = .evhttp
    }

    private func unfreeze() {
        if frozen {
            evbuffer_unfreeze(input, 1)
            frozen = false
        }
    }

    /// Copies input bytes [offset, offset + count). evbuffer_copyout refuses to read a buffer whose
    /// front is frozen, evbuffer_peek does not.
    private func copyInput(into destination: UnsafeMutableRawPointer, from offset: Int, count: Int) -> Bool {
        var position = evbuffer_ptr()
        guard evbuffer_ptr_set(input, &position, offset, EVBUFFER_PTR_SET) == 0 else { return false }
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: 8) { vectors in
            var copied = 0
            while copied < count {
                let found = Int(evbuffer_peek(input, count - copied, &position, vectors.baseAddress, 8))
                guard found > 0 else { return false }
                let before = copied
                for vector in vectors.prefix(min(found, 8)) where copied < count {
                    let take = min(vector.iov_len, count - copied)
                    if take > 0 { memcpy(destination + copied, vector.iov_base, take) }
                    copied += take
                }
                if copied < count {
                    guard copied > before, evbuffer_ptr_set(input, &position, copied - before, EVBUFFER_PTR_ADD) == 0 else {
                        return false
                    }
                }
            }
            return true
        }
    }

    private static func indexOfLF(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard start < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let hit = memchr(base + start, 0x0A, bytes.count - start) else { return nil }
        return UnsafeRawPointer(hit).assumingMemoryBound(to: UInt8.self) - base
    }
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
