import Locking

/// Group commit: write transactions that arrive while one is being committed wait, and the next
/// of them to run commits all of them together in one BEGIN…COMMIT, each in its own SAVEPOINT
/// (so one that fails undoes only its own work). Every caller still returns only after its work
/// is committed, or with its own error.
///
/// Why: every write transaction goes through the one read-write connection, one after another
/// (creates from the HTTP threads, the log captures' stream and line inserts, the scheduler's
/// batches). Sharing commits shares their fixed cost (BEGIN/COMMIT, locks, the WAL frames of pages
/// several transactions touch): in a burst of simulated jobs (bench/burst.py, runs alternating
/// with and without it) 2–8% more jobs completed a second. The same idea as PostgreSQL's and
/// InnoDB's group commit, with a waiting caller as the leader (no extra thread).
final class GroupCommit: @unchecked Sendable {
    /// One caller's transaction body, run by whichever caller leads the batch it is in.
    final class Entry {
        /// Runs the body on the connection (in a SAVEPOINT when the batch has several entries)
        /// and keeps its outcome.
        let run: (StoreDatabase) -> Void
        /// The batch's COMMIT failed: the entry's work is gone, and its caller gets this error.
        let commitFailed: (JobStoreError) -> Void
        /// Set (under the lock) once the entry's batch has been committed or rolled back.
        fileprivate var done = false

        init(run: @escaping (StoreDatabase) -> Void, commitFailed: @escaping (JobStoreError) -> Void) {
            self.run = run
            self.commitFailed = commitFailed
        }
    }

    /// Entries in one transaction, at most: bounds how long the first of them waits.
    static let maximumBatch = 256

    private let lock = ConditionLock()
    /// Entries waiting for a batch; only touched with `lock` held.
    private var waiting: [Entry] = []
    /// Whether a caller is committing a batch now; only touched with `lock` held.
    private var leading = false

    /// Entries waiting for a batch now (for tests).
    var waitingCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return waiting.count
    }

    /// Returns once `entry` has been committed (or has failed): either another caller's batch
    /// took it, or this caller leads a batch with it, running `commit` on the batch.
    func perform(_ entry: Entry, commit: ([Entry]) -> Void) {
        lock.lock()
        waiting.append(entry)
        while !entry.done {
            if leading {
                lock.wait()
                continue
            }
            leading = true
            let batch = Array(waiting.prefix(Self.maximumBatch))
            waiting.removeFirst(batch.count)
            lock.unlock()
            commit(batch)
            lock.lock()
            for done in batch { done.done = true }
            leading = false
            lock.broadcast()
        }
        lock.unlock()
    }
}
