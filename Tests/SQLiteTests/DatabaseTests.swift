import Foundation
import SQLite
import Testing

@Suite struct DatabaseTests {
    @Test func fileDatabaseIsConfigured() throws {
        let temp = try TemporaryDatabase()
        let db = try temp.open()
        #expect(try db.scalarString("PRAGMA journal_mode") == "wal")
        #expect(try db.scalarInt("PRAGMA synchronous") == 1)  // NORMAL
        #expect(try db.scalarInt("PRAGMA foreign_keys") == 1)
        #expect(try db.scalarInt("PRAGMA busy_timeout") == 5000)
        #expect(FileManager.default.fileExists(atPath: temp.path))
        // A second connection sees WAL persisted in the file.
        let other = try temp.open()
        #expect(try other.scalarString("PRAGMA journal_mode") == "wal")
    }

    @Test func inMemoryDatabaseOpens() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);")
        #expect(try db.scalarInt("SELECT count(*) FROM t") == 2)
        #expect(try db.scalarString("PRAGMA journal_mode") == "memory")
    }

    @Test func openFailureIsReported() throws {
        let error = #expect(throws: SQLiteError.self) {
            _ = try Database(path: "/nonexistent-dir-\(UUID().uuidString)/db.sqlite")
        }
        #expect(error?.message.contains("cannot open database") == true)
    }

    @Test func writeCommits() throws {
        let temp = try TemporaryDatabase()
        let db = try temp.open()
        try db.execute("CREATE TABLE job(id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        let id = try db.write { db throws(SQLiteError) in
            try db.run("INSERT INTO job(name) VALUES (?)", ["a"])
            #expect(db.isInTransaction)
            #expect(db.changes == 1)
            return db.lastInsertRowID
        }
        #expect(id == 1)
        #expect(!db.isInTransaction)
        // Visible to another connection: really committed.
        let other = try temp.open()
        #expect(try other.scalarString("SELECT name FROM job WHERE id = ?", [id]) == "a")
    }

    @Test func writeRollsBackOnThrownError() throws {
        let temp = try TemporaryDatabase()
        let db = try temp.open()
        try db.execute("CREATE TABLE job(id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        #expect(throws: TestFailure.expected) {
            try TypedDatabase<TestFailure>(db).write { db throws(TestFailure) in
                try db.run("INSERT INTO job(name) VALUES (?)", ["a"])
                try db.run("INSERT INTO job(name) VALUES (?)", ["b"])
                throw .expected
            }
        }
        #expect(!db.isInTransaction)
        #expect(try db.scalarInt("SELECT count(*) FROM job") == 0)
        #expect(try temp.open().scalarInt("SELECT count(*) FROM job") == 0)
        // The connection is still usable for writes.
        try db.write { db throws(SQLiteError) in try db.run("INSERT INTO job(name) VALUES ('c')") }
        #expect(try db.scalarInt("SELECT count(*) FROM job") == 1)
    }

    @Test func writeRollsBackWhenSQLFails() throws {
        let temp = try TemporaryDatabase()
        let db = try temp.open()
        try db.execute("CREATE TABLE job(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        let error = #expect(throws: SQLiteError.self) {
            try db.write { db throws(SQLiteError) in
                try db.run("INSERT INTO job(name) VALUES ('a')")
                try db.run("INSERT INTO job(name) VALUES ('a')")
            }
        }
        #expect(error?.isConstraintViolation == true)
        #expect(try db.scalarInt("SELECT count(*) FROM job") == 0)
    }

    @Test func nestedWriteUsesASavepoint() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE t(x INTEGER)")
        try TypedDatabase<TestFailure>(db).write { db throws(TestFailure) in
            try db.run("INSERT INTO t VALUES (1)")
            #expect(throws: TestFailure.expected) {
                try db.write { db throws(TestFailure) in
                    try db.run("INSERT INTO t VALUES (2)")
                    throw .expected
                }
            }
            try db.write { db throws(TestFailure) in try db.run("INSERT INTO t VALUES (3)") }
            #expect(db.isInTransaction)
        }
        #expect(try db.query("SELECT x FROM t ORDER BY x") { $0.int64(0) } == [1, 3])
    }

    @Test func readSeesOneSnapshot() throws {
        let temp = try TemporaryDatabase()
        let reader = try temp.open()
        let writer = try temp.open()
        try writer.execute("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1);")
        let (before, after) = try reader.read { db throws(SQLiteError) in
            let before = try db.scalarInt("SELECT count(*) FROM t")
            try writer.write { db throws(SQLiteError) in try db.run("INSERT INTO t VALUES (2)") }
            let after = try db.scalarInt("SELECT count(*) FROM t")
            return (before, after)
        }
        #expect(before == 1)
        #expect(after == 1)
        #expect(try reader.scalarInt("SELECT count(*) FROM t") == 2)
    }

    @Test func statementCacheReusesAndResets() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)")
        for (id, name) in [(1, "one"), (2, "two"), (3, "three")] {
            try db.run("INSERT INTO t(id, name) VALUES (?, ?)", [id, name])
        }
        let sql = "SELECT name FROM t WHERE id = ?"
        let first = try db.prepare(sql)
        try first.bind([2])
        #expect(try first.step())
        #expect(first.string(0) == "two")
        // Abandoned mid-iteration on purpose: prepare must hand it back reset, bindings cleared.
        let second = try db.prepare(sql)
        #expect(first === second)
        #expect(!second.isBusy)
        #expect(try second.step() == false)  // ?1 is NULL again: no row
        for (id, name) in [(3, "three"), (1, "one"), (2, "two"), (3, "three")] {
            let statement = try db.prepare(sql)
            try statement.bind([id])
            #expect(try statement.step())
            #expect(statement.string(0) == name)
            #expect(try statement.step() == false)
        }
        // bind() resets a statement that was left mid-iteration.
        let all = try db.prepare("SELECT id FROM t WHERE id >= ? ORDER BY id")
        try all.bind([1])
        #expect(try all.step())
        try all.bind([2])
        #expect(try all.step())
        #expect(all.int64(0) == 2)
        all.reset()
        #expect(try all.step())
        #expect(all.int64(0) == 2)  // reset keeps bindings
        all.reset()
        // Schema change: cached statements are recompiled transparently.
        try db.execute("ALTER TABLE t ADD COLUMN extra TEXT DEFAULT 'x'")
        #expect(try db.scalarString(sql, [1]) == "one")
    }

    @Test func bindsAndReadsEveryType() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE v(i, i64, d, s, b, blob, n, e_s, e_b, u, nul, val_i, val_r, val_t, val_b)")
        let unicode = "Grüße, 東京 🚂\u{0}after-NUL é\u{301}"
        let bytes: [UInt8] = [0, 1, 2, 0xFF, 0x80, 0]
        let noInt: Int? = nil
        let someInt: Int? = 7
        try db.run(
            "INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                Int.max, Int64.min, 3.25, unicode, true, bytes, noInt, "", [UInt8](), someInt,
                SQLiteValue.null, SQLiteValue.integer(-5), SQLiteValue.real(-0.5), SQLiteValue.text("t"),
                SQLiteValue.blob([9]),
            ])
        let statement = try db.prepare("SELECT * FROM v")
        #expect(try statement.step())
        #expect(statement.columnCount == 15)
        #expect(statement.columnName(3) == "s")
        #expect(statement.int64(0) == Int64(Int.max))
        #expect(statement.int64(1) == Int64.min)
        #expect(statement.double(2) == 3.25)
        #expect(statement.string(3) == unicode)
        #expect(statement.string(3).utf8.count == unicode.utf8.count)  // embedded NUL survives
        #expect(statement.int64(4) == 1)
        #expect(statement.blob(5) == bytes)
        #expect(statement.isNull(6))
        #expect(statement.optionalInt64(6) == nil)
        #expect(statement.optionalString(6) == nil)
        #expect(statement.value(6) == .null)
        // Empty text and empty blob are not NULL.
        #expect(!statement.isNull(7))
        #expect(statement.value(7) == .text(""))
        #expect(statement.optionalString(7) == "")
        #expect(!statement.isNull(8))
        #expect(statement.value(8) == .blob([]))
        #expect(statement.optionalInt64(9) == 7)
        #expect(statement.value(10) == .null)
        #expect(statement.value(11) == .integer(-5))
        #expect(statement.value(12) == .real(-0.5))
        #expect(statement.value(13) == .text("t"))
        #expect(statement.value(14) == .blob([9]))
        #expect(statement.value(0) == .integer(Int64(Int.max)))
        #expect(statement.value(2) == .real(3.25))
        #expect(statement.value(3) == .text(unicode))
        #expect(statement.value(5) == .blob(bytes))
        #expect(try statement.step() == false)
        #expect(
            try db.query("SELECT typeof(e_s), typeof(e_b), typeof(n), typeof(b) FROM v") {
                [$0.string(0), $0.string(1), $0.string(2), $0.string(3)]
            } == [["text", "blob", "null", "integer"]])
        // Round trip through a WHERE clause with unicode text.
        #expect(try db.scalarInt("SELECT count(*) FROM v WHERE s = ?", [unicode]) == 1)
    }

    @Test func namedAndIndexedBinding() throws {
        let db = try Database(path: ":memory:")
        let statement = try db.prepare("SELECT :a || ?2")
        try statement.bind("x", named: ":a")
        try statement.bind("y", at: 2)
        #expect(try statement.step())
        #expect(statement.string(0) == "xy")
        #expect(throws: SQLiteError.self) { try statement.bind("z", named: ":missing") }
    }

    @Test func argumentCountMustMatch() throws {
        let db = try Database(path: ":memory:")
        let tooFew = #expect(throws: SQLiteError.self) { try db.run("SELECT ?, ?", [1]) }
        #expect(tooFew?.message.contains("2 parameter(s) but 1 argument(s)") == true)
        #expect(throws: SQLiteError.self) { try db.run("SELECT 1", [1]) }
    }

    @Test func prepareRejectsSeveralStatements() throws {
        let db = try Database(path: ":memory:")
        #expect(throws: SQLiteError.self) { _ = try db.prepare("SELECT 1; SELECT 2") }
        #expect(throws: SQLiteError.self) { _ = try db.prepare("  -- only a comment") }
        // Trailing semicolons, whitespace and comments are fine.
        #expect(try db.scalarInt("SELECT 1; -- done\n ;  ") == 1)
    }

    @Test func syntaxErrorCarriesMessageAndSQL() throws {
        let db = try Database(path: ":memory:")
        let error = #expect(throws: SQLiteError.self) { try db.run("SELEKT 1") }
        #expect(error?.code == 1)
        #expect(error?.message.contains("syntax error") == true)
        #expect(error?.sql == "SELEKT 1")
        #expect(error?.description.contains("SELEKT 1") == true)
        #expect(error?.isConstraintViolation == false)
    }

    @Test func constraintViolationsAreRecognised() throws {
        let db = try Database(path: ":memory:")
        try db.execute("""
            CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
            CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id));
            INSERT INTO parent(id, name) VALUES (1, 'a');
            """)
        let unique = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO parent(name) VALUES ('a')") }
        #expect(unique?.isConstraintViolation == true)
        #expect(unique?.code == 2067)  // SQLITE_CONSTRAINT_UNIQUE: extended codes are on
        #expect(unique?.primaryCode == 19)
        #expect(unique?.message.contains("UNIQUE constraint failed: parent.name") == true)
        let notNull = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO parent(name) VALUES (NULL)") }
        #expect(notNull?.isConstraintViolation == true)
        #expect(notNull?.code == 1299)  // SQLITE_CONSTRAINT_NOTNULL
        let primaryKey = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO parent(id, name) VALUES (1, 'b')") }
        #expect(primaryKey?.isConstraintViolation == true)
        // foreign_keys=ON is in effect.
        let foreignKey = #expect(throws: SQLiteError.self) { try db.run("INSERT INTO child(parent_id) VALUES (99)") }
        #expect(foreignKey?.isConstraintViolation == true)
        #expect(foreignKey?.code == 787)  // SQLITE_CONSTRAINT_FOREIGNKEY
        #expect(foreignKey?.isBusy == false)
    }

    @Test func strictTableRejectsWrongType() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE s(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, t TEXT) STRICT")
        let error = #expect(throws: SQLiteError.self) {
            try db.run("INSERT INTO s(n, t) VALUES (?, ?)", ["not a number", "ok"])
        }
        #expect(error?.isConstraintViolation == true)
        #expect(error?.code == 3091)  // SQLITE_CONSTRAINT_DATATYPE
        #expect(error?.message.contains("cannot store TEXT value in INTEGER column s.n") == true)
        #expect(throws: SQLiteError.self) { try db.run("INSERT INTO s(n, t) VALUES (1, ?)", [[UInt8]([1])]) }
        // Numeric text that converts losslessly is accepted (STRICT's documented coercion).
        try db.run("INSERT INTO s(n, t) VALUES (?, ?)", ["42", "ok"])
        #expect(try db.scalarInt("SELECT n FROM s") == 42)
    }

    @Test func busyIsReportedAsBusy() throws {
        let temp = try TemporaryDatabase()
        let holder = try temp.open()
        let other = try temp.open()
        try holder.execute("CREATE TABLE t(x)")
        try other.execute("PRAGMA busy_timeout = 20")  // keep the test fast
        try holder.write { _ throws(SQLiteError) in
            let error = #expect(throws: SQLiteError.self) {
                try other.write { db throws(SQLiteError) in try db.run("INSERT INTO t VALUES (1)") }
            }
            #expect(error?.isBusy == true)
            #expect(error?.isConstraintViolation == false)
            // A body of another error type gets the failed BEGIN as its own type (init(sqlite:)).
            #expect(throws: TestFailure.sqlite(code: 5)) {  // SQLITE_BUSY
                try TypedDatabase<TestFailure>(other).write { db throws(TestFailure) in try db.run("INSERT INTO t VALUES (1)") }
            }
        }
        #expect(!other.isInTransaction)
        try other.write { db throws(SQLiteError) in try db.run("INSERT INTO t VALUES (1)") }
        #expect(SQLiteError(code: 517, message: "").isBusy)  // SQLITE_BUSY_SNAPSHOT
    }

    @Test func userVersionAndConnectionState() throws {
        let db = try Database(path: ":memory:")
        #expect(try db.userVersion == 0)
        try db.setUserVersion(12)
        #expect(try db.userVersion == 12)
        try db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, x)")
        try db.run("INSERT INTO t(x) VALUES (1), (2), (3)")
        #expect(db.changes == 3)
        #expect(db.lastInsertRowID == 3)
        try db.run("UPDATE t SET x = x + 1 WHERE id < 3")
        #expect(db.changes == 2)
        #expect(try db.queryOne("SELECT x FROM t WHERE id = ?", [2]) { $0.int64(0) } == 3)
        #expect(try db.queryOne("SELECT x FROM t WHERE id = ?", [99]) { $0.int64(0) } == nil)
        #expect(try db.scalarInt("SELECT x FROM t WHERE id = 99") == nil)
    }

    @Test func closeFinalizesAndLaterUseThrows() throws {
        let temp = try TemporaryDatabase()
        let db = try temp.open()
        try db.execute("CREATE TABLE t(x)")
        _ = try db.prepare("SELECT * FROM t")
        try db.run("INSERT INTO t VALUES (1)")
        db.close()
        db.close()  // idempotent
        let error = #expect(throws: SQLiteError.self) { try db.run("SELECT 1") }
        #expect(error?.message.contains("closed") == true)
        // On a clean close SQLite checkpoints and removes the WAL file.
        #expect(!FileManager.default.fileExists(atPath: temp.path + "-wal"))
    }

    @Test func uncachedStatementOutlivesItsDatabase() throws {
        var db: Database? = try Database(path: ":memory:")
        let statement = try db!.prepareUncached("SELECT 41 + 1")
        db = nil  // close_v2 leaves a zombie until the statement is finalized
        #expect(try statement.step())
        #expect(statement.int64(0) == 42)
    }
}
