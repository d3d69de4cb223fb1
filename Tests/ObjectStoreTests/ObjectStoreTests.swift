import Crypto
import Foundation
import Testing

@testable import ObjectStore

/// A store in a fresh temporary folder with its own database.
final class TemporaryStore {
    let directory: URL
    let store: ObjectStore

    init(account: String = "123456789012") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("objectstore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try ObjectStore(
            root: directory.appendingPathComponent("s3").path, databasePath: directory.appendingPathComponent("db.sqlite").path,
            defaultAccount: account)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var root: URL { directory.appendingPathComponent("s3") }

    @discardableResult
    func put(_ bucket: String, _ key: String, _ text: String = "x") throws -> ObjectInfo {
        try store.putObject(
            bucket: bucket, key: ObjectKey(key), body: store.spool(Array(text.utf8)), attributes: ObjectAttributes())
    }

    func keys(_ bucket: String, _ query: ListQuery = ListQuery()) throws -> [String] {
        try store.list(bucket: bucket, query).objects.map(\.key)
    }
}

@Suite struct ObjectKeyTests {
    @Test func plainKeysSplitIntoPathParts() throws {
        #expect(try ObjectKey("a/b/c.txt").components == ["a", "b", "c.txt"])
        #expect(try ObjectKey("é ü+%").components == ["é ü+%"])
    }

    @Test(arguments: ["", "/a", "a//b", "dir/", ".", "..", "a/../b", "./a", "a/.", "a\u{0}b"])
    func keysAFolderCannotHoldAreRefused(_ key: String) {
        #expect(throws: S3Error.self) { try ObjectKey(key) }
    }

    @Test func longKeysAndPartsAreRefused() {
        #expect((try? ObjectKey(String(repeating: "a/", count: 600))) == nil)
        #expect((try? ObjectKey(String(repeating: "a", count: 256))) == nil)
        #expect((try? ObjectKey(String(repeating: "a", count: 255))) != nil)
    }

    @Test func bucketNames() {
        for valid in ["abc", "my-bucket.data", "a1b2"] { #expect(BucketName.isValid(valid), "\(valid)") }
        for invalid in ["ab", "Abc", "-abc", "abc-", "a..b", "192.168.1.1", "a_b", "xn--abc", String(repeating: "a", count: 64)] {
            #expect(!BucketName.isValid(invalid), "\(invalid)")
        }
    }
}

@Suite struct ObjectStoreTests {
    @Test func bucketOwnership() throws {
        let temp = try TemporaryStore()
        #expect(try temp.store.createBucket("shared", account: "111111111111") == .created)
        #expect(try temp.store.createBucket("shared", account: "111111111111") == .alreadyOwned)
        #expect(throws: S3Error.self) { try temp.store.createBucket("shared", account: "222222222222") }
        #expect(throws: S3Error.accessDenied()) { try temp.store.requireBucket("shared", account: "222222222222") }
        #expect(throws: S3Error.noSuchBucket("absent")) { try temp.store.requireBucket("absent", account: "111111111111") }
        // A folder made by hand belongs to the default account.
        try FileManager.default.createDirectory(at: temp.root.appendingPathComponent("byhand"), withIntermediateDirectories: true)
        #expect(try temp.store.owner(of: "byhand") == "123456789012")
        // A job's first write claims an unowned name; another account's bucket is refused.
        try temp.store.claimBucketForWrite("jobs-out", account: "333333333333")
        #expect(try temp.store.owner(of: "jobs-out") == "333333333333")
        #expect(throws: S3Error.accessDenied()) { try temp.store.claimBucketForWrite("jobs-out", account: "111111111111") }
    }

    @Test func putStoresAFileAndMetadata() throws {
        let temp = try TemporaryStore()
        _ = try temp.store.createBucket("bkt", account: "123456789012")
        let info = try temp.store.putObject(
            bucket: "bkt", key: ObjectKey("d/k.txt"), body: temp.store.spool(Array("hello".utf8)),
            attributes: ObjectAttributes(contentType: "text/plain", headers: ["x-amz-meta-a": "1"]))
        #expect(info.etag == "5d41402abc4b2a76b9719d911017c592")
        #expect(try String(contentsOf: temp.root.appendingPathComponent("bkt/d/k.txt"), encoding: .utf8) == "hello")
        let head = try temp.store.headObject(bucket: "bkt", key: ObjectKey("d/k.txt"))
        #expect(head.contentType == "text/plain" && head.headers == ["x-amz-meta-a": "1"])
        // Nothing is left in the temporary folder.
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.root.appendingPathComponent(".trainyard/tmp").path).isEmpty)
    }

    @Test func folderConflictsAreRefusedWithoutOverwriting() throws {
        let temp = try TemporaryStore()
        _ = try temp.store.createBucket("bkt", account: "123456789012")
        try temp.put("bkt", "a", "file")
        #expect(throws: S3Error.self) { try temp.put("bkt", "a/b") }
        try temp.put("bkt", "d/e")
        #expect(throws: S3Error.self) { try temp.put("bkt", "d") }
        #expect(try String(contentsOf: temp.root.appendingPathComponent("bkt/a"), encoding: .utf8) == "file")
        #expect(try temp.keys("bkt") == ["a", "d/e"])
    }

    @Test func filesWrittenOutsideTheAPIGetMetadataWhenRead() throws {
        let temp = try TemporaryStore()
        _ = try temp.store.createBucket("bkt", account: "123456789012")
        let folder = temp.root.appendingPathComponent("bkt/out")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("model".utf8).write(to: folder.appendingPathComponent("model.tar.gz"))
        let page = try temp.store.list(bucket: "bkt", ListQuery())
        #expect(page.objects.map(\.etag) == [Array(Data("model".utf8)).md5Hex])
        #expect(page.objects.first?.key == "out/model.tar.gz" && page.objects.first?.size == 5)
        // Rewritten behind the store's back: the new content's ETag.
        try Data("model2".utf8).write(to: folder.appendingPathComponent("model.tar.gz"))
        let info = try temp.store.headObject(bucket: "bkt", key: ObjectKey("out/model.tar.gz"))
        #expect(info.size == 6)
        #expect(info.etag == Array(Data("model2".utf8)).md5Hex)
    }

    @Test func symlinksAreNeitherListedNorFollowed() throws {
        let temp = try TemporaryStore()
        _ = try temp.store.createBucket("bkt", account: "123456789012")
        let outside = temp.directory.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: outside.appendingPathComponent("secret"))
        try FileManager.default.createSymbolicLink(at: temp.root.appendingPathComponent("bkt/link"), withDestinationURL: outside)
        try FileManager.default.createSymbolicLink(
            at: temp.root.appendingPathComponent("bkt/file"), withDestinationURL: outside.appendingPathComponent("secret"))
        #expect(try temp.keys("bkt").isEmpty)
        #expect(throws: S3Error.noSuchKey("link/secret")) { try temp.store.headObject(bucket: "bkt", key: ObjectKey("link/secret")) }
        #expect(throws: S3Error.noSuchKey("file")) { try temp.store.headObject(bucket: "bkt", key: ObjectKey("file")) }
        #expect(throws: S3Error.self) { try temp.put("bkt", "link/new") }
        #expect(!FileManager.default.fileExists(atPath: outside.appendingPathComponent("new").path))
    }

    @Test func deleteRemovesEmptyFolders() throws {
        let temp = try TemporaryStore()
        _ = try temp.store.createBucket("bkt", account: "123456789012")
        try temp.put("bkt", "x/y/z")
        try temp.put("bkt", "x/keep")
        try temp.store.deleteObject(bucket: "bkt", key: ObjectKey("x/y/z"))
        #expect(!FileManager.default.fileExists(atPath: temp.root.appendingPathComponent("bkt/x/y").path))
        #expect(FileManager.default.fileExists(atPath: temp.root.appendingPathComponent("bkt/x/keep").path))
        #expect(throws: S3Error.self) { try temp.store.deleteBucket("bkt", account: "123456789012") }
        try temp.store.deleteObject(bucket: "bkt", key: ObjectKey("x/keep"))
        try temp.store.deleteBucket("bkt", account: "123456789012")
        #expect(try temp.store.owner(of: "bkt") == nil)
    }

    @Test("a deleted bucket's name is free for another account, whose it then is (owners are remembered, and forgotten on delete)")
    func deletedBucketGoesToItsNextCreator() throws {
        let temp = try TemporaryStore()
        _ = try temp.store.createBucket("shared-name", account: "123456789012")
        #expect(try temp.store.owner(of: "shared-name") == "123456789012")
        #expect(throws: S3Error.self) { try temp.store.claimBucketForWrite("shared-name", account: "210987654321") }
        try temp.store.deleteBucket("shared-name", account: "123456789012")
        #expect(try temp.store.createBucket("shared-name", account: "210987654321") == .created)
        #expect(try temp.store.owner(of: "shared-name") == "210987654321")
        try temp.store.claimBucketForWrite("shared-name", account: "210987654321")
        #expect(throws: S3Error.self) { try temp.store.claimBucketForWrite("shared-name", account: "123456789012") }
    }
}

@Suite struct ListingTests {
    let keys = ["a", "bkt/1", "bkt/2", "bkt/c/3", "bkt-x", "c.d.e", "z"]

    func store() throws -> TemporaryStore {
        let temp = try TemporaryStore()
        _ = try temp.store.createBucket("bkt", account: "123456789012")
        for key in keys { try temp.put("bkt", key) }
        return temp
    }

    @Test func everyKeyInUTF8Order() throws {
        let temp = try store()
        #expect(try temp.keys("bkt") == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(try temp.keys("bkt") == ["a", "bkt-x", "bkt/1", "bkt/2", "bkt/c/3", "c.d.e", "z"])
    }

    @Test func prefixAndDelimiter() throws {
        let temp = try store()
        let top = try temp.store.list(bucket: "bkt", ListQuery(delimiter: "/"))
        #expect(top.objects.map(\.key) == ["a", "bkt-x", "c.d.e", "z"])
        #expect(top.commonPrefixes == ["bkt/"])
        let inner = try temp.store.list(bucket: "bkt", ListQuery(prefix: "bkt/", delimiter: "/"))
        #expect(inner.objects.map(\.key) == ["bkt/1", "bkt/2"] && inner.commonPrefixes == ["bkt/c/"])
        #expect(try temp.keys("bkt", ListQuery(prefix: "b")) == ["bkt-x", "bkt/1", "bkt/2", "bkt/c/3"])
        // Any delimiter, not only '/'.
        let dots = try temp.store.list(bucket: "bkt", ListQuery(delimiter: "."))
        #expect(dots.commonPrefixes == ["c."])
    }

    @Test func pagesFollowTheMarker() throws {
        let temp = try store()
        var after: String?
        var seen: [String] = []
        var pages = 0
        repeat {
            let page = try temp.store.list(bucket: "bkt", ListQuery(after: after, maxKeys: 2))
            seen += page.objects.map(\.key)
            pages += 1
            after = page.isTruncated ? page.lastItem : nil
        } while after != nil
        #expect(seen == ["a", "bkt-x", "bkt/1", "bkt/2", "bkt/c/3", "c.d.e", "z"])
        #expect(pages == 4)
        // A page ending on a common prefix resumes after everything below it.
        let first = try temp.store.list(bucket: "bkt", ListQuery(delimiter: "/", after: "a", maxKeys: 2))
        #expect(first.objects.map(\.key) == ["bkt-x"] && first.commonPrefixes == ["bkt/"] && first.isTruncated)
        let second = try temp.store.list(bucket: "bkt", ListQuery(delimiter: "/", after: first.lastItem, maxKeys: 2))
        #expect(second.objects.map(\.key) == ["c.d.e", "z"] && second.commonPrefixes.isEmpty && !second.isTruncated)
    }
}

@Suite struct MultipartTests {
    @Test func completeJoinsPartsWithS3sETag() throws {
        let temp = try TemporaryStore()
        _ = try temp.store.createBucket("bkt", account: "123456789012")
        let upload = try temp.store.createMultipartUpload(
            bucket: "bkt", key: ObjectKey("m"), account: "123456789012", attributes: ObjectAttributes(), checksumAlgorithm: nil)
        let first = [UInt8](repeating: 1, count: Int(ObjectStore.minimumPartSize))
        let second: [UInt8] = [2, 2, 2]
        let p1 = try temp.store.uploadPart(upload, partNumber: 1, body: temp.store.spool(first), checksum: nil)
        let p2 = try temp.store.uploadPart(upload, partNumber: 2, body: temp.store.spool(second), checksum: nil)
        let info = try temp.store.completeMultipartUpload(upload, parts: [(1, "\"\(p1.etag)\""), (2, p2.etag)])
        let expected = Array(ObjectStore.bytes(fromHex: p1.etag) + ObjectStore.bytes(fromHex: p2.etag)).md5Hex + "-2"
        #expect(info.etag == expected)
        let data = try Data(contentsOf: temp.root.appendingPathComponent("bkt/m"))
        #expect(Array(data) == first + second)
        #expect(throws: S3Error.self) { try temp.store.upload(upload.uploadID, bucket: "bkt", key: "m") }
    }

    @Test func partsOutOfOrderOrTooSmallAreRefused() throws {
        let temp = try TemporaryStore()
        _ = try temp.store.createBucket("bkt", account: "123456789012")
        let upload = try temp.store.createMultipartUpload(
            bucket: "bkt", key: ObjectKey("m"), account: "123456789012", attributes: ObjectAttributes(), checksumAlgorithm: nil)
        let p1 = try temp.store.uploadPart(upload, partNumber: 1, body: temp.store.spool([1]), checksum: nil)
        let p2 = try temp.store.uploadPart(upload, partNumber: 2, body: temp.store.spool([2]), checksum: nil)
        #expect { try temp.store.completeMultipartUpload(upload, parts: [(2, p2.etag), (1, p1.etag)]) } throws: {
            ($0 as? S3Error)?.code == "InvalidPartOrder"
        }
        #expect { try temp.store.completeMultipartUpload(upload, parts: [(1, p1.etag), (2, p2.etag)]) } throws: {
            ($0 as? S3Error)?.code == "EntityTooSmall"
        }
        // The upload survives a refused Complete.
        #expect(try temp.store.parts(of: upload.uploadID).count == 2)
    }
}

@Suite struct ChecksumTests {
    @Test func knownVectors() {
        // "123456789": the standard check values of each CRC.
        let input = Array("123456789".utf8)
        func digest(_ algorithm: ChecksumAlgorithm) -> String {
            var checksum = RunningChecksum(algorithm)
            input.withUnsafeBytes { checksum.update($0) }
            return checksum.digest().hexString
        }
        #expect(digest(.crc32) == "cbf43926")
        #expect(digest(.crc32c) == "e3069283")
        #expect(digest(.crc64nvme) == "ae8b14860a799888")
        #expect(digest(.sha1) == "f7c3bc1d808e04732adf679965ccc34ca7ae3441")
    }
}

extension Array where Element == UInt8 {
    var md5Hex: String { Array(Insecure.MD5.hash(data: self)).hexString }
}
