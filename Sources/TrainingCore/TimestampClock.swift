/// A `Clock` whose instants are the timestamps Trainyard stores: the scheduler reads the time from
/// it and sleeps on it, so a test's manual clock drives every deadline (DESIGN §7.7) and a
/// production clock is the wall clock. Deadlines are stored as wall-clock times (they must survive
/// a restart), which is why this is not `ContinuousClock`.
public protocol TimestampClock: Clock where Instant == Timestamp, Duration == Swift.Duration {}

extension Timestamp: InstantProtocol {
    public func advanced(by duration: Duration) -> Timestamp {
        adding(milliseconds: duration.wholeMilliseconds)
    }

    public func duration(to other: Timestamp) -> Duration {
        .milliseconds(other.millisecondsSince(self))
    }
}

extension Duration {
    /// Whole milliseconds, rounded toward zero (the stored timestamps' resolution).
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
