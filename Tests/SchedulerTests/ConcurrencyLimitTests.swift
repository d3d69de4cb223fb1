import Foundation
import JobStore
import Scheduler
import Testing
import TrainingCore

@Suite
struct ConcurrencyLimitTests {
    @Test("with a limit of one, jobs wait Pending and run one after another, first come first served")
    func oneAtATime() async throws {
        let fixture = try SchedulerFixture(maxConcurrentJobs: 1)
        defer { fixture.cleanUp() }
        for index in 0..<3 { try fixture.submit("queued-\(index)", environment: ["RUNS_FOR": "3"]) }
        try await fixture.settle()
        let second = try fixture.job("queued-1")
        #expect(second.transitions.map(\.status) == [.starting, .pending])
        #expect(second.transitions.last?.message == StatusMessage.pending)
        try await fixture.advance(by: .seconds(20))
        let jobs = try (0..<3).map { try fixture.job("queued-\($0)") }
        #expect(jobs.allSatisfy { $0.status == .completed })
        // One slot: each job starts the instant the one before it ended, in creation order.
        for (earlier, later) in zip(jobs, jobs.dropFirst()) {
            #expect(later.trainingStartTime == earlier.trainingEndTime)
        }
        #expect(jobs[1].transitions.map(\.status) == [.starting, .pending, .downloading, .training, .uploading, .completed])
    }

    @Test("MaxPendingTimeInSeconds stops a job that found no slot in time, at exactly that time")
    func maxPending() async throws {
        let fixture = try SchedulerFixture(maxConcurrentJobs: 1)
        defer { fixture.cleanUp() }
        try fixture.submit("hog")
        try await fixture.settle()
        let impatient = try fixture.submit("impatient", maxPending: 5)
        let job = try await fixture.advance("impatient") { $0.status.isTerminal }
        #expect(job.status == .stopped)
        #expect(job.transitions.map(\.status) == [.starting, .pending, .stopping, .stopped])
        #expect(job.trainingStartTime == nil)
        let stopped = try #require(job.transitions.first { $0.status == .stopping })
        #expect(stopped.startTime == impatient.creationTime.adding(seconds: 5))
        #expect(try fixture.job("hog").status == .inProgress)
    }
}
