// Public value types of EventHTTP. Nothing here touches libevent: these are what the rest of
// Trainyard codes against, and they are all plain Sendable values.

/// HTTP header fields in arrival order. Lookups are ASCII case-insensitive; duplicates are kept.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public typealias Element = (name: String, value: String)

    var storage: [(name: String, value: String)]

    public init(_ pairs: [(String, String)] = []) {
        storage = pairs.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    init(reservingCapacity capacity: Int) {
        storage = []
        storage.reserveCapacity(capacity)
    }

    /// The first value for `name` (case-insensitive), or nil.
    public subscript(name: String) -> String? {
        for field in storage where asciiCaseInsensitiveEquals(field.name, name) {
            return field.value
        }
        return nil
    }

    /// Every value for `name` (case-insensitive), in order.
    public func values(name: String) -> [String] {
        storage.filter { asciiCaseInsensitiveEquals($0.name, name) }.map(\.value)
    }

    /// Appends a field, keeping any existing field of the same name.
    public mutating func add(name: String, value: String) {
        storage.append((name: name, value: value))
    }

    /// Replaces the first field named `name` (case-insensitive) and removes the others; appends if absent.
    public mutating func replaceOrAdd(name: String, value: String) {
        guard let first = storage.firstIndex(where: { asciiCaseInsensitiveEquals($0.name, name) }) else {
            storage.append((name: name, value: value))
            return
        }
        storage[first] = (name: name, value: value)
        var index = storage.index(after: first)
        while index < storage.endIndex {
            if asciiCaseInsensitiveEquals(storage[index].name, name) {
                storage.remove(at: index)
            } else {
                index = storage.index(after: index)
            }
        }
    }

    /// Removes every field named `name` (case-insensitive).
    public mutating func remove(name: String) {
        storage.removeAll { asciiCaseInsensitiveEquals($0.name, name) }
    }

    public func contains(name: String) -> Bool { self[name] != nil }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        storage.makeIterator()
    }

    public var description: String {
        storage.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }
}

/// A request as copied out of libevent on the loop thread: no C pointer survives in it.
public struct HTTPRequest: Sendable {
    public var method: String
    /// URI path without the query; percent-decoding is NOT applied.
    public var path: String
    /// Raw query string (without "?"), if the URI had one.
    public var query: String?
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// "127.0.0.1:54321" (IPv6 peers: "[::1]:54321").
    public var remoteAddress: String
    /// The body as a `RequestBodyStreaming` consumer took it in while it arrived (then `body` is
    /// empty); nil for bodies buffered in `body`.
    public var streamedBody: (any Sendable)? = nil

    public init(
        method: String, path: String, query: String? = nil, headers: HTTPHeaders = .init(), body: [UInt8] = [],
        remoteAddress: String = ""
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Sent as given, except `Content-Length` and `Transfer-Encoding`: the server frames the body itself.
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// When set, the body is this file region and `body` is ignored (HEAD: only its length is sent).
    public var file: FileBody?

    public init(status: Int, headers: HTTPHeaders = .init(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int, headers: HTTPHeaders = .init(), file: FileBody) {
        self.status = status
        self.headers = headers
        self.body = []
        self.file = file
    }
}

public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest) async -> HTTPResponse

    /// An answer computed right away on the loop thread, or nil to have `respond(to:)` run on the
    /// Swift pool. Only for requests whose work is small and bounded and never waits on a lock held
    /// across I/O: every other connection waits while it runs. Saves two thread hand-offs per
    /// request (measured: DescribeTrainingJob at 64 connections, README Benchmarks).
    func respondOnLoopThread(to request: HTTPRequest) -> HTTPResponse?
}

extension HTTPResponder {
    public func respondOnLoopThread(to request: HTTPRequest) -> HTTPResponse? { nil }
}

public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}

/// ASCII case-insensitive equality without allocating (header names are ASCII tokens).
func asciiCaseInsensitiveEquals(_ lhs: String, _ rhs: String) -> Bool {
    var left = lhs.utf8.makeIterator()
    var right = rhs.utf8.makeIterator()
    while true {
        switch (left.next(), right.next()) {
        case (nil, nil):
            return true
        case let (l?, r?):
            if l != r && asciiLower(l) != asciiLower(r) { return false }
        default:
            return false
        }
    }
}

func asciiLower(_ byte: UInt8) -> UInt8 {
    byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
}
