import Foundation
import SQLite
import Synchronization
public import TrainingCore

extension JobStore {
    /// Stores a new job (and its Create tags) and returns it with its id and version.
    /// Throws `.nameInUse` when the account already has a job of that name, whatever its status
    /// (SageMaker's ResourceInUse; reference api-fidelity §6), and `.instanceQuotaExceeded` when the
    /// job would take its account past `instanceQuotas` (SageMaker's ResourceLimitExceeded).
    public func create(
        _ job: TrainingJob, tags: [(key: String, value: String)] = [], instanceQuotas: InstanceQuotas = .unlimited
    ) throws(JobStoreError) -> TrainingJob {
        // Encoded before the write lock is taken: JSON encoding is the slow part of an insert.
        let values: [any SQLiteBindable] = [job.account, job.name, job.arn] + (try JobRow.mutableValues(of: job))
        let stored = try write { db throws(JobStoreError) -> TrainingJob in
            if let existing = try Self.selectARN(db, account: job.account, name: job.name) {
                throw JobStoreError.nameInUse(arn: existing)
            }
            try Self.checkInstanceQuota(db, for: job, under: instanceQuotas)
            var stored = job
            stored.version = 1
            try db.run(
                """
                INSERT INTO training_jobs (account_id, name, arn, status, secondary_status, failure_reason,
                    created_at_ms, last_modified_at_ms, training_started_at_ms, training_ended_at_ms,
                    stop_reason, sigterm_sent_at_ms, sigkill_sent_at_ms, exit_code, oom_killed,
                    spec_json, request_echo_json, final_metrics_json, version)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
                """,
                values)
            stored.id = db.lastInsertRowID
            try JobRow.insertTransitions(db, jobID: stored.id, transitions: job.transitions, from: 0)
            for (position, tag) in tags.enumerated() {
                try db.run(
                    "INSERT INTO training_job_tags (job_id, key, value, position) VALUES (?, ?, ?, ?) ON CONFLICT (job_id, key) DO UPDATE SET value = excluded.value",
                    [stored.id, tag.key, tag.value, position])
            }
            return stored
        }
        // The scheduler reads the job at once: spare it decoding the spec just encoded, and
        // reading the transitions just written.
        cache.remember(stored)
        jobNamesMayNeedIndexing.store(true, ordering: .releasing)
        notify(JobChange(jobID: stored.id, status: stored.status, version: stored.version))
        return stored
    }

    /// The job named `name` in `account`, or nil.
    public func job(account: String, name: String) throws(JobStoreError) -> TrainingJob? {
        try read { db throws(JobStoreError) in
            try JobRow.select(db, where: "account_id = ? AND name = ?", [account, name], cache: cache).first
        }
    }

    public func job(id: Int64) throws(JobStoreError) -> TrainingJob? {
        try read(on: .writer) { db throws(JobStoreError) in try JobRow.select(db, where: "id = ?", [id], cache: cache).first }
    }


    /// Compare-and-set: stores `job` only if the stored version is still `job.version`, writing the
    /// changed and new transition rows in the same transaction. Returns the stored job (version
    /// incremented), or nil if someone else changed the job first (re-read and decide again).
    public func replace(_ job: TrainingJob) throws(JobStoreError) -> TrainingJob? {
        try replace(job, previous: nil)
    }

    /// `replace`, given the job as it was read at `job.version`: only what differs from it is
    /// written. A status change then writes a dozen scalar columns, not the spec, the request echo
    /// and the final metrics re-encoded as JSON (5.8% of a burst of simulated jobs in a profile),
    /// and the stored transitions need not be read back.
    func replace(_ job: TrainingJob, previous: TrainingJob?) throws(JobStoreError) -> TrainingJob? {
        let result = try write { db throws(JobStoreError) in try Self.write(db, job, previous: previous) }
        if let result {
            cache.remember(result)
            notify(JobChange(jobID: result.id, status: result.status, version: result.version))
        }
        return result
    }

    /// The UPDATE of `replace`, inside the caller's transaction.
    private static func write(_ db: StoreDatabase, _ job: TrainingJob, previous: TrainingJob?) throws(JobStoreError) -> TrainingJob? {
        // Only the columns whose value changed: SQLite rewrites the entries of every index on a
        // column the SET names, changed or not, and a status change leaves `status` and
        // `created_at_ms` (three of the four indexes) as they were.
        var columns: [String] = []
        var values: [any SQLiteBindable] = []
        let current = JobRow.statusValues(of: job)
        let before = previous.map { JobRow.statusValues(of: $0) }
        for (index, column) in JobRow.statusColumns.enumerated() where before?[index].sqliteValue != current[index].sqliteValue {
            columns.append(column)
            values.append(current[index])
        }
        if previous?.spec != job.spec {
            columns.append("spec_json")
            values.append(job.spec.storedJSON)
        }
        if previous?.requestEcho != job.requestEcho {
            columns.append("request_echo_json")
            values.append(job.requestEcho)
        }
        if previous?.finalMetrics != job.finalMetrics {
            columns.append("final_metrics_json")
            values.append(try JobRow.encoded(job.finalMetrics))
        }
        let assignments = (columns.map { "\($0) = ?" } + ["version = version + 1"]).joined(separator: ", ")
        try db.run(
            "UPDATE training_jobs SET \(assignments) WHERE id = ? AND version = ?",
            values + [job.id, job.version])
        guard db.changes == 1 else { return nil }
        // The version matched, so `previous` is what is stored.
        let storedTransitions = if let previous { previous.transitions } else { try JobRow.transitions(db, jobID: job.id) }
        for (seq, transition) in job.transitions.enumerated() where seq < storedTransitions.count {
            if storedTransitions[seq] != transition {
                try db.run(
                    "UPDATE training_job_transitions SET status = ?, started_at_ms = ?, ended_at_ms = ?, message = ? WHERE job_id = ? AND seq = ?",
                    [transition.status.rawValue, transition.startTime.milliseconds, transition.endTime?.milliseconds,
                     transition.message, job.id, seq])
            }
        }
        try JobRow.insertTransitions(db, jobID: job.id, transitions: job.transitions, from: storedTransitions.count)
        var stored = job
        stored.version += 1
        return stored
    }

    /// DeleteTrainingJob: removes a Completed, Failed or Stopped job with its transitions and tags;
    /// the name is free again afterwards (API DeleteTrainingJob).
    public func delete(account: String, name: String) throws(JobStoreError) {
        let id = try write { db throws(JobStoreError) -> Int64 in
            guard let job = try JobRow.select(db, where: "account_id = ? AND name = ?", [account, name], cache: cache).first else {
                throw .notFound
            }
            guard job.status.isTerminal else { throw .notTerminal(job.status) }
            try db.run("DELETE FROM training_jobs WHERE id = ? AND version = ?", [job.id, job.version])
            return job.id
        }
        notify(JobChange(jobID: id, status: nil))
    }

    /// Number of jobs by status (for /metrics).
    public func countsByStatus() throws(JobStoreError) -> [TrainingJobStatus: Int] {
        try withDatabase { db throws(JobStoreError) in
            let statement = try db.prepare("SELECT status, count(*) FROM training_jobs GROUP BY status")
            defer { statement.reset() }
            var counts: [TrainingJobStatus: Int] = [:]
            while try statement.step() {
                if let status = TrainingJobStatus(rawValue: statement.string(0)) {
                    counts[status] = Int(statement.int64(1))
                }
            }
            return counts
        }
    }

    static func selectARN(_ db: StoreDatabase, account: String, name: String) throws(JobStoreError) -> String? {
        let statement = try db.prepare("SELECT arn FROM training_jobs WHERE account_id = ? AND name = ?")
        defer { statement.reset() }
        try statement.bind([account, name])
        return try statement.step() ? statement.string(0) : nil
    }
}

extension JobStore {
    /// Read-modify-write with compare-and-set: `change` gets the current job and returns the changed
    /// job, or nil to leave it as is. If another writer got in between, it runs again on the fresh
    /// job. Returns the stored job, or nil when there is no such job or `change` declined.
    /// A transition `change` refuses (TrainingCore's LifecycleError) comes back as `.rejected`.
    @discardableResult
    public func update(
        id: Int64, attempts: Int = 8, _ change: (TrainingJob) throws(LifecycleError) -> TrainingJob?
    ) throws(JobStoreError) -> TrainingJob? {
        for _ in 0..<attempts {
            guard let current = try job(id: id) else { return nil }
            let proposed: TrainingJob?
            do {
                proposed = try change(current)
            } catch {
                throw .rejected(error)
            }
            guard let changed = proposed else { return nil }
            if changed == current { return current }
            if let stored = try replace(changed, previous: current) { return stored }
        }
        throw JobStoreError.database("job \(id) kept changing under \(attempts) attempts to update it")
    }

    /// Several jobs' `update`s in one transaction (the scheduler commits its steps' status changes
    /// together: one BEGIN…COMMIT for many jobs instead of one each). Holding the write lock, each
    /// change sees its job as stored, so no compare-and-set retry is needed. A change that refuses
    /// its transition gets `.rejected` without affecting the others; a database error fails them all.
    public func update(
        batch: [(id: Int64, change: (TrainingJob) throws(LifecycleError) -> TrainingJob?)]
    ) throws(JobStoreError) -> [Result<TrainingJob?, JobStoreError>] {
        guard !batch.isEmpty else { return [] }
        let (results, written) = try write { db throws(JobStoreError) -> ([Result<TrainingJob?, JobStoreError>], [TrainingJob]) in
            var written: [TrainingJob] = []
            var results: [Result<TrainingJob?, JobStoreError>] = []
            results.reserveCapacity(batch.count)
            for (id, change) in batch {
                guard let current = try Self.current(db, id: id, cache: cache) else {
                    results.append(.success(nil))
                    continue
                }
                let proposed: TrainingJob?
                do throws(LifecycleError) {
                    proposed = try change(current)
                } catch {
                    results.append(.failure(.rejected(error)))
                    continue
                }
                guard let changed = proposed, changed != current else {
                    results.append(.success(proposed == nil ? nil : current))
                    continue
                }
                let stored = try Self.write(db, changed, previous: current)
                if let stored { written.append(stored) }
                results.append(.success(stored))
            }
            return (results, written)
        }
        // Committed: now the cache may know them.
        for job in written {
            cache.remember(job)
            notify(JobChange(jobID: job.id, status: job.status, version: job.version))
        }
        return results
    }
}

extension JobStore {
    /// The job as stored now, inside a write transaction: the cached job when the stored version
    /// is the one it was committed at (one integer read instead of a row and its JSON), otherwise
    /// the row. Reading each job whole was a fifth of the scheduler's status-change batches.
    private static func current(_ db: StoreDatabase, id: Int64, cache: JobCache) throws(JobStoreError) -> TrainingJob? {
        guard let version = try db.scalarInt("SELECT version FROM training_jobs WHERE id = ?", [id]) else { return nil }
        if let known = cache.committed(jobID: id, version: version) { return known }
        return try JobRow.select(db, where: "id = ?", [id], cache: cache).first
    }

    /// `jobs(ids:)`, except that a job whose version is given and cached as committed at that
    /// version is not read again. The scheduler knows each job's latest version from the change
    /// feed (`JobChange.version`), and reading the jobs it decides for was a tenth of its work.
    public func jobs(ids: some Collection<Int64>, knownVersions: [Int64: Int64]) throws(JobStoreError) -> [TrainingJob] {
        var jobs: [TrainingJob] = []
        var unknown: [Int64] = []
        for id in ids {
            if let version = knownVersions[id], let known = cache.committed(jobID: id, version: version) {
                jobs.append(known)
            } else {
                unknown.append(id)
            }
        }
        return unknown.isEmpty ? jobs : jobs + (try self.jobs(ids: unknown))
    }

    /// The jobs with these ids that still exist (in no particular order), read in batches.
    public func jobs(ids: some Collection<Int64>) throws(JobStoreError) -> [TrainingJob] {
        let all = Array(ids)
        var jobs: [TrainingJob] = []
        jobs.reserveCapacity(all.count)
        // SQLite limits bound parameters per statement; 500 keeps each query small and cacheable.
        for start in stride(from: 0, to: all.count, by: 500) {
            let chunk = Array(all[start..<min(start + 500, all.count)])
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            jobs += try read(on: .writer) { db throws(JobStoreError) in
                try JobRow.select(db, where: "id IN (\(placeholders))", chunk, cache: cache)
            }
        }
        return jobs
    }
}

extension JobStore {
    /// For a concurrency limit across the server: how many active jobs have started training
    /// (hold a slot), and how many not-yet-started InProgress jobs were created before `job`
    /// (are ahead of it in the queue).
    public func slotUsage(ahead job: TrainingJob) throws(JobStoreError) -> (started: Int, waitingAhead: Int) {
        try withDatabase { db throws(JobStoreError) in
            let started = try db.scalarInt(
                "SELECT count(*) FROM training_jobs WHERE status IN ('InProgress', 'Stopping') AND training_started_at_ms IS NOT NULL") ?? 0
            let ahead = try db.scalarInt(
                """
                SELECT count(*) FROM training_jobs WHERE status = 'InProgress' AND training_started_at_ms IS NULL
                    AND (created_at_ms, id) < (?, ?)
                """, [job.creationTime.milliseconds, job.id]) ?? 0
            return (Int(started), Int(ahead))
        }
    }
}

extension JobStore {
    /// Ids of every InProgress or Stopping job (the scheduler's full pass), oldest first.
    public func activeJobIDs() throws(JobStoreError) -> [Int64] {
        try withDatabase { db throws(JobStoreError) in
            let statement = try db.prepare("SELECT id FROM training_jobs WHERE status IN ('InProgress', 'Stopping') ORDER BY id")
            defer { statement.reset() }
            var ids: [Int64] = []
            while try statement.step() { ids.append(statement.int64(0)) }
            return ids
        }
    }
}
