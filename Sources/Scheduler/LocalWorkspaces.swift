public import ContainerRuntime
public import Foundation
public import TrainingCore

/// Job workspaces as folders on this machine, bind-mounted into the container: the embedded
/// backend of `JobWorkspaces`. Layout: `<root>/<job id>-<job name>/<host>/{input,model,output,checkpoints}`.
public struct LocalWorkspaces: JobWorkspaces {
    public let root: URL
    public let s3Root: String
    /// Keep workspaces after a job ends (for debugging); by default they are deleted.
    public let keepAfterEnd: Bool
    /// Lay out every workspace up front (config files, empty folders). Without it, a job with no
    /// channel data and no checkpoints gets folders only when something writes into them: for the
    /// simulated runtime, which runs no process that could read them. Laying out and deleting
    /// thousands of folders a second was most of the cost of a burst of simulated jobs.
    public let layOutUpFront: Bool
    /// Security hooks (issue 12 items 1, 2, 3, 9): allowed `file://` prefixes, a line for the
    /// job's log, whether a copy may go on, and bucket ownership.
    public let guards: WorkspaceGuards
    /// Empty archives in the object store are links to one recent file (EmptyArchiveTemplate).
    let emptyArchives: EmptyArchiveTemplate

    public init(
        root: URL, s3Root: String, keepAfterEnd: Bool = false, layOutUpFront: Bool = true,
        guards: WorkspaceGuards = WorkspaceGuards()
    ) {
        self.root = root
        self.s3Root = s3Root
        self.keepAfterEnd = keepAfterEnd
        self.layOutUpFront = layOutUpFront
        self.guards = guards
        self.emptyArchives = EmptyArchiveTemplate(s3Root: s3Root)
    }

    public func directory(for job: TrainingJob, host: String) -> URL {
        // Said to be folders: without the hint, Foundation asks the file system (a stat each).
        root.appendingPathComponent("\(job.id)-\(job.name)", isDirectory: true).appendingPathComponent(host, isDirectory: true)
    }

    public func prepare(_ job: TrainingJob, host: String) throws(WorkspaceError) -> [ContainerSpec.Mount] {
        let staged = job.spec.needsStaging
        // Paths as text: building URLs was most of the cost of a workspace that is not laid out.
        guard layOutUpFront || staged else { return mounts(directoryPath(for: job, host: host), job) }
        let base = directory(for: job, host: host)
        let folders = ["input/config", "input/data", "model", "output/data", "checkpoints"]
        do {
            for folder in folders {
                try FileManager.default.createDirectory(
                    at: base.appendingPathComponent(folder), withIntermediateDirectories: true)
            }
            let files = try OptMLConfigFiles(job: job, host: host).files()
            for (name, contents) in files {
                try contents.write(to: base.appendingPathComponent("input/config").appendingPathComponent(name), options: .atomic)
            }
        } catch {
            throw WorkspaceError("InternalServerError: cannot lay out the job workspace at \(base.path): \(error)")
        }
        return mounts(base.path, job)
    }

    /// `directory(for:host:)` as a path.
    func directoryPath(for job: TrainingJob, host: String) -> String {
        jobFolderPath(job) + "/" + host
    }

    /// The folder of all the job's hosts' workspaces.
    private func jobFolderPath(_ job: TrainingJob) -> String {
        let root = self.root.path
        return (root.hasSuffix("/") ? root : root + "/") + "\(job.id)-\(job.name)"
    }

    /// Only the four folders, never all of /opt/ml: images keep their code in /opt/ml/code (DESIGN §4).
    private func mounts(_ base: String, _ job: TrainingJob) -> [ContainerSpec.Mount] {
        [
            ContainerSpec.Mount(source: base + "/input", target: "/opt/ml/input"),
            ContainerSpec.Mount(source: base + "/model", target: "/opt/ml/model"),
            ContainerSpec.Mount(source: base + "/output", target: "/opt/ml/output"),
            ContainerSpec.Mount(source: base + "/checkpoints", target: job.spec.checkpoint?.localPath ?? "/opt/ml/checkpoints"),
        ]
    }

    public func stageInputs(_ job: TrainingJob, host: String) throws(WorkspaceError) {
        try stageInputsSafely(job, host: host, base: directory(for: job, host: host))
    }

    public func collectOutputs(_ job: TrainingJob, host: String) throws(WorkspaceError) -> CollectedOutputs {
        try collectOutputsSafely(job, host: host, basePath: directoryPath(for: job, host: host))
    }

    /// A workspace is made only when laid out up front, staged, or written into by the (simulated)
    /// container: without the job's folder, there is nothing to collect.
    public func outputsAreEmpty(_ job: TrainingJob) -> Bool {
        guard !layOutUpFront, !job.spec.needsStaging else { return false }
        return access(jobFolderPath(job), F_OK) != 0 && errno == ENOENT
    }

    public func remove(_ job: TrainingJob) {
        guard !keepAfterEnd else { return }
        // Without following the links a container left in it (issue 12 item 2).
        try? SafeDirectory.openRoot(root.path).remove("\(job.id)-\(job.name)")
    }

    /// The text SageMaker gives when an S3Prefix matches nothing (as seen in real job failures).
    static func noObjectsMessage(uri: String, job: TrainingJob) -> String {
        "ClientError: No S3 objects found under S3 URL \"\(uri)\" given in input data source. Please ensure that the bucket exists in the selected region, that objects exist under that S3 prefix, and that the role has \"s3:ListBucket\" permissions on the bucket (Trainyard reads s3:// from its local object store)."
    }
}
