import ContainerRuntime
import Foundation
import JobStore
import Logging
import Synchronization
import TrainingCore

/// Follows one training container's output into the job's CloudWatch log stream
/// (`/aws/sagemaker/TrainingJobs`, `<job>/algo-1-<epoch>`; DG-logs).
///
/// Capture resumes from the last stored line's timestamp after a restart (Docker's `since` is
/// inclusive; the store skips lines it already has), so nothing is lost or stored twice. Memory
/// stays bounded whatever the container prints: lines are written in batches of at most
/// `batchSize`, and the reader waits while a batch is being written.
struct LogCapture {
    static let batchSize = 500
    /// How long a line may wait in memory before it is stored (what `aws logs tail --follow` sees).
    static let flushInterval: Duration = .milliseconds(200)

    let store: JobStore
    let runtime: any ContainerRuntime
    let logger: Logger

    /// Runs until the container's output ends (it has stopped) or the task is cancelled.
    /// Returns the number of lines stored.
    @discardableResult
    func run(job: TrainingJob, host: String, container: ContainerID, startedAt: Timestamp) async -> Int {
        let stream: LogStreamRecord
        let resumeNanoseconds: Int64?
        do {
            stream = try store.logs.openLogStream(for: job, host: host, createdAt: startedAt)
            resumeNanoseconds = try store.logs.lastLogTimestampNanoseconds(streamID: stream.id)
        } catch {
            logger.warning("cannot open the log stream", metadata: ["job.name": "\(job.name)", "error": "\(error)"])
            return 0
        }
        let since = resumeNanoseconds.map { Date(timeIntervalSince1970: Double($0) / 1_000_000_000) }
        let pending = PendingLines()
        let store = self.store
        let logger = self.logger
        let flush: @Sendable () -> Int = {
            pending.flush { batch in
                do {
                    let stored = try store.logs.appendLogEvents(streamID: stream.id, batch)
                    SchedulerMetrics.logLinesStored(stored)
                    return stored
                } catch {
                    logger.warning("cannot store log lines", metadata: ["job.name": "\(job.name)", "error": "\(error)"])
                    return 0
                }
            }
        }
        // A line printed just before a long silence must not wait for the next line to be stored.
        let flusher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.flushInterval)
                _ = flush()
            }
        }
        var stored = 0
        do {
            for try await line in runtime.logs(container, since: since, follow: true) {
                // CloudWatch events have at least one character (PutLogEvents): blank lines are dropped.
                guard !line.text.isEmpty else { continue }
                let full = pending.append(
                    LogEventInput(timestampNanoseconds: Self.nanoseconds(line.timestamp), message: line.text),
                    limit: Self.batchSize)
                if full { stored += flush() }
            }
        } catch {
            logger.info("log stream ended early", metadata: ["job.name": "\(job.name)", "error": "\(error)"])
        }
        flusher.cancel()
        stored += flush()
        return stored
    }

    /// The same `Date` always gives the same nanoseconds, which is what de-duplication relies on.
    static func nanoseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000_000).rounded())
    }
}

/// Lines read but not yet stored, shared by the reader and the timed flush.
private final class PendingLines: Sendable {
    private let lines = Mutex<[LogEventInput]>([])

    /// Appends a line; true when `limit` lines are waiting.
    func append(_ line: LogEventInput, limit: Int) -> Bool {
        lines.withLock { lines in
            lines.append(line)
            return lines.count >= limit
        }
    }

    /// Hands the waiting lines to `write` with the lock held, so batches are stored one at a time
    /// and in order, and the reader waits (memory stays bounded) while one is written.
    func flush(_ write: ([LogEventInput]) -> Int) -> Int {
        lines.withLock { lines in
            guard !lines.isEmpty else { return 0 }
            defer { lines.removeAll(keepingCapacity: true) }
            return write(lines)
        }
    }
}


/// Runs the log captures as children of one task (`run()`, the log-capture service of
/// `trainyard serve`): cancelling it ends every capture, so none outlives the server. The
/// scheduler hands captures in with `start` and may cancel or await each one.
public final class LogCaptures: Sendable {
    private let requests: AsyncStream<(handle: Handle, body: @Sendable () async -> Void)>
    private let continuation: AsyncStream<(handle: Handle, body: @Sendable () async -> Void)>.Continuation

    public init() {
        (requests, continuation) = AsyncStream.makeStream()
    }

    /// Runs captures until the task is cancelled, then waits for them, cancelled too, to end.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await request in requests {
                group.addTask { await request.handle.run(request.body) }
            }
        }
    }

    /// Queues `body` to run under `run()`. Its handle finishes at once if `run()` has ended.
    func start(_ body: @escaping @Sendable () async -> Void) -> Handle {
        let handle = Handle()
        if case .terminated = continuation.yield((handle, body)) { handle.markDone() }
        return handle
    }

    /// One capture: cancel it, or wait until it has ended.
    final class Handle: Sendable {
        private struct State {
            var done = false
            var stopRequested = false
            /// Callers of `finished()`.
            var finishWaiters: [CheckedContinuation<Void, Never>] = []
            /// The capture's own watch for a stop (`stopRequestedOrDone`).
            var stopWaiters: [CheckedContinuation<Void, Never>] = []
        }
        private let state = Mutex(State())

        /// Ends the capture (it stores what it has read, then returns).
        func cancel() { requestStop() }

        /// Returns once the capture has ended (or was never run because the captures stopped).
        func finished() async {
            await withCheckedContinuation { continuation in
                let done = state.withLock { state in
                    if !state.done { state.finishWaiters.append(continuation) }
                    return state.done
                }
                if done { continuation.resume() }
            }
        }

        fileprivate func markDone() {
            let waiters = state.withLock { state in
                state.done = true
                defer { state.finishWaiters = []; state.stopWaiters = [] }
                return state.finishWaiters + state.stopWaiters
            }
            for waiter in waiters { waiter.resume() }
        }

        private func requestStop() {
            let waiters = state.withLock { state in
                state.stopRequested = true
                defer { state.stopWaiters = [] }
                return state.stopWaiters
            }
            for waiter in waiters { waiter.resume() }
        }

        /// Runs `body` until it ends or the handle is cancelled (or the task is), whichever first.
        fileprivate func run(_ body: @escaping @Sendable () async -> Void) async {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await body() }
                group.addTask { await self.stopRequestedOrDone() }
                _ = await group.next()
                group.cancelAll()
            }
            markDone()
        }

        /// Returns when a stop is asked for (`cancel`, or the task is cancelled) or the capture is done.
        private func stopRequestedOrDone() async {
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let over = state.withLock { state in
                        let over = state.done || state.stopRequested
                        if !over { state.stopWaiters.append(continuation) }
                        return over
                    }
                    if over { continuation.resume() }
                }
            } onCancel: {
                self.requestStop()
            }
        }
    }
}
