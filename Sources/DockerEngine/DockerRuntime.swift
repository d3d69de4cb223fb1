public import ContainerRuntime
public import Foundation
public import Logging

/// `ContainerRuntime` on a Docker engine, through its HTTP API on a unix socket (libcurl).
public struct DockerRuntime: ContainerRuntime {
    /// The address used when DOCKER_HOST is not set.
    public static let defaultHost = "unix:///var/run/docker.sock"

    /// DOCKER_HOST from `environment` when set and not empty, else `defaultHost`.
    public static func host(from environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let host = environment["DOCKER_HOST"], !host.isEmpty { return host }
        return defaultHost
    }

    let client: DockerClient

    /// The engine's address, as given.
    public var host: String { client.host }

    /// `host` is a `unix://` address such as `unix:///var/run/docker.sock` (DOCKER_HOST's form).
    /// Other schemes (tcp://, ssh://, npipe://) throw `.engineUnreachable` with an explanation.
    /// Nothing is contacted here: the API version is negotiated on the first request.
    public init(host: String, logger: Logger) throws(ContainerRuntimeError) {
        client = try DockerClient(host: host, logger: logger)
    }

    /// As above, with a time limit for each request other than waits and logs (default 120 s).
    public init(host: String, logger: Logger, requestTimeout: Duration) throws(ContainerRuntimeError) {
        client = try DockerClient(host: host, logger: logger, requestTimeout: requestTimeout)
    }

    /// A container this call created is started without the look `start` takes first: it cannot
    /// have run yet. Create → running is two engine calls. A job's hosts are created together and
    /// then started together (their job network made first), so they begin within a start call of
    /// each other, as SageMaker starts the algorithm on every instance once all are ready.
    public func launch(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        try await checkGPUs(for: hosts)
        for network in Set(hosts.compactMap(\.clusterNetwork)) {
            let labels = hosts.first { $0.clusterNetwork == network }?.labels ?? [:]
            try await client.ensureNetwork(network, labels: labels.filter { $0.key != "trainyard.host" })
        }
        let client = self.client
        // Created by this call (started directly), or by an earlier pass whose record was lost
        // (adopted: `start` looks first and never reruns a container that has run).
        let created = await withTaskGroup(of: (String, Result<ContainerID?, ContainerRuntimeError>).self) { group in
            for spec in hosts {
                group.addTask {
                    do throws(ContainerRuntimeError) {
                        return (spec.name, .success(try await client.createContainer(spec)))
                    } catch .nameInUse {
                        return (spec.name, .success(nil))
                    } catch {
                        return (spec.name, .failure(error))
                    }
                }
            }
            var results: [String: Result<ContainerID?, ContainerRuntimeError>] = [:]
            for await (name, result) in group { results[name] = result }
            return results
        }
        for spec in hosts { if case .failure(let error)? = created[spec.name] { throw error } }
        let failures = await withTaskGroup(of: ContainerRuntimeError?.self) { group in
            for spec in hosts {
                let fresh = (try? created[spec.name]?.get()) ?? nil
                group.addTask {
                    do throws(ContainerRuntimeError) {
                        if let fresh { try await client.startContainer(fresh) } else { try await self.start(ContainerID(spec.name)) }
                    } catch {
                        return error
                    }
                    return nil
                }
            }
            var failures: [ContainerRuntimeError] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        if let first = failures.first { throw first }
    }

    /// A container on a job network (ContainerSpec.clusterNetwork) has the network made first.
    public func create(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> ContainerID {
        try await checkGPUs(for: [spec])
        if let network = spec.clusterNetwork {
            try await client.ensureNetwork(network, labels: spec.labels.filter { $0.key != "trainyard.host" })
        }
        return try await client.createContainer(spec)
    }

    /// Containers that ask for GPUs need the engine to have an NVIDIA GPU runtime: without one,
    /// the engine's own answer comes only at start ("could not select device driver \"nvidia\""),
    /// after the data is staged, in words that do not say what to install. Asked on every launch
    /// (one `GET /info`), since the toolkit may be installed while the server runs.
    private func checkGPUs(for hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        guard let requested = hosts.first(where: { $0.gpuCount > 0 })?.gpuCount else { return }
        guard try await client.systemInfo().hasNVIDIAGPURuntime else { throw .noGPURuntime(requested: requested) }
    }

    /// Removes the job networks (those carrying `ContainerSpec.clusterNetworkLabel`) that have all
    /// of `labels` and whose own labels `isStale` accepts; the engine keeps one that still has
    /// containers on it. For a server that died between removing a job's last container and its
    /// network. Returns the names of the networks removed.
    public func removeJobNetworks(
        labels: [String: String], where isStale: ([String: String]) -> Bool
    ) async throws(ContainerRuntimeError) -> [String] {
        var removed: [String] = []
        for network in try await client.listNetworks(labels: labels) {
            let networkLabels = network.labels ?? [:]
            guard networkLabels[ContainerSpec.clusterNetworkLabel] == network.name, isStale(networkLabels) else { continue }
            if try await client.removeNetwork(network.name) { removed.append(network.name) }
        }
        return removed
    }

    /// Starts a created container. Unlike the engine's own start, a container that has already run
    /// (exited or dead) is left alone rather than run a second time: a scheduler that repeats a
    /// start after a crash must not repeat a finished training job (SimulatedRuntime agrees).
    public func start(_ id: ContainerID) async throws(ContainerRuntimeError) {
        guard let state = try await inspect(id) else { throw .noSuchContainer(id.rawValue) }
        if state.status == .exited || state.status == .dead { return }
        try await client.startContainer(id)
    }

    public func kill(_ id: ContainerID, signal: ContainerSignal) async throws(ContainerRuntimeError) {
        try await client.killContainer(id, signal: signal.rawValue)
    }

    public func wait(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerExit {
        let exitCode = try await client.waitContainer(id)
        // The wait answer carries only the status code; OOMKilled comes from inspect.
        guard let state = try await inspect(id) else {
            return ContainerExit(exitCode: exitCode)
        }
        return ContainerExit(exitCode: exitCode, oomKilled: state.oomKilled)
    }

    public func inspect(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerState? {
        try await client.inspectContainer(id).map(Self.state(from:))
    }

    public func list(labels: [String: String]) async throws(ContainerRuntimeError) -> [ContainerState] {
        // The list endpoint's summaries lack exit codes and times, so each match is inspected;
        // one that vanished in between is simply no longer there.
        var states: [ContainerState] = []
        for id in try await client.listContainerIDs(labels: labels) {
            if let state = try await inspect(id) {
                states.append(state)
            }
        }
        return states
    }

    public func logs(_ id: ContainerID, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        client.logs(id, since: since, follow: follow)
    }

    /// The last container of a job network takes the network with it.
    public func remove(_ id: ContainerID) async throws(ContainerRuntimeError) {
        let network = try await client.inspectContainer(id)?.config?.labels?[ContainerSpec.clusterNetworkLabel]
        try await client.removeContainer(id)
        if let network { _ = try await client.removeNetwork(network) }
    }

    public func imageExists(_ image: String) async throws(ContainerRuntimeError) -> Bool {
        try await client.imageExists(image)
    }

    /// The host's process id of the container's first process and the container's labels, from
    /// one inspect; nil when it is not running.
    public func runningProcess(_ id: ContainerID) async throws(ContainerRuntimeError) -> (pid: Int32, labels: [String: String])? {
        guard let info = try await client.inspectContainer(id), info.state.status == "running",
            let pid = info.state.pid, pid > 0
        else { return nil }
        return (pid, info.config?.labels ?? [:])
    }

    public func ping() async throws(ContainerRuntimeError) {
        try await client.ping()
    }

    static func state(from info: ContainerInspectResponse) -> ContainerState {
        // An unknown status (a newer engine) counts as gone rather than running forever.
        let status = ContainerStatus(rawValue: info.state.status) ?? .dead
        let ended = status == .exited || status == .dead
        return ContainerState(
            id: ContainerID(info.id),
            name: info.name.hasPrefix("/") ? String(info.name.dropFirst()) : info.name,
            status: status,
            labels: info.config?.labels ?? [:],
            exitCode: ended ? info.state.exitCode : nil,
            oomKilled: info.state.oomKilled ?? false)
    }
}
