import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One recently written empty archive in the object store's own folder (`<s3-root>/.trainyard/tmp`),
/// hard-linked into a job's output prefix instead of writing a new file there.
///
/// A burst of simulated jobs writes two empty archives a job; creating a file costs an inode, and
/// on ext4 inode allocation (mkdir, create) was a third of the server's CPU in a profile of 10,000
/// such jobs. A link costs no inode. What a client sees is unchanged: the bytes are those of
/// `Tarball.emptyArchive`, and LastModified (the file's mtime, shared by the links) is never before
/// the job started training and at most `maximumAge` before the link was made. Nothing changes an
/// object's file in place (uploads and artifacts are written beside it and renamed over it; a
/// delete unlinks one name), so the links never see each other's changes.
final class EmptyArchiveTemplate: Sendable {
    /// How old the template may be when linked: LastModified is at most this much earlier than
    /// the moment the archive was "written".
    static let maximumAge: TimeInterval = 1
    /// ext4 allows 65,000 links to one file.
    static let maximumLinks = 10_000

    private struct Template {
        var name: String
        var modified: Date
        var links: Int
    }

    private struct State {
        /// `.trainyard/tmp`, opened at first use; -1 until then.
        var folder: Int32 = -1
        var template: Template?
    }

    private let folderPath: String
    private let state = Mutex(State())
    private static let counter = Atomic<Int>(0)

    /// `s3Root`: the object store's folder; the template lives in its `.trainyard/tmp`, which no
    /// bucket name can reach and whose leftovers the object store removes at start-up.
    init(s3Root: String) {
        folderPath = (s3Root.hasSuffix("/") ? s3Root : s3Root + "/") + ".trainyard/tmp"
    }

    deinit {
        state.withLock { state in
            guard state.folder >= 0 else { return }
            if let template = state.template { unlinkat(state.folder, template.name, 0) }
            close(state.folder)
        }
    }

    /// Links an empty archive last modified no earlier than `notBefore` as `name` in `folder`.
    /// False when it could not (another file system, a name already there, any error): the
    /// caller then writes the archive itself.
    func link(into folder: Int32, named name: String, notBefore: Date) -> Bool {
        state.withLock { state -> Bool in
            if state.folder < 0 {
                try? FileManager.default.createDirectory(atPath: folderPath, withIntermediateDirectories: true)
                state.folder = open(folderPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard state.folder >= 0 else { return false }
            }
            if let template = state.template,
                template.modified < notBefore || Date().timeIntervalSince(template.modified) > Self.maximumAge
                    || template.links >= Self.maximumLinks
            {
                unlinkat(state.folder, template.name, 0)
                state.template = nil
            }
            if state.template == nil { state.template = Self.makeTemplate(in: state.folder) }
            guard let template = state.template, template.modified >= notBefore,
                linkat(state.folder, template.name, folder, name, 0) == 0
            else { return false }
            state.template?.links += 1
            return true
        }
    }

    /// Writes a new template into `folder`; nil if it cannot.
    private static func makeTemplate(in folder: Int32) -> Template? {
        let name = "empty-archive-\(getpid())-\(counter.wrappingAdd(1, ordering: .relaxed).oldValue).tar.gz"
        let fd = openat(folder, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard (try? Tarball.writeAll(Tarball.emptyArchive, to: fd)) != nil, fstat(fd, &info) == 0 else {
            unlinkat(folder, name, 0)
            return nil
        }
        let modified = Date(
            timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec) + TimeInterval(info.st_mtim.tv_nsec) / 1_000_000_000)
        return Template(name: name, modified: modified, links: 0)
    }
}
