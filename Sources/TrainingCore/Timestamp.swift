/// A point in time as milliseconds since the Unix epoch (UTC): what the store keeps and what
/// SageMaker's wire format (epoch seconds with a fraction) is derived from.
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    /// Epoch seconds, possibly fractional, as AWS JSON 1.1 sends timestamps.
    public init(epochSeconds: Double) { self.milliseconds = Int64((epochSeconds * 1000).rounded()) }

    public var epochSeconds: Double { Double(milliseconds) / 1000 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public func adding(seconds: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds + seconds * 1000) }
    public func adding(milliseconds delta: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds + delta) }

    /// Milliseconds from `earlier` to `self` (negative if `earlier` is later).
    public func millisecondsSince(_ earlier: Timestamp) -> Int64 { milliseconds - earlier.milliseconds }

    public var description: String { "\(milliseconds)ms" }

    public init(from decoder: any Decoder) throws {
        milliseconds = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(milliseconds)
    }
}
