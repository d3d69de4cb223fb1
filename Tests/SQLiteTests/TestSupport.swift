import Foundation
import SQLite

/// A fresh database file in a private temporary directory, removed (with its -wal/-shm) afterwards.
final class TemporaryDatabase {
    let directory: URL
    let path: String

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appending(path: "trainyard-sqlite-tests-\(UUID().uuidString)", directoryHint: .isDirectory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appending(path: "test.sqlite").path
    }

    /// A new connection to the file.
    func open() throws -> Database {
        try Database(path: path)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// What a test's transaction body throws: its own refusal, or (as a store's error type does) a
/// SQLite failure converted by `init(sqlite:)`.
enum TestFailure: SQLiteErrorConvertible, Equatable {
    case expected
    case sqlite(code: Int32)  // the primary result code

    init(sqlite error: SQLiteError) {
        self = .sqlite(code: error.primaryCode)
    }
}
