import HeapModule

/// The scheduler's bookkeeping and decisions as a value (DESIGN §7.1: pure decisions, impure edges).
/// It knows which jobs need a look and when: jobs that changed, jobs whose time came (a deadline, a
/// phase's end, a retry), jobs waiting for a free slot. Given the jobs as stored, it decides what to
/// do for each (`JobAction`), bounded to `maximumStepsInFlight` at once. It does no I/O and reads no
/// clock: every call that needs the time takes `now`, so a test drives it step by step and the
/// scheduler actor only reads the store, runs the actions it returns, and reports back.
///
/// A pass, as the actor runs it: `jobChanged` for the store's change feed, `fullPass` when
/// `fullPassDue`, `fireTimers`, then `nextBatch` → read those jobs → `decide`, until `nextBatch`
/// returns nil; the actor sleeps until `nextDeadline` or the next change.
public struct Reconciler: Sendable {
    public struct Configuration: Sendable {
        /// SIGTERM → SIGKILL window; SageMaker's is 120 s (API StopTrainingJob).
        public var stopGrace: Duration
        /// Least time a job spends in Starting, Downloading and Uploading (the simulated runtime
        /// uses it so fixtures can watch every status; zero for real containers).
        public var minimumPhaseDuration: Duration
        /// How often a job waiting for a slot looks again, at the latest (a job's end wakes it sooner).
        public var pollInterval: Duration
        /// Jobs that may run at once; further jobs wait InProgress/Pending. Nil: no limit.
        public var maxConcurrentJobs: Int?
        /// How often a job waiting for cluster capacity asks the runtime again, at the latest (a
        /// job's end wakes it sooner; capacity also comes from nodes that join).
        public var capacityPollInterval: Duration
        /// Steps running at once, across jobs. A burst of thousands of creates otherwise started
        /// thousands of steps together, each holding memory and files. Steps wait on the loop's
        /// next commit of their writes, so this bounds throughput too: at 32, a burst of simulated
        /// jobs completed at half the rate it was created.
        public var maximumStepsInFlight: Int
        /// A pass over every active job, at start-up and then now and again; between those, a pass
        /// looks only at changed and due jobs, so its cost does not grow with the number of waiting jobs.
        public var fullPassInterval: Duration
        /// How long a job whose step failed unexpectedly waits before it is looked at again.
        public var retryDelay: Duration
        /// Jobs read from the store at once.
        public var batchSize: Int

        public init(
            stopGrace: Duration = .seconds(120), minimumPhaseDuration: Duration = .zero, pollInterval: Duration = .seconds(1),
            maxConcurrentJobs: Int? = nil, maximumStepsInFlight: Int = 256, fullPassInterval: Duration = .seconds(30),
            retryDelay: Duration = .seconds(1), batchSize: Int = 128, capacityPollInterval: Duration = .seconds(5)
        ) {
            self.capacityPollInterval = capacityPollInterval
            self.stopGrace = stopGrace
            self.minimumPhaseDuration = minimumPhaseDuration
            self.pollInterval = pollInterval
            self.maxConcurrentJobs = maxConcurrentJobs
            self.maximumStepsInFlight = maximumStepsInFlight
            self.fullPassInterval = fullPassInterval
            self.retryDelay = retryDelay
            self.batchSize = batchSize
        }
    }

    /// Job ids taken from a queue to be read and decided for.
    public struct Batch: Sendable, Equatable {
        public var ids: [Int64]
        /// Taken from the urgent queue (stops and container exits).
        public var urgent: Bool
    }

    /// What `decide` concluded for a batch.
    public struct Decisions: Sendable {
        /// Actions to run now, one per job; each job is in flight until `stepEnded`.
        public var actions: [(job: TrainingJob, action: JobAction)] = []
        /// Jobs that ended or were deleted: whatever the caller keeps for them can go.
        public var forgotten: [Int64] = []
    }

    public let configuration: Configuration

    /// What was last seen of each active job's containers, one per host (rebuilt by `observe`
    /// after a restart).
    public private(set) var observations: [Int64: ClusterObservation] = [:]
    /// Jobs with a step running; a job never has two at once.
    public private(set) var inFlight: Set<Int64> = []
    /// Jobs not to decide for before a time: their last step failed unexpectedly, or they wait for
    /// a free slot.
    private var notBefore: [Int64: Timestamp] = [:]
    /// Jobs waiting for a free slot; they are looked at again as soon as a job ends.
    public private(set) var waitingForSlot: Set<Int64> = []
    /// Jobs that wait for a time (a deadline, a phase's end), and all times in a heap. Stale heap
    /// entries (a job whose time moved) are skipped when they come up.
    private var dueAt: [Int64: Timestamp] = [:]
    private var timers = Heap<Deadline>()
    /// Jobs waiting for a decision; stopping jobs and container exits go first.
    private var ready = JobQueue()
    private var urgent = JobQueue()
    private var lastFullPass: Timestamp?

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: Inputs

    /// A job changed in the store (created, updated by the API or a step, deleted).
    public mutating func jobChanged(_ id: Int64, stopping: Bool) {
        // A stop is served before new jobs' preparation, whatever the queue holds.
        if stopping { urgent.push(id) } else { ready.push(id) }
    }

    public func fullPassDue(now: Timestamp) -> Bool {
        lastFullPass.map { now.millisecondsSince($0) >= configuration.fullPassInterval.wholeMilliseconds } ?? true
    }

    /// Every active job, from the store: forget the rest, queue those without a timer.
    public mutating func fullPass(activeJobs: [Int64], now: Timestamp) {
        lastFullPass = now
        let active = Set(activeJobs)
        observations = observations.filter { active.contains($0.key) }
        notBefore = notBefore.filter { active.contains($0.key) }
        dueAt = dueAt.filter { active.contains($0.key) }
        waitingForSlot.formIntersection(active)
        // Jobs with a timer are looked at when it fires (or when they change): re-reading every one
        // of them each full pass made the API wait on the store with 100k jobs.
        for id in activeJobs where dueAt[id] == nil { ready.push(id) }
    }

    /// Queues the jobs whose time has come.
    public mutating func fireTimers(now: Timestamp) {
        while let next = timers.min, next.time <= now {
            _ = timers.popMin()
            if dueAt[next.id] == next.time {
                dueAt[next.id] = nil
                ready.push(next.id)
            } else if notBefore[next.id] == next.time {
                ready.push(next.id)
            }
        }
    }

    /// The next jobs to read and decide for: only as many as could start now (a job put back would
    /// be read again next pass). Nil when no queue has work or no step may start.
    public mutating func nextBatch() -> Batch? {
        let free = configuration.maximumStepsInFlight - inFlight.count
        guard free > 0 else { return nil }
        let limit = min(configuration.batchSize, free)
        let urgentIDs = Self.take(from: &urgent, upTo: limit, skipping: inFlight)
        if !urgentIDs.isEmpty { return Batch(ids: urgentIDs, urgent: true) }
        let readyIDs = Self.take(from: &ready, upTo: limit, skipping: inFlight)
        if !readyIDs.isEmpty { return Batch(ids: readyIDs, urgent: false) }
        return nil
    }

    /// Up to `limit` ids from `queue`, leaving out jobs with a step running: `decide` would skip
    /// them, and `stepEnded` queues them again. Each of a job's status changes queued it while
    /// its step ran, and reading it back was half the job reads of a burst of simulated jobs.
    private static func take(from queue: inout JobQueue, upTo limit: Int, skipping busy: Set<Int64>) -> [Int64] {
        var taken: [Int64] = []
        while taken.count < limit, !queue.isEmpty {
            taken += queue.pop(upTo: limit - taken.count).filter { !busy.contains($0) }
        }
        return taken
    }

    /// The batch could not be read: it goes back to the front of its queue.
    public mutating func putBack(_ batch: Batch) {
        if batch.urgent { urgent.pushFront(batch.ids) } else { ready.pushFront(batch.ids) }
    }

    /// Decides for the jobs of `batch` as the store has them now (absent: deleted).
    public mutating func decide(_ batch: Batch, jobs: [Int64: TrainingJob], now: Timestamp) -> Decisions {
        var decisions = Decisions()
        for id in batch.ids {
            guard let job = jobs[id], job.status.isActive else {
                forget(id)
                decisions.forgotten.append(id)
                continue
            }
            // A running step re-queues its job when it ends; a waiting job has its timer.
            if inFlight.contains(id) { continue }
            if let later = notBefore[id], later > now { continue }
            let step = job.nextStep(
                cluster: observations[id] ?? ClusterObservation(), now: now,
                stopGraceMilliseconds: configuration.stopGrace.wholeMilliseconds)
            if case .wait(let until) = step {
                wait(id, until: until)
                continue
            }
            if let gate = phaseGate(job, step), gate > now {
                wait(id, until: gate)
                continue
            }
            dueAt[id] = nil
            inFlight.insert(id)
            decisions.actions.append((job, action(for: job, step: step)))
        }
        return decisions
    }

    /// What was seen of one host's container of a job (by a step, or by the watcher when it
    /// exited, with the time it ended). An exit is served first.
    public mutating func observed(
        _ id: Int64, host: String, _ observation: ContainerObservation, finishedAt: Timestamp? = nil,
        urgent isUrgent: Bool = false
    ) {
        observations[id, default: ClusterObservation()].record(host, observation, finishedAt: finishedAt)
        if isUrgent { urgent.push(id) }
    }

    /// What was seen of the first host's container (`algo-1`, the only host of a single-host job).
    public mutating func observed(_ id: Int64, _ observation: ContainerObservation, urgent isUrgent: Bool = false) {
        observed(id, host: "algo-1", observation, urgent: isUrgent)
    }

    /// The same observation of every host of a job (its containers were just started).
    public mutating func observed(_ id: Int64, hosts: [String], _ observation: ContainerObservation) {
        for host in hosts { observations[id, default: ClusterObservation()].record(host, observation) }
    }

    /// A step ended; the job is decided for again (a step that changed nothing in the store, such
    /// as observe or a declined update, would otherwise never be looked at until the next full pass),
    /// but not before `notBefore`, if given.
    public mutating func stepEnded(_ id: Int64, stopping: Bool, notBefore later: Timestamp?) {
        inFlight.remove(id)
        notBefore[id] = later
        if let later { timers.insert(Deadline(time: later, id: id)) }
        if stopping { urgent.push(id) } else { ready.push(id) }
    }

    /// A step failed unexpectedly (the store or the engine hiccuped): try again after `retryDelay`.
    public mutating func stepFailed(_ id: Int64, stopping: Bool, now: Timestamp) {
        stepEnded(id, stopping: stopping, notBefore: now.advanced(by: configuration.retryDelay))
    }

    /// The job found no free slot; it is looked at again when a job ends (`slotsFreed`).
    public mutating func waitingForSlot(_ id: Int64) { waitingForSlot.insert(id) }

    /// The job has its slot, or stopped waiting for one.
    public mutating func leftSlotQueue(_ id: Int64) { waitingForSlot.remove(id) }

    /// A job ended, so a slot may have freed up: every waiting job is looked at again now.
    public mutating func slotsFreed() {
        for id in waitingForSlot {
            notBefore[id] = nil
            ready.push(id)
        }
    }

    // MARK: Outputs

    /// The earliest time something is due (a stale entry only makes the loop look once too often).
    public var nextDeadline: Timestamp? { timers.min?.time }

    /// Nothing queued, nothing running, nothing due at `now`: until the store changes, a container
    /// exits or time passes, a pass would do nothing.
    public func isIdle(now: Timestamp) -> Bool {
        urgent.isEmpty && ready.isEmpty && inFlight.isEmpty && (timers.min.map { $0.time > now } ?? true)
    }

    // MARK: Decisions

    /// The scheduler's own shape of a lifecycle step. Without a minimum phase time, Starting goes
    /// to a running container in one pass, and a container's exit to the job's end in one more;
    /// with one, Starting announces itself first, and each of
    /// Starting, Downloading and Uploading lasts at least that long.
    public func action(for job: TrainingJob, step: LifecycleStep) -> JobAction {
        let paced = configuration.minimumPhaseDuration > .zero
        switch step {
        case .prepare:
            if paced, job.secondaryStatus == .starting, job.transitions.last?.message == StatusMessage.startingTheJob {
                return .announce
            }
            return .prepare(thenLaunch: !paced)
        case .launch: return .launch
        case .observe: return .observe
        case .wait: return .observe  // not reached: `decide` waits instead
        case .exceedMaxRuntime: return .exceedMaxRuntime
        case .recordExit(let outcome): return .recordExit(outcome, thenFinish: !paced)
        case .finish: return .finish
        case .sendSIGTERM: return .sendSIGTERM
        case .sendSIGKILL: return .sendSIGKILL
        case .containerLost: return .containerLost
        }
    }

    /// The simulated runtime's minimum time per phase, measured from the stored transition start.
    public func phaseGate(_ job: TrainingJob, _ step: LifecycleStep) -> Timestamp? {
        guard configuration.minimumPhaseDuration > .zero, let entered = job.transitions.last?.startTime else { return nil }
        switch (step, job.secondaryStatus) {
        case (.prepare, .starting) where job.transitions.last?.message != StatusMessage.startingTheJob,
            (.launch, .downloading), (.finish, .uploading):
            return entered.advanced(by: configuration.minimumPhaseDuration)
        default:
            return nil
        }
    }

    /// Whether a job in Starting or Pending may take a slot, given how many jobs hold one
    /// (`started`) and how many not-yet-started jobs were created before it (`waitingAhead`, first
    /// come, first served). Without a slot the job waits InProgress/Pending (SecondaryStatus doc:
    /// "Pending: waiting for capacity") and is stopped once StoppingCondition.MaxPendingTimeInSeconds
    /// has passed since it was created (API StoppingCondition; the resulting secondary status is
    /// unverified, so it ends Stopped/Stopped like any stop).
    public func slotDecision(for job: TrainingJob, started: Int, waitingAhead: Int, now: Timestamp) -> SlotDecision {
        guard let limit = configuration.maxConcurrentJobs, started + waitingAhead >= limit else { return .start }
        return pending(job, recheck: now.advanced(by: configuration.pollInterval), now: now)
    }

    /// The runtime found no room for the job's hosts now (ContainerRuntimeError.insufficientCapacity:
    /// a cluster's nodes are full). The same wait as for a slot: InProgress/Pending, "Preparing the
    /// instances for training" before it, MaxPendingTimeInSeconds applies; looked at again when a
    /// job ends or after `capacityPollInterval`. Never `.start`.
    public func capacityDecision(for job: TrainingJob, now: Timestamp) -> SlotDecision {
        pending(job, recheck: now.advanced(by: configuration.capacityPollInterval), now: now)
    }

    private func pending(_ job: TrainingJob, recheck: Timestamp, now: Timestamp) -> SlotDecision {
        var recheck = recheck
        if let maxPending = job.spec.maxPendingSeconds {
            let deadline = job.creationTime.adding(seconds: maxPending)
            if now >= deadline { return .exceedMaxPending }
            recheck = min(recheck, deadline)
        }
        return .wait(markPending: job.secondaryStatus == .starting, recheckAt: recheck)
    }

    // MARK: Private

    /// Remembers that `id` has nothing to do until `time` (or until it changes, for nil).
    private mutating func wait(_ id: Int64, until time: Timestamp?) {
        dueAt[id] = time
        if let time { timers.insert(Deadline(time: time, id: id)) }
    }

    /// Drops what is known of a job that ended or was deleted.
    private mutating func forget(_ id: Int64) {
        observations[id] = nil
        notBefore[id] = nil
        dueAt[id] = nil
        waitingForSlot.remove(id)
    }

    private struct Deadline: Comparable, Sendable {
        var time: Timestamp
        var id: Int64
        static func < (lhs: Deadline, rhs: Deadline) -> Bool { (lhs.time, lhs.id) < (rhs.time, rhs.id) }
    }
}

/// What the scheduler does next for one job: a `LifecycleStep` in the scheduler's own shape.
public enum JobAction: Sendable, Equatable {
    /// Starting with "Starting the training job" and a minimum phase time: only the message
    /// changes ("Preparing the instances for training"); the phase gate then holds the job.
    case announce
    /// Starting or Pending: take a slot, check the image, lay out the workspace → Downloading. With
    /// `thenLaunch` the same pass goes on to stage the data and start the container (one workspace
    /// preparation, no look for a container that cannot exist yet).
    case prepare(thenLaunch: Bool)
    /// Downloading, found so (a restart, a phase gate): adopt the container or stage and start it.
    case launch
    case observe
    /// The container exited: record how (Training → Uploading, or the exit of a failed or stopped
    /// job). With `thenFinish` the same pass goes on to collect the outputs and end the job.
    case recordExit(ContainerOutcome, thenFinish: Bool)
    case exceedMaxRuntime
    case sendSIGTERM
    case sendSIGKILL
    case finish
    case containerLost
}

/// `Reconciler.slotDecision`'s answer.
public enum SlotDecision: Sendable, Equatable {
    case start
    /// MaxPendingTimeInSeconds has passed: stop the job.
    case exceedMaxPending
    /// Wait for a slot (entering Pending first when `markPending`); look again at `recheckAt`.
    case wait(markPending: Bool, recheckAt: Timestamp)
}
