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
        let partial = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)")
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
