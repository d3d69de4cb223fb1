import SQLite
import Synchronization

/// Read-only connections for the API's reads (Describe, List, tags, logs), lent one per call.
///
/// Why: the store's one read-write connection is held for a whole write transaction, commit
/// included; a DescribeTrainingJob queued behind a burst of creates waited for all of them. In WAL
/// mode a second connection reads the last committed snapshot without waiting for the writer
/// (sqlite.org/wal.html §2.2), so API reads no longer queue behind writes, nor behind each other.
/// The pool grows to the number of threads that read at once (the Swift pool's threads plus the
/// HTTP loop thread) and keeps them; each connection keeps its own statement cache.
final class ReadConnections: Sendable {
    private let path: String
    private let idle = Mutex<[LentConnection]>([])

    init(path: String) {
        self.path = path
    }

    /// Runs `body` with a connection no other thread uses meanwhile.
    /// Failing to open a connection is reported as `Failure(sqlite:)`.
    func withConnection<T, Failure: SQLiteErrorConvertible>(_ body: (Database) throws(Failure) -> T) throws(Failure) -> T {
        let lent: LentConnection
        if let idle = idle.withLock({ $0.popLast() }) {
            lent = idle
        } else {
            do throws(SQLiteError) {
                lent = LentConnection(try Database(path: path, readOnly: true))
            } catch {
                throw Failure(sqlite: error)
            }
        }
        defer { idle.withLock { $0.append(lent) } }
        return try body(lent.database)
    }
}

/// A connection in the pool or lent to exactly one caller; the pool's lock orders the hand-overs.
private final class LentConnection: @unchecked Sendable {
    let database: Database
    init(_ database: Database) { self.database = database }
}
