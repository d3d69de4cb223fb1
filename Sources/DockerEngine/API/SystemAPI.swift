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
