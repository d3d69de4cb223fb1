import Foundation
import TrainingCore

/// The files SageMaker writes to `/opt/ml/input/config` (DG-info; reference sagemaker-semantics §1.2).
struct OptMLConfigFiles {
    let job: TrainingJob
    let host: String

    /// SageMaker's name for the single instance group of a homogeneous cluster.
    static let homogeneousGroup = "homogeneousCluster"

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

    /// Trainyard runs one container per job, so `hosts` lists only the host it runs (listing hosts
    /// that never start would hang distributed scripts waiting for them). For several hosts the
    /// list must be sorted lexicographically, as SageMaker sorts it.
    private var resourceConfig: ResourceConfig {
        let hosts = [host].sorted()
        return ResourceConfig(
            current_host: host, current_instance_type: job.spec.instanceType,
            current_group_name: Self.homogeneousGroup, hosts: hosts,
            instance_groups: [
                .init(instance_group_name: Self.homogeneousGroup, instance_type: job.spec.instanceType, hosts: hosts)
            ],
            network_interface_name: "eth0")
    }

    private var inputDataConfig: [String: ChannelConfig] {
        var config: [String: ChannelConfig] = [:]
        for channel in job.spec.channels {
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
