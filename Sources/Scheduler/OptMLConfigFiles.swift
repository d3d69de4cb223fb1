import Foundation
import TrainingCore

/// The files SageMaker writes to `/opt/ml/input/config` (DG-info; reference sagemaker-semantics §1.2).
struct OptMLConfigFiles {
    let job: TrainingJob
    let host: String

    func files() throws -> [(name: String, contents: Data)] {
        var files: [(String, Data)] = [
            // The request's map verbatim: values stay the strings the client sent (never re-encoded).
            ("hyperparameters.json", try json(job.spec.hyperParameters)),
            ("resourceconfig.json", try json(resourceConfig)),
            ("inputdataconfig.json", try json(inputDataConfig)),
        ]
        for (name, text) in (job.spec.extraConfigFiles ?? [:]).sorted(by: { $0.key < $1.key }) {
            files.append((name, Data(text.utf8)))
        }
        if let checkpoint = job.spec.checkpoint {
            // Written only when CheckpointConfig is set; smdebug reads "LocalPath" (sagemaker-semantics §1.2).
            files.append(("checkpointconfig.json", try json(["LocalPath": checkpoint.localPath, "S3Uri": checkpoint.uri])))
        }
        return files
    }

    /// SageMaker's resourceconfig.json for this host (DG-info "Distributed Training
    /// Configuration"; the sagemaker-training toolkit reads `current_host`, `hosts`,
    /// `current_group_name`, `current_instance_type`, `instance_groups` and
    /// `network_interface_name` in environment.py). `hosts` and each group's hosts are sorted.
    private var resourceConfig: ResourceConfig {
        let cluster = job.spec.cluster
        let current = cluster.host(named: host)
        return ResourceConfig(
            current_host: host, current_instance_type: current?.instanceType ?? job.spec.instanceType,
            current_group_name: current?.groupName ?? ClusterLayout.homogeneousGroup, hosts: cluster.sortedHostNames,
            instance_groups: cluster.groups.map {
                .init(instance_group_name: $0.name, instance_type: $0.instanceType, hosts: $0.hosts)
            },
            network_interface_name: "eth0")
    }

    private var inputDataConfig: [String: ChannelConfig] {
        var config: [String: ChannelConfig] = [:]
        // Only the channels this host receives (a channel's InstanceGroupNames).
        let cluster = job.spec.cluster
        for channel in job.spec.channels where cluster.hosts(for: channel).contains(where: { $0.name == host }) {
            config[channel.name] = ChannelConfig(
                ContentType: channel.contentType,
                TrainingInputMode: channel.inputMode ?? job.spec.trainingInputMode,
                S3DistributionType: channel.distributionType,
                RecordWrapperType: channel.recordWrapperType)
        }
        return config
    }

    private func json<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    // Field names are the file's own keys.
    private struct ResourceConfig: Encodable {
        struct InstanceGroup: Encodable {
            var instance_group_name: String
            var instance_type: String
            var hosts: [String]
        }
        var current_host: String
        var current_instance_type: String
        var current_group_name: String
        var hosts: [String]
        var instance_groups: [InstanceGroup]
        var network_interface_name: String
    }

    private struct ChannelConfig: Encodable {
        var ContentType: String?  // only when given (DG-info)
        var TrainingInputMode: String
        var S3DistributionType: String
        var RecordWrapperType: String
    }
}
