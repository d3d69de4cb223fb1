import Foundation
import Testing

@testable import Scheduler

@Suite("Tarball")
struct TarballTests {
    @Test("two archives packed to the same destination at once both succeed, and one whole archive stays")
    func concurrentPackingToOneDestination() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-tarball-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let destination = root.appendingPathComponent("out/model.tar.gz")
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        var folders: [URL] = []
        for index in 0..<4 {
            let folder = root.appendingPathComponent("model-\(index)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            // Big enough that tar takes a while: the packings overlap.
            try Data(repeating: UInt8(index), count: 4 << 20).write(to: folder.appendingPathComponent("weights-\(index).bin"))
            folders.append(folder)
        }
        let failures = await withTaskGroup(of: String?.self) { group in
            for folder in folders {
                group.addTask {
                    do {
                        try await runBlocking { try Tarball.create(from: folder, at: destination) }
                        return nil
                    } catch {
                        return "\(error)"
                    }
                }
            }
            return await group.reduce(into: [String]()) { if let failure = $1 { $0.append(failure) } }
        }
        #expect(failures.isEmpty)
        let listing = Process()
        listing.executableURL = URL(fileURLWithPath: "/bin/tar")
        listing.arguments = ["--list", "--gzip", "--file", destination.path]
        let output = Pipe()
        listing.standardOutput = output
        try listing.run()
        let names = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        listing.waitUntilExit()
        #expect(listing.terminationStatus == 0)
        #expect(names.split(separator: "\n").count == 1 && names.hasPrefix("weights-"))
        // No partial file is left beside it.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: destination.deletingLastPathComponent().path)
        #expect(leftovers == ["model.tar.gz"])
    }
}
