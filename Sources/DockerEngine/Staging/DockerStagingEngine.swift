public import ContainerRuntime
import Foundation
public import Logging
import Synchronization
public import WorkspaceStaging

/// StagingEngine on a Docker engine: helpers are plain containers on the engine that runs the
/// training containers, volumes are its local volumes, and the staging image is imported there
/// from a tar (`POST /images/create?fromSrc=-`), no registry or network needed. With `registry`,
/// the image is also pushed there as `<registry>/trainyard/stage:<hash>` and helpers use that
/// name (what nodes of a cluster pull).
public final class DockerStagingEngine: StagingEngine {
    let client: DockerClient
    let busybox: String
    let registry: String?
    let logger: Logger
    /// The reference once made; the first caller makes it, the others wait for that.
    private let image = Mutex<Task<String, any Error>?>(nil)

    public convenience init(docker: DockerRuntime, busybox: String = "/bin/busybox", registry: String? = nil, logger: Logger) {
        self.init(client: docker.client, busybox: busybox, registry: registry, logger: logger)
    }

    /// On any engine's client (SwarmStagingEngine: the manager's, which then pushes for the nodes).
    init(client: DockerClient, busybox: String, registry: String?, logger: Logger) {
        self.client = client
        self.busybox = busybox
        self.registry = registry
        self.logger = logger
    }

    public func stagingImage() async throws(ContainerRuntimeError) -> String {
        let task = image.withLock { current in
            if let current { return current }
            let task = Task { () async throws -> String in try await self.makeImage() }
            current = task
            return task
        }
        do {
            return try await task.value
        } catch {
            image.withLock { $0 = nil }  // a later job tries again
            throw (error as? ContainerRuntimeError) ?? .engine(status: 0, message: "\(error)")
        }
    }

    private func makeImage() async throws(ContainerRuntimeError) -> String {
        let made: StagingImage
        do {
            made = try StagingImage(busybox: busybox)
        } catch {
            throw .engine(status: 0, message: error.description)
        }
        if try await !client.imageExists(made.reference) {
            let tag = String(made.reference.split(separator: ":").last!)
            let response = try await client.request(
                .post, "/images/create", query: [("fromSrc", "-"), ("repo", StagingImage.repository), ("tag", tag)], body: made.rootfs)
            let text = String(decoding: response.body, as: UTF8.self)
            guard (200..<300).contains(response.status), !text.contains("\"error\"") else {
                throw .engine(status: response.status, message: "cannot import the staging image: \(text.prefix(500))")
            }
            logger.info("made the workspace staging image", metadata: ["image": "\(made.reference)"])
        }
        guard let registry else { return made.reference }
        let pushed = "\(registry)/\(made.reference)"
        try await client.tagImage(made.reference, as: pushed)
        try await client.pushImage(pushed)
        return pushed
    }

    public func runHelper(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> (exitCode: Int, output: String) {
        let id: ContainerID
        do {
            id = try await client.createContainer(spec)
        } catch .nameInUse {
            // A crashed server's helper: its transfer is void now; start over.
            try await client.removeContainer(ContainerID(spec.name))
            id = try await client.createContainer(spec)
        }
        do {
            try await client.startContainer(id)
            let exitCode = try await client.waitContainer(id)
            var lines: [String] = []
            do {
                for try await line in client.logs(id, since: nil, follow: false) {
                    lines.append(line.text)
                    if lines.count > 20 { lines.removeFirst() }
                }
            } catch {
                lines.append("(output unavailable: \(error))")
            }
            try await client.removeContainer(id)
            return (exitCode, lines.joined(separator: " / "))
        } catch {
            try? await client.removeContainer(id)
            throw error
        }
    }

    public func removeVolumes(_ names: [String]) async throws(ContainerRuntimeError) {
        for name in names { try await client.removeVolume(name) }
    }

    /// Names of the volumes carrying all of `labels` (for the cleanup of a crashed server's leftovers).
    public func volumes(labels: [String: String]) async throws(ContainerRuntimeError) -> [(name: String, labels: [String: String])] {
        try await client.listVolumes(labels: labels)
    }
}

struct VolumeListResponse: Decodable {
    struct Volume: Decodable {
        let name: String
        let labels: [String: String]?
        enum CodingKeys: String, CodingKey { case name = "Name", labels = "Labels" }
    }
    let volumes: [Volume]?
    enum CodingKeys: String, CodingKey { case volumes = "Volumes" }
}

extension DockerClient {
    /// `DELETE /volumes/{name}`: 404 is fine; 409 (still in use) is an error.
    func removeVolume(_ name: String) async throws(ContainerRuntimeError) {
        let response = try await request(.delete, "/volumes/\(Self.escape(name))")
        switch response.status {
        case 204, 404: return
        default: throw response.engineError
        }
    }

    func listVolumes(labels: [String: String]) async throws(ContainerRuntimeError) -> [(name: String, labels: [String: String])] {
        let response = try await request(.get, "/volumes", query: [("filters", Self.labelFilters(labels))])
        guard response.status == 200 else { throw response.engineError }
        return (try response.decode(VolumeListResponse.self).volumes ?? []).map { ($0.name, $0.labels ?? [:]) }
    }
}
