public import TrainingCore

extension TrainingContainer {
    /// `--gpus`: whether GPU instance types get the engine's GPUs.
    public enum GPUMode: String, Sendable, CaseIterable {
        /// Ask for the instance type's GPUs; a job fails with a ClientError when the engine has
        /// no NVIDIA GPU runtime (DockerRuntime checks `GET /info`).
        case auto
        /// Run every job on the CPU, with a line in the job's log saying so.
        case none
    }

    /// The instance type of `host` (heterogeneous clusters: its group's type).
    static func instanceType(of job: TrainingJob, host: String) -> String {
        job.spec.cluster.host(named: host)?.instanceType ?? job.spec.instanceType
    }

    /// NVIDIA GPUs of the host's instance type (InstanceTypes: ml.g5.xlarge has 1, ml.p4d.24xlarge
    /// 8), when `--gpus auto`; 0 for CPU types, unknown types and `--gpus none`.
    static func gpuCount(of job: TrainingJob, host: String, mode: GPUMode) -> Int {
        guard mode == .auto else { return 0 }
        return InstanceType.named(instanceType(of: job, host: host))?.gpus ?? 0
    }

    /// With `--gpus none`, the line the job's log gets when one of its hosts' instance types has
    /// GPUs: the job runs, but on the CPU, which its owner should not have to guess.
    public static func cpuOnlyNote(for job: TrainingJob, mode: GPUMode) -> String? {
        guard mode == .none else { return nil }
        let types = job.spec.cluster.hosts.map(\.instanceType)
        guard let type = types.first(where: { (InstanceType.named($0)?.gpus ?? 0) > 0 }),
            let gpus = InstanceType.named(type)?.gpus
        else { return nil }
        return "Trainyard: \(type) has \(gpus) GPU\(gpus == 1 ? "" : "s"), but this server runs with --gpus none: the job runs on the CPU, without GPUs."
    }
}
