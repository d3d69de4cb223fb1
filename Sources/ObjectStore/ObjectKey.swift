/// How an S3 key maps to a path below its bucket's folder, and which keys cannot.
///
/// S3 keys are any UTF-8 up to 1024 bytes (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html);
/// a folder holds fewer: each `/`-separated part must be a file or directory name. Keys that would
/// not round-trip are refused with `InvalidArgument` naming the reason, never silently changed:
/// an empty part (a leading `/`, `a//b`, or a trailing `/` as in folder markers), a `.` or `..`
/// part, a NUL byte, or a part over 255 bytes (NAME_MAX). A key whose parent part is already an
/// object (`a` beside `a/b`) is refused when written (see ObjectStore.put), for the same reason.
public struct ObjectKey: Sendable, Equatable {
    public let key: String
    public let components: [String]

    public static let maxKeyBytes = 1024
    public static let maxComponentBytes = 255

    public init(_ key: String) throws(S3Error) {
        let bytes = key.utf8.count
        guard bytes > 0 else {
            throw .invalidArgument("The key must not be empty.", name: "key", value: key)
        }
        guard bytes <= Self.maxKeyBytes else {
            throw S3Error(code: "KeyTooLongError", message: "Your key is too long", status: 400, details: [("Key", key)])
        }
        guard !key.utf8.contains(0) else {
            throw .invalidArgument("Trainyard stores objects as files: a key cannot contain a NUL byte.", name: "key", value: key)
        }
        let parts = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for part in parts {
            if part.isEmpty {
                let reason = key.hasSuffix("/")
                    ? "a key cannot end with '/' (folder markers are not stored; a folder exists while objects are in it)"
                    : "a key cannot start with '/' or contain '//'"
                throw .invalidArgument("Trainyard stores objects as files: \(reason).", name: "key", value: key)
            }
            if part == "." || part == ".." {
                throw .invalidArgument(
                    "Trainyard stores objects as files: a key cannot have '.' or '..' as a path segment.", name: "key", value: key)
            }
            if part.utf8.count > Self.maxComponentBytes {
                throw .invalidArgument(
                    "Trainyard stores objects as files: each '/'-separated segment of a key is at most 255 bytes.",
                    name: "key", value: key)
            }
        }
        self.key = key
        self.components = parts
    }

    public var parentComponents: ArraySlice<String> { components.dropLast() }
    public var leaf: String { components[components.count - 1] }
}

/// Bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
/// 3-63 characters of lowercase letters, digits, `.` and `-`; starts and ends with a letter or digit;
/// no `..`; not an IP address; not `xn--`/`sthree-` prefixed nor `-s3alias`/`--ol-s3` suffixed.
public enum BucketName {
    public static func validate(_ name: String) throws(S3Error) {
        guard isValid(name) else {
            throw S3Error(
                code: "InvalidBucketName", message: "The specified bucket is not valid.", status: 400,
                details: [("BucketName", name)])
        }
    }

    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard isLowerAlnum(bytes.first!), isLowerAlnum(bytes.last!) else { return false }
        for b in bytes where !(isLowerAlnum(b) || b == 0x2E || b == 0x2D) { return false }
        if name.contains("..") { return false }
        for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] where name.hasPrefix(prefix) { return false }
        for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3"] where name.hasSuffix(suffix) { return false }
        let parts = name.split(separator: ".")
        if parts.count == 4, parts.allSatisfy({ $0.allSatisfy(\.isNumber) }) { return false }
        return true
    }
}
