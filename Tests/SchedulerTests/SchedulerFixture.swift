import ContainerRuntime
import Foundation
import JobStore
import Logging
import Scheduler
import Synchronization
import TestSupport
import TrainingCore

/// A scheduler over a temporary database, local workspaces and a `FakeContainerRuntime`, all on a
/// `ManualClock`: time moves only when the test says so, and `advance` steps through every
/// deadline on the way (the scheduler's and the fake containers' exits), letting the scheduler
/// settle at each, so what happens at an instant happens at exactly that instant.
///
/// A fake container follows its job's Environment: `RUNS_FOR` (seconds; default: runs until
/// signalled), `EXIT_CODE`, `FAILURE` (the failure file's text), `IGNORES_SIGTERM`, `OOM`, and
/// `SILENT` (no output; otherwise it prints "training started" as it starts).
final class SchedulerFixture: Sendable {
    let directory: URL
    let store: JobStore
    let clock: ManualClock
    let runtime: FakeContainerRuntime
    let workspaces: LocalWorkspaces
    let scheduler: TrainingScheduler
    let task: Task<Void, Never>
    /// Committed changes per job id, from the store's change feed (creation included).
    let writes = WriteCounter()
    private let settings: Settings

    struct Settings: Sendable {
        var stopGrace: Duration = .seconds(120)
        var phase: Duration = .zero
        var maxConcurrentJobs: Int?
        var images: Set<String>?
        /// LocalWorkspaces.layOutUpFront (false: as `--runtime simulated` runs).
        var layOutUpFront = true
    }

    convenience init(
        stopGrace: Duration = .seconds(120), phase: Duration = .zero, images: Set<String>? = nil,
        maxConcurrentJobs: Int? = nil, layOutUpFront: Bool = true, containersMayExitAtLaunch: Bool = false,
        wrapWorkspaces: @Sendable (LocalWorkspaces) -> any JobWorkspaces = { $0 }
    ) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-scheduler-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let clock = ManualClock()
        let settings = Settings(
            stopGrace: stopGrace, phase: phase, maxConcurrentJobs: maxConcurrentJobs, images: images, layOutUpFront: layOutUpFront)
        try self.init(
            directory: directory, store: try JobStore(path: ":memory:"), clock: clock,
            runtime: FakeContainerRuntime(
                clock: clock, images: images, containersMayExitAtLaunch: containersMayExitAtLaunch, script: Self.script),
            settings: settings,
            wrapWorkspaces: wrapWorkspaces)
    }

    private init(
        directory: URL, store: JobStore, clock: ManualClock, runtime: FakeContainerRuntime, settings: Settings,
        wrapWorkspaces: @Sendable (LocalWorkspaces) -> any JobWorkspaces
    ) throws {
        self.directory = directory
        self.store = store
        self.clock = clock
        self.runtime = runtime
        self.settings = settings
        workspaces = LocalWorkspaces(
            root: directory.appendingPathComponent("workspaces"), s3Root: directory.appendingPathComponent("s3").path,
            layOutUpFront: settings.layOutUpFront)
        let logCaptures = LogCaptures(logs: store.logs)
        scheduler = TrainingScheduler(
            store: store, runtime: runtime, workspaces: wrapWorkspaces(workspaces),
            configuration: .init(
                stopGrace: settings.stopGrace, minimumPhaseDuration: settings.phase, pollInterval: .seconds(1),
                container: .init(region: "us-east-1"), maxConcurrentJobs: settings.maxConcurrentJobs),
            logCaptures: logCaptures, logger: Logger(label: "test"), clock: clock)
        let writes = self.writes
        store.observeChanges { change in writes.count(change.jobID) }
        let scheduler = self.scheduler
        // The scheduler and the log captures in one task, as `trainyard serve` runs them: a
        // restart cancels both.
        task = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await logCaptures.run() }
                await scheduler.run()
                group.cancelAll()
            }
        }
    }

    /// A server restart: this scheduler stops, and a new one runs over the same store, clock and
    /// engine (whose containers went on running).
    func restarted() async throws -> SchedulerFixture {
        try await restarted(settings: settings)
    }

    /// A restart with a different `--max-concurrent-jobs`.
    func restarted(maxConcurrentJobs: Int?) async throws -> SchedulerFixture {
        var settings = self.settings
        settings.maxConcurrentJobs = maxConcurrentJobs
        return try await restarted(settings: settings)
    }

    private func restarted(settings: Settings) async throws -> SchedulerFixture {
        task.cancel()
        await task.value
        return try SchedulerFixture(
            directory: directory, store: store, clock: clock, runtime: runtime, settings: settings, wrapWorkspaces: { $0 })
    }

    func cleanUp() {
        task.cancel()
        try? FileManager.default.removeItem(at: directory)
    }

    var s3Root: URL { directory.appendingPathComponent("s3") }

    static let script: @Sendable (ContainerSpec) -> FakeContainerScript = { spec in
        let env = spec.environment
        return FakeContainerScript(
            runsFor: env["RUNS_FOR"].flatMap(Double.init).map { .milliseconds(Int64($0 * 1000)) },
            exitCode: env["EXIT_CODE"].flatMap { Int($0) } ?? 0, failureText: env["FAILURE"],
            ignoresSIGTERM: env["IGNORES_SIGTERM"] == "true", oomKilled: env["OOM"] == "true",
            output: env["SILENT"] == "true" ? [] : ["training started"])
    }

    @discardableResult
    func submit(
        _ name: String, environment: [String: String] = [:], image: String = "trainyard-test/busybox:latest",
        maxRuntime: Int64 = 86_400, maxPending: Int64? = nil, channels: [TrainingJobSpec.Channel] = []
    ) throws -> TrainingJob {
        let spec = TrainingJobSpec(
            trainingImage: image, environment: environment, channels: channels, outputPath: "s3://bucket/out",
            maxRuntimeSeconds: maxRuntime, maxPendingSeconds: maxPending)
        let job = TrainingJob.created(
            account: "123456789012", name: name, arn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/\(name)",
            spec: spec, requestEcho: "{}", now: clock.now)
        return try store.create(job)
    }

    func job(_ name: String) throws -> TrainingJob {
        guard let job = try store.job(account: "123456789012", name: name) else {
            throw FixtureFailure(description: "no job \(name)")
        }
        return job
    }

    /// StopTrainingJob, as the API does it.
    func stop(_ name: String) throws {
        try store.update(id: try job(name).id) { job throws(LifecycleError) in try job.stopRequested(now: self.clock.now) }
    }

    /// Returns once the scheduler has done everything it can without time passing: no change
    /// unread, no step running, nothing due, and every container exit taken in. Waits for the
    /// scheduler's passes, never for the wall clock; gives up (throws) after a bounded number.
    func settle() async throws {
        for _ in 0..<10_000 {
            let progress = await scheduler.progress()
            if progress.isIdle {
                let exitedButWatched = runtime.exitedContainers.contains { name in
                    Self.jobID(ofContainer: name).map(progress.watchedJobs.contains) ?? false
                }
                if !exitedButWatched { return }
            }
            await scheduler.pass(after: progress.passes)
        }
        throw FixtureFailure(description: "the scheduler never settled")
    }

    /// The earliest time the scheduler or a container has something due, up to `limit`.
    private func nextStop(before limit: Timestamp) async -> Timestamp {
        var next = limit
        if let due = await scheduler.progress().nextDeadline, due > clock.now { next = min(next, due) }
        if let exit = runtime.nextExit, exit > clock.now { next = min(next, exit) }
        return next
    }

    /// Moves the clock to `clock.now + duration`, stopping at every deadline on the way.
    func advance(by duration: Duration) async throws {
        try await advance(to: clock.now.advanced(by: duration))
    }

    func advance(to target: Timestamp) async throws {
        try await settle()
        while clock.now < target {
            clock.advance(to: await nextStop(before: target))
            try await settle()
        }
    }

    /// Advances in steps until `condition` holds for the job (at most `limit` of manual time).
    func advance(
        _ name: String, until condition: (TrainingJob) -> Bool, limit: Duration = .seconds(3600)
    ) async throws -> TrainingJob {
        let end = clock.now.advanced(by: limit)
        try await settle()
        while true {
            let current = try job(name)
            if condition(current) { return current }
            guard clock.now < end else {
                throw FixtureFailure(description: "job \(name) never got there; last: \(current.status) \(current.secondaryStatus)")
            }
            clock.advance(to: await nextStop(before: end))
            try await settle()
        }
    }

    func modelArtifact(_ name: String) -> URL {
        s3Root.appendingPathComponent("bucket/out/\(name)/output/model.tar.gz")
    }

    func containerName(_ job: TrainingJob) -> String { TrainingContainer.name(for: job, instance: "") }

    static func jobID(ofContainer name: String) -> Int64? {
        // trainyard-<id>-<job name>-<host>
        name.split(separator: "-").dropFirst().first.flatMap { Int64($0) }
    }
}

/// Committed changes per job, from the store's change feed.
final class WriteCounter: Sendable {
    private let counts = Mutex<[Int64: Int]>([:])
    func count(_ id: Int64) { counts.withLock { $0[id, default: 0] += 1 } }
    func of(_ id: Int64) -> Int { counts.withLock { $0[id, default: 0] } }
}

struct FixtureFailure: Error, CustomStringConvertible {
    var description: String
}

/// Local workspaces that count preparations, and whose staging of one job's channels waits until
/// the test releases it: a download that takes as long as the test wants.
final class GatedWorkspaces: JobWorkspaces {
    let base: LocalWorkspaces
    let gatedJob: String?
    /// Signalled when staging of the gated job has begun.
    let entered = DispatchSemaphore(value: 0)
    /// Signal to let that staging go on.
    let release = DispatchSemaphore(value: 0)
    let preparations = Atomic<Int>(0)

    init(_ base: LocalWorkspaces, gatedJob: String? = nil) {
        self.base = base
        self.gatedJob = gatedJob
    }

    func prepare(_ job: TrainingJob, host: String) throws(WorkspaceError) -> [ContainerSpec.Mount] {
        preparations.add(1, ordering: .relaxed)
        return try base.prepare(job, host: host)
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

    /// Waits (yielding, never sleeping) until the gated job's staging has begun.
    func waitUntilEntered() async throws {
        for _ in 0..<1_000_000 {
            if entered.wait(timeout: .now()) == .success { return }
            await Task.yield()
        }
        throw FixtureFailure(description: "staging of \(gatedJob ?? "-") never began")
    }
}
