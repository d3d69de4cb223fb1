import ContainerRuntime
import Foundation
import JobStore
import Scheduler
import Testing
import TrainingCore

@Suite(.serialized)
struct TrainingSchedulerTests {
    @Test("a job runs through every status to Completed and its artifacts are written")
    func completes() async throws {
        let fixture = try SchedulerFixture(phase: .milliseconds(50))
        defer { fixture.cleanUp() }
        _ = try fixture.submit("completes")
        let job = try await fixture.waitFor("completes") { $0.status.isTerminal }
        #expect(job.status == .completed)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .uploading, .completed])
        #expect(job.transitions[0].message == StatusMessage.preparingInstances)
        #expect(job.trainingStartTime != nil && job.trainingEndTime != nil)
        #expect(FileManager.default.fileExists(atPath: fixture.modelArtifact("completes").path))
        #expect(FileManager.default.fileExists(
            atPath: fixture.s3Root.appendingPathComponent("bucket/out/completes/output/output.tar.gz").path))
        // The container is removed and the workspace deleted once the job has ended.
        #expect(try await fixture.runtime.list(labels: ["trainyard.job": "completes"]).isEmpty)
        // The workspace is deleted off the scheduler's actor right after the end is stored.
        let workspace = fixture.workspaces.directory(for: job, host: "algo-1").path
        let deadline = Date().addingTimeInterval(5)
        while FileManager.default.fileExists(atPath: workspace), Date() < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(!FileManager.default.fileExists(atPath: workspace))
    }

    @Test("a non-zero exit fails the job with the failure file's text")
    func fails() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        _ = try fixture.submit(
            "fails", environment: [SimulatedRuntime.exitCodeVariable: "2", SimulatedRuntime.failureVariable: "bad input"])
        _ = try fixture.submit("fails-bare", environment: [SimulatedRuntime.exitCodeVariable: "7"])
        let job = try await fixture.waitFor("fails") { $0.status.isTerminal }
        #expect(job.status == .failed && job.secondaryStatus == .failed)
        #expect(job.failureReason == "AlgorithmError: bad input")
        let bare = try await fixture.waitFor("fails-bare") { $0.status.isTerminal }
        #expect(bare.failureReason == "AlgorithmError: Exit Code: 7")
    }

    @Test("StopTrainingJob: SIGTERM at once, no SIGKILL for a container that exits on it, ends Stopped")
    func stops() async throws {
        let fixture = try SchedulerFixture(stopGrace: .seconds(30))
        defer { fixture.cleanUp() }
        _ = try fixture.submit("stops", environment: [SimulatedRuntime.trainingSecondsVariable: "60"])
        let running = try await fixture.waitFor("stops") { $0.secondaryStatus == .training }
        try fixture.store.update(id: running.id) { try $0.stopRequested(now: Timestamp(epochSeconds: Date().timeIntervalSince1970)) }
        let job = try await fixture.waitFor("stops") { $0.status.isTerminal }
        #expect(job.status == .stopped && job.secondaryStatus == .stopped)
        #expect(job.sigtermSentTime != nil)
        #expect(job.sigkillSentTime == nil)
        #expect(job.exit?.exitCode == 143)
        #expect(FileManager.default.fileExists(atPath: fixture.modelArtifact("stops").path))
    }

    @Test("a container that ignores SIGTERM is killed only after the grace window")
    func killsAfterGrace() async throws {
        let grace = Duration.milliseconds(400)
        let fixture = try SchedulerFixture(stopGrace: grace)
        defer { fixture.cleanUp() }
        _ = try fixture.submit(
            "ignores", environment: [SimulatedRuntime.trainingSecondsVariable: "60", SimulatedRuntime.ignoreSIGTERMVariable: "true"])
        let running = try await fixture.waitFor("ignores") { $0.secondaryStatus == .training }
        try fixture.store.update(id: running.id) { try $0.stopRequested(now: Timestamp(epochSeconds: Date().timeIntervalSince1970)) }
        let job = try await fixture.waitFor("ignores") { $0.status.isTerminal }
        #expect(job.status == .stopped)
        let term = try #require(job.sigtermSentTime)
        let kill = try #require(job.sigkillSentTime)
        #expect(kill.millisecondsSince(term) >= 400)
        #expect(job.exit?.exitCode == 137)
    }

    @Test("MaxRuntimeInSeconds stops the job as Stopped/MaxRuntimeExceeded")
    func maxRuntime() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        _ = try fixture.submit("overtime", environment: [SimulatedRuntime.trainingSecondsVariable: "60"], maxRuntime: 1)
        let job = try await fixture.waitFor("overtime") { $0.status.isTerminal }
        #expect(job.status == .stopped && job.secondaryStatus == .maxRuntimeExceeded)
        #expect(job.stopReason == .maxRuntimeExceeded)
        let start = try #require(job.trainingStartTime)
        let stopping = try #require(job.transitions.first { $0.status == .stopping })
        #expect(stopping.startTime.millisecondsSince(start) >= 1000)
    }

    @Test("a missing image fails the job with a ClientError that says what to do")
    func missingImage() async throws {
        let fixture = try SchedulerFixture(knownImages: ["present:latest"])
        defer { fixture.cleanUp() }
        _ = try fixture.submit("no-image", image: "absent:latest")
        let job = try await fixture.waitFor("no-image") { $0.status.isTerminal }
        #expect(job.status == .failed)
        #expect(job.failureReason?.hasPrefix("ClientError: The training image absent:latest is not present") == true)
    }

    @Test("channel data from the object store is staged; a prefix with no objects fails the job")
    func channels() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        let data = fixture.s3Root.appendingPathComponent("data/train")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Data("1,2\n".utf8).write(to: data.appendingPathComponent("part-0.csv"))
        _ = try fixture.submit("staged", channels: [.init(name: "train", uri: "s3://data/train")])
        _ = try fixture.submit("unstaged", channels: [.init(name: "train", uri: "s3://data/nothing-here")])
        #expect(try await fixture.waitFor("staged") { $0.status.isTerminal }.status == .completed)
        let failed = try await fixture.waitFor("unstaged") { $0.status.isTerminal }
        #expect(failed.status == .failed)
        #expect(failed.failureReason?.contains("No S3 objects found under S3 URL \"s3://data/nothing-here\"") == true)
    }

    @Test("a restarted scheduler finishes the job the previous one started")
    func restart() async throws {
        let first = try SchedulerFixture(defaultTrainingSeconds: 1.5)
        _ = try first.submit("survives")
        _ = try await first.waitFor("survives") { $0.secondaryStatus == .training }
        first.stop()
        let second = try SchedulerFixture(directory: first.directory, defaultTrainingSeconds: 1.5)
        defer { second.cleanUp() }
        let job = try await second.waitFor("survives") { $0.status.isTerminal }
        #expect(job.status == .completed)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .uploading, .completed])
    }

    @Test("a job stopped while its data is staged never starts its container")
    func stopWhileStaging() async throws {
        var gate: GatedWorkspaces?
        let fixture = try SchedulerFixture(stopGrace: .seconds(30)) { local in
            let gated = GatedWorkspaces(local, gatedJob: "stopped-early")
            gate = gated
            return gated
        }
        let gated = try #require(gate)
        defer {
            gated.release.signal()
            fixture.cleanUp()
        }
        let submitted = try fixture.submit("stopped-early")
        try await gated.waitUntilEntered()
        try fixture.store.update(id: submitted.id) { try $0.stopRequested(now: Timestamp(epochSeconds: Date().timeIntervalSince1970)) }
        gated.release.signal()
        let job = try await fixture.waitFor("stopped-early") { $0.status.isTerminal }
        #expect(job.status == .stopped && job.secondaryStatus == .stopped)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .stopping, .stopped])
        // No container ran: nothing was signalled and no exit was recorded.
        #expect(job.sigtermSentTime == nil && job.exit == nil)
        #expect(try await fixture.runtime.list(labels: ["trainyard.job": "stopped-early"]).isEmpty)
    }

    @Test("staging one job's data does not hold up the other jobs")
    func stagingDoesNotBlock() async throws {
        var gate: GatedWorkspaces?
        let fixture = try SchedulerFixture { local in
            let gated = GatedWorkspaces(local, gatedJob: "slow-download")
            gate = gated
            return gated
        }
        let gated = try #require(gate)
        defer {
            gated.release.signal()
            fixture.cleanUp()
        }
        _ = try fixture.submit("slow-download")
        try await gated.waitUntilEntered()
        _ = try fixture.submit("quick")
        let quick = try await fixture.waitFor("quick") { $0.status.isTerminal }
        #expect(quick.status == .completed)
        #expect(try fixture.store.job(account: "123456789012", name: "slow-download")?.secondaryStatus == .downloading)
        gated.release.signal()
        #expect(try await fixture.waitFor("slow-download") { $0.status.isTerminal }.status == .completed)
    }
}
