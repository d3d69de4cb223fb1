/// The job lifecycle (DESIGN §3) as pure state changes: each takes `now` and returns the changed
/// job; callers store it with a compare-and-set. Illegal changes throw `LifecycleError`.
extension TrainingJob {
    /// A new job: InProgress/Starting, "Starting the training job" (reference §2.2).
    public static func created(
        account: String, name: String, arn: String, spec: TrainingJobSpec, requestEcho: String, now: Timestamp
    ) -> TrainingJob {
        TrainingJob(
            account: account, name: name, arn: arn, status: .inProgress, secondaryStatus: .starting,
            creationTime: now, lastModifiedTime: now,
            transitions: [StatusTransition(status: .starting, startTime: now, message: StatusMessage.startingTheJob)],
            spec: spec, requestEcho: requestEcho
        )
    }

    /// Updates the current status's message in place ("Starting the training job" → "Preparing the
    /// instances for training"), bumping LastModifiedTime as SageMaker does.
    public func withStatusMessage(_ message: String, now: Timestamp) -> TrainingJob {
        var job = self
        guard let last = job.transitions.indices.last, job.transitions[last].message != message else { return job }
        job.transitions[last].message = message
        job.lastModifiedTime = max(job.lastModifiedTime, now)
        return job
    }

    /// Moves to `next`, closing the current transition and opening a new one.
    func entering(_ next: SecondaryStatus, message: String, now: Timestamp) -> TrainingJob {
        var job = self
        // Clocks can step backwards; keep the transition list contiguous and monotonic.
        let at = max(now, job.transitions.last?.startTime ?? now, job.lastModifiedTime)
        if let last = job.transitions.indices.last {
            job.transitions[last].endTime = at
        }
        let isFinal = next.primaryStatus.isTerminal
        job.transitions.append(
            StatusTransition(status: next, startTime: at, endTime: isFinal ? at : nil, message: message))
        job.secondaryStatus = next
        job.status = next.primaryStatus
        job.lastModifiedTime = at
        if isFinal { job.trainingEndTime = at }
        return job
    }

    /// Starting → Downloading: the instance is ready, TrainingStartTime is set ("when the job left
    /// Starting", observed in a real transcript; reference api-fidelity §3).
    public func startingDownload(now: Timestamp) throws(LifecycleError) -> TrainingJob {
        try expect(.starting, .pending)
        var job = entering(.downloading, message: StatusMessage.downloadingInput, now: now)
        job.trainingStartTime = job.lastModifiedTime
        return job
    }

    /// Starting → Pending: waiting for a free slot (Trainyard's concurrency cap).
    public func waitingForCapacity(now: Timestamp) throws(LifecycleError) -> TrainingJob {
        try expect(.starting)
        return entering(.pending, message: StatusMessage.pending, now: now)
    }

    /// Downloading → Training: the container is running.
    public func startingTraining(now: Timestamp) throws(LifecycleError) -> TrainingJob {
        try expect(.downloading)
        return entering(.training, message: StatusMessage.training, now: now)
    }

    /// Training → Uploading, or staying in Stopping: records how the container ended.
    public func containerExited(_ outcome: ContainerOutcome, now: Timestamp) throws(LifecycleError) -> TrainingJob {
        var job = self
        job.exit = outcome
        // The store keeps an exit as its code and OOM flag only: a platform failure's reason is
        // kept in the job's FailureReason right away (shown once the job is Failed; `finished`).
        if let platformFailure = outcome.platformFailure, secondaryStatus == .training {
            job.failureReason = FailureReason.capped(platformFailure)
        }
        switch secondaryStatus {
        case .training:
            // Completed jobs pass through Uploading; a failed container goes straight to Failed once
            // its outputs are collected (real failures show "Training → Failed"; examples#3444).
            if outcome.exitCode == 0 {
                return job.entering(.uploading, message: StatusMessage.uploading, now: now)
            }
            job.lastModifiedTime = max(job.lastModifiedTime, now)
            return job
        case .stopping:
            job.lastModifiedTime = max(job.lastModifiedTime, now)
            return job
        default:
            throw LifecycleError.illegalTransition(from: secondaryStatus, event: "containerExited")
        }
    }

    /// StopTrainingJob: InProgress → Stopping/Stopping at once (API StopTrainingJob). Any other
    /// status is SageMaker's ValidationException "The request was rejected because the training job
    /// is in status X." (observed, awslabs/benchmark-ai#928).
    public func stopRequested(now: Timestamp) throws(LifecycleError) -> TrainingJob {
        guard status == .inProgress else { throw LifecycleError.notInProgress(status) }
        var job = entering(.stopping, message: StatusMessage.stopping, now: now)
        job.stopReason = .requested
        return job
    }

    /// MaxRuntimeInSeconds passed: the same SIGTERM/grace/SIGKILL path as a stop, ending
    /// Stopped/MaxRuntimeExceeded (API StoppingCondition).
    public func maxRuntimeExceeded(now: Timestamp) throws(LifecycleError) -> TrainingJob {
        guard status == .inProgress else { throw LifecycleError.notInProgress(status) }
        var job = entering(.stopping, message: StatusMessage.stopping, now: now)
        job.stopReason = .maxRuntimeExceeded
        return job
    }

    public func sigtermSent(now: Timestamp) -> TrainingJob {
        var job = self
        job.sigtermSentTime = now
        return job
    }

    public func sigkillSent(now: Timestamp) -> TrainingJob {
        var job = self
        job.sigkillSentTime = now
        return job
    }

    /// The end: outputs are collected. Stopping jobs end Stopped (or MaxRuntimeExceeded); otherwise
    /// exit code 0 ends Completed and anything else Failed with `failureReason`.
    public func finished(
        failureText: String?, metrics: [MetricValue], now: Timestamp
    ) throws(LifecycleError) -> TrainingJob {
        var job = self
        job.finalMetrics = metrics
        switch secondaryStatus {
        case .stopping:
            job.failureReason = nil  // a stop outranks a lost instance noted before it
            if stopReason == .maxRuntimeExceeded {
                return job.entering(.maxRuntimeExceeded, message: StatusMessage.maxRuntimeExceeded, now: now)
            }
            return job.entering(.stopped, message: StatusMessage.stopped, now: now)
        case .uploading:
            return job.entering(.completed, message: StatusMessage.completed, now: now)
        case .training:
            guard let exit = exit, exit.exitCode != 0 else {
                throw LifecycleError.illegalTransition(from: secondaryStatus, event: "finished")
            }
            if let platformFailure = exit.platformFailure ?? failureReason {
                // The instance, not the algorithm, failed (containerExited kept why): no failure
                // file can explain it.
                job.failureReason = FailureReason.capped(platformFailure)
                return job.entering(.failed, message: StatusMessage.failed, now: now)
            }
            job.failureReason = spec.cluster.hosts.count > 1
                ? FailureReason.clusterAlgorithmError(exitCode: exit.exitCode, oomKilled: exit.oomKilled, failureFileText: failureText)
                : FailureReason.algorithmError(exitCode: exit.exitCode, oomKilled: exit.oomKilled, failureFileText: failureText)
            return job.entering(.failed, message: StatusMessage.failed, now: now)
        default:
            throw LifecycleError.illegalTransition(from: secondaryStatus, event: "finished")
        }
    }

    /// A platform fault (image missing, engine unreachable, container lost) fails the job with a
    /// reason that says what happened.
    public func failed(reason: String, now: Timestamp) throws(LifecycleError) -> TrainingJob {
        guard status.isActive else { throw LifecycleError.notInProgress(status) }
        if status == .stopping {
            // A stop was asked for; the user sees Stopped, as SageMaker never fails a stopped job.
            return try finished(failureText: nil, metrics: finalMetrics, now: now)
        }
        var job = entering(.failed, message: StatusMessage.failed, now: now)
        job.failureReason = FailureReason.capped(reason)
        return job
    }

    private func expect(_ allowed: SecondaryStatus...) throws(LifecycleError) {
        guard allowed.contains(secondaryStatus) else {
            throw LifecycleError.illegalTransition(from: secondaryStatus, event: "\(allowed)")
        }
    }
}

public enum LifecycleError: Error, Sendable, Equatable {
    /// The job is not InProgress (StopTrainingJob's ValidationException carries the status).
    case notInProgress(TrainingJobStatus)
    case illegalTransition(from: SecondaryStatus, event: String)
}
