import Foundation
import SQLite
import Testing

@Suite struct MigratorTests {
    static let migrations = [
        Migration(version: 1, name: "0001_create_jobs", sql: """
            CREATE TABLE jobs (
                name TEXT PRIMARY KEY,
                status TEXT NOT NULL
            ) STRICT;
            """),
        Migration(version: 2, name: "0002_add_created", sql: """
            ALTER TABLE jobs ADD COLUMN created_at REAL NOT NULL DEFAULT 0;
            CREATE INDEX jobs_by_status ON jobs(status);
            """),
        Migration(version: 3, name: "0003_events", sql: """
            CREATE TABLE events (
                id INTEGER PRIMARY KEY,
                job TEXT NOT NULL REFERENCES jobs(name),
                message TEXT NOT NULL
            ) STRICT;
            """),
    ]

    @Test func freshDatabaseGetsEverything() throws {
        let temp = try TemporaryDatabase()
        let db = try temp.open()
        let applied = try Migrator(migrations: Self.migrations).migrate(db)
        #expect(applied == [1, 2, 3])
        #expect(try db.userVersion == 3)
        try db.run("INSERT INTO jobs(name, status, created_at) VALUES ('j', 'InProgress', 1.5)")
        try db.run("INSERT INTO events(job, message) VALUES ('j', 'hi')")
        #expect(try temp.open().userVersion == 3)
    }

    @Test func rerunAppliesNothing() throws {
        let temp = try TemporaryDatabase()
        let migrator = Migrator(migrations: Self.migrations)
        #expect(try migrator.migrate(temp.open()) == [1, 2, 3])
        #expect(try migrator.migrate(temp.open()) == [])
        let db = try temp.open()
        #expect(try migrator.migrate(db) == [])
        #expect(try db.userVersion == 3)
    }

    @Test func upgradesStepByStep() throws {
        let temp = try TemporaryDatabase()
        let db = try temp.open()
        #expect(try Migrator(migrations: Array(Self.migrations.prefix(1))).migrate(db) == [1])
        try db.run("INSERT INTO jobs(name, status) VALUES ('old', 'Completed')")
        // Order of the input does not matter.
        #expect(try Migrator(migrations: Self.migrations.reversed()).migrate(db) == [2, 3])
        #expect(try db.scalarString("SELECT status FROM jobs WHERE name = 'old'") == "Completed")
    }

    @Test func brokenMigrationLeavesPreviousVersionAndData() throws {
        let temp = try TemporaryDatabase()
        let db = try temp.open()
        try Migrator(migrations: Array(Self.migrations.prefix(2))).migrate(db)
        try db.run("INSERT INTO jobs(name, status) VALUES ('keep', 'InProgress')")

        let broken = Migration(version: 3, name: "0003_broken", sql: """
            CREATE TABLE half_done (x INTEGER);
            INSERT INTO jobs(name, status) VALUES ('partial', 'Failed');
            CREATE TABLEE oops (;
            """)
        let error = #expect(throws: MigrationError.self) {
            try Migrator(migrations: Array(Self.migrations.prefix(2)) + [broken]).migrate(db)
        }
        guard case .failed(let version, let name, let underlying) = error else {
            Issue.record("expected .failed, got \(String(describing: error))")
            return
        }
        #expect(version == 3)
        #expect(name == "0003_broken")
        #expect(underlying.message.contains("syntax error"))
        #expect(error?.description.contains("0003_broken") == true)

        for connection in [db, try temp.open()] {
            #expect(try connection.userVersion == 2)
            #expect(try connection.scalarInt("SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'") == 0)
            #expect(try connection.query("SELECT name FROM jobs") { $0.string(0) } == ["keep"])
        }
        #expect(!db.isInTransaction)
        // Fixed code migrates fine afterwards.
        #expect(try Migrator(migrations: Self.migrations).migrate(db) == [3])
    }

    @Test func migrationFailingMidwayAfterEarlierSuccessKeepsTheEarlierOne() throws {
        let temp = try TemporaryDatabase()
        let db = try temp.open()
        let broken = Migration(version: 3, name: "0003_broken", sql: "INSERT INTO nowhere VALUES (1);")
        #expect(throws: MigrationError.self) {
            try Migrator(migrations: Array(Self.migrations.prefix(2)) + [broken]).migrate(db)
        }
        #expect(try db.userVersion == 2)
        #expect(try db.scalarInt("SELECT count(*) FROM pragma_table_info('jobs') WHERE name = 'created_at'") == 1)
    }

    @Test func newerDatabaseIsRefused() throws {
        let temp = try TemporaryDatabase()
        let db = try temp.open()
        try db.setUserVersion(7)
        let error = #expect(throws: MigrationError.self) {
            try Migrator(migrations: Self.migrations).migrate(db)
        }
        guard case .databaseNewerThanCode(let databaseVersion, let newestKnown) = error else {
            Issue.record("expected .databaseNewerThanCode, got \(String(describing: error))")
            return
        }
        #expect(databaseVersion == 7)
        #expect(newestKnown == 3)
        #expect(
            error?.description
                == "database schema version 7 is newer than this trainyard (knows up to 3); upgrade trainyard")
        #expect(try db.userVersion == 7)
        #expect(try db.scalarInt("SELECT count(*) FROM sqlite_schema") == 0)
    }

    @Test func strictTableFromMigrationRejectsWrongType() throws {
        let db = try Database(path: ":memory:")
        try Migrator(migrations: Self.migrations).migrate(db)
        let error = #expect(throws: SQLiteError.self) {
            try db.run("INSERT INTO jobs(name, status, created_at) VALUES (?, ?, ?)", ["j", "x", "yesterday"])
        }
        #expect(error?.isConstraintViolation == true)
        #expect(error?.code == 3091)
    }

    @Test func emptyMigratorAcceptsEmptyDatabase() throws {
        let db = try Database(path: ":memory:")
        #expect(try Migrator(migrations: []).migrate(db) == [])
        let embedded: [(version: Int, name: String, sql: String)] = [(1, "0001_x", "CREATE TABLE x(a);")]
        #expect(try Migrator(embedded: embedded).migrate(db) == [1])
    }
}
