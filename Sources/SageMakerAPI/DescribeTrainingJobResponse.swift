import TrainingCore

/// DescribeTrainingJob's answer: the job's live members, spliced together with the stored echo of
/// its request (which already holds name, ARN, ModelArtifacts and every accepted config).
enum DescribeTrainingJobResponse {
    static func encode(_ job: TrainingJob) -> [UInt8] {
        var live: [String: JSONValue] = [
            "TrainingJobStatus": .string(job.status.rawValue),
            "SecondaryStatus": .string(job.secondaryStatus.rawValue),
            "CreationTime": job.creationTime.wireValue,
            "LastModifiedTime": job.lastModifiedTime.wireValue,
            "SecondaryStatusTransitions": .array(job.transitions.map(transition)),
        ]
        // Only a job that has ended carries one (a lost instance's reason is kept from the moment
        // it is known, TrainingJob.containerExited; SageMaker shows it once the job is Failed).
        if let reason = job.failureReason, !job.status.isActive { live["FailureReason"] = .string(reason) }
        if let start = job.trainingStartTime { live["TrainingStartTime"] = start.wireValue }
        if let end = job.trainingEndTime { live["TrainingEndTime"] = end.wireValue }
        if let seconds = job.trainingTimeInSeconds { live["TrainingTimeInSeconds"] = .int(seconds) }
        if let seconds = job.billableTimeInSeconds { live["BillableTimeInSeconds"] = .int(seconds) }
        if !job.finalMetrics.isEmpty {
            live["FinalMetricDataList"] = .array(
                job.finalMetrics.map {
                    .object(["MetricName": .string($0.name), "Value": .double($0.value), "Timestamp": $0.timestamp.wireValue])
                })
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(job.requestEcho.utf8.count + 1024)
        JSONValue.object(live).write(into: &bytes)
        // `{live}` + `{echo}` → `{live,echo}`: the two key sets never overlap (CreateTrainingJobInput.dynamicMembers).
        var echo = job.requestEcho
        echo.withUTF8 { echo in
            // Copied as a buffer: appending the String's UTF8View slice went byte by byte (perf).
            guard echo.count > 2, bytes.last == UInt8(ascii: "}") else { return }
            bytes.removeLast()
            bytes.append(UInt8(ascii: ","))
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: echo[1...]))
        }
        return bytes
    }

    static func transition(_ transition: StatusTransition) -> JSONValue {
        var entry: [String: JSONValue] = [
            "Status": .string(transition.status.rawValue),
            "StartTime": transition.startTime.wireValue,
            "StatusMessage": .string(transition.message),
        ]
        if let end = transition.endTime { entry["EndTime"] = end.wireValue }
        return .object(entry)
    }
}
