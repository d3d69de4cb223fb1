internal import CCurl
import Foundation
import Synchronization

/// libcurl's process-wide setup. `curl_global_init` must run once before any other curl call and
/// is not thread-safe in every libcurl build; a Swift global is initialised exactly once, under a
/// lock, on first use, which gives us both.
private let curlGlobalInitResult: CURLcode = curl_global_init(Int(CURL_GLOBAL_ALL))

/// One libcurl easy handle (`CURL *`).
///
/// A handle is not thread-safe, so at any moment exactly one owner holds it: the idle list of an
/// `EasyHandlePool` (under its mutex) or the single thread that checked it out and runs a transfer
/// on it. `@unchecked Sendable` only lets it move between those owners; nothing uses it from two
/// threads at once.
struct EasyHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
}

/// Keeps a few idle easy handles so that sequential requests reuse them. A handle keeps its
/// connection cache across `curl_easy_reset`, so reusing handles also reuses keep-alive
/// connections to the engine instead of opening a new socket per request.
final class EasyHandlePool: Sendable {
    private let idle = Mutex<[EasyHandle]>([])
    private let maxIdle: Int

    init(maxIdle: Int) {
        self.maxIdle = maxIdle
        _ = curlGlobalInitResult
    }

    deinit {
        for handle in idle.withLock({ $0 }) {
            curl_easy_cleanup(handle.raw)
        }
    }

    func checkOut() -> EasyHandle? {
        if let handle = idle.withLock({ $0.popLast() }) {
            return handle
        }
        return curl_easy_init().map(EasyHandle.init(raw:))
    }

    /// Returns a handle after its transfer. `reuse: false` (a transfer that was aborted or
    /// failed) closes it: its connection may be half-used.
    func checkIn(_ handle: EasyHandle, reuse: Bool) {
        if reuse {
            // Back to default options; live connections stay in the handle's cache.
            curl_easy_reset(handle.raw)
            let kept = idle.withLock { handles -> Bool in
                guard handles.count < maxIdle else { return false }
                handles.append(handle)
                return true
            }
            if kept { return }
        }
        curl_easy_cleanup(handle.raw)
    }
}

/// Set from any thread (task cancellation, a consumer that went away); polled by the transfer
/// thread in libcurl's progress callback, which then aborts the transfer.
final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func cancel() { flag.store(true, ordering: .releasing) }
    var isCancelled: Bool { flag.load(ordering: .acquiring) }
}

/// Receives a response body as it arrives, on the transfer's thread.
protocol ResponseSink: AnyObject {
    /// `status` is the HTTP status of the response the bytes belong to. Returns false to abort
    /// the transfer.
    func receive(_ bytes: UnsafeRawBufferPointer, status: Int) -> Bool
}

/// Collects the whole body: for the small JSON answers of everything but logs.
final class BufferSink: ResponseSink {
    private(set) var data = Data()
    func receive(_ bytes: UnsafeRawBufferPointer, status: Int) -> Bool {
        data.append(contentsOf: bytes)
        return true
    }
}

struct CurlRequest: Sendable {
    enum Method: String, Sendable { case get = "GET", post = "POST", delete = "DELETE" }
    var method: Method
    /// Full URL; the host part is ignored for a unix socket but sent as the Host header.
    var url: String
    /// A JSON body (POST only). A POST without one sends an empty body.
    var jsonBody: Data?
    /// 0 for no limit: waits and followed logs last as long as the container.
    var timeoutMilliseconds: Int
    /// Extra header lines, `Name: value` (X-Registry-Auth for pulls and pushes).
    var headers: [String] = []
}

enum CurlOutcome: Sendable {
    /// The engine answered (any HTTP status); `newConnection` is false when a kept-alive
    /// connection was reused.
    case response(status: Int, newConnection: Bool)
    /// The transfer failed before or while talking to the engine.
    case failed(String)
    /// Aborted through the cancellation flag.
    case cancelled
}

/// State one transfer shares with libcurl's C callbacks, passed to them as an unretained pointer
/// (see `CurlTransport.perform`). Only the transfer's thread touches it.
private final class TransferContext {
    let handle: UnsafeMutableRawPointer
    let sink: any ResponseSink
    let cancellation: CancellationFlag
    private var status: Int?

    init(handle: UnsafeMutableRawPointer, sink: any ResponseSink, cancellation: CancellationFlag) {
        self.handle = handle
        self.sink = sink
        self.cancellation = cancellation
    }

    func deliver(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if cancellation.isCancelled { return false }
        // Body bytes arrive only after the status line and headers, so the code is known here.
        let code: Int
        if let status {
            code = status
        } else {
            var value = 0
            _ = trainyard_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &value)
            status = value
            code = value
        }
        return sink.receive(bytes, status: code)
    }
}

/// CURLOPT_WRITEFUNCTION. Returning anything but `size * nmemb` makes libcurl abort the transfer.
private let writeCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    pointer, size, count, userData in
    guard let userData else { return 0 }
    // Unretained: paired with `passUnretained` in `perform`, which keeps the context alive (by
    // `withExtendedLifetime`) for the whole of `curl_easy_perform`, the only time this runs.
    let context = Unmanaged<TransferContext>.fromOpaque(userData).takeUnretainedValue()
    let length = size * count
    return context.deliver(UnsafeRawBufferPointer(start: pointer, count: length)) ? length : 0
}

/// CURLOPT_XFERINFOFUNCTION: libcurl calls it often during a transfer and about once a second
/// while nothing flows, which bounds how long a cancelled wait or followed log keeps running.
private let progressCallback: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> Int32 = {
    userData, _, _, _, _ in
    guard let userData else { return 0 }
    // Unretained: same pairing and lifetime as in `writeCallback`.
    let context = Unmanaged<TransferContext>.fromOpaque(userData).takeUnretainedValue()
    return context.cancellation.isCancelled ? 1 : 0
}

/// Blocking HTTP over the engine's unix socket. Every method here blocks its calling thread for
/// the length of the transfer, so it is called only from threads that `DockerClient` starts for
/// that purpose, never from the Swift concurrency pool.
final class CurlTransport: Sendable {
    let socketPath: String
    let connectTimeoutMilliseconds: Int
    private let pool = EasyHandlePool(maxIdle: 4)

    init(socketPath: String, connectTimeoutMilliseconds: Int = 5_000) {
        self.socketPath = socketPath
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
    }

    func perform(_ request: CurlRequest, sink: any ResponseSink, cancellation: CancellationFlag) -> CurlOutcome {
        if cancellation.isCancelled { return .cancelled }
        guard curlGlobalInitResult == CURLE_OK else {
            return .failed("libcurl failed to initialise (\(describe(curlGlobalInitResult)))")
        }
        guard let handle = pool.checkOut() else { return .failed("curl_easy_init failed") }
        let h = handle.raw

        var headers: UnsafeMutablePointer<curl_slist>?
        // The engine rejects a JSON body without this type; an empty POST must not carry curl's
        // default form type either ("Content-Type:" with no value removes the header).
        headers = curl_slist_append(headers, request.jsonBody != nil ? "Content-Type: application/json" : "Content-Type:")
        // No "Expect: 100-continue" round trip for larger bodies.
        headers = curl_slist_append(headers, "Expect:")
        for line in request.headers { headers = curl_slist_append(headers, line) }
        // The list must outlive curl_easy_perform. Defers run last-declared first, so the handle
        // is reset (forgetting the list) before the list is freed.
        defer { curl_slist_free_all(headers) }
        var reuse = false
        defer { pool.checkIn(handle, reuse: reuse) }

        _ = trainyard_curl_setopt_string(h, CURLOPT_URL, request.url)
        _ = trainyard_curl_setopt_string(h, CURLOPT_UNIX_SOCKET_PATH, socketPath)
        // No signals from libcurl: it runs on threads that are not the process's main thread.
        _ = trainyard_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        _ = trainyard_curl_setopt_long(h, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        _ = trainyard_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMilliseconds)
        _ = trainyard_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds)
        _ = trainyard_curl_setopt_slist(h, CURLOPT_HTTPHEADER, headers)
        switch request.method {
        case .get:
            _ = trainyard_curl_setopt_long(h, CURLOPT_HTTPGET, 1)
        case .delete:
            _ = trainyard_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, "DELETE")
        case .post:
            _ = trainyard_curl_setopt_long(h, CURLOPT_POST, 1)
            let body = request.jsonBody ?? Data()
            // The size first, then COPYPOSTFIELDS, which copies that many bytes into the handle:
            // the Swift buffer need not outlive this call.
            _ = trainyard_curl_setopt_long(h, CURLOPT_POSTFIELDSIZE, body.count)
            if body.isEmpty {
                _ = trainyard_curl_setopt_string(h, CURLOPT_COPYPOSTFIELDS, "")
            } else {
                body.withUnsafeBytes { bytes in
                    _ = trainyard_curl_setopt_pointer(h, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                }
            }
        }

        let context = TransferContext(handle: h, sink: sink, cancellation: cancellation)
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = withExtendedLifetime(context) {
            // Unretained on purpose: `withExtendedLifetime` keeps `context` alive until
            // curl_easy_perform has returned, and the callbacks (the only users of the pointer)
            // run only inside it. The handle is reset before it is reused, dropping the pointer.
            let contextPointer = Unmanaged.passUnretained(context).toOpaque()
            _ = trainyard_curl_setopt_write_callback(h, writeCallback)
            _ = trainyard_curl_setopt_pointer(h, CURLOPT_WRITEDATA, contextPointer)
            _ = trainyard_curl_setopt_long(h, CURLOPT_NOPROGRESS, 0)
            _ = trainyard_curl_setopt_xferinfo_callback(h, progressCallback)
            _ = trainyard_curl_setopt_pointer(h, CURLOPT_XFERINFODATA, contextPointer)
            return errorBuffer.withUnsafeMutableBufferPointer { buffer in
                _ = trainyard_curl_setopt_pointer(h, CURLOPT_ERRORBUFFER, buffer.baseAddress)
                let code = curl_easy_perform(h)
                // The buffer's address is only valid inside this closure.
                _ = trainyard_curl_setopt_pointer(h, CURLOPT_ERRORBUFFER, nil)
                return code
            }
        }

        if code == CURLE_OK {
            var status = 0
            _ = trainyard_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
            var connects = 0
            _ = trainyard_curl_getinfo_long(h, CURLINFO_NUM_CONNECTS, &connects)
            reuse = true
            return .response(status: status, newConnection: connects > 0)
        }
        if cancellation.isCancelled && (code == CURLE_ABORTED_BY_CALLBACK || code == CURLE_WRITE_ERROR) {
            return .cancelled
        }
        var message = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if message.isEmpty { message = describe(code) }
        var osErrno = 0
        if trainyard_curl_getinfo_long(h, CURLINFO_OS_ERRNO, &osErrno) == CURLE_OK, osErrno != 0 {
            message += " (\(String(cString: strerror(Int32(osErrno)))))"
        }
        return .failed(message)
    }

    private func describe(_ code: CURLcode) -> String {
        String(cString: curl_easy_strerror(code))
    }
}
