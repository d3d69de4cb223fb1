import SQLite

extension JobStore {
    /// The job's tags in the order they were first added, or nil if there is no such job.
    public func tags(account: String, name: String) throws(JobStoreError) -> [(key: String, value: String)]? {
        try read { db throws(JobStoreError) -> [(key: String, value: String)]? in
            guard let id = try Self.jobID(db, account: account, name: name) else { return nil }
            let statement = try db.prepare("SELECT key, value FROM training_job_tags WHERE job_id = ? ORDER BY position, key")
            defer { statement.reset() }
            try statement.bind([id])
            var tags: [(key: String, value: String)] = []
            while try statement.step() { tags.append((statement.string(0), statement.string(1))) }
            return tags
        }
    }

    /// AddTags "adds or overwrites" (API AddTags): an existing key keeps its position and takes the new value.
    /// Returns the number of tags the job has afterwards; throws `.notFound` for a missing job and
    /// `.tooManyTags` (changing nothing) if the job would end up with more than `limit` tags.
    @discardableResult
    public func addTags(
        account: String, name: String, tags: [(key: String, value: String)], limit: Int = .max
    ) throws(JobStoreError) -> Int {
        try write { db throws(JobStoreError) in
            guard let id = try Self.jobID(db, account: account, name: name) else { throw .notFound }
            var next = try db.scalarInt("SELECT coalesce(max(position) + 1, 0) FROM training_job_tags WHERE job_id = ?", [id]) ?? 0
            for tag in tags {
                try db.run(
                    "INSERT INTO training_job_tags (job_id, key, value, position) VALUES (?, ?, ?, ?) ON CONFLICT (job_id, key) DO UPDATE SET value = excluded.value",
                    [id, tag.key, tag.value, next])
                next += 1
            }
            let count = Int(try db.scalarInt("SELECT count(*) FROM training_job_tags WHERE job_id = ?", [id]) ?? 0)
            if count > limit { throw .tooManyTags(limit: limit) }  // rolls the whole write back
            return count
        }
    }

    /// Removes the given keys (missing keys are ignored); throws `.notFound` for a missing job.
    public func deleteTags(account: String, name: String, keys: [String]) throws(JobStoreError) {
        try write { db throws(JobStoreError) in
            guard let id = try Self.jobID(db, account: account, name: name) else { throw .notFound }
            for key in keys {
                try db.run("DELETE FROM training_job_tags WHERE job_id = ? AND key = ?", [id, key])
            }
        }
    }

    static func jobID(_ db: StoreDatabase, account: String, name: String) throws(JobStoreError) -> Int64? {
        try db.scalarInt("SELECT id FROM training_jobs WHERE account_id = ? AND name = ?", [account, name])
    }
}
