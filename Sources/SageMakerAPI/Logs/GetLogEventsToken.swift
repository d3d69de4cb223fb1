import JobStore

/// GetLogEvents' `nextForwardToken` / `nextBackwardToken`: `f/…/s` and `b/…/s` like CloudWatch's
/// (e.g. `f/36256301775436013933128850879197215871000610218306404351/s`, wazuh/wazuh#9934). The
/// digits are a ``LogPosition`` in the stream (20 digits of timestamp, 20 of the event ordinal in
/// the stream, never the database-wide sequence, which counts other accounts' lines): a forward token reads the
/// events at or after it, a backward token those before it. A position is meaningful in any stream
/// and under any parameters, so the token needs no signature; anything that does not parse is
/// CloudWatch's "The specified nextToken is invalid."
struct GetLogEventsToken: Equatable {
    enum Direction: String {
        case forward = "f"
        case backward = "b"
    }

    var direction: Direction
    var position: LogPosition

    private static let digits = 20

    init(_ direction: Direction, _ position: LogPosition) {
        self.direction = direction
        self.position = position
    }

    init(parsing text: String) throws(AWSServiceError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, let direction = Direction(rawValue: String(parts[0])), parts[2] == "s",
            parts[1].utf8.count == 2 * Self.digits, parts[1].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let timestamp = Int64(parts[1].prefix(Self.digits)), let sequence = Int64(parts[1].suffix(Self.digits))
        else { throw .invalidNextToken }
        self.init(direction, LogPosition(timestampMilliseconds: timestamp, sequence: sequence))
    }

    var text: String {
        "\(direction.rawValue)/\(Self.padded(position.timestampMilliseconds))\(Self.padded(position.sequence))/s"
    }

    /// Positions are never negative: stored timestamps are clamped to 0 and ordinals start at 1.
    private static func padded(_ value: Int64) -> String {
        let text = String(max(0, value))
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
