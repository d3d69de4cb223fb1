import Testing
import TrainingCore

/// FailureReason of a job with several hosts (issue 13 item 5) and of a GPU job without GPUs.
@Suite struct ClusterFailureReasonTests {
    @Test func theFailingHostsTextThenItsExitCode() {
        #expect(FailureReason.clusterAlgorithmError(exitCode: 1, oomKilled: false, failureFileText: nil) == "AlgorithmError: , exit code: 1")
        #expect(FailureReason.clusterAlgorithmError(exitCode: 1, oomKilled: false, failureFileText: " \n") == "AlgorithmError: , exit code: 1")
        #expect(
            FailureReason.clusterAlgorithmError(exitCode: 3, oomKilled: false, failureFileText: "boom on algo-2")
                == "AlgorithmError: boom on algo-2, exit code: 3")
        #expect(FailureReason.clusterAlgorithmError(exitCode: 137, oomKilled: true, failureFileText: "x") == FailureReason.outOfMemory)
    }

    @Test func aLongTextIsCappedButKeepsTheExitCode() {
        let reason = FailureReason.clusterAlgorithmError(exitCode: 42, oomKilled: false, failureFileText: String(repeating: "é", count: 5000))
        #expect(reason.utf16.count == FailureReason.maximumLength)
        #expect(reason.hasSuffix("é, exit code: 42"))
    }

    @Test func aJobOfSeveralHostsFailsWithTheClusterText() throws {
        for (count, expected) in [(1, "AlgorithmError: Exit Code: 5"), (2, "AlgorithmError: , exit code: 5")] {
            let spec = TrainingJobSpec(trainingImage: "i", outputPath: "s3://b/o", instanceCount: count)
            var job = TrainingJob(
                id: 1, account: "111111111111", name: "j", arn: "arn", status: .inProgress, secondaryStatus: .training,
                creationTime: Timestamp(milliseconds: 0), lastModifiedTime: Timestamp(milliseconds: 0), transitions: [],
                spec: spec, requestEcho: "{}")
            job = try job.containerExited(ContainerOutcome(exitCode: 5), now: Timestamp(milliseconds: 1))
            let failed = try job.finished(failureText: nil, metrics: [], now: Timestamp(milliseconds: 2))
            #expect(failed.failureReason == expected)
        }
    }

    /// A node that died mid-job (Swarm task orphaned, node down): InternalServerError, the failure
    /// class SageMaker's RetryStrategy retries, whatever the failure file says.
    @Test func aLostInstanceIsAnInternalServerError() throws {
        for count in [1, 2] {
            let spec = TrainingJobSpec(trainingImage: "i", outputPath: "s3://b/o", instanceCount: count)
            var job = TrainingJob(
                id: 1, account: "111111111111", name: "j", arn: "arn", status: .inProgress, secondaryStatus: .training,
                creationTime: Timestamp(milliseconds: 0), lastModifiedTime: Timestamp(milliseconds: 0), transitions: [],
                spec: spec, requestEcho: "{}")
            let reason = FailureReason.instanceLost(host: "algo-1", detail: "Swarm node n2 is down")
            job = try job.containerExited(ContainerOutcome(exitCode: 137, platformFailure: reason), now: Timestamp(milliseconds: 1))
            // The store keeps only the exit code: the reason must survive a reload without it.
            job.exit = ContainerOutcome(exitCode: 137)
            let failed = try job.finished(failureText: "stale text", metrics: [], now: Timestamp(milliseconds: 2))
            #expect(failed.status == .failed)
            #expect(failed.failureReason == reason)
            #expect(reason.hasPrefix("InternalServerError: The instance running algo-1 failed during training (Swarm node n2 is down)."))
        }
    }

    @Test func noGPURuntimeIsAClientErrorThatSaysWhatToDo() {
        let reason = FailureReason.noGPURuntime(requested: 1)
        #expect(reason.hasPrefix("ClientError: "))
        #expect(reason.contains("NVIDIA Container Toolkit") && reason.contains("--gpus none") && reason.contains("1 GPU,"))
        #expect(FailureReason.noGPURuntime(requested: 8).contains("8 GPUs"))
    }
}
