import SQLite
import Synchronization
public import TrainingCore

/// A ListTrainingJobs query: filters are applied before paging (reference api-fidelity §2: filtering
/// first is what every client expects; following NextToken yields exactly the matching jobs).
public struct JobQuery: Sendable, Equatable {
    public enum SortKey: String, Sendable, Codable { case name = "Name", creationTime = "CreationTime", status = "Status" }

    public var account: String
    /// Case-insensitive substring of the name (SQLite LIKE is case-insensitive for ASCII, and names are ASCII).
    public var nameContains: String?
    public var statusEquals: TrainingJobStatus?
    /// Strict bounds, as SageMaker's "After"/"Before".
    public var creationTimeAfter: Timestamp?
    public var creationTimeBefore: Timestamp?
    public var lastModifiedTimeAfter: Timestamp?
    public var lastModifiedTimeBefore: Timestamp?
    public var sortBy: SortKey
    public var ascending: Bool
    public var limit: Int
    /// Continue after this position (from the previous page's last job).
    public var after: JobCursor?

    public init(
        account: String, nameContains: String? = nil, statusEquals: TrainingJobStatus? = nil,
        creationTimeAfter: Timestamp? = nil, creationTimeBefore: Timestamp? = nil,
        lastModifiedTimeAfter: Timestamp? = nil, lastModifiedTimeBefore: Timestamp? = nil,
        sortBy: SortKey = .creationTime, ascending: Bool = true, limit: Int = 10, after: JobCursor? = nil
    ) {
        self.account = account
        self.nameContains = nameContains
        self.statusEquals = statusEquals
        self.creationTimeAfter = creationTimeAfter
        self.creationTimeBefore = creationTimeBefore
        self.lastModifiedTimeAfter = lastModifiedTimeAfter
        self.lastModifiedTimeBefore = lastModifiedTimeBefore
        self.sortBy = sortBy
        self.ascending = ascending
        self.limit = limit
        self.after = after
    }
}

/// A position in a sorted listing. Every sort ends with the name, unique within an account, so the
/// order is total and pages never repeat or skip a job.
public struct JobCursor: Sendable, Equatable, Codable {
    public var status: String
    public var createdAtMilliseconds: Int64
    public var name: String
    public init(status: String, createdAtMilliseconds: Int64, name: String) {
        self.status = status
        self.createdAtMilliseconds = createdAtMilliseconds
        self.name = name
    }
}

/// A `TrainingJobSummary`.
public struct JobSummary: Sendable, Equatable {
    public var name: String
    public var arn: String
    public var creationTime: Timestamp
    public var trainingEndTime: Timestamp?
    public var lastModifiedTime: Timestamp
    public var status: TrainingJobStatus
    public var secondaryStatus: SecondaryStatus

    public var cursor: JobCursor {
        JobCursor(status: status.rawValue, createdAtMilliseconds: creationTime.milliseconds, name: name)
    }
}

extension JobStore {
    /// One page of summaries and whether more jobs match after it.
    public func list(_ query: JobQuery) throws(JobStoreError) -> (jobs: [JobSummary], hasMore: Bool) {
        var conditions = ["account_id = ?"]
        var arguments: [any SQLiteBindable] = [query.account]
        var table = "training_jobs"
        if let fragment = query.nameContains, !fragment.isEmpty {
            let pattern = "%" + Self.escapeLike(fragment) + "%"
            conditions.append("name LIKE ? ESCAPE '\\'")
            arguments.append(pattern)
            if let ids = try idsOfRareFragment(fragment, pattern: pattern) {
                // Few jobs match: fetch exactly those by id and sort them, rather than walk the
                // ordered index through every job to find them. NOT INDEXED keeps SQLite from
                // walking the ordered index anyway (it still looks rows up by id).
                table = "training_jobs NOT INDEXED"
                conditions.append("id IN (SELECT value FROM json_each(?))")
                arguments.append("[" + ids.map(String.init).joined(separator: ",") + "]")
            }
        }
        if let status = query.statusEquals {
            conditions.append("status = ?")
            arguments.append(status.rawValue)
        }
        if let t = query.creationTimeAfter { conditions.append("created_at_ms > ?"); arguments.append(t.milliseconds) }
        if let t = query.creationTimeBefore { conditions.append("created_at_ms < ?"); arguments.append(t.milliseconds) }
        if let t = query.lastModifiedTimeAfter { conditions.append("last_modified_at_ms > ?"); arguments.append(t.milliseconds) }
        if let t = query.lastModifiedTimeBefore { conditions.append("last_modified_at_ms < ?"); arguments.append(t.milliseconds) }

        let keyColumns: [String]
        let cursorValues: [any SQLiteBindable]
        switch query.sortBy {
        case .name:
            keyColumns = ["name"]
            cursorValues = query.after.map { [$0.name] } ?? []
        case .creationTime:
            keyColumns = ["created_at_ms", "name"]
            cursorValues = query.after.map { [$0.createdAtMilliseconds, $0.name] } ?? []
        case .status:
            keyColumns = ["status", "created_at_ms", "name"]
            cursorValues = query.after.map { [$0.status, $0.createdAtMilliseconds, $0.name] } ?? []
        }
        let direction = query.ascending ? "ASC" : "DESC"
        if query.after != nil {
            // Row-value comparison: the keyset continues strictly after the cursor.
            let placeholders = Array(repeating: "?", count: keyColumns.count).joined(separator: ", ")
            conditions.append("(\(keyColumns.joined(separator: ", "))) \(query.ascending ? ">" : "<") (\(placeholders))")
            arguments += cursorValues
        }
        let sql = """
            SELECT name, arn, created_at_ms, training_ended_at_ms, last_modified_at_ms, status, secondary_status
            FROM \(table) WHERE \(conditions.joined(separator: " AND "))
            ORDER BY \(keyColumns.map { "\($0) \(direction)" }.joined(separator: ", "))
            LIMIT ?
            """
        arguments.append(query.limit + 1)
        let rows = try withReader { db throws(JobStoreError) -> [JobSummary] in
            let statement = try db.prepare(sql)
            defer { statement.reset() }
            try statement.bind(arguments)
            var rows: [JobSummary] = []
            while try statement.step() {
                guard let status = TrainingJobStatus(rawValue: statement.string(5)),
                    let secondary = SecondaryStatus(rawValue: statement.string(6))
                else { continue }
                rows.append(
                    JobSummary(
                        name: statement.string(0), arn: statement.string(1),
                        creationTime: Timestamp(milliseconds: statement.int64(2)),
                        trainingEndTime: statement.optionalInt64(3).map(Timestamp.init(milliseconds:)),
                        lastModifiedTime: Timestamp(milliseconds: statement.int64(4)),
                        status: status, secondaryStatus: secondary))
            }
            return rows
        }
        let hasMore = rows.count > query.limit
        return (Array(rows.prefix(query.limit)), hasMore)
    }

    /// Fragments matching at most this many jobs (in all accounts) are looked up through the
    /// trigram index; more common ones are found fastest by walking the ordered index, which
    /// stops after one page of matches.
    static let rareFragmentMatches = 500

    /// The ids of the jobs (in any account) whose names contain `fragment` when there are at most
    /// ``rareFragmentMatches`` of them; nil when there are more, or for fragments under 3
    /// characters, which a trigram index cannot answer.
    ///
    /// Indexed jobs come from the trigram index (migrations 0003, 0004) by a phrase MATCH: consecutive
    /// trigrams at consecutive positions are exactly the names containing the fragment
    /// (case-folded, as LIKE folds ASCII), decided from the index alone, where `LIKE` would re-read
    /// every candidate's name from training_jobs (~3 µs each). Jobs not indexed yet (created since
    /// the last `indexNewJobNames`) are few and are read directly. The main query still applies
    /// `name LIKE`.
    /// `pattern` is the fragment as `list` passes it to `LIKE ... ESCAPE '\\'`.
    private func idsOfRareFragment(_ fragment: String, pattern: String) throws(JobStoreError) -> [Int64]? {
        guard fragment.count >= 3 else { return nil }
        // An FTS5 string: in double quotes, a double quote inside doubled.
        let phrase = "\"" + fragment.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
        let limit = Self.rareFragmentMatches
        return try read { db throws(JobStoreError) -> [Int64]? in
            var ids = try db.query(
                "SELECT rowid FROM training_job_names WHERE training_job_names MATCH ? LIMIT ?", [phrase, limit + 1]
            ) { $0.int64(0) }
            guard ids.count <= limit else { return nil }
            ids += try db.query(
                """
                SELECT id FROM training_jobs
                WHERE id > (SELECT indexed_up_to FROM training_job_names_progress) AND name LIKE ? ESCAPE '\\'
                LIMIT ?
                """, [pattern, limit + 1 - ids.count]
            ) { $0.int64(0) }
            return ids.count <= limit ? ids : nil
        }
    }

    /// Adds the names of jobs created since the last call to the trigram index (up to `batch` of
    /// them; returns how many). Cheap when there are none. Called about once a second by the server
    /// and at start-up; correctness never depends on it (ListTrainingJobs reads unindexed jobs
    /// directly), only the cost of a rare NameContains does.
    @discardableResult
    public func indexNewJobNames(batch: Int = 20_000) throws(JobStoreError) -> Int {
        guard jobNamesMayNeedIndexing.exchange(false, ordering: .acquiringAndReleasing) else { return 0 }
        let indexed: Int
        do {
            indexed = try indexJobNames(batch: batch)
        } catch {
            jobNamesMayNeedIndexing.store(true, ordering: .releasing)  // try again next time
            throw error
        }
        // A full batch may have left more behind.
        if indexed >= batch { jobNamesMayNeedIndexing.store(true, ordering: .releasing) }
        return indexed
    }

    /// Jobs whose names the trigram index does not hold yet (for /metrics: how far behind it is).
    public func jobNamesNotIndexed() throws(JobStoreError) -> Int {
        try withReader { db throws(JobStoreError) -> Int in
            Int(
                try db.scalarInt(
                    "SELECT count(*) FROM training_jobs WHERE id > (SELECT indexed_up_to FROM training_job_names_progress)")
                    ?? 0)
        }
    }

    private func indexJobNames(batch: Int) throws(JobStoreError) -> Int {
        try write { db throws(JobStoreError) -> Int in
            let upTo = try db.scalarInt("SELECT indexed_up_to FROM training_job_names_progress") ?? 0
            let next = try db.queryOne(
                "SELECT max(id), count(*) FROM (SELECT id FROM training_jobs WHERE id > ? ORDER BY id LIMIT ?)",
                [upTo, batch]
            ) { (newest: $0.optionalInt64(0), count: Int($0.int64(1))) }
            guard let next, let newest = next.newest else { return 0 }
            try db.run(
                "INSERT INTO training_job_names (rowid, name) SELECT id, name FROM training_jobs WHERE id > ? AND id <= ?",
                [upTo, newest])
            try db.run("UPDATE training_job_names_progress SET indexed_up_to = ?", [newest])
            return next.count
        }
    }

    static func escapeLike(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
