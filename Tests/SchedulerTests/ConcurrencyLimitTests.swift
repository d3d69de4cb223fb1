import ContainerRuntime
import Foundation
import JobStore
import Scheduler
import Testing
import TrainingCore

@Suite(.serialized)
struct ConcurrencyLimitTests {
    @Test("with a limit of one, jobs wait Pending and run one after another, first come first served")
    func oneAtATime() async throws {
        let fixture = try SchedulerFixture(defaultTrainingSeconds: 0.3, maxConcurrentJobs: 1)
        defer { fixture.cleanUp() }
        for index in 0..<3 { _ = try fixture.submit("queued-\(index)") }
        let second = try await fixture.waitFor("queued-1") { $0.secondaryStatus == .pending }
        #expect(second.transitions.map(\.status) == [.starting, .pending])
        #expect(second.transitions.last?.message == StatusMessage.pending)
        var jobs: [TrainingJob] = []
        for index in 0..<3 { jobs.append(try await fixture.waitFor("queued-\(index)") { $0.status.isTerminal }) }
        #expect(jobs.allSatisfy { $0.status == .completed })
        // One slot: each job starts only after the one before it ended, in creation order.
        for (earlier, later) in zip(jobs, jobs.dropFirst()) {
            let end = try #require(earlier.trainingEndTime)
            let start = try #require(later.trainingStartTime)
            #expect(start >= end)
        }
        #expect(jobs[1].transitions.map(\.status) == [.starting, .pending, .downloading, .training, .uploading, .completed])
    }

    @Test("MaxPendingTimeInSeconds stops a job that found no slot in time")
    func maxPending() async throws {
        let fixture = try SchedulerFixture(maxConcurrentJobs: 1)
        defer { fixture.cleanUp() }
        _ = try fixture.submit("hog", environment: [SimulatedRuntime.trainingSecondsVariable: "30"])
        _ = try await fixture.waitFor("hog") { $0.secondaryStatus == .training }
        _ = try fixture.submit("impatient", maxPending: 1)
        let job = try await fixture.waitFor("impatient") { $0.status.isTerminal }
        #expect(job.status == .stopped)
        #expect(job.transitions.map(\.status) == [.starting, .pending, .stopping, .stopped])
        #expect(job.trainingStartTime == nil)
        let stopped = try #require(job.transitions.first { $0.status == .stopping })
        #expect(stopped.startTime.millisecondsSince(job.creationTime) >= 1000)
        #expect(try fixture.store.job(account: "123456789012", name: "hog")?.status == .inProgress)
    }
}
