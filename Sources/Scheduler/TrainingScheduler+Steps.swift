import Foundation
import ContainerRuntime
import JobStore
import Logging
import TrainingCore

/// The effects: each `JobAction` as calls to the store, the runtime and the workspaces.
extension TrainingScheduler {
    /// Steps a pass took with a job in memory only, applied to the stored job in the write that ends
    /// it (`finish`); nil when the stored job has moved on and they no longer apply.
    typealias UnstoredSteps = @Sendable (TrainingJob) -> TrainingJob?

    /// The hosts of a job, `algo-1` … `algo-N` (DESIGN §4; ClusterLayout).
    func hosts(of job: TrainingJob) -> [String] { job.spec.cluster.hostNames }

    /// The container of one host of the job (the first host's by default).
    func containerID(_ job: TrainingJob, host: String = TrainingContainer.host) -> ContainerID {
        ContainerID(containerName(job, host: host))
    }

    /// Names carry this data dir's instance id, so two servers on one engine never take each
    /// other's containers (issue 12 item 8).
    func containerName(_ job: TrainingJob, host: String) -> String {
        TrainingContainer.name(for: job, host: host, instance: configuration.container.instanceID)
    }

    /// The hosts a stop signal goes to: those seen running (all of them when nothing is known).
    private func hostsToSignal(_ job: TrainingJob) -> [String] {
        let all = hosts(of: job)
        guard let seen = core.observations[job.id] else { return all }
        let running = seen.running(among: all)
        return running.isEmpty ? all : running
    }

    /// Signals each host's container; one removed meanwhile needs no signal.
    private func signal(_ job: TrainingJob, _ signal: ContainerSignal) async throws {
        for host in hostsToSignal(job) {
            do {
                try await runtime.kill(containerID(job, host: host), signal: signal)
            } catch .noSuchContainer {
                continue
            }
        }
    }

    /// Runs one action; returns a time before which the job needs no further look, if any.
    func execute(_ action: JobAction, for job: TrainingJob) async throws -> Timestamp? {
        switch action {
        case .announce:
            try await write(job.id) { job in
                job.secondaryStatus == .starting
                    ? job.withStatusMessage(StatusMessage.preparingInstances, now: self.clock.now) : nil
            }
        case .prepare(let thenLaunch):
            return try await prepare(job, thenLaunch: thenLaunch)
        case .launch:
            return try await launch(job, prepared: nil)
        case .observe:
            try await observe(job)
        case .recordExit(let outcome, let thenFinish):
            // Nothing to upload (no host laid out or wrote a workspace): Uploading ends as it
            // begins, and the exit is stored with the job's end in one write (`finish`).
            let now = clock.now
            if thenFinish, let exited = try? job.containerExited(outcome, now: now), endsNow(exited, outcome),
                workspaces.outputsAreEmpty(job)
            {
                try await finish(exited) { current in current.exit == nil ? try? current.containerExited(outcome, now: now) : current }
                return nil
            }
            let recorded = try await write(job.id) { try? $0.containerExited(outcome, now: self.clock.now) }
            if thenFinish, let recorded, endsNow(recorded, outcome) {
                try await finish(recorded)
            }
        case .exceedMaxRuntime:
            logger.info("MaxRuntimeInSeconds exceeded", metadata: ["job.name": "\(job.name)"])
            try await write(job.id) { try? $0.maxRuntimeExceeded(now: self.clock.now) }
        case .sendSIGTERM:
            // Signal first, then record: after a crash in between, a second SIGTERM is far less
            // harmful than a SIGTERM that never went out.
            try await signal(job, .term)
            SchedulerMetrics.sigtermSent()
            let sent = clock.now
            logger.info("SIGTERM sent", metadata: ["job.name": "\(job.name)"])
            try await write(job.id) { $0.sigtermSentTime == nil ? $0.sigtermSent(now: sent) : nil }
        case .sendSIGKILL:
            try await signal(job, .kill)
            SchedulerMetrics.sigkillSent()
            let sent = clock.now
            logger.info("SIGKILL sent after the grace window", metadata: ["job.name": "\(job.name)"])
            try await write(job.id) { $0.sigkillSentTime == nil ? $0.sigkillSent(now: sent) : nil }
        case .finish:
            try await finish(job)
        case .containerLost:
            let seen = core.observations[job.id] ?? ClusterObservation()
            let lost = hosts(of: job).first { [.absent, .created].contains(seen.observation(of: $0)) } ?? TrainingContainer.host
            let reason = FailureReason.containerLost(containerName(job, host: lost))
            // The job ends here, without `finish`: the other hosts' containers (and the job
            // network with the last of them) go now, or they would train on unwatched.
            for host in hosts(of: job) where host != lost { try await runtime.remove(containerID(job, host: host)) }
            try await write(job.id) { try? $0.failed(reason: reason, now: self.clock.now) }
        }
        return nil
    }

    /// Starting or Pending: take a slot, check the image, lay out the workspace, then Downloading
    /// (one store write, which also sets Starting's message). With `thenLaunch`, goes on to stage
    /// the data and start the container. Returns when to look again if the job has to keep waiting.
    private func prepare(_ job: TrainingJob, thenLaunch: Bool) async throws -> Timestamp? {
        if configuration.maxConcurrentJobs != nil {
            let usage = try store.slotUsage(ahead: job)
            let decision = core.slotDecision(for: job, started: usage.started, waitingAhead: usage.waitingAhead, now: clock.now)
            if decision != .start { return try await keepWaiting(job, decision, reason: nil) }
        }
        core.leftSlotQueue(job.id)
        // A runtime that pulls fetches a missing image later, in Downloading (pullImageIfMissing).
        if !runtime.pullsImages {
            do {
                guard try await runtime.imageExists(job.spec.trainingImage) else {
                    return try await fail(job, reason: FailureReason.missingImage(job.spec.trainingImage))
                }
            } catch let error as ContainerRuntimeError {
                // Given up because the server is stopping: not the job's fault; the next start retries.
                if error == .cancelled { throw CancellationError() }
                return try await fail(job, reason: Self.reason(for: error, image: job.spec.trainingImage))
            }
        }
        let hostSpecs: [ContainerSpec]
        do {
            hostSpecs = specs(job, mounts: try prepareWorkspaces(job))
        } catch {
            return try await fail(job, reason: error.failureReason)
        }
        // Room on the cluster for every host (a gang), held for the launch below; none now: the
        // job waits Pending as for a slot (a job that could never fit fails at once).
        do {
            try await runtime.reserveCapacity(hostSpecs)
        } catch .insufficientCapacity(let why) {
            return try await keepWaiting(job, core.capacityDecision(for: job, now: clock.now), reason: why)
        } catch {
            if error == .cancelled { throw CancellationError() }
            return try await fail(job, reason: Self.reason(for: error, image: job.spec.trainingImage))
        }
        core.leftSlotQueue(job.id)
        // Nothing to download or pull: Downloading ends as it begins, and is stored with Training
        // in one write once the containers run (SageMaker's own Training phase begins with
        // "Downloading the training image"). A restart before that write finds the job Starting
        // and its containers, which `runtime.launch` adopts.
        if thenLaunch, !job.spec.needsStaging, !runtime.pullsImages {
            let since = clock.now
            guard let downloading = Self.downloading(job, now: since) else { return nil }
            return try await launch(downloading, prepared: hostSpecs, downloadingSince: since)
        }
        let downloading = try await write(job.id) { current in Self.downloading(current, now: self.clock.now) }
        if thenLaunch, let downloading, downloading.secondaryStatus == .downloading {
            return try await launch(downloading, prepared: hostSpecs)
        }
        return nil
    }

    /// Starting (with the message that the instances are being prepared) or Pending → Downloading;
    /// nil for a job in any other state (stopped meanwhile).
    private static func downloading(_ job: TrainingJob, now: Timestamp) -> TrainingJob? {
        let announced = job.secondaryStatus == .starting ? job.withStatusMessage(StatusMessage.preparingInstances, now: now) : job
        return try? announced.startingDownload(now: now)
    }

    /// A job without a slot (`--max-concurrent-jobs`) or without room on the cluster
    /// (`reserveCapacity`, `reason` says why): InProgress/Pending until `recheckAt` or a job's end,
    /// stopped once MaxPendingTimeInSeconds has passed (Reconciler.slotDecision/capacityDecision).
    private func keepWaiting(_ job: TrainingJob, _ decision: SlotDecision, reason: String?) async throws -> Timestamp? {
        switch decision {
        case .start:
            return nil
        case .exceedMaxPending:
            logger.info("MaxPendingTimeInSeconds exceeded", metadata: ["job.name": "\(job.name)"])
            try await write(job.id) { try? $0.stopRequested(now: self.clock.now) }
            core.leftSlotQueue(job.id)
            return nil
        case .wait(let markPending, let recheckAt):
            if markPending {
                if let reason {
                    logger.info("waiting for cluster capacity", metadata: ["job.name": "\(job.name)", "job.reason": "\(reason)"])
                }
                try await write(job.id) {
                    try? $0.withStatusMessage(StatusMessage.preparingInstances, now: self.clock.now)
                        .waitingForCapacity(now: self.clock.now)
                }
            }
            core.waitingForSlot(job.id)
            return recheckAt
        }
    }

    private func prepareWorkspaces(_ job: TrainingJob) throws(WorkspaceError) -> [String: [ContainerSpec.Mount]] {
        var mounts: [String: [ContainerSpec.Mount]] = [:]
        for host in hosts(of: job) { mounts[host] = try workspaces.prepare(job, host: host) }
        return mounts
    }

    /// Downloading: stage the channels, create and start the containers, then Training. `prepared`
    /// (the hosts' container specs) come from a `prepare` in the same pass, which also means no
    /// container can exist yet; without them (the job was found Downloading: a restart, a phase
    /// gate) a container a previous run of the server started is adopted rather than staged over.
    /// With `downloadingSince`, `job` is Downloading only in memory: the stored job enters
    /// Downloading (at that time) in the same write as Training.
    @discardableResult
    private func launch(_ job: TrainingJob, prepared: [ContainerSpec]?, downloadingSince: Timestamp? = nil) async throws -> Timestamp? {
        let id = containerID(job)
        // Whether the job's log streams may exist already (a previous run of the server launched
        // it, or a note was written): a capture then looks for its stream, to resume after the
        // last stored line. A job launched from Starting in this pass has none to look for.
        var streamsMayExist = prepared == nil
        do {
            if prepared == nil, try await anyContainerExists(job) {
                // A previous run of the server launched (some of) the hosts: launch adopts those,
                // starting any that never ran, and creates the rest; staging is not repeated.
                logger.info("adopting existing containers", metadata: ["job.name": "\(job.name)", "container.name": "\(id)"])
                let mounts = try prepareWorkspaces(job)
                try await runtime.launch(specs(job, mounts: mounts))
            } else {
                let hostSpecs = try prepared ?? specs(job, mounts: prepareWorkspaces(job))
                if job.spec.needsStaging {
                    let workspaces = self.workspaces
                    let hosts = self.hosts(of: job)
                    try await runBlocking { () throws(WorkspaceError) in
                        // Hosts stage in turn; each gets only its channels (InstanceGroupNames)
                        // and, for ShardedByS3Key, only its share of the objects (ClusterLayout).
                        for host in hosts {
                            let own = job.seenBy(host: host)
                            try workspaces.stageInputs(own, host: host)
                        }
                    }
                }
                if runtime.pullsImages { try await pullImageIfMissing(job) }
                // Staging (and a pull) can take long, and the job may have been stopped meanwhile. SageMaker never
                // runs the algorithm of a job stopped while Downloading; a container started anyway
                // would get a SIGTERM before its handlers exist and hold the stop for the whole
                // grace window. So ask the stored job, as it is now, whether launching is still its
                // step (found by `test_stop_while_downloading_never_starts_the_container`). A job
                // that `prepare` has just moved to Downloading, with nothing to stage or pull, is
                // as it was a moment ago: reading it again was a store read per job in a burst.
                let mayHaveChanged = prepared == nil || job.spec.needsStaging || runtime.pullsImages
                if mayHaveChanged, try !stillLaunching(job) {
                    logger.info("job changed while its data was staged; not starting its container", metadata: ["job.name": "\(job.name)"])
                    return nil
                }
                // Before the containers: their lines must come after it (capture resumes after the last stored line).
                if let note = TrainingContainer.cpuOnlyNote(for: job, mode: configuration.container.gpus) {
                    JobLogNotes.append(note, to: job, store: store, logger: logger)
                    streamsMayExist = true
                }
                try await runtime.launch(hostSpecs)
            }
        } catch let error as WorkspaceError {
            // Nothing runs; what `reserveCapacity` held goes with the (absent) containers.
            for host in hosts(of: job) { try? await runtime.remove(ContainerID(containerName(job, host: host))) }
            try await fail(job, reason: error.failureReason)
            return nil
        } catch let error as ContainerRuntimeError {
            if Task.isCancelled || error == .cancelled { throw CancellationError() }
            if case .insufficientCapacity(let why) = error {
                // Found Downloading with no room held (a restart between the two steps): the job
                // has left Pending, so it waits here until the cluster has room.
                logger.info("waiting for cluster capacity", metadata: ["job.name": "\(job.name)", "job.reason": "\(why)"])
                core.waitingForSlot(job.id)
                return clock.now.advanced(by: configuration.capacityPollInterval)
            }
            for host in hosts(of: job) { try? await runtime.remove(ContainerID(containerName(job, host: host))) }
            try await fail(job, reason: Self.reason(for: error, image: job.spec.trainingImage))
            return nil
        }
        var ended: (job: TrainingJob, unstored: UnstoredSteps)?
        if let downloadingSince { ended = try await endedAtLaunch(job, downloadingSince: downloadingSince) }
        if ended == nil { core.observed(job.id, hosts: hosts(of: job), .running) }
        for host in hosts(of: job) {
            if ended == nil { startWatching(job, host: host) }
            capture(job, host: host, streamMayExist: streamsMayExist)
            SchedulerMetrics.containerStarted()
        }
        logger.info(
            "training containers started",
            metadata: ["job.name": "\(job.name)", "container.name": "\(id)", "job.hosts": "\(hosts(of: job).count)"])
        if let ended {
            try await finish(ended.job, unstored: ended.unstored)
            return nil
        }
        try await write(job.id) { current in
            let downloading = if let downloadingSince { Self.downloading(current, now: downloadingSince) } else { current }
            return try? downloading?.startingTraining(now: self.clock.now)
        }
        return nil
    }

    /// A job launched in one pass from Starting (stored Starting still; `job` is Downloading in
    /// memory) whose containers have all exited by the time `launch` returned, with nothing to
    /// upload: the job as it ends, in memory, and the steps that bring the stored job there in the
    /// write that ends it (`finish`). From Create to the end that is one store write, where storing
    /// Training and then the exit would be two more. Only a runtime that says its containers may
    /// have exited (`containersMayExitAtLaunch`: the simulated one at phase 0) is asked; nil when
    /// any container runs on or the job has anything to upload, and the job trains as usual.
    private func endedAtLaunch(
        _ job: TrainingJob, downloadingSince: Timestamp
    ) async throws -> (job: TrainingJob, unstored: UnstoredSteps)? {
        guard runtime.containersMayExitAtLaunch else { return nil }
        var seen = ClusterObservation()
        for host in hosts(of: job) {
            guard let state = try await runtime.inspect(containerID(job, host: host)), [.exited, .dead].contains(state.status) else {
                return nil
            }
            seen.record(host, .exited(ContainerOutcome(exitCode: state.exitCode ?? -1, oomKilled: state.oomKilled)))
        }
        let now = clock.now
        let grace = configuration.stopGrace.wholeMilliseconds
        // The same decisions as a job seen Training with these exits: record the exit, then finish.
        guard let training = try? job.startingTraining(now: now),
            case .recordExit(let outcome) = training.nextStep(cluster: seen, now: now, stopGraceMilliseconds: grace),
            let exited = try? training.containerExited(outcome, now: now),
            exited.nextStep(cluster: seen, now: now, stopGraceMilliseconds: grace) == .finish,
            // After the inspection: a failing container's failure file is its output.
            workspaces.outputsAreEmpty(exited)
        else { return nil }
        for host in hosts(of: job) { core.observed(job.id, host: host, seen.observation(of: host)) }
        return (exited, { current in
            Self.downloading(current, now: downloadingSince)
                .flatMap { try? $0.startingTraining(now: now) }
                .flatMap { try? $0.containerExited(outcome, now: now) }
        })
    }

    /// Whether the stored job, as it is now, still has launching as its next step.
    private func stillLaunching(_ job: TrainingJob) throws(JobStoreError) -> Bool {
        guard let current = try store.job(id: job.id) else { return false }
        return current.nextStep(
            observed: .unknown, now: clock.now, stopGraceMilliseconds: configuration.stopGrace.wholeMilliseconds) == .launch
    }

    /// Whether a container of any of the job's hosts exists.
    private func anyContainerExists(_ job: TrainingJob) async throws(ContainerRuntimeError) -> Bool {
        for host in hosts(of: job) where try await runtime.inspect(containerID(job, host: host)) != nil { return true }
        return false
    }

    private func specs(_ job: TrainingJob, mounts: [String: [ContainerSpec.Mount]]) -> [ContainerSpec] {
        hosts(of: job).map { host in
            TrainingContainer.spec(for: job, host: host, mounts: mounts[host] ?? [], options: configuration.container)
        }
    }

    /// Looks at every host's container after a restart or when nothing is known of them.
    private func observe(_ job: TrainingJob) async throws {
        for host in hosts(of: job) {
            guard let state = try await runtime.inspect(containerID(job, host: host)) else {
                core.observed(job.id, host: host, .absent)
                continue
            }
            switch state.status {
            case .created: core.observed(job.id, host: host, .created)
            case .exited, .dead:
                // Exited while no one watched: when is not known, so a failure found now ranks
                // after those seen happening (ClusterObservation.firstFailure).
                core.observed(
                    job.id, host: host,
                    .exited(
                        ContainerOutcome(
                            exitCode: state.exitCode ?? -1, oomKilled: state.oomKilled,
                            platformFailure: state.loss.map { Self.failureReason(for: $0, host: host) })))
                capture(job, host: host)
            default:
                core.observed(job.id, host: host, .running)
                startWatching(job, host: host)
                capture(job, host: host)
            }
        }
    }

    /// Has the loop wait for a host's container to exit, unless it already does.
    private func startWatching(_ job: TrainingJob, host: String) {
        guard watched.insert(WatchedHost(jobID: job.id, host: host)).inserted else { return }
        watchesToStart.append((job, host))
    }

    /// Starts following a host's container output into its log stream (`<job>/algo-N-<epoch>`,
    /// one per host: DG-logs), unless already doing so.
    private func capture(_ job: TrainingJob, host: String, streamMayExist: Bool = true) {
        guard capturing[job.id]?[host] == nil else { return }
        let capture = LogCapture(store: store, runtime: runtime, logger: logger, writer: logCaptures.writer, flushes: logCaptures.flushes)
        let id = containerID(job, host: host)
        let startedAt = captureStart(job)
        capturing[job.id, default: [:]][host] = logCaptures.start {
            await capture.run(job: job, host: host, container: id, startedAt: startedAt, streamMayExist: streamMayExist)
        }
    }

    /// The stream's creation time: when the job started on its instance (SageMaker names streams
    /// `<job>/algo-1-<epoch>` after the host's start).
    private func captureStart(_ job: TrainingJob) -> Timestamp {
        job.trainingStartTime ?? job.creationTime
    }

    /// Waits (a bounded time) for the captures of exited containers to store their last lines;
    /// a host whose container was never seen by this process has its output read now.
    private func finishCapture(_ job: TrainingJob) async {
        for host in hosts(of: job) {
            if capturing[job.id]?[host] == nil, (try? await runtime.inspect(containerID(job, host: host))) != nil {
                capture(job, host: host)
            }
        }
        let captures = Array((capturing[job.id] ?? [:]).values)
        guard !captures.allSatisfy(\.isDone) else {
            capturing[job.id] = nil
            return
        }
        let clock = self.clock
        let deadline = clock.now.advanced(by: .seconds(10))
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for capture in captures { await capture.finished() }
                return true
            }
            group.addTask { try? await clock.sleep(until: deadline, tolerance: nil); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !finished {
            logger.warning("log capture did not finish in time", metadata: ["job.name": "\(job.name)"])
            for capture in captures { capture.cancel() }
        }
        capturing[job.id] = nil
    }

    /// Whether `job`, its exit recorded, has its end as next step (every host's container is done).
    private func endsNow(_ job: TrainingJob, _ outcome: ContainerOutcome) -> Bool {
        job.exit != nil
            && job.nextStep(
                cluster: core.observations[job.id] ?? ClusterObservation.all(hosts(of: job), .exited(outcome)),
                now: clock.now, stopGraceMilliseconds: configuration.stopGrace.wholeMilliseconds) == .finish
    }

    /// Collects outputs and ends the job: Completed, Failed, Stopped or MaxRuntimeExceeded.
    /// With `unstored` (a job with nothing to upload: none of its hosts has a workspace,
    /// `outputsAreEmpty`), `job` has its containers' exit (and, from `endedAtLaunch`, Downloading
    /// and Training) only in memory: `unstored` applies those steps to the stored job in the write
    /// that ends it. The containers are then removed only after that write: a restart before it
    /// finds them exited and ends the job again, where removing them first would leave a job in
    /// Training without containers (lost).
    private func finish(
        _ job: TrainingJob, unstored: UnstoredSteps? = nil
    ) async throws {
        let hosts = hosts(of: job)
        let outputs: CollectedOutputs
        let workspaces = self.workspaces
        // The host whose failure the job reports (the first to fail), when one failed.
        let failingHost = job.exit.flatMap { $0.exitCode != 0 ? core.observations[job.id]?.firstFailure(among: hosts)?.host : nil }
        let collect = { @Sendable () throws(WorkspaceError) -> CollectedOutputs in
            try workspaces.collectOutputs(job, hosts: hosts, failingHost: failingHost)
        }
        do {
            // Nothing to upload (`outputsAreEmpty`): two folders and two empty archives, a few
            // system calls whatever the container did, so no hop off the scheduler's thread.
            outputs = if unstored != nil { try collect() } else { try await runBlocking(collect) }
        } catch {
            for host in hosts { try? await runtime.remove(containerID(job, host: host)) }
            try await fail(job, reason: error.failureReason)
            return
        }
        if let failingHost, hosts.count > 1 {
            logger.info("training job failed on a host", metadata: ["job.name": "\(job.name)", "job.host": "\(failingHost)"])
        }
        // The containers' last lines must be stored before they are removed: their output ends
        // with them, and the final metrics come from the stored lines.
        await finishCapture(job)
        // Off the actor: one job's regexes never hold up other jobs' steps (issue 12 item 4).
        let logStore = self.store
        let start = captureStart(job)
        var metrics: [MetricValue] = []
        if !job.spec.metricDefinitions.isEmpty {
            let streams = try hosts.map { try logStore.logs.openLogStream(for: job, host: $0, createdAt: start).id }
            metrics = await runBlocking { Self.finalMetrics(job, streams: streams, store: logStore) }
        }
        if unstored == nil {
            for host in hosts { try await runtime.remove(containerID(job, host: host)) }
        }
        let finished = try await write(job.id) { current in
            let exited = if let unstored { unstored(current) } else { current }
            return try? exited?.finished(failureText: outputs.failureText, metrics: metrics, now: self.clock.now)
        }
        if unstored != nil, finished != nil {
            for host in hosts { try await runtime.remove(containerID(job, host: host)) }
        }
        if let finished {
            logger.info(
                "training job ended",
                metadata: ["job.name": "\(job.name)", "job.status": "\(finished.status.rawValue)/\(finished.secondaryStatus.rawValue)"])
            core.slotsFreed()
            // With steps unstored, the job had no workspace to remove (`outputsAreEmpty`).
            if unstored == nil { await runBlocking { workspaces.remove(finished) } }
        }
    }

    /// `FinalMetricDataList` over every host's stream: each metric's latest value, whichever host
    /// printed it (SageMaker reads the metrics from every instance's log, DG-metrics; which value
    /// is "final" across hosts is not documented — the latest is Trainyard's choice).
    private static func finalMetrics(_ job: TrainingJob, streams: [Int64], store: JobStore) -> [MetricValue] {
        var latest: [String: MetricValue] = [:]
        for stream in streams {
            for value in MetricScanner.collect(job.spec.metricDefinitions, store: store, streamID: stream) {
                if let known = latest[value.name], known.timestamp >= value.timestamp { continue }
                latest[value.name] = value
            }
        }
        return job.spec.metricDefinitions.compactMap { latest[$0.name] }
    }

    /// Fails the job for a platform fault (the reason says what happened). Not while the
    /// scheduler shuts down: a request cut short by the shutdown is no fault of the job's.
    @discardableResult
    private func fail(_ job: TrainingJob, reason: String) async throws -> Timestamp? {
        if Task.isCancelled { throw CancellationError() }
        logger.info("training job failed", metadata: ["job.name": "\(job.name)", "job.reason": "\(reason)"])
        if let failed = try await write(job.id, { try? $0.failed(reason: reason, now: self.clock.now) }) {
            core.slotsFreed()
            let workspaces = self.workspaces
            await runBlocking { workspaces.remove(failed) }
        }
        return nil
    }

    /// The FailureReason of a container a cluster backend reports lost (ContainerLoss).
    static func failureReason(for loss: ContainerLoss, host: String) -> String {
        switch loss {
        case .nodeLost(let detail): FailureReason.instanceLost(host: host, detail: detail)
        case .rejected(let detail): FailureReason.taskRejected(host: host, detail: HostPaths.redacted(detail))
        }
    }

    static func reason(for error: ContainerRuntimeError, image: String) -> String {
        switch error {
        case .noSuchImage: FailureReason.missingImage(image)
        case .engineUnreachable(let message): FailureReason.engineUnreachable(message)
        case .noSuchContainer(let name): FailureReason.containerVanished(name)
        case .nameInUse(let name): FailureReason.containerNameInUse(name)
        case .engine(let status, let message): FailureReason.engineFailed(status: status, message: HostPaths.redacted(message))
        case .imagePullFailed(let pulled, let message): FailureReason.imagePullFailed(image: image, pulled: pulled, message: HostPaths.redacted(message))
        case .noGPURuntime(let requested): FailureReason.noGPURuntime(requested: requested)
        // Callers wait instead (waitForCapacity); reached only if one did not.
        case .insufficientCapacity(let why): FailureReason.engineFailed(status: 0, message: why)
        // Callers retry a cancelled request instead of failing the job (the server was stopping).
        case .cancelled: FailureReason.engineFailed(status: 0, message: "the request to the engine was cancelled")
        }
    }
}

extension TrainingJob {
    /// The job with only the channels that go to `host` (a channel's InstanceGroupNames).
    func seenBy(host: String) -> TrainingJob {
        let cluster = spec.cluster
        var job = self
        job.spec.channels = spec.channels.filter { channel in cluster.hosts(for: channel).contains { $0.name == host } }
        return job
    }
}

extension TrainingJobSpec {
    /// Whether Downloading has anything to copy: channel data, or checkpoints to restore.
    var needsStaging: Bool { !channels.isEmpty || checkpoint != nil }
}
