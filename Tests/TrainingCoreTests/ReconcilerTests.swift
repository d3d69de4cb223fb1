import Testing
import TrainingCore

private func t(_ seconds: Double) -> Timestamp { Timestamp(epochSeconds: 1_700_000_000 + seconds) }

private func job(_ id: Int64, maxRuntime: Int64 = 86_400, maxPending: Int64? = nil, created: Double = 0) -> TrainingJob {
    var job = TrainingJob.created(
        account: "123456789012", name: "job-\(id)", arn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-\(id)",
        spec: TrainingJobSpec(trainingImage: "img", outputPath: "s3://b/out", maxRuntimeSeconds: maxRuntime, maxPendingSeconds: maxPending),
        requestEcho: "{}", now: t(created))
    job.id = id
    return job
}

private func training(_ id: Int64, since start: Double, maxRuntime: Int64) throws -> TrainingJob {
    try job(id, maxRuntime: maxRuntime).startingDownload(now: t(start)).startingTraining(now: t(start))
}

/// Runs one pass over everything queued, as the scheduler does, with `jobs` as the store.
private func pass(_ core: inout Reconciler, _ jobs: [TrainingJob], now: Timestamp) -> [(job: TrainingJob, action: JobAction)] {
    let byID = Dictionary(uniqueKeysWithValues: jobs.map { ($0.id, $0) })
    core.fireTimers(now: now)
    var actions: [(job: TrainingJob, action: JobAction)] = []
    while let batch = core.nextBatch() { actions += core.decide(batch, jobs: byID, now: now).actions }
    return actions
}

struct ReconcilerTests {
    @Test("without a minimum phase time a new job goes from Starting to a running container in one action")
    func onePass() {
        var core = Reconciler(configuration: .init())
        core.jobChanged(1, stopping: false)
        let actions = pass(&core, [job(1)], now: t(0))
        #expect(actions.map(\.action) == [.prepare(thenLaunch: true)])
        #expect(core.inFlight == [1])
    }

    @Test("with a minimum phase time Starting announces itself, then waits out the phase before preparing")
    func pacedPhases() throws {
        var core = Reconciler(configuration: .init(minimumPhaseDuration: .seconds(2)))
        core.jobChanged(1, stopping: false)
        #expect(pass(&core, [job(1)], now: t(0)).map(\.action) == [.announce])
        core.stepEnded(1, stopping: false, notBefore: nil)
        let announced = job(1).withStatusMessage(StatusMessage.preparingInstances, now: t(0))
        #expect(pass(&core, [announced], now: t(0.5)).isEmpty)
        #expect(core.nextDeadline == t(2))
        #expect(pass(&core, [announced], now: t(1.999)).isEmpty)
        #expect(pass(&core, [announced], now: t(2)).map(\.action) == [.prepare(thenLaunch: false)])
    }

    @Test("a training job sleeps until MaxRuntimeInSeconds and is acted on exactly then")
    func maxRuntimeTimer() throws {
        var core = Reconciler(configuration: .init())
        let running = try training(1, since: 10, maxRuntime: 60)
        core.observed(1, .running)
        core.jobChanged(1, stopping: false)
        #expect(pass(&core, [running], now: t(10)).isEmpty)
        #expect(core.nextDeadline == t(70))
        #expect(core.isIdle(now: t(69.999)))
        #expect(!core.isIdle(now: t(70)))
        #expect(pass(&core, [running], now: t(70)).map(\.action) == [.exceedMaxRuntime])
    }

    @Test("no more steps than the limit run at once; stops and exits are served first")
    func boundedAndUrgentFirst() {
        var core = Reconciler(configuration: .init(maximumStepsInFlight: 2))
        let jobs = (1...4).map { job($0) }
        for id in 1...3 { core.jobChanged(Int64(id), stopping: false) }
        core.jobChanged(4, stopping: true)
        let first = pass(&core, jobs, now: t(0))
        #expect(first.map(\.job.id) == [4, 1])
        #expect(core.nextBatch() == nil)
        core.stepEnded(4, stopping: false, notBefore: t(5))
        #expect(pass(&core, jobs, now: t(0)).map(\.job.id) == [2])
    }

    @Test("a failed step is retried after the retry delay, not before")
    func retry() {
        var core = Reconciler(configuration: .init(retryDelay: .seconds(1)))
        core.jobChanged(1, stopping: false)
        #expect(pass(&core, [job(1)], now: t(0)).count == 1)
        core.stepFailed(1, stopping: false, now: t(0))
        #expect(pass(&core, [job(1)], now: t(0.5)).isEmpty)
        #expect(pass(&core, [job(1)], now: t(1)).count == 1)
    }

    @Test("slots: start under the limit, wait Pending over it, stop at exactly MaxPendingTimeInSeconds")
    func slots() {
        let core = Reconciler(configuration: .init(pollInterval: .seconds(1), maxConcurrentJobs: 2))
        let waiting = job(1, maxPending: 5)
        #expect(core.slotDecision(for: waiting, started: 1, waitingAhead: 0, now: t(0)) == .start)
        #expect(core.slotDecision(for: waiting, started: 1, waitingAhead: 1, now: t(0)) == .wait(markPending: true, recheckAt: t(1)))
        #expect(core.slotDecision(for: waiting, started: 2, waitingAhead: 0, now: t(4.5)) == .wait(markPending: true, recheckAt: t(5)))
        #expect(core.slotDecision(for: waiting, started: 2, waitingAhead: 0, now: t(5)) == .exceedMaxPending)
        let unlimited = Reconciler(configuration: .init())
        #expect(unlimited.slotDecision(for: waiting, started: 100, waitingAhead: 100, now: t(0)) == .start)
    }

    @Test("no room on the cluster: wait Pending whatever the limit, poll every capacityPollInterval, stop at MaxPendingTimeInSeconds")
    func capacity() {
        let core = Reconciler(configuration: .init(capacityPollInterval: .seconds(5)))
        let waiting = job(1, maxPending: 7)
        #expect(core.capacityDecision(for: waiting, now: t(0)) == .wait(markPending: true, recheckAt: t(5)))
        #expect(core.capacityDecision(for: waiting, now: t(5)) == .wait(markPending: true, recheckAt: t(7)))
        #expect(core.capacityDecision(for: waiting, now: t(7)) == .exceedMaxPending)
        #expect(core.capacityDecision(for: job(2), now: t(100)) == .wait(markPending: true, recheckAt: t(105)))
    }

    @Test("a job waiting for a slot is looked at again as soon as a job ends")
    func slotsFreed() {
        var core = Reconciler(configuration: .init(maxConcurrentJobs: 1))
        core.jobChanged(1, stopping: false)
        #expect(pass(&core, [job(1)], now: t(0)).count == 1)
        core.waitingForSlot(1)
        core.stepEnded(1, stopping: false, notBefore: t(1))
        #expect(pass(&core, [job(1)], now: t(0.1)).isEmpty)
        core.slotsFreed()
        #expect(pass(&core, [job(1)], now: t(0.2)).count == 1)
    }

    @Test("a deleted or ended job is forgotten")
    func forgets() throws {
        var core = Reconciler(configuration: .init())
        core.observed(1, .running)
        core.jobChanged(1, stopping: false)
        core.fireTimers(now: t(0))
        let next = core.nextBatch()
        let batch = try #require(next)
        let decisions = core.decide(batch, jobs: [:], now: t(0))
        #expect(decisions.forgotten == [1] && decisions.actions.isEmpty)
        #expect(core.observations[1] == nil)
    }
}
