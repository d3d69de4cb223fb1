import ContainerRuntime
import JobStore
import Logging
import TrainingCore

/// The effects: each `JobAction` as calls to the store, the runtime and the workspaces.
extension TrainingScheduler {
    /// The hosts of a job, `algo-1` … `algo-N` (DESIGN §4). Trainyard runs one host per job for
    /// now; everything below goes through this list so that several hosts need no new seam.
    func hosts(of job: TrainingJob) -> [String] { [TrainingContainer.host] }

    /// The container of the job's first host: the one whose exit ends the job and whose output
    /// fills the log stream.
    func containerID(_ job: TrainingJob) -> ContainerID { ContainerID(TrainingContainer.name(for: job)) }

    /// Runs one action; returns a time before which the job needs no further look, if any.
    func execute(_ action: JobAction, for job: TrainingJob) async throws -> Timestamp? {
        switch action {
        case .announce:
            try store.update(id: job.id) { job in
                job.secondaryStatus == .starting
                    ? job.withStatusMessage(StatusMessage.preparingInstances, now: self.clock.now) : nil
            }
        case .prepare(let thenLaunch):
            return try await prepare(job, thenLaunch: thenLaunch)
        case .launch:
            try await launch(job, mounts: nil)
        case .observe:
            try await observe(job)
        case .recordExit(let outcome, let thenFinish):
            let recorded = try store.update(id: job.id) { try? $0.containerExited(outcome, now: self.clock.now) }
            if thenFinish, let recorded, recorded.exit != nil,
                recorded.nextStep(
                    observed: .exited(outcome), now: clock.now, stopGraceMilliseconds: configuration.stopGrace.wholeMilliseconds)
                    == .finish
            {
                try await finish(recorded)
            }
        case .exceedMaxRuntime:
            logger.info("MaxRuntimeInSeconds exceeded", metadata: ["job.name": "\(job.name)"])
            try store.update(id: job.id) { try? $0.maxRuntimeExceeded(now: self.clock.now) }
        case .sendSIGTERM:
            // Signal first, then record: after a crash in between, a second SIGTERM is far less
            // harmful than a SIGTERM that never went out.
            try await runtime.kill(containerID(job), signal: .term)
            SchedulerMetrics.sigtermSent()
            let sent = clock.now
            logger.info("SIGTERM sent", metadata: ["job.name": "\(job.name)"])
            try store.update(id: job.id) { $0.sigtermSentTime == nil ? $0.sigtermSent(now: sent) : nil }
        case .sendSIGKILL:
            try await runtime.kill(containerID(job), signal: .kill)
            SchedulerMetrics.sigkillSent()
            let sent = clock.now
            logger.info("SIGKILL sent after the grace window", metadata: ["job.name": "\(job.name)"])
            try store.update(id: job.id) { $0.sigkillSentTime == nil ? $0.sigkillSent(now: sent) : nil }
        case .finish:
            try await finish(job)
        case .containerLost:
            let reason = FailureReason.containerLost(TrainingContainer.name(for: job))
            try store.update(id: job.id) { try? $0.failed(reason: reason, now: self.clock.now) }
        }
        return nil
    }

    /// Starting or Pending: take a slot, check the image, lay out the workspace, then Downloading
    /// (one store write, which also sets Starting's message). With `thenLaunch`, goes on to stage
    /// the data and start the container. Returns when to look again if the job has to keep waiting.
    private func prepare(_ job: TrainingJob, thenLaunch: Bool) async throws -> Timestamp? {
        if configuration.maxConcurrentJobs != nil {
            let usage = try store.slotUsage(ahead: job)
            switch core.slotDecision(for: job, started: usage.started, waitingAhead: usage.waitingAhead, now: clock.now) {
            case .start:
                break
            case .exceedMaxPending:
                logger.info("MaxPendingTimeInSeconds exceeded", metadata: ["job.name": "\(job.name)"])
                try store.update(id: job.id) { try? $0.stopRequested(now: self.clock.now) }
                core.leftSlotQueue(job.id)
                return nil
            case .wait(let markPending, let recheckAt):
                if markPending {
                    try store.update(id: job.id) {
                        try? $0.withStatusMessage(StatusMessage.preparingInstances, now: self.clock.now)
                            .waitingForCapacity(now: self.clock.now)
                    }
                }
                core.waitingForSlot(job.id)
                return recheckAt
            }
        }
        core.leftSlotQueue(job.id)
        do {
            guard try await runtime.imageExists(job.spec.trainingImage) else {
                return try await fail(job, reason: FailureReason.missingImage(job.spec.trainingImage))
            }
        } catch let error as ContainerRuntimeError {
            return try await fail(job, reason: Self.reason(for: error, image: job.spec.trainingImage))
        }
        let mounts: [String: [ContainerSpec.Mount]]
        do {
            mounts = try prepareWorkspaces(job)
        } catch {
            return try await fail(job, reason: error.failureReason)
        }
        let downloading = try store.update(id: job.id) { current in
            let now = self.clock.now
            let announced = current.secondaryStatus == .starting
                ? current.withStatusMessage(StatusMessage.preparingInstances, now: now) : current
            return try? announced.startingDownload(now: now)
        }
        if thenLaunch, let downloading, downloading.secondaryStatus == .downloading {
            try await launch(downloading, mounts: mounts)
        }
        return nil
    }

    private func prepareWorkspaces(_ job: TrainingJob) throws(WorkspaceError) -> [String: [ContainerSpec.Mount]] {
        var mounts: [String: [ContainerSpec.Mount]] = [:]
        for host in hosts(of: job) { mounts[host] = try workspaces.prepare(job, host: host) }
        return mounts
    }

    /// Downloading: stage the channels, create and start the containers, then Training. `mounts`
    /// come from a `prepare` in the same pass, which also means no container can exist yet; without
    /// them (the job was found Downloading: a restart, a phase gate) a container a previous run of
    /// the server started is adopted rather than staged over.
    private func launch(_ job: TrainingJob, mounts prepared: [String: [ContainerSpec.Mount]]?) async throws {
        let id = containerID(job)
        do {
            if prepared == nil, let existing = try await runtime.inspect(id) {
                logger.info("adopting existing container", metadata: ["job.name": "\(job.name)", "container.name": "\(id)"])
                if existing.status == .created { try await runtime.start(id) }
            } else {
                let mounts = try prepared ?? prepareWorkspaces(job)
                if job.spec.needsStaging {
                    let workspaces = self.workspaces
                    let hosts = self.hosts(of: job)
                    try await runBlocking { () throws(WorkspaceError) in
                        for host in hosts { try workspaces.stageInputs(job, host: host) }
                    }
                }
                // Staging can take long, and the job may have been stopped meanwhile. SageMaker never
                // runs the algorithm of a job stopped while Downloading; a container started anyway
                // would get a SIGTERM before its handlers exist and hold the stop for the whole
                // grace window. So ask the stored job, as it is now, whether launching is still its
                // step (found by `test_stop_while_downloading_never_starts_the_container`).
                guard let current = try store.job(id: job.id),
                    current.nextStep(
                        observed: .unknown, now: clock.now, stopGraceMilliseconds: configuration.stopGrace.wholeMilliseconds)
                        == .launch
                else {
                    logger.info("job changed while its data was staged; not starting its container", metadata: ["job.name": "\(job.name)"])
                    return
                }
                let specs = hosts(of: job).map { host in
                    TrainingContainer.spec(for: job, host: host, mounts: mounts[host] ?? [], options: configuration.container)
                }
                try await runtime.launch(specs)
            }
        } catch let error as WorkspaceError {
            try await fail(job, reason: error.failureReason)
            return
        } catch let error as ContainerRuntimeError {
            if Task.isCancelled { throw CancellationError() }
            for host in hosts(of: job) { try? await runtime.remove(ContainerID(TrainingContainer.name(for: job, host: host))) }
            try await fail(job, reason: Self.reason(for: error, image: job.spec.trainingImage))
            return
        }
        core.observed(job.id, .running)
        startWatching(job)
        capture(job)
        SchedulerMetrics.containerStarted()
        logger.info("training container started", metadata: ["job.name": "\(job.name)", "container.name": "\(id)"])
        try store.update(id: job.id) { try? $0.startingTraining(now: self.clock.now) }
    }

    /// Looks at the job's container after a restart or when nothing is known of it.
    private func observe(_ job: TrainingJob) async throws {
        guard let state = try await runtime.inspect(containerID(job)) else {
            core.observed(job.id, .absent)
            return
        }
        switch state.status {
        case .created: core.observed(job.id, .created)
        case .exited, .dead:
            core.observed(job.id, .exited(ContainerOutcome(exitCode: state.exitCode ?? -1, oomKilled: state.oomKilled)))
            capture(job)
        default:
            core.observed(job.id, .running)
            startWatching(job)
            capture(job)
        }
    }

    /// Has the loop wait for the job's container to exit, unless it already does.
    private func startWatching(_ job: TrainingJob) {
        guard watched.insert(job.id).inserted else { return }
        watchesToStart.append(job)
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
        let clock = self.clock
        let deadline = clock.now.advanced(by: .seconds(10))
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await task.value; return true }
            group.addTask { try? await clock.sleep(until: deadline, tolerance: nil); return false }
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
        for host in hosts(of: job) { try await runtime.remove(ContainerID(TrainingContainer.name(for: job, host: host))) }
        let finished = try store.update(id: job.id) { current in
            try? current.finished(failureText: outputs.failureText, metrics: metrics, now: self.clock.now)
        }
        if let finished {
            logger.info(
                "training job ended",
                metadata: ["job.name": "\(job.name)", "job.status": "\(finished.status.rawValue)/\(finished.secondaryStatus.rawValue)"])
            core.slotsFreed()
            await runBlocking { workspaces.remove(finished) }
        }
    }

    /// Fails the job for a platform fault (the reason says what happened). Not while the
    /// scheduler shuts down: a request cut short by the shutdown is no fault of the job's.
    @discardableResult
    private func fail(_ job: TrainingJob, reason: String) async throws -> Timestamp? {
        if Task.isCancelled { throw CancellationError() }
        logger.info("training job failed", metadata: ["job.name": "\(job.name)", "job.reason": "\(reason)"])
        if let failed = try store.update(id: job.id, { try? $0.failed(reason: reason, now: self.clock.now) }) {
            core.slotsFreed()
            let workspaces = self.workspaces
            await runBlocking { workspaces.remove(failed) }
        }
        return nil
    }

    static func reason(for error: ContainerRuntimeError, image: String) -> String {
        switch error {
        case .noSuchImage: FailureReason.missingImage(image)
        case .engineUnreachable(let message): FailureReason.engineUnreachable(message)
        case .noSuchContainer(let name): FailureReason.containerVanished(name)
        case .nameInUse(let name): FailureReason.containerNameInUse(name)
        case .engine(let status, let message): FailureReason.engineFailed(status: status, message: message)
        }
    }
}

extension TrainingJobSpec {
    /// Whether Downloading has anything to copy: channel data, or checkpoints to restore.
    var needsStaging: Bool { !channels.isEmpty || checkpoint != nil }
}
