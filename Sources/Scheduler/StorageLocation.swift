public import Foundation

/// Where an `S3Uri` points on this machine (DESIGN §2): `s3://bucket/key` is `<s3-root>/bucket/key`
/// in the embedded object store; `file:///abs/path` is that local path (as SDK local mode allows),
/// only beneath a prefix the operator allowed (`--allow-file-uris`, issue 12 item 1).
///
/// A location is a trusted `root` (the object store, an allowed prefix) and a `relative` part that
/// is walked without following links (`SafeDirectory`): a link stored under the root never leads
/// out of it.
public struct StorageLocation: Sendable, Equatable {
    public var root: String
    /// Beneath `root`, without leading or trailing "/"; may be empty.
    public var relative: String

    /// Nil for a URI that is neither `s3://bucket/...` nor a `file:///...` under one of
    /// `allowedFilePrefixes`.
    public init?(uri: String, s3Root: String, allowedFilePrefixes: [String] = ["/"]) {
        if uri.hasPrefix("s3://") {
            let rest = uri.dropFirst("s3://".count)
            let bucket = rest.prefix { $0 != "/" }
            guard !bucket.isEmpty, !Self.hasDoubleDot(bucket), !rest.split(separator: "/").contains("..") else { return nil }
            root = s3Root
            relative = String(rest)
        } else if uri.hasPrefix("file://") {
            let rest = String(uri.dropFirst("file://".count))
            guard rest.hasPrefix("/") else { return nil }
            let path = rest.removingPercentEncoding ?? rest
            guard !path.split(separator: "/").contains(".."),
                let prefix = Self.allowedPrefix(of: path, among: allowedFilePrefixes)
            else { return nil }
            root = prefix
            relative = String(path.dropFirst(prefix.count))
        } else {
            return nil
        }
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        relative = relative.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
    }

    /// Whether `text` contains "..". On the bytes: `Substring.contains(_: String)` is Foundation's,
    /// through NSString, and was a sixth of collecting a simulated job's (empty) artifacts.
    private static func hasDoubleDot(_ text: Substring) -> Bool {
        var afterDot = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "."), afterDot { return true }
            afterDot = byte == UInt8(ascii: ".")
        }
        return false
    }

    /// The longest allowed prefix that contains `path` (whole components only: `/data` allows
    /// `/data/x`, not `/database`), normalized to end with "/".
    static func allowedPrefix(of path: String, among prefixes: [String]) -> String? {
        prefixes.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
            .filter { path.hasPrefix($0) || path + "/" == $0 }
            .max { $0.count < $1.count }
    }

    /// Whether a `file://` URI is under one of `prefixes` (CreateTrainingJob's check).
    public static func isAllowedFileURI(_ uri: String, prefixes: [String]) -> Bool {
        StorageLocation(uri: uri, s3Root: "/", allowedFilePrefixes: prefixes) != nil
    }

    /// The path on this machine (for messages and trusted callers).
    public var path: String {
        relative.isEmpty ? root : (root == "/" ? "/" + relative : root + "/" + relative)
    }

    public var url: URL { URL(fileURLWithPath: path) }

    /// The location with `component` ("a/b") appended.
    public func appending(_ component: String) -> StorageLocation {
        var copy = self
        let extra = component.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        copy.relative = copy.relative.isEmpty ? extra : copy.relative + "/" + extra
        return copy
    }
}
