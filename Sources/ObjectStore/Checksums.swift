internal import CZlib
public import Crypto
public import Foundation

/// The additional checksums of S3 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html):
/// sent as `x-amz-checksum-<algorithm>` headers or aws-chunked trailers, base64 of the big-endian digest.
public enum ChecksumAlgorithm: String, Sendable, CaseIterable {
    case crc32 = "CRC32"
    case crc32c = "CRC32C"
    case crc64nvme = "CRC64NVME"
    case sha1 = "SHA1"
    case sha256 = "SHA256"

    /// `x-amz-checksum-crc32` and so on.
    public var headerName: String { "x-amz-checksum-" + rawValue.lowercased() }

    public init?(headerName: String) {
        let lower = headerName.lowercased()
        guard lower.hasPrefix("x-amz-checksum-") else { return nil }
        self.init(rawValue: String(lower.dropFirst("x-amz-checksum-".count)).uppercased())
    }
}

/// An incremental checksum of one algorithm.
public struct RunningChecksum {
    public let algorithm: ChecksumAlgorithm
    private var crc32Value: UInt = 0
    private var crc32cValue: UInt32 = 0xFFFF_FFFF
    private var crc64Value: UInt64 = 0xFFFF_FFFF_FFFF_FFFF
    private var sha1 = Insecure.SHA1()
    private var sha256 = SHA256()

    public init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
        if algorithm == .crc32 { crc32Value = UInt(CZlib.crc32(0, nil, 0)) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        switch algorithm {
        case .crc32:
            var offset = 0
            while offset < bytes.count {
                let chunk = min(bytes.count - offset, Int(UInt32.max))
                crc32Value = UInt(CZlib.crc32(uLong(crc32Value), base.assumingMemoryBound(to: Bytef.self) + offset, uInt(chunk)))
                offset += chunk
            }
        case .crc32c:
            crc32cValue = CRCTables.crc32c(crc32cValue, bytes)
        case .crc64nvme:
            crc64Value = CRCTables.crc64nvme(crc64Value, bytes)
        case .sha1:
            sha1.update(bufferPointer: bytes)
        case .sha256:
            sha256.update(bufferPointer: bytes)
        }
    }

    /// The digest's big-endian bytes.
    public func digest() -> [UInt8] {
        switch algorithm {
        case .crc32: return withUnsafeBytes(of: UInt32(truncatingIfNeeded: crc32Value).bigEndian, Array.init)
        case .crc32c: return withUnsafeBytes(of: (crc32cValue ^ 0xFFFF_FFFF).bigEndian, Array.init)
        case .crc64nvme: return withUnsafeBytes(of: (crc64Value ^ 0xFFFF_FFFF_FFFF_FFFF).bigEndian, Array.init)
        case .sha1: return Array(sha1.finalize())
        case .sha256: return Array(sha256.finalize())
        }
    }

    /// Base64 of the digest, as the header carries it.
    public func base64() -> String { Data(digest()).base64EncodedString() }
}

/// Reflected table-driven CRCs for the two algorithms zlib does not have.
enum CRCTables {
    /// CRC-32C (Castagnoli), reflected polynomial 0x82F63B78.
    static let crc32cTable: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// CRC-64/NVME, reflected polynomial 0x9A6C9329AC4BC9B5.
    static let crc64Table: [UInt64] = (0..<256).map { index in
        var crc = UInt64(index)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x9A6C_9329_AC4B_C9B5 : crc >> 1 }
        return crc
    }

    static func crc32c(_ start: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = start
        crc32cTable.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc
    }

    static func crc64nvme(_ start: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var crc = start
        crc64Table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int((crc ^ UInt64(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hex.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
