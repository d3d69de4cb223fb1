public import ContainerRuntime
public import TrainingCore

/// Staging inputs and collecting outputs of a job's hosts. The scheduler speaks only this and
/// `ContainerRuntime`, so a cluster backend can implement it with an object store instead of local
/// bind mounts (DESIGN §5).
public protocol JobWorkspaces: Sendable {
    /// Lays out the host's `/opt/ml` (config files, empty model/output/checkpoint folders) and returns
    /// the mounts the container needs. Idempotent.
    func prepare(_ job: TrainingJob, host: String) throws(WorkspaceError) -> [ContainerSpec.Mount]
    /// Copies every channel's data (and existing checkpoints) into the workspace: SageMaker's
    /// Downloading status. A ShardedByS3Key channel brings only the host's share of its objects
    /// (ClusterLayout.shard). Idempotent: a retry starts from a clean data folder.
    func stageInputs(_ job: TrainingJob, host: String) throws(WorkspaceError)
    /// Writes `model.tar.gz` and `output.tar.gz` to `<S3OutputPath>/<job>/output/`, uploads
    /// checkpoints, and returns the text of `/opt/ml/output/failure`, if any.
    func collectOutputs(_ job: TrainingJob, host: String) throws(WorkspaceError) -> CollectedOutputs
    /// Deletes the job's workspace (after the job has ended).
    func remove(_ job: TrainingJob)
    /// Whether collecting the job's outputs only writes empty archives: no host's workspace was
    /// laid out or written to. The job's Uploading then ends as it begins. False when unsure.
    func outputsAreEmpty(_ job: TrainingJob) -> Bool
    /// The outputs of a job with several hosts, as one: `model.tar.gz` and `output.tar.gz` hold
    /// every host's files, and the failure text is `failingHost`'s (LocalWorkspaces+Cluster.swift).
    func collectOutputs(_ job: TrainingJob, hosts: [String], failingHost: String?) throws(WorkspaceError) -> CollectedOutputs
}

extension JobWorkspaces {
    public func outputsAreEmpty(_ job: TrainingJob) -> Bool { false }

    /// Backends without their own merge collect the failing host's outputs, else the first host's.
    public func collectOutputs(_ job: TrainingJob, hosts: [String], failingHost: String?) throws(WorkspaceError) -> CollectedOutputs {
        try collectOutputs(job, host: failingHost ?? hosts.first ?? "algo-1")
    }
}

public struct CollectedOutputs: Sendable, Equatable {
    public var failureText: String?
    public init(failureText: String?) { self.failureText = failureText }
}

/// A staging or collection problem, with the FailureReason the job gets.
public struct WorkspaceError: Error, Sendable, Equatable, CustomStringConvertible {
    public var failureReason: String
    public init(_ failureReason: String) { self.failureReason = failureReason }
    public var description: String { failureReason }
}
