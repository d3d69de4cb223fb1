import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// gzip tarballs of a folder's contents, written by the system's GNU tar (always present on Debian)
/// rather than by hand. Entries are named relative to the folder, without a leading "./", as
/// SageMaker's model.tar.gz has them.
///
/// The folder is a container's (`/opt/ml/model`, `/opt/ml/output/data`), so it is untrusted
/// (issue 12 item 2): the server lists it itself through `SafeDirectory` (never following a link),
/// tar runs in that open folder (`--directory /proc/self/fd/3`, where fd 3 is
/// the folder's open descriptor, so a folder swapped for a link is not followed) and archives only the listed names with
/// `--no-recursion`: folders and regular files, and links stored as links (tar never dereferences
/// them without `-h`). FIFOs, sockets and devices are skipped and reported. The archive is
/// written to a file the server created with `O_NOFOLLOW` inside the destination folder.
enum Tarball {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Destinations being packed by this process. Two jobs can write the same artifact: the same
    /// job name and S3OutputPath in two accounts, which share one object store. They take turns, and
    /// the later one's archive stays, as with S3's last writer; packing them at once made one
    /// remove the other's partial file and fail (found by test_auth's two-account test).
    private static let destinationsInUse = Mutex<Set<String>>([])

    /// Packs `folder` (beneath a root the caller opened) into `name` inside `destination`.
    /// `skipped` hears of every FIFO, socket or device left out.
    static func create(
        from folder: SafeDirectory, into destination: SafeDirectory, named name: String,
        skipped: (String, SafeEntryKind) -> Void = { _, _ in }
    ) throws {
        var info = stat()
        guard fstat(destination.fd, &info) == 0 else { throw Failure(description: "cannot stat the output folder") }
        let key = "\(info.st_dev):\(info.st_ino)/\(name)"
        while !destinationsInUse.withLock({ $0.insert(key).inserted }) {
            usleep(5_000)  // a blocking file thread (runBlocking): waiting here holds up no one else
        }
        defer { _ = destinationsInUse.withLock { $0.remove(key) } }

        let partialPrefix = ".\(name).partial-"
        // A server killed while packing leaves its partial file behind (and its tar, which outlives
        // it, may still be writing there): without this, the next run's upload finished beside a
        // stray `.model.tar.gz.partial-<pid>` in the user's output prefix (found by
        // `test_kill_during_uploading_finishes_the_upload`). Unlinking is safe for a tar still
        // writing: it keeps its open file, which vanishes when it exits. This process packs one
        // destination at a time (destinationsInUse), so no live partial of this server is removed.
        for entry in (try? destination.entries()) ?? [] where entry.hasPrefix(partialPrefix) {
            try? destination.remove(entry)
        }
        let partial = partialPrefix + "\(getpid())"
        var names: [String] = []
        try list(folder, prefix: "", into: &names, skipped: skipped)
        let output = try destination.createFile(partial)
        do {
            defer { close(output) }
            if names.isEmpty {
                // Every empty archive is the same bytes: pack one once, then copy it (the simulated
                // runtime's jobs, and most output.tar.gz files, would otherwise each spawn a tar).
                let bytes = try emptyArchive(directory: folder)
                let written = bytes.withUnsafeBytes { write(output, $0.baseAddress, $0.count) }
                guard written == bytes.count else { throw Failure(description: "cannot write the archive") }
            } else {
                try runTar(in: folder, names: names, output: output)
            }
            // Rename into place so a reader never sees a half-written artifact.
            try destination.rename(partial, to: name)
        } catch {
            try? destination.remove(partial)
            throw error
        }
    }

    /// Trusted paths on both sides (tests, server-made folders).
    static func create(from folder: URL, at destination: URL) throws {
        try create(
            from: SafeDirectory.openRoot(folder.path),
            into: SafeDirectory.openRoot(destination.deletingLastPathComponent().path, create: true),
            named: destination.lastPathComponent)
    }

    /// Pre-order: a folder before its contents, names sorted.
    private static func list(
        _ directory: SafeDirectory, prefix: String, into names: inout [String], skipped: (String, SafeEntryKind) -> Void
    ) throws {
        for entry in try directory.entries() {
            let path = prefix + entry
            switch directory.kind(of: entry) {
            case .directory?:
                names.append(path)
                try list(directory.openDirectory(entry), prefix: path + "/", into: &names, skipped: skipped)
            case .regularFile?, .symbolicLink?:
                names.append(path)
            case let kind?:
                skipped(path, kind)
            case nil:
                break
            }
        }
    }

    private static let cachedEmptyArchive = Mutex<Data?>(nil)

    private static func emptyArchive(directory: SafeDirectory) throws -> Data {
        if let cached = cachedEmptyArchive.withLock({ $0 }) { return cached }
        guard let file = tmpfile() else { throw Failure(description: "cannot create a temporary file") }
        defer { fclose(file) }
        try runTar(in: directory, names: [], output: fileno(file))
        lseek(fileno(file), 0, SEEK_SET)
        var bytes = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fileno(file), $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        cachedEmptyArchive.withLock { $0 = bytes }
        return bytes
    }

    /// Runs `tar` with its working directory set to `directory`'s descriptor, the names on its
    /// standard input (NUL-separated, taken verbatim) and the archive on `output`.
    private static func runTar(in directory: SafeDirectory, names: [String], output: Int32) throws {
        guard let nameFile = tmpfile(), let errorFile = tmpfile() else {
            throw Failure(description: "cannot create a temporary file")
        }
        defer {
            fclose(nameFile)
            fclose(errorFile)
        }
        var list = [UInt8]()
        for name in names { list.append(contentsOf: Array(name.utf8) + [0]) }
        _ = list.withUnsafeBytes { write(fileno(nameFile), $0.baseAddress, $0.count) }
        lseek(fileno(nameFile), 0, SEEK_SET)
        // The folder's descriptor becomes the child's fd 3, and tar changes into it through
        // /proc/self/fd/3: the folder the server opened, whatever is at its path by then.
        let arguments = [
            "tar", "--directory", "/proc/self/fd/3", "--create", "--gzip", "--file", "-", "--no-recursion", "--null",
            "--verbatim-files-from", "--files-from", "-",
        ]
        let status = try spawn(
            "/bin/tar", arguments, directory: directory.fd, stdin: fileno(nameFile), stdout: output,
            stderr: fileno(errorFile))
        guard status == 0 else {
            lseek(fileno(errorFile), 0, SEEK_SET)
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { read(fileno(errorFile), $0.baseAddress, $0.count) }
            let message = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
            throw Failure(description: "tar exited \(status): \(message)")
        }
    }

    /// posix_spawn with the three standard descriptors replaced and `directory` as fd 3; returns
    /// the exit status (128 + signal when killed).
    private static func spawn(
        _ executable: String, _ arguments: [String], directory: Int32, stdin: Int32, stdout: Int32, stderr: Int32
    ) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        posix_spawn_file_actions_adddup2(&actions, directory, 3)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else { throw Failure(description: "cannot run \(executable): \(String(cString: strerror(result)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw Failure(description: "waitpid: \(String(cString: strerror(errno)))") }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as macros.
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }
}
