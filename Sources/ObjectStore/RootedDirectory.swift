internal import Glibc

/// File operations below one root directory that never follow a symbolic link: every path is
/// walked one component at a time with `openat(..., O_NOFOLLOW)` from a descriptor of the root, so
/// a link planted anywhere below the root (by a training container writing into a bucket, say)
/// cannot send a read or write outside it (DESIGN §2: "Nothing the server reads or writes for a job
/// follows a symlink out of its root"). The root itself may be a link (the operator's choice).
///
/// Sendable: holds only the root descriptor, which is never changed or closed while in use.
final class RootedDirectory: Sendable {
    let rootFD: Int32
    let path: String

    init(path: String) throws(S3Error) {
        _ = mkdir(path, 0o755)
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw .internalError("cannot open the object store folder \(path): \(String(cString: strerror(errno)))")
        }
        self.rootFD = fd
        self.path = path
    }

    deinit { close(rootFD) }

    enum WalkFailure: Error {
        /// A component exists but is not a directory (a file, a link, a device).
        case notADirectory(index: Int)
        case missing(index: Int)
        case system(Int32)
    }

    /// Opens the directory at `components` below the root, creating missing ones when `create`.
    /// The caller closes the descriptor.
    func openDirectory<C: Collection<String>>(_ components: C, create: Bool) -> Result<Int32, WalkFailure> {
        var fd = dup(rootFD)
        guard fd >= 0 else { return .failure(.system(errno)) }
        for (index, component) in components.enumerated() {
            var next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT && create {
                if mkdirat(fd, component, 0o755) != 0 && errno != EEXIST {
                    let error = errno
                    close(fd)
                    return .failure(error == ENOTDIR ? .notADirectory(index: index) : .system(error))
                }
                next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            if next < 0 {
                let error = errno
                close(fd)
                switch error {
                case ENOENT: return .failure(.missing(index: index))
                case ENOTDIR, ELOOP: return .failure(.notADirectory(index: index))
                default: return .failure(.system(error))
                }
            }
            close(fd)
            fd = next
        }
        return .success(fd)
    }

    /// `fstatat` without following a link.
    static func stat(_ directory: Int32, _ name: String) -> stat? {
        var info = Glibc.stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return info
    }

    /// Opens a regular file for reading, refusing links; nil (with errno) otherwise.
    static func openRegularFile(_ directory: Int32, _ name: String) -> (fd: Int32, info: stat)? {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        var info = Glibc.stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            errno = EISDIR
            return nil
        }
        // O_NONBLOCK only guarded against opening a FIFO; reads of a regular file ignore it.
        return (fd, info)
    }

    /// Names in a directory with their kind, unsorted; links and special files are left out.
    static func entries(_ directory: Int32) -> [(name: String, isDirectory: Bool)] {
        let fd = dup(directory)
        guard fd >= 0, let stream = fdopendir(fd) else {
            if fd >= 0 { close(fd) }
            return []
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var result: [(name: String, isDirectory: Bool)] = []
        while let entry = readdir(stream) {
            let name: String? = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                let bytes = raw.bindMemory(to: UInt8.self)
                let length = bytes.firstIndex(of: 0) ?? bytes.count
                return String(validating: bytes[..<length], as: UTF8.self)
            }
            guard let name, name != ".", name != ".." else { continue }
            var type = Int32(entry.pointee.d_type)
            if type == Int32(DT_UNKNOWN) {
                guard let info = stat(directory, name) else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFREG: type = Int32(DT_REG)
                case S_IFDIR: type = Int32(DT_DIR)
                default: continue
                }
            }
            if type == Int32(DT_REG) {
                result.append((name, false))
            } else if type == Int32(DT_DIR) {
                result.append((name, true))
            }
        }
        return result
    }

    /// True when the tree below `directory` holds at least one regular file.
    static func containsFile(_ directory: Int32) -> Bool {
        for entry in entries(directory) {
            if !entry.isDirectory { return true }
            let child = openat(directory, entry.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { continue }
            defer { close(child) }
            if containsFile(child) { return true }
        }
        return false
    }

    /// Removes the empty directories along `components` (deepest first), stopping at the first
    /// that is not empty; the first component (the bucket folder) is kept.
    func removeEmptyDirectories(_ components: [String]) {
        var depth = components.count
        while depth > 1 {
            guard case .success(let parent) = openDirectory(components[0..<(depth - 1)], create: false) else { return }
            let removed = unlinkat(parent, components[depth - 1], AT_REMOVEDIR) == 0
            close(parent)
            if !removed { return }
            depth -= 1
        }
    }
}

func systemErrorText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Writes all of `buffer` to `fd`, retrying short writes and EINTR.
func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < buffer.count {
        let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += written
    }
    return true
}
