import Foundation
import JobStore
import Logging
import Scheduler
import Testing
import TrainingCore

/// Capturing a container's output into its job's log stream (`<job>/algo-1-<epoch>`), through the
/// scheduler on a fake engine.
@Suite
struct LogCaptureTests {
    /// The lines stored in the stream of `job`'s first host.
    private func storedLines(_ fixture: SchedulerFixture, _ job: TrainingJob) throws -> [String]? {
        guard let stream = try fixture.store.logs.logStream(jobID: job.id, host: "algo-1") else { return nil }
        return try fixture.store.logs.readLogEvents(
            streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 100
        ).map(\.message)
    }

    @Test("a container's line is in its stream, named after the job and the start, once the job has ended")
    func linesOfAnEndedJob() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        let submitted = try fixture.submit("prints", environment: ["RUNS_FOR": "1"])
        let job = try await fixture.advance("prints") { $0.status.isTerminal }
        #expect(job.status == .completed)
        #expect(try storedLines(fixture, job) == ["training started"])
        let stream = try #require(try fixture.store.logs.logStream(jobID: job.id, host: "algo-1"))
        #expect(stream.name == "prints/algo-1-\(submitted.creationTime.milliseconds / 1000)")
    }

    @Test("a container that prints nothing still gets its (empty) stream")
    func silentContainerHasAStream() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        try fixture.submit("silent", environment: ["RUNS_FOR": "1", "SILENT": "true"])
        let job = try await fixture.advance("silent") { $0.status.isTerminal }
        #expect(job.status == .completed)
        #expect(try storedLines(fixture, job) == [])
    }

    @Test("a line of a container that goes on running is stored by the periodic flush, without its exit")
    func periodicFlushStoresLinesOfARunningContainer() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        try fixture.submit("runs-on")
        try await fixture.settle()
        let job = try fixture.job("runs-on")
        #expect(job.secondaryStatus == .training)
        // The flush runs on the wall clock (every LogCapture.flushInterval, 200 ms): wait for it,
        // generously.
        let deadline = ContinuousClock.now + .seconds(30)
        var lines = try storedLines(fixture, job)
        while lines != ["training started"], ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            lines = try storedLines(fixture, job)
        }
        #expect(lines == ["training started"])
        #expect(try fixture.job("runs-on").status == .inProgress)
    }

    @Test("after a restart, capture resumes in the same stream: the line read again is not stored twice")
    func restartResumesWithoutDuplicates() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        try fixture.submit("resumes", environment: ["RUNS_FOR": "10"])
        try await fixture.advance(by: .seconds(2))
        let restarted = try await fixture.restarted()
        defer { restarted.cleanUp() }
        let job = try await restarted.advance("resumes") { $0.status.isTerminal }
        #expect(job.status == .completed)
        #expect(try storedLines(restarted, job) == ["training started"])
    }

    @Test("a server note goes to the job's algo-1 stream, opened for it if need be, and after its container's lines")
    func notesGoToTheJobsStream() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        try fixture.submit("noted", environment: ["RUNS_FOR": "1"])
        let job = try await fixture.advance("noted") { $0.status.isTerminal }
        JobLogNotes.append("Trainyard: a note", to: job, store: fixture.store, logger: Logger(label: "test"))
        #expect(try storedLines(fixture, job) == ["training started", "Trainyard: a note"])
        // A job no scheduler runs (a store of its own), so no stream yet: the note opens it.
        let store = try JobStore(path: ":memory:")
        let quiet = try store.create(
            TrainingJob.created(
                account: "123456789012", name: "quiet", arn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/quiet",
                spec: TrainingJobSpec(trainingImage: "img", outputPath: "s3://bucket/out"), requestEcho: "{}",
                now: Timestamp(milliseconds: 1_700_000_000_000)))
        #expect(try store.logs.logStream(jobID: quiet.id, host: "algo-1") == nil)
        JobLogNotes.append("Trainyard: first", to: quiet, store: store, logger: Logger(label: "test"))
        JobLogNotes.append("Trainyard: second", to: quiet, store: store, logger: Logger(label: "test"))
        let stream = try #require(try store.logs.logStream(jobID: quiet.id, host: "algo-1"))
        let lines = try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 10)
        #expect(lines.map(\.message) == ["Trainyard: first", "Trainyard: second"])
    }
}
