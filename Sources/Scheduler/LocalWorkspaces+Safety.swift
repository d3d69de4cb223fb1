import Foundation
public import TrainingCore

#if canImport(Glibc)
import Glibc
#endif

/// What the server must check when it reads or writes on a job's behalf (issue 12 items 1, 2, 3, 9).
public struct WorkspaceGuards: Sendable {
    /// `file://` URIs are resolved only beneath these prefixes (`--allow-file-uris`).
    public var allowedFilePrefixes: [String]
    /// Adds a line to the job's log (a skipped link or FIFO, a dropped metric).
    public var notice: @Sendable (TrainingJob, String) -> Void
    /// False once a copy should stop (the job is no longer InProgress: StopTrainingJob).
    public var shouldContinue: @Sendable (TrainingJob) -> Bool
    /// Who owns each bucket of the object store; nil: no account boundary (one account).
    public var bucketOwners: (any BucketOwners)?

    public init(
        allowedFilePrefixes: [String] = ["/"], notice: @escaping @Sendable (TrainingJob, String) -> Void = { _, _ in },
        shouldContinue: @escaping @Sendable (TrainingJob) -> Bool = { _ in true }, bucketOwners: (any BucketOwners)? = nil
    ) {
        self.allowedFilePrefixes = allowedFilePrefixes
        self.notice = notice
        self.shouldContinue = shouldContinue
        self.bucketOwners = bucketOwners
    }
}

/// Bucket ownership in the object store: a bucket belongs to one account, and another account's
/// job neither reads nor writes it (issue 12 item 3). Backed by the S3 API's object store.
public protocol BucketOwners: Sendable {
    /// The bucket's owner; nil when there is no such bucket (or the name is not a bucket name).
    func owner(of bucket: String) throws -> String?
    /// Makes `account` the owner of a bucket nobody owns yet (as CreateBucket would) and returns the
    /// owner afterwards; nil for a name that cannot be a bucket.
    func claimForWrite(_ bucket: String, account: String) throws -> String?
}

extension LocalWorkspaces {
    /// SageMaker's text for a channel larger than the volume (aws/sagemaker-python-sdk#128).
    static let insufficientDiskSpace = "ClientError: Data download failed:Insufficient disk space"

    /// SageMaker's access-denied download text (aws/amazon-sagemaker-examples#4384).
    static func accessDeniedDownload(_ uri: String) -> String {
        "ClientError: Data download failed:Unable to download object \(uri) (AccessDenied: Access Denied)"
    }

    /// Upload counterpart; SageMaker prefixes upload problems with "Artifact upload failed:"
    /// (huggingface/blog#114), the rest mirrors the download text.
    static func accessDeniedUpload(_ uri: String) -> String {
        "ClientError: Artifact upload failed:Unable to upload to \(uri) (AccessDenied: Access Denied)"
    }

    func location(_ uri: String) -> StorageLocation? {
        StorageLocation(uri: uri, s3Root: s3Root, allowedFilePrefixes: guards.allowedFilePrefixes)
    }

    /// Refuses a location in a bucket another account owns (and reads of a bucket that does not
    /// exist, such as the object store's own `.trainyard` folder).
    func checkOwnership(
        _ uri: String, job: TrainingJob, write: Bool, deniedText: ((String) -> String)? = nil
    ) throws(WorkspaceError) {
        guard uri.hasPrefix("s3://"), let owners = guards.bucketOwners else { return }
        let bucket = String(uri.dropFirst(5).prefix { $0 != "/" })
        let owner: String?
        do {
            owner = write ? try owners.claimForWrite(bucket, account: job.account) : try owners.owner(of: bucket)
        } catch {
            throw WorkspaceError("InternalServerError: cannot read the owner of bucket \(bucket).")
        }
        guard let owner else {
            throw WorkspaceError(
                write ? "ClientError: Artifact upload failed:\(bucket) is not a valid bucket name." : Self.noObjectsMessage(uri: uri, job: job))
        }
        guard owner == job.account else {
            let text: String
            if let deniedText {
                text = deniedText(uri)
            } else {
                text = write ? Self.accessDeniedUpload(uri) : Self.accessDeniedDownload(uri)
            }
            throw WorkspaceError(text)
        }
    }

    func copier(for job: TrainingJob, limit: Int64?) -> SafeCopy {
        let guards = self.guards
        let skipped = SkippedEntries(job: job, notice: guards.notice)
        return SafeCopy(byteLimit: limit, skipped: skipped.report, shouldContinue: { guards.shouldContinue(job) })
    }

    static func skippedLine(_ path: String, _ kind: SafeEntryKind) -> String {
        "Trainyard: skipped \(path): a \(kind.rawValue) is not copied (only regular files and folders are)."
    }

    func openWorkspace(_ base: URL, _ relative: String) throws(WorkspaceError) -> SafeDirectory {
        do {
            return try SafeDirectory.openRoot(base.path).openDirectory(relative, create: true)
        } catch {
            throw WorkspaceError("InternalServerError: the job workspace's \(relative) folder is unusable: \(error)")
        }
    }

    func stageInputsSafely(_ job: TrainingJob, host: String, base: URL) throws(WorkspaceError) {
        let dataRoot = try openWorkspace(base, "input/data")
        // The volume holds the channels and the restored checkpoints (ResourceConfig.VolumeSizeInGB).
        var copier = copier(for: job, limit: Int64(job.spec.volumeSizeInGB) << 30)
        for channel in job.spec.channels {
            do {
                try dataRoot.remove(channel.name)
            } catch {
                throw WorkspaceError("InternalServerError: cannot clear the data folder of channel \(channel.name): \(error)")
            }
            guard channel.s3DataType == "S3Prefix" else {
                throw WorkspaceError(
                    "ClientError: Trainyard supports only S3Prefix channels; channel '\(channel.name)' has S3DataType \(channel.s3DataType).")
            }
            guard let location = location(channel.uri) else {
                throw WorkspaceError("ClientError: Data download failed: cannot resolve \(channel.uri).")
            }
            try checkOwnership(channel.uri, job: job, write: false)
            do {
                let destination = try dataRoot.openDirectory(channel.name, create: true)
                // ShardedByS3Key: only this host's share is copied (ClusterLayout.shard).
                let shard = job.spec.cluster.shard(of: channel, host: host)
                let copied = try PrefixCopy.copy(from: location, into: destination, using: &copier, shard: shard)
                if copied == 0 {
                    throw WorkspaceError(Self.noObjectsMessage(uri: channel.uri, job: job))
                }
            } catch let error as WorkspaceError {
                throw error
            } catch let error as SafeFileError {
                // Stopped while copying: staging ends here, and the scheduler, which asks the job
                // again before starting its container, takes the stop path (artifacts, Stopped).
                if error.kind == .interrupted { return }
                throw Self.downloadError(error, uri: channel.uri, job: job)
            } catch {
                throw WorkspaceError("ClientError: Data download failed: \(channel.uri).")
            }
        }
        if let checkpoint = job.spec.checkpoint, let location = location(checkpoint.uri) {
            // A checkpoint bucket is written at the end anyway: claim it now (nothing to restore
            // from a new one), and refuse another account's.
            try checkOwnership(checkpoint.uri, job: job, write: true, deniedText: Self.accessDeniedDownload)
            // SageMaker copies what already is at the checkpoint URI into LocalPath before training (DG-ckpt).
            let checkpoints = try openWorkspace(base, "checkpoints")
            do {
                let source = try SafeDirectory.openRoot(location.root).openDirectory(location.relative)
                try copier.copyContents(of: source, into: checkpoints)
            } catch where error.kind == .missing || error.kind == .interrupted {
                // Nothing stored yet, or the job is stopping.
            } catch {
                throw Self.downloadError(error, uri: checkpoint.uri, job: job)
            }
        }
    }

    static func downloadError(_ error: SafeFileError, uri: String, job: TrainingJob) -> WorkspaceError {
        switch error.kind {
        case .tooLarge: WorkspaceError(insufficientDiskSpace)
        case .interrupted: WorkspaceError("ClientError: Data download failed: the job is stopping.")
        case .missing: WorkspaceError(noObjectsMessage(uri: uri, job: job))
        // Relative paths only: FailureReason never shows where the server keeps things.
        default: WorkspaceError("ClientError: Data download failed:Unable to download \(uri): \(error)")
        }
    }

    func collectOutputsSafely(_ job: TrainingJob, host: String, basePath: String) throws(WorkspaceError) -> CollectedOutputs {
        let outputURI = job.spec.outputPrefix(jobName: job.name)
        guard let output = location(outputURI) else {
            throw WorkspaceError("ClientError: cannot resolve S3OutputPath \(job.spec.outputPath).")
        }
        try checkOwnership(outputURI, job: job, write: true)
        let notice = guards.notice
        let skipped = SkippedEntries(job: job, notice: notice).report
        let workspace: SafeDirectory?
        do {
            workspace = try SafeDirectory.openRoot(basePath)
        } catch where error.kind == .missing {
            // A job laid out lazily (`layOutUpFront` false) whose folders nothing wrote into: its
            // artifacts are empty, and no folder is made only to be packed and deleted.
            workspace = nil
        } catch {
            throw WorkspaceError("InternalServerError: the job workspace is missing.")
        }
        do {
            let (destination, isNewFolder) = try SafeDirectory.openRoot(output.root, create: true).makeDirectory(output.relative)
            // In the object store (not a file:// folder), an empty archive may be a link to a
            // recent one, last modified after the job started training (EmptyArchiveTemplate).
            let template = outputURI.hasPrefix("s3://") ? emptyArchives : nil
            let started = (job.trainingStartTime ?? job.creationTime).milliseconds
            let notBefore = Date(timeIntervalSince1970: Double(started) / 1000)
            // /opt/ml/output/data is the container's to replace: a link there is not followed, and
            // output.tar.gz is then empty (with a line in the job's log).
            for (folder, archive) in [("model", "model.tar.gz"), ("output/data", "output.tar.gz")] {
                guard let workspace else {
                    try Tarball.createEmpty(
                        into: destination, named: archive, template: template, notBefore: notBefore, isNewFolder: isNewFolder)
                    continue
                }
                let source: SafeDirectory
                do {
                    source = try workspace.openDirectory(folder)
                } catch {
                    notice(job, "Trainyard: /opt/ml/\(folder) is not a folder (links are not followed); \(archive) is empty.")
                    try Tarball.createEmpty(into: destination, named: archive)
                    continue
                }
                try Tarball.create(from: source, into: destination, named: archive, skipped: skipped)
            }
            if let workspace, let checkpoint = job.spec.checkpoint, let location = location(checkpoint.uri) {
                try checkOwnership(checkpoint.uri, job: job, write: true)
                let target = try SafeDirectory.openRoot(location.root, create: true).openDirectory(location.relative, create: true)
                var copier = SafeCopy(skipped: skipped)
                try copier.copyContents(of: workspace.openDirectory("checkpoints"), into: target)
            }
        } catch let error as WorkspaceError {
            throw error
        } catch {
            throw WorkspaceError("InternalServerError: uploading the model artifacts to \(outputURI) failed: \(error)")
        }
        guard let workspace else { return CollectedOutputs(failureText: nil) }
        let failureText: String?
        do {
            failureText = try workspace.readFile("output/failure", limit: 64 * 1024).map { String(decoding: $0, as: UTF8.self) }
        } catch {
            // A link (or FIFO) where the failure file should be: not read (issue 12 item 2).
            notice(job, "Trainyard: /opt/ml/output/failure was not read: \(error).")
            failureText = nil
        }
        return CollectedOutputs(failureText: failureText)
    }
}

/// Reports skipped entries to the job's log, the first `limit` one by one and then a single
/// line: a container that makes a million links must not make a million log writes.
final class SkippedEntries {
    static let limit = 100
    let job: TrainingJob
    let notice: @Sendable (TrainingJob, String) -> Void
    private var count = 0

    init(job: TrainingJob, notice: @escaping @Sendable (TrainingJob, String) -> Void) {
        self.job = job
        self.notice = notice
    }

    func report(_ path: String, _ kind: SafeEntryKind) {
        count += 1
        if count <= Self.limit {
            notice(job, LocalWorkspaces.skippedLine(path, kind))
        } else if count == Self.limit + 1 {
            notice(job, "Trainyard: more entries that are not regular files or folders were skipped; only the first \(Self.limit) are listed.")
        }
    }
}
