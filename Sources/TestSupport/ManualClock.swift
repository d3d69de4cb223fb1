public import TrainingCore
import Synchronization

/// A clock that moves only when a test says so. Sleepers wake, in deadline order, when `advance`
/// passes their deadline; cancelled sleepers throw `CancellationError` as `Task.sleep` does.
/// Observers registered with `onAdvance` run synchronously inside `advance`, before sleepers
/// wake, so a fake container's exit is visible to whoever wakes at the same instant.
public final class ManualClock: TimestampClock {
    private struct Sleeper {
        var deadline: Timestamp
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Timestamp
        var sleepers: [UInt64: Sleeper] = [:]
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
        var observers: [@Sendable (Timestamp) -> Void] = []
    }

    private let state: Mutex<State>

    /// Starts at 2023-11-14T22:13:20Z (any fixed instant works; a round one reads well in failures).
    public init(now: Timestamp = Timestamp(milliseconds: 1_700_000_000_000)) {
        state = Mutex(State(now: now))
    }

    public var now: Timestamp { state.withLock { $0.now } }
    public var minimumResolution: Duration { .milliseconds(1) }

    /// Sleepers currently waiting (for tests that need to know the scheduler has gone to sleep).
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Calls `observer` with the new time on every `advance`.
    public func onAdvance(_ observer: @escaping @Sendable (Timestamp) -> Void) {
        state.withLock { $0.observers.append(observer) }
    }

    public func sleep(until deadline: Timestamp, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let sleeper = state.sleepers.removeValue(forKey: id) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return sleeper
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the time forward by `duration` and wakes every sleeper whose deadline has come.
    public func advance(by duration: Duration) {
        advance(to: now.advanced(by: duration))
    }

    public func advance(to time: Timestamp) {
        let observers = state.withLock { state -> [@Sendable (Timestamp) -> Void] in
            state.now = max(state.now, time)
            return state.observers
        }
        for observer in observers { observer(time) }
        let due = state.withLock { state -> [Sleeper] in
            let due = state.sleepers.filter { $0.value.deadline <= state.now }
            for id in due.keys { state.sleepers[id] = nil }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
