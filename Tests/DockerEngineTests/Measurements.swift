import ContainerRuntime
import DockerEngine
import Foundation
import Testing

/// Timings through this client, printed rather than asserted (machines differ). Opt-in:
///   TRAINYARD_DOCKER_BENCH=1 swift test --filter Measurements
/// Serialized, so that the runs do not compete with each other for the two cores.
@Suite(
    "Measurements", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["TRAINYARD_DOCKER_BENCH"] == "1" && TestEngine.shouldRun))
struct Measurements {
    static func report(_ name: String, _ samples: [Duration]) {
        let ms = samples.map { Double($0.components.seconds) * 1e3 + Double($0.components.attoseconds) / 1e15 }.sorted()
        func percentile(_ p: Double) -> Double { ms[min(ms.count - 1, Int((Double(ms.count - 1) * p).rounded()))] }
        print(
            String(
                format: "MEASURE %@: n=%d p50=%.1f ms min=%.1f ms p90=%.1f ms max=%.1f ms", name, ms.count, percentile(0.5),
                ms.first ?? 0, percentile(0.9), ms.last ?? 0))
    }

    @Test("create + start until inspect says running (20 runs)")
    func createStartRunning() async throws {
        let runtime = try TestEngine.runtime()
        // One warm-up run: API version negotiation and the first connection are not part of it.
        try await runtime.ping()
        var samples: [Duration] = []
        for _ in 0..<21 {
            let spec = TestEngine.spec("bench-start", behaviour: "sleep", environment: ["TRAINYARD_TEST_SLEEP_SECONDS": "30"])
            let began = ContinuousClock.now
            let id = try await runtime.create(spec)
            try await runtime.start(id)
            _ = try await runtime.waitForState(id) { $0.status == .running }
            samples.append(ContinuousClock.now - began)
            try await runtime.remove(id)
        }
        Self.report("create+start→running", Array(samples.dropFirst()))
    }

    @Test("kill(SIGTERM) until the trap-term container has exited (10 runs)")
    func sigtermToExit() async throws {
        let runtime = try TestEngine.runtime()
        var samples: [Duration] = []
        for _ in 0..<10 {
            try await runtime.withContainer(TestEngine.spec("bench-term", behaviour: "trap-term")) { id in
                try await runtime.start(id)
                try await runtime.waitForLine(id, "ready")
                let sent = ContinuousClock.now
                try await runtime.kill(id, signal: .term)
                let exit = try await runtime.wait(id)
                samples.append(ContinuousClock.now - sent)
                #expect(exit.exitCode == 0)
            }
        }
        Self.report("SIGTERM→exited (wait returned)", samples)
    }

    @Test("short requests: inspect of a container (200 runs)")
    func inspectLatency() async throws {
        let runtime = try TestEngine.runtime()
        try await runtime.withContainer(TestEngine.spec("bench-inspect", behaviour: "complete")) { id in
            _ = try await runtime.inspect(id)
            var samples: [Duration] = []
            for _ in 0..<200 {
                let began = ContinuousClock.now
                _ = try await runtime.inspect(id)
                samples.append(ContinuousClock.now - began)
            }
            Self.report("inspect", samples)
        }
    }
}
