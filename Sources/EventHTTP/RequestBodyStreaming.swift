internal import CLibevent
internal import Glibc

/// Lets the responder take chosen request bodies as they arrive, instead of evhttp buffering them
/// whole: an S3 PUT of 5 GiB goes to disk as it comes, with memory flat and no body limit.
///
/// The server asks `bodyConsumer(for:)` on the loop thread once a request head is complete and
/// before any body byte is read. A consumer gets every body byte (`consume`, loop thread), then
/// `finish()`, whose value reaches the responder as `HTTPRequest.streamedBody` with the request
/// (whose `body` is then empty). Returning nil leaves the request to evhttp as before (buffered,
/// `maxBodyBytes` applies). A consumer dropped without `finish` (client gone, request timed out)
/// must clean up in its deinit.
public protocol RequestBodyStreaming: Sendable {
    func bodyConsumer(for head: HTTPRequestHead) -> (any RequestBodyConsumer)?
}

/// Used on the loop thread only.
public protocol RequestBodyConsumer: AnyObject {
    func consume(_ bytes: UnsafeRawBufferPointer)
    func finish() -> any Sendable
}

/// A request head as it arrived: the request line's parts and the header fields, before evhttp
/// parses it. Only heads with a `Content-Length` and without `Transfer-Encoding` are offered.
public struct HTTPRequestHead: Sendable {
    public var method: String
    /// Without the query; not percent-decoded.
    public var path: String
    public var query: String?
    public var headers: HTTPHeaders
    public var contentLength: Int64
}

// MARK: - The stream phase of a connection (see BodyLimitGuard in Connection.swift)
//
// When the head is complete and a consumer wants its body, the head is removed from the input
// buffer and kept, rewritten without `Content-Length` (now 0), `Expect` and `Transfer-Encoding`;
// `Expect: 100-continue` is answered here, since evhttp never sees it. The body bytes are then
// handed to the consumer and drained as they arrive (phase .stream); after the last one, the
// rewritten head is put back in front of the input and evhttp parses a bodiless request, whose
// copy carries the consumer's result. While the body streams, each arriving byte counts as
// progress for the request timeout (a large upload may take longer than a small request).

extension Connection {
    /// At the end of the head: starts streaming its body if a consumer wants it. True if so.
    func beginStreamingIfWanted(headLength: Int) -> Bool {
        guard let streaming = loop.bodyStreaming, scan.clean, !scan.hasTransferEncoding, let length = scan.contentLength,
            length > 0, let parsed = Self.parseHead(headBytes[0..<headLength])
        else { return false }
        let head = HTTPRequestHead(method: parsed.method, path: parsed.path, query: parsed.query, headers: parsed.headers, contentLength: length)
        guard let consumer = streaming.bodyConsumer(for: head) else { return false }
        if frozen {
            evbuffer_unfreeze(input, 1)
            frozen = false
        }
        evbuffer_drain(input, headLength)
        heldHead = parsed.rewritten
        streamConsumer = consumer
        streamRemaining = length
        phase = .stream
        if scan.expectsContinue { sendContinue() }
        // libevent reads at most 16 KiB per callback by default: a large body would cost a loop
        // iteration (and a consumer call) per 16 KiB.
        bufferevent_set_max_single_read(bufferevent, Self.streamReadSize)
        return true
    }

    static let streamReadSize = 1 << 20

    /// `100 Continue`, written to the socket directly: evhttp keeps writing disabled while it reads
    /// a request (and only its own private callback re-disables it), so bytes queued on the
    /// bufferevent would wait. Nothing else is pending on the socket here — evhttp reads a request
    /// only once the previous reply is written — and 25 bytes fit an empty socket buffer; if they
    /// somehow do not, the client's own wait for 100 (botocore: 1 s) ends and it sends the body anyway.
    private func sendContinue() {
        let fd = bufferevent_getfd(bufferevent)
        guard fd >= 0, evbuffer_get_length(bufferevent_get_output(bufferevent)) == 0 else { return }
        let line = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
        _ = line.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
    }

    /// Phase .stream: hands the available body bytes to the consumer.
    func streamAvailable() {
        guard let consumer = streamConsumer else { return }
        var available = Int64(evbuffer_get_length(input))
        if available > 0 { requestStartedAt = monotonicNanoseconds() }
        withUnsafeTemporaryAllocation(of: iovec.self, capacity: 16) { vectors in
            while available > 0 && streamRemaining > 0 {
                let wanted = Int(min(available, streamRemaining))
                let found = Int(evbuffer_peek(input, wanted, nil, vectors.baseAddress, 16))
                guard found > 0 else { break }
                var taken = 0
                for vector in vectors.prefix(min(found, 16)) where taken < wanted {
                    let count = min(vector.iov_len, wanted - taken)
                    consumer.consume(UnsafeRawBufferPointer(start: vector.iov_base, count: count))
                    taken += count
                }
                evbuffer_drain(input, taken)
                available -= Int64(taken)
                streamRemaining -= Int64(taken)
            }
        }
        guard streamRemaining == 0 else { return }
        streamedBody = consumer.finish()
        streamConsumer = nil
        heldHead.withUnsafeBytes { _ = evbuffer_prepend(input, $0.baseAddress, $0.count) }
        heldHead = []
        phase = .evhttp
    }

    struct ParsedHead {
        var method: String
        var path: String
        var query: String?
        var headers: HTTPHeaders
        /// The head to hand evhttp once the body is consumed.
        var rewritten: [UInt8]
    }

    /// Splits a clean head (RequestHeadScan found nothing evhttp would read differently).
    static func parseHead(_ bytes: ArraySlice<UInt8>) -> ParsedHead? {
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { line -> ArraySlice<UInt8> in
            line.last == 0x0D ? line.dropLast() : line
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let requestLine = lines.first else { return nil }
        let parts = requestLine.split(separator: 0x20)
        guard parts.count == 3 else { return nil }
        let method = String(decoding: parts[0], as: UTF8.self)
        let target = String(decoding: parts[1], as: UTF8.self)
        var path = target
        var query: String?
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            query = String(target[target.index(after: mark)...])
        }
        if !path.hasPrefix("/") {  // absolute-form request target: scheme://authority/path
            let afterScheme = path.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
            path = afterScheme.count == 4 ? "/" + afterScheme[3] : "/"
        }
        var headers = HTTPHeaders(reservingCapacity: lines.count)
        var rewritten = Array(requestLine)
        rewritten.append(contentsOf: "\r\n".utf8)
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 0x3A) else { return nil }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            var value = line[(colon + 1)...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            headers.add(name: name, value: String(decoding: value, as: UTF8.self))
            let lower = name.lowercased()
            if lower == "content-length" || lower == "expect" || lower == "transfer-encoding" { continue }
            rewritten.append(contentsOf: line)
            rewritten.append(contentsOf: "\r\n".utf8)
        }
        rewritten.append(contentsOf: "Content-Length: 0\r\n\r\n".utf8)
        return ParsedHead(method: method, path: path, query: query, headers: headers, rewritten: rewritten)
    }
}
