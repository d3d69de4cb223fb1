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

    private static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func data(base64URL text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
