import Foundation

/// Copies what an S3Prefix names from the folder-backed object store: every object whose key
/// starts with the prefix. A prefix that is a folder copies the folder's contents; a prefix that is
/// an object copies that object; otherwise every sibling whose name starts with the last part of
/// the prefix is copied under its own name.
///
/// Everything beneath the location's root is walked without following links (`SafeCopy`): links,
/// FIFOs, sockets and devices are skipped and reported, never read (issue 12 item 2).
enum PrefixCopy {
    /// Returns the number of top-level entries copied; with `shard`, the number of objects the
    /// prefix names (of which only the host's share is copied).
    static func copy(
        from location: StorageLocation, into destination: SafeDirectory, using copier: inout SafeCopy,
        shard: (index: Int, count: Int)? = nil
    ) throws(SafeFileError) -> Int {
        let root = try SafeDirectory.openRoot(location.root)
        var parts = try SafeDirectory.components(location.relative)
        // What the prefix names: entries of one folder (all of them, one, or those whose name
        // starts with the prefix's last part).
        let parent: SafeDirectory
        let names: [String]
        if let stem = parts.popLast() {
            let folder: SafeDirectory
            do {
                folder = try root.openDirectory(parts.joined(separator: "/"))
            } catch where error.kind == .missing {
                return 0
            }
            switch folder.kind(of: stem) {
            case .directory?:
                parent = try folder.openDirectory(stem)
                names = try parent.entries()
            case .some:
                // An object, or a link or special file named exactly by the prefix (reported, not followed).
                parent = folder
                names = [stem]
            case nil:
                parent = folder
                names = try folder.entries().filter { $0.hasPrefix(stem) }
            }
        } else {
            parent = root
            names = try root.entries()
        }
        guard let shard else {
            var copied = 0
            for name in names where try copier.copyEntry(name, from: parent, into: destination) { copied += 1 }
            return copied
        }
        // ShardedByS3Key: the objects are listed first (keys relative to the channel folder, in
        // byte order) and only object i with i mod count == index is copied, rather than copying
        // the whole channel to every host.
        var keys: [String] = []
        for name in names { try collectKeys(name, in: parent, prefix: "", into: &keys, copier: &copier, report: shard.index == 0) }
        keys.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        for (position, key) in keys.enumerated() where position % shard.count == shard.index {
            var components = try SafeDirectory.components(key)
            guard let file = components.popLast() else { continue }
            let folder = components.joined(separator: "/")
            let from = folder.isEmpty ? parent : try parent.openDirectory(folder)
            let to = folder.isEmpty ? destination : try destination.openDirectory(folder, create: true)
            try copier.copyEntry(file, from: from, into: to)
        }
        return keys.count
    }

    /// The regular files beneath entry `name` of `folder` (or the entry itself), as keys relative
    /// to `folder`. Links and special files are not keys; the first host's copier reports them as
    /// skipped (once per job, not once per host).
    private static func collectKeys(
        _ name: String, in folder: SafeDirectory, prefix: String, into keys: inout [String], copier: inout SafeCopy, report: Bool
    ) throws(SafeFileError) {
        let key = prefix + name
        switch folder.kind(of: name) {
        case .directory?:
            let inner = try folder.openDirectory(name)
            for child in try inner.entries() {
                try collectKeys(child, in: inner, prefix: key + "/", into: &keys, copier: &copier, report: report)
            }
        case .regularFile?:
            keys.append(key)
        case .some(let kind):
            if report { copier.skipped(folder.displayPath.isEmpty ? name : folder.displayPath + "/" + name, kind) }
        case nil:
            break
        }
    }
}
