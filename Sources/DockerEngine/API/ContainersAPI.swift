import ContainerRuntime
import Foundation
import Logging

// MARK: Wire shapes (only the fields Trainyard uses)

/// `POST /containers/create` body.
struct ContainerCreateRequest: Encodable {
    struct HostConfig: Encodable {
        var mounts: [Mount]
        var networkMode: String
        var shmSize: Int64?
        var memory: Int64?
        var nanoCpus: Int64?
        var extraHosts: [String]?
        var pidsLimit: Int64?
        /// Equal to `memory`: no swap beyond the limit, so an over-limit job is OOM-killed as on
        /// SageMaker instances (which have no swap) instead of crawling.
        var memorySwap: Int64?
        /// The instance type's GPUs; omitted when it has none (or with `--gpus none`).
        var deviceRequests: [DeviceRequest]?

        enum CodingKeys: String, CodingKey {
            case mounts = "Mounts", networkMode = "NetworkMode", shmSize = "ShmSize", memory = "Memory",
                nanoCpus = "NanoCpus", extraHosts = "ExtraHosts", pidsLimit = "PidsLimit", memorySwap = "MemorySwap",
                deviceRequests = "DeviceRequests"
        }
    }

    /// `HostConfig.DeviceRequests` entry (Engine API 1.40+): what `docker run --gpus N` sends, `N`
    /// GPUs of the `nvidia` driver with the `gpu` capability (Docker CLI opts/gpus.go; the engine's
    /// nvidia driver hands them to the NVIDIA Container Toolkit's hook).
    struct DeviceRequest: Encodable, Equatable {
        var driver = "nvidia"
        var count: Int
        var capabilities = [["gpu"]]

        enum CodingKeys: String, CodingKey { case driver = "Driver", count = "Count", capabilities = "Capabilities" }
    }

    /// `Mounts` rather than `Binds`: a bind mount whose host directory is missing is an error
    /// here, where `Binds` would quietly create an empty root-owned directory.
    struct Mount: Encodable {
        var type = "bind"
        var source: String
        var target: String
        var readOnly: Bool
        /// For `volume` mounts: the labels a missing volume is created with.
        var volumeOptions: VolumeOptions?

        /// `NoCopy`: a staged volume holds what Trainyard put there, never files the image keeps at
        /// the same path (a bind mount hides those too).
        struct VolumeOptions: Encodable {
            var noCopy = true
            var labels: [String: String]?
            enum CodingKeys: String, CodingKey { case noCopy = "NoCopy", labels = "Labels" }
        }

        enum CodingKeys: String, CodingKey {
            case type = "Type", source = "Source", target = "Target", readOnly = "ReadOnly", volumeOptions = "VolumeOptions"
        }

        init(_ mount: ContainerSpec.Mount) {
            type = mount.kind.rawValue
            source = mount.source
            target = mount.target
            readOnly = mount.readOnly
            if mount.kind == .volume {
                volumeOptions = VolumeOptions(labels: mount.volumeLabels.isEmpty ? nil : mount.volumeLabels)
            }
        }
    }

    var image: String
    /// Omitted when nil (the image's ENTRYPOINT runs). When set without `cmd`, the engine drops
    /// the image's CMD too: SageMaker's ContainerEntrypoint semantics.
    var entrypoint: [String]?
    /// Omitted when nil (the image's CMD runs).
    var cmd: [String]?
    var env: [String]
    var labels: [String: String]
    var hostname: String
    var attachStdin = false
    var attachStdout = false
    var attachStderr = false
    var openStdin = false
    var tty = false
    var hostConfig: HostConfig
    /// The host's alias on its job network (NetworksAPI.swift); nil for other network modes.
    var networkingConfig: ContainerNetworkingConfig?

    enum CodingKeys: String, CodingKey {
        case image = "Image", entrypoint = "Entrypoint", cmd = "Cmd", env = "Env", labels = "Labels",
            hostname = "Hostname", attachStdin = "AttachStdin", attachStdout = "AttachStdout",
            attachStderr = "AttachStderr", openStdin = "OpenStdin", tty = "Tty", hostConfig = "HostConfig",
            networkingConfig = "NetworkingConfig"
    }

    init(_ spec: ContainerSpec) {
        image = spec.image
        entrypoint = spec.entrypoint
        cmd = spec.command
        // Sorted: the same spec gives the same request, which makes logs and diffs readable.
        env = spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        labels = spec.labels
        hostname = spec.hostname
        hostConfig = HostConfig(
            mounts: spec.mounts.map(Mount.init),
            networkMode: spec.networkMode, shmSize: spec.shmSizeBytes, memory: spec.memoryLimitBytes,
            nanoCpus: spec.nanoCPUs, extraHosts: spec.extraHosts.isEmpty ? nil : spec.extraHosts,
            pidsLimit: spec.pidsLimit, memorySwap: spec.memoryLimitBytes,
            deviceRequests: spec.gpuCount > 0 ? [DeviceRequest(count: spec.gpuCount)] : nil)
        if let network = spec.clusterNetwork {
            networkingConfig = ContainerNetworkingConfig(endpointsConfig: [network: .init(aliases: [spec.hostname])])
        }
    }
}

struct ContainerCreateResponse: Decodable {
    let id: String
    let warnings: [String]?
    enum CodingKeys: String, CodingKey { case id = "Id", warnings = "Warnings" }
}

/// `GET /containers/{id}/json`.
struct ContainerInspectResponse: Decodable {
    struct State: Decodable {
        let status: String
        let exitCode: Int?
        let oomKilled: Bool?
        /// The host's id of the container's first process (0 when not running).
        let pid: Int32?
        enum CodingKeys: String, CodingKey {
            case status = "Status", exitCode = "ExitCode", oomKilled = "OOMKilled", pid = "Pid"
        }
    }

    struct Config: Decodable {
        let labels: [String: String]?
        let tty: Bool?
        enum CodingKeys: String, CodingKey { case labels = "Labels", tty = "Tty" }
    }

    let id: String
    let name: String
    let state: State
    let config: Config?

    enum CodingKeys: String, CodingKey { case id = "Id", name = "Name", state = "State", config = "Config" }
}

/// One entry of `GET /containers/json`.
struct ContainerSummary: Decodable {
    let id: String
    enum CodingKeys: String, CodingKey { case id = "Id" }
}

/// `POST /containers/{id}/wait`.
struct ContainerWaitResponse: Decodable {
    struct WaitError: Decodable {
        let message: String?
        enum CodingKeys: String, CodingKey { case message = "Message" }
    }
    let statusCode: Int
    let error: WaitError?
    enum CodingKeys: String, CodingKey { case statusCode = "StatusCode", error = "Error" }
}

// MARK: Endpoints

extension DockerClient {
    static func containerPath(_ id: ContainerID, _ suffix: String = "") -> String {
        "/containers/\(escape(id.rawValue))\(suffix)"
    }

    func createContainer(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> ContainerID {
        let body: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            body = try encoder.encode(ContainerCreateRequest(spec))
        } catch {
            throw .engine(status: 0, message: "cannot encode the container spec: \(error)")
        }
        let response = try await request(.post, "/containers/create", query: [("name", spec.name)], body: body)
        switch response.status {
        case 200, 201:
            let created = try response.decode(ContainerCreateResponse.self)
            for warning in created.warnings ?? [] where !warning.isEmpty {
                logger.warning("docker create warning", metadata: ["container": "\(spec.name)", "warning": "\(warning)"])
            }
            return ContainerID(created.id)
        case 404 where response.engineMessage.localizedCaseInsensitiveContains("no such image"):
            throw .noSuchImage(spec.image)
        case 409:
            throw .nameInUse(spec.name)
        default:
            throw response.engineError
        }
    }

    func startContainer(_ id: ContainerID) async throws(ContainerRuntimeError) {
        let response = try await request(.post, Self.containerPath(id, "/start"))
        switch response.status {
        case 204, 304: return  // 304: already started, which the protocol says is fine.
        case 404: throw .noSuchContainer(id.rawValue)
        default: throw response.engineError
        }
    }

    func killContainer(_ id: ContainerID, signal: String) async throws(ContainerRuntimeError) {
        let response = try await request(.post, Self.containerPath(id, "/kill"), query: [("signal", signal)])
        switch response.status {
        case 204: return
        // "Container ... is not running": the process is already gone, the signal is moot.
        case 409 where response.engineMessage.localizedCaseInsensitiveContains("is not running"): return
        case 404: throw .noSuchContainer(id.rawValue)
        default: throw response.engineError
        }
    }

    /// Blocks (on a transfer thread) until the container is not running; returns its exit code.
    func waitContainer(_ id: ContainerID) async throws(ContainerRuntimeError) -> Int {
        let response = try await request(
            .post, Self.containerPath(id, "/wait"), query: [("condition", "not-running")], longRunning: true)
        switch response.status {
        case 200:
            let result = try response.decode(ContainerWaitResponse.self)
            if let message = result.error?.message, !message.isEmpty {
                throw .engine(status: 200, message: message)
            }
            return result.statusCode
        case 404: throw .noSuchContainer(id.rawValue)
        default: throw response.engineError
        }
    }

    func inspectContainer(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerInspectResponse? {
        try await onTransferThread { cancellation in
            self.inspectContainerBlocking(id, cancellation: cancellation)
        }.get()
    }

    /// nil for 404. Blocking: for threads that already run a transfer (the log reader).
    func inspectContainerBlocking(
        _ id: ContainerID, cancellation: CancellationFlag
    ) -> Result<ContainerInspectResponse?, ContainerRuntimeError> {
        requestBlocking(.get, Self.containerPath(id, "/json"), cancellation: cancellation).flatMap { response in
            switch response.status {
            case 200: Result { () throws(ContainerRuntimeError) in try response.decode(ContainerInspectResponse.self) }
            case 404: .success(nil)
            default: .failure(response.engineError)
            }
        }
    }

    /// Ids of every container, running or not, carrying all of `labels`.
    func listContainerIDs(labels: [String: String]) async throws(ContainerRuntimeError) -> [ContainerID] {
        var query = [("all", "1")]
        if !labels.isEmpty {
            query.append(("filters", Self.labelFilters(labels)))
        }
        let response = try await request(.get, "/containers/json", query: query)
        guard response.status == 200 else { throw response.engineError }
        return try response.decode([ContainerSummary].self).map { ContainerID($0.id) }
    }

    func removeContainer(_ id: ContainerID) async throws(ContainerRuntimeError) {
        let response = try await request(.delete, Self.containerPath(id), query: [("force", "1"), ("v", "1")])
        switch response.status {
        case 204, 404: return
        // Someone else is already removing it: the outcome the caller wants.
        case 409 where response.engineMessage.localizedCaseInsensitiveContains("already in progress"): return
        default: throw response.engineError
        }
    }
}
