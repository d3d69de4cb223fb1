internal import CSQLite

/// `SQLITE_TRANSIENT` is a C macro casting -1 to a destructor pointer, which Swift
/// does not import. Defined once here (as GRDB does): it tells SQLite to copy bound
/// text and blobs before the bind call returns, so the Swift buffer may go away.
let SQLITE_TRANSIENT = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// A prepared statement. Usually obtained from `Database.prepare(_:)`, which caches
/// it for the life of the connection, so do not hold on to one across connections.
///
/// Not thread-safe: it belongs to its `Database` and shares its serialisation.
///
/// Lifecycle: step until `step()` returns false, or call `reset()` when done with a
/// row. A statement left mid-iteration keeps its read snapshot open, which in WAL mode
/// also stops checkpoints from recycling the log. `prepare` of the same SQL resets it.
public final class Statement {
    /// The `sqlite3_stmt*`; nil once finalized (by `Database.close()` or deinit).
    private var handle: OpaquePointer?

    /// The SQL text this statement was prepared from (the statement-cache key).
    public let sql: String

    init(handle: OpaquePointer, sql: String) {
        self.handle = handle
        self.sql = sql
    }

    deinit {
        // A statement evicted from the cache (or prepared uncached) may outlive its
        // connection: `Database.close()` uses sqlite3_close_v2, which keeps the
        // connection as a zombie until this last finalize.
        if let handle { sqlite3_finalize(handle) }
    }

    /// Releases SQLite's resources now; any later use of this object traps.
    func finalize() {
        if let handle { sqlite3_finalize(handle) }
        handle = nil
    }

    /// The live handle. Using a statement after its database was closed is a
    /// programming error (its memory belongs to a closed connection).
    @inline(__always)
    private var stmt: OpaquePointer {
        guard let handle else {
            preconditionFailure("SQLite Statement used after its Database was closed: \(sql)")
        }
        return handle
    }

    /// Builds an error from the connection's last error (call right after the failure).
    func error(code: Int32) -> SQLiteError {
        let db = sqlite3_db_handle(stmt)
        return SQLiteError(code: code, message: String(cString: sqlite3_errmsg(db)), sql: sql)
    }

    // MARK: Binding

    /// Number of SQL parameters (`?`, `?NNN`, `:name`, …); the largest index for `?NNN`.
    public var parameterCount: Int32 { sqlite3_bind_parameter_count(stmt) }

    /// Resets the statement, then binds `values` to parameters 1…n. The count must match
    /// the statement's parameter count exactly (a mismatch is almost always a bug).
    public func bind(_ values: [any SQLiteBindable]) throws(SQLiteError) {
        // Binding to a statement that has been stepped but not reset is SQLITE_MISUSE.
        sqlite3_reset(stmt)
        try bindAll(values)
    }

    /// Binds every parameter without resetting first (the caller just did).
    func bindAll(_ values: [any SQLiteBindable]) throws(SQLiteError) {
        let expected = sqlite3_bind_parameter_count(stmt)
        guard values.count == Int(expected) else {
            throw SQLiteError(
                code: SQLITE_RANGE,
                message: "statement has \(expected) parameter(s) but \(values.count) argument(s) were given",
                sql: sql)
        }
        var index: Int32 = 1
        for value in values {
            try bind(value: value.sqliteValue, at: index)
            index += 1
        }
    }

    /// Binds one parameter. `index` is SQLite's 1-based parameter index (as in `?NNN`).
    public func bind(_ value: any SQLiteBindable, at index: Int32) throws(SQLiteError) {
        try bind(value: value.sqliteValue, at: index)
    }

    /// Binds a named parameter, e.g. `":name"` (include the prefix character).
    public func bind(_ value: any SQLiteBindable, named name: String) throws(SQLiteError) {
        let index = sqlite3_bind_parameter_index(stmt, name)
        guard index > 0 else {
            throw SQLiteError(code: SQLITE_RANGE, message: "no parameter named \(name)", sql: sql)
        }
        try bind(value: value.sqliteValue, at: index)
    }

    private func bind(value: SQLiteValue, at index: Int32) throws(SQLiteError) {
        let stmt = self.stmt
        let rc: Int32
        switch value {
        case .null:
            rc = sqlite3_bind_null(stmt, index)
        case .integer(let int):
            rc = sqlite3_bind_int64(stmt, index, int)
        case .real(let double):
            rc = sqlite3_bind_double(stmt, index, double)
        case .text(let string):
            // Explicit byte length: keeps embedded NULs and spares SQLite a strlen.
            // withCString never hands out NULL, so "" binds as empty text, not NULL.
            let length = UInt64(string.utf8.count)
            rc = string.withCString {
                sqlite3_bind_text64(stmt, index, $0, length, SQLITE_TRANSIENT, UInt8(SQLITE_UTF8))
            }
        case .blob(let bytes):
            if bytes.isEmpty {
                // sqlite3_bind_blob with a NULL pointer would bind SQL NULL, not an empty blob.
                rc = sqlite3_bind_zeroblob(stmt, index, 0)
            } else {
                rc = bytes.withUnsafeBytes {
                    sqlite3_bind_blob64(stmt, index, $0.baseAddress, UInt64($0.count), SQLITE_TRANSIENT)
                }
            }
        }
        guard rc == SQLITE_OK else { throw error(code: rc) }
    }

    // MARK: Execution

    /// Advances to the next row. Returns true when a row is available, false when done.
    /// On error the statement is reset (so it releases its locks) and the error thrown.
    public func step() throws(SQLiteError) -> Bool {
        let stmt = self.stmt
        switch sqlite3_step(stmt) {
        case SQLITE_ROW:
            return true
        case SQLITE_DONE:
            return false
        case let rc:
            let failure = error(code: rc)
            sqlite3_reset(stmt)
            throw failure
        }
    }

    /// Rewinds the statement so it can run again; bindings are kept.
    /// (sqlite3_reset's return value only repeats the last step's error, already thrown.)
    public func reset() {
        sqlite3_reset(stmt)
    }

    /// Rewinds and clears bindings to NULL: the state `Database.prepare` hands out.
    func resetAndClearBindings() {
        let stmt = self.stmt
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    /// True between a `step()` that returned a row and the end of iteration or `reset()`.
    public var isBusy: Bool { sqlite3_stmt_busy(stmt) != 0 }

    /// True when the statement makes no direct change to the database file.
    public var isReadOnly: Bool { sqlite3_stmt_readonly(stmt) != 0 }

    // MARK: Columns (0-based, valid after step() returned true)

    public var columnCount: Int32 { sqlite3_column_count(stmt) }

    public func columnName(_ column: Int32) -> String {
        guard let name = sqlite3_column_name(stmt, column) else { return "" }
        return String(cString: name)
    }

    public func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(stmt, column) == SQLITE_NULL
    }

    /// The column as an integer (SQLite converts; NULL reads as 0).
    public func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(stmt, column)
    }

    public func optionalInt64(_ column: Int32) -> Int64? {
        let stmt = self.stmt
        return sqlite3_column_type(stmt, column) == SQLITE_NULL ? nil : sqlite3_column_int64(stmt, column)
    }

    /// The column as a double (SQLite converts; NULL reads as 0.0).
    public func double(_ column: Int32) -> Double {
        sqlite3_column_double(stmt, column)
    }

    /// The column as text (SQLite converts numbers; NULL reads as "").
    public func string(_ column: Int32) -> String {
        let stmt = self.stmt
        // Per SQLite docs, call _text first, then _bytes (the conversion may change the length).
        guard let text = sqlite3_column_text(stmt, column) else { return "" }
        let count = Int(sqlite3_column_bytes(stmt, column))
        // Length-based decoding keeps embedded NULs; invalid UTF-8 is repaired, not trapped on.
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    public func optionalString(_ column: Int32) -> String? {
        isNull(column) ? nil : string(column)
    }

    /// The column as bytes (text is returned as its UTF-8; NULL and empty blobs read as []).
    public func blob(_ column: Int32) -> [UInt8] {
        let stmt = self.stmt
        guard let bytes = sqlite3_column_blob(stmt, column) else { return [] }
        let count = Int(sqlite3_column_bytes(stmt, column))
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    /// The column with its actual storage class.
    public func value(_ column: Int32) -> SQLiteValue {
        let stmt = self.stmt
        switch sqlite3_column_type(stmt, column) {
        case SQLITE_NULL: return .null
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(stmt, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(stmt, column))
        case SQLITE_TEXT: return .text(string(column))
        default: return .blob(blob(column))
        }
    }
}
