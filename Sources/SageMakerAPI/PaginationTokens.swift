import Crypto
import Foundation
import JobStore

/// Opaque `NextToken`s: a payload sealed with AES-256-GCM under a key kept in the database, so
/// tokens survive restarts, a tampered or foreign token is refused with ValidationException (AWS
/// says only that an invalid token is a ValidationException; the wording is ours), and a caller
/// cannot read what a token holds: FilterLogEvents' resume position carries the database-wide log
/// sequence, which counts every account's lines (issue 12 item 10). (Until then tokens were an
/// HMAC over readable JSON; such a token is now refused as not issued by this server.)
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
        // A fresh random nonce per token: 12 bytes, never repeating in practice under one key.
        let combined = (try? AES.GCM.seal(body, using: key).combined) ?? Data()
        return Self.base64URL(combined)
    }

    /// Opens a token sealed for the same scope; anything else is a ValidationException.
    func open<Payload: Codable>(_ token: String, as type: Payload.Type, scope: String) throws(AWSServiceError) -> Payload {
        // Only the canonical spelling is accepted: base64 leaves spare bits in its last character,
        // and a token differing there must count as modified too.
        guard let combined = Self.data(base64URL: Substring(token)), Self.base64URL(combined) == token,
            let box = try? AES.GCM.SealedBox(combined: combined),
            let body = try? AES.GCM.open(box, using: key),
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
