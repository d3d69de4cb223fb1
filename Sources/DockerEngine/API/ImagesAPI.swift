import ContainerRuntime

extension DockerClient {
    /// `GET /images/{name}/json`: 200 present, 404 absent. No pulls: Trainyard runs local images.
    func imageExists(_ reference: String) async throws(ContainerRuntimeError) -> Bool {
        let response = try await request(.get, "/images/\(Self.escapeImageReference(reference))/json")
        switch response.status {
        case 200: return true
        case 404: return false
        default: throw response.engineError
        }
    }
}
