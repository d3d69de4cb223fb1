public import ContainerRuntime
import Foundation
public import JobStore
public import Logging
public import TrainingCore

/// The reconcile loop (DESIGN §5): desired state from the store, observed state from the runtime.
/// The API only writes to the store; the store's change feed nudges this loop, which also wakes at
/// the earliest stored deadline (MaxRuntimeInSeconds, the SIGKILL after the grace window).
/// Recovery needs no special path: at start-up every active job is decided afresh from what is
/// stored and what the runtime shows (Kubernetes' level-triggered `syncJob`).
///
/// Which job to look at, when, and what to do is decided by `Reconciler`, a value in TrainingCore;
/// this actor reads the store, runs the actions it gets back (TrainingScheduler+Steps.swift), and
/// reports what happened. It reads the time from, and sleeps on, an injected clock. Its code runs
/// on a thread of its own (SchedulerThread), never queued behind API requests.
public actor TrainingScheduler {
    public struct Configuration: Sendable {
        /// SIGTERM → SIGKILL window; SageMaker's is 120 s (API StopTrainingJob).
        public var stopGrace: Duration
        /// Least time a job spends in Starting, Downloading and Uploading (the simulated runtime
        /// uses it so fixtures can watch every status; zero for real containers).
        public var minimumPhaseDuration: Duration
        /// Longest sleep between passes when nothing is due (container exits also wake the loop).
        public var pollInterval: Duration
        public var container: TrainingContainer.Options
        /// Jobs that may run at once; further jobs wait InProgress/Pending. Nil: no limit.
        public var maxConcurrentJobs: Int?
        /// How often a job waiting for cluster capacity (the runtime's `insufficientCapacity`)
        /// asks again, at the latest; a job's end wakes it sooner.
        public var capacityPollInterval: Duration

        public init(
            stopGrace: Duration = .seconds(120), minimumPhaseDuration: Duration = .zero,
            pollInterval: Duration = .seconds(1), container: TrainingContainer.Options, maxConcurrentJobs: Int? = nil,
            capacityPollInterval: Duration = .seconds(5)
        ) {
            self.maxConcurrentJobs = maxConcurrentJobs
            self.capacityPollInterval = capacityPollInterval
            self.stopGrace = stopGrace
            self.minimumPhaseDuration = minimumPhaseDuration
            self.pollInterval = pollInterval
            self.container = container
        }

        var reconciler: Reconciler.Configuration {
            Reconciler.Configuration(
                stopGrace: stopGrace, minimumPhaseDuration: minimumPhaseDuration, pollInterval: pollInterval,
                maxConcurrentJobs: maxConcurrentJobs, capacityPollInterval: capacityPollInterval)
        }
    }

    /// The actor runs on its own thread (SchedulerThread).
    private static let thread = SchedulerThread(name: "trainyard-scheduler")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { Self.thread.asUnownedSerialExecutor() }

    let store: JobStore
    let runtime: any ContainerRuntime
    let workspaces: any JobWorkspaces
    let configuration: Configuration
    let logger: Logger
    let clock: any TimestampClock
    var core: Reconciler
    let wakeup = Wakeup()
    /// Jobs changed since the last pass (by the API, a step, or a container exit).
    private let changed = ChangedJobs()
    /// Each active job's latest version from the change feed: a job the store has cached at
    /// that version is decided for without reading it again (`JobStore.jobs(ids:knownVersions:)`).
    private var knownVersions: [Int64: Int64] = [:]
    /// Hosts (job id, host name) whose container is being waited on, and those whose waiting is
    /// yet to start (the loop starts the waits, as children of its task group).
    var watched: Set<WatchedHost> = []
    var watchesToStart: [(job: TrainingJob, host: String)] = []
    /// Runs the log captures (its own service, so they end with the server).
    let logCaptures: LogCaptures
    /// Each job's hosts whose container output is being captured into their log streams.
    var capturing: [Int64: [String: LogCaptures.Handle]] = [:]
    /// Steps' status changes, committed together at the loop's next turn: one store transaction
    /// for many jobs (a burst of simulated jobs spent an eighth of its time in BEGIN…COMMIT).
    private var pendingWrites: [PendingWrite] = []
    /// Set once the loop has stopped taking writes (shutdown): a step then writes directly.
    private var loopEnded = false
    /// Passes run so far, and callers of `pass(after:)` waiting for the next one.
    private var passes = 0
    private var passWaiters: [CheckedContinuation<Void, Never>] = []

    public init(
        store: JobStore, runtime: any ContainerRuntime, workspaces: any JobWorkspaces,
        configuration: Configuration, logCaptures: LogCaptures, logger: Logger, clock: any TimestampClock = SystemClock()
    ) {
        self.store = store
        self.logCaptures = logCaptures
        self.runtime = runtime
        self.workspaces = workspaces
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.core = Reconciler(configuration: configuration.reconciler)
        let wakeup = self.wakeup
        let changed = self.changed
        store.observeChanges { change in
            changed.insert(change)
            wakeup.signal()
        }
    }

    /// Runs until the task is cancelled. Steps and container waits run as children of this task
    /// and end with it. Cancelling stops deciding; it never touches containers (stopping the
    /// server leaves training running for the next start to adopt).
    public func run() async {
        logger.info("scheduler started", metadata: ["stop.grace": "\(configuration.stopGrace)"])
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                commitWrites()
                for (job, action) in reconcileOnce() {
                    group.addTask { await self.perform(action, for: job) }
                }
                for (job, host) in watchesToStart {
                    group.addTask { await self.watch(job, host: host) }
                }
                watchesToStart = []
                passes += 1
                for waiter in passWaiters { waiter.resume() }
                passWaiters = []
                let now = clock.now
                let deadline = min(core.nextDeadline ?? .distantFuture, now.advanced(by: configuration.pollInterval))
                await wakeup.wait(until: deadline, on: clock)
            }
            // The steps still running finish before the group returns; their writes must not wait
            // for a turn of the loop that will not come.
            loopEnded = true
            commitWrites()
        }
        for captures in capturing.values { for capture in captures.values { capture.cancel() } }
        capturing = [:]
        for waiter in passWaiters { waiter.resume() }
        passWaiters = []
    }

    /// One pass: decides for the jobs that changed or whose time came (every active job, on a
    /// full pass) and returns the actions to start. Its cost follows the jobs that need
    /// attention, not the number of jobs waiting.
    func reconcileOnce() -> [(job: TrainingJob, action: JobAction)] {
        let now = clock.now
        for change in changed.takeAll() {
            // Notifications of two commits may arrive in either order: the later version counts.
            if let version = change.version {
                knownVersions[change.jobID] = max(knownVersions[change.jobID] ?? version, version)
            } else {
                knownVersions[change.jobID] = nil
            }
            core.jobChanged(change.jobID, stopping: change.status == .stopping)
        }
        if core.fullPassDue(now: now) {
            do {
                core.fullPass(activeJobs: try store.activeJobIDs(), now: now)
            } catch {
                logger.error("cannot read active jobs", metadata: ["error": "\(error)"])
            }
        }
        core.fireTimers(now: now)
        var actions: [(job: TrainingJob, action: JobAction)] = []
        while let batch = core.nextBatch() {
            let jobs: [Int64: TrainingJob]
            do {
                jobs = Dictionary(
                    try store.jobs(ids: batch.ids, knownVersions: knownVersions).map { ($0.id, $0) },
                    uniquingKeysWith: { first, _ in first })
            } catch {
                logger.error("cannot read jobs", metadata: ["error": "\(error)"])
                core.putBack(batch)
                break
            }
            let decisions = core.decide(batch, jobs: jobs, now: now)
            for id in decisions.forgotten {
                capturing[id] = nil
                knownVersions[id] = nil
            }
            actions += decisions.actions
        }
        return actions
    }

    /// For tests that move a manual clock: how many passes have run; whether there is nothing to
    /// do until the store changes, a container exits or time passes (no change unread, no step
    /// running, nothing due); the jobs whose container is waited on; and the earliest time
    /// something is due.
    public func progress() -> SchedulerProgress {
        let now = clock.now
        let idle = changed.isEmpty && watchesToStart.isEmpty && pendingWrites.isEmpty && core.isIdle(now: now)
            && !core.fullPassDue(now: now)
        return SchedulerProgress(
            passes: passes, isIdle: idle, watchedJobs: Set(watched.map(\.jobID)), nextDeadline: core.nextDeadline)
    }

    /// Returns once pass number `count + 1` has run (at once if it already has, or the loop ended).
    public func pass(after count: Int) async {
        guard passes <= count else { return }
        await withCheckedContinuation { passWaiters.append($0) }
    }

    /// A step's status change (`JobStore.update`): queued for the loop's next commit, where it
    /// shares one transaction with the other steps' changes. Returns the stored job, or nil when
    /// there is no such job or `change` declined.
    @discardableResult
    func write(
        _ id: Int64, _ change: @escaping (TrainingJob) throws(LifecycleError) -> TrainingJob?
    ) async throws(JobStoreError) -> TrainingJob? {
        if loopEnded { return try store.update(id: id, change) }
        let result = await withCheckedContinuation { continuation in
            pendingWrites.append(PendingWrite(id: id, change: change, continuation: continuation))
            wakeup.signal()
        }
        return try result.get()
    }

    /// Commits the queued status changes in one transaction and hands each step its result.
    private func commitWrites() {
        guard !pendingWrites.isEmpty else { return }
        let writes = pendingWrites
        pendingWrites = []
        do {
            let results = try store.update(batch: writes.map { (id: $0.id, change: $0.change) })
            for (write, result) in zip(writes, results) { write.continuation.resume(returning: result) }
        } catch {
            for write in writes { write.continuation.resume(returning: .failure(error)) }
        }
    }

    /// Runs one action for a job, then hands the job back to the core.
    private func perform(_ action: JobAction, for job: TrainingJob) async {
        let stopping = job.status == .stopping
        do {
            let notBefore = try await execute(action, for: job)
            core.stepEnded(job.id, stopping: stopping, notBefore: notBefore)
        } catch {
            if !Task.isCancelled {
                logger.warning(
                    "job step failed; will retry",
                    metadata: ["job.name": "\(job.name)", "job.step": "\(action)", "error": "\(error)"])
            }
            core.stepFailed(job.id, stopping: stopping, now: clock.now)
        }
        wakeup.signal()
    }

    /// Waits for one host's container to exit and wakes the loop when it does.
    private func watch(_ job: TrainingJob, host: String) async {
        var observation: ContainerObservation
        var finishedAt: Timestamp?
        do {
            let exit = try await runtime.wait(containerID(job, host: host))
            observation = .exited(
                ContainerOutcome(
                    exitCode: exit.exitCode, oomKilled: exit.oomKilled,
                    platformFailure: exit.loss.map { Self.failureReason(for: $0, host: host) }))
            // When this process saw it end: orders the hosts' failures (the wait returns as the
            // container exits).
            finishedAt = clock.now
        } catch ContainerRuntimeError.noSuchContainer {
            observation = .absent
        } catch {
            if Task.isCancelled { return }
            // The engine hiccuped: forget what we knew, so the next pass inspects again.
            try? await clock.sleep(until: clock.now.advanced(by: .seconds(1)), tolerance: nil)
            observation = .unknown
        }
        watched.remove(WatchedHost(jobID: job.id, host: host))
        core.observed(job.id, host: host, observation, finishedAt: finishedAt, urgent: true)
        wakeup.signal()
    }
}

/// A status change waiting for the loop's next commit.
struct PendingWrite {
    var id: Int64
    var change: (TrainingJob) throws(LifecycleError) -> TrainingJob?
    var continuation: CheckedContinuation<Result<TrainingJob?, JobStoreError>, Never>
}

/// One host of one job.
struct WatchedHost: Hashable, Sendable {
    var jobID: Int64
    var host: String
}

public struct SchedulerProgress: Sendable {
    public var passes: Int
    public var isIdle: Bool
    public var watchedJobs: Set<Int64>
    public var nextDeadline: Timestamp?
}

extension Timestamp {
    /// Later than any deadline the scheduler stores.
    static let distantFuture = Timestamp(milliseconds: .max / 2)
}
