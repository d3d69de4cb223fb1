/// One schema step: `sql` brings the schema from `version - 1` (or any earlier
/// version, if there are gaps) to `version`.
///
/// The SQL runs inside a transaction, so it must not contain BEGIN/COMMIT, and
/// `PRAGMA foreign_keys` has no effect in it (use `PRAGMA defer_foreign_keys = ON`
/// for table rebuilds).
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

public enum MigrationError: Error, Sendable, CustomStringConvertible {
    case databaseNewerThanCode(databaseVersion: Int, newestKnown: Int)
    /// Migration `version` failed and was rolled back; the database stays at the
    /// previous version. (Reading `user_version` itself failing is reported with
    /// version 0 and name "PRAGMA user_version".)
    case failed(version: Int, name: String, underlying: SQLiteError)

    public var description: String {
        switch self {
        case .databaseNewerThanCode(let databaseVersion, let newestKnown):
            "database schema version \(databaseVersion) is newer than this trainyard "
                + "(knows up to \(newestKnown)); upgrade trainyard"
        case .failed(let version, let name, let underlying):
            "migration \(name) (version \(version)) failed and was rolled back: \(underlying)"
        }
    }
}

/// Brings a database's schema up to date, tracking the applied version in
/// `PRAGMA user_version`.
public struct Migrator: Sendable {
    /// Sorted by version.
    public let migrations: [Migration]

    /// `migrations` may come in any order; versions must be unique and positive
    /// (user_version 0 means "nothing applied"). Violations are programming errors:
    /// the EmbedMigrations plugin already rejects them at build time.
    public init(migrations: [Migration]) {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(sorted, sorted.dropFirst()) {
            precondition(
                previous.version != next.version,
                "duplicate migration version \(next.version): \(previous.name) and \(next.name)")
        }
        if let first = sorted.first {
            precondition(first.version > 0, "migration versions start at 1, got \(first.version) (\(first.name))")
        }
        self.migrations = sorted
    }

    /// Convenience for the EmbedMigrations plugin's generated `embeddedMigrations`.
    public init(embedded: [(version: Int, name: String, sql: String)]) {
        self.init(migrations: embedded.map { Migration(version: $0.version, name: $0.name, sql: $0.sql) })
    }

    /// Applies every migration newer than `PRAGMA user_version`, each in its own
    /// BEGIN IMMEDIATE transaction together with `PRAGMA user_version = N`, so a failure
    /// leaves the database exactly at the previous version. Refuses a database whose
    /// user_version is newer than the newest migration. Returns the versions applied.
    ///
    /// Safe against another process migrating the same file concurrently: the version is
    /// re-read under the write lock and a migration already applied there is skipped.
    @discardableResult
    public func migrate(_ db: Database) throws(MigrationError) -> [Int] {
        let newestKnown = migrations.last?.version ?? 0
        let current: Int
        do {
            current = try db.userVersion
        } catch {
            throw .failed(version: 0, name: "PRAGMA user_version", underlying: error)
        }
        guard current <= newestKnown else {
            throw .databaseNewerThanCode(databaseVersion: current, newestKnown: newestKnown)
        }
        var applied: [Int] = []
        for migration in migrations where migration.version > current {
            do throws(SQLiteError) {
                let didApply = try db.write { db throws(SQLiteError) -> Bool in
                    guard try db.userVersion < migration.version else { return false }
                    try db.execute(migration.sql)
                    try db.setUserVersion(migration.version)
                    return true
                }
                if didApply { applied.append(migration.version) }
            } catch {
                throw .failed(version: migration.version, name: migration.name, underlying: error)
            }
        }
        return applied
    }
}
