import Foundation
@testable import JobStore
import SQLite
import Synchronization
import Testing
import TrainingCore

private let account = "123456789012"

/// Runs `body` on a thread of its own and signals `done` when it returns: these tests block their
/// threads on purpose, which must not starve the Dispatch pool that other suites' servers use.
private func onOwnThread(_ done: DispatchSemaphore, _ body: @escaping @Sendable () -> Void) {
    Thread {
        body()
        done.signal()
    }.start()
}

struct GroupCommitTests {
    @Test("entries that arrive during a commit are run together by the next leader, each exactly once")
    func waitingEntriesShareTheNextBatch() throws {
        let group = GroupCommit()
        let firstBatchMayEnd = DispatchSemaphore(value: 0)
        let batches = Mutex<[[Int]]>([])
        let runs = Mutex<[Int: Int]>([:])
        @Sendable func entry(_ number: Int) -> GroupCommit.Entry {
            GroupCommit.Entry(run: { _ in runs.withLock { $0[number, default: 0] += 1 } }, commitFailed: { _ in })
        }
        let followers = 8
        let done = DispatchSemaphore(value: 0)
        // The first caller leads and holds its commit until the others wait behind it.
        onOwnThread(done) {
            group.perform(entry(0)) { batch in
                batches.withLock { $0.append(batch.map { _ in 0 }) }
                firstBatchMayEnd.wait()
            }
        }
        // Wait until the leader holds its batch (nothing waiting, first batch recorded).
        let deadline = Date().addingTimeInterval(10)
        while batches.withLock({ $0.isEmpty }), Date() < deadline { usleep(100) }
        for number in 1...followers {
            onOwnThread(done) {
                group.perform(entry(number)) { batch in
                    batches.withLock { $0.append(batch.map { _ in number }) }
                    let db = StoreDatabase(try! Database(path: ":memory:"))
                    for entry in batch { entry.run(db) }
                }
            }
        }
        while group.waitingCount < followers, Date() < deadline { usleep(100) }
        #expect(group.waitingCount == followers)
        firstBatchMayEnd.signal()
        for _ in 0...followers { #expect(done.wait(timeout: .now() + 10) == .success) }
        let sizes = batches.withLock { $0.map(\.count) }
        #expect(sizes == [1, followers], "batch sizes \(sizes)")
        // Entry 0 was run by nobody (its leader's commit ran no entry); every follower once.
        #expect(runs.withLock { $0 } == Dictionary(uniqueKeysWithValues: (1...followers).map { ($0, 1) }))
    }

    @Test("concurrent creates commit together: every job stored once, duplicates refused, nothing lost")
    func concurrentCreates() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-group-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try JobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        let names = (0..<400).map { "job-\($0 % 300)" }  // 100 names twice
        let outcomes = Mutex<(created: Int, inUse: Int, other: [String])>((0, 0, []))
        let done = DispatchSemaphore(value: 0)
        for worker in 0..<8 {
            onOwnThread(done) {
                for name in names[(worker * 50)..<(worker * 50 + 50)] {
                    let job = TrainingJob.created(
                        account: account, name: name, arn: "arn:aws:sagemaker:us-east-1:\(account):training-job/\(name)",
                        spec: TrainingJobSpec(trainingImage: "img", outputPath: "s3://b/o"), requestEcho: "{}",
                        now: Timestamp(epochSeconds: 1_700_000_000))
                    do throws(JobStoreError) {
                        _ = try store.create(job)
                        outcomes.withLock { $0.created += 1 }
                    } catch .nameInUse {
                        outcomes.withLock { $0.inUse += 1 }
                    } catch {
                        outcomes.withLock { $0.other.append("\(error)") }
                    }
                }
            }
        }
        for _ in 0..<8 { #expect(done.wait(timeout: .now() + 30) == .success) }
        let result = outcomes.withLock { $0 }
        #expect(result.other.isEmpty)
        #expect(result.created == 300 && result.inUse == 100)
        for index in 0..<300 {
            let stored = try #require(try store.job(account: account, name: "job-\(index)"))
            #expect(stored.status == .inProgress && stored.version == 1)
        }
    }
}
