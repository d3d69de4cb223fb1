import Foundation
import Testing

@testable import Scheduler

@Suite("Tarball")
struct TarballTests {
    /// Packs the scratch folder `folder` into `out/<name>`.
    static func pack(_ scratch: Scratch, _ folder: String, named name: String = "model.tar.gz",
                     skipped: (String, SafeEntryKind) -> Void = { _, _ in }) throws {
        try Tarball.create(
            from: SafeDirectory.openRoot(scratch.path(folder)), into: SafeDirectory.openRoot(scratch.path("out"), create: true),
            named: name, skipped: skipped)
    }

    @Test("two archives packed to the same destination at once both succeed, and one whole archive stays")
    func concurrentPackingToOneDestination() async throws {
        let scratch = try Scratch()
        try scratch.folder("out")
        for index in 0..<4 {
            // Big enough that packing takes a while: the packings overlap.
            try Data(repeating: UInt8(index), count: 4 << 20).write(
                to: URL(fileURLWithPath: scratch.path("model-\(index)/weights-\(index).bin")).creatingFolder())
        }
        let destination = URL(fileURLWithPath: scratch.path("out/model.tar.gz"))
        let failures = await withTaskGroup(of: String?.self) { group in
            for index in 0..<4 {
                let folder = URL(fileURLWithPath: scratch.path("model-\(index)"))
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
        let names = try scratch.tar(["--list", "--gzip", "--file", "out/model.tar.gz"])
        #expect(names.count == 1 && names[0].hasPrefix("weights-"))
        // No partial file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("out")) == ["model.tar.gz"])
    }

    @Test("what is packed unpacks with GNU tar to the same names, contents, modes and folders")
    func roundTrip() throws {
        let scratch = try Scratch()
        try scratch.file("model/weights.bin", String(repeating: "w", count: 1000))
        try scratch.file("model/empty.txt", "")
        try scratch.file("model/sub/deeper/more.bin", "m")
        // Longer than ustar's 100-byte name field: a pax record carries it.
        let long = String(repeating: "n", count: 60) + "/" + String(repeating: "x", count: 80) + ".bin"
        try scratch.file("model/\(long)", "long")
        chmod(scratch.path("model/weights.bin"), 0o600)
        try Self.pack(scratch, "model")
        try scratch.folder("unpacked")
        _ = try scratch.tar(["--extract", "--gzip", "--file", "out/model.tar.gz", "--directory", "unpacked"])
        #expect(scratch.read("unpacked/weights.bin") == String(repeating: "w", count: 1000))
        #expect(scratch.read("unpacked/empty.txt") == "")
        #expect(scratch.read("unpacked/sub/deeper/more.bin") == "m")
        #expect(scratch.read("unpacked/\(long)") == "long")
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.path("unpacked/weights.bin"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        // A folder comes before its contents, names sorted, no "./" prefix.
        let names = try scratch.tar(["--list", "--gzip", "--file", "out/model.tar.gz"])
        #expect(names == ["empty.txt", String(long.split(separator: "/")[0]) + "/", long, "sub/", "sub/deeper/", "sub/deeper/more.bin", "weights.bin"])
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
        var skipped: [String] = []
        try Self.pack(scratch, "model", skipped: { path, _ in skipped.append(path) })
        let entries = try scratch.listing("out/model.tar.gz")
        #expect(skipped.sorted() == ["fifo", "sub/socket"])
        #expect(entries.count == 5)
        #expect(entries.contains { $0.hasPrefix("l") && $0.contains("shadow -> \(scratch.path("secret/shadow"))") })
        #expect(entries.contains { $0.hasPrefix("l") && $0.contains("host-folder -> ") })
        #expect(!entries.contains { $0.contains("host-folder/") || $0.contains("fifo") || $0.contains("socket") })
        #expect(entries.contains { $0.hasSuffix(" weights.bin") } && entries.contains { $0.hasSuffix(" sub/more.bin") })
    }

    @Test("the folder packed is the one opened, not what its path names by the time it is packed")
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
        let entries = try scratch.listing("out/output.tar.gz")
        #expect(entries.count == 1 && entries[0].hasSuffix(" real.txt"))
    }

    @Test("an archive replaces a link at the destination instead of writing through it")
    func replacesDestinationLink() throws {
        let scratch = try Scratch()
        try scratch.file("victim", "original")
        try scratch.file("model/w", "w")
        try scratch.folder("out")
        try scratch.link("out/model.tar.gz", to: scratch.path("victim"))
        try Self.pack(scratch, "model")
        #expect(scratch.read("victim") == "original")
        #expect(!scratch.isLink("out/model.tar.gz"))
        #expect(try scratch.listing("out/model.tar.gz").count == 1)
    }

    @Test("an empty folder and a missing one give the same valid empty archive, byte for byte")
    func emptyFolder() throws {
        let scratch = try Scratch()
        try scratch.folder("model")
        try Self.pack(scratch, "model")
        #expect(try scratch.listing("out/model.tar.gz").isEmpty)
        try Tarball.createEmpty(into: SafeDirectory.openRoot(scratch.path("out")), named: "output.tar.gz")
        #expect(try scratch.listing("out/output.tar.gz").isEmpty)
        let packed = try Data(contentsOf: URL(fileURLWithPath: scratch.path("out/model.tar.gz")))
        #expect(packed == Data(Tarball.emptyArchive))
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("out/output.tar.gz"))) == packed)
    }

    @Test("empty archives in the object store share one recent file; never one older than the job's training start")
    func linkedEmptyArchives() throws {
        let scratch = try Scratch()
        try scratch.folder("s3/bucket/a")
        try scratch.folder("s3/bucket/b")
        let template = EmptyArchiveTemplate(s3Root: scratch.path("s3"))
        let started = Date(timeIntervalSinceNow: -0.5)
        for folder in ["a", "b"] {
            let destination = try SafeDirectory.openRoot(scratch.path("s3/bucket/\(folder)"))
            try Tarball.createEmpty(into: destination, named: "model.tar.gz", template: template, notBefore: started)
        }
        func inode(_ path: String) throws -> (inode: UInt64, links: Int, modified: Date) {
            let attributes = try FileManager.default.attributesOfItem(atPath: scratch.path(path))
            return ((attributes[.systemFileNumber] as! NSNumber).uint64Value, (attributes[.referenceCount] as! NSNumber).intValue,
                    attributes[.modificationDate] as! Date)
        }
        let a = try inode("s3/bucket/a/model.tar.gz")
        let b = try inode("s3/bucket/b/model.tar.gz")
        #expect(a.inode == b.inode)
        #expect(a.links == 3)  // the two archives and the template
        #expect(a.modified >= started)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("s3/bucket/b/model.tar.gz"))) == Data(Tarball.emptyArchive))
        // A job that started training after the template was written gets a newer file.
        try Tarball.createEmpty(
            into: SafeDirectory.openRoot(scratch.path("s3/bucket/a")), named: "output.tar.gz", template: template,
            notBefore: a.modified.addingTimeInterval(0.001))
        let newer = try inode("s3/bucket/a/output.tar.gz")
        #expect(newer.inode != a.inode)
        #expect(try inode("s3/bucket/a/model.tar.gz").links == 2)  // the old template is gone
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("s3/.trainyard/tmp")).count == 1)
        // An archive already there is replaced (linkat never replaces): a retried upload.
        try Tarball.createEmpty(
            into: SafeDirectory.openRoot(scratch.path("s3/bucket/a")), named: "output.tar.gz", template: template, notBefore: started)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("s3/bucket/a/output.tar.gz"))) == Data(Tarball.emptyArchive))
    }

    @Test("a partial file a killed server left behind is removed; another artifact's is left alone")
    func strayPartials() throws {
        let scratch = try Scratch()
        try scratch.file("model/w", "w")
        try scratch.file("out/.model.tar.gz.partial-99999-0", "half an archive")
        try scratch.file("out/.output.tar.gz.partial-99999-0", "another artifact's")
        try Self.pack(scratch, "model")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("out")).sorted()
            == [".output.tar.gz.partial-99999-0", "model.tar.gz"])
    }
}

extension URL {
    /// The URL, once its parent folder exists.
    fileprivate func creatingFolder() throws -> URL {
        try FileManager.default.createDirectory(at: deletingLastPathComponent(), withIntermediateDirectories: true)
        return self
    }
}
