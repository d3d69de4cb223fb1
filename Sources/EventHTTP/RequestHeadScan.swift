// A second, deliberately narrow reading of a request head, made before evhttp parses it, for one
// purpose only: to see a declared Content-Length above the body limit early enough to answer with the
// caller's JSON 413 (libevent 2.1.12 has no hook between "headers parsed" and "body read" for server
// requests, and its own limit answers with a fixed HTML page). See BodyLimitGuard in Connection.swift.
//
// The rules mirror evhttp 2.1.12 (http.c: evhttp_parse_request_line, evhttp_parse_http_version,
// evhttp_parse_headers_, evhttp_get_body, evhttp_get_body_length, evhttp_have_expect). Whenever this
// reading could disagree with evhttp's, the head is marked not `clean` and left to evhttp untouched,
// whose own limit (evhttp_set_max_body_size) then still applies.

struct RequestHeadScan {
    enum ConnectionToken { case none, close, keepAlive }

    private(set) var linesSeen = 0
    /// Length of the request line (without its line ending); it starts at offset 0 of the head.
    private(set) var requestLineLength = 0
    /// False when this reading might differ from evhttp's (the head is then passed on untouched).
    private(set) var clean = true
    /// The method is one evhttp reads a body for (GET POST PUT DELETE OPTIONS CONNECT PATCH).
    private(set) var methodMayHaveBody = false
    private(set) var atLeastHTTP11 = false
    /// First Content-Length value as evhttp would read it (saturating like strtoll); nil if absent.
    private(set) var contentLength: Int64?
    private(set) var hasTransferEncoding = false
    /// `Expect: 100-continue` on an HTTP/1.1 request (evhttp would send "100 Continue").
    private(set) var expectsContinue = false
    private(set) var connection: ConnectionToken = .none

    private var sawContentLength = false
    private var sawExpect = false
    private var sawConnection = false

    /// Feeds one line (without its LF; a trailing CR is stripped here, as EVBUFFER_EOL_CRLF does).
    /// Returns true when the line was the empty line that ends the head.
    mutating func consume(line raw: UnsafeBufferPointer<UInt8>) -> Bool {
        var line = raw
        if let last = line.last, last == 0x0D { line = UnsafeBufferPointer(rebasing: line.dropLast()) }
        defer { linesSeen += 1 }
        if line.isEmpty {
            if linesSeen == 0 { clean = false }  // evhttp rejects an empty request line
            return linesSeen > 0
        }
        if line.contains(0) { clean = false }  // evhttp works on C strings; do not second-guess it
        if linesSeen == 0 {
            requestLineLength = line.count
            parseRequestLine(line)
            return false
        }
        if line[0] == 0x20 || line[0] == 0x09 {
            clean = false  // obsolete line folding: evhttp appends to the previous header
            return false
        }
        guard let colon = line.firstIndex(of: 0x3A) else {
            clean = false  // evhttp fails the request
            return false
        }
        let name = UnsafeBufferPointer(rebasing: line[..<colon])
        let value = Self.evhttpValue(UnsafeBufferPointer(rebasing: line[(colon + 1)...]))
        if Self.equalsIgnoringCase(name, "content-length") {
            if !sawContentLength {
                sawContentLength = true
                contentLength = Self.parseContentLength(value)
                if contentLength == nil { clean = false }
            }
        } else if Self.equalsIgnoringCase(name, "transfer-encoding") {
            hasTransferEncoding = true
        } else if Self.equalsIgnoringCase(name, "expect") {
            if !sawExpect {
                sawExpect = true
                expectsContinue = atLeastHTTP11 && Self.equalsIgnoringCase(value, "100-continue")
            }
        } else if Self.equalsIgnoringCase(name, "connection") {
            if !sawConnection {
                sawConnection = true
                if Self.equalsIgnoringCase(value, "close") {
                    connection = .close
                } else if value.count >= 10, Self.equalsIgnoringCase(UnsafeBufferPointer(rebasing: value[..<10]), "keep-alive") {
                    connection = .keepAlive
                }
            }
        }
        return false
    }

    /// True when evhttp would read a body longer than `limit` declared by Content-Length.
    func declaresBodyLonger(than limit: Int) -> Bool {
        guard clean, methodMayHaveBody, !hasTransferEncoding, let length = contentLength else { return false }
        return length > Int64(limit)
    }

    // MARK: - evhttp's rules

    private mutating func parseRequestLine(_ line: UnsafeBufferPointer<UInt8>) {
        // evhttp trims trailing spaces, needs "METHOD URI VERSION" and at least 14 bytes.
        var end = line.count
        while end > 0 && line[end - 1] == 0x20 { end -= 1 }
        let trimmed = UnsafeBufferPointer(rebasing: line[..<end])
        guard trimmed.count >= 14,
            let firstSpace = trimmed.firstIndex(of: 0x20),
            let lastSpace = trimmed.lastIndex(of: 0x20), lastSpace > firstSpace
        else {
            clean = false
            return
        }
        let method = UnsafeBufferPointer(rebasing: trimmed[..<firstSpace])
        methodMayHaveBody = Self.bodyMethods.contains { Self.equalsExactly(method, $0) }
        let version = UnsafeBufferPointer(rebasing: trimmed[(lastSpace + 1)...])
        guard let (major, minor) = Self.parseVersion(version) else {
            clean = false
            return
        }
        atLeastHTTP11 = major == 1 && minor >= 1
    }

    /// Methods evhttp reads a body for (evhttp_method_may_have_body); method names are case-sensitive there.
    private static let bodyMethods: [StaticString] = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH"]

    /// sscanf(version, "HTTP/%d.%d%c") == 2 && major <= 1, for the plain digit forms clients send.
    static func parseVersion(_ version: UnsafeBufferPointer<UInt8>) -> (Int, Int)? {
        guard version.count >= 8, equalsExactly(UnsafeBufferPointer(rebasing: version[..<5]), "HTTP/") else { return nil }
        let rest = UnsafeBufferPointer(rebasing: version[5...])
        guard let dot = rest.firstIndex(of: 0x2E) else { return nil }
        guard let major = smallNumber(UnsafeBufferPointer(rebasing: rest[..<dot])),
            let minor = smallNumber(UnsafeBufferPointer(rebasing: rest[(dot + 1)...])), major <= 1
        else { return nil }
        return (major, minor)
    }

    private static func smallNumber(_ digits: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 4 else { return nil }
        var value = 0
        for byte in digits {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    /// The value evhttp stores: leading spaces (only ' ') skipped, trailing spaces and tabs trimmed.
    static func evhttpValue(_ raw: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var start = 0
        var end = raw.count
        while start < end && raw[start] == 0x20 { start += 1 }
        while end > start && (raw[end - 1] == 0x20 || raw[end - 1] == 0x09) { end -= 1 }
        return UnsafeBufferPointer(rebasing: raw[start..<end])
    }

    /// evhttp_get_body_length: strtoll(value, &end, 10) must consume everything and not be negative.
    /// strtoll skips leading isspace, takes an optional sign, and saturates on overflow.
    static func parseContentLength(_ value: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !value.isEmpty else { return nil }
        var index = 0
        while index < value.count, value[index] == 0x20 || (value[index] >= 0x09 && value[index] <= 0x0D) { index += 1 }
        var negative = false
        if index < value.count, value[index] == 0x2B || value[index] == 0x2D {
            negative = value[index] == 0x2D
            index += 1
        }
        let digitsStart = index
        var magnitude: Int64 = 0
        var saturated = false
        while index < value.count, value[index] >= 0x30 && value[index] <= 0x39 {
            let digit = Int64(value[index] - 0x30)
            if !saturated {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(digit)
                if o1 || o2 { saturated = true } else { magnitude = sum }
            }
            index += 1
        }
        guard index > digitsStart, index == value.count else { return nil }
        if saturated { return negative ? nil : Int64.max }
        if negative { return magnitude == 0 ? 0 : nil }
        return magnitude
    }

    static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ lowercased: StaticString) -> Bool {
        guard bytes.count == lowercased.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: lowercased.utf8Start, count: lowercased.utf8CodeUnitCount)
        for index in 0..<bytes.count where asciiLower(bytes[index]) != expected[index] {
            return false
        }
        return true
    }

    static func equalsExactly(_ bytes: UnsafeBufferPointer<UInt8>, _ text: StaticString) -> Bool {
        bytes.elementsEqual(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}
