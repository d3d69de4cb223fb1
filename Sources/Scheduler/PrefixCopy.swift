import Foundation

/// Copies what an S3Prefix names from the folder-backed object store: every object whose key
/// starts with the prefix. A prefix that is a folder copies the folder's contents; a prefix that is
/// an object copies that object; otherwise every sibling whose name starts with the last part of
/// the prefix is copied under its own name.
enum PrefixCopy {
    /// Returns the number of top-level entries copied.
    static func copy(prefix path: String, into destination: URL) throws -> Int {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue {
                return try copyContents(of: URL(fileURLWithPath: path), into: destination)
            }
            let source = URL(fileURLWithPath: path)
            try fm.copyItem(at: source, to: destination.appendingPathComponent(source.lastPathComponent))
            return 1
        }
        let source = URL(fileURLWithPath: path)
        let parent = source.deletingLastPathComponent()
        let stem = source.lastPathComponent
        guard let siblings = try? fm.contentsOfDirectory(atPath: parent.path) else { return 0 }
        var copied = 0
        for name in siblings.sorted() where name.hasPrefix(stem) {
            try fm.copyItem(at: parent.appendingPathComponent(name), to: destination.appendingPathComponent(name))
            copied += 1
        }
        return copied
    }

    /// Copies a folder's entries into `destination`, replacing entries of the same name.
    static func copyContents(of source: URL, into destination: URL) throws -> Int {
        let fm = FileManager.default
        let names = try fm.contentsOfDirectory(atPath: source.path)
        try fm.createDirectory(at: destination, withIntermediateDirectories: true)
        for name in names {
            let target = destination.appendingPathComponent(name)
            if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
            try fm.copyItem(at: source.appendingPathComponent(name), to: target)
        }
        return names.count
    }
}
