import EventHTTP
import Foundation
import ObjectStore

extension S3Service {
    /// `max-keys`: 0...1000 (S3 never returns more than 1000 per page).
    static func maxKeys(_ request: S3Request, name: String = "max-keys") throws(S3Error) -> Int {
        guard let text = request[query: name] else { return 1000 }
        guard let value = Int(text), value >= 0 else {
            throw .invalidArgument("Provided \(name) not an integer or within integer range", name: name, value: text)
        }
        return min(value, 1000)
    }

    /// `encoding-type=url` (boto3 sends it on every listing, and decodes what it names).
    static func encoder(_ request: S3Request) throws(S3Error) -> (String) -> String {
        guard let type = request[query: "encoding-type"] else { return { $0 } }
        guard type == "url" else { throw .invalidArgument("Invalid Encoding Method specified in Request", name: "encoding-type", value: type) }
        return { WireFormats.uriEncode($0, keepingSlashes: true) }
    }

    static func writeContents(_ xml: inout XMLWriter, _ object: ObjectInfo, encode: (String) -> String, owner: String?) {
        xml.group("Contents") { xml in
            xml.element("Key", encode(object.key))
            xml.element("LastModified", WireFormats.iso8601(milliseconds: object.modifiedNanoseconds / 1_000_000))
            xml.element("ETag", quoted(object.etag))
            xml.element("Size", object.size)
            if let owner { Self.owner(&xml, owner) }
            xml.element("StorageClass", "STANDARD")
        }
    }

    /// What the three object listings read from a request alike: the bucket (checked), the key
    /// encoding, the page size, the prefix and the delimiter. Each adds its own marker.
    struct Listing {
        var encode: (String) -> String
        var urlEncoded: Bool
        var maxKeys: Int
        var prefix: String
        var delimiter: String?

        func query(after: String?) -> ListQuery {
            ListQuery(prefix: prefix, delimiter: delimiter, after: after, maxKeys: maxKeys)
        }

        func writeDelimiter(_ xml: inout XMLWriter) {
            if let delimiter { xml.element("Delimiter", encode(delimiter)) }
        }

        func writeEncodingType(_ xml: inout XMLWriter) {
            if urlEncoded { xml.element("EncodingType", "url") }
        }

        func writeCommonPrefixes(_ xml: inout XMLWriter, _ page: ListPage) {
            for prefix in page.commonPrefixes { xml.group("CommonPrefixes") { $0.element("Prefix", encode(prefix)) } }
        }
    }

    func parseListing(_ request: S3Request, bucket: String, account: String) throws(S3Error) -> Listing {
        try store.requireBucket(bucket, account: account)
        return Listing(
            encode: try Self.encoder(request), urlEncoded: request[query: "encoding-type"] != nil,
            maxKeys: try Self.maxKeys(request), prefix: request[query: "prefix"] ?? "", delimiter: request[query: "delimiter"])
    }

    // MARK: - ListObjectsV2

    func listObjectsV2(_ request: S3Request, bucket: String, account: String) throws(S3Error) -> HTTPResponse {
        let listing = try parseListing(request, bucket: bucket, account: account)
        let encode = listing.encode
        let startAfter = request[query: "start-after"]
        var after = startAfter
        let token = request[query: "continuation-token"]
        if let token {
            guard let data = Data(base64Encoded: token), let marker = String(data: data, encoding: .utf8), !marker.isEmpty else {
                throw .invalidArgument("The continuation token provided is incorrect", name: "continuation-token", value: token)
            }
            after = marker
        }
        let page = try store.list(bucket: bucket, listing.query(after: after))
        let fetchOwner = request[query: "fetch-owner"] == "true"
        var xml = XMLWriter()
        xml.group("ListBucketResult", namespace: Self.namespace) { xml in
            xml.element("Name", bucket)
            xml.element("Prefix", encode(listing.prefix))
            listing.writeDelimiter(&xml)
            xml.element("MaxKeys", listing.maxKeys)
            listing.writeEncodingType(&xml)
            xml.element("KeyCount", page.objects.count + page.commonPrefixes.count)
            xml.element("IsTruncated", page.isTruncated)
            if let token { xml.element("ContinuationToken", token) }
            if page.isTruncated, let last = page.lastItem {
                xml.element("NextContinuationToken", Data(last.utf8).base64EncodedString())
            }
            if let startAfter { xml.element("StartAfter", encode(startAfter)) }
            for object in page.objects { Self.writeContents(&xml, object, encode: encode, owner: fetchOwner ? account : nil) }
            listing.writeCommonPrefixes(&xml, page)
        }
        return Self.xmlResponse(xml)
    }

    // MARK: - ListObjects (V1)

    func listObjectsV1(_ request: S3Request, bucket: String, account: String) throws(S3Error) -> HTTPResponse {
        let listing = try parseListing(request, bucket: bucket, account: account)
        let encode = listing.encode
        let marker = request[query: "marker"]
        let page = try store.list(bucket: bucket, listing.query(after: marker))
        var xml = XMLWriter()
        xml.group("ListBucketResult", namespace: Self.namespace) { xml in
            xml.element("Name", bucket)
            xml.element("Prefix", encode(listing.prefix))
            xml.element("Marker", encode(marker ?? ""))
            // NextMarker is sent with a delimiter only; without one clients continue after the last key.
            if page.isTruncated, listing.delimiter != nil, let last = page.lastItem { xml.element("NextMarker", encode(last)) }
            xml.element("MaxKeys", listing.maxKeys)
            listing.writeDelimiter(&xml)
            listing.writeEncodingType(&xml)
            xml.element("IsTruncated", page.isTruncated)
            for object in page.objects { Self.writeContents(&xml, object, encode: encode, owner: account) }
            listing.writeCommonPrefixes(&xml, page)
        }
        return Self.xmlResponse(xml)
    }

    // MARK: - ListObjectVersions

    /// An unversioned bucket's versions: one per object, version id `null`, always the latest
    /// (tools such as `aws s3 rb --force` and bucket-emptying scripts list them).
    func listVersions(_ request: S3Request, bucket: String, account: String) throws(S3Error) -> HTTPResponse {
        let listing = try parseListing(request, bucket: bucket, account: account)
        let encode = listing.encode
        let keyMarker = request[query: "key-marker"]
        let page = try store.list(bucket: bucket, listing.query(after: keyMarker))
        var xml = XMLWriter()
        xml.group("ListVersionsResult", namespace: Self.namespace) { xml in
            xml.element("Name", bucket)
            xml.element("Prefix", encode(listing.prefix))
            xml.element("KeyMarker", encode(keyMarker ?? ""))
            xml.element("VersionIdMarker", request[query: "version-id-marker"] ?? "")
            if page.isTruncated, let last = page.lastItem {
                xml.element("NextKeyMarker", encode(last))
                xml.element("NextVersionIdMarker", "null")
            }
            xml.element("MaxKeys", listing.maxKeys)
            listing.writeDelimiter(&xml)
            listing.writeEncodingType(&xml)
            xml.element("IsTruncated", page.isTruncated)
            for object in page.objects {
                xml.group("Version") { xml in
                    xml.element("Key", encode(object.key))
                    xml.element("VersionId", "null")
                    xml.element("IsLatest", true)
                    xml.element("LastModified", WireFormats.iso8601(milliseconds: object.modifiedNanoseconds / 1_000_000))
                    xml.element("ETag", Self.quoted(object.etag))
                    xml.element("Size", object.size)
                    Self.owner(&xml, account)
                    xml.element("StorageClass", "STANDARD")
                }
            }
            listing.writeCommonPrefixes(&xml, page)
        }
        return Self.xmlResponse(xml)
    }
}
