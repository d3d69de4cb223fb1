import ContainerRuntime
import Foundation
import JobStore
import Logging
import Scheduler
import TrainingCore

/// A scheduler over a temporary database, the simulated runtime and local workspaces.
final class SchedulerFixture: Sendable {
    let directory: URL
    let store: JobStore
    let runtime: SimulatedRuntime
    let workspaces: LocalWorkspaces
    let scheduler: TrainingScheduler
    let task: Task<Void, Never>

    /// `wrapWorkspaces` lets a test put its own `JobWorkspaces` around the local one (e.g. to hold
    /// a job in staging).
    init(
        directory: URL? = nil, stopGrace: Duration = .milliseconds(300), phase: Duration = .zero,
        defaultTrainingSeconds: Double = 0.2, knownImages: Set<String>? = nil, maxConcurrentJobs: Int? = nil,
        wrapWorkspaces: (LocalWorkspaces) -> any JobWorkspaces = { $0 }
    ) throws {
        let directory = directory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("trainyard-scheduler-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        store = try JobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        runtime = try SimulatedRuntime(
            stateDirectory: directory.appendingPathComponent("containers"), defaultTrainingSeconds: defaultTrainingSeconds,
            knownImages: knownImages)
        workspaces = LocalWorkspaces(
            root: directory.appendingPathComponent("workspaces"), s3Root: directory.appendingPathComponent("s3").path)
        scheduler = TrainingScheduler(
            store: store, runtime: runtime, workspaces: wrapWorkspaces(workspaces),
            configuration: .init(
                stopGrace: stopGrace, minimumPhaseDuration: phase, pollInterval: .milliseconds(200),
                container: .init(region: "us-east-1"), maxConcurrentJobs: maxConcurrentJobs),
            logger: Logger(label: "test"))
        let scheduler = self.scheduler
        task = Task { await scheduler.run() }
    }

    func stop() { task.cancel() }

    func cleanUp() {
        task.cancel()
        try? FileManager.default.removeItem(at: directory)
    }

    var s3Root: URL { directory.appendingPathComponent("s3") }

    func submit(
        _ name: String, environment: [String: String] = [:], image: String = "trainyard-test/busybox:latest",
        maxRuntime: Int64 = 86_400, maxPending: Int64? = nil, channels: [TrainingJobSpec.Channel] = []
    ) throws -> TrainingJob {
        let spec = TrainingJobSpec(
            trainingImage: image, environment: environment, channels: channels, outputPath: "s3://bucket/out",
            maxRuntimeSeconds: maxRuntime, maxPendingSeconds: maxPending)
        let job = TrainingJob.created(
            account: "123456789012", name: name, arn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/\(name)",
            spec: spec, requestEcho: "{}", now: Timestamp(epochSeconds: Date().timeIntervalSince1970))
        return try store.create(job)
    }

    /// Polls the store until `condition` holds for the job (or 15 s pass), and returns the job.
    func waitFor(_ name: String, _ condition: @escaping (TrainingJob) -> Bool) async throws -> TrainingJob {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let job = try store.job(account: "123456789012", name: name), condition(job) { return job }
            try await Task.sleep(for: .milliseconds(20))
        }
        let last = try store.job(account: "123456789012", name: name)
        throw FixtureTimeout(description: "job \(name) never reached the expected state; last: \(String(describing: last?.status)) \(String(describing: last?.secondaryStatus))")
    }

    func modelArtifact(_ name: String) -> URL {
        s3Root.appendingPathComponent("bucket/out/\(name)/output/model.tar.gz")
    }
}

struct FixtureTimeout: Error, CustomStringConvertible {
    var description: String
}

/// Local workspaces whose staging of one job's channels waits until the test releases it: a
/// download that takes as long as the test wants.
final class GatedWorkspaces: JobWorkspaces {
    let base: LocalWorkspaces
    let gatedJob: String
    /// Signalled when staging of the gated job has begun.
    let entered = DispatchSemaphore(value: 0)
    /// Signal to let that staging go on.
    let release = DispatchSemaphore(value: 0)

    init(_ base: LocalWorkspaces, gatedJob: String) {
        self.base = base
        self.gatedJob = gatedJob
    }

    func prepare(_ job: TrainingJob, host: String) throws(WorkspaceError) -> [ContainerSpec.Mount] {
        try base.prepare(job, host: host)
    }

    func stageInputs(_ job: TrainingJob, host: String) throws(WorkspaceError) {
        if job.name == gatedJob {
            entered.signal()
            release.wait()
        }
        try base.stageInputs(job, host: host)
    }

    func collectOutputs(_ job: TrainingJob, host: String) throws(WorkspaceError) -> CollectedOutputs {
        try base.collectOutputs(job, host: host)
    }

    func remove(_ job: TrainingJob) { base.remove(job) }

    /// Waits (without blocking the test's thread) until the gated job's staging has begun.
    func waitUntilEntered() async throws {
        let deadline = Date().addingTimeInterval(15)
        while entered.wait(timeout: .now()) == .timedOut {
            guard Date() < deadline else { throw FixtureTimeout(description: "staging of \(gatedJob) never began") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
