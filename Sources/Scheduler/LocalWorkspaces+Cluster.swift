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
        do {
            try? FileManager.default.removeItem(at: merged)
            for folder in ["model", "output/data", "checkpoints"] {
                let target = merged.appendingPathComponent(folder)
                try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
                for host in hosts {
                    try Self.merge(directory(for: job, host: host).appendingPathComponent(folder), into: target)
                }
            }
            if let failingHost {
                let failure = directory(for: job, host: failingHost).appendingPathComponent("output/failure")
                if Self.isRegularFile(failure) {
                    try FileManager.default.copyItem(at: failure, to: merged.appendingPathComponent("output/failure"))
                }
            }
        } catch {
            throw WorkspaceError("InternalServerError: cannot gather the hosts' outputs of the job at \(merged.path): \(error)")
        }
        return try collectOutputs(job, host: Self.clusterFolder)
    }

    /// Copies the regular files and folders beneath `source` into `target`, keeping files that
    /// are there already. Links and special files are skipped, never followed: the folders were
    /// written by containers (untrusted), which have all exited by now.
    static func merge(_ source: URL, into target: URL) throws {
        let fm = FileManager.default
        for relative in entries(beneath: source) {
            let from = source.appendingPathComponent(relative.path)
            let to = target.appendingPathComponent(relative.path)
            if relative.isDirectory {
                try fm.createDirectory(at: to, withIntermediateDirectories: true)
            } else if !fm.fileExists(atPath: to.path) {
                try fm.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
                try fm.copyItem(at: from, to: to)
            }
        }
    }

    static func regularFiles(beneath root: URL) -> [String] {
        entries(beneath: root).filter { !$0.isDirectory }.map(\.path)
    }

    static func isRegularFile(_ url: URL) -> Bool {
        (try? url.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])).map {
            $0.isRegularFile == true && $0.isSymbolicLink != true
        } ?? false
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
