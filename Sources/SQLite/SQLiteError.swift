internal import CSQLite

/// An error reported by SQLite (or by this wrapper about how SQLite was used).
///
/// `code` is SQLite's *extended* result code (connections are opened with
/// `SQLITE_OPEN_EXRESCODE`), e.g. 2067 `SQLITE_CONSTRAINT_UNIQUE`, 517 `SQLITE_BUSY_SNAPSHOT`.
/// Its low byte is the primary code (`primaryCode`), which is what the `is…` helpers test.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// Extended result code (see https://www.sqlite.org/rescode.html).
    public var code: Int32
    /// `sqlite3_errmsg` at the time of the failure, or this wrapper's explanation.
    public var message: String
    /// The SQL being prepared or run, when there was one.
    public var sql: String?

    public init(code: Int32, message: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    /// The primary result code: the low 8 bits of the extended code.
    public var primaryCode: Int32 { code & 0xFF }

    /// Any `SQLITE_CONSTRAINT_*`: UNIQUE, PRIMARY KEY, NOT NULL, CHECK, FOREIGN KEY,
    /// and STRICT-table type mismatches (`SQLITE_CONSTRAINT_DATATYPE`).
    public var isConstraintViolation: Bool { primaryCode == SQLITE_CONSTRAINT }

    /// `SQLITE_BUSY` or one of its extended forms (`SQLITE_BUSY_SNAPSHOT`, `SQLITE_BUSY_RECOVERY`, …):
    /// another connection holds a lock this one needed and the busy timeout ran out.
    /// (`SQLITE_LOCKED`, a conflict inside one connection, is deliberately not included.)
    public var isBusy: Bool { primaryCode == SQLITE_BUSY }

    /// SQLite's generic English name for the code, e.g. "constraint failed".
    public var codeDescription: String { String(cString: sqlite3_errstr(code)) }

    public var description: String {
        var text = "SQLite error \(code) (\(codeDescription)): \(message)"
        if let sql {
            // Migrations can be long: keep log lines readable.
            let flat = sql.split(whereSeparator: \.isNewline).joined(separator: " ")
            text += flat.count > 240 ? " [SQL: \(flat.prefix(240))…]" : " [SQL: \(flat)]"
        }
        return text
    }
}

/// An error type that can stand for a SQLite failure: what a `TypedDatabase` and a transaction
/// body throw. Each store gives its own error type one `init(sqlite:)`, the one place where a
/// SQLiteError becomes that store's error; the SQLite layer calls it wherever SQLite fails.
public protocol SQLiteErrorConvertible: Error {
    init(sqlite error: SQLiteError)
}

extension SQLiteError: SQLiteErrorConvertible {
    public init(sqlite error: SQLiteError) {
        self = error
    }
}
