import Foundation

/// gzip tarballs of a folder's contents, written by the system's GNU tar (always present on Debian)
/// rather than by hand. Entries are named relative to the folder, without a leading "./", as
/// SageMaker's model.tar.gz has them.
enum Tarball {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func create(from folder: URL, at destination: URL) throws {
        let fm = FileManager.default
        let entries = ((try? fm.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        let directory = destination.deletingLastPathComponent()
        let partialPrefix = ".\(destination.lastPathComponent).partial-"
        // A server killed while packing leaves its partial file behind (and its tar, which outlives
        // it, may still be writing there): without this, the next run's upload finished beside a
        // stray `.model.tar.gz.partial-<pid>` in the user's output prefix (found by
        // `test_kill_during_uploading_finishes_the_upload`). Unlinking is safe for a tar still
        // writing: it keeps its open file, which vanishes when it exits. One job's outputs are
        // packed by one step at a time, so no live partial of this server is removed.
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasPrefix(partialPrefix) {
            try? fm.removeItem(at: directory.appendingPathComponent(name))
        }
        let partial = directory.appendingPathComponent(partialPrefix + "\(ProcessInfo.processInfo.processIdentifier)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/tar")
        if entries.isEmpty {
            process.arguments = ["--create", "--gzip", "--file", partial.path, "--files-from", "/dev/null"]
        } else {
            process.arguments = ["--create", "--gzip", "--file", partial.path, "--directory", folder.path, "--"] + entries
        }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            try? fm.removeItem(at: partial)
            throw Failure(description: "tar exited \(process.terminationStatus): \(String(decoding: message, as: UTF8.self))")
        }
        // Rename into place so a reader never sees a half-written artifact.
        if fm.fileExists(atPath: destination.path) { try fm.removeItem(at: destination) }
        try fm.moveItem(at: partial, to: destination)
    }
}
