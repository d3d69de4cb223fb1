import Foundation
public import SQLite
public import TrainingCore
import Synchronization

/// Training jobs in SQLite (DESIGN §6). One connection for the process, serialised by a mutex
/// (GRDB's "connect to any database file only once"); every change is one `BEGIN IMMEDIATE`
/// transaction, and every status change a compare-and-set on the job's `version` together with
/// its transition rows.
public final class JobStore: Sendable, StoreConnectionsOwner {
    /// The connections, shared with `logs` (one database file, one writer).
    let connections: StoreConnections
    /// Container log streams and events, in the same database (LogStore).
    public let logs: LogStore
    private let observers = Mutex<[@Sendable (JobChange) -> Void]>([])
    /// Specs already read, and jobs as last committed (JobCache).
    let cache = JobCache()
    /// Set by every create (and at start-up): `indexNewJobNames` has work to do.
    let jobNamesMayNeedIndexing = Atomic<Bool>(true)
    public let path: String

    /// Opens (creating if needed) the database at `path` and applies the embedded migrations.
    /// Throws `JobStoreError.schemaTooNew` for a database written by a newer Trainyard.
    public init(path: String) throws(JobStoreError) {
        self.path = path
        let db: Database
        do {
            db = try Database(path: path)
        } catch {
            throw JobStoreError.cannotOpen(path: path, message: error.message)
        }
        do {
            try Migrator(migrations: JobStore.migrations).migrate(db)
        } catch let error {
            if case .databaseNewerThanCode = error { throw JobStoreError.schemaTooNew(error.description) }
            throw JobStoreError.migrationFailed(error.description)
        }
        self.connections = StoreConnections(
            writer: db, readers: path == ":memory:" || path.isEmpty ? nil : ReadConnections(path: path))
        self.logs = LogStore(connections: connections)
    }

    /// The schema, from Migrations/*.sql (embedded at build time by the EmbedMigrations plugin).
    public static var migrations: [Migration] {
        embeddedMigrations.map { Migration(version: $0.version, name: $0.name, sql: $0.sql) }
    }

    /// Called after every committed change (the scheduler's nudge).
    public func observeChanges(_ observer: @escaping @Sendable (JobChange) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    func notify(_ change: JobChange) {
        for observer in observers.withLock({ $0 }) { observer(change) }
    }

    /// `PRAGMA integrity_check`: "ok" for a healthy file.
    public func integrityCheck() throws(JobStoreError) -> String {
        try withDatabase { db throws(JobStoreError) in
            let statement = try db.prepare("PRAGMA integrity_check")
            defer { statement.reset() }
            return try statement.step() ? statement.string(0) : "no result"
        }
    }

    /// Bytes the database occupies (page_count × page_size), for /metrics and benchmarks.
    public func sizeInBytes() throws(JobStoreError) -> Int64 {
        try withDatabase { db throws(JobStoreError) in
            let pages = try db.scalarInt("PRAGMA page_count") ?? 0
            let size = try db.scalarInt("PRAGMA page_size") ?? 0
            return pages * size
        }
    }

    /// A value that must outlive restarts, created once by `make` (e.g. a signing key).
    public func setting(_ key: String, orCreate make: () -> String) throws(JobStoreError) -> String {
        try write { db throws(JobStoreError) in
            let select = try db.prepare("SELECT value FROM server_settings WHERE key = ?")
            defer { select.reset() }
            try select.bind([key])
            if try select.step() { return select.string(0) }
            let value = make()
            try db.run("INSERT INTO server_settings (key, value) VALUES (?, ?)", [key, value])
            return value
        }
    }
}

/// A committed change to a job: its id, and its status and version afterwards (nil once deleted).
/// With the version, a reader that kept the job as it was committed (`jobs(ids:knownVersions:)`)
/// need not read it again.
public struct JobChange: Sendable, Equatable {
    public var jobID: Int64
    public var status: TrainingJobStatus?
    public var version: Int64?
    public init(jobID: Int64, status: TrainingJobStatus?, version: Int64? = nil) {
        self.jobID = jobID
        self.status = status
        self.version = version
    }
}

public enum JobStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, message: String)
    case schemaTooNew(String)
    case migrationFailed(String)
    /// CreateTrainingJob with a name the account already uses (carries the existing job's ARN).
    case nameInUse(arn: String)
    /// CreateTrainingJob that would exceed the account's quota of its instance type.
    case instanceQuotaExceeded(InstanceQuotaExceeded)
    case notFound
    /// DeleteTrainingJob of a job that has not ended.
    case notTerminal(TrainingJobStatus)
    /// AddTags would exceed the per-resource tag limit.
    case tooManyTags(limit: Int)
    /// `update`'s change refused the transition (e.g. StopTrainingJob of a job not InProgress).
    case rejected(LifecycleError)
    case database(String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let message): "cannot open the job database at \(path): \(message)"
        case .schemaTooNew(let message): message
        case .migrationFailed(let message): "cannot migrate the job database: \(message)"
        case .nameInUse(let arn): "a training job with this name already exists (\(arn))"
        case .instanceQuotaExceeded(let refusal):
            "the quota of \(refusal.instanceType) is \(refusal.limit) instances, \(refusal.currentUtilization) are in use and \(refusal.requestDelta) more were asked for"
        case .notFound: "no such training job"
        case .notTerminal(let status): "the training job is in status \(status.rawValue)"
        case .tooManyTags(let limit): "more than \(limit) tags"
        case .rejected(let error): "transition refused: \(error)"
        case .database(let message): "database error: \(message)"
        }
    }
}

extension JobStoreError: SQLiteErrorConvertible {
    /// The one place where a SQLite failure becomes a JobStoreError: every SQL call of the store
    /// (through `StoreDatabase`) and every BEGIN/COMMIT of its transactions comes here.
    public init(sqlite error: SQLiteError) {
        self = .database(error.description)
    }
}

extension JobStore {
    /// A cheap round trip through the connection, for /health.
    public func ping() throws(JobStoreError) {
        _ = try withDatabase { db throws(JobStoreError) in try db.scalarInt("SELECT 1") }
    }

    /// Commits a one-row write, for /health: a database that can be read but not written (disk
    /// full, file made read-only, I/O errors) must not report ready (issue 12). The row lives in
    /// `server_settings`, so the probe needs no table of its own.
    public func probeWrite(now: Timestamp) throws(JobStoreError) {
        try write { db throws(JobStoreError) in
            try db.run(
                "INSERT INTO server_settings (key, value) VALUES ('health.write_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [String(now.milliseconds)])
        }
    }
}
