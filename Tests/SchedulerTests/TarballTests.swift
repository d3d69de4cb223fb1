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

    /// `tar --list --verbose` of an archive: one line per entry, type letter first.
    static func listing(_ archive: String) throws -> [String] {
        let listing = Process()
        listing.executableURL = URL(fileURLWithPath: "/bin/tar")
        listing.arguments = ["--list", "--verbose", "--gzip", "--file", archive]
        let output = Pipe()
        listing.standardOutput = output
        try listing.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        listing.waitUntilExit()
        return text.split(separator: "\n").map(String.init)
    }

    @Test("links are archived as links (never their targets); FIFOs and sockets are skipped and reported")
    func linksAndSpecialFiles() throws {
        let scratch = try Scratch()
        try scratch.file("secret/shadow", "host secret")
        try scratch.file("model/weights.bin", "w")
        try scratch.file("model/sub/more.bin", "m")
        try scratch.link("model/shadow", to: scratch.path("secret/shadow"))
        try scratch.link("model/host-folder", to: scratch.path("secret"))
        try scratch.fifo("model/fifo")
        try scratch.socket("model/sub/socket")
        try scratch.folder("out")
        var skipped: [String] = []
        try Tarball.create(
            from: SafeDirectory.openRoot(scratch.path("model")), into: SafeDirectory.openRoot(scratch.path("out")),
            named: "model.tar.gz", skipped: { path, _ in skipped.append(path) })
        let entries = try Self.listing(scratch.path("out/model.tar.gz"))
        #expect(skipped.sorted() == ["fifo", "sub/socket"])
        #expect(entries.count == 5)
        #expect(entries.contains { $0.hasPrefix("l") && $0.contains("shadow -> ") })
        #expect(entries.contains { $0.hasPrefix("l") && $0.contains("host-folder -> ") })
        #expect(!entries.contains { $0.contains("host-folder/") || $0.contains("fifo") || $0.contains("socket") })
        #expect(entries.contains { $0.hasSuffix(" weights.bin") } && entries.contains { $0.hasSuffix(" sub/more.bin") })
    }

    @Test("the folder packed is the one opened, not what its path names by the time tar runs")
    func packsTheOpenedFolder() throws {
        let scratch = try Scratch()
        try scratch.file("workspace/output/data/real.txt", "r")
        try scratch.file("host/secret.txt", "s")
        try scratch.folder("out")
        let opened = try SafeDirectory.openRoot(scratch.path("workspace")).openDirectory("output/data")
        // The container swaps the folder for a link after the server opened it.
        try FileManager.default.moveItem(atPath: scratch.path("workspace/output/data"), toPath: scratch.path("workspace/output/old"))
        try scratch.link("workspace/output/data", to: scratch.path("host"))
        try Tarball.create(from: opened, into: SafeDirectory.openRoot(scratch.path("out")), named: "output.tar.gz")
        let entries = try Self.listing(scratch.path("out/output.tar.gz"))
        #expect(entries.count == 1 && entries[0].hasSuffix(" real.txt"))
    }

    @Test("an archive replaces a link at the destination instead of writing through it")
    func replacesDestinationLink() throws {
        let scratch = try Scratch()
        try scratch.file("victim", "original")
        try scratch.file("model/w", "w")
        try scratch.folder("out")
        try scratch.link("out/model.tar.gz", to: scratch.path("victim"))
        try Tarball.create(
            from: SafeDirectory.openRoot(scratch.path("model")), into: SafeDirectory.openRoot(scratch.path("out")), named: "model.tar.gz")
        #expect(scratch.read("victim") == "original")
        #expect(!scratch.isLink("out/model.tar.gz"))
        #expect(try Self.listing(scratch.path("out/model.tar.gz")).count == 1)
    }

    @Test("an empty folder gives a valid empty archive")
    func emptyFolder() throws {
        let scratch = try Scratch()
        try scratch.folder("model")
        try scratch.folder("out")
        try Tarball.create(
            from: SafeDirectory.openRoot(scratch.path("model")), into: SafeDirectory.openRoot(scratch.path("out")), named: "model.tar.gz")
        #expect(try Self.listing(scratch.path("out/model.tar.gz")).isEmpty)
    }
}
