import JobStore
import Synchronization
import TrainingCore

/// A level-triggered wake-up for the reconcile loop: `signal()` from any thread makes the next (or
/// current) `wait(until:on:)` return at once; several signals before a wait count as one. The
/// timeout is a deadline on the scheduler's clock, so a manual clock drives it in tests.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var generation: UInt64 = 0
    }
    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after a signal, at `deadline`, when the task is cancelled, or at once if a signal
    /// came since the last wait.
    func wait(until deadline: Timestamp, on clock: any TimestampClock) async {
        let generation = state.withLock { state -> UInt64? in
            if state.pending {
                state.pending = false
                return nil
            }
            state.generation &+= 1
            return state.generation
        }
        guard let generation else { return }
        let timer = Task { [weak self] in
            // A cancelled timer must not expire: it would leave a stale wake-up for the next wait.
            do { try await clock.sleep(until: deadline, tolerance: nil) } catch { return }
            self?.expire(generation)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || state.generation != generation {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            signal()
        }
        timer.cancel()
    }

    /// The timer of wait number `generation` ran out; a stale timer does nothing.
    private func expire(_ generation: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation else { return nil }
            guard let waiter = state.waiter else {
                // The waiter has not parked yet: make it return as soon as it tries.
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}

/// Jobs changed since the scheduler last looked (from the store's change feed, any thread).
final class ChangedJobs: Sendable {
    private let changes = Mutex([JobChange]())

    func insert(_ change: JobChange) { changes.withLock { $0.append(change) } }
    func takeAll() -> [JobChange] { changes.withLock { changes in defer { changes = [] }; return changes } }
    var isEmpty: Bool { changes.withLock { $0.isEmpty } }
}
