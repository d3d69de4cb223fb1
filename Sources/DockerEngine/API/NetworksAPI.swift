import ContainerRuntime
import Foundation

// MARK: Wire shapes

/// `POST /networks/create` body: a job's own bridge network.
struct NetworkCreateRequest: Encodable {
    var name: String
    var checkDuplicate = true
    var driver = "bridge"
    /// No route out: the engine gives the network no gateway to the outside world.
    var `internal` = true
    var labels: [String: String]
    /// `inhibit_ipv4`: the bridge on the engine's machine gets no IPv4 address, so a container on
    /// it reaches neither this machine (nothing listens for it there) nor, through this machine's
    /// forwarding, any other network. Needed because this engine runs with `--iptables=false`,
    /// which leaves "internal" unenforced: its containers still get a default route via the bridge
    /// (measured on Docker 20.10 with `--bridge=none --iptables=false`).
    var options = ["com.docker.network.bridge.inhibit_ipv4": "true"]

    enum CodingKeys: String, CodingKey {
        case name = "Name", checkDuplicate = "CheckDuplicate", driver = "Driver", `internal` = "Internal",
            labels = "Labels", options = "Options"
    }
}

/// `NetworkingConfig` of `POST /containers/create`: the host's name as an alias on its job network,
/// so the engine's DNS resolves `algo-N` for the job's other containers.
struct ContainerNetworkingConfig: Encodable {
    struct Endpoint: Encodable {
        var aliases: [String]
        enum CodingKeys: String, CodingKey { case aliases = "Aliases" }
    }
    var endpointsConfig: [String: Endpoint]
    enum CodingKeys: String, CodingKey { case endpointsConfig = "EndpointsConfig" }
}

/// One entry of `GET /networks`.
struct NetworkSummary: Decodable {
    let name: String
    let labels: [String: String]?
    enum CodingKeys: String, CodingKey { case name = "Name", labels = "Labels" }
}

// MARK: Endpoints

extension DockerClient {
    /// Creates the network unless it exists (a second host of the job, a restarted server).
    func ensureNetwork(_ name: String, labels: [String: String]) async throws(ContainerRuntimeError) {
        let body: Data
        do {
            body = try JSONEncoder().encode(NetworkCreateRequest(name: name, labels: labels))
        } catch {
            throw .engine(status: 0, message: "cannot encode the network spec: \(error)")
        }
        let response = try await request(.post, "/networks/create", body: body)
        switch response.status {
        case 200, 201: return
        case 409: return  // "network with name ... already exists"
        default: throw response.engineError
        }
    }

    /// Removes the network; one that is gone, or still has containers on it, is left as it is.
    /// Returns whether this call removed it.
    @discardableResult
    func removeNetwork(_ name: String) async throws(ContainerRuntimeError) -> Bool {
        let response = try await request(.delete, "/networks/\(Self.escape(name))")
        switch response.status {
        case 204, 200: return true
        case 404: return false
        // "has active endpoints": another host of the job still exists; its removal comes back here.
        case 403, 409: return false
        default: throw response.engineError
        }
    }

    /// `GET /networks` filtered to those carrying all of `labels`.
    func listNetworks(labels: [String: String]) async throws(ContainerRuntimeError) -> [NetworkSummary] {
        let response = try await request(.get, "/networks", query: [("filters", Self.labelFilters(labels))])
        guard response.status == 200 else { throw response.engineError }
        return try response.decode([NetworkSummary].self)
    }
}
