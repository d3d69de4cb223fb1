import ContainerRuntime
import Foundation
public import JobStore
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
    /// Stores the lines, several captures' in one transaction.
    let writer: LogWriter
    /// Flushes the waiting lines every `flushInterval` (one timer for every capture).
    let flushes: LogFlushTicker

    /// Runs until the container's output ends (it has stopped) or the task is cancelled, and
    /// returns once every line read is stored (its stream exists then, even if nothing was
    /// printed). Returns the number of lines it stored itself (not those of the periodic flush).
    /// `streamMayExist` false: the caller knows the host has no stream yet (a container it has
    /// just started, no note written), so there is no last line to look up.
    @discardableResult
    func run(job: TrainingJob, host: String, container: ContainerID, startedAt: Timestamp, streamMayExist: Bool = true) async -> Int {
        // A stream opened before (a restart) resumes after its last stored line; a new one is
        // opened with the first batch, in the same transaction.
        let existing: LogStreamRecord?
        do {
            existing = streamMayExist ? try store.logs.logStream(jobID: job.id, host: host) : nil
        } catch {
            logger.warning("cannot read the log stream", metadata: ["job.name": "\(job.name)", "error": "\(error)"])
            return 0
        }
        let since = existing?.lastSourceTimestampNanoseconds.map { Date(timeIntervalSince1970: Double($0) / 1_000_000_000) }
        let pending = PendingLines(
            job: job, host: host, createdAt: startedAt, streamID: existing?.id, writer: writer, logger: logger)
        // A line printed just before a long silence must not wait for the next line to be stored.
        let registration = flushes.register { pending.flush(completion: nil) }
        var stored = 0
        do {
            for try await line in runtime.logs(container, since: since, follow: true) {
                // CloudWatch events have at least one character (PutLogEvents): blank lines are dropped.
                guard !line.text.isEmpty else { continue }
                let full = pending.append(
                    LogEventInput(timestampNanoseconds: Self.nanoseconds(line.timestamp), message: line.text),
                    limit: Self.batchSize)
                // The reader waits while a full batch is stored: memory stays bounded.
                if full { stored += await pending.flushAndWait() }
            }
        } catch {
            logger.info("log stream ended early", metadata: ["job.name": "\(job.name)", "error": "\(error)"])
        }
        flushes.unregister(registration)
        stored += await pending.flushAndWait(evenIfEmpty: true)
        return stored
    }

    /// The same `Date` always gives the same nanoseconds, which is what de-duplication relies on.
    static func nanoseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000_000).rounded())
    }
}

/// Lines read but not yet stored, shared by the reader and the timed flush. A flush hands them to
/// the writer under the lock, so one capture's batches are queued, and committed, in order.
private final class PendingLines: Sendable {
    private let lines = Mutex<[LogEventInput]>([])
    /// The stream, once known (0 until then): later batches go to it without looking it up.
    private let streamID: Atomic<Int64>
    private let job: TrainingJob
    private let host: String
    private let createdAt: Timestamp
    private let writer: LogWriter
    private let logger: Logger

    init(job: TrainingJob, host: String, createdAt: Timestamp, streamID: Int64?, writer: LogWriter, logger: Logger) {
        self.job = job
        self.host = host
        self.createdAt = createdAt
        self.streamID = Atomic(streamID ?? 0)
        self.writer = writer
        self.logger = logger
    }

    /// Appends a line; true when `limit` lines are waiting.
    func append(_ line: LogEventInput, limit: Int) -> Bool {
        lines.withLock { lines in
            lines.append(line)
            return lines.count >= limit
        }
    }

    /// Queues the waiting lines (with `evenIfEmpty`, also none: the stream is then opened, and
    /// the call returns only after everything queued before it is stored); `completion` gets
    /// the number stored. False, and no completion, when there was nothing to queue.
    @discardableResult
    func flush(evenIfEmpty: Bool = false, completion: (@Sendable (Int) -> Void)?) -> Bool {
        lines.withLock { lines in
            guard !lines.isEmpty || evenIfEmpty else { return false }
            let known = streamID.load(ordering: .acquiring)
            let batch = LogBatch(job: job, host: host, createdAt: createdAt, streamID: known == 0 ? nil : known, events: lines)
            lines.removeAll(keepingCapacity: true)
            writer.enqueue(batch) { [self] outcome in
                switch outcome {
                case .success(let outcome):
                    streamID.store(outcome.streamID, ordering: .releasing)
                    SchedulerMetrics.logLinesStored(outcome.stored)
                    completion?(outcome.stored)
                case .failure(let error):
                    logger.warning("cannot store log lines", metadata: ["job.name": "\(job.name)", "error": "\(error)"])
                    completion?(0)
                }
            }
            return true
        }
    }

    /// `flush`, returning once the lines are stored.
    func flushAndWait(evenIfEmpty: Bool = false) async -> Int {
        await withCheckedContinuation { continuation in
            let queued = flush(evenIfEmpty: evenIfEmpty) { continuation.resume(returning: $0) }
            if !queued { continuation.resume(returning: 0) }
        }
    }
}


/// Runs the log captures as children of one task (`run()`, the log-capture service of
/// `trainyard serve`): cancelling it ends every capture, so none outlives the server. The
/// scheduler hands captures in with `start` and may cancel or await each one.
public final class LogCaptures: Sendable {
    private let requests: AsyncStream<(handle: Handle, body: @Sendable () async -> Void)>
    private let continuation: AsyncStream<(handle: Handle, body: @Sendable () async -> Void)>.Continuation
    /// Flushes every running capture's waiting lines, on one timer that `run()` drives.
    let flushes = LogFlushTicker()
    /// Stores the captures' lines (`run()` drives it).
    let writer: LogWriter

    public init(logs: LogStore) {
        writer = LogWriter(logs: logs)
        (requests, continuation) = AsyncStream.makeStream()
    }

    /// Runs captures until the task is cancelled, then waits for them, cancelled too, to end.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { [flushes] in await flushes.run(every: LogCapture.flushInterval) }
            group.addTask { [writer] in await writer.run() }
            for await request in requests {
                group.addTask { await request.handle.run(request.body) }
            }
            group.cancelAll()
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
            /// The task running the capture, once it runs.
            var task: Task<Void, Never>?
            /// Callers of `finished()`.
            var finishWaiters: [CheckedContinuation<Void, Never>] = []
        }
        private let state = Mutex(State())

        /// Ends the capture (it stores what it has read, then returns).
        func cancel() {
            let task = state.withLock { state in
                state.stopRequested = true
                return state.task
            }
            task?.cancel()
        }

        /// Whether the capture has ended (or was never run because the captures stopped).
        var isDone: Bool { state.withLock { $0.done } }

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
                state.task = nil
                defer { state.finishWaiters = [] }
                return state.finishWaiters
            }
            for waiter in waiters { waiter.resume() }
        }

        /// Runs `body` until it ends or the handle is cancelled (or the task is), whichever first.
        /// `body` runs in a task of its own, so that `cancel` can cancel it alone; it is awaited
        /// here and cancelled with this task, so it never outlives `LogCaptures.run()`.
        fileprivate func run(_ body: @escaping @Sendable () async -> Void) async {
            let task = Task { await body() }
            let stopRequested = state.withLock { state in
                state.task = task
                return state.stopRequested
            }
            if stopRequested { task.cancel() }
            await withTaskCancellationHandler {
                await task.value
            } onCancel: {
                task.cancel()
            }
            markDone()
        }
    }
}

/// Calls every registered flush each interval: one timer for all captures, where a task per
/// capture that slept and woke every 200 ms was a measurable share of a burst of short jobs.
final class LogFlushTicker: Sendable {
    private struct Registry {
        var next = 0
        var flushes: [Int: @Sendable () -> Void] = [:]
    }
    private let registry = Mutex(Registry())

    /// Adds `flush`; returns the key that `unregister` takes.
    func register(_ flush: @escaping @Sendable () -> Void) -> Int {
        registry.withLock { registry in
            registry.next += 1
            registry.flushes[registry.next] = flush
            return registry.next
        }
    }

    func unregister(_ key: Int) {
        _ = registry.withLock { $0.flushes.removeValue(forKey: key) }
    }

    /// Until the task is cancelled: waits `interval`, then runs the flushes registered then.
    func run(every interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            for flush in registry.withLock({ Array($0.flushes.values) }) { flush() }
        }
    }
}
