public import ContainerRuntime
public import Foundation
public import JobStore
public import Logging
public import TrainingCore

/// The reconcile loop (DESIGN §5): desired state from the store, observed state from the runtime.
/// The API only writes to the store; the store's change feed nudges this loop, which also wakes at
/// the earliest stored deadline (MaxRuntimeInSeconds, the SIGKILL after the grace window).
/// Recovery needs no special path: at start-up every active job is decided afresh from what is
/// stored and what the runtime shows (Kubernetes' level-triggered `syncJob`).
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

        public init(
            stopGrace: Duration = .seconds(120), minimumPhaseDuration: Duration = .zero,
            pollInterval: Duration = .seconds(1), container: TrainingContainer.Options, maxConcurrentJobs: Int? = nil
        ) {
            self.maxConcurrentJobs = maxConcurrentJobs
            self.stopGrace = stopGrace
            self.minimumPhaseDuration = minimumPhaseDuration
            self.pollInterval = pollInterval
            self.container = container
        }
    }

    let store: JobStore
    let runtime: any ContainerRuntime
    let workspaces: any JobWorkspaces
    let configuration: Configuration
    let logger: Logger
    let now: @Sendable () -> Timestamp
    private let wakeup = Wakeup()

    /// What was last seen of each active job's container (rebuilt by `observe` after a restart).
    private var observations: [Int64: ContainerObservation] = [:]
    /// Jobs with a step running; a job never has two at once.
    private var inFlight: Set<Int64> = []
    /// Jobs whose container is being waited on.
    private var watched: Set<Int64> = []
    /// Jobs whose container output is being captured into their log stream.
    private var capturing: [Int64: Task<Void, Never>] = [:]
    /// Jobs not to decide for before a time: their last step failed unexpectedly, or they wait
    /// for a free slot (`maxConcurrentJobs`).
    private var notBefore: [Int64: Timestamp] = [:]
    /// Jobs waiting for a free slot; they are looked at again as soon as a job ends.
    private var waitingForSlot: Set<Int64> = []
    /// Jobs that wait for a time (a deadline, a phase's end), and those times in a heap.
    private var dueAt: [Int64: Timestamp] = [:]
    private var timers = DeadlineHeap()
    /// Jobs waiting for a decision; stopping jobs and container exits go first.
    private var ready = ReadyQueue()
    private var urgent = ReadyQueue()
    /// Jobs changed since the last pass (by the API, a step, or a container exit).
    private let changed = ChangedJobs()
    private var lastFullPass: Timestamp?
    /// A pass over every active job, at start-up and then now and again; between those, a pass
    /// looks only at changed and due jobs, so its cost does not grow with the number of waiting jobs.
    static let fullPassInterval: Int64 = 30_000
    /// Steps running at once, across jobs. A burst of thousands of creates otherwise started
    /// thousands of tasks together, each holding memory and files.
    static let maximumStepsInFlight = 32

    public init(
        store: JobStore, runtime: any ContainerRuntime, workspaces: any JobWorkspaces,
        configuration: Configuration, logger: Logger,
        now: @escaping @Sendable () -> Timestamp = { Timestamp(epochSeconds: Date().timeIntervalSince1970) }
    ) {
        self.store = store
        self.runtime = runtime
        self.workspaces = workspaces
        self.configuration = configuration
        self.logger = logger
        self.now = now
        let wakeup = self.wakeup
        let changed = self.changed
        store.observeChanges { change in
            changed.insert(change)
            wakeup.signal()
        }
    }

    /// Runs until the task is cancelled. Cancelling stops deciding; it never touches containers
    /// (stopping the server leaves training running for the next start to adopt).
    public func run() async {
        logger.info("scheduler started", metadata: ["stop.grace": "\(configuration.stopGrace)"])
        while !Task.isCancelled {
            let deadline = reconcileOnce()
            var sleep = configuration.pollInterval
            if let deadline {
                let wait = Duration.milliseconds(max(0, deadline.millisecondsSince(now())))
                sleep = min(sleep, wait)
            }
            await wakeup.wait(timeout: sleep)
        }
    }

    /// One pass: decides for the jobs that changed or whose time came (every active job, on a
    /// full pass), starts a step for each job that needs one (at most `maximumStepsInFlight` at
    /// once), and returns the earliest time something is due. Its cost follows the jobs that need
    /// attention, not the number of jobs waiting.
    func reconcileOnce() -> Timestamp? {
        let current = now()
        for change in changed.takeAll() {
            // A stop is served before new jobs' preparation, whatever the queue holds.
            if change.status == .stopping { urgent.push(change.jobID) } else { ready.push(change.jobID) }
        }
        if lastFullPass.map({ current.millisecondsSince($0) >= Self.fullPassInterval }) ?? true {
            do {
                let active = try store.activeJobIDs()
                lastFullPass = current
                let activeSet = Set(active)
                observations = observations.filter { activeSet.contains($0.key) }
                notBefore = notBefore.filter { activeSet.contains($0.key) }
                dueAt = dueAt.filter { activeSet.contains($0.key) }
                // Jobs with a timer are looked at when it fires (or when they change): re-reading
                // every one of them each full pass made the API wait on the store with 100k jobs.
                for id in active where dueAt[id] == nil { ready.push(id) }
            } catch {
                logger.error("cannot read active jobs", metadata: ["error": "\(error)"])
            }
        }
        while let next = timers.first, next.time <= current {
            _ = timers.popFirst()
            if dueAt[next.id] == next.time {
                dueAt[next.id] = nil
                ready.push(next.id)
            } else if notBefore[next.id] == next.time {
                ready.push(next.id)
            }
        }
        serve(&urgent, now: current)
        serve(&ready, now: current)
        return timers.first?.time
    }

    /// Decides for queued jobs, a batch at a time, while steps may still start.
    private func serve(_ queue: inout ReadyQueue, now current: Timestamp) {
        while inFlight.count < Self.maximumStepsInFlight, !queue.isEmpty {
            // Only as many as could start now: a job put back would be read again next pass.
            let batch = queue.pop(upTo: min(128, Self.maximumStepsInFlight - inFlight.count))
            let jobs: [Int64: TrainingJob]
            do {
                jobs = Dictionary(try store.jobs(ids: batch).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            } catch {
                logger.error("cannot read jobs", metadata: ["error": "\(error)"])
                queue.pushFront(batch)
                return
            }
            for (index, id) in batch.enumerated() {
                guard let job = jobs[id], job.status.isActive else {
                    forget(id)
                    continue
                }
                // A running step re-queues its job when it ends; a waiting job has its timer.
                if inFlight.contains(id) { continue }
                if let later = notBefore[id], later > current { continue }
                let step = job.nextStep(
                    observed: observations[id] ?? .unknown, now: current,
                    stopGraceMilliseconds: Int64(configuration.stopGrace.milliseconds))
                if case .wait(let until) = step {
                    wait(id, until: until)
                    continue
                }
                if let gate = phaseGate(job, step), gate > current {
                    wait(id, until: gate)
                    continue
                }
                if inFlight.count >= Self.maximumStepsInFlight {
                    // Bounded work at once (memory, file descriptors): the rest waits for the next
                    // pass, which comes as soon as a step ends.
                    queue.pushFront(batch[index...])
                    return
                }
                dueAt[id] = nil
                inFlight.insert(id)
                Task { await self.perform(step, for: job) }
            }
        }
    }

    /// Remembers that `jobID` has nothing to do until `time` (or until it changes, for nil).
    private func wait(_ jobID: Int64, until time: Timestamp?) {
        dueAt[jobID] = time
        if let time { timers.insert(time, jobID) }
    }

    /// Drops what is known of a job that ended or was deleted.
    private func forget(_ jobID: Int64) {
        capturing[jobID] = nil
        observations[jobID] = nil
        notBefore[jobID] = nil
        dueAt[jobID] = nil
        waitingForSlot.remove(jobID)
    }

    /// The simulated runtime's minimum time per phase, measured from the stored transition start.
    private func phaseGate(_ job: TrainingJob, _ step: LifecycleStep) -> Timestamp? {
        guard configuration.minimumPhaseDuration > .zero, let entered = job.transitions.last?.startTime else { return nil }
        switch (step, job.secondaryStatus) {
        case (.prepare, .starting) where job.transitions.last?.message != StatusMessage.startingTheJob,
            (.launch, .downloading), (.finish, .uploading):
            return entered.adding(milliseconds: Int64(configuration.minimumPhaseDuration.milliseconds))
        default:
            return nil
        }
    }

    private func perform(_ step: LifecycleStep, for job: TrainingJob) async {
        do {
            notBefore[job.id] = try await execute(step, for: job)
            if let later = notBefore[job.id] { timers.insert(later, job.id) }
        } catch {
            logger.warning(
                "job step failed; will retry",
                metadata: ["job.name": "\(job.name)", "job.step": "\(step)", "error": "\(error)"])
            let retry = now().adding(seconds: 1)
            notBefore[job.id] = retry
            timers.insert(retry, job.id)
        }
        inFlight.remove(job.id)
        // Decide again: a step that changed nothing in the store (observe, a declined update)
        // would otherwise never be looked at until the next full pass.
        if job.status == .stopping { urgent.push(job.id) } else { ready.push(job.id) }
        wakeup.signal()
    }

    private func containerID(_ job: TrainingJob) -> ContainerID { ContainerID(TrainingContainer.name(for: job)) }

    /// Runs one step; returns a time before which the job needs no further look, if any.
    private func execute(_ step: LifecycleStep, for job: TrainingJob) async throws -> Timestamp? {
        switch step {
        case .prepare: return try await prepare(job)
        case .launch: try await launch(job)
        case .observe: try await observe(job)
        case .recordExit(let outcome):
            try store.update(id: job.id) { try? $0.containerExited(outcome, now: self.now()) }
        case .exceedMaxRuntime:
            logger.info("MaxRuntimeInSeconds exceeded", metadata: ["job.name": "\(job.name)"])
            try store.update(id: job.id) { try? $0.maxRuntimeExceeded(now: self.now()) }
        case .sendSIGTERM:
            // Signal first, then record: after a crash in between, a second SIGTERM is far less
            // harmful than a SIGTERM that never went out.
            try await runtime.kill(containerID(job), signal: .term)
            SchedulerMetrics.sigtermSent()
            let sent = now()
            logger.info("SIGTERM sent", metadata: ["job.name": "\(job.name)"])
            try store.update(id: job.id) { $0.sigtermSentTime == nil ? $0.sigtermSent(now: sent) : nil }
        case .sendSIGKILL:
            try await runtime.kill(containerID(job), signal: .kill)
            SchedulerMetrics.sigkillSent()
            let sent = now()
            logger.info("SIGKILL sent after the grace window", metadata: ["job.name": "\(job.name)"])
            try store.update(id: job.id) { $0.sigkillSentTime == nil ? $0.sigkillSent(now: sent) : nil }
        case .finish: try await finish(job)
        case .containerLost:
            let reason =
                "InternalServerError: The training container \(TrainingContainer.name(for: job)) disappeared before it exited; it may have been removed outside Trainyard."
            try store.update(id: job.id) { try? $0.failed(reason: reason, now: self.now()) }
        case .wait: break
        }
        return nil
    }

    /// Starting (or Pending): announce, wait for a free slot, check the image, lay out the
    /// workspace, then Downloading. Returns when to look again if the job has to keep waiting.
    private func prepare(_ job: TrainingJob) async throws -> Timestamp? {
        if job.secondaryStatus == .starting, job.transitions.last?.message == StatusMessage.startingTheJob {
            try store.update(id: job.id) { job in
                job.secondaryStatus == .starting ? job.withStatusMessage(StatusMessage.preparingInstances, now: self.now()) : nil
            }
            return nil
        }
        if let limit = configuration.maxConcurrentJobs, try !hasSlot(job, limit: limit) {
            return try waitForSlot(job)
        }
        waitingForSlot.remove(job.id)
        do {
            guard try await runtime.imageExists(job.spec.trainingImage) else {
                return try await fail(job, reason: Self.missingImageReason(job.spec.trainingImage))
            }
        } catch let error as ContainerRuntimeError {
            return try await fail(job, reason: Self.reason(for: error, image: job.spec.trainingImage))
        }
        do {
            _ = try workspaces.prepare(job, host: TrainingContainer.host)
        } catch {
            return try await fail(job, reason: error.failureReason)
        }
        try store.update(id: job.id) { try? $0.startingDownload(now: self.now()) }
        return nil
    }

    /// Whether the job may start now: fewer than `limit` jobs have started and are still active,
    /// counting the jobs created before this one that wait too (first come, first served).
    private func hasSlot(_ job: TrainingJob, limit: Int) throws -> Bool {
        let usage = try store.slotUsage(ahead: job)
        return usage.started + usage.waitingAhead < limit
    }

    /// No slot: the job waits InProgress/Pending (SecondaryStatus doc: "Pending: waiting for
    /// capacity"), and is stopped once StoppingCondition.MaxPendingTimeInSeconds has passed since
    /// it was created (API StoppingCondition; the resulting secondary status is unverified, so it
    /// ends Stopped/Stopped like any stop).
    private func waitForSlot(_ job: TrainingJob) throws -> Timestamp? {
        let current = now()
        if let maxPending = job.spec.maxPendingSeconds, current >= job.creationTime.adding(seconds: maxPending) {
            logger.info("MaxPendingTimeInSeconds exceeded", metadata: ["job.name": "\(job.name)"])
            try store.update(id: job.id) { try? $0.stopRequested(now: self.now()) }
            waitingForSlot.remove(job.id)
            return nil
        }
        if job.secondaryStatus == .starting {
            try store.update(id: job.id) { try? $0.waitingForCapacity(now: self.now()) }
        }
        waitingForSlot.insert(job.id)
        // Looked at again when any job ends (finish), at the latest after the poll interval.
        var next = current.adding(milliseconds: configuration.pollInterval.milliseconds)
        if let maxPending = job.spec.maxPendingSeconds { next = min(next, job.creationTime.adding(seconds: maxPending)) }
        return next
    }

    /// A slot may have freed up: every waiting job is looked at again now.
    private func slotsChanged() {
        for id in waitingForSlot {
            notBefore[id] = nil
            ready.push(id)
        }
    }

    /// Downloading: stage the channels, create and start the container (or adopt the one a previous
    /// run of the server created), then Training.
    private func launch(_ job: TrainingJob) async throws {
        let id = containerID(job)
        do {
            if let existing = try await runtime.inspect(id) {
                logger.info("adopting existing container", metadata: ["job.name": "\(job.name)", "container.name": "\(id)"])
                if existing.status == .created { try await runtime.start(id) }
            } else {
                let mounts = try workspaces.prepare(job, host: TrainingContainer.host)
                let workspaces = self.workspaces
                try await runBlocking { () throws(WorkspaceError) in
                    try workspaces.stageInputs(job, host: TrainingContainer.host)
                }
                // Staging can take long, and the job may have been stopped meanwhile. SageMaker never
                // runs the algorithm of a job stopped while Downloading; a container started anyway
                // would get a SIGTERM before its handlers exist and hold the stop for the whole
                // grace window. So ask the stored job, as it is now, whether launching is still its
                // step (found by `test_stop_while_downloading_never_starts_the_container`).
                guard let current = try store.job(id: job.id),
                    current.nextStep(
                        observed: .unknown, now: now(), stopGraceMilliseconds: Int64(configuration.stopGrace.milliseconds))
                        == .launch
                else {
                    logger.info("job changed while its data was staged; not starting its container", metadata: ["job.name": "\(job.name)"])
                    return
                }
                let spec = TrainingContainer.spec(for: job, mounts: mounts, options: configuration.container)
                do {
                    _ = try await runtime.create(spec)
                } catch ContainerRuntimeError.nameInUse {
                    // Created by a previous pass whose record was lost: the same container.
                }
                try await runtime.start(id)
            }
        } catch let error as WorkspaceError {
            try await fail(job, reason: error.failureReason)
            return
        } catch let error as ContainerRuntimeError {
            try? await runtime.remove(id)
            try await fail(job, reason: Self.reason(for: error, image: job.spec.trainingImage))
            return
        }
        observations[job.id] = .running
        watch(job)
        capture(job)
        SchedulerMetrics.containerStarted()
        logger.info("training container started", metadata: ["job.name": "\(job.name)", "container.name": "\(id)"])
        try store.update(id: job.id) { try? $0.startingTraining(now: self.now()) }
    }

    /// Looks at the job's container after a restart or when nothing is known of it.
    private func observe(_ job: TrainingJob) async throws {
        guard let state = try await runtime.inspect(containerID(job)) else {
            observations[job.id] = .absent
            return
        }
        switch state.status {
        case .created: observations[job.id] = .created
        case .exited, .dead:
            observations[job.id] = .exited(ContainerOutcome(exitCode: state.exitCode ?? -1, oomKilled: state.oomKilled))
            capture(job)
        default:
            observations[job.id] = .running
            watch(job)
            capture(job)
        }
    }

    /// Waits for the container to exit in the background and wakes the loop when it does.
    private func watch(_ job: TrainingJob) {
        guard !watched.contains(job.id) else { return }
        watched.insert(job.id)
        let id = containerID(job)
        let runtime = self.runtime
        Task {
            var observation: ContainerObservation
            do {
                let exit = try await runtime.wait(id)
                observation = .exited(ContainerOutcome(exitCode: exit.exitCode, oomKilled: exit.oomKilled))
            } catch ContainerRuntimeError.noSuchContainer {
                observation = .absent
            } catch {
                // The engine hiccuped: forget what we knew, so the next pass inspects again.
                try? await Task.sleep(for: .seconds(1))
                observation = .unknown
            }
            self.watchEnded(job.id, observation)
        }
    }

    /// Starts following the job's container output into its log stream, unless already doing so.
    private func capture(_ job: TrainingJob) {
        guard capturing[job.id] == nil else { return }
        let capture = LogCapture(store: store, runtime: runtime, logger: logger)
        let id = containerID(job)
        let startedAt = captureStart(job)
        capturing[job.id] = Task.detached {
            await capture.run(job: job, host: TrainingContainer.host, container: id, startedAt: startedAt)
        }
    }

    /// The stream's creation time: when the job started on its instance (SageMaker names streams
    /// `<job>/algo-1-<epoch>` after the host's start).
    private func captureStart(_ job: TrainingJob) -> Timestamp {
        job.trainingStartTime ?? job.creationTime
    }

    /// Waits (a bounded time) for the capture of an exited container to store its last lines; a
    /// job whose container was never seen by this process has its output read now.
    private func finishCapture(_ job: TrainingJob) async {
        if capturing[job.id] == nil, (try? await runtime.inspect(containerID(job))) != nil {
            capture(job)
        }
        guard let task = capturing[job.id] else { return }
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await task.value; return true }
            group.addTask { try? await Task.sleep(for: .seconds(10)); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !finished {
            logger.warning("log capture did not finish in time", metadata: ["job.name": "\(job.name)"])
            task.cancel()
        }
        capturing[job.id] = nil
    }

    private func watchEnded(_ jobID: Int64, _ observation: ContainerObservation) {
        watched.remove(jobID)
        observations[jobID] = observation
        urgent.push(jobID)
        wakeup.signal()
    }

    /// Collects outputs and ends the job: Completed, Failed, Stopped or MaxRuntimeExceeded.
    private func finish(_ job: TrainingJob) async throws {
        let id = containerID(job)
        let outputs: CollectedOutputs
        let workspaces = self.workspaces
        do {
            outputs = try await runBlocking { () throws(WorkspaceError) -> CollectedOutputs in
                try workspaces.collectOutputs(job, host: TrainingContainer.host)
            }
        } catch {
            try? await runtime.remove(id)
            try await fail(job, reason: error.failureReason)
            return
        }
        // The container's last lines must be stored before it is removed: its output ends with
        // it, and the final metrics come from the stored lines.
        await finishCapture(job)
        let metrics = MetricScanner(definitions: job.spec.metricDefinitions).scan(
            store: store, streamID: try store.openLogStream(for: job, host: TrainingContainer.host, createdAt: captureStart(job)).id)
        try await runtime.remove(id)
        let finished = try store.update(id: job.id) { current in
            try? current.finished(failureText: outputs.failureText, metrics: metrics, now: self.now())
        }
        if let finished {
            logger.info(
                "training job ended",
                metadata: ["job.name": "\(job.name)", "job.status": "\(finished.status.rawValue)/\(finished.secondaryStatus.rawValue)"])
            slotsChanged()
            await runBlocking { workspaces.remove(finished) }
        }
    }

    @discardableResult
    private func fail(_ job: TrainingJob, reason: String) async throws -> Timestamp? {
        logger.info("training job failed", metadata: ["job.name": "\(job.name)", "job.reason": "\(reason)"])
        if let failed = try store.update(id: job.id, { try? $0.failed(reason: reason, now: self.now()) }) {
            slotsChanged()
            let workspaces = self.workspaces
            await runBlocking { workspaces.remove(failed) }
        }
        return nil
    }

    static func missingImageReason(_ image: String) -> String {
        "ClientError: The training image \(image) is not present on the container engine. Trainyard does not pull from registries: build or load the image on this machine first (docker build / docker load)."
    }

    static func reason(for error: ContainerRuntimeError, image: String) -> String {
        switch error {
        case .noSuchImage: missingImageReason(image)
        case .engineUnreachable(let message):
            "InternalServerError: Trainyard could not reach the container engine (\(message)). Start Docker, or run trainyard with --runtime simulated, and create the job again."
        case .noSuchContainer(let name): "InternalServerError: the training container \(name) vanished."
        case .nameInUse(let name): "InternalServerError: a container named \(name) already exists."
        case .engine(let status, let message): "InternalServerError: the container engine failed (\(status)): \(message)"
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
