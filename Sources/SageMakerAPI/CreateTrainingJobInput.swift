import TrainingCore

/// A validated CreateTrainingJob request, turned into what the job needs: the spec that runs it,
/// the tags, and the JSON object Describe echoes (with the defaults SageMaker fills in).
struct CreateTrainingJobInput {
    var name: String
    var spec: TrainingJobSpec
    var tags: [(key: String, value: String)]
    /// The accepted request members, defaults filled in, without the name and tags.
    var echo: [String: JSONValue]

    /// Members Describe computes itself; never taken from the echo.
    static let dynamicMembers: Set<String> = [
        "TrainingJobStatus", "SecondaryStatus", "FailureReason", "CreationTime", "LastModifiedTime",
        "TrainingStartTime", "TrainingEndTime", "TrainingTimeInSeconds", "BillableTimeInSeconds",
        "SecondaryStatusTransitions", "FinalMetricDataList",
    ]

    /// Expects input that already passed shape validation; checks what the model cannot express.
    init(_ input: JSONValue) throws(AWSServiceError) {
        guard case .object(var members) = input, let name = input["TrainingJobName"]?.stringValue else {
            throw .violations(["Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null"])
        }
        self.name = name
        members["TrainingJobName"] = nil
        let tagList = members.removeValue(forKey: "Tags")?.arrayValue ?? []
        tags = tagList.compactMap { tag in
            guard let key = tag["Key"]?.stringValue else { return nil }
            return (key, tag["Value"]?.stringValue ?? "")
        }

        // Trainyard has no serverless mode: the algorithm and instance must be given, as older
        // models required (reference api-fidelity §2, "Required-set drift"). Wording is ours.
        guard case .object(var algorithm)? = members["AlgorithmSpecification"] else {
            throw .violations(["Value null at 'algorithmSpecification' failed to satisfy constraint: Member must not be null"])
        }
        guard let image = algorithm["TrainingImage"]?.stringValue, !image.isEmpty else {
            if algorithm["AlgorithmName"] != nil {
                throw .validation("AlgorithmName (AWS Marketplace and built-in algorithms) is not supported by Trainyard; give AlgorithmSpecification.TrainingImage, an image present on this machine.")
            }
            throw .validation("AlgorithmSpecification must specify a TrainingImage.")
        }
        guard case .object(var resource)? = members["ResourceConfig"] else {
            throw .violations(["Value null at 'resourceConfig' failed to satisfy constraint: Member must not be null"])
        }
        // A homogeneous cluster (InstanceType × InstanceCount) or a heterogeneous one
        // (InstanceGroups), never both (API ResourceConfig: "InstanceGroups: The configuration of
        // a heterogeneous cluster"; used instead of InstanceType and InstanceCount). Wording is ours.
        let instanceGroups = try Self.instanceGroups(resource)
        let instanceType: String
        let instanceCount: Int64
        if let instanceGroups {
            if resource["InstanceType"] != nil || resource["InstanceCount"] != nil {
                throw .validation("ResourceConfig cannot specify InstanceType or InstanceCount together with InstanceGroups.")
            }
            instanceType = instanceGroups[0].instanceType
            instanceCount = Int64(instanceGroups.reduce(0) { $0 + $1.instanceCount })
            guard instanceCount >= 1 else {
                throw .validation("ResourceConfig.InstanceGroups must have at least one instance in total.")
            }
        } else {
            guard let type = resource["InstanceType"]?.stringValue else {
                throw .validation("ResourceConfig must specify an InstanceType and an InstanceCount, or InstanceGroups.")
            }
            guard let count = resource["InstanceCount"]?.int64Value else {
                throw .violations(["Value null at 'resourceConfig.instanceCount' failed to satisfy constraint: Member must not be null"])
            }
            guard count >= 1 else {
                throw .violations(["Value '\(count)' at 'resourceConfig.instanceCount' failed to satisfy constraint: Member must have value greater than or equal to 1"])
            }
            instanceType = type
            instanceCount = count
        }

        let inputMode = algorithm["TrainingInputMode"]?.stringValue ?? "File"
        var stopping = members["StoppingCondition"]?.objectValue ?? [:]
        let maxRuntime = stopping["MaxRuntimeInSeconds"]?.int64Value ?? TrainingJobSpec.defaultMaxRuntimeSeconds
        if let maxWait = stopping["MaxWaitTimeInSeconds"]?.int64Value, members["EnableManagedSpotTraining"]?.boolValue == true,
            maxWait < maxRuntime
        {
            throw .validation("MaxWaitTimeInSeconds must be greater than or equal to MaxRuntimeInSeconds.")
        }

        // Channels: names unique, data sources Trainyard can read.
        var channels: [TrainingJobSpec.Channel] = []
        var echoedChannels: [JSONValue] = []
        for channelValue in members["InputDataConfig"]?.arrayValue ?? [] {
            guard case .object(var channel) = channelValue, let channelName = channel["ChannelName"]?.stringValue else { continue }
            if channels.contains(where: { $0.name == channelName }) {
                throw .validation("Channel names must be unique. Found duplicate channel name: \(channelName).")
            }
            guard case .object(var dataSource)? = channel["DataSource"], case .object(var s3)? = dataSource["S3DataSource"],
                let uri = s3["S3Uri"]?.stringValue
            else {
                throw .validation("Channel '\(channelName)' must have a DataSource.S3DataSource; FileSystemDataSource and DatasetSource are not supported by Trainyard.")
            }
            try Self.checkReadableURI(uri, member: "InputDataConfig[\(channelName)].DataSource.S3DataSource.S3Uri")
            // S3DataSource.InstanceGroupNames: only those groups' hosts get the channel; each must
            // be a group of ResourceConfig.InstanceGroups.
            let groupNames = s3["InstanceGroupNames"]?.arrayValue?.compactMap(\.stringValue)
            if let groupNames {
                guard let instanceGroups else {
                    throw .validation("Channel '\(channelName)' specifies InstanceGroupNames, but ResourceConfig has no InstanceGroups.")
                }
                for name in groupNames where !instanceGroups.contains(where: { $0.name == name }) {
                    throw .validation("Channel '\(channelName)' names instance group '\(name)', which is not in ResourceConfig.InstanceGroups.")
                }
            }
            let distribution = s3["S3DataDistributionType"]?.stringValue ?? "FullyReplicated"
            s3["S3DataDistributionType"] = .string(distribution)
            dataSource["S3DataSource"] = .object(s3)
            channel["DataSource"] = .object(dataSource)
            let compression = channel["CompressionType"]?.stringValue ?? "None"
            let wrapper = channel["RecordWrapperType"]?.stringValue ?? "None"
            channel["CompressionType"] = .string(compression)
            channel["RecordWrapperType"] = .string(wrapper)
            echoedChannels.append(.object(channel))
            channels.append(
                TrainingJobSpec.Channel(
                    name: channelName, uri: uri, s3DataType: s3["S3DataType"]?.stringValue ?? "S3Prefix",
                    distributionType: distribution, contentType: channel["ContentType"]?.stringValue,
                    compressionType: compression, recordWrapperType: wrapper,
                    inputMode: channel["InputMode"]?.stringValue, instanceGroupNames: groupNames))
        }
        if !echoedChannels.isEmpty { members["InputDataConfig"] = .array(echoedChannels) }

        guard case .object(var output)? = members["OutputDataConfig"], let outputPath = output["S3OutputPath"]?.stringValue else {
            throw .violations(["Value null at 'outputDataConfig' failed to satisfy constraint: Member must not be null"])
        }
        try Self.checkReadableURI(outputPath, member: "OutputDataConfig.S3OutputPath")
        var checkpoint: TrainingJobSpec.Checkpoint?
        if case .object(let checkpointConfig)? = members["CheckpointConfig"], let uri = checkpointConfig["S3Uri"]?.stringValue {
            try Self.checkReadableURI(uri, member: "CheckpointConfig.S3Uri")
            let localPath = checkpointConfig["LocalPath"]?.stringValue ?? "/opt/ml/checkpoints"
            try Self.checkCheckpointLocalPath(localPath)
            checkpoint = TrainingJobSpec.Checkpoint(uri: uri, localPath: localPath)
        }

        let metricDefinitions = (algorithm["MetricDefinitions"]?.arrayValue ?? []).compactMap { definition -> TrainingJobSpec.MetricDefinition? in
            guard let name = definition["Name"]?.stringValue, let regex = definition["Regex"]?.stringValue else { return nil }
            return TrainingJobSpec.MetricDefinition(name: name, regex: regex)
        }

        spec = TrainingJobSpec(
            trainingImage: image,
            containerEntrypoint: algorithm["ContainerEntrypoint"]?.arrayValue?.compactMap(\.stringValue),
            containerArguments: algorithm["ContainerArguments"]?.arrayValue?.compactMap(\.stringValue),
            trainingInputMode: inputMode,
            hyperParameters: Self.stringMap(members["HyperParameters"]),
            environment: Self.stringMap(members["Environment"]),
            channels: channels, outputPath: outputPath, checkpoint: checkpoint,
            instanceType: instanceType, instanceCount: Int(instanceCount),
            volumeSizeInGB: Int(resource["VolumeSizeInGB"]?.int64Value ?? 30),
            maxRuntimeSeconds: maxRuntime,
            maxPendingSeconds: stopping["MaxPendingTimeInSeconds"]?.int64Value,
            metricDefinitions: metricDefinitions,
            enableNetworkIsolation: members["EnableNetworkIsolation"]?.boolValue ?? false,
            extraConfigFiles: Self.extraConfigFiles(members), instanceGroups: instanceGroups)

        // Defaults that clients index directly (Estimator.attach reads OutputDataConfig.KmsKeyId,
        // ResourceConfig.VolumeSizeInGB, StoppingCondition.MaxRuntimeInSeconds and
        // AlgorithmSpecification.TrainingInputMode; SDK2 estimator.py), and the ones real
        // SageMaker fills in (reference api-fidelity §3).
        algorithm["TrainingInputMode"] = .string(inputMode)
        if algorithm["EnableSageMakerMetricsTimeSeries"] == nil { algorithm["EnableSageMakerMetricsTimeSeries"] = .bool(false) }
        members["AlgorithmSpecification"] = .object(algorithm)
        if output["KmsKeyId"] == nil { output["KmsKeyId"] = .string("") }
        if output["CompressionType"] == nil { output["CompressionType"] = .string("GZIP") }
        members["OutputDataConfig"] = .object(output)
        resource["VolumeSizeInGB"] = .int(Int64(spec.volumeSizeInGB))
        members["ResourceConfig"] = .object(resource)
        stopping["MaxRuntimeInSeconds"] = .int(maxRuntime)
        members["StoppingCondition"] = .object(stopping)
        for flag in ["EnableNetworkIsolation", "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining"]
        where members[flag] == nil {
            members[flag] = .bool(false)
        }
        if members["HyperParameters"] == nil { members["HyperParameters"] = .object([:]) }
        for dynamic in Self.dynamicMembers { members[dynamic] = nil }
        echo = members
    }

    /// `ResourceConfig.InstanceGroups`, checked: names unique, each with a type and a count ≥ 0
    /// (API InstanceGroup: InstanceGroupName, InstanceType and InstanceCount are required).
    static func instanceGroups(_ resource: [String: JSONValue]) throws(AWSServiceError) -> [TrainingJobSpec.InstanceGroup]? {
        guard let list = resource["InstanceGroups"]?.arrayValue else { return nil }
        guard !list.isEmpty else { throw .validation("ResourceConfig.InstanceGroups must not be empty.") }
        var groups: [TrainingJobSpec.InstanceGroup] = []
        for entry in list {
            guard let name = entry["InstanceGroupName"]?.stringValue, !name.isEmpty else {
                throw .violations(["Value null at 'resourceConfig.instanceGroups.member.instanceGroupName' failed to satisfy constraint: Member must not be null"])
            }
            guard let type = entry["InstanceType"]?.stringValue else {
                throw .violations(["Value null at 'resourceConfig.instanceGroups.member.instanceType' failed to satisfy constraint: Member must not be null"])
            }
            guard let count = entry["InstanceCount"]?.int64Value else {
                throw .violations(["Value null at 'resourceConfig.instanceGroups.member.instanceCount' failed to satisfy constraint: Member must not be null"])
            }
            guard count >= 0 else {
                throw .violations(["Value '\(count)' at 'resourceConfig.instanceGroups.member.instanceCount' failed to satisfy constraint: Member must have value greater than or equal to 0"])
            }
            if groups.contains(where: { $0.name == name }) {
                throw .validation("Instance group names must be unique. Found duplicate instance group name: \(name).")
            }
            groups.append(TrainingJobSpec.InstanceGroup(name: name, instanceType: type, instanceCount: Int(count)))
        }
        return groups
    }

    /// Trainyard reads `s3://` from its object store and `file:///abs/dir` from this machine;
    /// `https://` S3 URLs (valid in the model) cannot be resolved here.
    static func checkReadableURI(_ uri: String, member: String) throws(AWSServiceError) {
        if uri.hasPrefix("s3://") {
            let bucket = uri.dropFirst(5).prefix { $0 != "/" }
            guard !bucket.isEmpty else { throw .validation("\(member) '\(uri)' has no bucket.") }
            guard !uri.split(separator: "/").contains("..") else {
                throw .validation("\(member) '\(uri)' must not contain '..' segments.")
            }
            return
        }
        if uri.hasPrefix("file:///") { return }
        throw .validation("\(member) '\(uri)' is not supported by Trainyard: use s3://bucket/key (the local object store) or file:///absolute/path.")
    }

    /// SageMaker writes these configs to `/opt/ml/input/config` when they are set, with keys as in
    /// the request; smdebug reads `LocalPath`, `S3OutputPath`, `HookParameters` and
    /// `CollectionConfigurations` from them (sagemaker-semantics §1.2, SMDBG config_constants).
    /// LocalPath defaults are the API's documented ones (unsure for the profiler, which has none).
    static func extraConfigFiles(_ members: [String: JSONValue]) -> [String: String]? {
        let files: [(member: String, file: String, defaultLocalPath: String?)] = [
            ("DebugHookConfig", "debughookconfig.json", "/opt/ml/output/tensors"),
            ("TensorBoardOutputConfig", "tensorboardoutputconfig.json", "/opt/ml/output/tensorboard"),
            ("ProfilerConfig", "profilerconfig.json", nil),
        ]
        var written: [String: String] = [:]
        for entry in files {
            guard case .object(var config)? = members[entry.member] else { continue }
            if let localPath = entry.defaultLocalPath, config["LocalPath"] == nil { config["LocalPath"] = .string(localPath) }
            written[entry.file] = JSONValue.object(config).serialized()
        }
        return written.isEmpty ? nil : written
    }

    static func stringMap(_ value: JSONValue?) -> [String: String] {
        guard case .object(let map)? = value else { return [:] }
        return map.compactMapValues(\.stringValue)
    }

    /// The echo with the identity members added: what Describe returns besides its dynamic members.
    func echoObject(arn: String) -> JSONValue {
        var object = echo
        object["TrainingJobName"] = .string(name)
        object["TrainingJobArn"] = .string(arn)
        object["ModelArtifacts"] = .object(["S3ModelArtifacts": .string(spec.modelArtifactsURI(jobName: name))])
        return .object(object)
    }
}
