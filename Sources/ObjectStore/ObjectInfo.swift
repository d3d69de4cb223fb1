public import Foundation

/// What S3 reports about an object: HeadObject's headers, a listing's Contents entry.
public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Without quotes (S3 sends it quoted).
    public var etag: String
    /// The file's modification time, nanoseconds since the epoch.
    public var modifiedNanoseconds: Int64
    /// nil when the uploader sent none (S3 then answers `binary/octet-stream`).
    public var contentType: String?
    /// Stored request headers, names lowercased: `x-amz-meta-*`, `content-encoding`,
    /// `content-disposition`, `content-language`, `cache-control`, `expires`.
    public var headers: [String: String]
    /// Checksums given at upload (`CRC32` → base64).
    public var checksums: [String: String]

    public init(
        key: String, size: Int64, etag: String, modifiedNanoseconds: Int64, contentType: String? = nil,
        headers: [String: String] = [:], checksums: [String: String] = [:]
    ) {
        self.key = key
        self.size = size
        self.etag = etag
        self.modifiedNanoseconds = modifiedNanoseconds
        self.contentType = contentType
        self.headers = headers
        self.checksums = checksums
    }

    public var lastModified: Date { Date(timeIntervalSince1970: Double(modifiedNanoseconds) / 1e9) }

    /// The headers S3 keeps with an object (PutObject's "Request headers" that are stored).
    public static let storedHeaderNames: Set<String> = [
        "content-encoding", "content-disposition", "content-language", "cache-control", "expires",
        "x-amz-website-redirect-location",
    ]
}

/// Attributes an upload brings along.
public struct ObjectAttributes: Sendable, Equatable {
    public var contentType: String?
    public var headers: [String: String]
    public var checksums: [String: String]

    public init(contentType: String? = nil, headers: [String: String] = [:], checksums: [String: String] = [:]) {
        self.contentType = contentType
        self.headers = headers
        self.checksums = checksums
    }
}

/// A bucket as ListBuckets shows it.
public struct BucketInfo: Sendable, Equatable {
    public var name: String
    public var account: String
    public var createdMilliseconds: Int64
}

enum JSONStrings {
    static func encode(_ map: [String: String]) -> String {
        guard !map.isEmpty, let data = try? JSONSerialization.data(withJSONObject: map, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func decode(_ text: String) -> [String: String] {
        guard text != "{}", let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] else {
            return [:]
        }
        return object
    }
}
