public import Foundation

/// Any runtime, with job images named as SageMaker names them: an ECR image URI is run as the same
/// repository and tag on the operator's registry (`--registry`, `ImageReference.resolved`). Every
/// image a container is created from, checked or pulled goes through the mapping; the job itself
/// keeps the user's TrainingImage (DescribeTrainingJob shows what was asked for).
public struct RegistryMappedRuntime: ContainerRuntime {
    public let base: any ContainerRuntime
    /// `host[:port]`, or nil: then every image is used as it is named.
    public let registry: String?

    public init(base: any ContainerRuntime, registry: String?) {
        self.base = base
        self.registry = registry
    }

    /// The image the engine is asked for in place of `image`.
    public func resolved(_ image: String) -> String {
        ImageReference.resolve(image, registry: registry)
    }

    private func resolved(_ spec: ContainerSpec) -> ContainerSpec {
        var spec = spec
        spec.image = resolved(spec.image)
        return spec
    }

    public func launch(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        try await base.launch(hosts.map(resolved))
    }

    public func create(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> ContainerID {
        try await base.create(resolved(spec))
    }

    public func start(_ id: ContainerID) async throws(ContainerRuntimeError) {
        try await base.start(id)
    }

    public func kill(_ id: ContainerID, signal: ContainerSignal) async throws(ContainerRuntimeError) {
        try await base.kill(id, signal: signal)
    }

    public func wait(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerExit {
        try await base.wait(id)
    }

    public func inspect(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerState? {
        try await base.inspect(id)
    }

    public func logs(_ id: ContainerID, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        base.logs(id, since: since, follow: follow)
    }

    public func remove(_ id: ContainerID) async throws(ContainerRuntimeError) {
        try await base.remove(id)
    }

    public func imageExists(_ image: String) async throws(ContainerRuntimeError) -> Bool {
        try await base.imageExists(resolved(image))
    }

    public func pullImage(_ image: String) async throws(ContainerRuntimeError) {
        try await base.pullImage(resolved(image))
    }

    public var pullsImages: Bool { base.pullsImages }
    public var containersMayExitAtLaunch: Bool { base.containersMayExitAtLaunch }

    public func reserveCapacity(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        try await base.reserveCapacity(hosts.map(resolved))
    }

    public func ping() async throws(ContainerRuntimeError) {
        try await base.ping()
    }
}
