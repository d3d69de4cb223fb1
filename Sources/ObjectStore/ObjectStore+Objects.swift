internal import Crypto
import Foundation
internal import Glibc
internal import SQLite

/// An object opened for reading: its metadata and a descriptor the caller owns (closes, or hands
/// on to be sent with sendfile).
public struct OpenedObject: Sendable {
    public var info: ObjectInfo
    public var fd: Int32
}

extension ObjectStore {
    // MARK: - Writing

    /// PutObject: moves the spooled body to `<bucket>/<key>` (atomically replacing an older object)
    /// and records its metadata. Refuses, without touching anything, a key whose folder path is
    /// blocked: a parent part that is an object (`a` when writing `a/b`), or a key that is a folder
    /// of other objects (`a` when `a/b` exists).
    public func putObject(
        bucket: String, key: ObjectKey, body: SpooledBody, attributes: ObjectAttributes, etag: String? = nil
    ) throws(S3Error) -> ObjectInfo {
        guard body.take() else { throw .internalError("The request body was already used.") }
        let parent: Int32
        switch root.openDirectory([bucket] + key.parentComponents, create: true) {
        case .success(let fd):
            parent = fd
        case .failure(let failure):
            unlinkat(body.directory, body.name, 0)
            throw conflict(failure, key: key)
        }
        defer { close(parent) }
        if renameat(body.directory, body.name, parent, key.leaf) != 0 {
            let error = errno
            unlinkat(body.directory, body.name, 0)
            if error == EISDIR || error == ENOTEMPTY || error == EEXIST {
                throw Self.folderConflict(key)
            }
            throw .internalError("Could not store \(key.key): \(systemErrorText(error)).")
        }
        let info = ObjectInfo(
            key: key.key, size: body.size, etag: etag ?? body.etag, modifiedNanoseconds: body.mtimeNanoseconds,
            contentType: attributes.contentType, headers: attributes.headers, checksums: attributes.checksums)
        try saveRow(bucket: bucket, info)
        return info
    }

    /// Refuses a key the folder cannot hold right now (see `putObject`), before any work is done.
    public func checkWritable(bucket: String, key: ObjectKey) throws(S3Error) {
        switch root.openDirectory([bucket] + key.parentComponents, create: false) {
        case .success(let parent):
            defer { close(parent) }
            if let info = RootedDirectory.stat(parent, key.leaf), (info.st_mode & S_IFMT) == S_IFDIR {
                throw Self.folderConflict(key)
            }
        case .failure(let failure):
            if case .notADirectory = failure { throw conflict(failure, key: key) }
        }
    }

    func conflict(_ failure: RootedDirectory.WalkFailure, key: ObjectKey) -> S3Error {
        switch failure {
        case .notADirectory(let index) where index >= 1:
            let blocking = key.components[0..<index].joined(separator: "/")
            return .invalidArgument(
                "Trainyard stores objects as files: '\(key.key)' cannot be stored because '\(blocking)' is an object, and a key cannot be both an object and a folder of other keys.",
                name: "key", value: key.key)
        case .notADirectory, .missing:
            return .internalError("The bucket's folder is missing or is not a folder.")
        case .system(let error):
            return .internalError("Could not create the folders of \(key.key): \(systemErrorText(error)).")
        }
    }

    static func folderConflict(_ key: ObjectKey) -> S3Error {
        .invalidArgument(
            "Trainyard stores objects as files: '\(key.key)' cannot be stored because objects exist below '\(key.key)/', and a key cannot be both an object and a folder of other keys.",
            name: "key", value: key.key)
    }

    func saveRow(bucket: String, _ info: ObjectInfo) throws(S3Error) {
        let headers = JSONStrings.encode(info.headers)
        let checksums = JSONStrings.encode(info.checksums)
        try withDatabase { db throws(S3Error) in
            try db.run(
                """
                INSERT INTO s3_objects (bucket, key, size_bytes, mtime_ns, etag, content_type, headers_json, checksums_json)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (bucket, key) DO UPDATE SET size_bytes = excluded.size_bytes, mtime_ns = excluded.mtime_ns,
                    etag = excluded.etag, content_type = excluded.content_type, headers_json = excluded.headers_json,
                    checksums_json = excluded.checksums_json
                """,
                [bucket, info.key, info.size, info.modifiedNanoseconds, info.etag, info.contentType, headers, checksums])
        }
    }

    // MARK: - Reading

    /// HeadObject / GetObject: the object's metadata and an open descriptor.
    public func openObject(bucket: String, key: ObjectKey) throws(S3Error) -> OpenedObject {
        guard case .success(let parent) = root.openDirectory([bucket] + key.parentComponents, create: false) else {
            throw .noSuchKey(key.key)
        }
        defer { close(parent) }
        guard let (fd, stat) = RootedDirectory.openRegularFile(parent, key.leaf) else { throw .noSuchKey(key.key) }
        do {
            let info = try metadata(bucket: bucket, key: key.key, stat: stat, fd: fd)
            return OpenedObject(info: info, fd: fd)
        } catch {
            close(fd)
            throw error
        }
    }

    public func headObject(bucket: String, key: ObjectKey) throws(S3Error) -> ObjectInfo {
        let opened = try openObject(bucket: bucket, key: key)
        close(opened.fd)
        return opened.info
    }

    /// The stored row when it still describes the file; otherwise computed from the file (its MD5)
    /// and stored. This is how files that jobs wrote into the folder become objects.
    func metadata(bucket: String, key: String, stat: stat, fd: Int32) throws(S3Error) -> ObjectInfo {
        let size = Int64(stat.st_size)
        let mtime = Int64(stat.st_mtim.tv_sec) * 1_000_000_000 + Int64(stat.st_mtim.tv_nsec)
        if let row = try withDatabase({ db throws(S3Error) in try Self.row(db, bucket: bucket, key: key) }), row.size == size,
            row.modifiedNanoseconds == mtime
        {
            return row
        }
        guard let md5 = Self.md5(of: fd) else { throw .internalError("Could not read \(key).") }
        let info = ObjectInfo(key: key, size: size, etag: md5.hexString, modifiedNanoseconds: mtime)
        try saveRow(bucket: bucket, info)
        return info
    }

    static func row(_ db: TypedDatabase<S3Error>, bucket: String, key: String) throws(S3Error) -> ObjectInfo? {
        try db.queryOne(
            "SELECT size_bytes, mtime_ns, etag, content_type, headers_json, checksums_json FROM s3_objects WHERE bucket = ? AND key = ?",
            [bucket, key]
        ) { row in
            ObjectInfo(
                key: key, size: row.int64(0), etag: row.string(2), modifiedNanoseconds: row.int64(1),
                contentType: row.optionalString(3), headers: JSONStrings.decode(row.string(4)),
                checksums: JSONStrings.decode(row.string(5)))
        }
    }

    /// MD5 of a whole file, read with pread (the descriptor's offset is left alone).
    static func md5(of fd: Int32) -> [UInt8]? {
        var hash = Insecure.MD5()
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var offset: off_t = 0
        while true {
            let count = pread(fd, buffer.baseAddress, chunk, offset)
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { break }
            hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            offset += off_t(count)
        }
        return Array(hash.finalize())
    }

    /// Reads `length` bytes at `offset` (a small object or range answered from memory).
    public static func read(_ fd: Int32, offset: Int64, length: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: length)
        var done = 0
        let ok = bytes.withUnsafeMutableBytes { buffer -> Bool in
            while done < length {
                let count = pread(fd, buffer.baseAddress! + done, length - done, off_t(offset) + off_t(done))
                if count < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                if count == 0 { return false }
                done += count
            }
            return true
        }
        return ok ? bytes : nil
    }

    // MARK: - Deleting

    /// DeleteObject: removes the file and its row; a missing key is not an error (S3 answers 204).
    /// Folders left empty are removed too, so they do not show up as common prefixes.
    public func deleteObject(bucket: String, key: ObjectKey) throws(S3Error) {
        if case .success(let parent) = root.openDirectory([bucket] + key.parentComponents, create: false) {
            let removed = unlinkat(parent, key.leaf, 0) == 0
            close(parent)
            if removed { root.removeEmptyDirectories([bucket] + Array(key.parentComponents)) }
        }
        try withDatabase { db throws(S3Error) in try db.run("DELETE FROM s3_objects WHERE bucket = ? AND key = ?", [bucket, key.key]) }
    }

    // MARK: - Copying

    /// Copies `length` bytes from `fd` at `offset` into a new spool (CopyObject, UploadPartCopy).
    public func spoolCopy(from fd: Int32, offset: Int64, length: Int64) throws(S3Error) -> SpooledBody {
        let spool = try makeSpool(hashSHA256: false)
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var done: Int64 = 0
        while done < length {
            let wanted = Int(min(Int64(chunk), length - done))
            let count = pread(fd, buffer.baseAddress, wanted, off_t(offset + done))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .internalError("Could not read the copy source.") }
            spool.write(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            done += Int64(count)
        }
        return try spool.finish()
    }
}
