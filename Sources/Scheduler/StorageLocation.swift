public import Foundation

/// Where an `S3Uri` points on this machine (DESIGN §2): `s3://bucket/key` is `<s3-root>/bucket/key`
/// in the embedded object store; `file:///abs/path` is that local path (as SDK local mode allows).
public struct StorageLocation: Sendable, Equatable {
    public var path: String

    /// Nil for a URI that is neither `s3://bucket/...` nor `file:///...`.
    public init?(uri: String, s3Root: String) {
        if uri.hasPrefix("s3://") {
            let rest = uri.dropFirst("s3://".count)
            let bucket = rest.prefix { $0 != "/" }
            guard !bucket.isEmpty, !bucket.contains(".."), !rest.split(separator: "/").contains("..") else { return nil }
            var root = s3Root
            while root.hasSuffix("/") { root.removeLast() }
            path = root + "/" + rest
        } else if uri.hasPrefix("file://") {
            let rest = String(uri.dropFirst("file://".count))
            guard rest.hasPrefix("/") else { return nil }
            path = rest.removingPercentEncoding ?? rest
        } else {
            return nil
        }
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
    }

    public var url: URL { URL(fileURLWithPath: path) }
}
