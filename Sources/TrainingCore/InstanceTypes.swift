/// SageMaker training instance types: vCPUs, memory and accelerators of each (issue 12 item 7).
///
/// Numbers are those of the EC2 instance behind each `ml.` type, as listed in "Amazon SageMaker
/// pricing → Instance details" (https://aws.amazon.com/sagemaker/pricing/) and the EC2 instance
/// type pages (https://aws.amazon.com/ec2/instance-types/); the names are the API's
/// `TrainingInstanceType` enum (botocore 1.43.11). Containers get these resources (capped at the
/// host's), and the distributed-jobs work reuses the accelerator counts for `--gpus` and
/// resourceconfig.json.
///
/// Spot-checked row by row (issue 12): every m4/m5/m6i/m7i, c4/c5/c5n/c6i, r5/r5d, t3, p3/p3dn,
/// p4d/p4de, p5, g4dn and g5 row agrees with the vCPU and GiB figures of Red Hat's ROSA instance
/// list (openshift-docs `modules/rosa-sdpolicy-am-aws-compute-types.adoc`, copied from the EC2
/// pages), and the p3, p4d, p5, p5e, p5en, g4dn, g5, g6e, t3 and trn1 rows with the CPU, GPU and
/// memory counts of TorchX's AWS named resources (`torchx/specs/named_resources_aws.py`, "taken
/// from https://aws.amazon.com/ec2/instance-types/"). No row was wrong. Added then: r7i (8 GiB per
/// vCPU like r5/r6i/r7iz), p6-b200.48xlarge (192 vCPUs and 2,048 GiB in the ROSA list; 8 B200),
/// trn2.48xlarge (192 vCPUs, 2 TiB, 16 Trainium2) and p5.4xlarge (16 vCPUs, 256 GiB, 1 H100), the
/// last two from AWS's launch announcements, not cross-checked against a second source. Not in
/// the table: the g7e, p6e-gb200 and p6-b300 sizes (in the API enum; no spec found to check them
/// against): jobs on them run without limits, as with `--container-limits none`.
public struct InstanceType: Sendable, Equatable {
    public var name: String
    public var vCPUs: Int
    public var memoryGiB: Double
    /// GPUs (or Trainium/Inferentia accelerators) on the instance.
    public var accelerators: Int
    /// e.g. "NVIDIA V100", "AWS Trainium"; nil for CPU-only types.
    public var acceleratorType: String?

    public init(name: String, vCPUs: Int, memoryGiB: Double, accelerators: Int = 0, acceleratorType: String? = nil) {
        self.name = name
        self.vCPUs = vCPUs
        self.memoryGiB = memoryGiB
        self.accelerators = accelerators
        self.acceleratorType = acceleratorType
    }

    public var memoryBytes: Int64 { Int64(memoryGiB * 1_073_741_824) }
    public var gpus: Int { acceleratorType?.hasPrefix("NVIDIA") == true ? accelerators : 0 }

    /// The type named `name` (e.g. "ml.m5.large"); nil for a type not in the table.
    public static func named(_ name: String) -> InstanceType? { table[name] }

    public static let all: [InstanceType] = cpu + gpu

    static let table: [String: InstanceType] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    private static func family(_ prefix: String, _ sizes: [(String, Int, Double)]) -> [InstanceType] {
        sizes.map { InstanceType(name: "ml.\(prefix).\($0.0)", vCPUs: $0.1, memoryGiB: $0.2) }
    }

    private static func family(_ prefix: String, _ accelerator: String, _ sizes: [(String, Int, Double, Int)]) -> [InstanceType] {
        sizes.map {
            InstanceType(name: "ml.\(prefix).\($0.0)", vCPUs: $0.1, memoryGiB: $0.2, accelerators: $0.3, acceleratorType: accelerator)
        }
    }

    private static let cpu: [InstanceType] =
        family("m4", [("xlarge", 4, 16), ("2xlarge", 8, 32), ("4xlarge", 16, 64), ("10xlarge", 40, 160), ("16xlarge", 64, 256)])
        + family("m5", [("large", 2, 8), ("xlarge", 4, 16), ("2xlarge", 8, 32), ("4xlarge", 16, 64), ("12xlarge", 48, 192), ("24xlarge", 96, 384)])
        + family(
            "m6i",
            [("large", 2, 8), ("xlarge", 4, 16), ("2xlarge", 8, 32), ("4xlarge", 16, 64), ("8xlarge", 32, 128), ("12xlarge", 48, 192),
             ("16xlarge", 64, 256), ("24xlarge", 96, 384), ("32xlarge", 128, 512)])
        + family(
            "m7i",
            [("large", 2, 8), ("xlarge", 4, 16), ("2xlarge", 8, 32), ("4xlarge", 16, 64), ("8xlarge", 32, 128), ("12xlarge", 48, 192),
             ("16xlarge", 64, 256), ("24xlarge", 96, 384), ("48xlarge", 192, 768)])
        + family("c4", [("xlarge", 4, 7.5), ("2xlarge", 8, 15), ("4xlarge", 16, 30), ("8xlarge", 36, 60)])
        + family("c5", [("xlarge", 4, 8), ("2xlarge", 8, 16), ("4xlarge", 16, 32), ("9xlarge", 36, 72), ("18xlarge", 72, 144)])
        + family("c5n", [("xlarge", 4, 10.5), ("2xlarge", 8, 21), ("4xlarge", 16, 42), ("9xlarge", 36, 96), ("18xlarge", 72, 192)])
        + family(
            "c6i",
            [("large", 2, 4), ("xlarge", 4, 8), ("2xlarge", 8, 16), ("4xlarge", 16, 32), ("8xlarge", 32, 64), ("12xlarge", 48, 96),
             ("16xlarge", 64, 128), ("24xlarge", 96, 192), ("32xlarge", 128, 256)])
        + family(
            "c7i",
            [("large", 2, 4), ("xlarge", 4, 8), ("2xlarge", 8, 16), ("4xlarge", 16, 32), ("8xlarge", 32, 64), ("12xlarge", 48, 96),
             ("16xlarge", 64, 128), ("24xlarge", 96, 192), ("48xlarge", 192, 384)])
        + family(
            "r5",
            [("large", 2, 16), ("xlarge", 4, 32), ("2xlarge", 8, 64), ("4xlarge", 16, 128), ("8xlarge", 32, 256), ("12xlarge", 48, 384),
             ("16xlarge", 64, 512), ("24xlarge", 96, 768)])
        + family(
            "r5d",
            [("large", 2, 16), ("xlarge", 4, 32), ("2xlarge", 8, 64), ("4xlarge", 16, 128), ("8xlarge", 32, 256), ("12xlarge", 48, 384),
             ("16xlarge", 64, 512), ("24xlarge", 96, 768)])
        + family(
            "r7i",
            [("large", 2, 16), ("xlarge", 4, 32), ("2xlarge", 8, 64), ("4xlarge", 16, 128), ("8xlarge", 32, 256), ("12xlarge", 48, 384),
             ("16xlarge", 64, 512), ("24xlarge", 96, 768), ("48xlarge", 192, 1536)])
        + family("t3", [("medium", 2, 4), ("large", 2, 8), ("xlarge", 4, 16), ("2xlarge", 8, 32)])

    private static let gpu: [InstanceType] =
        family("p2", "NVIDIA K80", [("xlarge", 4, 61, 1), ("8xlarge", 32, 488, 8), ("16xlarge", 64, 732, 16)])
        + family("p3", "NVIDIA V100", [("2xlarge", 8, 61, 1), ("8xlarge", 32, 244, 4), ("16xlarge", 64, 488, 8)])
        + family("p3dn", "NVIDIA V100", [("24xlarge", 96, 768, 8)])
        + family("p4d", "NVIDIA A100", [("24xlarge", 96, 1152, 8)])
        + family("p4de", "NVIDIA A100", [("24xlarge", 96, 1152, 8)])
        + family("p5", "NVIDIA H100", [("4xlarge", 16, 256, 1), ("48xlarge", 192, 2048, 8)])
        + family("p5e", "NVIDIA H200", [("48xlarge", 192, 2048, 8)])
        + family("p5en", "NVIDIA H200", [("48xlarge", 192, 2048, 8)])
        + family("p6-b200", "NVIDIA B200", [("48xlarge", 192, 2048, 8)])
        + family(
            "g4dn", "NVIDIA T4",
            [("xlarge", 4, 16, 1), ("2xlarge", 8, 32, 1), ("4xlarge", 16, 64, 1), ("8xlarge", 32, 128, 1), ("12xlarge", 48, 192, 4),
             ("16xlarge", 64, 256, 1)])
        + family(
            "g5", "NVIDIA A10G",
            [("xlarge", 4, 16, 1), ("2xlarge", 8, 32, 1), ("4xlarge", 16, 64, 1), ("8xlarge", 32, 128, 1), ("16xlarge", 64, 256, 1),
             ("12xlarge", 48, 192, 4), ("24xlarge", 96, 384, 4), ("48xlarge", 192, 768, 8)])
        + family(
            "g6", "NVIDIA L4",
            [("xlarge", 4, 16, 1), ("2xlarge", 8, 32, 1), ("4xlarge", 16, 64, 1), ("8xlarge", 32, 128, 1), ("16xlarge", 64, 256, 1),
             ("12xlarge", 48, 192, 4), ("24xlarge", 96, 384, 4), ("48xlarge", 192, 768, 8)])
        + family(
            "g6e", "NVIDIA L40S",
            [("xlarge", 4, 32, 1), ("2xlarge", 8, 64, 1), ("4xlarge", 16, 128, 1), ("8xlarge", 32, 256, 1), ("16xlarge", 64, 512, 1),
             ("12xlarge", 48, 384, 4), ("24xlarge", 96, 768, 4), ("48xlarge", 192, 1536, 8)])
        + family("trn1", "AWS Trainium", [("2xlarge", 8, 32, 1), ("32xlarge", 128, 512, 16)])
        + family("trn1n", "AWS Trainium", [("32xlarge", 128, 512, 16)])
        + family("trn2", "AWS Trainium2", [("48xlarge", 192, 2048, 16)])
}

/// What a training container may use: the instance type's resources, capped at the host's
/// (a laptop has no 768 GiB), and a PID limit so a fork bomb stays in its container.
public struct ContainerLimits: Sendable, Equatable {
    public var memoryBytes: Int64
    public var nanoCPUs: Int64
    public var pids: Int64

    public init(memoryBytes: Int64, nanoCPUs: Int64, pids: Int64) {
        self.memoryBytes = memoryBytes
        self.nanoCPUs = nanoCPUs
        self.pids = pids
    }

    /// SageMaker documents no process limit. 1024 per vCPU (at least 4096) leaves room for
    /// DataLoader workers and their threads while staying far below the kernel's pid_max.
    public static func pidsLimit(vCPUs: Int) -> Int64 { Int64(max(4096, vCPUs * 1024)) }

    /// Nil for an instance type not in the table (nothing to go by: no limits).
    public static func forInstanceType(_ name: String, hostMemoryBytes: Int64, hostCPUs: Int) -> ContainerLimits? {
        guard let type = InstanceType.named(name) else { return nil }
        let cpus = min(type.vCPUs, max(1, hostCPUs))
        return ContainerLimits(
            memoryBytes: min(type.memoryBytes, hostMemoryBytes), nanoCPUs: Int64(cpus) * 1_000_000_000,
            pids: pidsLimit(vCPUs: type.vCPUs))
    }
}
