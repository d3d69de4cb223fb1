import EventHTTP
import Foundation
import ObjectStore

/// An S3 request, addressed: the bucket and key from the path (`/bucket/key`, path style) or from
/// the Host header (`bucket.localhost:PORT`, virtual-hosted style; the path is then the key), and
/// the decoded query.
struct S3Request {
    let http: HTTPRequest
    let bucket: String?
    /// Decoded; nil for a bucket or service request (an empty key is the bucket itself).
    let key: String?
    let query: [(name: String, value: String)]
    let queryMap: [String: String]

    init(_ http: HTTPRequest) throws(S3Error) {
        self.http = http
        query = WireFormats.parseQuery(http.query)
        queryMap = Dictionary(query.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        guard let path = WireFormats.percentDecode(Substring(http.path)) else {
            throw S3Error.invalidRequest("The request path is not valid percent-encoded UTF-8.")
        }
        if let hostBucket = Self.virtualHostBucket(http.headers["host"]) {
            bucket = hostBucket
            let rest = path.hasPrefix("/") ? String(path.dropFirst()) : path
            key = rest.isEmpty ? nil : rest
        } else {
            var rest = path.hasPrefix("/") ? path.dropFirst() : Substring(path)
            let bucketPart = rest.prefix { $0 != "/" }
            rest = rest.dropFirst(bucketPart.count)
            bucket = bucketPart.isEmpty ? nil : String(bucketPart)
            if rest.hasPrefix("/") { rest = rest.dropFirst() }
            key = rest.isEmpty ? nil : String(rest)
        }
    }

    /// `bucket.localhost[:port]` (and `bucket.s3.localhost`) → `bucket`. Other names are path style:
    /// an IP address or a plain host name has no bucket in it.
    static func virtualHostBucket(_ host: String?) -> String? {
        guard var host = host?.lowercased() else { return nil }
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") { host = String(host[..<colon]) }
        for suffix in [".s3.localhost", ".localhost"] where host.hasSuffix(suffix) {
            let bucket = String(host.dropLast(suffix.count))
            return bucket.isEmpty || bucket == "s3" ? nil : bucket
        }
        return nil
    }

    func has(_ name: String) -> Bool { queryMap[name] != nil }
    subscript(query name: String) -> String? { queryMap[name] }
    var method: String { http.method }
    var headers: HTTPHeaders { http.headers }
    var resource: String { "/" + (bucket ?? "") + (key.map { "/" + $0 } ?? "") }
}

/// Subresources Trainyard does not serve, refused with NotImplemented rather than mistaken for
/// a plain GET or PUT of the bucket or object.
let unsupportedSubresources: Set<String> = [
    "policy", "policyStatus", "cors", "lifecycle", "tagging", "website", "logging", "notification", "replication",
    "encryption", "ownershipControls", "publicAccessBlock", "object-lock", "accelerate", "requestPayment", "analytics",
    "metrics", "inventory", "intelligent-tiering", "retention", "legal-hold", "torrent", "restore", "select", "attributes",
    "session", "metadataTable", "renameObject",
]
