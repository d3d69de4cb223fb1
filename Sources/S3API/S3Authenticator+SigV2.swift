import Crypto
import EventHTTP
import Foundation
import ObjectStore
import SageMakerAPI

/// Presigned URLs of Signature Version 2 (`AWSAccessKeyId`, `Expires`, `Signature` in the query),
/// which boto3 still produces for S3 by default with a custom endpoint
/// (`generate_presigned_url` without `signature_version="s3v4"`). Verified as S3 did
/// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html, "Query string
/// request authentication alternative"): HMAC-SHA1 of the verb, Content-MD5, Content-Type, the
/// expiry, the x-amz-* headers and the canonical resource. Only the query form: a SigV2
/// Authorization header is still refused.
extension S3Authenticator {
    /// Subresources that are part of the SigV2 canonical resource (botocore's list).
    static let sigV2Subresources: Set<String> = [
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy", "requestPayment",
        "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId", "response-content-type",
        "response-content-language", "response-expires", "response-cache-control", "response-content-disposition",
        "response-content-encoding", "delete", "lifecycle", "tagging", "restore", "storageClass", "notification",
        "replication", "analytics", "metrics", "inventory", "select", "select-type", "object-lock",
    ]

    static func isSigV2Presigned(_ query: [(name: String, value: String)]) -> Bool {
        query.contains { $0.name == "AWSAccessKeyId" } && query.contains { $0.name == "Signature" }
    }

    func authenticateSigV2(_ request: HTTPRequest, query: [(name: String, value: String)], credentials: Credentials) throws(S3Error)
        -> Identity
    {
        let parameters = Dictionary(query.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        guard let keyID = parameters["AWSAccessKeyId"], let signature = parameters["Signature"],
            let expiresText = parameters["Expires"], let expires = Int64(expiresText)
        else {
            throw S3Error.accessDenied("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
        }
        guard let entry = credentials.entries[keyID] else {
            throw S3Error(
                code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.",
                status: 403, details: [("AWSAccessKeyId", keyID)])
        }
        let current = Int64(now().timeIntervalSince1970)
        guard current <= expires else {
            throw S3Error(
                code: "AccessDenied", message: "Request has expired", status: 403,
                details: [("Expires", Self.iso(Date(timeIntervalSince1970: Double(expires)))), ("ServerTime", Self.iso(now()))])
        }
        let stringToSign = Self.sigV2StringToSign(request, query: query, expires: expiresText)
        let expected = Data(HMAC<Insecure.SHA1>.authenticationCode(for: Data(stringToSign.utf8), using: SymmetricKey(data: Data(entry.secretAccessKey.utf8))))
        guard let provided = Data(base64Encoded: signature), provided == expected else {
            throw S3Error(
                code: "SignatureDoesNotMatch",
                message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                status: 403, details: [("AWSAccessKeyId", keyID), ("StringToSign", stringToSign)])
        }
        return Identity(account: entry.accountId, accessKeyID: keyID, payloadHash: "UNSIGNED-PAYLOAD")
    }

    static func sigV2StringToSign(_ request: HTTPRequest, query: [(name: String, value: String)], expires: String) -> String {
        var amzHeaders: [String: [String]] = [:]
        for (name, value) in request.headers {
            let lower = name.lowercased()
            if lower.hasPrefix("x-amz-") { amzHeaders[lower, default: []].append(value.trimmingCharacters(in: .whitespaces)) }
        }
        let canonicalHeaders = amzHeaders.keys.sorted().map { "\($0):\(amzHeaders[$0]!.joined(separator: ","))\n" }.joined()
        var resource = request.path.isEmpty ? "/" : request.path
        if let bucket = S3Request.virtualHostBucket(request.headers["host"]) { resource = "/" + bucket + resource }
        let subresources = query.filter { sigV2Subresources.contains($0.name) }.sorted { $0.name < $1.name }
        if !subresources.isEmpty {
            resource += "?" + subresources.map { $0.value.isEmpty ? $0.name : "\($0.name)=\($0.value)" }.joined(separator: "&")
        }
        return [request.method, request.headers["content-md5"] ?? "", request.headers["content-type"] ?? "", expires].joined(separator: "\n")
            + "\n" + canonicalHeaders + resource
    }
}
