import Synchronization

/// `x-amzn-RequestId` values: UUID-shaped (8-4-4-4-12 lowercase hex) like AWS's, unique per process.
///
/// Foundation's `UUID()` opens and reads /dev/urandom on every call on Linux: three system calls per
/// request, a measurable share of a DescribeTrainingJob. Instead a counter goes through SipHash keyed
/// with a random per-process seed (Swift's `Hasher`): unique per counter value in practice, and not
/// sequential, so two of one account's ids do not tell how many requests others sent in between
/// (issue 12).
enum RequestIDs {
    private static let counter = Atomic<UInt64>(0)
    private static let key = (UInt64.random(in: .min ... .max), UInt64.random(in: .min ... .max))
    private static let hexDigits = Array("0123456789abcdef".utf8)
    /// Where the 8-4-4-4-12 groups of the 32 digits end.
    private static let dashesBefore: Set = [8, 13, 18, 23]

    static func next() -> String {
        let sequence = counter.add(1, ordering: .relaxed).newValue
        let words = [Self.keyed(sequence, half: key.0), Self.keyed(sequence, half: key.1)]
        var text = [UInt8]()
        text.reserveCapacity(36)
        for word in words {
            for shift in stride(from: 60, through: 0, by: -4) {
                if dashesBefore.contains(text.count) { text.append(UInt8(ascii: "-")) }
                text.append(hexDigits[Int((word >> UInt64(shift)) & 0xF)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func keyed(_ sequence: UInt64, half: UInt64) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(half)
        hasher.combine(sequence)
        return UInt64(UInt(bitPattern: hasher.finalize()))
    }
}
