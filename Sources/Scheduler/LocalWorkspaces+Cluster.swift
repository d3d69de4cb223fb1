import Foundation
public import TrainingCore

/// The parts of `LocalWorkspaces` that only jobs with several hosts use.
extension LocalWorkspaces {
    /// The pseudo-host whose folder holds the merged outputs of a cluster.
    static let clusterFolder = "cluster"

    /// Every host's `/opt/ml/model` goes into the one `model.tar.gz`, and every host's
    /// `/opt/ml/output/data` into `output.tar.gz`: SageMaker aggregates the model directories of
    /// a multi-instance job into one archive and tells algorithms to avoid name clashes (DG-out;
    /// reference sagemaker-semantics §1.2). On a clash the lower `algo-N` wins. Checkpoints of every
    /// host go to the one CheckpointConfig.S3Uri, as on SageMaker (DG-ckpt: hosts share the URI).
    /// The failure text is the failing host's `/opt/ml/output/failure`.
    public func collectOutputs(_ job: TrainingJob, hosts: [String], failingHost: String?) throws(WorkspaceError) -> CollectedOutputs {
        guard hosts.count > 1 else { return try collectOutputs(job, host: hosts.first ?? "algo-1") }
        let merged = directory(for: job, host: Self.clusterFolder)
        let skipped = SkippedEntries(job: job, notice: guards.notice).report
        do {
            // Made by the server from copies: no links in it.
            try? FileManager.default.removeItem(at: merged)
            let mergedRoot = try SafeDirectory.openRoot(merged.path, create: true)
            for folder in ["model", "output/data", "checkpoints"] {
                let target = try mergedRoot.openDirectory(folder, create: true)
                for host in hosts {
                    try Self.merge(folder, of: directory(for: job, host: host), into: target, skipped: { skipped("\(host)/\($0)", $1) })
                }
            }
            if let failingHost, let host = try? SafeDirectory.openRoot(directory(for: job, host: failingHost).path),
                let text = try? host.readFile("output/failure", limit: 64 * 1024)
            {
                let output = try mergedRoot.openDirectory("output", create: true).createFile("failure")
                defer { close(output) }
                try Tarball.writeAll(Array(text), to: output)
            }
        } catch {
            throw WorkspaceError("InternalServerError: cannot gather the hosts' outputs of the job at \(merged.path): \(error)")
        }
        return try collectOutputs(job, host: Self.clusterFolder)
    }

    /// Copies the regular files and folders of one host's `folder` (e.g. "model") into `target`,
    /// keeping files that are there already (a lower `algo-N`'s). Everything is opened from its
    /// parent's descriptor with `O_NOFOLLOW` (SafeCopy): links are skipped, never followed, and
    /// so are FIFOs, sockets and devices, each with a line in the job's log. A host without the
    /// folder (or with a link there) adds nothing.
    static func merge(
        _ folder: String, of hostWorkspace: URL, into target: SafeDirectory, skipped: @escaping (String, SafeEntryKind) -> Void
    ) throws {
        let source: SafeDirectory
        do {
            source = try SafeDirectory.openRoot(hostWorkspace.path).openDirectory(folder)
        } catch {
            return
        }
        var copier = SafeCopy(skipped: skipped)
        copier.keepExisting = true
        try copier.copyContents(of: source, into: target)
    }

    static func regularFiles(beneath root: URL) -> [String] {
        entries(beneath: root).filter { !$0.isDirectory }.map(\.path)
    }

    /// Folders and regular files beneath `root`, relative to it, parents before children; links
    /// (also links to folders) and special files are left out.
    private static func entries(beneath root: URL) -> [(path: String, isDirectory: Bool)] {
        var found: [(String, Bool)] = []
        func walk(_ relative: String) {
            let folder = relative.isEmpty ? root : root.appendingPathComponent(relative)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
            for name in names.sorted() {
                let path = relative.isEmpty ? name : relative + "/" + name
                guard let values = try? root.appendingPathComponent(path).resourceValues(
                    forKeys: [.isSymbolicLinkKey, .isDirectoryKey, .isRegularFileKey])
                else { continue }
                if values.isSymbolicLink == true { continue }
                if values.isDirectory == true {
                    found.append((path, true))
                    walk(path)
                } else if values.isRegularFile == true {
                    found.append((path, false))
                }
            }
        }
        walk("")
        return found
    }
}
