import JobStore
import Synchronization

/// Writes the captures' lines: the batches that arrive while one transaction is written all go in
/// the next one (LogStore's `appendLogEvents(_:)`), and each capture that waits for its batch is
/// suspended, not holding a thread. The captures of a burst of short jobs end at about the same
/// moment; with a transaction each they were a COMMIT per job, COMMIT was the largest SQLite cost
/// of a burst, and GroupCommit gathered 1.16 transactions a commit on average: each waiting
/// capture held one of the two threads that could have brought it another.
///
/// `run()` (a child of `LogCaptures.run()`) does the writing. Before it starts and after it has
/// stopped, a batch is written at once by its caller, so no line ever waits for a writer that is
/// not there.
final class LogWriter: Sendable {
    typealias Completion = @Sendable (Result<LogBatch.Outcome, JobStoreError>) -> Void

    private struct State {
        var queue: [(batch: LogBatch, completion: Completion?)] = []
        /// The writer, suspended until the queue has work.
        var idleWriter: CheckedContinuation<Void, Never>?
        var running = false
    }
    private let state = Mutex(State())
    private let logs: LogStore

    init(logs: LogStore) {
        self.logs = logs
    }

    /// Queues `batch`; `completion` (if any) gets its outcome once it is committed. Lines queued
    /// by one caller are committed in the order they were queued.
    func enqueue(_ batch: LogBatch, completion: Completion?) {
        let (running, writer) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard state.running else { return (false, nil) }
            state.queue.append((batch, completion))
            defer { state.idleWriter = nil }
            return (true, state.idleWriter)
        }
        guard running else {
            completion?(Result { () throws(JobStoreError) in try logs.appendLogEvents([batch])[0] })
            return
        }
        writer?.resume()
    }

    /// Writes what is queued, a transaction per round, until the task is cancelled; then writes
    /// what is left, and from then on callers write their batches themselves.
    func run() async {
        state.withLock { $0.running = true }
        while !Task.isCancelled {
            writeQueued()
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        guard state.queue.isEmpty, !Task.isCancelled else { return true }
                        state.idleWriter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                let writer = state.withLock { state in
                    defer { state.idleWriter = nil }
                    return state.idleWriter
                }
                writer?.resume()
            }
        }
        state.withLock { $0.running = false }
        writeQueued()
    }

    /// Writes every queued batch in one transaction and hands each its outcome.
    private func writeQueued() {
        let queued = state.withLock { state in
            defer { state.queue = [] }
            return state.queue
        }
        guard !queued.isEmpty else { return }
        do {
            let outcomes = try logs.appendLogEvents(queued.map(\.batch))
            for (entry, outcome) in zip(queued, outcomes) { entry.completion?(.success(outcome)) }
        } catch {
            for entry in queued { entry.completion?(.failure(error)) }
        }
    }
}
