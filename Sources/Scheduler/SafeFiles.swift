import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// File access on a job's behalf that never follows a link out of its root (issue 12 item 2).
///
/// Containers are untrusted and write into their workspace as root: a `/opt/ml/output/failure`
/// that is a link to `/etc/shadow`, an `/opt/ml/output/data` that is a link to `/root`, or a FIFO in
/// `/opt/ml/checkpoints` must not make the server read, pack, upload or block on anything outside
/// the workspace. So everything beneath a trusted root (the workspace, the object store, an
/// operator-allowed `file://` prefix) is reached with `openat(…, O_NOFOLLOW)` one component at a
/// time, and entries are classified with `fstatat(…, AT_SYMLINK_NOFOLLOW)`: links are never
/// dereferenced, and FIFOs, sockets and devices are never opened.
struct SafeFileError: Error, Equatable, CustomStringConvertible {
    enum Kind: Equatable {
        /// A component that should be a directory is a link, a file or something else.
        case notADirectory
        /// A file that should be a regular file is a link, a FIFO, a device, ...
        case notARegularFile
        case missing
        case interrupted
        /// More bytes than the copy's limit (the job's volume).
        case tooLarge(limit: Int64)
        case system(operation: String, errno: Int32)
    }

    var kind: Kind
    /// Relative to the root it was reached from: never a host path (issue 12 item 10).
    var path: String

    var description: String {
        switch kind {
        case .notADirectory: "\(path) is not a directory (links are not followed)"
        case .notARegularFile: "\(path) is not a regular file (links, FIFOs, sockets and devices are not read)"
        case .missing: "\(path) does not exist"
        case .interrupted: "interrupted"
        case .tooLarge(let limit): "more than \(limit) bytes"
        case .system(let operation, let code): "\(operation) \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// What `fstatat(AT_SYMLINK_NOFOLLOW)` says an entry is.
enum SafeEntryKind: String, Equatable, Sendable {
    case directory, regularFile = "regular file", symbolicLink = "symbolic link", fifo = "FIFO", socket,
        device, other

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFDIR: self = .directory
        case S_IFREG: self = .regularFile
        case S_IFLNK: self = .symbolicLink
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFCHR, S_IFBLK: self = .device
        default: self = .other
        }
    }
}

/// An open directory. Its descriptor is closed when the value is released; it is used by one
/// thread at a time (a blocking file thread), hence no Sendable.
final class SafeDirectory {
    let fd: Int32
    /// For messages: the path relative to the root this directory was opened from.
    let displayPath: String

    private init(fd: Int32, displayPath: String) {
        self.fd = fd
        self.displayPath = displayPath
    }

    deinit { close(fd) }

    /// Opens a root the server chose itself (the workspace, the object store, an operator-allowed
    /// prefix): links in this path are the operator's and are followed. With `create`, missing
    /// folders are made.
    static func openRoot(_ path: String, create: Bool = false) throws(SafeFileError) -> SafeDirectory {
        var fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        // Made only when missing: most roots exist, and creating walks every component.
        if fd < 0, errno == ENOENT, create {
            try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        guard fd >= 0 else {
            let code = errno
            throw SafeFileError(kind: code == ENOENT ? .missing : .system(operation: "open", errno: code), path: "/")
        }
        return SafeDirectory(fd: fd, displayPath: "")
    }

    /// The path's components; "" and "." are dropped, ".." is refused (it would climb out).
    static func components(_ relative: String) throws(SafeFileError) -> [String] {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        if parts.contains("..") { throw SafeFileError(kind: .notADirectory, path: relative) }
        return parts
    }

    private func child(_ name: String) -> String { displayPath.isEmpty ? name : displayPath + "/" + name }

    /// Opens `relative` beneath this directory, one component at a time, never following a link.
    /// With `create`, missing components are made (mode 0755).
    func openDirectory(_ relative: String, create: Bool = false) throws(SafeFileError) -> SafeDirectory {
        try walk(relative, create: create).directory
    }

    /// `openDirectory(relative, create: true)`, and whether its last folder was made by this
    /// call (and so is empty: no leftovers of an earlier attempt can be in it).
    func makeDirectory(_ relative: String) throws(SafeFileError) -> (directory: SafeDirectory, isNew: Bool) {
        try walk(relative, create: true)
    }

    private func walk(_ relative: String, create: Bool) throws(SafeFileError) -> (directory: SafeDirectory, isNew: Bool) {
        var current = SafeDirectory(fd: dup(fd), displayPath: displayPath)
        guard current.fd >= 0 else { throw SafeFileError(kind: .system(operation: "dup", errno: errno), path: displayPath) }
        var madeLast = false
        for name in try Self.components(relative) {
            (current, madeLast) = try current.openChildDirectory(name, create: create)
        }
        return (current, madeLast)
    }

    /// The child folder `name`, and whether it was made now (with `create`).
    private func openChildDirectory(_ name: String, create: Bool) throws(SafeFileError) -> (SafeDirectory, made: Bool) {
        let path = child(name)
        var made = false
        var fd = openat(self.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0, errno == ENOENT, create {
            if mkdirat(self.fd, name, 0o755) == 0 {
                made = true
            } else if errno != EEXIST {
                throw SafeFileError(kind: .system(operation: "mkdir", errno: errno), path: path)
            }
            fd = openat(self.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT: throw SafeFileError(kind: .missing, path: path)
            // O_NOFOLLOW on a link gives ELOOP; O_DIRECTORY on anything else ENOTDIR.
            case ELOOP, ENOTDIR: throw SafeFileError(kind: .notADirectory, path: path)
            default: throw SafeFileError(kind: .system(operation: "open", errno: code), path: path)
            }
        }
        return (SafeDirectory(fd: fd, displayPath: path), made)
    }

    /// What `name` is, without following it; nil when there is no such entry.
    func kind(of name: String) -> SafeEntryKind? {
        var info = stat()
        guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return SafeEntryKind(mode: info.st_mode)
    }

    /// The names in this directory, sorted, without "." and "..".
    func entries() throws(SafeFileError) -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw SafeFileError(kind: .system(operation: "opendir", errno: errno), path: displayPath)
        }
        defer { closedir(stream) }
        // A dup shares the offset of the original; start from the beginning whatever was read before.
        rewinddir(stream)
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Opens `name` for reading if it is a regular file; never blocks on a FIFO (O_NONBLOCK)
    /// and never follows a link (O_NOFOLLOW).
    func openRegularFile(_ name: String) throws(SafeFileError) -> Int32 {
        let path = child(name)
        let fd = openat(self.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT: throw SafeFileError(kind: .missing, path: path)
            case ELOOP: throw SafeFileError(kind: .notARegularFile, path: path)
            default: throw SafeFileError(kind: .system(operation: "open", errno: code), path: path)
            }
        }
        var info = stat()
        guard fstat(fd, &info) == 0, SafeEntryKind(mode: info.st_mode) == .regularFile else {
            close(fd)
            throw SafeFileError(kind: .notARegularFile, path: path)
        }
        // Back to blocking reads for a regular file.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// Up to `limit` bytes of the regular file at `relative`; nil if it does not exist. Throws
    /// `.notARegularFile` for a link, FIFO, socket or device, and `.notADirectory` for a linked folder.
    func readFile(_ relative: String, limit: Int) throws(SafeFileError) -> Data? {
        var parts = try Self.components(relative)
        guard let name = parts.popLast() else { throw SafeFileError(kind: .notARegularFile, path: relative) }
        let directory: SafeDirectory
        do {
            directory = try openDirectory(parts.joined(separator: "/"))
        } catch where error.kind == .missing {
            return nil
        }
        let fd: Int32
        do {
            fd = try directory.openRegularFile(name)
        } catch where error.kind == .missing {
            return nil
        }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while data.count < limit {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, limit - data.count)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return data
    }

    /// Removes `name` (recursively for a directory) without following links: a link is removed,
    /// never what it points to.
    func remove(_ name: String) throws(SafeFileError) {
        guard let kind = kind(of: name) else { return }
        if kind == .directory {
            let directory = try openChildDirectory(name, create: false).0
            for entry in try directory.entries() { try directory.remove(entry) }
            guard unlinkat(fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT else {
                throw SafeFileError(kind: .system(operation: "rmdir", errno: errno), path: child(name))
            }
        } else {
            guard unlinkat(fd, name, 0) == 0 || errno == ENOENT else {
                throw SafeFileError(kind: .system(operation: "unlink", errno: errno), path: child(name))
            }
        }
    }

    /// Creates `name` afresh for writing (an existing entry of that name, a link included, is
    /// removed first; O_EXCL|O_NOFOLLOW so nothing else is ever opened).
    func createFile(_ name: String, mode: mode_t = 0o644) throws(SafeFileError) -> Int32 {
        try remove(name)
        let fd = openat(self.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SafeFileError(kind: .system(operation: "create", errno: errno), path: child(name)) }
        return fd
    }

    /// Renames `from` to `to` within this directory; an existing `to` (even a link) is replaced,
    /// not followed (rename(2) never dereferences its target).
    func rename(_ from: String, to: String) throws(SafeFileError) {
        guard renameat(fd, from, fd, to) == 0 else {
            throw SafeFileError(kind: .system(operation: "rename", errno: errno), path: child(to))
        }
    }
}

/// Copies trees of regular files and folders between two safe roots. Links, FIFOs, sockets and
/// devices are skipped and reported (`skipped`), never read: the object store never receives a
/// link, and a FIFO can never block a copy.
struct SafeCopy {
    /// Called with the relative path and kind of every entry that is not copied.
    var skipped: (String, SafeEntryKind) -> Void = { _, _ in }
    /// Asked now and then; false stops the copy with `.interrupted` (StopTrainingJob).
    var shouldContinue: () -> Bool = { true }
    /// Bytes the copy may write in all (the job's VolumeSizeInGB); nil for no limit.
    var byteLimit: Int64?
    /// Entries already at the destination stay (a merge where the first copy wins) instead of
    /// being replaced.
    var keepExisting = false
    private(set) var bytesCopied: Int64 = 0
    /// `shouldContinue` may read the store: it is asked at most this often.
    var checkInterval: Duration
    private var lastCheck: ContinuousClock.Instant?

    init(
        byteLimit: Int64? = nil, skipped: @escaping (String, SafeEntryKind) -> Void = { _, _ in },
        shouldContinue: @escaping () -> Bool = { true }, checkInterval: Duration = .milliseconds(200)
    ) {
        self.byteLimit = byteLimit
        self.skipped = skipped
        self.shouldContinue = shouldContinue
        self.checkInterval = checkInterval
    }

    /// Copies the entries of `source` into `destination`, replacing entries of the same name.
    /// Returns the number of top-level entries copied.
    @discardableResult
    mutating func copyContents(of source: SafeDirectory, into destination: SafeDirectory) throws(SafeFileError) -> Int {
        var copied = 0
        for name in try source.entries() where try copyEntry(name, from: source, into: destination) {
            copied += 1
        }
        return copied
    }

    /// Copies one entry (a regular file, or a folder with its contents); true if it was copied.
    @discardableResult
    mutating func copyEntry(
        _ name: String, from source: SafeDirectory, into destination: SafeDirectory, as targetName: String? = nil
    ) throws(SafeFileError) -> Bool {
        try checkContinue()
        let target = targetName ?? name
        let displayName = source.displayPath.isEmpty ? name : source.displayPath + "/" + name
        switch source.kind(of: name) {
        case .directory?:
            let from = try source.openDirectory(name)
            if let existing = destination.kind(of: target), existing != .directory {
                if keepExisting { return false }
                try destination.remove(target)
            }
            let to = try destination.openDirectory(target, create: true)
            try copyContents(of: from, into: to)
            return true
        case .regularFile?:
            if keepExisting, destination.kind(of: target) != nil { return false }
            let input: Int32
            do {
                input = try source.openRegularFile(name)
            } catch where error.kind == .notARegularFile {
                // Swapped for something else since it was listed.
                skipped(displayName, source.kind(of: name) ?? .other)
                return false
            }
            defer { close(input) }
            let output = try destination.createFile(target)
            defer { close(output) }
            try copyBytes(from: input, to: output, path: displayName)
            return true
        case let kind?:
            skipped(displayName, kind)
            return false
        case nil:
            return false
        }
    }

    private mutating func copyBytes(from input: Int32, to output: Int32, path: String) throws(SafeFileError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw SafeFileError(kind: .system(operation: "read", errno: errno), path: path)
            }
            if count == 0 { return }
            bytesCopied += Int64(count)
            if let byteLimit, bytesCopied > byteLimit { throw SafeFileError(kind: .tooLarge(limit: byteLimit), path: path) }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(output, $0.baseAddress! + offset, count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SafeFileError(kind: .system(operation: "write", errno: errno), path: path)
                }
                offset += written
            }
            try checkContinue()
        }
    }

    /// Asks `shouldContinue` at most every `checkInterval` (the first time at once).
    private mutating func checkContinue() throws(SafeFileError) {
        let now = ContinuousClock.now
        if let lastCheck, now - lastCheck < checkInterval { return }
        lastCheck = now
        if !shouldContinue() { throw SafeFileError(kind: .interrupted, path: "") }
    }
}
