import ContainerRuntime

/// `GET /version` (unversioned: it is how the API version is chosen).
struct VersionResponse: Decodable {
    let version: String?
    let apiVersion: String
    let minAPIVersion: String?

    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case apiVersion = "ApiVersion"
        case minAPIVersion = "MinAPIVersion"
    }
}

extension DockerClient {
    /// `GET /_ping`, unversioned so that it does not depend on a negotiation. A short limit: a
    /// health check should say "unreachable" soon rather than hang on a wedged engine.
    func ping() async throws(ContainerRuntimeError) {
        let response = try await request(.get, "/_ping", versioned: false, timeout: .seconds(5))
        guard response.status == 200 else { throw response.engineError }
    }
}

/// The parts of `GET /info` that say whether the engine can give containers NVIDIA GPUs.
struct SystemInfoResponse: Decodable {
    struct DiscoveredDevice: Decodable {
        let source: String?
        let id: String?
        enum CodingKeys: String, CodingKey { case source = "Source", id = "ID" }
    }

    /// The OCI runtimes registered with the engine, by name.
    let runtimes: [String: IgnoredValue]?
    /// Engine API 1.50+: devices the engine found, e.g. CDI's `nvidia.com/gpu=0`.
    let discoveredDevices: [DiscoveredDevice]?

    enum CodingKeys: String, CodingKey { case runtimes = "Runtimes", discoveredDevices = "DiscoveredDevices" }

    /// The NVIDIA Container Toolkit is known to the engine when `nvidia-ctk runtime configure`
    /// registered its runtime under the name `nvidia` (NVIDIA's install guide, "Configuring
    /// Docker"), or when the engine discovered CDI devices of `nvidia.com/gpu` (Engine API 1.50
    /// SystemInfo.DiscoveredDevices, which the toolkit's CDI specs produce).
    var hasNVIDIAGPURuntime: Bool {
        if runtimes?["nvidia"] != nil { return true }
        return discoveredDevices?.contains { $0.id?.hasPrefix("nvidia.com/gpu") == true } ?? false
    }

    /// A runtime's settings, which only need to be there.
    struct IgnoredValue: Decodable {
        init(from decoder: any Decoder) throws {}
    }
}

extension DockerClient {
    /// `GET /info`.
    func systemInfo() async throws(ContainerRuntimeError) -> SystemInfoResponse {
        let response = try await request(.get, "/info")
        guard response.status == 200 else { throw response.engineError }
        return try response.decode(SystemInfoResponse.self)
    }
}
