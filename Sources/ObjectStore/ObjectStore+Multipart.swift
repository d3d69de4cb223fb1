internal import Crypto
public import Foundation
internal import Glibc
internal import SQLite

public struct MultipartUpload: Sendable, Equatable {
    public var uploadID: String
    public var bucket: String
    public var key: String
    public var account: String
    public var initiatedMilliseconds: Int64
    public var attributes: ObjectAttributes
    public var checksumAlgorithm: String?
}

public struct UploadedPart: Sendable, Equatable {
    public var partNumber: Int
    public var size: Int64
    /// Without quotes.
    public var etag: String
    public var lastModifiedMilliseconds: Int64
    public var checksum: String?
}

/// Multipart uploads (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html): parts
/// are files in `<root>/.trainyard/uploads/<upload id>/<part number>` until CompleteMultipartUpload
/// joins them into the object.
extension ObjectStore {
    /// S3's smallest part, except the last one (EntityTooSmall).
    public static let minimumPartSize: Int64 = 5 << 20

    public func createMultipartUpload(
        bucket: String, key: ObjectKey, account: String, attributes: ObjectAttributes, checksumAlgorithm: String?
    ) throws(S3Error) -> MultipartUpload {
        let upload = MultipartUpload(
            uploadID: Self.randomToken(bytes: 24), bucket: bucket, key: key.key, account: account,
            initiatedMilliseconds: nowMilliseconds, attributes: attributes, checksumAlgorithm: checksumAlgorithm)
        guard mkdirat(uploadsFD, upload.uploadID, 0o755) == 0 else {
            throw .internalError("Could not create the upload's folder: \(systemErrorText(errno)).")
        }
        try withDatabase { db throws(S3Error) in
            try db.run(
                """
                INSERT INTO s3_multipart_uploads (upload_id, bucket, key, account_id, initiated_at_ms, content_type, headers_json, checksum_algorithm)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    upload.uploadID, bucket, key.key, account, upload.initiatedMilliseconds, attributes.contentType,
                    JSONStrings.encode(attributes.headers), checksumAlgorithm,
                ])
        }
        return upload
    }

    /// The upload, if it exists for this bucket and key (NoSuchUpload otherwise).
    public func upload(_ uploadID: String, bucket: String, key: String) throws(S3Error) -> MultipartUpload {
        let found = try withDatabase { db throws(S3Error) in
            try db.queryOne(
                """
                SELECT bucket, key, account_id, initiated_at_ms, content_type, headers_json, checksum_algorithm
                FROM s3_multipart_uploads WHERE upload_id = ?
                """, [uploadID]
            ) { row in
                MultipartUpload(
                    uploadID: uploadID, bucket: row.string(0), key: row.string(1), account: row.string(2),
                    initiatedMilliseconds: row.int64(3),
                    attributes: ObjectAttributes(contentType: row.optionalString(4), headers: JSONStrings.decode(row.string(5))),
                    checksumAlgorithm: row.optionalString(6))
            }
        }
        guard let found, found.bucket == bucket, found.key == key else { throw .noSuchUpload(uploadID) }
        return found
    }

    public func uploadPart(_ upload: MultipartUpload, partNumber: Int, body: SpooledBody, checksum: String?) throws(S3Error) -> UploadedPart {
        guard (1...10000).contains(partNumber) else {
            throw .invalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive", name: "partNumber", value: String(partNumber))
        }
        guard body.take() else { throw .internalError("The request body was already used.") }
        let folder = openat(uploadsFD, upload.uploadID, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folder >= 0 else {
            unlinkat(body.directory, body.name, 0)
            throw .noSuchUpload(upload.uploadID)
        }
        defer { close(folder) }
        guard renameat(body.directory, body.name, folder, String(partNumber)) == 0 else {
            unlinkat(body.directory, body.name, 0)
            throw .internalError("Could not store the part: \(systemErrorText(errno)).")
        }
        let part = UploadedPart(
            partNumber: partNumber, size: body.size, etag: body.etag, lastModifiedMilliseconds: nowMilliseconds, checksum: checksum)
        try withDatabase { db throws(S3Error) in
            try db.run(
                """
                INSERT INTO s3_multipart_parts (upload_id, part_number, size_bytes, etag, last_modified_ms, checksum)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (upload_id, part_number) DO UPDATE SET size_bytes = excluded.size_bytes, etag = excluded.etag,
                    last_modified_ms = excluded.last_modified_ms, checksum = excluded.checksum
                """,
                [upload.uploadID, partNumber, part.size, part.etag, part.lastModifiedMilliseconds, checksum])
        }
        return part
    }

    public func parts(of uploadID: String) throws(S3Error) -> [UploadedPart] {
        try withDatabase { db throws(S3Error) in
            try db.query(
                "SELECT part_number, size_bytes, etag, last_modified_ms, checksum FROM s3_multipart_parts WHERE upload_id = ? ORDER BY part_number",
                [uploadID]
            ) { row in
                UploadedPart(
                    partNumber: Int(row.int64(0)), size: row.int64(1), etag: row.string(2), lastModifiedMilliseconds: row.int64(3),
                    checksum: row.optionalString(4))
            }
        }
    }

    /// CompleteMultipartUpload: the listed parts, in ascending order, each with its ETag, every one
    /// but the last at least 5 MiB, joined into the object; ETag = MD5 of the parts' MD5s + "-N".
    public func completeMultipartUpload(
        _ upload: MultipartUpload, parts requested: [(partNumber: Int, etag: String)]
    ) throws(S3Error) -> ObjectInfo {
        let key = try ObjectKey(upload.key)
        guard !requested.isEmpty else {
            throw S3Error(
                code: "MalformedXML",
                message: "The XML you provided was not well-formed or did not validate against our published schema", status: 400)
        }
        for (previous, next) in zip(requested, requested.dropFirst()) where next.partNumber <= previous.partNumber {
            throw S3Error(
                code: "InvalidPartOrder", message: "The list of parts was not in ascending order. Parts must be ordered by part number.",
                status: 400, details: [("UploadId", upload.uploadID)])
        }
        let stored = Dictionary(try parts(of: upload.uploadID).map { ($0.partNumber, $0) }, uniquingKeysWith: { a, _ in a })
        var chosen: [UploadedPart] = []
        for (index, request) in requested.enumerated() {
            let etag = request.etag.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
            guard let part = stored[request.partNumber], part.etag == etag else {
                throw S3Error(
                    code: "InvalidPart",
                    message: "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
                    status: 400, details: [("UploadId", upload.uploadID), ("PartNumber", String(request.partNumber)), ("ETag", etag)])
            }
            if index < requested.count - 1 && part.size < Self.minimumPartSize {
                throw S3Error(
                    code: "EntityTooSmall", message: "Your proposed upload is smaller than the minimum allowed object size.",
                    status: 400,
                    details: [("ProposedSize", String(part.size)), ("MinSizeAllowed", String(Self.minimumPartSize)),
                        ("PartNumber", String(part.partNumber)), ("ETag", part.etag)])
            }
            chosen.append(part)
        }
        try checkWritable(bucket: upload.bucket, key: key)
        let folder = openat(uploadsFD, upload.uploadID, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folder >= 0 else { throw .noSuchUpload(upload.uploadID) }
        defer { close(folder) }

        // Join the parts: the first part's file becomes the object (renamed, not copied), the others
        // are appended to it in the kernel (sendfile).
        let first = String(chosen[0].partNumber)
        let output = openat(folder, first, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
        guard output >= 0 else { throw .internalError("Could not open part \(first): \(systemErrorText(errno)).") }
        var md5s: [UInt8] = []
        for part in chosen {
            md5s += Self.bytes(fromHex: part.etag)
            guard part.partNumber != chosen[0].partNumber else { continue }
            let input = openat(folder, String(part.partNumber), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard input >= 0 else {
                close(output)
                throw .internalError("Could not open part \(part.partNumber).")
            }
            let copied = Self.append(from: input, length: part.size, to: output)
            close(input)
            guard copied else {
                let error = errno
                ftruncate(output, off_t(chosen[0].size))
                close(output)
                throw .internalError("Could not join the parts: \(systemErrorText(error)).")
            }
        }
        var info = stat()
        fstat(output, &info)
        close(output)
        let etag = Array(Insecure.MD5.hash(data: md5s)).hexString + "-\(chosen.count)"
        let total = chosen.reduce(Int64(0)) { $0 + $1.size }
        let body = SpooledBody(
            directory: folder, name: first, size: total, md5: [], sha256: nil, checksums: [:],
            mtimeNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
        let object = try putObject(bucket: upload.bucket, key: key, body: body, attributes: upload.attributes, etag: etag)
        try finishUpload(upload.uploadID)
        return object
    }

    /// AbortMultipartUpload, and the clean-up after Complete.
    public func finishUpload(_ uploadID: String) throws(S3Error) {
        try withDatabase { db throws(S3Error) in try db.run("DELETE FROM s3_multipart_uploads WHERE upload_id = ?", [uploadID]) }
        removeUploadFolder(uploadID)
    }

    func removeUploadFolder(_ uploadID: String) {
        let folder = openat(uploadsFD, uploadID, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if folder >= 0 {
            for entry in RootedDirectory.entries(folder) where !entry.isDirectory { unlinkat(folder, entry.name, 0) }
            close(folder)
        }
        unlinkat(uploadsFD, uploadID, AT_REMOVEDIR)
    }

    /// ListMultipartUploads: the bucket's uploads in progress by key, then upload id.
    public func uploads(bucket: String, prefix: String) throws(S3Error) -> [MultipartUpload] {
        try withDatabase { db throws(S3Error) in
            try db.query(
                """
                SELECT upload_id, key, account_id, initiated_at_ms FROM s3_multipart_uploads
                WHERE bucket = ? AND substr(key, 1, length(?)) = ? ORDER BY key, upload_id
                """, [bucket, prefix, prefix]
            ) { row in
                MultipartUpload(
                    uploadID: row.string(0), bucket: bucket, key: row.string(1), account: row.string(2),
                    initiatedMilliseconds: row.int64(3), attributes: ObjectAttributes(), checksumAlgorithm: nil)
            }
        }
    }

    static func append(from input: Int32, length: Int64, to output: Int32) -> Bool {
        var remaining = length
        while remaining > 0 {
            // sendfile(2) copies file to file inside the kernel (Linux ≥ 2.6.33); the output is O_APPEND.
            let count = sendfile(output, input, nil, Int(min(remaining, 1 << 30)))
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EXDEV || errno == ENOSYS || errno == EINVAL { return appendByReading(from: input, to: output) }
                return false
            }
            if count == 0 { return false }
            remaining -= Int64(count)
        }
        return true
    }

    static func appendByReading(from input: Int32, to output: Int32) -> Bool {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = Glibc.read(input, buffer.baseAddress, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return false }
            if count == 0 { return true }
            if !writeAll(output, UnsafeRawBufferPointer(rebasing: buffer[0..<count])) { return false }
        }
    }

    static func bytes(fromHex hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var high: UInt8?
        for char in hex.utf8 {
            let value: UInt8
            switch char {
            case 0x30...0x39: value = char - 0x30
            case 0x61...0x66: value = char - 0x61 + 10
            case 0x41...0x46: value = char - 0x41 + 10
            default: continue
            }
            if let h = high {
                bytes.append(h << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return bytes
    }
}
