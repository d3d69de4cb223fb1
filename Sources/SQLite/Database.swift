internal import CSQLite

/// One SQLite connection.
///
/// Not thread-safe by itself: its owner serialises access (e.g. a `Mutex`). It is
/// opened with `SQLITE_OPEN_NOMUTEX`, so SQLite does no locking of its own on the
/// hot path; that is only sound because every call is already serialised by the owner.
public final class Database {
    /// The `sqlite3*`; nil after `close()`.
    private var handle: OpaquePointer?

    /// The path given to `init(path:)`.
    public let path: String

    /// Statements handed out by `prepare`, keyed by SQL text.
    private var statementCache: [String: Statement] = [:]

    /// BEGIN/COMMIT/ROLLBACK/SAVEPOINT. Kept apart from `statementCache` (as GRDB keeps
    /// an internal cache apart from the public one) so that user SQL can never reset
    /// or evict a statement the transaction machinery is using.
    private var internalStatements: [String: Statement] = [:]

    /// Bound on `statementCache`: code that builds SQL dynamically (IN lists of varying
    /// length, …) must not grow it forever. Past this, the cache is simply emptied;
    /// evicted statements still held elsewhere stay valid until released.
    private static let statementCacheLimit = 512

    /// Opens (creating if needed) the database at `path`; ":memory:" gives a private
    /// in-memory database. Then, outside any transaction (some of these pragmas are
    /// no-ops inside one):
    /// - busy timeout 5000 ms, first, so that the journal-mode switch below waits for
    ///   another connection's lock instead of failing at once;
    /// - `journal_mode=WAL`, checked to really report "wal" for file databases (it
    ///   silently stays "delete" on file systems that cannot do WAL);
    /// - `synchronous=NORMAL`: in WAL mode this cannot corrupt the database; a power
    ///   loss may only lose the last transactions;
    /// - `foreign_keys=ON` (SQLite's default is still OFF).
    ///
    /// `readOnly`: opens an existing file with `SQLITE_OPEN_READONLY` and leaves its journal mode
    /// alone; in WAL mode such a connection reads the last committed state while another
    /// connection writes (sqlite.org/wal.html: "readers do not block writers").
    public init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        self.path = path
        var db: OpaquePointer?
        let access = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        let flags = access | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            // sqlite3_open_v2 usually allocates a handle even when it fails; it must be closed.
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "cannot open database at \(path): \(message)")
        }
        handle = db
        do throws(SQLiteError) {
            sqlite3_busy_timeout(db, 5000)
            if readOnly { return }
            let mode = try oneShotText("PRAGMA journal_mode=WAL")
            if !isInMemory, mode?.lowercased() != "wal" {
                throw SQLiteError(
                    code: SQLITE_ERROR,
                    message: "could not enable WAL journal mode for \(path) (SQLite reports \(mode ?? "nothing"))",
                    sql: "PRAGMA journal_mode=WAL")
            }
            try execute("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON")
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
    }

    /// Finalizes every cached statement, then closes the connection. Idempotent.
    /// Statements still referenced elsewhere after eviction keep the connection as a
    /// "zombie" (sqlite3_close_v2) until they are released; cached ones are finalized
    /// here, and using them afterwards traps.
    public func close() {
        guard let db = handle else { return }
        // sqlite3_close (v1) would refuse with SQLITE_BUSY while statements are alive;
        // finalize what we own first, and let close_v2 handle any stragglers.
        for statement in statementCache.values { statement.finalize() }
        for statement in internalStatements.values { statement.finalize() }
        statementCache.removeAll()
        internalStatements.removeAll()
        sqlite3_close_v2(db)
        handle = nil
    }

    private var isInMemory: Bool {
        path == ":memory:" || path.isEmpty
    }

    @inline(__always)
    private func connection() throws(SQLiteError) -> OpaquePointer {
        guard let handle else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "database \(path) is closed")
        }
        return handle
    }

    private func lastError(_ db: OpaquePointer, code: Int32, sql: String?) -> SQLiteError {
        SQLiteError(code: code, message: String(cString: sqlite3_errmsg(db)), sql: sql)
    }

    // MARK: Executing SQL

    /// Runs one or more `;`-separated statements, discarding any rows (sqlite3_exec).
    /// Not cached: for migrations and setup, not the hot path.
    public func execute(_ sql: String) throws(SQLiteError) {
        let db = try connection()
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errorMessage)
        guard rc == SQLITE_OK else {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(errorMessage)
            throw SQLiteError(code: rc, message: message, sql: sql)
        }
    }

    /// Runs one statement through the statement cache, stepping it to completion.
    public func run(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) {
        let statement = try prepare(sql)
        try statement.bindAll(arguments)
        while try statement.step() {}
    }

    /// Returns the cached prepared statement for `sql` (compiling it on first use with
    /// `SQLITE_PREPARE_PERSISTENT`), reset and with its bindings cleared.
    ///
    /// `sql` must hold exactly one statement: trailing statements would otherwise be
    /// silently ignored by sqlite3_prepare. Because the statement is shared by SQL text,
    /// preparing the same SQL again (even in a nested loop) resets it.
    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        if let statement = statementCache[sql] {
            statement.resetAndClearBindings()
            return statement
        }
        let statement = try compile(sql, persistent: true)
        if statementCache.count >= Self.statementCacheLimit {
            statementCache.removeAll(keepingCapacity: true)
        }
        statementCache[sql] = statement
        return statement
    }

    /// Compiles a statement that is not cached (finalized when released).
    public func prepareUncached(_ sql: String) throws(SQLiteError) -> Statement {
        try compile(sql, persistent: false)
    }

    private func compile(_ sql: String, persistent: Bool) throws(SQLiteError) -> Statement {
        let db = try connection()
        var stmt: OpaquePointer?
        var remainderIsSQL = false
        // The SQLite docs (c3ref/prepare) note that passing the length including the NUL
        // terminator spares SQLite a copy.
        let byteCount = Int32(clamping: sql.utf8.count + 1)
        // SQLITE_PREPARE_PERSISTENT: a hint that the statement will be kept and reused,
        // so SQLite allocates it outside its lookaside pool (GRDB uses it for its cache too).
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let rc = sql.withCString { start -> Int32 in
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v3(db, start, byteCount, flags, &stmt, &tail)
            if rc == SQLITE_OK, let tail, tail.pointee != 0 {
                // Something follows the first statement. Only whitespace and comments are fine:
                // compiling the rest yields no statement for those.
                var extra: OpaquePointer?
                if sqlite3_prepare_v3(db, tail, -1, 0, &extra, nil) != SQLITE_OK || extra != nil {
                    remainderIsSQL = true
                }
                sqlite3_finalize(extra)
            }
            return rc
        }
        guard rc == SQLITE_OK else {
            throw lastError(db, code: rc, sql: sql)
        }
        guard let stmt else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "no SQL statement to prepare", sql: sql)
        }
        if remainderIsSQL {
            sqlite3_finalize(stmt)
            throw SQLiteError(
                code: SQLITE_MISUSE,
                message: "prepare/run take exactly one statement; use execute() for several",
                sql: sql)
        }
        return Statement(handle: stmt, sql: sql)
    }

    /// Runs an internal statement (transaction control) through the internal cache.
    private func runInternal(_ sql: String) throws(SQLiteError) {
        let statement: Statement
        if let cached = internalStatements[sql] {
            statement = cached
        } else {
            statement = try compile(sql, persistent: true)
            internalStatements[sql] = statement
        }
        _ = try statement.step()
        statement.reset()
    }

    /// First column of the first row as text, with an uncached statement (setup only).
    private func oneShotText(_ sql: String) throws(SQLiteError) -> String? {
        let statement = try compile(sql, persistent: false)
        defer { statement.finalize() }
        guard try statement.step() else { return nil }
        return statement.optionalString(0)
    }

    /// First column of the first row as an integer; nil if there is no row or it is NULL.
    /// The statement is reset afterwards, so it does not hold a read snapshot open.
    public func scalarInt(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) -> Int64? {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bindAll(arguments)
        guard try statement.step() else { return nil }
        return statement.optionalInt64(0)
    }

    /// First column of the first row as text; nil if there is no row or it is NULL.
    public func scalarString(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(SQLiteError) -> String? {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bindAll(arguments)
        guard try statement.step() else { return nil }
        return statement.optionalString(0)
    }

    /// Runs a query and maps every row; the statement is always reset afterwards.
    public func query<T>(
        _ sql: String, _ arguments: [any SQLiteBindable] = [], _ row: (Statement) throws(SQLiteError) -> T
    ) throws(SQLiteError) -> [T] {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bindAll(arguments)
        var rows: [T] = []
        while try statement.step() {
            rows.append(try row(statement))
        }
        return rows
    }

    /// Runs a query and maps its first row, if any; the statement is always reset afterwards.
    public func queryOne<T>(
        _ sql: String, _ arguments: [any SQLiteBindable] = [], _ row: (Statement) throws(SQLiteError) -> T
    ) throws(SQLiteError) -> T? {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bindAll(arguments)
        guard try statement.step() else { return nil }
        return try row(statement)
    }

    // MARK: Transactions

    /// True inside BEGIN…COMMIT (i.e. not in autocommit mode).
    public var isInTransaction: Bool {
        guard let handle else { return false }
        return sqlite3_get_autocommit(handle) == 0
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction and commits it. If `body` throws,
    /// rolls back and rethrows the body's error; if COMMIT fails, rolls back and throws that.
    /// Failures of BEGIN and COMMIT themselves are thrown as `E(sqlite:)`, so a store's transaction
    /// throws nothing but its own error type.
    ///
    /// IMMEDIATE rather than the default DEFERRED, following GRDB
    /// (`Database.beginTransaction`, groue/GRDB.swift#1483): a deferred transaction that
    /// reads first and then writes must upgrade its lock, and if another connection wrote
    /// in between SQLite returns SQLITE_BUSY at once — the busy timeout cannot help,
    /// because waiting would not make the stale snapshot current. Taking the write lock
    /// at BEGIN makes writers queue up (under busy_timeout) instead.
    ///
    /// Called inside another transaction, `body` runs in a SAVEPOINT instead, so that its
    /// failure undoes only its own work (and the error still reaches the outer block).
    /// Inside `read { }` that means upgrading a deferred transaction — exactly the case
    /// above that can fail with `isBusy` — so do not write from within `read`.
    ///
    /// Swift 6.3 infers `throws(any Error)` for a closure literal that contains `try`, so a
    /// literal body names its error type: `db.write { db throws(SQLiteError) in … }`.
    public func write<T, E: SQLiteErrorConvertible>(_ body: (Database) throws(E) -> T) throws(E) -> T {
        if isInTransaction {
            return try savepoint(body)
        }
        return try transaction(begin: "BEGIN IMMEDIATE", body)
    }

    /// Runs `body` in a `BEGIN DEFERRED` transaction: every read inside sees one
    /// consistent snapshot (in WAL mode, taken at the first read). Inside another
    /// transaction, `body` simply runs (it already sees a consistent state).
    public func read<T, E: SQLiteErrorConvertible>(_ body: (Database) throws(E) -> T) throws(E) -> T {
        if isInTransaction {
            return try body(self)
        }
        return try transaction(begin: "BEGIN DEFERRED", body)
    }

    /// `begin`, then `body`, then COMMIT; ROLLBACK and rethrow if either fails.
    private func transaction<T, E: SQLiteErrorConvertible>(
        begin: String, _ body: (Database) throws(E) -> T
    ) throws(E) -> T {
        try bracketed(begin: begin, end: "COMMIT", undo: rollbackAfterError, body)
    }

    /// SAVEPOINT, then `body`, then RELEASE; the savepoint's work is undone if either fails.
    private func savepoint<T, E: SQLiteErrorConvertible>(_ body: (Database) throws(E) -> T) throws(E) -> T {
        try bracketed(begin: "SAVEPOINT trainyard_nested", end: "RELEASE trainyard_nested", undo: rollbackSavepoint, body)
    }

    /// `begin`, then `body`, then `end`; `undo` and rethrow if `body` or `end` fails. Failures of
    /// `begin` and `end` themselves are thrown as `E(sqlite:)`.
    private func bracketed<T, E: SQLiteErrorConvertible>(
        begin: String, end: String, undo: () -> Void, _ body: (Database) throws(E) -> T
    ) throws(E) -> T {
        try converted(to: E.self) { () throws(SQLiteError) in try runInternal(begin) }
        let result: T
        do throws(E) {
            result = try body(self)
        } catch {
            undo()
            throw error
        }
        do throws(SQLiteError) {
            try runInternal(end)
        } catch {
            undo()
            throw E(sqlite: error)
        }
        return result
    }

    /// Undoes the savepoint's work and removes it, unless an error already rolled the whole
    /// transaction back (see `rollbackAfterError`).
    private func rollbackSavepoint() {
        if isInTransaction {
            try? runInternal("ROLLBACK TO trainyard_nested")
            try? runInternal("RELEASE trainyard_nested")
        }
    }

    /// Some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, ON CONFLICT ROLLBACK, …)
    /// already rolled the transaction back; a second ROLLBACK would then fail and
    /// mask the real error, so only roll back if a transaction is still open.
    private func rollbackAfterError() {
        if isInTransaction {
            try? runInternal("ROLLBACK")
        }
    }

    // MARK: Connection state

    /// Rows changed by the most recent INSERT/UPDATE/DELETE (sqlite3_changes64).
    public var changes: Int {
        guard let handle else { return 0 }
        return Int(sqlite3_changes64(handle))
    }

    /// Rowid of the most recent successful INSERT on this connection.
    public var lastInsertRowID: Int64 {
        guard let handle else { return 0 }
        return sqlite3_last_insert_rowid(handle)
    }

    /// `PRAGMA user_version`: the schema version the Migrator maintains.
    public var userVersion: Int {
        get throws(SQLiteError) {
            Int(try scalarInt("PRAGMA user_version") ?? 0)
        }
    }

    /// Sets `PRAGMA user_version` (transactional: it lives in the database header).
    public func setUserVersion(_ version: Int) throws(SQLiteError) {
        guard let version32 = Int32(exactly: version) else {
            throw SQLiteError(code: SQLITE_RANGE, message: "user_version \(version) does not fit in 32 bits")
        }
        // PRAGMA arguments cannot be bound parameters; an Int is safe to interpolate.
        try execute("PRAGMA user_version = \(version32)")
    }

    /// The SQLite library version, e.g. "3.40.1".
    public static var sqliteVersion: String { String(cString: sqlite3_libversion()) }
}
