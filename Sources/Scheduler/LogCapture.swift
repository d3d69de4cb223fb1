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

