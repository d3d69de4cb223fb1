import Testing
import TrainingCore

private func t(_ seconds: Double) -> Timestamp { Timestamp(epochSeconds: 1_700_000_000 + seconds) }

private func newJob(maxRuntime: Int64 = 86_400) -> TrainingJob {
    TrainingJob.created(
        account: "123456789012", name: "job-1", arn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1",
        spec: TrainingJobSpec(trainingImage: "img", outputPath: "s3://b/out", maxRuntimeSeconds: maxRuntime),
        requestEcho: "{}", now: t(0))
}

struct TrainingJobLifecycleTests {
    @Test("a completed job walks Starting → Downloading → Training → Uploading → Completed with contiguous transitions")
    func completedProgression() throws {
        var job = newJob()
        #expect(job.status == .inProgress && job.secondaryStatus == .starting)
        job = job.withStatusMessage(StatusMessage.preparingInstances, now: t(0.5))
        #expect(job.transitions.count == 1)
        #expect(job.transitions[0].message == "Preparing the instances for training")
        #expect(job.lastModifiedTime == t(0.5))
        job = try job.startingDownload(now: t(1))
        #expect(job.trainingStartTime == t(1))
        job = try job.startingTraining(now: t(2))
        job = try job.containerExited(ContainerOutcome(exitCode: 0), now: t(12))
        #expect(job.secondaryStatus == .uploading && job.status == .inProgress)
        job = try job.finished(failureText: nil, metrics: [], now: t(13.4))
        #expect(job.status == .completed && job.secondaryStatus == .completed)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .uploading, .completed])
        for (a, b) in zip(job.transitions, job.transitions.dropFirst()) { #expect(a.endTime == b.startTime) }
        #expect(job.transitions.first?.startTime == job.creationTime)
        #expect(job.transitions.last?.startTime == job.transitions.last?.endTime)
        #expect(job.trainingEndTime == t(13.4))
        #expect(job.trainingTimeInSeconds == 12)
        #expect(job.billableTimeInSeconds == 12)
        #expect(job.failureReason == nil)
    }

    @Test("a non-zero exit fails the job with the failure file's text, or the exit code without one")
    func failedProgression() throws {
        var job = try newJob().startingDownload(now: t(1)).startingTraining(now: t(2))
        job = try job.containerExited(ContainerOutcome(exitCode: 3), now: t(3))
        #expect(job.secondaryStatus == .training)
        let withoutFile = try job.finished(failureText: nil, metrics: [], now: t(4))
        #expect(withoutFile.status == .failed && withoutFile.secondaryStatus == .failed)
        #expect(withoutFile.failureReason == "AlgorithmError: Exit Code: 3")
        let withFile = try job.finished(failureText: "bad data\n", metrics: [], now: t(4))
        #expect(withFile.failureReason == "AlgorithmError: bad data\n")
        let oom = try job.containerExited(ContainerOutcome(exitCode: 137, oomKilled: true), now: t(3))
            .finished(failureText: nil, metrics: [], now: t(4))
        #expect(oom.failureReason == FailureReason.outOfMemory)
    }

    @Test("failure text is capped at 1024 characters including the prefix")
    func failureReasonCap() {
        let reason = FailureReason.algorithmError(exitCode: 1, oomKilled: false, failureFileText: String(repeating: "x", count: 5000))
        #expect(reason.count == 1024)
        #expect(reason.hasPrefix("AlgorithmError: xxx"))
        let emoji = FailureReason.capped(String(repeating: "😀", count: 600))
        #expect(emoji.utf16.count <= 1024)
    }

    @Test("StopTrainingJob moves InProgress to Stopping at once and ends Stopped; other statuses are rejected")
    func stopProgression() throws {
        var job = try newJob().startingDownload(now: t(1)).startingTraining(now: t(2))
        job = try job.stopRequested(now: t(5))
        #expect(job.status == .stopping && job.secondaryStatus == .stopping)
        #expect(job.stopReason == .requested)
        #expect(throws: LifecycleError.notInProgress(.stopping)) { try job.stopRequested(now: t(6)) }
        job = try job.containerExited(ContainerOutcome(exitCode: 143), now: t(6))
        job = try job.finished(failureText: nil, metrics: [], now: t(7))
        #expect(job.status == .stopped && job.secondaryStatus == .stopped)
        #expect(job.transitions.map(\.status) == [.starting, .downloading, .training, .stopping, .stopped])
        #expect(throws: LifecycleError.notInProgress(.stopped)) { try job.stopRequested(now: t(8)) }
    }

    @Test("MaxRuntimeInSeconds ends Stopped/MaxRuntimeExceeded")
    func maxRuntime() throws {
        var job = try newJob(maxRuntime: 10).startingDownload(now: t(1)).startingTraining(now: t(2))
        #expect(job.maxRuntimeDeadline == t(11))
        job = try job.maxRuntimeExceeded(now: t(11))
        job = try job.finished(failureText: nil, metrics: [], now: t(12))
        #expect(job.status == .stopped && job.secondaryStatus == .maxRuntimeExceeded)
        #expect(job.transitions.last?.message == StatusMessage.maxRuntimeExceeded)
    }

    @Test("transitions stay monotonic when the clock steps backwards")
    func monotonic() throws {
        let job = try newJob().startingDownload(now: t(5)).startingTraining(now: t(3))
        #expect(job.transitions[2].startTime == t(5))
        #expect(job.transitions[1].endTime == t(5))
    }
}

struct NextStepTests {
    let grace: Int64 = 120_000

    @Test("each status maps to the scheduler's next step")
    func steps() throws {
        let starting = newJob()
        #expect(starting.nextStep(observed: .unknown, now: t(0), stopGraceMilliseconds: grace) == .prepare)
        let downloading = try starting.startingDownload(now: t(1))
        #expect(downloading.nextStep(observed: .unknown, now: t(1), stopGraceMilliseconds: grace) == .launch)
        let training = try downloading.startingTraining(now: t(2))
        #expect(training.nextStep(observed: .unknown, now: t(2), stopGraceMilliseconds: grace) == .observe)
        #expect(training.nextStep(observed: .running, now: t(2), stopGraceMilliseconds: grace) == .wait(until: t(86_401)))
        #expect(training.nextStep(observed: .running, now: t(86_401), stopGraceMilliseconds: grace) == .exceedMaxRuntime)
        #expect(training.nextStep(observed: .absent, now: t(3), stopGraceMilliseconds: grace) == .containerLost)
        let exit = ContainerOutcome(exitCode: 2)
        #expect(training.nextStep(observed: .exited(exit), now: t(3), stopGraceMilliseconds: grace) == .recordExit(exit))
        let failedExit = try training.containerExited(exit, now: t(3))
        #expect(failedExit.nextStep(observed: .exited(exit), now: t(3), stopGraceMilliseconds: grace) == .finish)
    }

    @Test("a stop sends SIGTERM once, SIGKILL only after the grace window, and finishes when the container is gone")
    func stopSteps() throws {
        let stopping = try newJob().startingDownload(now: t(1)).startingTraining(now: t(2)).stopRequested(now: t(10))
        #expect(stopping.nextStep(observed: .running, now: t(10), stopGraceMilliseconds: grace) == .sendSIGTERM)
        let termed = stopping.sigtermSent(now: t(10))
        #expect(termed.nextStep(observed: .running, now: t(10), stopGraceMilliseconds: grace) == .wait(until: t(130)))
        #expect(termed.nextStep(observed: .running, now: t(129.999), stopGraceMilliseconds: grace) == .wait(until: t(130)))
        #expect(termed.nextStep(observed: .running, now: t(130), stopGraceMilliseconds: grace) == .sendSIGKILL)
        let killed = termed.sigkillSent(now: t(130))
        #expect(killed.nextStep(observed: .running, now: t(131), stopGraceMilliseconds: grace) == .wait(until: nil))
        let killedExit = ContainerOutcome(exitCode: 137)
        #expect(killed.nextStep(observed: .exited(killedExit), now: t(131), stopGraceMilliseconds: grace) == .recordExit(killedExit))
        let recorded = try killed.containerExited(killedExit, now: t(131))
        #expect(recorded.nextStep(observed: .exited(killedExit), now: t(131), stopGraceMilliseconds: grace) == .finish)
        // Stopped before a container existed.
        let early = try newJob().stopRequested(now: t(1))
        #expect(early.nextStep(observed: .absent, now: t(1), stopGraceMilliseconds: grace) == .finish)
        #expect(early.nextStep(observed: .unknown, now: t(1), stopGraceMilliseconds: grace) == .observe)
    }

    @Test("terminal jobs need nothing")
    func terminal() throws {
        let done = try newJob().stopRequested(now: t(1)).finished(failureText: nil, metrics: [], now: t(2))
        #expect(done.nextStep(observed: .unknown, now: t(3), stopGraceMilliseconds: grace) == .wait(until: nil))
        #expect(done.trainingTimeInSeconds == nil)
    }
}
