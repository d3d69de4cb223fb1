// swift-tools-version: 6.2
// Trainyard: a self-hosted emulator of the Amazon SageMaker training control plane.
// Target layout and import rules: DESIGN.md §5 (a DAG; C stays behind its wrapper target).
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Trainyard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "trainyard", targets: ["trainyard"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // C system libraries: module.modulemap + shim.h only.
        .systemLibrary(name: "CLibevent", pkgConfig: "libevent_pthreads", providers: [.apt(["libevent-dev"])]),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // setns(2) for the container S3 gateway (DockerEngine/NetworkNamespaceListener.swift).
        .systemLibrary(name: "CNetNS"),

        // A value behind a pthread mutex, where Synchronization.Mutex does not suit (Locked.swift says why).
        .target(name: "Locking", swiftSettings: strictSettings),

        // Wrappers: the only importers of their C module.
        .target(name: "EventHTTP", dependencies: ["CLibevent", "Locking"], swiftSettings: strictSettings),
        .target(name: "SQLite", dependencies: ["CSQLite"], swiftSettings: strictSettings),

        // Pure domain: no I/O. The reconcile core's queues and timers use swift-collections.
        .target(
            name: "TrainingCore",
            dependencies: [
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: strictSettings
        ),

        // Jobs in SQLite; the schema comes from Migrations/*.sql, embedded at build time.
        .target(
            name: "JobStore",
            dependencies: ["SQLite", "TrainingCore", "Locking"],
            swiftSettings: strictSettings,
            plugins: ["EmbedMigrations"]
        ),

        // The ustar header block (and pax / GNU long-name entries) both archive writers build.
        .target(name: "TarFormat", swiftSettings: strictSettings),

        // Containers, not jobs.
        .target(name: "ContainerRuntime", swiftSettings: strictSettings),
        // A runtime that runs nothing (`--runtime simulated`); it knows SageMaker's /opt/ml layout,
        // so it lives beside, not inside, the container seam.
        .target(name: "SimulatedRuntime", dependencies: ["ContainerRuntime", "TrainingCore"], swiftSettings: strictSettings),
        // Workspace staging through the server's own HTTP API (no shared filesystem with the node):
        // the plan, tokens, safe tar handling, the endpoint, and a runtime wrapper any backend reuses.
        .target(
            name: "WorkspaceStaging",
            dependencies: [
                "ContainerRuntime", "EventHTTP", "TarFormat", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "DockerEngine",
            dependencies: ["CCurl", "CNetNS", "ContainerRuntime", "WorkspaceStaging", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),

        // Reconcile loop: desired state from the store, observed state from the runtime.
        .target(
            name: "Scheduler",
            dependencies: [
                "TrainingCore", "JobStore", "ContainerRuntime", "CZlib", "TarFormat", "Locking",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),

        // AWS JSON 1.1 protocol, shapes, validation, operations, error rendering.
        .target(
            name: "SageMakerAPI",
            dependencies: [
                "TrainingCore", "JobStore", "EventHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),

        // The object store behind the S3 API: bytes in <s3-root>/<bucket>/<key>, metadata in SQLite.
        .target(
            name: "ObjectStore",
            dependencies: ["SQLite", "JobStore", "CZlib", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),

        // S3 REST API, STS and IAM on the same port, and the router in front of SageMakerAPI.
        .target(
            name: "S3API",
            dependencies: [
                "ObjectStore", "SageMakerAPI", "EventHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // Configuration and wiring; the only place concrete types meet.
        .executableTarget(
            name: "trainyard",
            dependencies: [
                "EventHTTP", "SQLite", "TrainingCore", "JobStore", "ContainerRuntime", "DockerEngine",
                "SimulatedRuntime", "Scheduler", "SageMakerAPI", "ObjectStore", "S3API", "WorkspaceStaging",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        // Build-time embedding of Migrations/*.sql (run only by the plugin).
        .executableTarget(name: "EmbedMigrationsTool", path: "Sources/EmbedMigrationsTool"),
        .plugin(name: "EmbedMigrations", capability: .buildTool(), dependencies: ["EmbedMigrationsTool"]),

        // Test doubles for the unit tests only: a clock moved by hand and a scriptable runtime.
        .target(
            name: "TestSupport",
            dependencies: ["TrainingCore", "ContainerRuntime"],
            swiftSettings: strictSettings
        ),

        // Unit tests, one target per source target.
        .testTarget(name: "EventHTTPTests", dependencies: ["EventHTTP", "Locking"], swiftSettings: strictSettings),
        .testTarget(name: "TrainyardTests", dependencies: ["trainyard"], swiftSettings: strictSettings),
        .testTarget(name: "TarFormatTests", dependencies: ["TarFormat"], swiftSettings: strictSettings),
        .testTarget(name: "SQLiteTests", dependencies: ["SQLite"], swiftSettings: strictSettings),
        .testTarget(name: "TrainingCoreTests", dependencies: ["TrainingCore", "TestSupport"], swiftSettings: strictSettings),
        .testTarget(name: "JobStoreTests", dependencies: ["JobStore", "SQLite", "TrainingCore"], swiftSettings: strictSettings),
        .testTarget(name: "ContainerRuntimeTests", dependencies: ["ContainerRuntime", "TestSupport"], swiftSettings: strictSettings),
        .testTarget(name: "SimulatedRuntimeTests", dependencies: ["SimulatedRuntime", "ContainerRuntime"], swiftSettings: strictSettings),
        .testTarget(
            name: "WorkspaceStagingTests", dependencies: ["WorkspaceStaging", "ContainerRuntime", "EventHTTP", "TarFormat", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(name: "DockerEngineTests", dependencies: ["DockerEngine", "ContainerRuntime", "WorkspaceStaging"], swiftSettings: strictSettings),
        .testTarget(
            name: "SchedulerTests",
            dependencies: ["Scheduler", "JobStore", "TrainingCore", "ContainerRuntime", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ObjectStoreTests", dependencies: ["ObjectStore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings),
        .testTarget(
            name: "S3APITests",
            dependencies: ["S3API", "ObjectStore", "SageMakerAPI", "EventHTTP", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SageMakerAPITests",
            dependencies: ["SageMakerAPI", "JobStore", "TrainingCore", "EventHTTP"],
            swiftSettings: strictSettings
        ),
    ]
)
