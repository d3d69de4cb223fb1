import SQLite
import TrainingCore

/// Instance quotas (SageMaker's ResourceLimitExceeded on CreateTrainingJob). The check runs inside
/// `create`'s `BEGIN IMMEDIATE` transaction, so utilization cannot change between reading it and
/// inserting the job: two creates racing for the last instance of a quota never both get it, even
/// from two connections.
extension JobStore {
    /// Instances of `instanceType` held by `account`'s jobs: the sum of their `InstanceCount`.
    ///
    /// Which jobs hold instances is not documented; Trainyard counts InProgress (including
    /// Pending, queued behind `--max-concurrent-jobs`) and Stopping jobs, because a stopping job
    /// keeps its instances until its container is gone. Whether SageMaker still counts a
    /// Stopping job against the quota is unverified.
    public func instanceUtilization(account: String, instanceType: String) throws(JobStoreError) -> Int {
        try read(on: .writer) { db throws(JobStoreError) in
            try Self.instanceUtilization(db, account: account, instanceType: instanceType)
        }
    }

    /// Throws `.instanceQuotaExceeded` when `job` would take its account past the quota of its
    /// instance type. Reads nothing when that type has no quota. `create` checks the name first, so
    /// a duplicate name is ResourceInUse even over quota (SageMaker's order is unverified).
    static func checkInstanceQuota(_ db: StoreDatabase, for job: TrainingJob, under quotas: InstanceQuotas) throws(JobStoreError) {
        // No quota at all (the default): not even the cluster's groups need working out.
        guard quotas.defaultLimit != nil || !quotas.limits.isEmpty else { return }
        // A heterogeneous cluster asks for each of its groups' types (ResourceConfig.InstanceGroups).
        var requested: [String: Int] = [:]
        for group in job.spec.cluster.groups { requested[group.instanceType, default: 0] += group.hosts.count }
        for (instanceType, delta) in requested.sorted(by: { $0.key < $1.key }) where delta > 0 {
            guard quotas.limit(for: instanceType) != nil else { continue }
            let utilization = try instanceUtilization(db, account: job.account, instanceType: instanceType)
            if let refusal = quotas.refusal(instanceType: instanceType, requestDelta: delta, currentUtilization: utilization) {
                throw .instanceQuotaExceeded(refusal)
            }
        }
    }

    /// Reads the type and count from `spec_json` (TrainingJobSpec's `instanceType` and
    /// `instanceCount`, or for a heterogeneous cluster its `instanceGroups`): the account/status
    /// index narrows the scan to the account's active jobs, which are few, so no extra columns are
    /// needed.
    static func instanceUtilization(_ db: StoreDatabase, account: String, instanceType: String) throws(JobStoreError) -> Int {
        let total = try db.scalarInt(
            """
            SELECT coalesce(sum(CASE
                WHEN json_type(spec_json, '$.instanceGroups') = 'array' THEN (
                    SELECT coalesce(sum(json_extract(g.value, '$.instanceCount')), 0)
                    FROM json_each(spec_json, '$.instanceGroups') AS g
                    WHERE json_extract(g.value, '$.instanceType') = ?2)
                WHEN json_extract(spec_json, '$.instanceType') = ?2 THEN json_extract(spec_json, '$.instanceCount')
                ELSE 0 END), 0)
            FROM training_jobs
            WHERE account_id = ?1 AND status IN ('InProgress', 'Stopping')
            """, [account, instanceType])
        return Int(total ?? 0)
    }
}
