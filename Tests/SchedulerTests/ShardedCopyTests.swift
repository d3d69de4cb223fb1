import Foundation
import Testing

@testable import Scheduler

/// ShardedByS3Key staging copies only the host's own objects (issue 13 item 4): with the keys in
/// byte order, object i goes to host i mod N (ClusterLayout.shard).
@Suite struct ShardedCopyTests {
    /// Copies `uri` as host `index` of `count` and returns what the prefix named and the keys copied.
    private func copy(_ scratch: Scratch, _ uri: String, index: Int, count: Int) throws -> (named: Int, keys: [String], bytes: Int64) {
        let destination = "host-\(index)-\(UUID().uuidString)"
        try scratch.folder(destination)
        var copier = SafeCopy()
        let location = try #require(StorageLocation(uri: uri, s3Root: scratch.path("s3")))
        let named = try PrefixCopy.copy(
            from: location, into: SafeDirectory.openRoot(scratch.path(destination)), using: &copier, shard: (index, count))
        let keys = LocalWorkspaces.regularFiles(beneath: URL(fileURLWithPath: scratch.path(destination))).sorted()
        return (named, keys, copier.bytesCopied)
    }

    @Test("each host copies only object i with i mod N == its index, nested keys included")
    func onlyTheHostsShareIsCopied() throws {
        let scratch = try Scratch()
        // Byte order: "B.csv" < "a/x.csv" < "a/y.csv" < "b.csv" < "c/d/e.csv".
        for key in ["b.csv", "a/x.csv", "B.csv", "c/d/e.csv", "a/y.csv"] {
            try scratch.file("s3/bucket/train/\(key)", key)
        }
        let first = try copy(scratch, "s3://bucket/train/", index: 0, count: 2)
        let second = try copy(scratch, "s3://bucket/train/", index: 1, count: 2)
        #expect(first.keys == ["B.csv", "a/y.csv", "c/d/e.csv"])
        #expect(second.keys == ["a/x.csv", "b.csv"])
        #expect(first.named == 5 && second.named == 5)
        // Only the share's bytes were written: nothing was copied to be deleted afterwards.
        #expect(first.bytes == Int64("B.csv".count + "a/y.csv".count + "c/d/e.csv".count))
        #expect(second.bytes == Int64("a/x.csv".count + "b.csv".count))
    }

    @Test("a sibling-stem prefix shards the objects of every matching entry; more hosts than objects leaves some empty")
    func stemsAndEmptyShares() throws {
        let scratch = try Scratch()
        try scratch.file("s3/bucket/part-1", "1")
        try scratch.file("s3/bucket/part-2/inner", "2")
        try scratch.file("s3/bucket/other", "o")
        #expect(try copy(scratch, "s3://bucket/part", index: 0, count: 3).keys == ["part-1"])
        #expect(try copy(scratch, "s3://bucket/part", index: 1, count: 3).keys == ["part-2/inner"])
        let third = try copy(scratch, "s3://bucket/part", index: 2, count: 3)
        #expect(third.keys.isEmpty && third.named == 2)
    }

    @Test("links in the store are neither keys nor followed")
    func linksAreNotKeys() throws {
        let scratch = try Scratch()
        try scratch.file("s3/bucket/train/a", "a")
        try scratch.folder("outside")
        try scratch.file("outside/secret", "s")
        try scratch.link("s3/bucket/train/link", to: scratch.path("outside"))
        let only = try copy(scratch, "s3://bucket/train/", index: 0, count: 1)
        #expect(only.keys == ["a"])
        #expect(only.named == 1)
    }
}
