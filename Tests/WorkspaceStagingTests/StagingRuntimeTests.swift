import ContainerRuntime
import Foundation
import Logging
import Synchronization
import Testing
import TestSupport

@testable import WorkspaceStaging

/// Records what StagingRuntime asks of the node; helpers "run" at once with a chosen exit code.
final class RecordingStagingEngine: StagingEngine {
    let events = Mutex<[String]>([])
    let helperExitCode: Int
    /// What the runtime's base had when each helper ran (container names).
    let base: FakeContainerRuntime

    init(base: FakeContainerRuntime, helperExitCode: Int = 0) {
        self.base = base
        self.helperExitCode = helperExitCode
    }

    func stagingImage() async throws(ContainerRuntimeError) -> String { "trainyard/stage:test" }

    func runHelper(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> (exitCode: Int, output: String) {
        let exists = base.containerNames.contains(spec.name.replacingOccurrences(of: "-stage-in", with: "").replacingOccurrences(of: "-stage-out", with: ""))
        events.withLock { $0.append("helper \(spec.labels[StagedContainer.helperLabel] ?? "?") training-exists=\(exists)") }
        return (helperExitCode, helperExitCode == 0 ? "" : "wget: server returned error")
    }

    func removeVolumes(_ names: [String]) async throws(ContainerRuntimeError) {
        events.withLock { $0.append("remove volumes \(names.count)") }
    }

    var recorded: [String] { events.withLock { $0 } }
}

final class Notices: Sendable {
    let lines = Mutex<[String]>([])
    func withLock<T>(_ body: (inout [String]) -> T) -> T { lines.withLock { body(&$0) } }
}

@Suite("StagingRuntime: stage in before the container, out before its exit is reported")
struct StagingRuntimeTests {
    func setUp(exitCode: Int = 0) throws -> (StagingRuntime, FakeContainerRuntime, RecordingStagingEngine, ManualClock, Notices, Scratch) {
        let scratch = try Scratch()
        let clock = ManualClock()
        let fake = FakeContainerRuntime(clock: clock) { _ in FakeContainerScript(runsFor: .seconds(5)) }
        let engine = RecordingStagingEngine(base: fake, helperExitCode: exitCode)
        let notices = Notices()
        let staging = WorkspaceStaging(
            tokens: StagingTokens(secret: Data(repeating: 3, count: 32)), spoolDirectory: scratch.root, maxOutputBytes: 1 << 20,
            advertise: { try? AdvertisedAddress(parsing: "http://127.0.0.1:1") },
            notice: { _, text in notices.withLock { $0.append(text) } }, logger: Logger(label: "test"))
        return (StagingRuntime(base: fake, engine: engine, staging: staging, logger: Logger(label: "test")), fake, engine, clock, notices, scratch)
    }

    func spec(_ scratch: Scratch) throws -> ContainerSpec {
        try scratch.folder("ws/input")
        try scratch.folder("ws/model")
        return ContainerSpec(
            name: "c-algo-1", image: "img", labels: ["trainyard.host": "algo-1"], hostname: "algo-1",
            mounts: [.init(source: scratch.path("ws/input"), target: "/opt/ml/input"), .init(source: scratch.path("ws/model"), target: "/opt/ml/model")])
    }

    @Test("launch stages in first and creates the container with volumes; a second launch adopts without staging")
    func launch() async throws {
        let (runtime, fake, engine, _, _, scratch) = try setUp()
        try await runtime.launch([try spec(scratch)])
        #expect(engine.recorded == ["helper in training-exists=false"])
        #expect(fake.spec("c-algo-1")?.mounts.map(\.kind) == [.volume, .volume])
        #expect(fake.spec("c-algo-1")?.labels[StagedContainer.stagingLabel] != nil)
        try await runtime.launch([try spec(scratch)])
        #expect(engine.recorded == ["helper in training-exists=false"])
    }

    @Test("wait returns only after the stage-out; an inspect afterwards does not stage out again; remove takes the volumes")
    func waitStagesOut() async throws {
        let (runtime, _, engine, clock, _, scratch) = try setUp()
        try await runtime.launch([try spec(scratch)])
        async let exit = runtime.wait(ContainerID("c-algo-1"))
        while engine.recorded.count < 1 { await Task.yield() }
        clock.advance(by: .seconds(6))
        #expect(try await exit.exitCode == 0)
        #expect(engine.recorded == ["helper in training-exists=false", "helper out training-exists=true"])
        _ = try await runtime.inspect(ContainerID("c-algo-1"))
        #expect(engine.recorded.count == 2)
        try await runtime.remove(ContainerID("c-algo-1"))
        #expect(engine.recorded.last == "remove volumes 2")
    }

    @Test("an exit found by inspect (a restarted server) is staged out before it is reported")
    func inspectStagesOut() async throws {
        let (runtime, _, engine, clock, _, scratch) = try setUp()
        try await runtime.launch([try spec(scratch)])
        clock.advance(by: .seconds(6))
        let state = try await runtime.inspect(ContainerID("c-algo-1"))
        #expect(state?.status == .exited)
        #expect(engine.recorded.last == "helper out training-exists=true")
    }

    @Test("a stage-out that keeps failing is given up after 3 attempts, with a line for the job")
    func failingStageOut() async throws {
        let (runtime, fake, engine, clock, notices, scratch) = try setUp(exitCode: 1)
        // Stage-in fails too: the launch fails and no training container is made.
        await #expect(throws: ContainerRuntimeError.self) { try await runtime.launch([try spec(scratch)]) }
        #expect(!fake.containerNames.contains("c-algo-1"))
        // ... and its volumes, which no container will take, go.
        #expect(engine.recorded == ["helper in training-exists=false", "remove volumes 2"])
        // A container made without staging-in (say, adopted) that exits: its stage-out fails.
        let plan = runtime.staging.plan(try spec(scratch))
        _ = try await fake.create(plan.training)
        try await fake.start(ContainerID("c-algo-1"))
        clock.advance(by: .seconds(6))
        for _ in 0..<5 { _ = try await runtime.inspect(ContainerID("c-algo-1")) }
        #expect(engine.recorded.filter { $0.hasPrefix("helper out") }.count == 3)
        #expect(notices.withLock { $0 }.count == 1)
        #expect(notices.withLock { $0 }.first?.contains("could not be staged out (3 attempts)") == true)
    }
}
