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

struct ExpectedFailure: Error, Equatable {}
