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

    /// (name, vCPUs, GiB, accelerators, accelerator) as the EC2 instance type pages give them
    /// (InstanceTypes.swift says which lists the table was checked against).
    @Test(
        "well-known rows match AWS's published specs",
        arguments: [
            ("ml.m5.large", 2, 8.0, 0, nil), ("ml.m5.24xlarge", 96, 384, 0, nil), ("ml.c5.9xlarge", 36, 72, 0, nil),
            ("ml.c5n.xlarge", 4, 10.5, 0, nil), ("ml.c4.8xlarge", 36, 60, 0, nil), ("ml.t3.medium", 2, 4, 0, nil),
            ("ml.r5.large", 2, 16, 0, nil), ("ml.m4.10xlarge", 40, 160, 0, nil),
            ("ml.p2.xlarge", 4, 61, 1, "NVIDIA K80"), ("ml.p3.2xlarge", 8, 61, 1, "NVIDIA V100"),
            ("ml.p3dn.24xlarge", 96, 768, 8, "NVIDIA V100"), ("ml.g4dn.12xlarge", 48, 192, 4, "NVIDIA T4"),
            ("ml.g5.xlarge", 4, 16, 1, "NVIDIA A10G"), ("ml.g5.48xlarge", 192, 768, 8, "NVIDIA A10G"),
            ("ml.g6e.xlarge", 4, 32, 1, "NVIDIA L40S"), ("ml.p4d.24xlarge", 96, 1152, 8, "NVIDIA A100"),
            ("ml.p5.48xlarge", 192, 2048, 8, "NVIDIA H100"), ("ml.trn1.2xlarge", 8, 32, 1, "AWS Trainium"),
        ] as [(String, Int, Double, Int, String?)])
    func publishedSpecs(name: String, vCPUs: Int, memoryGiB: Double, accelerators: Int, acceleratorType: String?) throws {
        let type = try #require(InstanceType.named(name))
        #expect(type.vCPUs == vCPUs && type.memoryGiB == memoryGiB)
        #expect(type.accelerators == accelerators && type.acceleratorType == acceleratorType)
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
