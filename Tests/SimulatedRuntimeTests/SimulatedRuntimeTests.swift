import ContainerRuntime
@testable import SimulatedRuntime
import Foundation
import Synchronization
import Testing

/// A clock the test moves by hand.
private final class ManualClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_700_000_000))
    func now() -> Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

private func runtime(_ clock: ManualClock, directory: URL? = nil) throws -> (SimulatedRuntime, URL) {
    let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-sim-\(UUID().uuidString)")
    return (try SimulatedRuntime(stateDirectory: directory, defaultTrainingSeconds: 10, now: { clock.now() }), directory)
}

private func spec(_ name: String, _ environment: [String: String] = [:], output: String? = nil) -> ContainerSpec {
    ContainerSpec(
        name: name, image: "img", environment: environment, labels: ["trainyard.job": name], hostname: "algo-1",
        mounts: output.map { [.init(source: $0, target: "/opt/ml/output")] } ?? [])
}

struct SimulatedRuntimeTests {
    @Test("a journal line written by hand reads back as JSONEncoder's does")
    func journalLineMatchesJSONEncoder() throws {
        let summary = SimulatedRuntime.SpecSummary(
            name: "a\"b\\c\n\u{1}é/", labels: ["k": "v\"", "z": "\t", "trainyard.job": "x"], trainingSeconds: 0.00001,
            exitCode: -3, failureText: "boom\r\n", ignoresSIGTERM: true, outputDirectory: "/tmp/x y")
        let full = SimulatedRuntime.Record(
            id: "sim-a", spec: summary, createdAt: Date(timeIntervalSince1970: 1_765_000_000.123456),
            startedAt: Date(timeIntervalSince1970: 1_765_000_001.5), sigtermAt: nil,
            sigkillAt: Date(timeIntervalSince1970: 1e9), failureWritten: true)
        var bare = full
        bare.spec.failureText = nil
        bare.spec.outputDirectory = nil
        bare.spec.trainingSeconds = 12
        bare.startedAt = nil
        bare.sigkillAt = nil
        let entries = [
            SimulatedRuntime.JournalEntry(record: full), SimulatedRuntime.JournalEntry(record: bare),
            SimulatedRuntime.JournalEntry(removed: "gone\""),
        ]
        for entry in entries {
            let line = try #require(entry.jsonLine())
            let decoded = try JSONDecoder().decode(SimulatedRuntime.JournalEntry.self, from: line)
            #expect(decoded.record == entry.record)
            #expect(decoded.removed == entry.removed)
        }
        var infinite = full
        infinite.spec.trainingSeconds = .infinity
        #expect(SimulatedRuntime.JournalEntry(record: infinite).jsonLine() == nil)
    }

    @Test("a container runs for its training time and exits with the configured code")
    func lifecycle() async throws {
        let clock = ManualClock()
        let (sim, _) = try runtime(clock)
        let id = try await sim.create(spec("a", [SimulatedRuntime.exitCodeVariable: "3"]))
        #expect(try await sim.inspect(id)?.status == .created)
        try await sim.start(id)
        clock.advance(9.9)
        #expect(try await sim.inspect(id)?.status == .running)
        clock.advance(0.2)
        let state = try #require(try await sim.inspect(id))
        #expect(state.status == .exited && state.exitCode == 3)
        await #expect(throws: ContainerRuntimeError.nameInUse("a")) { try await sim.create(spec("a")) }
        try await sim.remove(id)
        #expect(try await sim.inspect(id) == nil)
    }

    @Test("SIGTERM ends a container at once unless it ignores SIGTERM; SIGKILL always does")
    func signals() async throws {
        let clock = ManualClock()
        let (sim, _) = try runtime(clock)
        let polite = try await sim.create(spec("polite"))
        let stubborn = try await sim.create(spec("stubborn", [SimulatedRuntime.ignoreSIGTERMVariable: "true"]))
        try await sim.start(polite)
        try await sim.start(stubborn)
        clock.advance(1)
        try await sim.kill(polite, signal: .term)
        try await sim.kill(stubborn, signal: .term)
        clock.advance(1)
        #expect(try await sim.inspect(polite)?.exitCode == 143)
        #expect(try await sim.inspect(stubborn)?.status == .running)
        try await sim.kill(stubborn, signal: .kill)
        #expect(try await sim.inspect(stubborn)?.exitCode == 137)
    }

    @Test("a failing container writes its failure text to the output mount; records survive a new runtime")
    func failureFileAndRestart() async throws {
        let clock = ManualClock()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-sim-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let (sim, directory) = try runtime(clock)
        let id = try await sim.create(
            spec("f", [SimulatedRuntime.exitCodeVariable: "1", SimulatedRuntime.failureVariable: "out of cheese"], output: output.path))
        try await sim.start(id)
        let (restarted, _) = try runtime(clock, directory: directory)
        #expect(try await restarted.inspect(id)?.status == .running)
        clock.advance(11)
        #expect(try await restarted.inspect(id)?.exitCode == 1)
        #expect(try String(contentsOf: output.appendingPathComponent("failure"), encoding: .utf8) == "out of cheese")
    }

    @Test("launch creates and starts in one record; a second launch adopts instead of rerunning; a new runtime finds it")
    func launchAndRestart() async throws {
        let clock = ManualClock()
        let (sim, directory) = try runtime(clock)
        try await sim.launch([spec("l")])
        let id = ContainerID("l")
        #expect(try await sim.inspect(id)?.status == .running)
        clock.advance(11)
        try await sim.launch([spec("l")])
        #expect(try await sim.inspect(id)?.exitCode == 0)
        let (restarted, _) = try runtime(clock, directory: directory)
        #expect(try await restarted.inspect(id)?.status == .exited)
        try await restarted.remove(id)
        let (again, _) = try runtime(clock, directory: directory)
        #expect(try await again.inspect(id) == nil)
    }

    @Test("the journal is compacted once it holds compactionSlack lines more than twice the live records; a new runtime finds exactly the live ones")
    func journalCompaction() async throws {
        let clock = ManualClock()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-sim-\(UUID().uuidString)")
        let sim = try SimulatedRuntime(stateDirectory: directory, defaultTrainingSeconds: 10, compactionSlack: 20, now: { clock.now() })
        let journal = directory.appendingPathComponent(SimulatedRuntime.journalName)
        func lines() throws -> Int { try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").count }
        try await sim.launch([spec("kept-1"), spec("kept-2")])
        var most = 0
        for index in 0..<100 {
            try await sim.launch([spec("gone-\(index)")])
            try await sim.remove(ContainerID("gone-\(index)"))
            most = max(most, try lines())
        }
        // Two lines per container (launch, remove) would be 202 without compaction.
        #expect(most <= 20 + 2 * 3 + 1, "the journal grew to \(most) lines")
        let restarted = try SimulatedRuntime(stateDirectory: directory, defaultTrainingSeconds: 10, now: { clock.now() })
        #expect(try await restarted.inspect(ContainerID("kept-1"))?.status == .running)
        #expect(try await restarted.inspect(ContainerID("kept-2"))?.status == .running)
        #expect(try await restarted.inspect(ContainerID("gone-99")) == nil)
        #expect(try lines() == 2)
    }
}
