import Foundation
import TarFormat
import Testing

@testable import WorkspaceStaging

#if canImport(Glibc)
import Glibc
#endif

/// A scratch folder, removed at the end.
final class Scratch {
    let root: URL
    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("staging-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: root) }
    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    func folder(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
    }
    func exists(_ relative: String) -> Bool {
        var info = stat()
        return lstat(path(relative), &info) == 0
    }
    func read(_ relative: String) -> String? { FileManager.default.contents(atPath: path(relative)).map { String(decoding: $0, as: UTF8.self) } }
}

/// Hand-made archives, hostile ones included.
struct Archive {
    var bytes: [UInt8] = []

    mutating func entry(_ name: String, type: Character = "0", data: [UInt8] = [], link: String = "", mode: Int = 0o644) {
        let header = TarHeader(
            name: name, type: UInt8(ascii: type.unicodeScalars.first!), mode: Int64(mode), size: Int64(data.count), linkname: link)
        bytes += header.encode() + TarHeader.padded(data)
    }

    mutating func file(_ name: String, _ text: String) { entry(name, data: Array(text.utf8)) }

    mutating func longName(_ name: String, _ text: String) {
        entry("././@LongLink", type: "L", data: Array(name.utf8) + [0])
        file(String(name.prefix(100)), text)
    }

    mutating func paxName(_ name: String, _ text: String) {
        let record = " path=\(name)\n"
        var length = record.utf8.count + 1
        if String(length + record.utf8.count).count + record.utf8.count != length { length = String(length).count + record.utf8.count }
        length = String(length).count + record.utf8.count
        entry("PaxHeader", type: "x", data: Array("\(length)\(record)".utf8))
        file("ignored-name", text)
    }

    func finished() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}

@Suite("Staged-out archives: only regular files and folders, inside the workspace, bounded")
struct SafeTarExtractorTests {
    /// Extracts `archive` into <scratch>/model (index 1) and <scratch>/output (index 2).
    func extract(_ archive: [UInt8], in scratch: Scratch, limit: Int64 = 1 << 20) throws(StagingError) -> SafeTarExtractor.Report {
        try? scratch.folder("model")
        try? scratch.folder("output")
        let extractor = SafeTarExtractor(
            roots: ["1": scratch.path("model"), "2": scratch.path("output")],
            displayRoots: ["1": "/opt/ml/model", "2": "/opt/ml/output"], limitBytes: limit)
        let fd = try WorkspaceStaging.anonymousFile(in: scratch.root)
        defer { close(fd) }
        _ = archive.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        lseek(fd, 0, SEEK_SET)
        return try extractor.extract(from: fd)
    }

    @Test("files and folders land under their volume's folder")
    func regularFiles() throws {
        let scratch = try Scratch()
        var archive = Archive()
        archive.entry("1/", type: "5")
        archive.file("1/model.txt", "weights")
        archive.entry("1/nested/dir/", type: "5")
        archive.file("1/nested/dir/f.txt", "deep")
        archive.file("./2/data/o.txt", "out")
        let report = try extract(archive.finished(), in: scratch)
        #expect(scratch.read("model/model.txt") == "weights")
        #expect(scratch.read("model/nested/dir/f.txt") == "deep")
        #expect(scratch.read("output/data/o.txt") == "out")
        #expect(report.files == 3)
        #expect(report.notes.isEmpty)
    }

    @Test("names with .., absolute names and unknown volumes are skipped")
    func hostileNames() throws {
        let scratch = try Scratch()
        var archive = Archive()
        archive.file("1/../escaped.txt", "no")
        archive.file("1/a/../../escaped2.txt", "no")
        archive.file("/etc/evil", "no")
        archive.file("0/input-only.txt", "no")
        archive.file("9/unknown.txt", "no")
        archive.file("1/ok.txt", "yes")
        let report = try extract(archive.finished(), in: scratch)
        #expect(!scratch.exists("escaped.txt") && !scratch.exists("escaped2.txt") && !scratch.exists("model/escaped.txt"))
        #expect(scratch.read("model/ok.txt") == "yes")
        #expect(report.skipped == 5)
        #expect(report.notes.allSatisfy { $0.contains("not a name inside the output folders") })
    }

    @Test("symbolic links, hard links, devices and FIFOs are skipped with a line each")
    func specialEntries() throws {
        let scratch = try Scratch()
        var archive = Archive()
        archive.entry("1/shadow", type: "2", link: "/etc/shadow")
        archive.entry("1/hard", type: "1", link: "1/model.txt")
        archive.entry("1/null", type: "3")
        archive.entry("1/disk", type: "4")
        archive.entry("1/fifo", type: "6")
        let report = try extract(archive.finished(), in: scratch)
        for name in ["shadow", "hard", "null", "disk", "fifo"] { #expect(!scratch.exists("model/\(name)")) }
        #expect(report.notes == [
            "skipped /opt/ml/model/shadow: a symbolic link (only regular files and folders are kept)",
            "skipped /opt/ml/model/hard: a hard link (only regular files and folders are kept)",
            "skipped /opt/ml/model/null: a character device (only regular files and folders are kept)",
            "skipped /opt/ml/model/disk: a block device (only regular files and folders are kept)",
            "skipped /opt/ml/model/fifo: a FIFO (only regular files and folders are kept)",
        ])
    }

    @Test("a link already in the workspace is never followed")
    func existingLinks() throws {
        let scratch = try Scratch()
        try scratch.folder("model")
        try scratch.folder("outside")
        symlink(scratch.path("outside"), scratch.path("model/dir"))
        symlink(scratch.path("outside/target.txt"), scratch.path("model/file.txt"))
        var archive = Archive()
        archive.file("1/dir/x.txt", "no")
        archive.file("1/file.txt", "no")
        let report = try extract(archive.finished(), in: scratch)
        #expect(!scratch.exists("outside/x.txt") && !scratch.exists("outside/target.txt"))
        #expect(report.files == 0 && report.skipped == 2)
    }

    @Test("bytes past the limit are not written")
    func limit() throws {
        let scratch = try Scratch()
        var archive = Archive()
        archive.file("1/small.txt", String(repeating: "a", count: 600))
        archive.file("1/big.txt", String(repeating: "b", count: 600))
        archive.file("1/after.txt", "c")
        let report = try extract(archive.finished(), in: scratch, limit: 1000)
        #expect(scratch.exists("model/small.txt"))
        #expect(!scratch.exists("model/big.txt") && !scratch.exists("model/after.txt"))
        #expect(report.limitReached)
        #expect(report.notes.first?.contains("exceed the staging limit of 1000 bytes") == true)
    }

    @Test("GNU long names and pax paths are honoured")
    func longNames() throws {
        let scratch = try Scratch()
        let long = "1/" + String(repeating: "d", count: 120) + "/f.txt"
        var archive = Archive()
        archive.longName(long, "long")
        archive.paxName("1/pax.txt", "pax")
        let report = try extract(archive.finished(), in: scratch)
        #expect(scratch.read("model/" + String(repeating: "d", count: 120) + "/f.txt") == "long")
        #expect(scratch.read("model/pax.txt") == "pax")
        #expect(!scratch.exists("model/ignored-name"))
        #expect(report.files == 2)
    }

    @Test("a corrupt or truncated archive fails the extraction")
    func corrupt() throws {
        let scratch = try Scratch()
        var archive = Archive()
        archive.file("1/a.txt", "x")
        var bad = archive.finished()
        bad[10] ^= 0x55  // the name changes, the checksum does not
        #expect(throws: StagingError.self) { try extract(bad, in: scratch) }
        var truncated = Archive()
        truncated.file("1/b.txt", String(repeating: "x", count: 2000))
        #expect(throws: StagingError.self) { try extract(Array(truncated.bytes.prefix(1024)), in: scratch) }
    }

    @Test("TarHeader's GNU long-name and pax entries name the next file for the extractor")
    func tarHeaderLongNames() throws {
        let scratch = try Scratch()
        try scratch.folder("model")
        let gnuName = "1/" + String(repeating: "g", count: 120) + "/a.txt"
        let paxName = "1/" + String(repeating: "p", count: 120) + "/b.txt"
        var archive: [UInt8] = []
        for (name, entry) in [(gnuName, TarHeader.gnuLongNameEntry(for: gnuName)), (paxName, TarHeader.paxEntry(for: paxName, records: [("path", paxName)]))] {
            archive += entry
            archive += TarHeader(name: name, type: TarHeader.regularFile, mode: 0o644, size: 2).encode() + TarHeader.padded(Array("ok".utf8))
        }
        let report = try extract(archive + [UInt8](repeating: 0, count: 1024), in: scratch)
        #expect(report.files == 2)
        #expect(scratch.read("model/" + String(repeating: "g", count: 120) + "/a.txt") == "ok")
        #expect(scratch.read("model/" + String(repeating: "p", count: 120) + "/b.txt") == "ok")
    }

    @Test("what TarWriter writes, the extractor reads back")
    func roundTrip() throws {
        let scratch = try Scratch()
        try scratch.folder("source/sub/" + String(repeating: "n", count: 110))
        FileManager.default.createFile(atPath: scratch.path("source/a.txt"), contents: Data("alpha".utf8))
        FileManager.default.createFile(
            atPath: scratch.path("source/sub/" + String(repeating: "n", count: 110) + "/b.bin"), contents: Data(repeating: 7, count: 70_000))
        symlink("/etc/passwd", scratch.path("source/link"))
        let fd = try WorkspaceStaging.anonymousFile(in: scratch.root)
        defer { close(fd) }
        var writer = TarWriter(fd: fd)
        try writer.addTree(root: scratch.path("source"), prefix: "1")
        try writer.finish()
        lseek(fd, 0, SEEK_SET)
        try scratch.folder("model")
        let report = try SafeTarExtractor(roots: ["1": scratch.path("model")], displayRoots: [:], limitBytes: 1 << 30).extract(from: fd)
        #expect(scratch.read("model/a.txt") == "alpha")
        #expect(FileManager.default.contents(atPath: scratch.path("model/sub/" + String(repeating: "n", count: 110) + "/b.bin"))?.count == 70_000)
        #expect(!scratch.exists("model/link"))  // the server's own links are not sent either
        #expect(report.files == 2)
    }
}
