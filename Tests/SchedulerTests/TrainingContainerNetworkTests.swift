import ContainerRuntime
import Scheduler
import Testing
import TrainingCore

/// How a job's container is wired to names and to the S3 gateway (issue 11 items 1 and 6).
@Suite struct TrainingContainerNetworkTests {
    func job(isolated: Bool = false, environment: [String: String] = [:]) -> TrainingJob {
        let spec = TrainingJobSpec(
            trainingImage: "image:latest", environment: environment, outputPath: "s3://bucket/out",
            enableNetworkIsolation: isolated)
        return TrainingJob(
            id: 42, account: "111111111111", name: "net", arn: "arn:aws:sagemaker:us-east-1:111111111111:training-job/net",
            status: .inProgress, secondaryStatus: .starting, creationTime: Timestamp(milliseconds: 0),
            lastModifiedTime: Timestamp(milliseconds: 0), transitions: [], spec: spec, requestEcho: "{}")
    }

    let access = TrainingContainer.S3Access(port: { 8123 }, credentials: { ("AKIATYJOB000000000\($0.id)", "secret") })

    @Test func algoHostsResolveToTheContainerItselfOnNetworkNone() {
        let spec = TrainingContainer.spec(for: job(), mounts: [], options: .init(region: "us-east-1"))
        #expect(spec.networkMode == "none")
        #expect(spec.hostname == "algo-1")
        #expect(spec.extraHosts == ["algo-1:127.0.0.1"])
    }

    @Test func otherNetworkModesKeepTheEnginesOwnHostEntry() {
        let spec = TrainingContainer.spec(for: job(), mounts: [], options: .init(region: "us-east-1", networkMode: "bridge"))
        #expect(spec.extraHosts.isEmpty)
    }

    @Test func aJobThatIsNotIsolatedGetsItsKeysTheEndpointAndTheGatewayLabel() {
        let spec = TrainingContainer.spec(
            for: job(environment: ["AWS_ACCESS_KEY_ID": "mine"]), mounts: [], options: .init(region: "us-east-1", s3Access: access))
        #expect(spec.environment["AWS_ACCESS_KEY_ID"] == "AKIATYJOB00000000042")
        #expect(spec.environment["AWS_SECRET_ACCESS_KEY"] == "secret")
        for variable in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "S3_ENDPOINT_URL"] {
            #expect(spec.environment[variable] == "http://127.0.0.1:8123")
        }
        #expect(spec.labels[TrainingContainer.gatewayLabel] == "s3")
        #expect(spec.networkMode == "none")
    }

    @Test func anIsolatedJobGetsNoGatewayNoKeysAndNetworkNone() {
        let spec = TrainingContainer.spec(
            for: job(isolated: true), mounts: [], options: .init(region: "us-east-1", networkMode: "bridge", s3Access: access))
        #expect(spec.networkMode == "none")
        #expect(spec.labels[TrainingContainer.gatewayLabel] == nil)
        #expect(spec.environment["AWS_ACCESS_KEY_ID"] == nil)
        #expect(spec.environment["AWS_ENDPOINT_URL"] == nil)
        #expect(spec.extraHosts == ["algo-1:127.0.0.1"])
    }

    @Test func noGatewayBeforeTheServerHasBoundItsPort() {
        let unbound = TrainingContainer.S3Access(port: { nil }, credentials: { _ in ("k", "s") })
        let spec = TrainingContainer.spec(for: job(), mounts: [], options: .init(region: "us-east-1", s3Access: unbound))
        #expect(spec.labels[TrainingContainer.gatewayLabel] == nil)
        #expect(spec.environment["AWS_ENDPOINT_URL"] == nil)
    }
}

/// GPU instance types ask for their GPUs unless `--gpus none` (issue 13 item 7).
@Suite struct TrainingContainerGPUTests {
    func job(instanceType: String = "ml.m5.large", groups: [TrainingJobSpec.InstanceGroup]? = nil) -> TrainingJob {
        let spec = TrainingJobSpec(
            trainingImage: "image:latest", outputPath: "s3://bucket/out", instanceType: instanceType, instanceGroups: groups)
        return TrainingJob(
            id: 7, account: "111111111111", name: "gpu", arn: "arn:aws:sagemaker:us-east-1:111111111111:training-job/gpu",
            status: .inProgress, secondaryStatus: .starting, creationTime: Timestamp(milliseconds: 0),
            lastModifiedTime: Timestamp(milliseconds: 0), transitions: [], spec: spec, requestEcho: "{}")
    }

    @Test func gpuInstanceTypesAskForTheirGPUsUnderAuto() {
        let options = TrainingContainer.Options(region: "us-east-1")
        #expect(TrainingContainer.spec(for: job(instanceType: "ml.g5.xlarge"), mounts: [], options: options).gpuCount == 1)
        #expect(TrainingContainer.spec(for: job(instanceType: "ml.p3.8xlarge"), mounts: [], options: options).gpuCount == 4)
        #expect(TrainingContainer.spec(for: job(instanceType: "ml.m5.large"), mounts: [], options: options).gpuCount == 0)
        #expect(TrainingContainer.spec(for: job(instanceType: "ml.unknown.type"), mounts: [], options: options).gpuCount == 0)
    }

    @Test func noneRunsOnTheCPUAndSaysSoOnlyForGPUTypes() throws {
        let options = TrainingContainer.Options(region: "us-east-1", gpus: .none)
        #expect(TrainingContainer.spec(for: job(instanceType: "ml.g5.xlarge"), mounts: [], options: options).gpuCount == 0)
        let note = try #require(TrainingContainer.cpuOnlyNote(for: job(instanceType: "ml.g5.xlarge"), mode: .none))
        #expect(note.contains("ml.g5.xlarge") && note.contains("--gpus none") && note.contains("CPU"))
        #expect(TrainingContainer.cpuOnlyNote(for: job(instanceType: "ml.m5.large"), mode: .none) == nil)
        #expect(TrainingContainer.cpuOnlyNote(for: job(instanceType: "ml.g5.xlarge"), mode: .auto) == nil)
    }

    @Test func eachHostOfAHeterogeneousClusterAsksForItsOwnGroupsGPUs() {
        let groups = [
            TrainingJobSpec.InstanceGroup(name: "cpu", instanceType: "ml.c5.xlarge", instanceCount: 1),
            TrainingJobSpec.InstanceGroup(name: "gpu", instanceType: "ml.p3.16xlarge", instanceCount: 1),
        ]
        let options = TrainingContainer.Options(region: "us-east-1")
        #expect(TrainingContainer.spec(for: job(groups: groups), host: "algo-1", mounts: [], options: options).gpuCount == 0)
        #expect(TrainingContainer.spec(for: job(groups: groups), host: "algo-2", mounts: [], options: options).gpuCount == 8)
        #expect(TrainingContainer.cpuOnlyNote(for: job(groups: groups), mode: .none)?.contains("ml.p3.16xlarge") == true)
    }
}
