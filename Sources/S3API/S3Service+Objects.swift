import EventHTTP
import Foundation
import Glibc
import ObjectStore

extension S3Service {
    /// User metadata is limited to 2 KB (names and values, UTF-8) by S3 (MetadataTooLarge).
    static let maxUserMetadataBytes = 2048
    /// GetObject bodies up to this size are answered from memory, larger ones from the file.
    static let inMemoryBodyLimit: Int64 = 64 << 10

    /// Content-Type, `x-amz-meta-*` and the other stored headers of an upload request.
    static func attributes(of headers: HTTPHeaders) throws(S3Error) -> ObjectAttributes {
        var stored: [String: String] = [:]
        var metadataBytes = 0
        for (name, value) in headers {
            let lower = name.lowercased()
            if lower.hasPrefix("x-amz-meta-") {
                stored[lower] = stored[lower].map { $0 + "," + value } ?? value
                metadataBytes += lower.utf8.count - "x-amz-meta-".utf8.count + value.utf8.count
            } else if ObjectInfo.storedHeaderNames.contains(lower) {
                stored[lower] = value
            }
        }
        if metadataBytes > maxUserMetadataBytes {
            throw S3Error(
                code: "MetadataTooLarge", message: "Your metadata headers exceed the maximum allowed metadata size.", status: 400,
                details: [("Size", String(metadataBytes)), ("MaxSizeAllowed", String(maxUserMetadataBytes))])
        }
        return ObjectAttributes(contentType: headers["content-type"], headers: stored)
    }

    // MARK: - PutObject

    func putObject(_ request: S3Request, bucket: String, key: String, identity: S3Authenticator.Identity) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: identity.account)
        let objectKey = try objectKey(key)
        var attributes = try Self.attributes(of: request.headers)
        try store.checkWritable(bucket: bucket, key: objectKey)
        // Conditional write: `If-None-Match: *` only creates (S3's conditional writes).
        if let condition = request.headers["if-none-match"] {
            guard condition.trimmingCharacters(in: .whitespaces) == "*" else {
                throw S3Error.notImplementedError("If-None-Match on PutObject other than '*'")
            }
            if (try? store.headObject(bucket: bucket, key: objectKey)) != nil {
                throw S3Error(
                    code: "PreconditionFailed", message: "At least one of the pre-conditions you specified did not hold", status: 412,
                    details: [("Condition", "If-None-Match")])
            }
        }
        let received = try receiveBody(request, identity: identity)
        attributes.checksums = received.checksums
        let info = try store.putObject(bucket: bucket, key: objectKey, body: received.body, attributes: attributes)
        var headers = HTTPHeaders([("ETag", Self.quoted(info.etag))])
        for (algorithm, value) in received.checksums {
            headers.add(name: "x-amz-checksum-" + algorithm.lowercased(), value: value)
        }
        return HTTPResponse(status: 200, headers: headers)
    }

    // MARK: - GetObject / HeadObject

    func getObject(_ request: S3Request, bucket: String, key: String, account: String) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: account)
        let objectKey = try objectKey(key)
        let opened = try store.openObject(bucket: bucket, key: objectKey)
        var closeFD = true
        defer { if closeFD { close(opened.fd) } }
        let info = opened.info
        let head = request.method == "HEAD"

        var headers = Self.objectHeaders(info)
        if let status = try Self.evaluateConditions(request.headers, info: info) {
            // 304 keeps the validators (ETag, Last-Modified) and drops the rest.
            return HTTPResponse(
                status: status,
                headers: HTTPHeaders([("ETag", Self.quoted(info.etag)), ("Last-Modified", WireFormats.httpDate(seconds: info.modifiedNanoseconds / 1_000_000_000))]))
        }
        // Presigned GETs may override response headers (GetObject's response-* parameters).
        let overrides = [
            ("response-content-type", "Content-Type"), ("response-content-language", "Content-Language"),
            ("response-expires", "Expires"), ("response-cache-control", "Cache-Control"),
            ("response-content-disposition", "Content-Disposition"), ("response-content-encoding", "Content-Encoding"),
        ]
        for (parameter, header) in overrides {
            if let value = request[query: parameter] { headers.replaceOrAdd(name: header, value: value) }
        }

        var status = 200
        var offset: Int64 = 0
        var length = info.size
        if let rangeHeader = request.headers["range"], let range = try Self.parseRange(rangeHeader, size: info.size) {
            status = 206
            offset = range.lowerBound
            length = range.upperBound - range.lowerBound + 1
            headers.add(name: "Content-Range", value: "bytes \(range.lowerBound)-\(range.upperBound)/\(info.size)")
        } else if request.headers["x-amz-checksum-mode"]?.uppercased() == "ENABLED" {
            // Whole-object checksums only: a range's bytes would not match them.
            for (algorithm, value) in info.checksums { headers.add(name: "x-amz-checksum-" + algorithm.lowercased(), value: value) }
        }
        // Small bodies are read here (one pread, sent with the headers in one write); larger ones are
        // sent from the file with sendfile as the client reads, never held in memory. A HEAD answer
        // carries only the length.
        if !head && length <= Self.inMemoryBodyLimit {
            guard let bytes = ObjectStore.read(opened.fd, offset: offset, length: Int(length)) else {
                throw .internalError("Could not read \(key).")
            }
            return HTTPResponse(status: status, headers: headers, body: bytes)
        }
        closeFD = false
        return HTTPResponse(status: status, headers: headers, file: FileBody(fd: opened.fd, offset: offset, length: length))
    }

    static func objectHeaders(_ info: ObjectInfo) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: info.contentType ?? "binary/octet-stream")
        headers.add(name: "ETag", value: quoted(info.etag))
        headers.add(name: "Last-Modified", value: WireFormats.httpDate(seconds: info.modifiedNanoseconds / 1_000_000_000))
        headers.add(name: "Accept-Ranges", value: "bytes")
        for (name, value) in info.headers.sorted(by: { $0.key < $1.key }) {
            headers.add(name: name, value: value)
        }
        return headers
    }

    /// GetObject/HeadObject preconditions, in RFC 7232's order (S3: If-Match and
    /// If-Unmodified-Since fail with 412, If-None-Match and If-Modified-Since with 304).
    static func evaluateConditions(_ headers: HTTPHeaders, info: ObjectInfo) throws(S3Error) -> Int? {
        let modified = info.modifiedNanoseconds / 1_000_000_000
        let failed = S3Error(code: "PreconditionFailed", message: "At least one of the pre-conditions you specified did not hold", status: 412)
        if let match = headers["if-match"] {
            if !etagMatches(match, info.etag) {
                var error = failed
                error.details = [(name: "Condition", value: "If-Match")]
                throw error
            }
        } else if let since = headers["if-unmodified-since"].flatMap(WireFormats.parseDate), modified > since {
            var error = failed
            error.details = [(name: "Condition", value: "If-Unmodified-Since")]
            throw error
        }
        if let noneMatch = headers["if-none-match"] {
            if etagMatches(noneMatch, info.etag) { return 304 }
        } else if let since = headers["if-modified-since"].flatMap(WireFormats.parseDate), modified <= since {
            return 304
        }
        return nil
    }

    static func etagMatches(_ header: String, _ etag: String) -> Bool {
        for candidate in header.split(separator: ",") {
            var value = candidate.trimmingCharacters(in: .whitespaces)
            if value == "*" { return true }
            if value.hasPrefix("W/") { value.removeFirst(2) }
            if value.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == etag { return true }
        }
        return false
    }

    /// One `bytes=` range, as an inclusive byte range; nil to serve the whole object (no or an
    /// unparsable or multi-range header, which S3 ignores); InvalidRange when none of it exists.
    static func parseRange(_ header: String, size: Int64) throws(S3Error) -> ClosedRange<Int64>? {
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("bytes="), !text.contains(",") else { return nil }
        let spec = text.dropFirst("bytes=".count)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let unsatisfiable = S3Error(
            code: "InvalidRange", message: "The requested range is not satisfiable", status: 416,
            details: [("RangeRequested", text), ("ActualObjectSize", String(size))])
        if parts[0].isEmpty {
            guard let suffix = Int64(parts[1]) else { return nil }
            guard suffix > 0, size > 0 else { throw unsatisfiable }
            return max(0, size - suffix)...(size - 1)
        }
        guard let first = Int64(parts[0]) else { return nil }
        let last = parts[1].isEmpty ? Int64.max : Int64(parts[1])
        guard let last, last >= first else { return nil }
        guard first < size else { throw unsatisfiable }
        return first...min(last, size - 1)
    }

    // MARK: - DeleteObject(s)

    func deleteObject(bucket: String, key: String, account: String) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: account)
        // A key that cannot name a file names no object: deleting it is the usual no-op.
        if let objectKey = try? ObjectKey(key) { try store.deleteObject(bucket: bucket, key: objectKey) }
        return HTTPResponse(status: 204)
    }

    func deleteObjects(_ request: S3Request, bucket: String, identity: S3Authenticator.Identity) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: identity.account)
        let body = try bufferedBody(request, identity: identity)
        let malformed = S3Error(
            code: "MalformedXML", message: "The XML you provided was not well-formed or did not validate against our published schema",
            status: 400)
        guard let document = XMLNode.parse(body), document.name == "Delete" else { throw malformed }
        let objects = document.all("Object")
        guard !objects.isEmpty, objects.count <= 1000 else { throw malformed }
        let quiet = document.child("Quiet")?.text.lowercased() == "true"
        var xml = XMLWriter()
        xml.group("DeleteResult", namespace: Self.namespace) { xml in
            for object in objects {
                guard let key = object.child("Key")?.text else { continue }
                do {
                    if let objectKey = try? ObjectKey(key) { try store.deleteObject(bucket: bucket, key: objectKey) }
                    if !quiet { xml.group("Deleted") { $0.element("Key", key) } }
                } catch let error as S3Error {
                    xml.group("Error") { xml in
                        xml.element("Key", key)
                        xml.element("Code", error.code)
                        xml.element("Message", error.message)
                    }
                } catch {}
            }
        }
        return Self.xmlResponse(xml)
    }

    // MARK: - CopyObject

    /// `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded, optionally `?versionId=null`.
    func copySource(_ request: S3Request, account: String) throws(S3Error) -> (bucket: String, key: ObjectKey) {
        guard let raw = request.headers["x-amz-copy-source"] else { throw .invalidRequest("x-amz-copy-source is missing.") }
        var source = Substring(raw)
        if let question = source.firstIndex(of: "?") {
            let version = source[source.index(after: question)...]
            if version != "versionId=null" && !version.isEmpty {
                throw S3Error.invalidArgument("Invalid version id specified", name: "x-amz-copy-source", value: raw)
            }
            source = source[..<question]
        }
        guard let decoded = WireFormats.percentDecode(source) else {
            throw .invalidArgument("Invalid copy source encoding", name: "x-amz-copy-source", value: raw)
        }
        var path = Substring(decoded)
        if path.hasPrefix("/") { path = path.dropFirst() }
        guard let slash = path.firstIndex(of: "/") else {
            throw .invalidArgument("Invalid copy source object key", name: "x-amz-copy-source", value: raw)
        }
        let bucket = String(path[..<slash])
        let key = try ObjectKey(String(path[path.index(after: slash)...]))
        try store.requireBucket(bucket, account: account)
        return (bucket, key)
    }

    func copyObject(_ request: S3Request, bucket: String, key: String, identity: S3Authenticator.Identity) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: identity.account)
        let destination = try objectKey(key)
        let source = try copySource(request, account: identity.account)
        let directive = request.headers["x-amz-metadata-directive"]?.uppercased() ?? "COPY"
        guard directive == "COPY" || directive == "REPLACE" else {
            throw .invalidArgument("Unknown metadata directive.", name: "x-amz-metadata-directive", value: directive)
        }
        if source.bucket == bucket && source.key == destination && directive == "COPY" {
            throw .invalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
        }
        try store.checkWritable(bucket: bucket, key: destination)
        let opened = try store.openObject(bucket: source.bucket, key: source.key)
        defer { close(opened.fd) }
        try Self.checkCopyConditions(request.headers, info: opened.info)
        let spooled = try store.spoolCopy(from: opened.fd, offset: 0, length: opened.info.size)
        let attributes = directive == "REPLACE"
            ? try Self.attributes(of: request.headers)
            : ObjectAttributes(contentType: opened.info.contentType, headers: opened.info.headers, checksums: opened.info.checksums)
        let info = try store.putObject(bucket: bucket, key: destination, body: spooled, attributes: attributes, etag: opened.info.etag)
        var xml = XMLWriter()
        xml.group("CopyObjectResult", namespace: Self.namespace) { xml in
            xml.element("LastModified", WireFormats.iso8601(milliseconds: info.modifiedNanoseconds / 1_000_000))
            xml.element("ETag", Self.quoted(info.etag))
        }
        return Self.xmlResponse(xml)
    }

    /// `x-amz-copy-source-if-*` (CopyObject and UploadPartCopy preconditions; all fail with 412).
    static func checkCopyConditions(_ headers: HTTPHeaders, info: ObjectInfo) throws(S3Error) {
        let modified = info.modifiedNanoseconds / 1_000_000_000
        let failed = S3Error(code: "PreconditionFailed", message: "At least one of the pre-conditions you specified did not hold", status: 412)
        if let match = headers["x-amz-copy-source-if-match"], !etagMatches(match, info.etag) { throw failed }
        if let noneMatch = headers["x-amz-copy-source-if-none-match"], etagMatches(noneMatch, info.etag) { throw failed }
        if let since = headers["x-amz-copy-source-if-unmodified-since"].flatMap(WireFormats.parseDate), modified > since { throw failed }
        if let since = headers["x-amz-copy-source-if-modified-since"].flatMap(WireFormats.parseDate), modified <= since { throw failed }
    }
}
