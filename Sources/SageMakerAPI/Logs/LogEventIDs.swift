import Crypto
import Foundation
import JobStore

/// FilterLogEvents' `eventId`s (issue 12 item 10): 56 decimal digits, the shape CloudWatch's have
/// (`"eventId": "00091539120382912324200901570000096855579456010247667712"`, aws-cli
/// `awscli/examples/logs/filter-log-events.rst`).
///
/// The first 36 digits stand for the stream: an HMAC-SHA256 of its row id under a key kept in the
/// database (created with it, `server_settings` `log-event-id-key`), so they say nothing about how
/// many streams other accounts have. The last 20 are the event's ordinal in its stream, zero
/// padded: an id is unique, stable across restarts and pages, and sorts with its stream's order of
/// arrival, while revealing only how many lines that stream — the caller's own — has had.
/// Previously the id was the database-wide sequence, which counted every account's lines.
struct LogEventIDs: Sendable {
    /// The key's bytes (`SymmetricKey` itself is not Sendable).
    private let keyBytes: [UInt8]

    init(store: JobStore) throws {
        let hex = try store.setting("log-event-id-key") {
            SymmetricKey(size: .bits256).withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
        }
        self.init(keyBytes: Self.bytes(hex: hex))
    }

    init(keyBytes: [UInt8]) {
        self.keyBytes = keyBytes
    }

    /// The 36 digits that stand for stream `streamID`: two 18-digit numbers from the MAC's first
    /// 16 bytes (each 64-bit half modulo 10^18: opaque, if not perfectly uniform).
    func streamPart(streamID: Int64) -> String {
        let mac = Array(HMAC<SHA256>.authenticationCode(for: Data("log-stream:\(streamID)".utf8), using: SymmetricKey(data: keyBytes)))
        func half(_ offset: Int) -> String {
            let value = mac[offset..<offset + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return Self.padded(value % 1_000_000_000_000_000_000, to: 18)
        }
        return half(0) + half(8)
    }

    /// The id of the event numbered `ordinal` in the stream whose part is `streamPart`.
    static func eventID(streamPart: String, ordinal: Int64) -> String {
        streamPart + padded(UInt64(max(0, ordinal)), to: 20)
    }

    private static func padded(_ value: UInt64, to width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    private static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            if let byte = UInt8(hex[index..<next], radix: 16) { bytes.append(byte) }
            index = next
        }
        return bytes
    }
}
