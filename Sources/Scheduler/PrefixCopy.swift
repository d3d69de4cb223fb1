import Foundation

/// Copies what an S3Prefix names from the folder-backed object store: every object whose key
/// starts with the prefix. A prefix that is a folder copies the folder's contents; a prefix that is
/// an object copies that object; otherwise every sibling whose name starts with the last part of
/// the prefix is copied under its own name.
///
/// Everything beneath the location's root is walked without following links (`SafeCopy`): links,
/// FIFOs, sockets and devices are skipped and reported, never read (issue 12 item 2).
enum PrefixCopy {
    /// Returns the number of top-level entries copied.
    static func copy(from location: StorageLocation, into destination: SafeDirectory, using copier: inout SafeCopy) throws(SafeFileError) -> Int {
        let root = try SafeDirectory.openRoot(location.root)
        var parts = try SafeDirectory.components(location.relative)
        guard let stem = parts.popLast() else {
            return try copier.copyContents(of: root, into: destination)
        }
        let parent: SafeDirectory
        do {
            parent = try root.openDirectory(parts.joined(separator: "/"))
        } catch where error.kind == .missing {
            return 0
        }
        switch parent.kind(of: stem) {
        case .directory?:
            return try copier.copyContents(of: parent.openDirectory(stem), into: destination)
        case .regularFile?:
            return try copier.copyEntry(stem, from: parent, into: destination) ? 1 : 0
        case .some:
            // A link or a special file named exactly by the prefix: reported, not followed.
            _ = try copier.copyEntry(stem, from: parent, into: destination)
            return 0
        case nil:
            var copied = 0
            for name in try parent.entries() where name.hasPrefix(stem) {
                if try copier.copyEntry(name, from: parent, into: destination) { copied += 1 }
            }
            return copied
        }
    }
}
