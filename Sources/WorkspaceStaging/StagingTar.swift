import Foundation
import TarFormat

#if canImport(Glibc)
import Glibc
#endif

// The two halves of the staging wire format: a ustar archive whose first path component is the
// volume's index (`<index>/...`, StagedContainer.helperPath). The server writes one of its own
// folders (trusted, still walked without following links) and reads one a user's container made
// (untrusted: SafeTarExtractor).

/// Writes a ustar archive (GNU long names, base-256 sizes) of directory trees to a descriptor.
/// Only folders and regular files go in; links and special files in the server's own workspace
/// (there should be none) are left out rather than followed.
struct TarWriter {
    let fd: Int32
    private(set) var bytesWritten: Int64 = 0

    init(fd: Int32) { self.fd = fd }

    /// Adds `root`'s contents (not following links) under `prefix` (e.g. "0"), `prefix/` itself first.
    mutating func addTree(root: String, prefix: String) throws(StagingError) {
        let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw StagingError("cannot open the workspace folder \(prefix): \(String(cString: strerror(errno)))") }
        defer { close(rootFD) }
        try header(name: prefix + "/", type: TarHeader.directory, mode: 0o755, size: 0)
        try addContents(of: rootFD, prefix: prefix)
    }

    private mutating func addContents(of directory: Int32, prefix: String) throws(StagingError) {
        let listing = dup(directory)
        guard listing >= 0, let stream = fdopendir(listing) else {
            throw StagingError("cannot list \(prefix): \(String(cString: strerror(errno)))")
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        for name in names.sorted() {
            var info = stat()
            guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let path = prefix + "/" + name
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                let child = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else { continue }
                defer { close(child) }
                try header(name: path + "/", type: TarHeader.directory, mode: Int(info.st_mode & 0o7777), size: 0)
                try addContents(of: child, prefix: path)
            case S_IFREG:
                let file = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard file >= 0 else { continue }
                defer { close(file) }
                var opened = stat()
                guard fstat(file, &opened) == 0, opened.st_mode & S_IFMT == S_IFREG else { continue }
                try header(name: path, type: TarHeader.regularFile, mode: Int(opened.st_mode & 0o7777), size: Int64(opened.st_size))
                try copy(file, size: Int64(opened.st_size))
            default:
                continue
            }
        }
    }

    /// Two zero blocks end the archive.
    mutating func finish() throws(StagingError) {
        try emit([UInt8](repeating: 0, count: 1024))
    }

    private mutating func header(name: String, type: UInt8, mode: Int, size: Int64) throws(StagingError) {
        // A name past 100 bytes: a GNU long-name entry first (busybox tar reads those).
        try emit(TarHeader.gnuLongNameEntry(for: name))
        try emit(TarHeader(name: name, type: type, mode: Int64(mode), size: size).encode())
    }

    private mutating func copy(_ file: Int32, size: Int64) throws(StagingError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var remaining = size
        while remaining > 0 {
            let wanted = Int(min(Int64(buffer.count), remaining))
            let count = buffer.withUnsafeMutableBytes { read(file, $0.baseAddress, wanted) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                // The file shrank: the header promised `size` bytes, so zeros make up the rest.
                try emit([UInt8](repeating: 0, count: Int(remaining)))
                remaining = 0
                break
            }
            let chunk = Array(buffer[0..<count])
            try emit(chunk)
            remaining -= Int64(count)
        }
        let padding = TarHeader.padding(for: size)
        if padding > 0 { try emit([UInt8](repeating: 0, count: padding)) }
    }

    private mutating func emit(_ bytes: [UInt8]) throws(StagingError) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                throw StagingError("cannot write the staging archive: \(String(cString: strerror(errno)))")
            }
            offset += count
        }
        bytesWritten += Int64(bytes.count)
    }
}

/// Unpacks an archive a user's container made (the stage-out of its volumes) into the server's
/// workspace folders, trusting nothing in it:
/// - only regular files and folders are made; hard links, symbolic links, devices, FIFOs and
///   anything else are skipped, each with a line for the job's log;
/// - a name is `<index>/<relative path>`: the index picks one of `roots` (anything else is
///   skipped), an absolute name or a `..` component is skipped;
/// - every folder and file is made with `mkdirat`/`openat(O_NOFOLLOW)` one component at a time
///   from the root's descriptor, so nothing already there (a link) is followed out of it;
/// - the regular files' bytes are bounded by `limitBytes`: past it nothing more is written.
/// The archive's own framing (a bad checksum, a truncated entry) fails the whole extraction.
struct SafeTarExtractor {
    /// Volume index ("1") → the server's folder.
    let roots: [String: String]
    /// Volume index → where the container saw it (`/opt/ml/model`), for the log lines.
    let displayRoots: [String: String]
    let limitBytes: Int64

    struct Report: Equatable {
        var files = 0
        var folders = 0
        var bytes: Int64 = 0
        /// Lines for the job's log (at most `maxNotes`, then a count).
        var notes: [String] = []
        var skipped = 0
        var limitReached = false
    }

    static let maxNotes = 20

    func extract(from fd: Int32) throws(StagingError) -> Report {
        var rootFDs: [String: Int32] = [:]
        defer { for fd in rootFDs.values { close(fd) } }
        for (index, path) in roots {
            let rootFD = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard rootFD >= 0 else { throw StagingError("cannot open the workspace folder \(index): \(String(cString: strerror(errno)))") }
            rootFDs[index] = rootFD
        }
        var reader = BlockReader(fd: fd)
        var report = Report()
        var longName: String?
        var paxPath: String?
        func note(_ text: String) {
            report.skipped += 1
            if report.notes.count < Self.maxNotes { report.notes.append(text) }
        }
        while let block = try reader.next(TarHeader.blockSize) {
            if block.allSatisfy({ $0 == 0 }) { break }
            let header: TarHeader
            do {
                header = try TarHeader(decoding: block)
            } catch {
                switch error {
                case .badChecksum: throw StagingError("the staged-out archive is corrupt (bad header checksum)")
                case .badSize: throw StagingError("the staged-out archive is corrupt (bad size)")
                }
            }
            let type = header.type
            let size = header.size
            let padded = size + Int64(TarHeader.padding(for: size))
            switch type {
            case TarHeader.gnuLongName, TarHeader.paxExtended:
                guard size <= 65536, let data = try reader.next(Int(padded)) else {
                    throw StagingError("the staged-out archive is corrupt (a long name entry)")
                }
                let text = data.prefix(Int(size))
                if type == TarHeader.gnuLongName {
                    longName = String(decoding: text.prefix(while: { $0 != 0 }), as: UTF8.self)
                } else {
                    paxPath = TarHeader.paxValue("path", in: Array(text)) ?? paxPath
                }
                continue
            case UInt8(ascii: "K"), UInt8(ascii: "g"):
                try reader.skip(padded)
                continue
            default:
                break
            }
            let rawName = paxPath ?? longName ?? header.name
            longName = nil
            paxPath = nil
            let shown = display(rawName)
            guard let (index, components) = Self.split(rawName), let rootFD = rootFDs[index] else {
                note("skipped \(shown): not a name inside the output folders")
                try reader.skip(padded)
                continue
            }
            switch type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                guard !components.isEmpty else {
                    try reader.skip(padded)
                    continue
                }
                if report.limitReached || report.bytes + size > limitBytes {
                    if !report.limitReached {
                        report.limitReached = true
                        report.notes.append("outputs exceed the staging limit of \(limitBytes) bytes: \(shown) and what follows are not kept")
                    }
                    report.skipped += 1
                    try reader.skip(padded)
                    continue
                }
                guard let parent = Self.openParent(rootFD, components.dropLast()) else {
                    note("skipped \(shown): a folder on its path is not a folder (links are not followed)")
                    try reader.skip(padded)
                    continue
                }
                defer { close(parent) }
                let mode = mode_t(header.mode & 0o755 | 0o600)
                let file = openat(parent, components.last!, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode)
                var info = stat()
                guard file >= 0, fstat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                    if file >= 0 { close(file) }
                    note("skipped \(shown): cannot be written as a regular file")
                    try reader.skip(padded)
                    continue
                }
                defer { close(file) }
                try reader.copy(size, to: file)
                try reader.skip(padded - size)
                report.files += 1
                report.bytes += size
            case TarHeader.directory:
                try reader.skip(padded)
                if components.isEmpty { continue }
                guard let directory = Self.openParent(rootFD, components[...]) else {
                    note("skipped \(shown): a folder on its path is not a folder (links are not followed)")
                    continue
                }
                close(directory)
                report.folders += 1
            default:
                note("skipped \(shown): a \(Self.kind(type)) (only regular files and folders are kept)")
                try reader.skip(padded)
            }
        }
        if report.skipped > report.notes.count {
            report.notes.append("\(report.skipped - report.notes.count) more entries skipped")
        }
        return report
    }

    /// The name as the container saw it: `/opt/ml/model/x` for `1/x`.
    private func display(_ name: String) -> String {
        var rest = Substring(name)
        while rest.hasPrefix("./") { rest = rest.dropFirst(2) }
        let parts = rest.split(separator: "/", maxSplits: 1)
        if let first = parts.first, let root = displayRoots[String(first)] {
            return parts.count > 1 ? root + "/" + parts[1] : root
        }
        return String(name.prefix(200))
    }

    /// `<index>/<components>`, or nil for an absolute name, an empty or `..` component.
    static func split(_ name: String) -> (String, [String])? {
        guard !name.hasPrefix("/") else { return nil }
        var parts = name.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        while parts.first == "." { parts.removeFirst() }
        guard let index = parts.first, !parts.contains(".."), !parts.contains("."), !parts.contains(where: { $0.contains("\0") })
        else { return nil }
        return (index, Array(parts.dropFirst()))
    }

    /// Opens (making what is missing) the folders `components` below `root`, never following a link.
    static func openParent(_ root: Int32, _ components: ArraySlice<String>) -> Int32? {
        var current = dup(root)
        guard current >= 0 else { return nil }
        for component in components {
            if mkdirat(current, component, 0o755) != 0 && errno != EEXIST {
                close(current)
                return nil
            }
            let next = openat(current, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(current)
            guard next >= 0 else { return nil }
            current = next
        }
        return current
    }

    static func kind(_ type: UInt8) -> String {
        switch type {
        case UInt8(ascii: "1"): "hard link"
        case UInt8(ascii: "2"): "symbolic link"
        case UInt8(ascii: "3"): "character device"
        case UInt8(ascii: "4"): "block device"
        case UInt8(ascii: "6"): "FIFO"
        default: "entry of type \(Character(Unicode.Scalar(type)).isLetter || Character(Unicode.Scalar(type)).isNumber ? String(Character(Unicode.Scalar(type))) : "\\(type)")"
        }
    }
}

/// Reads an archive from a descriptor in blocks; a short read in the middle is a truncated archive.
private struct BlockReader {
    let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)

    init(fd: Int32) { self.fd = fd }

    /// `count` bytes, or nil at a clean end (nothing more to read).
    mutating func next(_ count: Int) throws(StagingError) -> [UInt8]? {
        var result = [UInt8](repeating: 0, count: count)
        let got = try fill(&result)
        if got == 0 && count > 0 { return nil }
        guard got == count else { throw StagingError("the staged-out archive is truncated") }
        return result
    }

    private func fill(_ bytes: inout [UInt8]) throws(StagingError) -> Int {
        var got = 0
        while got < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw StagingError("cannot read the staged-out archive: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            got += count
        }
        return got
    }

    mutating func skip(_ count: Int64) throws(StagingError) {
        try consume(count) { _, _ throws(StagingError) in }
    }

    mutating func copy(_ count: Int64, to file: Int32) throws(StagingError) {
        try consume(count) { buffer, got throws(StagingError) in
            var offset = 0
            while offset < got {
                let written = buffer.withUnsafeBytes { write(file, $0.baseAddress! + offset, got - offset) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw StagingError("cannot write a staged-out file: \(String(cString: strerror(errno)))") }
                offset += written
            }
        }
    }

    /// Reads the next `count` bytes of the archive through the buffer, handing each read to `chunk`.
    private mutating func consume(
        _ count: Int64, _ chunk: ([UInt8], Int) throws(StagingError) -> Void
    ) throws(StagingError) {
        var remaining = count
        while remaining > 0 {
            let wanted = Int(min(Int64(buffer.count), remaining))
            let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, wanted) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw StagingError("the staged-out archive is truncated") }
            try chunk(buffer, got)
            remaining -= Int64(got)
        }
    }
}
