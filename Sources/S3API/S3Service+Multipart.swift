import EventHTTP
import Foundation
import Glibc
import ObjectStore

extension S3Service {
    func createUpload(_ request: S3Request, bucket: String, key: String, account: String) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: account)
        let objectKey = try objectKey(key)
        try store.checkWritable(bucket: bucket, key: objectKey)
        let attributes = try Self.attributes(of: request.headers)
        let upload = try store.createMultipartUpload(
            bucket: bucket, key: objectKey, account: account, attributes: attributes,
            checksumAlgorithm: request.headers["x-amz-checksum-algorithm"]?.uppercased())
        var xml = XMLWriter()
        xml.group("InitiateMultipartUploadResult", namespace: Self.namespace) { xml in
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("UploadId", upload.uploadID)
        }
        var response = Self.xmlResponse(xml)
        if let algorithm = upload.checksumAlgorithm { response.headers.add(name: "x-amz-checksum-algorithm", value: algorithm) }
        return response
    }

    func uploadFor(_ request: S3Request, bucket: String, key: String, account: String) throws(S3Error) -> MultipartUpload {
        try store.requireBucket(bucket, account: account)
        guard let id = request[query: "uploadId"], !id.isEmpty else { throw .noSuchUpload("") }
        let upload = try store.upload(id, bucket: bucket, key: key)
        guard upload.account == account else { throw .accessDenied() }
        return upload
    }

    static func partNumber(_ request: S3Request) throws(S3Error) -> Int {
        let text = request[query: "partNumber"] ?? ""
        guard let number = Int(text), (1...10000).contains(number) else {
            throw .invalidArgument("Part number must be an integer between 1 and 10000, inclusive", name: "partNumber", value: text)
        }
        return number
    }

    /// UploadPart, or UploadPartCopy with `x-amz-copy-source` (and `x-amz-copy-source-range`).
    func uploadPart(_ request: S3Request, bucket: String, key: String, identity: S3Authenticator.Identity) throws(S3Error) -> HTTPResponse {
        let upload = try uploadFor(request, bucket: bucket, key: key, account: identity.account)
        let number = try Self.partNumber(request)
        if request.headers["x-amz-copy-source"] != nil {
            let source = try copySource(request, account: identity.account)
            let opened = try store.openObject(bucket: source.bucket, key: source.key)
            defer { close(opened.fd) }
            try Self.checkCopyConditions(request.headers, info: opened.info)
            var offset: Int64 = 0
            var length = opened.info.size
            if let rangeText = request.headers["x-amz-copy-source-range"] {
                guard let range = try? Self.parseRange(rangeText, size: opened.info.size), rangeText.contains("-"),
                    !rangeText.hasPrefix("bytes=-")
                else {
                    throw .invalidArgument(
                        "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                        name: "x-amz-copy-source-range", value: rangeText)
                }
                offset = range.lowerBound
                length = range.upperBound - range.lowerBound + 1
            }
            let spooled = try store.spoolCopy(from: opened.fd, offset: offset, length: length)
            let part = try store.uploadPart(upload, partNumber: number, body: spooled, checksum: nil)
            var xml = XMLWriter()
            xml.group("CopyPartResult", namespace: Self.namespace) { xml in
                xml.element("LastModified", WireFormats.iso8601(milliseconds: part.lastModifiedMilliseconds))
                xml.element("ETag", Self.quoted(part.etag))
            }
            return Self.xmlResponse(xml)
        }
        let received = try receiveBody(request, identity: identity)
        let part = try store.uploadPart(upload, partNumber: number, body: received.body, checksum: received.checksums.first?.value)
        var headers = HTTPHeaders([("ETag", Self.quoted(part.etag))])
        for (algorithm, value) in received.checksums { headers.add(name: "x-amz-checksum-" + algorithm.lowercased(), value: value) }
        return HTTPResponse(status: 200, headers: headers)
    }

    func completeUpload(_ request: S3Request, bucket: String, key: String, identity: S3Authenticator.Identity) throws(S3Error) -> HTTPResponse {
        let upload = try uploadFor(request, bucket: bucket, key: key, account: identity.account)
        let body = try bufferedBody(request, identity: identity)
        guard let document = XMLNode.parse(body), document.name == "CompleteMultipartUpload" else {
            throw S3Error(
                code: "MalformedXML",
                message: "The XML you provided was not well-formed or did not validate against our published schema", status: 400)
        }
        var parts: [(partNumber: Int, etag: String)] = []
        for part in document.all("Part") {
            guard let number = part.child("PartNumber").flatMap({ Int($0.text.trimmingCharacters(in: .whitespacesAndNewlines)) }),
                let etag = part.child("ETag")?.text
            else {
                throw S3Error(
                    code: "MalformedXML",
                    message: "The XML you provided was not well-formed or did not validate against our published schema", status: 400)
            }
            parts.append((number, etag))
        }
        let info = try store.completeMultipartUpload(upload, parts: parts)
        var xml = XMLWriter()
        xml.group("CompleteMultipartUploadResult", namespace: Self.namespace) { xml in
            xml.element("Location", "/\(bucket)/\(WireFormats.uriEncode(key, keepingSlashes: true))")
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("ETag", Self.quoted(info.etag))
        }
        return Self.xmlResponse(xml)
    }

    func abortUpload(_ request: S3Request, bucket: String, key: String, account: String) throws(S3Error) -> HTTPResponse {
        let upload = try uploadFor(request, bucket: bucket, key: key, account: account)
        try store.finishUpload(upload.uploadID)
        return HTTPResponse(status: 204)
    }

    func listParts(_ request: S3Request, bucket: String, key: String, account: String) throws(S3Error) -> HTTPResponse {
        let upload = try uploadFor(request, bucket: bucket, key: key, account: account)
        let maxParts = try Self.maxKeys(request, name: "max-parts")
        let markerText = request[query: "part-number-marker"]
        let marker = markerText.flatMap { Int($0) } ?? 0
        let all = try store.parts(of: upload.uploadID).filter { $0.partNumber > marker }
        let page = all.prefix(maxParts)
        var xml = XMLWriter()
        xml.group("ListPartsResult", namespace: Self.namespace) { xml in
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("UploadId", upload.uploadID)
            xml.element("PartNumberMarker", marker)
            if let last = page.last { xml.element("NextPartNumberMarker", last.partNumber) }
            xml.element("MaxParts", maxParts)
            xml.element("IsTruncated", all.count > page.count)
            Self.initiator(&xml, account)
            Self.owner(&xml, account)
            xml.element("StorageClass", "STANDARD")
            if let algorithm = upload.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm) }
            for part in page {
                xml.group("Part") { xml in
                    xml.element("PartNumber", part.partNumber)
                    xml.element("LastModified", WireFormats.iso8601(milliseconds: part.lastModifiedMilliseconds))
                    xml.element("ETag", Self.quoted(part.etag))
                    xml.element("Size", part.size)
                    if let checksum = part.checksum, let algorithm = upload.checksumAlgorithm {
                        xml.element("Checksum" + algorithm, checksum)
                    }
                }
            }
        }
        return Self.xmlResponse(xml)
    }

    static func initiator(_ xml: inout XMLWriter, _ account: String) {
        xml.group("Initiator") { xml in
            xml.element("ID", canonicalID(account))
            xml.element("DisplayName", account)
        }
    }

    func listUploads(_ request: S3Request, bucket: String, account: String) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: account)
        let encode = try Self.encoder(request)
        let maxUploads = try Self.maxKeys(request, name: "max-uploads")
        let prefix = request[query: "prefix"] ?? ""
        let keyMarker = request[query: "key-marker"] ?? ""
        let idMarker = request[query: "upload-id-marker"] ?? ""
        let all = try store.uploads(bucket: bucket, prefix: prefix).filter { upload in
            keyMarker.isEmpty || upload.key > keyMarker || (upload.key == keyMarker && !idMarker.isEmpty && upload.uploadID > idMarker)
        }
        let page = all.prefix(maxUploads)
        var xml = XMLWriter()
        xml.group("ListMultipartUploadsResult", namespace: Self.namespace) { xml in
            xml.element("Bucket", bucket)
            xml.element("KeyMarker", encode(keyMarker))
            xml.element("UploadIdMarker", idMarker)
            if all.count > page.count, let last = page.last {
                xml.element("NextKeyMarker", encode(last.key))
                xml.element("NextUploadIdMarker", last.uploadID)
            }
            xml.element("Prefix", encode(prefix))
            xml.element("MaxUploads", maxUploads)
            if request[query: "encoding-type"] != nil { xml.element("EncodingType", "url") }
            xml.element("IsTruncated", all.count > page.count)
            for upload in page {
                xml.group("Upload") { xml in
                    xml.element("Key", encode(upload.key))
                    xml.element("UploadId", upload.uploadID)
                    Self.initiator(&xml, upload.account)
                    Self.owner(&xml, upload.account)
                    xml.element("StorageClass", "STANDARD")
                    xml.element("Initiated", WireFormats.iso8601(milliseconds: upload.initiatedMilliseconds))
                }
            }
        }
        return Self.xmlResponse(xml)
    }
}
