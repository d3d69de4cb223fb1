import CZlib
import Foundation
import Synchronization
import TarFormat

#if canImport(Glibc)
import Glibc
#endif

/// gzip tarballs of a folder's contents, as SageMaker's model.tar.gz and output.tar.gz: entries
/// named relative to the folder, without a leading "./", a folder before its contents.
///
/// The folder is a container's (`/opt/ml/model`, `/opt/ml/output/data`), so it is untrusted
/// (issue 12 item 2). The server writes the archive itself (POSIX ustar, pax records for long
/// names and large files, gzip by zlib) and reaches every entry from its parent's open descriptor
/// with `openat(…, O_NOFOLLOW)` (`SafeDirectory`), never by path: a folder swapped for a link
/// after it was listed is not followed. Links are stored as links (their targets are never
/// read); FIFOs, sockets and devices are skipped and reported. The archive is written to a file
/// the server created with `O_NOFOLLOW` inside the destination folder, then renamed into place.
enum Tarball {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Partial files this process is writing, by destination folder (device:inode) and name. Two
    /// jobs can write the same artifact (the same job name and S3OutputPath in two accounts share
    /// one object store): each writes its own partial and renames it into place, and the later
    /// rename stays, as with S3's last writer. Partials not in this set are a killed server's
    /// leftovers and are removed.
    private static let partialsInUse = Mutex<Set<String>>([])
    private static let partialCounter = Atomic<Int>(0)

    /// Packs `folder` (beneath a root the caller opened) into `name` inside `destination`.
    /// `skipped` hears of every FIFO, socket or device left out.
    static func create(
        from folder: SafeDirectory, into destination: SafeDirectory, named name: String,
        skipped: (String, SafeEntryKind) -> Void = { _, _ in }
    ) throws {
        try write(into: destination, named: name) { output in
            var writer = try TarWriter(output: output)
            try writer.appendContents(of: folder, prefix: "", skipped: skipped)
            try writer.finish()
        }
    }

    /// An empty archive (a job whose folder was never made: nothing to list, nothing to open).
    /// With `template`, a recent empty archive last modified no earlier than `notBefore` is
    /// linked into place instead (EmptyArchiveTemplate), when it can be.
    /// `isNewFolder`: `destination` was made just now, so no partial file of an earlier
    /// attempt can be in it (listing it for them was a fifth of a simulated job's artifacts).
    static func createEmpty(
        into destination: SafeDirectory, named name: String, template: EmptyArchiveTemplate? = nil, notBefore: Date = .distantPast,
        isNewFolder: Bool = false
    ) throws {
        // linkat(2) never replaces: an archive already there (a retry) is replaced by `write`.
        if let template {
            if !isNewFolder { removeLeftoverPartials(in: destination, named: name, keeping: nil) }
            if template.link(into: destination.fd, named: name, notBefore: notBefore) { return }
        }
        try write(into: destination, named: name) { output in try writeAll(emptyArchive, to: output) }
    }

    /// Trusted paths on both sides (tests, server-made folders).
    static func create(from folder: URL, at destination: URL) throws {
        try create(
            from: SafeDirectory.openRoot(folder.path),
            into: SafeDirectory.openRoot(destination.deletingLastPathComponent().path, create: true),
            named: destination.lastPathComponent)
    }

    /// The bytes of an archive with no entries: the same every time (the gzip header carries no
    /// time), so they are made once.
    static let emptyArchive: [UInt8] = {
        var output: [UInt8] = []
        let deflater = try! Deflater { output.append(contentsOf: $0) }
        try! deflater.compress([UInt8](repeating: 0, count: TarWriter.recordSize), finish: true)
        return output
    }()

    /// Writes a partial file with `body`, then renames it to `name` so a reader never sees a
    /// half-written artifact.
    private static func write(into destination: SafeDirectory, named name: String, _ body: (Int32) throws -> Void) throws {
        var info = stat()
        guard fstat(destination.fd, &info) == 0 else { throw Failure(description: "cannot stat the output folder") }
        let partialPrefix = ".\(name).partial-"
        let partial = partialPrefix + "\(getpid())-\(partialCounter.wrappingAdd(1, ordering: .relaxed).oldValue)"
        let folderKey = "\(info.st_dev):\(info.st_ino)/"
        let live = partialsInUse.withLock { live in
            live.insert(folderKey + partial)
            return live
        }
        defer { _ = partialsInUse.withLock { $0.remove(folderKey + partial) } }
        removeLeftoverPartials(in: destination, named: name, keeping: live)
        let output = try destination.createFile(partial)
        do {
            defer { close(output) }
            try body(output)
            try destination.rename(partial, to: name)
        } catch {
            try? destination.remove(partial)
            throw error
        }
    }

    /// A server killed while packing leaves its partial file behind: without this, the next
    /// run's upload finished beside a stray `.model.tar.gz.partial-…` in the user's output
    /// prefix (found by `test_kill_during_uploading_finishes_the_upload`). `live` holds this
    /// process's partials in use (nil: read them here).
    private static func removeLeftoverPartials(in destination: SafeDirectory, named name: String, keeping live: Set<String>?) {
        var info = stat()
        guard fstat(destination.fd, &info) == 0 else { return }
        let folderKey = "\(info.st_dev):\(info.st_ino)/"
        let partialPrefix = ".\(name).partial-"
        let entries = ((try? destination.entries()) ?? []).filter { $0.hasPrefix(partialPrefix) }
        guard !entries.isEmpty else { return }
        let live = live ?? partialsInUse.withLock { $0 }
        for entry in entries where !live.contains(folderKey + entry) { try? destination.remove(entry) }
    }

    static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot write the archive: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    static func writeAll(_ bytes: [UInt8], to fd: Int32) throws {
        try bytes.withUnsafeBytes { try writeAll($0, to: fd) }
    }
}

/// POSIX ustar entries (pax extended headers where ustar's fields are too small), gzip-compressed
/// into a file descriptor.
private struct TarWriter {
    static let blockSize = TarHeader.blockSize
    /// GNU tar's default record (20 blocks): archives end padded to a whole record.
    static let recordSize = 20 * 512

    private let deflater: Deflater
    private var written: Int64 = 0

    init(output: Int32) throws {
        deflater = try Deflater { chunk in try chunk.withUnsafeBytes { try Tarball.writeAll($0, to: output) } }
    }

    /// Pre-order: a folder before its contents, names sorted.
    mutating func appendContents(
        of directory: SafeDirectory, prefix: String, skipped: (String, SafeEntryKind) -> Void
    ) throws {
        for entry in try directory.entries() {
            let path = prefix + entry
            var info = stat()
            guard fstatat(directory.fd, entry, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }  // gone since listed
            switch SafeEntryKind(mode: info.st_mode) {
            case .directory:
                let child: SafeDirectory
                do {
                    child = try directory.openDirectory(entry)
                } catch {
                    // Swapped for something else since it was listed.
                    skipped(path, directory.kind(of: entry) ?? .other)
                    continue
                }
                var opened = stat()
                guard fstat(child.fd, &opened) == 0 else { continue }
                try header(path + "/", type: TarHeader.directory, info: opened, size: 0)
                try appendContents(of: child, prefix: path + "/", skipped: skipped)
            case .regularFile:
                let fd: Int32
                do {
                    fd = try directory.openRegularFile(entry)
                } catch {
                    skipped(path, directory.kind(of: entry) ?? .other)
                    continue
                }
                defer { close(fd) }
                var opened = stat()
                guard fstat(fd, &opened) == 0 else { continue }
                try header(path, type: TarHeader.regularFile, info: opened, size: Int64(opened.st_size))
                try copyFile(fd, size: Int64(opened.st_size))
            case .symbolicLink:
                var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let count = readlinkat(directory.fd, entry, &target, target.count - 1)
                guard count >= 0 else { continue }
                let linkTarget = String(decoding: target[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                try header(path, type: TarHeader.symbolicLink, info: info, size: 0, linkTarget: linkTarget)
            case let kind:
                skipped(path, kind)
            }
        }
    }

    /// The two zero blocks that end an archive, padded to a whole record; flushes the gzip stream.
    mutating func finish() throws {
        var end = 2 * Self.blockSize
        let total = written + Int64(end)
        let remainder = Int(total % Int64(Self.recordSize))
        if remainder != 0 { end += Self.recordSize - remainder }
        try deflater.compress([UInt8](repeating: 0, count: end), finish: true)
    }

    private mutating func emit(_ bytes: [UInt8]) throws {
        try deflater.compress(bytes, finish: false)
        written += Int64(bytes.count)
    }

    private mutating func header(_ path: String, type: UInt8, info: stat, size: Int64, linkTarget: String = "") throws {
        var pax: [(key: String, value: String)] = []
        if path.utf8.count > 100 { pax.append(("path", path)) }
        if linkTarget.utf8.count > 100 { pax.append(("linkpath", linkTarget)) }
        if size > TarHeader.largestOctalSize { pax.append(("size", String(size))) }
        if !pax.isEmpty { try emit(TarHeader.paxEntry(for: path, records: pax)) }
        // Permission bits only: no set-id bits from a container's files. A size too large for
        // ustar is in the pax record; the field keeps the largest octal one (not base-256).
        let header = TarHeader(
            name: path, type: type, mode: Int64(info.st_mode) & 0o777, uid: Int64(info.st_uid), gid: Int64(info.st_gid),
            size: min(size, TarHeader.largestOctalSize), mtime: Int64(info.st_mtim.tv_sec), linkname: linkTarget)
        try emit(header.encode())
    }

    /// `size` bytes of the file (zeros if it shrank since its header was written, the rest cut if
    /// it grew), padded to a whole block.
    private mutating func copyFile(_ fd: Int32, size: Int64) throws {
        var remaining = size
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while remaining > 0 {
            let want = Int(min(Int64(buffer.count), remaining))
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                try emit([UInt8](repeating: 0, count: want))
                remaining -= Int64(want)
                continue
            }
            try deflater.compress(Array(buffer[0..<count]), finish: false)
            written += Int64(count)
            remaining -= Int64(count)
        }
        let padding = TarHeader.padding(for: size)
        if padding > 0 { try emit([UInt8](repeating: 0, count: padding)) }
    }
}

/// A zlib deflate stream with a gzip wrapper (no name, no time in its header), handing each
/// compressed chunk to `sink`. Used by one thread.
private final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let sink: ([UInt8]) throws -> Void
    private var output = [UInt8](repeating: 0, count: 256 * 1024)

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    init(sink: @escaping ([UInt8]) throws -> Void) throws {
        self.sink = sink
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        guard deflateInit2_(stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            // deinit frees the stream (deflateEnd refuses one that never started).
            throw Tarball.Failure(description: "cannot start gzip compression")
        }
    }

    func compress(_ input: [UInt8], finish: Bool) throws {
        var input = input
        try input.withUnsafeMutableBufferPointer { source in
            stream.pointee.next_in = source.baseAddress
            stream.pointee.avail_in = UInt32(source.count)
            while true {
                let (status, produced) = output.withUnsafeMutableBufferPointer { target in
                    stream.pointee.next_out = target.baseAddress
                    stream.pointee.avail_out = UInt32(target.count)
                    let status = deflate(stream, finish ? Z_FINISH : Z_NO_FLUSH)
                    return (status, target.count - Int(stream.pointee.avail_out))
                }
                guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                    throw Tarball.Failure(description: "gzip compression failed (\(status))")
                }
                if produced > 0 { try sink(Array(output[0..<produced])) }
                if finish ? status == Z_STREAM_END : stream.pointee.avail_in == 0 && produced < output.count { break }
            }
        }
    }
}
