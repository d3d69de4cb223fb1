import ContainerRuntime
import Testing
import TestSupport

/// `RegistryMappedRuntime` over the in-memory runtime: what reaches the engine is the mapped image.
struct RegistryMappedRuntimeTests {
    private let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train/busybox:1"
    private let mapped = "127.0.0.1:5000/train/busybox:1"

    @Test("containers are created from, and images checked and pulled as, the registry's name")
    func mapsImages() async throws {
        let fake = FakeContainerRuntime(clock: ManualClock(), images: [mapped])
        let runtime = RegistryMappedRuntime(base: fake, registry: "127.0.0.1:5000")
        #expect(try await runtime.imageExists(ecr))
        try await runtime.launch([ContainerSpec(name: "job-algo-1", image: ecr, hostname: "algo-1")])
        #expect(fake.spec("job-algo-1")?.image == mapped)
        _ = try await runtime.create(ContainerSpec(name: "job-algo-2", image: ecr, hostname: "algo-2"))
        #expect(fake.spec("job-algo-2")?.image == mapped)
        // The in-memory runtime cannot pull: the default answer names the image that was asked for.
        #expect(!runtime.pullsImages)
        await #expect(throws: ContainerRuntimeError.imagePullFailed(image: "127.0.0.1:5000/train/busybox:2", message: "this container runtime does not pull images")) {
            try await runtime.pullImage("123456789012.dkr.ecr.us-east-1.amazonaws.com/train/busybox:2")
        }
    }

    @Test("without a registry every image goes to the engine as named")
    func noRegistry() async throws {
        let fake = FakeContainerRuntime(clock: ManualClock(), images: [ecr])
        let runtime = RegistryMappedRuntime(base: fake, registry: nil)
        #expect(try await runtime.imageExists(ecr))
        #expect(try await runtime.imageExists(mapped) == false)
        _ = try await runtime.create(ContainerSpec(name: "c", image: ecr, hostname: "algo-1"))
        #expect(fake.spec("c")?.image == ecr)
    }
}
