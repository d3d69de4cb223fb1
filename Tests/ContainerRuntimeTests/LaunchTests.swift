import ContainerRuntime
import Testing
import TestSupport

/// `launch`, as every runtime without its own gets it.
struct LaunchTests {
    private func spec(_ name: String) -> ContainerSpec {
        ContainerSpec(name: name, image: "img", hostname: "algo-1")
    }

    @Test("launch creates and starts each host's container")
    func createsAndStarts() async throws {
        let runtime = FakeContainerRuntime(clock: ManualClock())
        try await runtime.launch([spec("job-algo-1"), spec("job-algo-2")])
        #expect(try await runtime.inspect(ContainerID("job-algo-1"))?.status == .running)
        #expect(try await runtime.inspect(ContainerID("job-algo-2"))?.status == .running)
        #expect(runtime.calls["create"] == 2 && runtime.calls["start"] == 2)
    }

    @Test("a container left by an earlier attempt is adopted, and one that has run is not run again")
    func adopts() async throws {
        let clock = ManualClock()
        let runtime = FakeContainerRuntime(clock: clock) { _ in FakeContainerScript(runsFor: .seconds(1)) }
        _ = try await runtime.create(spec("created-only"))
        try await runtime.launch([spec("created-only")])
        #expect(try await runtime.inspect(ContainerID("created-only"))?.status == .running)
        clock.advance(by: .seconds(1))
        try await runtime.launch([spec("created-only")])
        #expect(try await runtime.inspect(ContainerID("created-only"))?.status == .exited)
    }
}
