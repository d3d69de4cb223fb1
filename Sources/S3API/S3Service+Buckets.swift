import EventHTTP
import Foundation
import ObjectStore

extension S3Service {
    func listBuckets(account: String) throws(S3Error) -> HTTPResponse {
        let buckets = try store.listBuckets(account: account)
        var xml = XMLWriter()
        xml.group("ListAllMyBucketsResult", namespace: Self.namespace) { xml in
            Self.owner(&xml, account)
            xml.group("Buckets") { xml in
                for bucket in buckets {
                    xml.group("Bucket") { xml in
                        xml.element("Name", bucket.name)
                        xml.element("CreationDate", WireFormats.iso8601(milliseconds: bucket.createdMilliseconds))
                        xml.element("BucketRegion", region)
                    }
                }
            }
        }
        return Self.xmlResponse(xml)
    }

    /// CreateBucket. An account re-creating its own bucket gets 200 as in us-east-1 (elsewhere S3
    /// answers BucketAlreadyOwnedByYou); another account's name is BucketAlreadyExists
    /// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html).
    func createBucket(_ request: S3Request, bucket: String, identity: S3Authenticator.Identity) throws(S3Error) -> HTTPResponse {
        let body = try bufferedBody(request, identity: identity)
        if !body.isEmpty {
            guard let document = XMLNode.parse(body), document.name == "CreateBucketConfiguration" else {
                throw S3Error(
                    code: "MalformedXML",
                    message: "The XML you provided was not well-formed or did not validate against our published schema", status: 400)
            }
            if let constraint = document.child("LocationConstraint")?.text, !constraint.isEmpty, constraint != region {
                throw S3Error(
                    code: "IllegalLocationConstraintException",
                    message: "The \(constraint) location constraint is incompatible for the region specific endpoint this request was sent to.",
                    status: 400)
            }
        }
        let outcome = try store.createBucket(bucket, account: identity.account)
        if outcome == .alreadyOwned && region != "us-east-1" {
            throw S3Error(
                code: "BucketAlreadyOwnedByYou",
                message: "Your previous request to create the named bucket succeeded and you already own it.", status: 409,
                details: [("BucketName", bucket)])
        }
        return HTTPResponse(status: 200, headers: HTTPHeaders([("Location", "/" + bucket)]))
    }

    func bucketLocation(bucket: String, account: String) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: account)
        var xml = XMLWriter()
        // us-east-1 answers an empty LocationConstraint (GetBucketLocation's documented quirk).
        if region == "us-east-1" {
            xml.empty("LocationConstraint", namespace: Self.namespace)
        } else {
            xml.open("LocationConstraint", namespace: Self.namespace)
            xml.text(region)
            xml.close("LocationConstraint")
        }
        return Self.xmlResponse(xml)
    }

    /// A bucket that was never versioned answers an empty VersioningConfiguration.
    func bucketVersioning(bucket: String, account: String) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: account)
        var xml = XMLWriter()
        xml.empty("VersioningConfiguration", namespace: Self.namespace)
        return Self.xmlResponse(xml)
    }

    /// GetBucketAcl / GetObjectAcl: the owner's FULL_CONTROL, which is all there is.
    func getACL(bucket: String, key: String?, account: String) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: account)
        if let key { _ = try store.headObject(bucket: bucket, key: objectKey(key)) }
        var xml = XMLWriter()
        xml.group("AccessControlPolicy", namespace: Self.namespace) { xml in
            Self.owner(&xml, account)
            xml.group("AccessControlList") { xml in
                xml.bytesAppend(#"<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">"#)
                xml.element("ID", Self.canonicalID(account))
                xml.element("DisplayName", account)
                xml.bytesAppend("</Grantee>")
                xml.element("Permission", "FULL_CONTROL")
                xml.bytesAppend("</Grant>")
            }
        }
        return Self.xmlResponse(xml)
    }

    /// PutBucketAcl / PutObjectAcl with the canned ACL `private` (checked by checkACLHeaders); an
    /// access control policy in the body is refused.
    func putACL(_ request: S3Request, bucket: String, key: String?, account: String) throws(S3Error) -> HTTPResponse {
        try store.requireBucket(bucket, account: account)
        if let key { _ = try store.headObject(bucket: bucket, key: objectKey(key)) }
        guard request.headers["x-amz-acl"] == "private", request.http.body.isEmpty else {
            throw Self.notImplemented("access control policies (only the canned ACL 'private' is accepted)")
        }
        return HTTPResponse(status: 200)
    }
}

extension XMLWriter {
    mutating func bytesAppend(_ raw: String) { appendRaw(raw) }
}
