import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.1 server on a unix socket that answers like an engine we cannot run here
/// (a newer one, a wedged one). Each request's method and path go to `respond`, which returns
/// the status and JSON body, or nil to never answer.
///
/// `@unchecked Sendable`: `requests` and `connections` are only touched under `lock`; the
/// listening descriptor is set once in init and only closed by `stop`.
final class FakeEngine: @unchecked Sendable {
    let path: String
    private let listener: Int32
    private let respond: @Sendable (_ method: String, _ path: String) -> (status: Int, body: String)?
    private let lock = NSLock()
    private var requestLines: [String] = []
    private var connections: [Int32] = []

    var requests: [String] { lock.withLock { requestLines } }

    init(respond: @escaping @Sendable (_ method: String, _ path: String) -> (status: Int, body: String)?) throws {
        self.respond = respond
        path = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-fake-\(UUID().uuidString.prefix(8)).sock").path
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            let bytes = Array(path.utf8.prefix(buffer.count - 1))
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else {
            close(listener)
            throw POSIXError(.EADDRINUSE)
        }
        let thread = Thread { [self] in
            acceptLoop()
            acceptLoopEnded.signal()
        }
        thread.start()
    }

    /// Closing a descriptor another thread still uses lets the number be reused by an unrelated
    /// socket of the same test process (another test's server), which that thread would then
    /// accept on or shut down. So: wake the accept loop with shutdown, wait for it to end, then
    /// close; and shut down only connections still open (each is removed under the lock before
    /// its own thread closes it).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        acceptLoopEnded.wait()
        close(listener)
        lock.withLock {
            for connection in connections { shutdown(connection, Int32(SHUT_RDWR)) }
        }
        unlink(path)
    }

    private let acceptLoopEnded = DispatchSemaphore(value: 0)

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            lock.withLock { connections.append(connection) }
            Thread { [self] in serve(connection) }.start()
        }
    }

    private func serve(_ connection: Int32) {
        defer {
            lock.withLock { connections.removeAll { $0 == connection } }
            close(connection)
        }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            // Read one request head (and its body, by Content-Length).
            var headEnd: Int?
            while headEnd == nil {
                if let range = Self.find([13, 10, 13, 10], in: buffer) {
                    headEnd = range
                    break
                }
                let count = read(connection, &chunk, chunk.count)
                guard count > 0 else { return }
                buffer.append(contentsOf: chunk[0..<count])
            }
            let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
            let lines = head.components(separatedBy: "\r\n")
            let requestLine = lines[0].split(separator: " ")
            let length = lines.dropFirst()
                .first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            while buffer.count < headEnd! + 4 + length {
                let count = read(connection, &chunk, chunk.count)
                guard count > 0 else { return }
                buffer.append(contentsOf: chunk[0..<count])
            }
            buffer.removeFirst(headEnd! + 4 + length)
            let method = String(requestLine[0])
            let target = String(requestLine[1])
            lock.withLock { requestLines.append("\(method) \(target)") }
            guard let (status, body) = respond(method, target) else {
                // A wedged engine: hold the connection, say nothing.
                while read(connection, &chunk, chunk.count) > 0 {}
                return
            }
            let response = "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let bytes = Array(response.utf8)
            guard bytes.withUnsafeBytes({ write(connection, $0.baseAddress, $0.count) }) == bytes.count else { return }
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<start + needle.count].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
