import ArgumentParser
import Foundation
import JobStore
import SQLite

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the job database in the data directory, then exit.")

    @Option(name: .customLong("data-dir"), help: "Folder holding the database (env TRAINYARD_DATA_DIR; default ./.trainyard).")
    var dataDir: String?

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let directory = dataDir ?? environment["TRAINYARD_DATA_DIR"] ?? ServeConfiguration.defaultDataDir
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let store = try JobStore(path: ServeConfiguration.databasePath(dataDir: directory))
            print("database \(store.path) is at schema version \(JobStore.migrations.map(\.version).max() ?? 0)")
        } catch let error as JobStoreError {
            throw fail(error.description)
        } catch {
            throw fail("cannot create the data directory \(directory): \(fileErrorText(error))")
        }
    }
}
