import SQLite
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The connections to Trainyard's one database file, shared by the stores that keep their tables
/// in it (JobStore, LogStore): one read-write connection for the process, serialised by a mutex
/// (GRDB's "connect to any database file only once"), and a pool of read-only ones for API reads.
final class StoreConnections: Sendable {
    private let writer: WriterLock
    /// API reads; nil for an in-memory database, which a second connection cannot see.
    private let readers: ReadConnections?

    init(writer: sending Database, readers: ReadConnections?) {
        self.writer = WriterLock(writer)
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

/// The read-write connection behind a pthread mutex rather than `Synchronization.Mutex`: on Linux
/// the latter is a priority-inheritance futex, and a thread that finds it taken spins in the kernel
/// while the owner runs. The owner here holds it for a whole transaction (a Create, a scheduler
/// batch), so waiters spun for long: 5% of the server's CPU in a burst of simulated jobs
/// (bench/burst.py, `rt_mutex_slowlock_block`). A plain pthread mutex waiter sleeps.
private final class WriterLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Only touched between pthread_mutex_lock and pthread_mutex_unlock.
    private let database: Database

    init(_ database: sending Database) {
        self.database = database
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T, Failure: Error>(_ body: (Database) throws(Failure) -> T) throws(Failure) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(database)
    }
}
