import Testing
import TrainingCore

@Suite("Instance types")
struct InstanceTypesTests {
    @Test("the table knows common training types")
    func table() throws {
        let m5 = try #require(InstanceType.named("ml.m5.large"))
        #expect(m5.vCPUs == 2 && m5.memoryGiB == 8 && m5.gpus == 0)
        let p3 = try #require(InstanceType.named("ml.p3.16xlarge"))
        #expect(p3.vCPUs == 64 && p3.memoryGiB == 488 && p3.gpus == 8 && p3.acceleratorType == "NVIDIA V100")
        let g5 = try #require(InstanceType.named("ml.g5.12xlarge"))
        #expect(g5.gpus == 4)
        let trn = try #require(InstanceType.named("ml.trn1.32xlarge"))
        #expect(trn.accelerators == 16 && trn.gpus == 0)
        #expect(InstanceType.named("ml.nonexistent.large") == nil)
        #expect(Set(InstanceType.all.map(\.name)).count == InstanceType.all.count)
    }

    @Test("limits are the instance type's, capped at the host's")
    func limits() throws {
        let small = try #require(ContainerLimits.forInstanceType("ml.m5.large", hostMemoryBytes: 64 << 30, hostCPUs: 16))
        #expect(small.memoryBytes == 8 << 30 && small.nanoCPUs == 2_000_000_000 && small.pids == 4096)
        let big = try #require(ContainerLimits.forInstanceType("ml.p4d.24xlarge", hostMemoryBytes: 16 << 30, hostCPUs: 2))
        #expect(big.memoryBytes == 16 << 30 && big.nanoCPUs == 2_000_000_000 && big.pids == 96 * 1024)
        #expect(ContainerLimits.forInstanceType("ml.unknown.xlarge", hostMemoryBytes: 1, hostCPUs: 1) == nil)
    }
}
