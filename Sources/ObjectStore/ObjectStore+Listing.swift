internal import Glibc
internal import SQLite
internal import Synchronization

/// What a ListObjects/ListObjectsV2/ListObjectVersions page asks for.
public struct ListQuery: Sendable, Equatable {
    public var prefix: String
    public var delimiter: String?
    /// Items (keys, or common prefixes) at or before this one in UTF-8 byte order are skipped:
    /// ListObjects' Marker, ListObjectsV2's StartAfter or continuation token.
    public var after: String?
    public var maxKeys: Int

    public init(prefix: String = "", delimiter: String? = nil, after: String? = nil, maxKeys: Int = 1000) {
        self.prefix = prefix
        self.delimiter = delimiter?.isEmpty == true ? nil : delimiter
        self.after = after?.isEmpty == true ? nil : after
        self.maxKeys = max(0, maxKeys)
    }
}

public struct ListPage: Sendable, Equatable {
    public var objects: [ObjectInfo] = []
    public var commonPrefixes: [String] = []
    public var isTruncated = false
    /// The last key or common prefix on the page (the next page's marker).
    public var lastItem: String?
}

/// UTF-8 byte order, S3's listing order ("List results are always returned in UTF-8 binary order").
@inline(__always) func utf8Less(_ lhs: String, _ rhs: String) -> Bool { lhs.utf8.lexicographicallyPrecedes(rhs.utf8) }
@inline(__always) func utf8HasPrefix(_ text: String, _ prefix: String) -> Bool { text.utf8.starts(with: prefix.utf8) }

extension ObjectStore {
    /// One page of a bucket's keys in UTF-8 binary order, walking the folder depth-first with each
    /// directory's entries sorted as their keys sort (a directory `d` as `d/`). Only the folders a
    /// page needs are read: those on the way to `prefix`, after `after`, and, with the delimiter
    /// `/`, not below a common prefix (a non-empty subfolder is reported, not walked).
    public func list(bucket: String, _ query: ListQuery) throws(S3Error) -> ListPage {
        var walker = ListWalker(query: query, cache: directoryCache)
        if case .success(let fd) = root.openDirectory([bucket], create: false) {
            walker.walk(fd, relative: "")
            close(fd)
        }
        var page = walker.page
        // Metadata for the page's files: one range read of the rows, then any missing or stale
        // ones computed from the files.
        if let first = walker.files.first?.key, let last = walker.files.last?.key {
            let rows: [String: ObjectInfo] = try withDatabase { db throws(S3Error) in
                var rows: [String: ObjectInfo] = [:]
                let statement = try db.prepare(
                    "SELECT key, size_bytes, mtime_ns, etag, content_type FROM s3_objects WHERE bucket = ? AND key >= ? AND key <= ?")
                defer { statement.reset() }
                try statement.bind([bucket, first, last])
                while try statement.step() {
                    let key = statement.string(0)
                    rows[key] = ObjectInfo(
                        key: key, size: statement.int64(1), etag: statement.string(3), modifiedNanoseconds: statement.int64(2),
                        contentType: statement.optionalString(4))
                }
                return rows
            }
            for file in walker.files {
                if let row = rows[file.key], row.size == file.size, row.modifiedNanoseconds == file.mtime {
                    page.objects.append(row)
                    continue
                }
                guard let key = try? ObjectKey(file.key),
                    case .success(let parent) = root.openDirectory([bucket] + key.parentComponents, create: false)
                else { continue }
                defer { close(parent) }
                guard let (fd, stat) = RootedDirectory.openRegularFile(parent, key.leaf) else { continue }
                defer { close(fd) }
                page.objects.append(try metadata(bucket: bucket, key: file.key, stat: stat, fd: fd))
            }
        }
        return page
    }
}

struct ListWalker {
    struct File {
        var key: String
        var size: Int64
        var mtime: Int64
    }

    let query: ListQuery
    let cache: DirectoryCache?
    var page = ListPage()
    var files: [File] = []
    var count = 0
    var stopped = false

    init(query: ListQuery, cache: DirectoryCache? = nil) {
        self.query = query
        self.cache = cache
    }

    /// True when the item is at or before the marker.
    func skipped(_ item: String) -> Bool {
        guard let after = query.after else { return false }
        return !utf8Less(after, item)
    }

    /// Records a key or common prefix, or notices that the page is full (there is a next item).
    mutating func emit(prefix: String? = nil, file: File? = nil) {
        if count >= query.maxKeys {
            page.isTruncated = true
            stopped = true
            return
        }
        count += 1
        if let prefix {
            page.commonPrefixes.append(prefix)
            page.lastItem = prefix
        } else if let file {
            files.append(file)
            page.lastItem = file.key
        }
    }

    /// The common prefix `key` rolls up into, if any.
    func commonPrefix(of key: String) -> String? {
        guard let delimiter = query.delimiter else { return nil }
        let rest = key.utf8.dropFirst(query.prefix.utf8.count)
        let delimiterBytes = Array(delimiter.utf8)
        guard !delimiterBytes.isEmpty, rest.count >= delimiterBytes.count else { return nil }
        var index = rest.startIndex
        while index <= rest.index(rest.endIndex, offsetBy: -delimiterBytes.count) {
            if rest[index...].starts(with: delimiterBytes) {
                let end = rest.index(index, offsetBy: delimiterBytes.count)
                return String(decoding: key.utf8[key.utf8.startIndex..<end], as: UTF8.self)
            }
            index = rest.index(after: index)
        }
        return nil
    }

    mutating func walk(_ directory: Int32, relative: String) {
        let entries = cache?.sortedEntries(directory) ?? DirectoryCache.read(directory)
        // Entries whose keys all sort before the marker form a prefix of the sorted list: skip
        // it with a binary search (a page deep into a folder of 100k keys reads one page's worth).
        var start = 0
        if let after = query.after, utf8HasPrefix(after, relative) {
            let target = Array(after.utf8.dropFirst(relative.utf8.count))
            var low = 0
            var high = entries.count
            while low < high {
                let middle = (low + high) / 2
                let key = entries[middle].sortKey
                if key.lexicographicallyPrecedes(target) && !target.starts(with: key) {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            start = low
        }
        for (entry, _) in entries[start...] {
            if stopped { return }
            if !entry.isDirectory {
                let key = relative + entry.name
                guard utf8HasPrefix(key, query.prefix) else { continue }
                if let prefix = commonPrefix(of: key) {
                    if prefix == page.commonPrefixes.last || skipped(prefix) { continue }
                    emit(prefix: prefix)
                    continue
                }
                if skipped(key) { continue }
                guard let info = RootedDirectory.stat(directory, entry.name) else { continue }
                emit(file: File(
                    key: key, size: Int64(info.st_size),
                    mtime: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)))
                continue
            }
            let folder = relative + entry.name + "/"
            let below = utf8HasPrefix(folder, query.prefix)
            guard below || utf8HasPrefix(query.prefix, folder) else { continue }
            // Every key below the folder sorts before the marker: nothing to see there.
            if let after = query.after, utf8Less(folder, after), !utf8HasPrefix(after, folder) { continue }
            let child = openat(directory, entry.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { continue }
            defer { close(child) }
            if below, query.delimiter == "/", folder.utf8.count > query.prefix.utf8.count {
                // The folder is a common prefix: report it if it holds an object, without walking it.
                if folder == page.commonPrefixes.last || skipped(folder) || !RootedDirectory.containsFile(child) { continue }
                emit(prefix: folder)
                continue
            }
            walk(child, relative: folder)
        }
    }
}

/// Sorted entries of large folders, kept between listing pages: paging through a folder of 100k
/// objects would otherwise read and sort all of it for every page of 1000.
///
/// An entry is used only while the folder's (device, inode, mtime, ctime) are unchanged, and only
/// for folders last changed over two seconds ago: a change within the file system's timestamp
/// granularity could otherwise leave the times equal and the list stale.
final class DirectoryCache: Sendable {
    typealias Entries = [(entry: (name: String, isDirectory: Bool), sortKey: [UInt8])]
    struct Key: Hashable {
        var device: UInt64
        var inode: UInt64
    }
    struct Cached {
        var mtime: Int64
        var ctime: Int64
        var entries: Entries
    }
    static let minimumEntries = 2000
    static let capacity = 32
    private let cached = Mutex<[Key: Cached]>([:])

    static func read(_ directory: Int32) -> Entries {
        RootedDirectory.entries(directory).map { entry in
            (entry, sortKey: Array(entry.name.utf8) + (entry.isDirectory ? [UInt8(ascii: "/")] : []))
        }.sorted { $0.sortKey.lexicographicallyPrecedes($1.sortKey) }
    }

    func sortedEntries(_ directory: Int32) -> Entries {
        var info = stat()
        guard fstat(directory, &info) == 0 else { return Self.read(directory) }
        let key = Key(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        let mtime = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        let ctime = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        if let hit = cached.withLock({ $0[key] }), hit.mtime == mtime, hit.ctime == ctime { return hit.entries }
        let entries = Self.read(directory)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let settled = Int64(now.tv_sec) - max(Int64(info.st_mtim.tv_sec), Int64(info.st_ctim.tv_sec)) >= 2
        if entries.count >= Self.minimumEntries && settled {
            cached.withLock { cache in
                if cache.count >= Self.capacity { cache.removeAll() }
                cache[key] = Cached(mtime: mtime, ctime: ctime, entries: entries)
            }
        }
        return entries
    }
}
