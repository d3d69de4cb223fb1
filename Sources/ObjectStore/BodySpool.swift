import Crypto
internal import Glibc
internal import Synchronization

/// A request body being written to a temporary file beside the buckets (same file system, so it
/// moves into place with one rename), hashed as it goes: MD5 for the ETag, SHA-256 when the
/// signature covers the payload, and any S3 checksum the client declared. Never holds the body in
/// memory, so a 5 GiB PUT costs the same RSS as a 4 KiB one.
///
/// `@unchecked Sendable`: used by one thread at a time (the loop thread while a body streams in,
/// then the request's handler); the hand-over is ordered by the request queue's lock.
public final class BodySpool: @unchecked Sendable {
    let directory: Int32
    let name: String
    private var fd: Int32
    private var md5 = Insecure.MD5()
    private var sha256: SHA256?
    private var checksums: [RunningChecksum]
    public private(set) var size: Int64 = 0
    private var failed: Int32?
    private var finished = false

    init(directory: Int32, name: String, fd: Int32, hashSHA256: Bool, checksums: [ChecksumAlgorithm]) {
        self.directory = directory
        self.name = name
        self.fd = fd
        self.sha256 = hashSHA256 ? SHA256() : nil
        self.checksums = checksums.map(RunningChecksum.init)
    }

    /// Small pieces (a streamed body arrives in socket-sized ones) are gathered here and written
    /// 256 KiB at a time.
    private var pending: UnsafeMutableRawBufferPointer?
    private var pendingCount = 0
    static let pendingCapacity = 256 << 10

    deinit {
        pending?.deallocate()
        if !finished {
            if fd >= 0 { close(fd) }
            unlinkat(directory, name, 0)
        }
    }

    /// Appends bytes; after a write error the rest is ignored and `finish` throws.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard failed == nil, bytes.count > 0 else { return }
        md5.update(bufferPointer: bytes)
        sha256?.update(bufferPointer: bytes)
        for index in checksums.indices { checksums[index].update(bytes) }
        size += Int64(bytes.count)
        if pending == nil && size > Int64(bytes.count) {
            pending = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.pendingCapacity, alignment: 16)
        }
        guard let pending, bytes.count < Self.pendingCapacity else {
            flush()
            if failed == nil && !writeAll(fd, bytes) { failed = errno }
            return
        }
        if pendingCount + bytes.count > Self.pendingCapacity { flush() }
        (pending.baseAddress! + pendingCount).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        pendingCount += bytes.count
    }

    private func flush() {
        guard let pending, pendingCount > 0, failed == nil else { return }
        if !writeAll(fd, UnsafeRawBufferPointer(rebasing: pending[0..<pendingCount])) { failed = errno }
        pendingCount = 0
    }

    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Closes the file; the result owns it (and removes it unless it is committed).
    public func finish() throws(S3Error) -> SpooledBody {
        flush()
        finished = true
        let error = failed
        var info = stat()
        let statted = fstat(fd, &info) == 0
        close(fd)
        fd = -1
        if let error {
            unlinkat(directory, name, 0)
            throw .internalError("Could not store the request body: \(systemErrorText(error)).")
        }
        guard statted else {
            unlinkat(directory, name, 0)
            throw .internalError("Could not store the request body.")
        }
        var sums: [ChecksumAlgorithm: String] = [:]
        for checksum in checksums { sums[checksum.algorithm] = checksum.base64() }
        return SpooledBody(
            directory: directory, name: name, size: size, md5: Array(md5.finalize()),
            sha256: sha256.map { Array($0.finalize()).hexString }, checksums: sums,
            mtimeNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }
}

/// A body stored in full in a temporary file, with its digests. Removes the file when dropped
/// unless `ObjectStore` moved it into place.
public final class SpooledBody: Sendable {
    let directory: Int32
    let name: String
    public let size: Int64
    public let md5: [UInt8]
    /// Hex SHA-256, when it was computed.
    public let sha256: String?
    /// Base64 digests of the checksums asked for.
    public let checksums: [ChecksumAlgorithm: String]
    let mtimeNanoseconds: Int64
    private let consumed = Atomic<Bool>(false)

    init(
        directory: Int32, name: String, size: Int64, md5: [UInt8], sha256: String?, checksums: [ChecksumAlgorithm: String],
        mtimeNanoseconds: Int64
    ) {
        self.directory = directory
        self.name = name
        self.size = size
        self.md5 = md5
        self.sha256 = sha256
        self.checksums = checksums
        self.mtimeNanoseconds = mtimeNanoseconds
    }

    deinit {
        if !consumed.load(ordering: .acquiring) { unlinkat(directory, name, 0) }
    }

    /// Marks the file as moved away (it must not be removed any more). False if already taken.
    func take() -> Bool {
        !consumed.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// Opens the spooled bytes for reading (e.g. to verify a signature chunk by chunk).
    func openForReading() -> Int32 {
        openat(directory, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
    }

    public var etag: String { md5.hexString }
}

extension ObjectStore {
    /// The spooled bytes in memory (small request documents only); the spool stays usable.
    public func readAll(_ body: SpooledBody) throws(S3Error) -> [UInt8] {
        let fd = body.openForReading()
        guard fd >= 0 else { throw .internalError("Could not read the request body.") }
        defer { close(fd) }
        guard let bytes = Self.read(fd, offset: 0, length: Int(body.size)) else {
            throw .internalError("Could not read the request body.")
        }
        return bytes
    }
}
