import SQLite
import Synchronization

/// The connections to Trainyard's one database file, shared by the stores that keep their tables
/// in it (JobStore, LogStore): one read-write connection for the process, serialised by a mutex
/// (GRDB's "connect to any database file only once"), and a pool of read-only ones for API reads.
final class StoreConnections: Sendable {
    private let writer: Mutex<Database>
    /// API reads; nil for an in-memory database, which a second connection cannot see.
    private let readers: ReadConnections?

    init(writer: sending Database, readers: ReadConnections?) {
        self.writer = Mutex(writer)
        self.readers = readers
    }

    /// Runs `body` with the read-write connection held. Errors from SQLite become `JobStoreError.database`.
    func withWriter<T: Sendable>(_ body: (Database) throws -> T) throws(JobStoreError) -> T {
        do {
            return try writer.withLock { db in try body(db) }
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Runs `body` on a read-only connection (see ReadConnections): for reads that need not see
    /// the writer's uncommitted work, i.e. every API read. Falls back to the read-write connection
    /// for an in-memory database.
    func withReader<T: Sendable>(_ body: (Database) throws -> T) throws(JobStoreError) -> T {
        guard let readers else { return try withWriter(body) }
        do {
            return try readers.withConnection(body)
        } catch {
            throw Self.storeError(error)
        }
    }

    private static func storeError(_ error: any Error) -> JobStoreError {
        switch error {
        case let error as JobStoreError: error
        case let error as SQLiteError: .database(error.description)
        default: .database("\(error)")
        }
    }
}
