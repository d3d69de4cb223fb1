public import ContainerRuntime
public import Foundation
public import Logging

/// `DockerRuntime` plus each labelled container's S3 gateway (`ContainerGateway`): attached right
/// after the container starts, re-attached when a restarted server waits on a container it adopts,
/// detached when the container exits or is removed. The scheduler sees a plain `ContainerRuntime`.
public struct GatewayRuntime: ContainerRuntime {
    /// Containers carrying this label (value "s3") get the gateway; network-isolated jobs' do not.
    public static let label = "trainyard.gateway"

    public let docker: DockerRuntime
    public let gateway: ContainerGateway
    private let logger: Logger

    public init(docker: DockerRuntime, gateway: ContainerGateway, logger: Logger) {
        self.docker = docker
        self.gateway = gateway
        self.logger = logger
    }

    public func create(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> ContainerID {
        try await docker.create(spec)
    }

    /// The engine's own launch (the job network once, every host created and then started
    /// together, so hosts start with little skew), then each started host's gateway.
    public func launch(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        try await docker.launch(hosts)
        for spec in hosts { await attachIfWanted(ContainerID(spec.name)) }
    }

    public func start(_ id: ContainerID) async throws(ContainerRuntimeError) {
        try await docker.start(id)
        await attachIfWanted(id)
    }

    public func kill(_ id: ContainerID, signal: ContainerSignal) async throws(ContainerRuntimeError) {
        try await docker.kill(id, signal: signal)
    }

    public func wait(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerExit {
        // A container adopted after a restart is waited on without being started by this process.
        await attachIfWanted(id)
        let exit = try await docker.wait(id)
        gateway.detach(container: id.rawValue)
        return exit
    }

    public func inspect(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerState? {
        try await docker.inspect(id)
    }

    public func list(labels: [String: String]) async throws(ContainerRuntimeError) -> [ContainerState] {
        try await docker.list(labels: labels)
    }

    public func logs(_ id: ContainerID, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        docker.logs(id, since: since, follow: follow)
    }

    public func remove(_ id: ContainerID) async throws(ContainerRuntimeError) {
        gateway.detach(container: id.rawValue)
        try await docker.remove(id)
    }

    public func imageExists(_ image: String) async throws(ContainerRuntimeError) -> Bool {
        try await docker.imageExists(image)
    }

    public func reserveCapacity(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        try await docker.reserveCapacity(hosts)
    }

    public func ping() async throws(ContainerRuntimeError) {
        try await docker.ping()
    }

    /// Failures are logged, not thrown: the job runs on without S3 (its S3 calls are refused), as
    /// a SageMaker job whose VPC has no S3 route does.
    private func attachIfWanted(_ id: ContainerID) async {
        guard !gateway.isAttached(id.rawValue) else { return }
        do {
            // One inspect: the sooner the listener exists, the shorter the window in which the
            // container's first connections are refused.
            guard let process = try await docker.runningProcess(id), process.labels[Self.label] == "s3" else { return }
            try gateway.attach(container: id.rawValue, pid: process.pid)
        } catch {
            logger.warning("container S3 gateway not attached", metadata: ["container.name": "\(id)", "error": "\(error)"])
        }
    }
}
