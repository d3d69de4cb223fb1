import Foundation
import Testing

@testable import Scheduler

#if canImport(Glibc)
import Glibc
#endif

@Suite("Safe files: nothing is followed out of a root")
struct SafeFilesTests {
    @Test("a nested folder opens; a linked folder anywhere on the way is refused")
    func openDirectoryRefusesLinks() throws {
        let scratch = try Scratch()
        try scratch.folder("root/a/b")
        try scratch.folder("outside/secret")
        try scratch.link("root/a/escape", to: scratch.path("outside"))
        let root = try SafeDirectory.openRoot(scratch.path("root"))
        #expect(try root.openDirectory("a/b").displayPath == "a/b")
        #expect(throws: SafeFileError(kind: .notADirectory, path: "a/escape")) { try root.openDirectory("a/escape/secret") }
        #expect(throws: SafeFileError(kind: .notADirectory, path: "a/escape")) { try root.openDirectory("a/escape", create: true) }
        #expect(throws: SafeFileError.self) { try root.openDirectory("a/../../outside") }
        #expect(throws: SafeFileError(kind: .missing, path: "a/c")) { try root.openDirectory("a/c/d") }
    }

    @Test("create makes missing folders but never follows a link to make them elsewhere")
    func createFolders() throws {
        let scratch = try Scratch()
        try scratch.folder("root")
        try scratch.folder("outside")
        try scratch.link("root/out", to: scratch.path("outside"))
        let root = try SafeDirectory.openRoot(scratch.path("root"))
        _ = try root.openDirectory("x/y/z", create: true)
        #expect(scratch.exists("root/x/y/z"))
        #expect(throws: SafeFileError.self) { try root.openDirectory("out/new", create: true) }
        #expect(!scratch.exists("outside/new"))
    }

    @Test("makeDirectory tells whether it made the last folder, so an empty one need not be listed")
    func makeDirectoryReportsNewFolders() throws {
        let scratch = try Scratch()
        try scratch.folder("root/a")
        let root = try SafeDirectory.openRoot(scratch.path("root"))
        #expect(try root.makeDirectory("a/b").isNew)
        #expect(try !root.makeDirectory("a/b").isNew)
        #expect(try !root.makeDirectory("a").isNew)
        // Only the last folder counts: "c" is made here, "b" was there.
        #expect(try root.makeDirectory("a/b/c").isNew)
        #expect(try root.makeDirectory("a/b/c").directory.displayPath == "a/b/c")
    }

    @Test("entries are classified without following them")
    func kinds() throws {
        let scratch = try Scratch()
        try scratch.file("root/file", "x")
        try scratch.folder("root/folder")
        try scratch.link("root/link", to: "/etc/passwd")
        try scratch.link("root/dangling", to: "/nonexistent")
        try scratch.fifo("root/fifo")
        try scratch.socket("root/socket")
        let root = try SafeDirectory.openRoot(scratch.path("root"))
        #expect(try root.entries() == ["dangling", "fifo", "file", "folder", "link", "socket"])
        #expect(root.kind(of: "file") == .regularFile)
        #expect(root.kind(of: "folder") == .directory)
        #expect(root.kind(of: "link") == .symbolicLink)
        #expect(root.kind(of: "dangling") == .symbolicLink)
        #expect(root.kind(of: "fifo") == .fifo)
        #expect(root.kind(of: "socket") == .socket)
        #expect(root.kind(of: "missing") == nil)
        let devices = try SafeDirectory.openRoot("/dev")
        #expect(devices.kind(of: "null") == .device)
    }

    @Test("readFile reads a regular file and refuses a link, a FIFO (without blocking) or a linked folder")
    func readFile() throws {
        let scratch = try Scratch()
        try scratch.file("root/output/failure", "boom")
        try scratch.file("secret", "host secret")
        try scratch.link("root/output/linked", to: scratch.path("secret"))
        try scratch.fifo("root/output/fifo")
        try scratch.folder("elsewhere")
        try scratch.file("elsewhere/failure", "host secret")
        try scratch.link("root/linked-output", to: scratch.path("elsewhere"))
        let root = try SafeDirectory.openRoot(scratch.path("root"))
        #expect(try root.readFile("output/failure", limit: 100).map { String(decoding: $0, as: UTF8.self) } == "boom")
        #expect(try root.readFile("output/failure", limit: 2).map { String(decoding: $0, as: UTF8.self) } == "bo")
        #expect(try root.readFile("output/missing", limit: 100) == nil)
        #expect(try root.readFile("nowhere/failure", limit: 100) == nil)
        #expect(throws: SafeFileError(kind: .notARegularFile, path: "output/linked")) { try root.readFile("output/linked", limit: 100) }
        #expect(throws: SafeFileError(kind: .notARegularFile, path: "output/fifo")) { try root.readFile("output/fifo", limit: 100) }
        #expect(throws: SafeFileError(kind: .notADirectory, path: "linked-output")) {
            try root.readFile("linked-output/failure", limit: 100)
        }
    }

    @Test("a copy takes regular files and folders, skips and reports links, FIFOs and sockets")
    func copySkipsSpecialFiles() throws {
        let scratch = try Scratch()
        try scratch.file("secret/shadow", "host secret")
        try scratch.file("src/a.txt", "a")
        try scratch.file("src/sub/b.txt", "b")
        try scratch.link("src/sub/link-to-file", to: scratch.path("secret/shadow"))
        try scratch.link("src/link-to-folder", to: scratch.path("secret"))
        try scratch.fifo("src/sub/fifo")
        try scratch.socket("src/socket")
        try scratch.folder("dst")
        var skipped: [String: SafeEntryKind] = [:]
        var copier = SafeCopy(skipped: { skipped[$0] = $1 })
        let copied = try copier.copyContents(
            of: SafeDirectory.openRoot(scratch.path("src")), into: SafeDirectory.openRoot(scratch.path("dst")))
        #expect(copied == 2)  // a.txt and sub
        #expect(scratch.read("dst/a.txt") == "a")
        #expect(scratch.read("dst/sub/b.txt") == "b")
        #expect(!scratch.exists("dst/sub/link-to-file") && !scratch.exists("dst/link-to-folder"))
        #expect(!scratch.exists("dst/sub/fifo") && !scratch.exists("dst/socket"))
        #expect(
            skipped == [
                "sub/link-to-file": .symbolicLink, "link-to-folder": .symbolicLink, "sub/fifo": .fifo, "socket": .socket,
            ])
        #expect(copier.bytesCopied == 2)
    }

    @Test("a copy replaces a link in the destination instead of writing through it")
    func copyReplacesDestinationLinks() throws {
        let scratch = try Scratch()
        try scratch.file("victim", "original")
        try scratch.folder("victim-folder")
        try scratch.file("src/model.bin", "new")
        try scratch.file("src/dir/x", "x")
        try scratch.folder("dst")
        try scratch.link("dst/model.bin", to: scratch.path("victim"))
        try scratch.link("dst/dir", to: scratch.path("victim-folder"))
        var copier = SafeCopy()
        try copier.copyContents(of: SafeDirectory.openRoot(scratch.path("src")), into: SafeDirectory.openRoot(scratch.path("dst")))
        #expect(scratch.read("victim") == "original")
        #expect(!scratch.exists("victim-folder/x"))
        #expect(scratch.read("dst/model.bin") == "new" && !scratch.isLink("dst/model.bin"))
        #expect(scratch.read("dst/dir/x") == "x" && !scratch.isLink("dst/dir"))
    }

    @Test("a copy stops at its byte limit")
    func byteLimit() throws {
        let scratch = try Scratch()
        try scratch.file("src/big", String(repeating: "x", count: 10_000))
        try scratch.folder("dst")
        var copier = SafeCopy(byteLimit: 4096)
        #expect(throws: SafeFileError(kind: .tooLarge(limit: 4096), path: "big")) {
            try copier.copyContents(of: SafeDirectory.openRoot(scratch.path("src")), into: SafeDirectory.openRoot(scratch.path("dst")))
        }
    }

    @Test("a copy asked to stop stops with .interrupted")
    func interruption() throws {
        let scratch = try Scratch()
        for index in 0..<3 { try scratch.file("src/f\(index)", "x") }
        try scratch.folder("dst")
        var asked = 0
        var copier = SafeCopy(shouldContinue: { asked += 1; return asked < 2 }, checkInterval: .zero)
        var thrown: SafeFileError?
        do {
            try copier.copyContents(of: SafeDirectory.openRoot(scratch.path("src")), into: SafeDirectory.openRoot(scratch.path("dst")))
        } catch {
            thrown = error
        }
        #expect(thrown?.kind == .interrupted)
        #expect(try SafeDirectory.openRoot(scratch.path("dst")).entries().count < 3)
    }

    @Test("remove deletes a link, never its target, and folders recursively")
    func removeDoesNotFollow() throws {
        let scratch = try Scratch()
        try scratch.file("victim/keep", "k")
        try scratch.file("root/dir/file", "f")
        try scratch.link("root/dir/link", to: scratch.path("victim"))
        let root = try SafeDirectory.openRoot(scratch.path("root"))
        try root.remove("dir")
        #expect(!scratch.exists("root/dir"))
        #expect(scratch.read("victim/keep") == "k")
    }

    @Test("PrefixCopy: a folder prefix, an object, sibling stems; links in the store are not followed")
    func prefixCopy() throws {
        let scratch = try Scratch()
        try scratch.file("s3/bucket/train/a.csv", "a")
        try scratch.file("s3/bucket/train-2/b.csv", "b")
        try scratch.file("s3/bucket/one.csv", "one")
        try scratch.folder("host")
        try scratch.file("host/secret", "s")
        try scratch.link("s3/bucket/linked", to: scratch.path("host"))
        func copy(_ uri: String) throws -> (Int, [String]) {
            let destination = "dst-\(UUID().uuidString)"
            try scratch.folder(destination)
            var copier = SafeCopy()
            let location = try #require(StorageLocation(uri: uri, s3Root: scratch.path("s3")))
            let count = try PrefixCopy.copy(from: location, into: SafeDirectory.openRoot(scratch.path(destination)), using: &copier)
            return (count, try SafeDirectory.openRoot(scratch.path(destination)).entries())
        }
        #expect(try copy("s3://bucket/train/") == (1, ["a.csv"]))
        #expect(try copy("s3://bucket/one.csv") == (1, ["one.csv"]))
        #expect(try copy("s3://bucket/train") == (1, ["a.csv"]))
        #expect(try copy("s3://bucket/tra") == (2, ["train", "train-2"]))
        #expect(try copy("s3://bucket/linked/") == (0, []))
        #expect(throws: SafeFileError.self) { try copy("s3://bucket/linked/secret") }
        #expect(try copy("s3://bucket/nothing/") == (0, []))
    }

    @Test("StorageLocation: file:// only under allowed prefixes, whole components")
    func storageLocation() {
        #expect(StorageLocation(uri: "s3://b/k/x", s3Root: "/data/s3") == StorageLocation(uri: "s3://b/k/x/", s3Root: "/data/s3/"))
        #expect(StorageLocation(uri: "s3://b/k/x", s3Root: "/data/s3")?.path == "/data/s3/b/k/x")
        // ".." never climbs out of the object store, as a bucket name or as a key's component.
        #expect(StorageLocation(uri: "s3://a..b/k", s3Root: "/data/s3") == nil)
        #expect(StorageLocation(uri: "s3://../k", s3Root: "/data/s3") == nil)
        #expect(StorageLocation(uri: "s3://b/k/../../x", s3Root: "/data/s3") == nil)
        #expect(StorageLocation(uri: "s3://a.b/k..x", s3Root: "/data/s3")?.relative == "a.b/k..x")
        #expect(StorageLocation(uri: "file:///etc/", s3Root: "/s3", allowedFilePrefixes: []) == nil)
        #expect(StorageLocation(uri: "file:///data/x", s3Root: "/s3", allowedFilePrefixes: ["/data"])?.root == "/data")
        #expect(StorageLocation(uri: "file:///data/x", s3Root: "/s3", allowedFilePrefixes: ["/data"])?.relative == "x")
        #expect(StorageLocation(uri: "file:///database/x", s3Root: "/s3", allowedFilePrefixes: ["/data"]) == nil)
        #expect(StorageLocation(uri: "file:///data/../etc", s3Root: "/s3", allowedFilePrefixes: ["/data"]) == nil)
        #expect(StorageLocation(uri: "file:///etc/passwd", s3Root: "/s3", allowedFilePrefixes: ["/"])?.path == "/etc/passwd")
        #expect(StorageLocation(uri: "s3://../x", s3Root: "/s3") == nil)
    }
}

@Suite("Host paths in FailureReason")
struct HostPathsTests {
    @Test("workspace paths in engine errors are replaced")
    func redaction() {
        let message = #"error mounting "/home/me/.trainyard/workspaces/3-job/algo-1/checkpoints" to rootfs at "/proc": operation not permitted"#
        #expect(HostPaths.redacted(message) == #"error mounting "<job workspace>/checkpoints" to rootfs at "/proc": operation not permitted"#)
        #expect(HostPaths.redacted("no paths here") == "no paths here")
    }
}

@Suite("Workspace removal")
struct WorkspaceRemovalTests {
    @Test("removing a job's workspace leaves what its links point to alone")
    func removalDoesNotFollowLinks() throws {
        let scratch = try Scratch()
        try scratch.file("host/keep.txt", "k")
        try scratch.file("workspaces/7-job/algo-1/model/w", "w")
        try scratch.link("workspaces/7-job/algo-1/model/host", to: scratch.path("host"))
        try scratch.link("workspaces/7-job/algo-1/model/keep-link", to: scratch.path("host/keep.txt"))
        try SafeDirectory.openRoot(scratch.path("workspaces")).remove("7-job")
        #expect(!scratch.exists("workspaces/7-job"))
        #expect(scratch.read("host/keep.txt") == "k")
    }
}
