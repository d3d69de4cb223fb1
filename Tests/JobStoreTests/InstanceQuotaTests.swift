import Dispatch
import Foundation
import JobStore
import Synchronization
import Testing
import TrainingCore

private let account = "123456789012"
private let otherAccount = "210987654321"
private let start = Timestamp(epochSeconds: 1_700_000_000)

private func temporaryDatabasePath() throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-quota-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("jobs.sqlite").path
}

private func job(
    _ name: String, type: String = "ml.m5.large", count: Int = 1, account: String = account
) -> TrainingJob {
    TrainingJob.created(
        account: account, name: name, arn: "arn:aws:sagemaker:us-east-1:\(account):training-job/\(name)",
        spec: TrainingJobSpec(trainingImage: "img", outputPath: "s3://b/o", instanceType: type, instanceCount: count),
        requestEcho: "{}", now: start)
}

struct InstanceQuotaTests {
    @Test("a create past the quota is refused with the numbers of the message and stores nothing")
    func refusedCreateStoresNothing() throws {
        let store = try JobStore(path: try temporaryDatabasePath())
        let quotas = InstanceQuotas(limits: ["ml.m5.large": 3, "ml.p3.2xlarge": 0])
        _ = try store.create(job("big", count: 2), instanceQuotas: quotas)
        #expect(
            throws: JobStoreError.instanceQuotaExceeded(
                InstanceQuotaExceeded(instanceType: "ml.m5.large", limit: 3, currentUtilization: 2, requestDelta: 2))
        ) {
            try store.create(job("too-big", count: 2), tags: [("team", "ml")], instanceQuotas: quotas)
        }
        #expect(try store.job(account: account, name: "too-big") == nil)
        #expect(try store.tags(account: account, name: "too-big") == nil)
        #expect(
            throws: JobStoreError.instanceQuotaExceeded(
                InstanceQuotaExceeded(instanceType: "ml.p3.2xlarge", limit: 0, currentUtilization: 0, requestDelta: 1))
        ) {
            try store.create(job("gpu", type: "ml.p3.2xlarge"), instanceQuotas: quotas)
        }
        // Exactly reaching the quota fits.
        _ = try store.create(job("fits", count: 1), instanceQuotas: quotas)
        #expect(try store.instanceUtilization(account: account, instanceType: "ml.m5.large") == 3)
    }

    @Test("a heterogeneous cluster counts against each of its groups' instance types")
    func instanceGroups() throws {
        let store = try JobStore(path: try temporaryDatabasePath())
        let quotas = InstanceQuotas(limits: ["ml.m5.large": 2, "ml.c5.xlarge": 3])
        let groups = [
            TrainingJobSpec.InstanceGroup(name: "a", instanceType: "ml.m5.large", instanceCount: 1),
            TrainingJobSpec.InstanceGroup(name: "b", instanceType: "ml.c5.xlarge", instanceCount: 2),
        ]
        let cluster = TrainingJob.created(
            account: account, name: "cluster", arn: "arn:aws:sagemaker:us-east-1:\(account):training-job/cluster",
            spec: TrainingJobSpec(trainingImage: "img", outputPath: "s3://b/o", instanceType: "ml.m5.large", instanceCount: 3, instanceGroups: groups),
            requestEcho: "{}", now: start)
        _ = try store.create(cluster, instanceQuotas: quotas)
        #expect(try store.instanceUtilization(account: account, instanceType: "ml.m5.large") == 1)
        #expect(try store.instanceUtilization(account: account, instanceType: "ml.c5.xlarge") == 2)
        #expect(
            throws: JobStoreError.instanceQuotaExceeded(
                InstanceQuotaExceeded(instanceType: "ml.c5.xlarge", limit: 3, currentUtilization: 2, requestDelta: 2))
        ) {
            try store.create(job("more", type: "ml.c5.xlarge", count: 2), instanceQuotas: quotas)
        }
        _ = try store.create(job("one-more", count: 1), instanceQuotas: quotas)
    }

    @Test("InProgress and Stopping jobs hold their instances; ended jobs free them")
    func utilizationFollowsStatus() throws {
        let store = try JobStore(path: try temporaryDatabasePath())
        let quotas = InstanceQuotas(limits: ["ml.m5.large": 1])
        let first = try store.create(job("first"), instanceQuotas: quotas)
        let stopping = try #require(try store.replace(try first.stopRequested(now: start.adding(seconds: 1))))
        #expect(stopping.status == .stopping)
        #expect(try store.instanceUtilization(account: account, instanceType: "ml.m5.large") == 1)
        #expect(throws: JobStoreError.self) { try store.create(job("second"), instanceQuotas: quotas) }

        let stopped = try stopping.finished(failureText: nil, metrics: [], now: start.adding(seconds: 2))
        _ = try #require(try store.replace(stopped))
        #expect(try store.instanceUtilization(account: account, instanceType: "ml.m5.large") == 0)
        _ = try store.create(job("second"), instanceQuotas: quotas)
    }

    @Test("quotas count per account and per instance type; types without a quota are unlimited")
    func perAccountAndType() throws {
        let store = try JobStore(path: try temporaryDatabasePath())
        let quotas = InstanceQuotas(limits: ["ml.m5.large": 1, "ml.c5.xlarge": 1])
        _ = try store.create(job("a", type: "ml.m5.large"), instanceQuotas: quotas)
        _ = try store.create(job("b", type: "ml.c5.xlarge"), instanceQuotas: quotas)
        _ = try store.create(job("a", type: "ml.m5.large", account: otherAccount), instanceQuotas: quotas)
        for index in 0..<5 {
            _ = try store.create(job("free-\(index)", type: "ml.g5.xlarge", count: 4), instanceQuotas: quotas)
        }
        #expect(throws: JobStoreError.self) { try store.create(job("c", type: "ml.m5.large"), instanceQuotas: quotas) }
        #expect(try store.instanceUtilization(account: otherAccount, instanceType: "ml.m5.large") == 1)
        #expect(try store.instanceUtilization(account: account, instanceType: "ml.g5.xlarge") == 20)
        // Without quotas the same create is accepted, as before quotas existed.
        _ = try store.create(job("c", type: "ml.m5.large"))
    }

    @Test("a duplicate name is still ResourceInUse when the account is also over quota")
    func nameCheckedFirst() throws {
        let store = try JobStore(path: try temporaryDatabasePath())
        let quotas = InstanceQuotas(limits: ["ml.m5.large": 1])
        let first = try store.create(job("same"), instanceQuotas: quotas)
        #expect(throws: JobStoreError.nameInUse(arn: first.arn)) { try store.create(job("same"), instanceQuotas: quotas) }
    }

    @Test("concurrent creates through two connections never both take the last instance")
    func concurrentCreatesAreAtomic() throws {
        let path = try temporaryDatabasePath()
        // Two stores are two SQLite connections: only BEGIN IMMEDIATE keeps their check-then-insert apart.
        let stores = [try JobStore(path: path), try JobStore(path: path)]
        let quotas = InstanceQuotas(limits: ["ml.m5.large": 3])
        let outcomes = Mutex<(created: Int, refused: Int, other: [String])>((0, 0, []))
        DispatchQueue.concurrentPerform(iterations: 24) { index in
            do {
                _ = try stores[index % 2].create(job("race-\(index)"), instanceQuotas: quotas)
                outcomes.withLock { $0.created += 1 }
            } catch JobStoreError.instanceQuotaExceeded {
                outcomes.withLock { $0.refused += 1 }
            } catch {
                outcomes.withLock { $0.other.append("\(error)") }
            }
        }
        let result = outcomes.withLock { $0 }
        #expect(result.other == [])
        #expect(result.created == 3 && result.refused == 21)
        #expect(try stores[0].instanceUtilization(account: account, instanceType: "ml.m5.large") == 3)
    }
}
