import ContainerRuntime
import Foundation
import JobStore
import Scheduler
import Synchronization
import Testing
import TestSupport
import TrainingCore

/// The scheduler on a manual clock and a fake engine: every time below is exact, and no test waits
/// for the wall clock.
@Suite
struct TrainingSchedulerTests {
    @Test("a job runs through every status to Completed; artifacts written, container removed, workspace deleted")
    func completes() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        let submitted = try fixture.submit("completes", environment: ["RUNS_FOR": "5"])
        let job = try await fixture.advance("completes") { $0.status.isTerminal }
        #expect(job.status == .completed)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .uploading, .completed])
        #expect(job.transitions[0].message == StatusMessage.preparingInstances)
        // Training starts at once and ends when the container exits, 5 s later.
        #expect(job.trainingStartTime == submitted.creationTime)
        #expect(job.trainingEndTime == submitted.creationTime.adding(seconds: 5))
        #expect(FileManager.default.fileExists(atPath: fixture.modelArtifact("completes").path))
        #expect(FileManager.default.fileExists(
            atPath: fixture.s3Root.appendingPathComponent("bucket/out/completes/output/output.tar.gz").path))
        #expect(fixture.runtime.containerNames.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.workspaces.directory(for: job, host: "algo-1").path))
    }

    @Test("a job with no workspace to collect stores its exit with its end: Uploading listed, artifacts there, container removed")
    func endsInOneWrite() async throws {
        let fixture = try SchedulerFixture(layOutUpFront: false)
        defer { fixture.cleanUp() }
        let submitted = try fixture.submit("one-write", environment: ["RUNS_FOR": "5"])
        let failing = try fixture.submit("fails", environment: ["RUNS_FOR": "5", "EXIT_CODE": "3"])
        let job = try await fixture.advance("one-write") { $0.status.isTerminal }
        #expect(job.status == .completed)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .uploading, .completed])
        #expect(job.trainingEndTime == submitted.creationTime.adding(seconds: 5))
        #expect(job.exit?.exitCode == 0)
        // Create; Downloading with Training; the exit with Completed.
        #expect(fixture.writes.of(submitted.id) == 3)
        #expect(FileManager.default.fileExists(atPath: fixture.modelArtifact("one-write").path))
        let failed = try await fixture.advance("fails") { $0.status.isTerminal }
        #expect(failed.status == .failed && failed.failureReason == "AlgorithmError: Exit Code: 3")
        #expect(failed.transitions.map(\.status) == [.starting, .downloading, .training, .failed])
        #expect(fixture.writes.of(failing.id) == 3)
        // The containers go once the write that ends their job is stored.
        #expect(fixture.runtime.containerNames.isEmpty)
    }

    @Test("a container done when launch returns (simulated phase 0): Create, then one write to the job's end")
    func endsAtLaunchInOneWrite() async throws {
        let fixture = try SchedulerFixture(layOutUpFront: false, containersMayExitAtLaunch: true)
        defer { fixture.cleanUp() }
        let instant = try fixture.submit("instant", environment: ["RUNS_FOR": "0"])
        let failing = try fixture.submit("instant-fails", environment: ["RUNS_FOR": "0", "EXIT_CODE": "3"])
        let runsOn = try fixture.submit("runs-on", environment: ["RUNS_FOR": "5"])
        try await fixture.settle()
        let job = try fixture.job("instant")
        #expect(job.status == .completed)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .uploading, .completed])
        #expect(job.transitions.map(\.message)[0] == StatusMessage.preparingInstances)
        #expect(job.trainingStartTime == instant.creationTime && job.trainingEndTime == instant.creationTime)
        #expect(job.exit?.exitCode == 0)
        #expect(fixture.writes.of(instant.id) == 2)
        #expect(FileManager.default.fileExists(atPath: fixture.modelArtifact("instant").path))
        // Its output was captured before the container went.
        let stream = try #require(try fixture.store.logs.logStream(jobID: job.id, host: "algo-1"))
        let lines = try fixture.store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 10)
        #expect(lines.map(\.message) == ["training started"])
        let failed = try fixture.job("instant-fails")
        #expect(failed.status == .failed && failed.failureReason == "AlgorithmError: Exit Code: 3")
        #expect(failed.transitions.map(\.status) == [.starting, .downloading, .training, .failed])
        #expect(fixture.writes.of(failing.id) == 2)
        // A container that runs on trains as usual: Training is stored while it runs.
        #expect(try fixture.job("runs-on").secondaryStatus == .training)
        #expect(fixture.writes.of(runsOn.id) == 2)
        #expect(fixture.runtime.containerNames == [fixture.containerName(runsOn)])
        let ended = try await fixture.advance("runs-on") { $0.status.isTerminal }
        #expect(ended.status == .completed && fixture.writes.of(runsOn.id) == 3)
    }

    @Test("with workspaces laid out lazily, a restarted scheduler adopts the container and ends the job in one write")
    func adoptedJobEndsInOneWrite() async throws {
        let first = try SchedulerFixture(layOutUpFront: false)
        let submitted = try first.submit("adopted", environment: ["RUNS_FOR": "5"])
        try await first.settle()
        #expect(try first.job("adopted").secondaryStatus == .training)
        let second = try await first.restarted()
        defer { second.cleanUp() }
        let before = second.writes.of(submitted.id)
        let job = try await second.advance("adopted") { $0.status.isTerminal }
        #expect(job.status == .completed)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .uploading, .completed])
        #expect(second.writes.of(submitted.id) == before + 1)
        #expect(second.runtime.containerNames.isEmpty)
    }

    @Test("Create → container running is one pass: one workspace preparation, three engine calls, two store writes")
    func createToRunningInOnePass() async throws {
        let gate = Gate()
        let fixture = try SchedulerFixture { local in gate.wrap(local) }
        defer { fixture.cleanUp() }
        let submitted = try fixture.submit("one-pass")
        try await fixture.settle()
        let job = try fixture.job("one-pass")
        #expect(job.secondaryStatus == .training)
        #expect(fixture.clock.now == submitted.creationTime)
        #expect(gate.workspaces?.preparations.load(ordering: .relaxed) == 1)
        // The image check, create and start (the container's exit is then waited on and its output
        // followed). Nothing is inspected: a container created in this pass cannot exist before.
        #expect(fixture.runtime.calls.filter { $0.key != "wait" && $0.key != "logs" } == ["imageExists": 1, "create": 1, "start": 1])
        // The Create itself, then Downloading (with Starting's message) and Training together:
        // nothing to download.
        #expect(fixture.writes.of(submitted.id) == 2)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training])
        #expect(job.transitions.map(\.message)[0] == StatusMessage.preparingInstances)
        #expect(job.trainingStartTime == job.transitions[1].startTime)
    }

    @Test("a non-zero exit fails the job with the failure file's text, or the exit code; OOM gets SageMaker's text")
    func fails() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        try fixture.submit("fails", environment: ["RUNS_FOR": "1", "EXIT_CODE": "2", "FAILURE": "bad input"])
        try fixture.submit("fails-bare", environment: ["RUNS_FOR": "1", "EXIT_CODE": "7"])
        try fixture.submit("oom", environment: ["RUNS_FOR": "1", "EXIT_CODE": "137", "OOM": "true"])
        try await fixture.advance(by: .seconds(1))
        let job = try fixture.job("fails")
        #expect(job.status == .failed && job.secondaryStatus == .failed)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .failed])
        #expect(job.failureReason == "AlgorithmError: bad input")
        #expect(try fixture.job("fails-bare").failureReason == "AlgorithmError: Exit Code: 7")
        #expect(try fixture.job("oom").failureReason == FailureReason.outOfMemory)
    }

    @Test("StopTrainingJob: SIGTERM at once, no SIGKILL for a container that exits on it, ends Stopped with artifacts")
    func stops() async throws {
        let fixture = try SchedulerFixture(stopGrace: .seconds(30))
        defer { fixture.cleanUp() }
        try fixture.submit("stops")
        try await fixture.advance(by: .seconds(10))
        let stopAt = fixture.clock.now
        try fixture.stop("stops")
        try await fixture.settle()
        let job = try fixture.job("stops")
        #expect(job.status == .stopped && job.secondaryStatus == .stopped)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .stopping, .stopped])
        #expect(fixture.runtime.signals.map(\.signal) == [.term])
        #expect(fixture.runtime.signals.first?.time == stopAt)
        #expect(job.sigtermSentTime == stopAt && job.sigkillSentTime == nil)
        #expect(job.exit?.exitCode == 143)
        #expect(FileManager.default.fileExists(atPath: fixture.modelArtifact("stops").path))
        // Nothing else happens however long one waits.
        try await fixture.advance(by: .seconds(300))
        #expect(fixture.runtime.signals.count == 1)
    }

    @Test("a container that ignores SIGTERM gets SIGKILL exactly when the grace window ends")
    func killsAfterGrace() async throws {
        let fixture = try SchedulerFixture(stopGrace: .seconds(120))
        defer { fixture.cleanUp() }
        try fixture.submit("ignores", environment: ["IGNORES_SIGTERM": "true"])
        try await fixture.advance(by: .seconds(10))
        let stopAt = fixture.clock.now
        try fixture.stop("ignores")
        try await fixture.advance(to: stopAt.advanced(by: .seconds(120) - .milliseconds(1)))
        #expect(fixture.runtime.signals.map(\.signal) == [.term])
        #expect(try fixture.job("ignores").status == .stopping)
        try await fixture.advance(by: .milliseconds(1))
        let job = try fixture.job("ignores")
        #expect(job.status == .stopped && job.secondaryStatus == .stopped)
        #expect(fixture.runtime.signals.map(\.signal) == [.term, .kill])
        #expect(fixture.runtime.signals.map(\.time) == [stopAt, stopAt.advanced(by: .seconds(120))])
        #expect(job.sigkillSentTime == stopAt.advanced(by: .seconds(120)))
        #expect(job.exit?.exitCode == 137)
    }

    @Test("MaxRuntimeInSeconds stops the job at exactly that runtime, as Stopped/MaxRuntimeExceeded")
    func maxRuntime() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        try fixture.submit("overtime", maxRuntime: 60)
        let job = try await fixture.advance("overtime") { $0.status.isTerminal }
        #expect(job.status == .stopped && job.secondaryStatus == .maxRuntimeExceeded)
        #expect(job.stopReason == .maxRuntimeExceeded)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .stopping, .maxRuntimeExceeded])
        let start = try #require(job.trainingStartTime)
        let stopping = try #require(job.transitions.first { $0.status == .stopping })
        #expect(stopping.startTime == start.adding(seconds: 60))
        #expect(fixture.runtime.signals.map(\.time) == [start.adding(seconds: 60)])
    }

    @Test("platform faults fail the job with a text that says what happened")
    func platformFaults() async throws {
        let fixture = try SchedulerFixture(images: ["present:latest"])
        defer { fixture.cleanUp() }
        try fixture.submit("no-image", image: "absent:latest")
        try await fixture.settle()
        let job = try fixture.job("no-image")
        #expect(job.status == .failed)
        #expect(job.transitions.map(\.status) == [.starting, .failed])
        #expect(job.failureReason?.hasPrefix("ClientError: The training image absent:latest is not present") == true)

        fixture.runtime.setUnreachable(true)
        try fixture.submit("no-engine", image: "present:latest")
        try await fixture.settle()
        #expect(try fixture.job("no-engine").failureReason?.hasPrefix("InternalServerError: Trainyard could not reach the container engine") == true)
    }

    @Test("a container that disappears while training fails its job")
    func containerLost() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        let job = try fixture.submit("lost")
        try await fixture.settle()
        let first = try await fixture.restarted()
        defer { first.cleanUp() }
        try await first.settle()
        try await fixture.runtime.remove(ContainerID(fixture.containerName(job)))
        // A new scheduler looks, finds nothing, and says so.
        let second = try await first.restarted()
        defer { second.cleanUp() }
        try await second.settle()
        let lost = try second.job("lost")
        #expect(lost.status == .failed)
        #expect(lost.failureReason?.contains("disappeared before it exited") == true)
    }

    @Test("channel data from the object store is staged; a prefix with no objects fails the job")
    func channels() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        let data = fixture.s3Root.appendingPathComponent("data/train")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Data("1,2\n".utf8).write(to: data.appendingPathComponent("part-0.csv"))
        let staged = try fixture.submit("staged", channels: [.init(name: "train", uri: "s3://data/train")])
        try fixture.submit("unstaged", channels: [.init(name: "train", uri: "s3://data/nothing-here")])
        try await fixture.settle()
        #expect(try fixture.job("staged").secondaryStatus == .training)
        let copied = fixture.workspaces.directory(for: staged, host: "algo-1").appendingPathComponent("input/data/train/part-0.csv")
        #expect(try String(contentsOf: copied, encoding: .utf8) == "1,2\n")
        let failed = try fixture.job("unstaged")
        #expect(failed.status == .failed)
        #expect(failed.transitions.map(\.status) == [.starting, .downloading, .failed])
        #expect(failed.failureReason?.contains("No S3 objects found under S3 URL \"s3://data/nothing-here\"") == true)
    }

    @Test("a restarted scheduler adopts the running container and finishes the job")
    func restart() async throws {
        let first = try SchedulerFixture()
        try first.submit("survives", environment: ["RUNS_FOR": "30"])
        try await first.advance(by: .seconds(10))
        #expect(try first.job("survives").secondaryStatus == .training)
        first.runtime.resetCalls()
        let second = try await first.restarted()
        defer { second.cleanUp() }
        let job = try await second.advance("survives") { $0.status.isTerminal }
        #expect(job.status == .completed)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .uploading, .completed])
        #expect(job.trainingEndTime == job.trainingStartTime?.adding(seconds: 30))
        // Adopted: looked at and waited on, never created or started again.
        #expect(second.runtime.calls["create"] == nil && second.runtime.calls["start"] == nil)
        #expect(second.runtime.calls["inspect", default: 0] >= 1)
    }

    @Test("a job whose container a previous run started before storing Training adopts it, not a second one")
    func adoptsAContainerStartedBeforeTrainingWasStored() async throws {
        // No slot: the job waits Pending, and nothing of it runs.
        let first = try SchedulerFixture(maxConcurrentJobs: 0)
        let job = try first.submit("early", environment: ["RUNS_FOR": "30"])
        try await first.settle()
        #expect(try first.job("early").secondaryStatus == .pending)
        // As a run would leave it that started the container and stopped before the write that
        // stores Downloading and Training together.
        let spec = TrainingContainer.spec(for: job, host: "algo-1", mounts: [], options: .init(region: "us-east-1"))
        try await first.runtime.launch([spec])
        let startedAt = first.clock.now
        try await first.advance(by: .seconds(10))
        first.runtime.resetCalls()
        let second = try await first.restarted(maxConcurrentJobs: nil)
        defer { second.cleanUp() }
        let ended = try await second.advance("early") { $0.status.isTerminal }
        #expect(ended.status == .completed)
        #expect(ended.transitions.map(\.status) == [.starting, .pending, .downloading, .training, .uploading, .completed])
        // The container that ran since `startedAt` is the one that ended; none was started anew.
        #expect(ended.trainingEndTime == startedAt.adding(seconds: 30))
        #expect(second.runtime.calls["create"] == 1)  // refused: the name is in use, so it is adopted
    }

    @Test("a restart while a stop's grace window runs sends SIGKILL at the stored deadline")
    func restartDuringGrace() async throws {
        let first = try SchedulerFixture(stopGrace: .seconds(60))
        try first.submit("stubborn", environment: ["IGNORES_SIGTERM": "true"])
        try await first.settle()
        let stopAt = first.clock.now
        try first.stop("stubborn")
        try await first.advance(by: .seconds(20))
        let second = try await first.restarted()
        defer { second.cleanUp() }
        let job = try await second.advance("stubborn") { $0.status.isTerminal }
        #expect(job.status == .stopped)
        #expect(second.runtime.signals.map(\.signal) == [.term, .kill])
        #expect(second.runtime.signals.map(\.time) == [stopAt, stopAt.advanced(by: .seconds(60))])
    }

    @Test("with a minimum phase time, Starting announces itself, and Starting, Downloading and Uploading each last it")
    func phases() async throws {
        let fixture = try SchedulerFixture(phase: .seconds(2))
        defer { fixture.cleanUp() }
        let submitted = try fixture.submit("paced", environment: ["RUNS_FOR": "5"])
        let job = try await fixture.advance("paced") { $0.status.isTerminal }
        #expect(job.status == .completed)
        let starts = job.transitions.map { $0.startTime.millisecondsSince(submitted.creationTime) }
        // Starting 0 s, Downloading 2 s, Training 4 s, Uploading 9 s (5 s of training), Completed 11 s.
        #expect(starts == [0, 2000, 4000, 9000, 11000])
        #expect(job.transitions[0].message == StatusMessage.preparingInstances)
    }

    @Test("a job stopped while its data is staged never starts its container")
    func stopWhileStaging() async throws {
        let gate = Gate(gatedJob: "stopped-early")
        let fixture = try SchedulerFixture(stopGrace: .seconds(30)) { local in gate.wrap(local) }
        let gated = try #require(gate.workspaces)
        defer {
            gated.release.signal()
            fixture.cleanUp()
        }
        let data = fixture.s3Root.appendingPathComponent("data/train")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: data.appendingPathComponent("x"))
        try fixture.submit("stopped-early", channels: [.init(name: "train", uri: "s3://data/train")])
        try await gated.waitUntilEntered()
        try fixture.stop("stopped-early")
        gated.release.signal()
        try await fixture.settle()
        let job = try fixture.job("stopped-early")
        #expect(job.status == .stopped && job.secondaryStatus == .stopped)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .stopping, .stopped])
        // No container ran: nothing was created or signalled, and no exit was recorded.
        #expect(job.sigtermSentTime == nil && job.exit == nil)
        #expect(fixture.runtime.calls["create"] == nil && fixture.runtime.signals.isEmpty)
    }

    @Test("staging one job's data does not hold up the other jobs")
    func stagingDoesNotBlock() async throws {
        let gate = Gate(gatedJob: "slow-download")
        let fixture = try SchedulerFixture { local in gate.wrap(local) }
        let gated = try #require(gate.workspaces)
        defer {
            gated.release.signal()
            fixture.cleanUp()
        }
        let data = fixture.s3Root.appendingPathComponent("data/train")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: data.appendingPathComponent("x"))
        try fixture.submit("slow-download", channels: [.init(name: "train", uri: "s3://data/train")])
        try await gated.waitUntilEntered()
        try fixture.submit("quick", environment: ["RUNS_FOR": "1"])
        // The staging step is still running, so the scheduler is not idle: wait for the quick
        // job itself, with the clock still.
        try await until { try fixture.job("quick").secondaryStatus == .training }
        fixture.clock.advance(by: .seconds(1))
        try await until { try fixture.job("quick").status.isTerminal }
        #expect(try fixture.job("quick").status == .completed)
        #expect(try fixture.job("slow-download").secondaryStatus == .downloading)
        gated.release.signal()
        try await fixture.settle()
        #expect(try fixture.job("slow-download").secondaryStatus == .training)
    }
}

/// Yields until `condition` holds (bounded; never sleeps).
func until(_ condition: () throws -> Bool) async throws {
    for _ in 0..<1_000_000 {
        if try condition() { return }
        await Task.yield()
    }
    throw FixtureFailure(description: "condition never held")
}

/// Builds the fixture's workspaces wrapper and keeps it for the test.
final class Gate: @unchecked Sendable {
    // Set once, inside the fixture's init, before any other use.
    private(set) var workspaces: GatedWorkspaces?
    let gatedJob: String?
    init(gatedJob: String? = nil) { self.gatedJob = gatedJob }
    func wrap(_ local: LocalWorkspaces) -> any JobWorkspaces {
        let gated = GatedWorkspaces(local, gatedJob: gatedJob)
        workspaces = gated
        return gated
    }
}
