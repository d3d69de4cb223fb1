/// A connection whose operations throw `Failure` instead of `SQLiteError`: what a store's
/// transaction bodies work with, so that a body can run SQL and throw the store's own errors
/// (not found, name in use, …) under one typed `throws(Failure)`. Swift has no implicit
/// conversion between error types, so without this every SQL call in such a body would need
/// its own catch-and-convert; here a SQLite failure becomes `Failure(sqlite:)` where it happens.
///
/// A view, not a second connection: it shares the connection, its statement cache and its
/// transaction state, and is as little thread-safe as `Database` is. Everything is inlinable, so
/// a store's calls specialize to its error type and cost what the `Database` calls cost.
public struct TypedDatabase<Failure: SQLiteErrorConvertible> {
    public let database: Database

    @inlinable
    public init(_ database: Database) {
        self.database = database
    }

    /// `Database.run`.
    @inlinable
    public func run(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(Failure) {
        try converted(to: Failure.self) { () throws(SQLiteError) in try database.run(sql, arguments) }
    }

    /// `Database.prepare`: the cached statement for `sql`, reset and with its bindings cleared.
    @inlinable
    public func prepare(_ sql: String) throws(Failure) -> TypedStatement<Failure> {
        TypedStatement(try converted(to: Failure.self) { () throws(SQLiteError) in try database.prepare(sql) })
    }

    /// `Database.prepareUncached`.
    @inlinable
    public func prepareUncached(_ sql: String) throws(Failure) -> TypedStatement<Failure> {
        TypedStatement(try converted(to: Failure.self) { () throws(SQLiteError) in try database.prepareUncached(sql) })
    }

    /// `Database.scalarInt`.
    @inlinable
    public func scalarInt(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(Failure) -> Int64? {
        try converted(to: Failure.self) { () throws(SQLiteError) in try database.scalarInt(sql, arguments) }
    }

    /// `Database.scalarString`.
    @inlinable
    public func scalarString(_ sql: String, _ arguments: [any SQLiteBindable] = []) throws(Failure) -> String? {
        try converted(to: Failure.self) { () throws(SQLiteError) in try database.scalarString(sql, arguments) }
    }

    /// Runs a query and maps every row with `row`, which may throw `Failure` too (a row that does
    /// not decode); the statement is always reset afterwards.
    @inlinable
    public func query<T>(
        _ sql: String, _ arguments: [any SQLiteBindable] = [], _ row: (Statement) throws(Failure) -> T
    ) throws(Failure) -> [T] {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        var rows: [T] = []
        while try statement.step() {
            rows.append(try row(statement.statement))
        }
        return rows
    }

    /// Runs a query and maps its first row, if any; the statement is always reset afterwards.
    @inlinable
    public func queryOne<T>(
        _ sql: String, _ arguments: [any SQLiteBindable] = [], _ row: (Statement) throws(Failure) -> T
    ) throws(Failure) -> T? {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        guard try statement.step() else { return nil }
        return try row(statement.statement)
    }

    /// `Database.write`: `body` in a `BEGIN IMMEDIATE` transaction (a savepoint when nested).
    @inlinable
    public func write<T>(_ body: (TypedDatabase) throws(Failure) -> T) throws(Failure) -> T {
        try database.write { _ throws(Failure) in try body(self) }
    }

    /// `Database.read`: `body` in a `BEGIN DEFERRED` transaction (one snapshot).
    @inlinable
    public func read<T>(_ body: (TypedDatabase) throws(Failure) -> T) throws(Failure) -> T {
        try database.read { _ throws(Failure) in try body(self) }
    }

    /// Rows changed by the most recent INSERT/UPDATE/DELETE.
    @inlinable
    public var changes: Int { database.changes }

    /// Rowid of the most recent successful INSERT on this connection.
    @inlinable
    public var lastInsertRowID: Int64 { database.lastInsertRowID }

    @inlinable
    public var isInTransaction: Bool { database.isInTransaction }
}

/// Runs `body`, a SQLite call; its failure is thrown as `Failure(sqlite:)`: the one conversion
/// behind every method of `TypedDatabase` and `TypedStatement`.
@usableFromInline @inline(__always)
func converted<T, Failure: SQLiteErrorConvertible>(
    to _: Failure.Type, _ body: () throws(SQLiteError) -> T
) throws(Failure) -> T {
    do throws(SQLiteError) {
        return try body()
    } catch {
        throw Failure(sqlite: error)
    }
}

/// A prepared statement whose binding and stepping throw `Failure` (see `TypedDatabase`). Reading
/// the current row cannot fail: those accessors are `Statement`'s.
public struct TypedStatement<Failure: SQLiteErrorConvertible> {
    public let statement: Statement

    @inlinable
    public init(_ statement: Statement) {
        self.statement = statement
    }

    /// `Statement.bind(_:)`: resets, then binds `values` to parameters 1…n.
    @inlinable
    public func bind(_ values: [any SQLiteBindable]) throws(Failure) {
        try converted(to: Failure.self) { () throws(SQLiteError) in try statement.bind(values) }
    }

    /// `Statement.bind(_:at:)`.
    @inlinable
    public func bind(_ value: any SQLiteBindable, at index: Int32) throws(Failure) {
        try converted(to: Failure.self) { () throws(SQLiteError) in try statement.bind(value, at: index) }
    }

    /// `Statement.step()`: true when a row is available, false when done.
    @inlinable
    public func step() throws(Failure) -> Bool {
        try converted(to: Failure.self) { () throws(SQLiteError) in try statement.step() }
    }

    @inlinable public func reset() { statement.reset() }

    @inlinable public func isNull(_ column: Int32) -> Bool { statement.isNull(column) }
    @inlinable public func int64(_ column: Int32) -> Int64 { statement.int64(column) }
    @inlinable public func optionalInt64(_ column: Int32) -> Int64? { statement.optionalInt64(column) }
    @inlinable public func double(_ column: Int32) -> Double { statement.double(column) }
    @inlinable public func string(_ column: Int32) -> String { statement.string(column) }
    @inlinable public func optionalString(_ column: Int32) -> String? { statement.optionalString(column) }
    @inlinable public func blob(_ column: Int32) -> [UInt8] { statement.blob(column) }
}
