import Crypto
public import EventHTTP
import Foundation
public import Logging
public import ObjectStore

/// The S3 REST API over the object store (issue 11; API reference
/// https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html).
/// Answers XML, errors as S3's `<Error>` documents; every response carries `x-amz-request-id`.
public final class S3Service: Sendable {
    let store: ObjectStore
    let authenticator: S3Authenticator
    let region: String
    let logger: Logger

    public init(store: ObjectStore, authenticator: S3Authenticator, region: String, logger: Logger) {
        self.store = store
        self.authenticator = authenticator
        self.region = region
        self.logger = logger
    }

    static let namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

    public func respond(to http: HTTPRequest) -> HTTPResponse {
        let requestID = S3Service.requestID()
        do {
            let request = try S3Request(http)
            let identity: S3Authenticator.Identity
            if let streamed = http.streamedBody as? StreamedS3Body {
                // Verified when the head arrived (the rewritten head no longer carries the body's length).
                guard let verified = streamed.identity else { throw try streamed.result.get().failureExpected() }
                identity = verified
            } else {
                identity = try authenticator.authenticate(http, query: request.query)
            }
            var response = try route(request, identity: identity, requestID: requestID)
            response.headers.add(name: "x-amz-request-id", value: requestID)
            response.headers.add(name: "x-amz-id-2", value: requestID)
            // The server-wide request id header (every reply on this port carries one).
            response.headers.add(name: "x-amzn-RequestId", value: requestID)
            return response
        } catch let error as S3Error {
            if error.status >= 500 {
                logger.error("S3 request failed", metadata: ["request.id": "\(requestID)", "error": "\(error)"])
            }
            return Self.errorResponse(error, resource: http.path, requestID: requestID, head: http.method == "HEAD")
        } catch {
            return Self.errorResponse(.internalError("\(error)"), resource: http.path, requestID: requestID, head: http.method == "HEAD")
        }
    }

    static func requestID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString.uppercased()
    }

    static func errorResponse(_ error: S3Error, resource: String, requestID: String, head: Bool) -> HTTPResponse {
        var headers = HTTPHeaders([("x-amz-request-id", requestID), ("x-amz-id-2", requestID), ("x-amzn-RequestId", requestID)])
        // A HEAD answer has no body, so clients read the code from the status alone (S3 does the same).
        if head { return HTTPResponse(status: error.status, headers: headers) }
        var xml = XMLWriter()
        xml.group("Error") { xml in
            xml.element("Code", error.code)
            xml.element("Message", error.message)
            for detail in error.details { xml.element(detail.name, detail.value) }
            xml.element("Resource", resource)
            xml.element("RequestId", requestID)
            xml.element("HostId", requestID)
        }
        headers.add(name: "Content-Type", value: "application/xml")
        return HTTPResponse(status: error.status, headers: headers, body: xml.bytes)
    }

    static func xmlResponse(_ xml: XMLWriter, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "application/xml")]), body: xml.bytes)
    }

    static func notImplemented(_ what: String) -> S3Error {
        S3Error(
            code: "NotImplemented",
            message: "Trainyard does not serve \(what). Served: buckets, objects, listings, multipart uploads and the canned 'private' ACL.",
            status: 501)
    }

    static func methodNotAllowed(_ method: String) -> S3Error {
        S3Error(
            code: "MethodNotAllowed", message: "The specified method is not allowed against this resource.", status: 405,
            details: [("Method", method)])
    }

    // MARK: - Routing

    func route(_ request: S3Request, identity: S3Authenticator.Identity, requestID: String) throws(S3Error) -> HTTPResponse {
        for name in request.queryMap.keys where unsupportedSubresources.contains(name) {
            throw Self.notImplemented("the '\(name)' subresource (\(request.method) ?\(name))")
        }
        try checkACLHeaders(request)
        let account = identity.account
        guard let bucket = request.bucket else {
            guard request.method == "GET" || request.method == "HEAD" else { throw Self.methodNotAllowed(request.method) }
            return try listBuckets(account: account)
        }
        guard let key = request.key else {
            return try routeBucket(request, bucket: bucket, identity: identity)
        }
        switch request.method {
        case "PUT":
            if request.has("acl") { return try putACL(request, bucket: bucket, key: key, account: account) }
            if request.has("uploadId") || request.has("partNumber") {
                return try uploadPart(request, bucket: bucket, key: key, identity: identity)
            }
            if request.headers["x-amz-copy-source"] != nil { return try copyObject(request, bucket: bucket, key: key, identity: identity) }
            return try putObject(request, bucket: bucket, key: key, identity: identity)
        case "GET", "HEAD":
            if request.has("uploadId") { return try listParts(request, bucket: bucket, key: key, account: account) }
            if request.has("acl") { return try getACL(bucket: bucket, key: key, account: account) }
            return try getObject(request, bucket: bucket, key: key, account: account)
        case "DELETE":
            if request.has("uploadId") { return try abortUpload(request, bucket: bucket, key: key, account: account) }
            return try deleteObject(bucket: bucket, key: key, account: account)
        case "POST":
            if request.has("uploads") { return try createUpload(request, bucket: bucket, key: key, account: account) }
            if request.has("uploadId") { return try completeUpload(request, bucket: bucket, key: key, identity: identity) }
            // POST on an object is only multipart's; anything else is the client's mistake (4xx).
            throw Self.methodNotAllowed(request.method)
        default:
            throw Self.methodNotAllowed(request.method)
        }
    }

    func routeBucket(_ request: S3Request, bucket: String, identity: S3Authenticator.Identity) throws(S3Error) -> HTTPResponse {
        let account = identity.account
        switch request.method {
        case "PUT":
            if request.has("acl") { return try putACL(request, bucket: bucket, key: nil, account: account) }
            if request.has("versioning") { throw Self.notImplemented("bucket versioning (PutBucketVersioning)") }
            return try createBucket(request, bucket: bucket, identity: identity)
        case "HEAD":
            try store.requireBucket(bucket, account: account)
            return HTTPResponse(status: 200, headers: HTTPHeaders([("x-amz-bucket-region", region)]))
        case "GET":
            if request.has("location") { return try bucketLocation(bucket: bucket, account: account) }
            if request.has("versioning") { return try bucketVersioning(bucket: bucket, account: account) }
            if request.has("acl") { return try getACL(bucket: bucket, key: nil, account: account) }
            if request.has("uploads") { return try listUploads(request, bucket: bucket, account: account) }
            if request.has("versions") { return try listVersions(request, bucket: bucket, account: account) }
            if request[query: "list-type"] == "2" { return try listObjectsV2(request, bucket: bucket, account: account) }
            return try listObjectsV1(request, bucket: bucket, account: account)
        case "DELETE":
            try store.deleteBucket(bucket, account: account)
            return HTTPResponse(status: 204)
        case "POST":
            if request.has("delete") { return try deleteObjects(request, bucket: bucket, identity: identity) }
            // Browser-form POST uploads are not served: a 4xx, not a server error.
            throw Self.methodNotAllowed(request.method)
        default:
            throw Self.methodNotAllowed(request.method)
        }
    }

    /// Objects and buckets are private to their account: the canned ACL `private` is what they
    /// have anyway and is accepted; any other ACL, and grants, are refused rather than ignored.
    func checkACLHeaders(_ request: S3Request) throws(S3Error) {
        if let acl = request.headers["x-amz-acl"], acl != "private" {
            throw Self.notImplemented("the canned ACL '\(acl)' (only 'private' is accepted: objects and buckets belong to their account)")
        }
        for (name, _) in request.headers where name.lowercased().hasPrefix("x-amz-grant-") {
            throw Self.notImplemented("ACL grants (\(name)); only the canned ACL 'private' is accepted")
        }
    }

    // MARK: - Shared pieces

    func objectKey(_ key: String) throws(S3Error) -> ObjectKey { try ObjectKey(key) }

    /// The owner's canonical user id as S3 shows it (64 hex digits), derived from the account.
    static func canonicalID(_ account: String) -> String { SHA256.hash(data: Data(account.utf8)).hex }

    static func owner(_ xml: inout XMLWriter, _ account: String) {
        xml.group("Owner") { xml in
            xml.element("ID", canonicalID(account))
            xml.element("DisplayName", account)
        }
    }

    static func quoted(_ etag: String) -> String { "\"" + etag + "\"" }
}
