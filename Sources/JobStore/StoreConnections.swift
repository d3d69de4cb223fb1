import Locking
import SQLite

/// The connections to Trainyard's one database file, shared by the stores that keep their tables
/// in it (JobStore, LogStore): one read-write connection for the process, serialised by a mutex
/// (GRDB's "connect to any database file only once"), and a pool of read-only ones for API reads.
/// Write transactions that arrive while one commits are committed together (GroupCommit).
final class StoreConnections: Sendable {
    /// A pthread mutex, not Synchronization.Mutex: its waiters sleep (Locked says why).
    private let writer: Locked<Database>
    /// Write transactions that arrive together commit together (GroupCommit).
    private let groupCommit = GroupCommit()
    /// API reads; nil for an in-memory database, which a second connection cannot see.
    private let readers: ReadConnections?

    init(writer: sending Database, readers: ReadConnections?) {
        self.writer = Locked(writer)
        self.readers = readers
    }

    /// Runs `body` with the read-write connection held.
    func withWriter<T>(_ body: (StoreDatabase) throws(JobStoreError) -> T) throws(JobStoreError) -> T {
        try writer.withLock { db throws(JobStoreError) in try body(StoreDatabase(db)) }
    }

    /// Runs `body` in a write transaction on the read-write connection and returns once it is
    /// committed; a throw undoes `body`'s work only. Transactions that arrive while another is
    /// committed share the next BEGIN…COMMIT (GroupCommit), each in its own SAVEPOINT.
    func writeTransaction<T>(_ body: (StoreDatabase) throws(JobStoreError) -> T) throws(JobStoreError) -> T {
        var outcome: Result<T, JobStoreError>?
        withoutActuallyEscaping(body) { body in
            // The entry's closures run on the batch leader's thread while this caller waits in
            // `perform`, which returns only after they have run: nothing here outlives the call.
            let entry = GroupCommit.Entry(
                run: { db in outcome = Result { () throws(JobStoreError) in try db.write(body) } },
                commitFailed: { error in outcome = .failure(error) })
            groupCommit.perform(entry) { batch in
                writer.withLock { connection in
                    let db = StoreDatabase(connection)
                    guard batch.count > 1 else { return batch[0].run(db) }
                    do throws(JobStoreError) {
                        // Inside this transaction each entry's `db.write` is a SAVEPOINT.
                        try db.write { db throws(JobStoreError) in for entry in batch { entry.run(db) } }
                    } catch {
                        for entry in batch { entry.commitFailed(error) }
                    }
                }
            }
        }
        guard let outcome else { throw JobStoreError.database("a write transaction was not run") }
        return try outcome.get()
    }

    /// Runs `body` on a read-only connection (see ReadConnections): for reads that need not see
    /// the writer's uncommitted work, i.e. every API read. Falls back to the read-write connection
    /// for an in-memory database.
    func withReader<T>(_ body: (StoreDatabase) throws(JobStoreError) -> T) throws(JobStoreError) -> T {
        guard let readers else { return try withWriter(body) }
        return try readers.withConnection { db throws(JobStoreError) in try body(StoreDatabase(db)) }
    }
}

/// The store's view of a connection: SQL failures arrive as `JobStoreError` (its `init(sqlite:)`),
/// so a transaction body runs SQL and throws the store's own errors under one `throws(JobStoreError)`.
typealias StoreDatabase = TypedDatabase<JobStoreError>
typealias StoreStatement = TypedStatement<JobStoreError>

/// JobStore and LogStore, which keep their tables in the connections' database.
///
/// Swift 6.3 types a closure literal that contains `try` as `throws(any Error)` unless it says
/// otherwise, so each body passed here names its error: `write { db throws(JobStoreError) in … }`.
/// `write` and `read` spare a body the second closure of `withDatabase { db.write { … } }`.
protocol StoreConnectionsOwner {
    var connections: StoreConnections { get }
}

extension StoreConnectionsOwner {
    /// Runs `body` with the read-write connection held (StoreConnections.withWriter).
    func withDatabase<T>(_ body: (StoreDatabase) throws(JobStoreError) -> T) throws(JobStoreError) -> T {
        try connections.withWriter(body)
    }

    /// Runs `body` on a read-only connection (StoreConnections.withReader).
    func withReader<T>(_ body: (StoreDatabase) throws(JobStoreError) -> T) throws(JobStoreError) -> T {
        try connections.withReader(body)
    }

    /// Runs `body` in a write transaction on the read-write connection, maybe committed together
    /// with other callers' (StoreConnections.writeTransaction); a throw undoes `body`'s work only.
    func write<T>(_ body: (StoreDatabase) throws(JobStoreError) -> T) throws(JobStoreError) -> T {
        try connections.writeTransaction(body)
    }

    /// Runs `body` in a read transaction (one snapshot) on a read-only connection, or on the
    /// read-write connection with `on: .writer`.
    func read<T>(
        on connection: StoreConnection = .reader, _ body: (StoreDatabase) throws(JobStoreError) -> T
    ) throws(JobStoreError) -> T {
        switch connection {
        case .reader: try connections.withReader { db throws(JobStoreError) in try db.read(body) }
        case .writer: try connections.withWriter { db throws(JobStoreError) in try db.read(body) }
        }
    }
}

/// Which connection a `read` uses.
enum StoreConnection {
    /// A read-only connection: sees the last committed state without waiting for the writer.
    case reader
    /// The read-write connection.
    case writer
}
