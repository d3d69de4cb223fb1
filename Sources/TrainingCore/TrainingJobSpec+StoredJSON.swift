extension TrainingJobSpec {
    /// The spec as the job store keeps it (`training_jobs.spec_json`), decoded with `JSONDecoder`:
    /// the text `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` writes, written by
    /// hand. JSONEncoder was 3% of the server's CPU in a burst of simulated jobs, nearly all of
    /// CreateTrainingJob's encoding. Keys are in sorted order, and nil members are left out, as
    /// the synthesized `Encodable` does. A new member must be added here too: StoredJSONTests
    /// compares the two texts (a new non-optional member fails it; set a new optional one in its
    /// `full` spec).
    public var storedJSON: String {
        var out = JSONText.Object()
        out.member("channels", JSONText.array(channels.map(\.storedJSON)))
        if let checkpoint {
            var object = JSONText.Object()
            object.member("localPath", JSONText.quoted(checkpoint.localPath))
            object.member("uri", JSONText.quoted(checkpoint.uri))
            out.member("checkpoint", object.text)
        }
        if let containerArguments { out.member("containerArguments", JSONText.strings(containerArguments)) }
        if let containerEntrypoint { out.member("containerEntrypoint", JSONText.strings(containerEntrypoint)) }
        out.member("enableNetworkIsolation", enableNetworkIsolation ? "true" : "false")
        out.member("environment", JSONText.dictionary(environment))
        if let extraConfigFiles { out.member("extraConfigFiles", JSONText.dictionary(extraConfigFiles)) }
        out.member("hyperParameters", JSONText.dictionary(hyperParameters))
        out.member("instanceCount", String(instanceCount))
        if let instanceGroups {
            out.member(
                "instanceGroups",
                JSONText.array(
                    instanceGroups.map { group in
                        var object = JSONText.Object()
                        object.member("instanceCount", String(group.instanceCount))
                        object.member("instanceType", JSONText.quoted(group.instanceType))
                        object.member("name", JSONText.quoted(group.name))
                        return object.text
                    }))
        }
        out.member("instanceType", JSONText.quoted(instanceType))
        if let maxPendingSeconds { out.member("maxPendingSeconds", String(maxPendingSeconds)) }
        out.member("maxRuntimeSeconds", String(maxRuntimeSeconds))
        out.member(
            "metricDefinitions",
            JSONText.array(
                metricDefinitions.map { definition in
                    var object = JSONText.Object()
                    object.member("name", JSONText.quoted(definition.name))
                    object.member("regex", JSONText.quoted(definition.regex))
                    return object.text
                }))
        out.member("outputPath", JSONText.quoted(outputPath))
        out.member("trainingImage", JSONText.quoted(trainingImage))
        out.member("trainingInputMode", JSONText.quoted(trainingInputMode))
        out.member("volumeSizeInGB", String(volumeSizeInGB))
        return out.text
    }
}

extension TrainingJobSpec.Channel {
    var storedJSON: String {
        var out = JSONText.Object()
        out.member("compressionType", JSONText.quoted(compressionType))
        if let contentType { out.member("contentType", JSONText.quoted(contentType)) }
        out.member("distributionType", JSONText.quoted(distributionType))
        if let inputMode { out.member("inputMode", JSONText.quoted(inputMode)) }
        if let instanceGroupNames { out.member("instanceGroupNames", JSONText.strings(instanceGroupNames)) }
        out.member("name", JSONText.quoted(name))
        out.member("recordWrapperType", JSONText.quoted(recordWrapperType))
        out.member("s3DataType", JSONText.quoted(s3DataType))
        out.member("uri", JSONText.quoted(uri))
        return out.text
    }
}
