import Crypto
import Foundation
import JobStore

/// Opaque `NextToken`s: a payload and an HMAC-SHA256 over it with a key kept in the database, so
/// tokens survive restarts and a tampered or foreign token is refused with ValidationException
/// (AWS says only that an invalid token is a ValidationException; the wording is ours).
struct PaginationTokens: Sendable {
    /// The key's bytes (`SymmetricKey` itself is not Sendable).
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    init(store: JobStore) throws {
        let hex = try store.setting("pagination-token-key") {
            SymmetricKey(size: .bits256).withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
        }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            if let byte = UInt8(hex[index..<next], radix: 16) { bytes.append(byte) }
            index = next
        }
        keyBytes = bytes
    }

    /// Seals `payload` for a query identified by `scope` (the filters that must not change between pages).
    func seal<Payload: Codable>(_ payload: Payload, scope: String) -> String {
        let body = (try? JSONEncoder().encode(Envelope(payload: payload, scope: scope))) ?? Data()
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: key)
        return Self.base64URL(body) + "." + Self.base64URL(Data(mac.prefix(16)))
    }

    /// Opens a token sealed for the same scope; anything else is a ValidationException.
    func open<Payload: Codable>(_ token: String, as type: Payload.Type, scope: String) throws(AWSServiceError) -> Payload {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        // Only the canonical spelling is accepted: base64 leaves spare bits in its last character,
        // and a token differing there must count as modified too.
        guard parts.count == 2, let body = Self.data(base64URL: parts[0]), let mac = Self.data(base64URL: parts[1]),
            mac.count == 16, Self.base64URL(body) == parts[0], Self.base64URL(mac) == parts[1],
            Data(HMAC<SHA256>.authenticationCode(for: body, using: key).prefix(16)) == mac,
            let envelope = try? JSONDecoder().decode(Envelope<Payload>.self, from: body)
        else {
            throw .validation("Invalid pagination token: the NextToken was not issued by this server or has been modified.")
        }
        guard envelope.scope == scope else {
            throw .validation("Invalid pagination token: it belongs to a request with different parameters.")
        }
        return envelope.payload
    }

    private struct Envelope<Payload: Codable>: Codable {
        var payload: Payload
        var scope: String
    }

    /// base64url without padding (RFC 4648 §5), by bytes: Foundation's replacingOccurrences went
    /// through NSString and was the most expensive part of a ListTrainingJobs page (perf).
    private static func base64URL(_ data: Data) -> String {
        let base64 = data.base64EncodedString().utf8
        var url: [UInt8] = []
        url.reserveCapacity(base64.count)
        for byte in base64 {
            switch byte {
            case UInt8(ascii: "+"): url.append(UInt8(ascii: "-"))
            case UInt8(ascii: "/"): url.append(UInt8(ascii: "_"))
            case UInt8(ascii: "="): break
            default: url.append(byte)
            }
        }
        return String(decoding: url, as: UTF8.self)
    }

    private static func data(base64URL text: Substring) -> Data? {
        var base64: [UInt8] = []
        base64.reserveCapacity(text.utf8.count + 3)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "-"): base64.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): base64.append(UInt8(ascii: "/"))
            default: base64.append(byte)
            }
        }
        while base64.count % 4 != 0 { base64.append(UInt8(ascii: "=")) }
        return Data(base64Encoded: Data(base64))
    }
}
