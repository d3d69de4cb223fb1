import ContainerRuntime
import Foundation

// MARK: Wire shapes (only the fields Trainyard reads)

/// One entry of `GET /tasks`.
public struct SwarmTask: Decodable, Equatable, Sendable {
    public struct Status: Decodable, Equatable, Sendable {
        public struct ContainerStatus: Decodable, Equatable, Sendable {
            public var exitCode: Int?
            enum CodingKeys: String, CodingKey { case exitCode = "ExitCode" }
        }
        public var state: String
        public var message: String?
        public var err: String?
        public var containerStatus: ContainerStatus?
        enum CodingKeys: String, CodingKey { case state = "State", message = "Message", err = "Err", containerStatus = "ContainerStatus" }
    }
    public struct Version: Decodable, Equatable, Sendable {
        public var index: Int
        enum CodingKeys: String, CodingKey { case index = "Index" }
    }
    public var id: String
    public var version: Version?
    public var nodeID: String?
    public var desiredState: String?
    public var status: Status
    enum CodingKeys: String, CodingKey { case id = "ID", version = "Version", nodeID = "NodeID", desiredState = "DesiredState", status = "Status" }
}

/// One entry of `GET /nodes`.
struct SwarmNodeResponse: Decodable {
    struct Description: Decodable {
        struct Resources: Decodable {
            struct Generic: Decodable {
                struct Discrete: Decodable {
                    let kind: String
                    let value: Int64
                    enum CodingKeys: String, CodingKey { case kind = "Kind", value = "Value" }
                }
                let discreteResourceSpec: Discrete?
                enum CodingKeys: String, CodingKey { case discreteResourceSpec = "DiscreteResourceSpec" }
            }
            let nanoCPUs: Int64?
            let memoryBytes: Int64?
            let genericResources: [Generic]?
            enum CodingKeys: String, CodingKey { case nanoCPUs = "NanoCPUs", memoryBytes = "MemoryBytes", genericResources = "GenericResources" }
        }
        let hostname: String?
        let resources: Resources?
        enum CodingKeys: String, CodingKey { case hostname = "Hostname", resources = "Resources" }
    }
    struct Spec: Decodable {
        let role: String?
        let availability: String?
        let labels: [String: String]?
        enum CodingKeys: String, CodingKey { case role = "Role", availability = "Availability", labels = "Labels" }
    }
    struct Status: Decodable {
        let state: String?
        enum CodingKeys: String, CodingKey { case state = "State" }
    }
    let id: String
    let description: Description?
    let spec: Spec?
    let status: Status?
    enum CodingKeys: String, CodingKey { case id = "ID", description = "Description", spec = "Spec", status = "Status" }

    var node: ClusterNode {
        var generic: [String: Int64] = [:]
        for resource in description?.resources?.genericResources ?? [] {
            if let discrete = resource.discreteResourceSpec { generic[discrete.kind, default: 0] += discrete.value }
        }
        return ClusterNode(
            id: id, hostname: description?.hostname ?? id, isManager: spec?.role == "manager",
            state: ClusterNode.State(rawValue: status?.state ?? "unknown") ?? .unknown,
            isActive: (spec?.availability ?? "active") == "active",
            nanoCPUs: description?.resources?.nanoCPUs ?? 0, memoryBytes: description?.resources?.memoryBytes ?? 0,
            genericResources: generic, labels: spec?.labels ?? [:])
    }
}

/// The parts of `GET /services/{id}` the runtime reads; the whole spec is also kept as JSON for
/// `POST /services/{id}/update`, which takes the complete spec back.
struct SwarmServiceInfo {
    let id: String
    let versionIndex: Int
    let name: String
    let labels: [String: String]
    let replicas: Int?
    /// `Spec`, as the engine sent it.
    let spec: [String: Any]

    init(json: Data) throws(ContainerRuntimeError) {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
            let id = object["ID"] as? String, let spec = object["Spec"] as? [String: Any]
        else { throw .engine(status: 200, message: "unexpected response from the Docker engine (service)") }
        self.id = id
        self.spec = spec
        versionIndex = ((object["Version"] as? [String: Any])?["Index"] as? Int) ?? 0
        name = spec["Name"] as? String ?? id
        labels = spec["Labels"] as? [String: String] ?? [:]
        replicas = ((spec["Mode"] as? [String: Any])?["Replicated"] as? [String: Any])?["Replicas"] as? Int
    }
}

// MARK: Endpoints

extension DockerClient {
    func nodes() async throws(ContainerRuntimeError) -> [ClusterNode] {
        let response = try await request(.get, "/nodes")
        guard response.status == 200 else { throw response.engineError }
        return try response.decode([SwarmNodeResponse].self).map(\.node)
    }

    /// Nil when there is no such service.
    func service(_ name: String) async throws(ContainerRuntimeError) -> SwarmServiceInfo? {
        let response = try await request(.get, "/services/\(Self.escape(name))")
        switch response.status {
        case 200: return try SwarmServiceInfo(json: response.body)
        case 404: return nil
        default: throw response.engineError
        }
    }

    /// Names of the services carrying every label of `labels`.
    func serviceNames(labels: [String: String]) async throws(ContainerRuntimeError) -> [(name: String, labels: [String: String])] {
        try await serviceNames(labelFilters: labels.map { "\($0.key)=\($0.value)" })
    }

    /// Names of the services carrying every label key of `labelKeys`, whatever its value.
    func serviceNames(labelKeys: [String]) async throws(ContainerRuntimeError) -> [(name: String, labels: [String: String])] {
        try await serviceNames(labelFilters: labelKeys)
    }

    private func serviceNames(labelFilters: [String]) async throws(ContainerRuntimeError) -> [(name: String, labels: [String: String])] {
        let response = try await request(.get, "/services", query: [("filters", Self.filters(["label": labelFilters]))])
        guard response.status == 200 else { throw response.engineError }
        guard let list = try? JSONSerialization.jsonObject(with: response.body) as? [[String: Any]] else {
            throw .engine(status: 200, message: "unexpected response from the Docker engine (services)")
        }
        return list.compactMap { entry in
            guard let spec = entry["Spec"] as? [String: Any], let name = spec["Name"] as? String else { return nil }
            return (name, spec["Labels"] as? [String: String] ?? [:])
        }
    }

    /// Creates the service; false when one of that name exists already (an earlier pass's).
    func createService(_ spec: SwarmServiceSpec) async throws(ContainerRuntimeError) -> Bool {
        let body: Data
        do {
            body = try JSONEncoder().encode(spec)
        } catch {
            throw .engine(status: 0, message: "cannot encode the service spec: \(error)")
        }
        let response = try await request(.post, "/services/create", body: body)
        switch response.status {
        case 200, 201: return true
        case 409: return false
        default: throw response.engineError
        }
    }

    /// `POST /services/{id}/update` with a changed copy of the spec; the version guards against
    /// a concurrent change (409/500 "update out of sequence": the caller looks again).
    func updateService(_ service: SwarmServiceInfo, spec: [String: Any]) async throws(ContainerRuntimeError) {
        guard let body = try? JSONSerialization.data(withJSONObject: spec) else {
            throw .engine(status: 0, message: "cannot encode the service spec")
        }
        let response = try await request(
            .post, "/services/\(Self.escape(service.id))/update", query: [("version", String(service.versionIndex))], body: body)
        guard response.status == 200 else { throw response.engineError }
    }

    /// False when it was already gone.
    func removeService(_ name: String) async throws(ContainerRuntimeError) -> Bool {
        let response = try await request(.delete, "/services/\(Self.escape(name))")
        switch response.status {
        case 200, 204: return true
        case 404: return false
        default: throw response.engineError
        }
    }

    func tasks(service: String) async throws(ContainerRuntimeError) -> [SwarmTask] {
        let response = try await request(.get, "/tasks", query: [("filters", Self.filters(["service": [service]]))])
        guard response.status == 200 else { throw response.engineError }
        return try response.decode([SwarmTask].self)
    }

    /// An attachable, internal overlay network for one job, unless it exists. Swarm allows two
    /// networks of one name, so look first (a single scheduler makes the check-then-create safe).
    func ensureOverlayNetwork(_ name: String, labels: [String: String]) async throws(ContainerRuntimeError) {
        let existing = try await request(.get, "/networks", query: [("filters", Self.filters(["name": [name]]))])
        guard existing.status == 200 else { throw existing.engineError }
        // The name filter matches substrings: compare whole names.
        if try existing.decode([NetworkSummary].self).contains(where: { $0.name == name }) { return }
        let body = try? JSONSerialization.data(withJSONObject: [
            "Name": name, "Driver": "overlay", "Attachable": true, "CheckDuplicate": true,
            // No gateway out: the job's hosts reach each other and nothing else (S3 through a
            // gateway is not available on remote nodes yet; README "Known limits").
            "Internal": true, "Labels": labels,
        ] as [String: Any])
        let response = try await request(.post, "/networks/create", body: body)
        switch response.status {
        case 200, 201, 409: return
        default: throw response.engineError
        }
    }
}
