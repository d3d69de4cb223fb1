import Foundation
import SQLite
import Synchronization
import TrainingCore

/// Mapping between `TrainingJob` and the `training_jobs` / `training_job_transitions` rows.
enum JobRow {
    static let columns = """
        id, account_id, name, arn, status, secondary_status, failure_reason, created_at_ms,
        last_modified_at_ms, training_started_at_ms, training_ended_at_ms, stop_reason,
        sigterm_sent_at_ms, sigkill_sent_at_ms, exit_code, oom_killed, spec_json,
        request_echo_json, final_metrics_json, version
        """

    /// The values of every column after `arn`, in table order (INSERT).
    static func mutableValues(of job: TrainingJob) throws(JobStoreError) -> [any SQLiteBindable] {
        statusValues(of: job) + [job.spec.storedJSON, job.requestEcho, try encoded(job.finalMetrics)]
    }

    /// The columns a status change writes (`status` … `oom_killed`), as `statusValues` gives them.
    static let statusColumns = [
        "status", "secondary_status", "failure_reason", "created_at_ms", "last_modified_at_ms",
        "training_started_at_ms", "training_ended_at_ms", "stop_reason", "sigterm_sent_at_ms",
        "sigkill_sent_at_ms", "exit_code", "oom_killed",
    ]

    static func statusValues(of job: TrainingJob) -> [any SQLiteBindable] {
        [
            job.status.rawValue, job.secondaryStatus.rawValue, job.failureReason,
            job.creationTime.milliseconds, job.lastModifiedTime.milliseconds,
            job.trainingStartTime?.milliseconds, job.trainingEndTime?.milliseconds,
            job.stopReason?.rawValue, job.sigtermSentTime?.milliseconds, job.sigkillSentTime?.milliseconds,
            job.exit.map { Int64($0.exitCode) }, job.exit.map { $0.oomKilled ? Int64(1) : Int64(0) },
        ]
    }

    /// A job's final metrics as stored, keys sorted (the same value always gives the same text).
    /// None, every job's until it ends, is `[]` without an encoder.
    static func encoded(_ metrics: [MetricValue]) throws(JobStoreError) -> String {
        guard !metrics.isEmpty else { return "[]" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        do {
            return String(decoding: try encoder.encode(metrics), as: UTF8.self)
        } catch {
            throw .database("\(error)")
        }
    }

    /// A JSON column's value; one that does not decode is a database error.
    static func decoded<T: Decodable>(_ type: T.Type, from text: String, with decoder: JSONDecoder) throws(JobStoreError) -> T {
        do {
            return try decoder.decode(type, from: Data(text.utf8))
        } catch {
            throw .database("\(error)")
        }
    }

    static func select(
        _ db: StoreDatabase, where condition: String, _ arguments: [any SQLiteBindable], orderBy: String? = nil,
        cache: JobCache
    ) throws(JobStoreError) -> [TrainingJob] {
        var sql = "SELECT \(columns) FROM training_jobs WHERE \(condition)"
        if let orderBy { sql += " ORDER BY \(orderBy)" }
        let statement = try db.prepare(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        var jobs: [TrainingJob] = []
        let decoder = JSONDecoder()
        while try statement.step() {
            jobs.append(try job(from: statement.statement, decoder: decoder, cache: cache))
        }
        for index in jobs.indices {
            let job = jobs[index]
            if let known = cache.transitions(jobID: job.id, version: job.version) {
                jobs[index].transitions = known
            } else {
                jobs[index].transitions = try transitions(db, jobID: job.id)
            }
        }
        return jobs
    }

    private static func job(from row: Statement, decoder: JSONDecoder, cache: JobCache) throws(JobStoreError) -> TrainingJob {
        func time(_ column: Int32) -> Timestamp? { row.optionalInt64(column).map(Timestamp.init(milliseconds:)) }
        guard let status = TrainingJobStatus(rawValue: row.string(4)),
            let secondary = SecondaryStatus(rawValue: row.string(5))
        else {
            throw .database("job \(row.int64(0)) has an unknown status \(row.string(4))/\(row.string(5))")
        }
        let exit = row.optionalInt64(14).map {
            ContainerOutcome(exitCode: Int($0), oomKilled: row.optionalInt64(15) == 1)
        }
        return TrainingJob(
            id: row.int64(0), account: row.string(1), name: row.string(2), arn: row.string(3),
            status: status, secondaryStatus: secondary, failureReason: row.optionalString(6),
            creationTime: Timestamp(milliseconds: row.int64(7)), lastModifiedTime: Timestamp(milliseconds: row.int64(8)),
            trainingStartTime: time(9), trainingEndTime: time(10),
            transitions: [],
            spec: try cache.spec(jobID: row.int64(0)) { () throws(JobStoreError) in
                try decoded(TrainingJobSpec.self, from: row.string(16), with: decoder)
            },
            requestEcho: row.string(17),
            stopReason: row.optionalString(11).flatMap(StopReason.init(rawValue:)),
            sigtermSentTime: time(12), sigkillSentTime: time(13), exit: exit,
            finalMetrics: row.string(18) == "[]" ? [] : try decoded([MetricValue].self, from: row.string(18), with: decoder),
            version: row.int64(19))
    }

    static func transitions(_ db: StoreDatabase, jobID: Int64) throws(JobStoreError) -> [StatusTransition] {
        let statement = try db.prepare(
            "SELECT status, started_at_ms, ended_at_ms, message FROM training_job_transitions WHERE job_id = ? ORDER BY seq")
        defer { statement.reset() }
        try statement.bind([jobID])
        var transitions: [StatusTransition] = []
        while try statement.step() {
            guard let status = SecondaryStatus(rawValue: statement.string(0)) else {
                throw .database("job \(jobID) has an unknown transition status \(statement.string(0))")
            }
            transitions.append(
                StatusTransition(
                    status: status, startTime: Timestamp(milliseconds: statement.int64(1)),
                    endTime: statement.optionalInt64(2).map(Timestamp.init(milliseconds:)), message: statement.string(3)))
        }
        return transitions
    }

    static func insertTransitions(_ db: StoreDatabase, jobID: Int64, transitions: [StatusTransition], from start: Int) throws(JobStoreError) {
        for seq in transitions.indices where seq >= start {
            let transition = transitions[seq]
            try db.run(
                "INSERT INTO training_job_transitions (job_id, seq, status, started_at_ms, ended_at_ms, message) VALUES (?, ?, ?, ?, ?, ?)",
                [jobID, seq, transition.status.rawValue, transition.startTime.milliseconds,
                 transition.endTime?.milliseconds, transition.message])
        }
    }
}

/// What the store knows of a job without reading it again, by job id: its spec (decoded
/// `spec_json`) and the job as last committed, with its version.
///
/// A job's spec never changes after Create and ids are never reused, so a cached spec is always
/// right; decoding it was the largest cost of a Describe. The rest of a job changes, but every
/// stored change increments its `version`: a job cached at the version a row (or a change
/// notification) shows is the job stored with it. Only jobs as committed are remembered (after
/// Create and after each change), so a rolled-back change never shows; a read that misses reads
/// the rows. Reading the transitions was a query per job read, eight per job in a burst of
/// simulated jobs.
final class JobCache: Sendable {
    private struct Entry {
        var spec: TrainingJobSpec?
        var committed: TrainingJob?
    }

    /// Two generations: lookups see both, inserts go to `recent`, and when `recent` is full it
    /// becomes `older` (the previous `older` is dropped). Starting over from empty instead lost
    /// the specs of a burst's queued jobs whenever more than `capacity` were waiting, and the
    /// scheduler then decoded each of them again (2.5% of a burst of simulated jobs).
    private struct Generations {
        var recent: [Int64: Entry] = [:]
        var older: [Int64: Entry] = [:]

        func entry(_ jobID: Int64) -> Entry? { recent[jobID] ?? older[jobID] }

        mutating func change(_ jobID: Int64, _ body: (inout Entry) -> Void) {
            var entry = recent[jobID] ?? older[jobID] ?? Entry()
            body(&entry)
            if recent[jobID] == nil, recent.count >= JobCache.capacity {
                older = recent
                recent = [:]
                recent.reserveCapacity(JobCache.capacity)
            }
            recent[jobID] = entry
        }
    }

    private let entries = Mutex(Generations())
    /// Bounds memory: at most twice this many jobs are held.
    static let capacity = 8192

    func spec(jobID: Int64, decode: () throws(JobStoreError) -> TrainingJobSpec) throws(JobStoreError) -> TrainingJobSpec {
        if let cached = entries.withLock({ $0.entry(jobID)?.spec }) { return cached }
        let spec = try decode()
        entries.withLock { $0.change(jobID) { $0.spec = spec } }
        return spec
    }

    /// The job's transitions if they are known as of `version`.
    func transitions(jobID: Int64, version: Int64) -> [StatusTransition]? {
        committed(jobID: jobID, version: version)?.transitions
    }

    /// The job as committed at `version`, if that is the version cached.
    func committed(jobID: Int64, version: Int64) -> TrainingJob? {
        entries.withLock { generations in
            guard let known = generations.entry(jobID)?.committed, known.version == version else { return nil }
            return known
        }
    }

    /// A job as just committed (created, or changed to this version). Two changes committed one
    /// after the other may be remembered in the other order: the later version stays.
    func remember(_ job: TrainingJob) {
        entries.withLock { generations in
            generations.change(job.id) { entry in
                if let known = entry.committed, known.version > job.version { return }
                entry = Entry(spec: job.spec, committed: job)
            }
        }
    }
}
