import Synchronization

/// `x-amzn-RequestId` values: UUID-shaped (8-4-4-4-12 lowercase hex) like AWS's, unique per process.
///
/// Foundation's `UUID()` opens and reads /dev/urandom on every call on Linux: three system calls per
/// request, a measurable share of a DescribeTrainingJob. A random 64-bit prefix drawn once per
/// process plus a counter is as unique as clients need (ids only correlate a reply with logs).
enum RequestIDs {
    private static let prefix = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(UInt64.random(in: .min ... .max))
    private static let hexDigits = Array("0123456789abcdef".utf8)
    /// Where the 8-4-4-4-12 groups of the 32 digits end.
    private static let dashesBefore: Set = [8, 13, 18, 23]

    static func next() -> String {
        let sequence = counter.add(1, ordering: .relaxed).newValue
        var text = [UInt8]()
        text.reserveCapacity(36)
        for word in [prefix, sequence] {
            for shift in stride(from: 60, through: 0, by: -4) {
                if dashesBefore.contains(text.count) { text.append(UInt8(ascii: "-")) }
                text.append(hexDigits[Int((word >> UInt64(shift)) & 0xF)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }
}
