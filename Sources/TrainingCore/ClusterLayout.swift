/// The hosts of a job: `algo-1` … `algo-N`, each in an instance group with an instance type.
///
/// SageMaker names a job's instances `algo-1` … `algo-N` and writes them to every host's
/// `resourceconfig.json` (DG-info "Distributed Training Configuration"). A homogeneous cluster is
/// one group, "homogeneousCluster" (the sagemaker-training toolkit's default for
/// `current_group_name`, environment.py). A heterogeneous cluster (ResourceConfig.InstanceGroups)
/// numbers hosts across its groups in the order the request lists them.
public struct ClusterLayout: Sendable, Equatable {
    public struct Host: Sendable, Equatable {
        /// `algo-<n>`.
        public var name: String
        /// 1-based number of the host.
        public var number: Int
        public var groupName: String
        public var instanceType: String
    }

    public struct Group: Sendable, Equatable {
        public var name: String
        public var instanceType: String
        /// The group's hosts, sorted as SageMaker sorts `hosts`.
        public var hosts: [String]
    }

    /// SageMaker's group name for a cluster without InstanceGroups (toolkit environment.py default).
    public static let homogeneousGroup = "homogeneousCluster"

    /// Every host, `algo-1` first.
    public var hosts: [Host]
    public var groups: [Group]

    public init(spec: TrainingJobSpec) {
        var hosts: [Host] = []
        let groups = spec.instanceGroups ?? [
            TrainingJobSpec.InstanceGroup(
                name: Self.homogeneousGroup, instanceType: spec.instanceType, instanceCount: max(1, spec.instanceCount))
        ]
        for group in groups {
            for _ in 0..<max(0, group.instanceCount) {
                let number = hosts.count + 1
                hosts.append(Host(name: "algo-\(number)", number: number, groupName: group.name, instanceType: group.instanceType))
            }
        }
        self.hosts = hosts
        self.groups = groups.map { group in
            Group(
                name: group.name, instanceType: group.instanceType,
                hosts: hosts.filter { $0.groupName == group.name }.map(\.name).sorted())
        }
    }

    public var hostNames: [String] { hosts.map(\.name) }

    /// `resourceconfig.json`'s `hosts`: sorted lexicographically, as SageMaker and the toolkit
    /// sort them (reference sagemaker-semantics §1.2).
    public var sortedHostNames: [String] { hostNames.sorted() }

    public func host(named name: String) -> Host? { hosts.first { $0.name == name } }

    /// The hosts a channel goes to: every host, or only those of the channel's InstanceGroupNames
    /// (API S3DataSource.InstanceGroupNames: "A list of names of instance groups that get data
    /// from the S3 data source").
    public func hosts(for channel: TrainingJobSpec.Channel) -> [Host] {
        guard let names = channel.instanceGroupNames, !names.isEmpty else { return hosts }
        return hosts.filter { names.contains($0.groupName) }
    }

    /// ShardedByS3Key: which of a channel's objects (keys sorted) a host receives. SageMaker
    /// documents that each of the N instances gets about 1/N of the objects (API
    /// S3DataSource.S3DataDistributionType: "replicates a subset of data on each ML compute
    /// instance"); which subset is not documented. Trainyard's rule: with the keys in byte order,
    /// object i goes to the channel's host number i mod N (hosts in algo order). Nil: the host gets
    /// every object (FullyReplicated), or none of the channel.
    public func shard(of channel: TrainingJobSpec.Channel, host: String) -> (index: Int, count: Int)? {
        guard channel.distributionType == "ShardedByS3Key" else { return nil }
        let receivers = hosts(for: channel).map(\.name)
        guard receivers.count > 1, let index = receivers.firstIndex(of: host) else { return nil }
        return (index, receivers.count)
    }
}

extension TrainingJobSpec {
    /// The job's hosts and groups.
    public var cluster: ClusterLayout { ClusterLayout(spec: self) }
}
