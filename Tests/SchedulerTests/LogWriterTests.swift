import Foundation
import JobStore
@testable import Scheduler
import Synchronization
import Testing
import TrainingCore

/// The log writer: captures' batches committed together, in the order each capture queued them.
@Suite
struct LogWriterTests {
    private func storedJob(_ store: JobStore, _ name: String) throws -> TrainingJob {
        try store.create(
            TrainingJob.created(
                account: "123456789012", name: name, arn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/\(name)",
                spec: TrainingJobSpec(trainingImage: "img", outputPath: "s3://b/o"), requestEcho: "{}",
                now: Timestamp(milliseconds: 1_700_000_000_000)))
    }

    private func lines(_ range: Range<Int>) -> [LogEventInput] {
        range.map { LogEventInput(timestampNanoseconds: (1_700_000_000_000 + Int64($0)) * 1_000_000, message: "line \($0)") }
    }

    private func messages(_ store: JobStore, _ job: TrainingJob) throws -> [String] {
        guard let stream = try store.logs.logStream(jobID: job.id, host: "algo-1") else { return [] }
        return try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 1000)
            .map(\.message)
    }

    @Test("while the writer runs, many captures' batches are all stored, each capture's in the order it queued them")
    func batchesWhileRunning() async throws {
        let store = try JobStore(path: ":memory:")
        let jobs = try (0..<20).map { try storedJob(store, "job-\($0)") }
        let writer = LogWriter(logs: store.logs)
        let running = Task { await writer.run() }
        defer { running.cancel() }
        let outcomes = await withTaskGroup(of: [Int].self) { group in
            for job in jobs {
                group.addTask {
                    var stored: [Int] = []
                    // Three batches queued back to back (none waits for the one before), then
                    // one that waits: it returns only after all four are committed.
                    for part in 0..<3 {
                        writer.enqueue(
                            LogBatch(job: job, host: "algo-1", createdAt: job.creationTime, streamID: nil, events: self.lines(part * 10..<part * 10 + 10)),
                            completion: nil)
                    }
                    let last = await writer.store(
                        LogBatch(job: job, host: "algo-1", createdAt: job.creationTime, streamID: nil, events: self.lines(30..<35)))
                    stored.append((try? last.get().stored) ?? -1)
                    return stored
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(outcomes == Array(repeating: 5, count: 20))
        for job in jobs {
            #expect(try messages(store, job) == (0..<35).map { "line \($0)" })
        }
    }

    @Test("before the writer runs and after it has stopped, a batch is written by its caller at once")
    func withoutARunningWriter() async throws {
        let store = try JobStore(path: ":memory:")
        let job = try storedJob(store, "direct")
        let writer = LogWriter(logs: store.logs)
        let before = Mutex<Int?>(nil)
        writer.enqueue(LogBatch(job: job, host: "algo-1", createdAt: job.creationTime, streamID: nil, events: lines(0..<2))) { outcome in
            before.withLock { $0 = try? outcome.get().stored }
        }
        #expect(before.withLock { $0 } == 2)
        let running = Task { await writer.run() }
        #expect(try await writer.store(LogBatch(job: job, host: "algo-1", createdAt: job.creationTime, streamID: nil, events: lines(2..<3))).get().stored == 1)
        running.cancel()
        await running.value
        let after = Mutex<Int?>(nil)
        writer.enqueue(LogBatch(job: job, host: "algo-1", createdAt: job.creationTime, streamID: nil, events: lines(3..<4))) { outcome in
            after.withLock { $0 = try? outcome.get().stored }
        }
        #expect(after.withLock { $0 } == 1)
        #expect(try messages(store, job) == (0..<4).map { "line \($0)" })
    }
}

extension LogWriter {
    /// Queues `batch` and returns once it is committed (what a capture's `flushAndWait` does).
    fileprivate func store(_ batch: LogBatch) async -> Result<LogBatch.Outcome, JobStoreError> {
        await withCheckedContinuation { continuation in
            enqueue(batch) { continuation.resume(returning: $0) }
        }
    }
}
