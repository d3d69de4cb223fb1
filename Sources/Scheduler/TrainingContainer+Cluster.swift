public import TrainingCore

extension TrainingContainer {
    /// The network of a job with several hosts: its own, named after the job (DESIGN §4: "a job's
    /// hosts share a network of their own"). The hosts reach each other by name on every port,
    /// as SageMaker's instances do (DG-info: "algo-N" host names resolve), and nothing else.
    /// EnableNetworkIsolation keeps it: isolation forbids outbound calls, not traffic between the
    /// job's own instances (API CreateTrainingJob.EnableNetworkIsolation; distributed training
    /// with isolation still works on SageMaker). A single-host job needs none.
    public static func clusterNetwork(for job: TrainingJob) -> String? {
        job.spec.cluster.hosts.count > 1 ? "trainyard-\(job.id)-\(job.name)" : nil
    }
}
