public import ContainerRuntime

/// Registry pulls (issue 14): the engine fetches a missing training image from the registry its
/// reference names, as `docker run` would; tag and push are for tools and tests that fill a registry.
extension DockerRuntime {
    public var pullsImages: Bool { true }

    public func pullImage(_ image: String) async throws(ContainerRuntimeError) {
        try await client.pullImage(image)
    }

    /// Gives the image `source` the further name `target` (`docker tag`).
    public func tagImage(_ source: String, as target: String) async throws(ContainerRuntimeError) {
        try await client.tagImage(source, as: target)
    }

    /// Pushes `image` to the registry its name starts with, anonymously (`docker push`).
    public func pushImage(_ image: String) async throws(ContainerRuntimeError) {
        try await client.pushImage(image)
    }
}

extension GatewayRuntime {
    public var pullsImages: Bool { docker.pullsImages }

    public func pullImage(_ image: String) async throws(ContainerRuntimeError) {
        try await docker.pullImage(image)
    }
}
