import Testing
import TrainingCore

private func t(_ seconds: Double) -> Timestamp { Timestamp(epochSeconds: 1_700_000_000 + seconds) }
private let grace: Int64 = 120_000

private func clusterJob(count: Int = 3, groups: [TrainingJobSpec.InstanceGroup]? = nil, channels: [TrainingJobSpec.Channel] = [])
    throws -> TrainingJob
{
    let spec = TrainingJobSpec(
        trainingImage: "img", channels: channels, outputPath: "s3://b/out", instanceCount: count, maxRuntimeSeconds: 100,
        instanceGroups: groups)
    let job = TrainingJob.created(
        account: "123456789012", name: "job-1", arn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1",
        spec: spec, requestEcho: "{}", now: t(0))
    return try job.startingDownload(now: t(1)).startingTraining(now: t(2))
}

private func seen(_ states: [String: ContainerObservation], finished: [String: Timestamp] = [:]) -> ClusterObservation {
    ClusterObservation(hosts: states, finishedAt: finished)
}

private let failed3 = ContainerOutcome(exitCode: 3)
private let ok = ContainerOutcome(exitCode: 0)

struct ClusterLayoutTests {
    @Test("InstanceCount N is algo-1 … algo-N in the homogeneousCluster group, hosts sorted as SageMaker sorts them")
    func homogeneous() {
        let layout = TrainingJobSpec(trainingImage: "i", outputPath: "s3://b", instanceType: "ml.p3.2xlarge", instanceCount: 11).cluster
        #expect(layout.hostNames.first == "algo-1" && layout.hostNames.last == "algo-11")
        #expect(layout.sortedHostNames.prefix(3) == ["algo-1", "algo-10", "algo-11"])
        #expect(layout.groups.count == 1)
        #expect(layout.groups[0].name == "homogeneousCluster" && layout.groups[0].instanceType == "ml.p3.2xlarge")
    }

    @Test("instance groups number their hosts in the order given; channels go to their groups; shards split by index")
    func heterogeneous() {
        let groups = [
            TrainingJobSpec.InstanceGroup(name: "ps", instanceType: "ml.m5.large", instanceCount: 1),
            TrainingJobSpec.InstanceGroup(name: "workers", instanceType: "ml.c5.xlarge", instanceCount: 3),
        ]
        let sharded = TrainingJobSpec.Channel(
            name: "train", uri: "s3://b/t", distributionType: "ShardedByS3Key", instanceGroupNames: ["workers"])
        let replicated = TrainingJobSpec.Channel(name: "all", uri: "s3://b/a")
        let layout = TrainingJobSpec(trainingImage: "i", outputPath: "s3://b", instanceGroups: groups).cluster
        #expect(layout.hosts.map(\.groupName) == ["ps", "workers", "workers", "workers"])
        #expect(layout.host(named: "algo-3")?.instanceType == "ml.c5.xlarge")
        #expect(layout.groups[1].hosts == ["algo-2", "algo-3", "algo-4"])
        #expect(layout.hosts(for: sharded).map(\.name) == ["algo-2", "algo-3", "algo-4"])
        #expect(layout.hosts(for: replicated).count == 4)
        #expect(layout.shard(of: sharded, host: "algo-3")! == (1, 3))
        #expect(layout.shard(of: sharded, host: "algo-1") == nil)
        #expect(layout.shard(of: replicated, host: "algo-2") == nil)
    }
}

struct ClusterLifecycleTests {
    @Test("the job trains while any host trains, and moves on when every host exited 0")
    func trainsWhileAnyHostTrains() throws {
        let job = try clusterJob()
        #expect(job.nextStep(cluster: seen(["algo-1": .running]), now: t(3), stopGraceMilliseconds: grace) == .observe)
        let oneDone = seen(["algo-1": .running, "algo-2": .exited(ok), "algo-3": .running])
        #expect(job.nextStep(cluster: oneDone, now: t(3), stopGraceMilliseconds: grace) == .wait(until: t(101)))
        #expect(job.nextStep(cluster: oneDone, now: t(101), stopGraceMilliseconds: grace) == .exceedMaxRuntime)
        let allDone = seen(["algo-1": .exited(ok), "algo-2": .exited(ok), "algo-3": .exited(ok)])
        #expect(job.nextStep(cluster: allDone, now: t(4), stopGraceMilliseconds: grace) == .recordExit(ok))
    }

    @Test("a failing host is recorded at once; the others get SIGTERM, SIGKILL after the grace, then the job ends Failed")
    func failingHostStopsTheOthers() throws {
        var job = try clusterJob()
        let failing = seen(["algo-1": .running, "algo-2": .exited(failed3), "algo-3": .running])
        #expect(job.nextStep(cluster: failing, now: t(5), stopGraceMilliseconds: grace) == .recordExit(failed3))
        job = try job.containerExited(failed3, now: t(5))
        #expect(job.secondaryStatus == .training)
        #expect(job.nextStep(cluster: failing, now: t(5), stopGraceMilliseconds: grace) == .sendSIGTERM)
        job = job.sigtermSent(now: t(6))
        #expect(job.nextStep(cluster: failing, now: t(7), stopGraceMilliseconds: grace) == .wait(until: t(126)))
        #expect(job.nextStep(cluster: failing, now: t(126), stopGraceMilliseconds: grace) == .sendSIGKILL)
        let down = seen(["algo-1": .exited(ContainerOutcome(exitCode: 143)), "algo-2": .exited(failed3), "algo-3": .exited(ok)])
        #expect(job.nextStep(cluster: down, now: t(127), stopGraceMilliseconds: grace) == .finish)
        job = try job.finished(failureText: "boom", metrics: [], now: t(128))
        #expect(job.status == .failed && job.failureReason == "AlgorithmError: boom, exit code: 3")
    }

    @Test("the failure reported is the first host's to fail, by exit time, then by host")
    func firstFailure() {
        let hosts = ["algo-1", "algo-2", "algo-3"]
        let later = seen(
            ["algo-1": .exited(ContainerOutcome(exitCode: 1)), "algo-2": .exited(failed3), "algo-3": .running],
            finished: ["algo-1": t(9), "algo-2": t(8)])
        #expect(later.firstFailure(among: hosts)?.host == "algo-2")
        let untimed = seen(["algo-1": .exited(ok), "algo-2": .exited(failed3), "algo-3": .exited(failed3)])
        #expect(untimed.firstFailure(among: hosts)?.host == "algo-2")
        #expect(seen(["algo-1": .exited(ok)]).firstFailure(among: hosts) == nil)
    }

    @Test("a host whose container vanished while others train loses the job; stopping waits for every host")
    func lostAndStopping() throws {
        let job = try clusterJob(count: 2)
        let lost = seen(["algo-1": .running, "algo-2": .absent])
        #expect(job.nextStep(cluster: lost, now: t(3), stopGraceMilliseconds: grace) == .containerLost)
        var stopping = try job.stopRequested(now: t(4))
        let running = seen(["algo-1": .running, "algo-2": .exited(ok)])
        #expect(stopping.nextStep(cluster: running, now: t(4), stopGraceMilliseconds: grace) == .sendSIGTERM)
        stopping = stopping.sigtermSent(now: t(4))
        #expect(stopping.nextStep(cluster: running, now: t(5), stopGraceMilliseconds: grace) == .wait(until: t(124)))
        let down = seen(["algo-1": .exited(ContainerOutcome(exitCode: 143)), "algo-2": .exited(ok)])
        #expect(stopping.nextStep(cluster: down, now: t(6), stopGraceMilliseconds: grace) == .recordExit(ContainerOutcome(exitCode: 143)))
    }

    @Test("one host decides exactly as the single-container lifecycle")
    func singleHost() throws {
        let job = try clusterJob(count: 1)
        for state in [ContainerObservation.unknown, .running, .absent, .exited(failed3)] {
            #expect(
                job.nextStep(cluster: seen(state == .unknown ? [:] : ["algo-1": state]), now: t(3), stopGraceMilliseconds: grace)
                    == job.nextStep(observed: state, now: t(3), stopGraceMilliseconds: grace))
        }
    }
}

struct ReconcilerClusterTests {
    @Test("the reconciler decides from every host's observation")
    func decidesOverHosts() throws {
        var core = Reconciler(configuration: .init())
        var job = try clusterJob(count: 2)
        job.id = 7
        core.observed(7, hosts: ["algo-1", "algo-2"], .running)
        core.observed(7, host: "algo-2", .exited(failed3), finishedAt: t(5), urgent: true)
        let next = core.nextBatch()
        let batch = try #require(next)
        let decisions = core.decide(batch, jobs: [7: job], now: t(5))
        #expect(decisions.actions.map(\.action) == [.recordExit(failed3, thenFinish: true)])
    }
}
