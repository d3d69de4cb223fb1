import Foundation
public import TrainingCore

/// The wall clock, as stored timestamps count it: the scheduler's clock outside tests.
public struct SystemClock: TimestampClock {
    public init() {}

    public var now: Timestamp { Timestamp(epochSeconds: Date().timeIntervalSince1970) }

    public var minimumResolution: Duration { .milliseconds(1) }

    public func sleep(until deadline: Timestamp, tolerance: Duration? = nil) async throws {
        let wait = deadline.millisecondsSince(now)
        if wait > 0 { try await Task.sleep(for: .milliseconds(wait)) }
    }
}
