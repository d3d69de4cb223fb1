import Foundation
import Synchronization

/// gzip tarballs of a folder's contents, written by the system's GNU tar (always present on Debian)
/// rather than by hand. Entries are named relative to the folder, without a leading "./", as
/// SageMaker's model.tar.gz has them.
enum Tarball {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Destinations being packed by this process. Two jobs can write the same artifact: the same
    /// job name and S3OutputPath in two accounts, which share one object store. They take turns, and
    /// the later one's archive stays, as with S3's last writer; packing them at once made one
    /// remove the other's partial file and fail (found by test_auth's two-account test).
    private static let destinationsInUse = Mutex<Set<String>>([])

    static func create(from folder: URL, at destination: URL) throws {
        while !destinationsInUse.withLock({ $0.insert(destination.path).inserted }) {
            usleep(5_000)  // a blocking file thread (runBlocking): waiting here holds up no one else
        }
        defer { _ = destinationsInUse.withLock { $0.remove(destination.path) } }
        let fm = FileManager.default
        let entries = ((try? fm.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        let directory = destination.deletingLastPathComponent()
        let partialPrefix = ".\(destination.lastPathComponent).partial-"
        // A server killed while packing leaves its partial file behind (and its tar, which outlives
        // it, may still be writing there): without this, the next run's upload finished beside a
        // stray `.model.tar.gz.partial-<pid>` in the user's output prefix (found by
        // `test_kill_during_uploading_finishes_the_upload`). Unlinking is safe for a tar still
        // writing: it keeps its open file, which vanishes when it exits. This process packs one
        // destination at a time (destinationsInUse), so no live partial of this server is removed.
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasPrefix(partialPrefix) {
            try? fm.removeItem(at: directory.appendingPathComponent(name))
        }
        let partial = directory.appendingPathComponent(partialPrefix + "\(ProcessInfo.processInfo.processIdentifier)")
        if entries.isEmpty {
            // Every empty archive is the same bytes: pack one once, then copy it (the simulated
            // runtime's jobs, and most output.tar.gz files, would otherwise each spawn a tar).
            try emptyArchive(scratch: partial).write(to: partial)
        } else {
            try runTar(["--create", "--gzip", "--file", partial.path, "--directory", folder.path, "--"] + entries, partial: partial)
        }
        // Rename into place so a reader never sees a half-written artifact.
        if fm.fileExists(atPath: destination.path) { try fm.removeItem(at: destination) }
        try fm.moveItem(at: partial, to: destination)
    }

    private static let cachedEmptyArchive = Mutex<Data?>(nil)

    private static func emptyArchive(scratch: URL) throws -> Data {
        if let cached = cachedEmptyArchive.withLock({ $0 }) { return cached }
        try runTar(["--create", "--gzip", "--file", scratch.path, "--files-from", "/dev/null"], partial: scratch)
        let bytes = try Data(contentsOf: scratch)
        cachedEmptyArchive.withLock { $0 = bytes }
        return bytes
    }

    private static func runTar(_ arguments: [String], partial: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/tar")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            try? FileManager.default.removeItem(at: partial)
            throw Failure(description: "tar exited \(process.terminationStatus): \(String(decoding: message, as: UTF8.self))")
        }
    }
}
