import Foundation
import JobStore
import Scheduler
import Testing
import TestSupport
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

/// A runtime without room for a job's hosts (`ContainerRuntimeError.insufficientCapacity`, a full
/// swarm) holds the job as `--max-concurrent-jobs` does.
@Suite
struct ClusterCapacityTests {
    @Test("a job that does not fit waits Pending, asks again every few seconds, and starts the instant a job ends")
    func waitsForCapacity() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        fixture.runtime.setCapacity(1)
        try fixture.submit("first", environment: ["RUNS_FOR": "12"])
        try await fixture.settle()
        try fixture.submit("second", environment: ["RUNS_FOR": "3"])
        try await fixture.settle()
        let waiting = try fixture.job("second")
        #expect(waiting.transitions.map(\.status) == [.starting, .pending])
        #expect(waiting.transitions.last?.message == StatusMessage.pending)
        #expect(waiting.transitions.first?.message == StatusMessage.preparingInstances)
        let asked = fixture.runtime.calls["reserveCapacity"] ?? 0
        try await fixture.advance(by: .seconds(6))
        // Every 5 s (capacityPollInterval) while nothing ends.
        #expect((fixture.runtime.calls["reserveCapacity"] ?? 0) > asked)
        #expect(try fixture.job("second").secondaryStatus == .pending)
        try await fixture.advance(by: .seconds(20))
        let first = try fixture.job("first")
        let second = try fixture.job("second")
        #expect([first.status, second.status] == [.completed, .completed])
        // Woken by the first job's end, not by the next poll.
        #expect(second.trainingStartTime == first.trainingEndTime)
        #expect(second.transitions.map(\.status) == [.starting, .pending, .downloading, .training, .uploading, .completed])
    }

    @Test("MaxPendingTimeInSeconds stops a job waiting for capacity at exactly that time")
    func maxPending() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        fixture.runtime.setCapacity(1)
        try fixture.submit("hog")
        try await fixture.settle()
        let impatient = try fixture.submit("impatient", maxPending: 7)
        let job = try await fixture.advance("impatient") { $0.status.isTerminal }
        #expect(job.status == .stopped)
        #expect(job.transitions.map(\.status) == [.starting, .pending, .stopping, .stopped])
        let stopped = try #require(job.transitions.first { $0.status == .stopping })
        #expect(stopped.startTime == impatient.creationTime.adding(seconds: 7))
        #expect(try fixture.job("hog").status == .inProgress)
    }

    @Test("after a restart a job waiting for capacity waits on, and starts when the running job ends")
    func restart() async throws {
        let before = try SchedulerFixture()
        before.runtime.setCapacity(1)
        try before.submit("first", environment: ["RUNS_FOR": "10"])
        try await before.settle()
        try before.submit("second", environment: ["RUNS_FOR": "1"])
        try await before.settle()
        #expect(try before.job("second").secondaryStatus == .pending)
        let fixture = try await before.restarted()
        defer { fixture.cleanUp() }
        try await fixture.settle()
        #expect(try fixture.job("second").secondaryStatus == .pending)
        let second = try await fixture.advance("second") { $0.status.isTerminal }
        let first = try fixture.job("first")
        #expect([first.status, second.status] == [.completed, .completed])
        #expect(second.trainingStartTime.map { $0 >= first.trainingEndTime! } == true)
    }

    @Test("a job that could never fit fails at once")
    func neverFits() async throws {
        let fixture = try SchedulerFixture()
        defer { fixture.cleanUp() }
        fixture.runtime.setCapacity(0)
        try fixture.submit("too-big")
        try await fixture.settle()
        let job = try fixture.job("too-big")
        #expect(job.status == .failed)
        #expect(job.failureReason?.contains("never fit") == true)
        #expect(fixture.runtime.containerNames.isEmpty)
    }
}
