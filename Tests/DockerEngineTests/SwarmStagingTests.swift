import ContainerRuntime
import DockerEngine
import Foundation
import Logging
import Synchronization
import Testing
import WorkspaceStaging

/// `--runtime swarm` with `--workspace-staging api`: which node each host is pinned to, and the
/// helper and training services that pinning and node-local volumes make.
struct SwarmStagingSpecTests {
    private let options = SwarmServiceSpec.Options(constraints: ["node.role==worker"], stopGraceNanoseconds: 2_000_000_000)

    private func json(_ spec: SwarmServiceSpec) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(spec)) as? [String: Any])
    }

    private var training: ContainerSpec {
        ContainerSpec(
            name: "trainyard-abc-7-job-algo-1", image: "train:1", command: ["train"],
            labels: ["trainyard.job": "job", "trainyard.host": "algo-1", SwarmServiceSpec.nodeLabel: "node-b"],
            hostname: "algo-1",
            mounts: [.init(source: "/data/ws/input", target: "/opt/ml/input", readOnly: true),
                     .init(source: "/data/ws/model", target: "/opt/ml/model")])
    }

    @Test("a helper: one task, no restart, network host, node-local volumes, pinned to the host's node")
    func helperService() throws {
        let plan = StagedContainer(
            training: training,
            volumes: [
                StagedVolume(name: "trainyard-abc-7-job-algo-1.stage0", target: "/opt/ml/input", source: "/data/ws/input", inputOnly: true, readOnly: true),
                StagedVolume(name: "trainyard-abc-7-job-algo-1.stage1", target: "/opt/ml/model", source: "/data/ws/model", inputOnly: false, readOnly: false),
            ])
        let helper = plan.helper(.stageOut, image: "10.0.0.1:5000/trainyard/stage:0123", advertise: try AdvertisedAddress(parsing: "http://10.0.0.1:8080"), token: "tok")
        let body = try json(SwarmServiceSpec.helper(helper, options: options))
        #expect(body["Name"] as? String == "trainyard-abc-7-job-algo-1-stage-out")
        #expect(body["Mode"] as? [String: [String: Int]] == ["Replicated": ["Replicas": 1]])
        let labels = try #require(body["Labels"] as? [String: String])
        #expect(labels["trainyard.staging.helper"] == "out")
        #expect(labels["trainyard.swarm-network"] == nil)  // not part of the job's network cleanup
        let task = try #require(body["TaskTemplate"] as? [String: Any])
        #expect(task["RestartPolicy"] as? [String: String] == ["Condition": "none"])
        #expect(task["Networks"] as? [[String: String]] == [["Target": "host"]])
        let placement = try #require(task["Placement"] as? [String: Any])
        #expect(placement["Constraints"] as? [String] == ["node.role==worker", "node.id==node-b"])
        let container = try #require(task["ContainerSpec"] as? [String: Any])
        #expect(container["Image"] as? String == "10.0.0.1:5000/trainyard/stage:0123")
        #expect((container["Command"] as? [String])?.prefix(2) == ["/bin/sh", "-c"])
        #expect(container["Args"] == nil)
        let script = try #require((container["Command"] as? [String])?.last)
        // Emptied after the upload: the manager cannot remove a worker's volume.
        #expect(script.hasSuffix("rm -rf /stage/1/* /stage/1/.[!.]* /stage/1/..?*"))
        let mounts = try #require(container["Mounts"] as? [[String: Any]])
        #expect(mounts.map { $0["Type"] as? String } == ["volume", "volume"])
        #expect(mounts.map { $0["Source"] as? String } == ["trainyard-abc-7-job-algo-1.stage0", "trainyard-abc-7-job-algo-1.stage1"])
        #expect(mounts.map { $0["Target"] as? String } == ["/stage/0", "/stage/1"])
        let volumeOptions = try #require(mounts[1]["VolumeOptions"] as? [String: Any])
        #expect(volumeOptions["NoCopy"] as? Bool == true)
        #expect((volumeOptions["Labels"] as? [String: String])?["trainyard.staging.container"] == "trainyard-abc-7-job-algo-1")
    }

    @Test("a staged training service has volumes where binds were and the same node constraint")
    func trainingService() throws {
        var spec = training
        spec.mounts = spec.mounts.enumerated().map { index, mount in
            .init(source: "\(spec.name).stage\(index)", target: mount.target, readOnly: mount.readOnly, kind: .volume, volumeLabels: ["a": "b"])
        }
        let body = try json(SwarmServiceSpec.make(for: spec, serviceName: spec.name, network: "net", nodes: [], options: options))
        let task = try #require(body["TaskTemplate"] as? [String: Any])
        let container = try #require(task["ContainerSpec"] as? [String: Any])
        let mounts = try #require(container["Mounts"] as? [[String: Any]])
        #expect(mounts.map { $0["Type"] as? String } == ["volume", "volume"])
        #expect(mounts[0]["ReadOnly"] as? Bool == true)
        let placement = try #require(task["Placement"] as? [String: Any])
        #expect(placement["Constraints"] as? [String] == ["node.role==worker", "node.id==node-b"])
    }
}

struct SwarmPlacementTests {
    private let nodes = [
        ClusterNode(id: "c", hostname: "gpu-box", nanoCPUs: 1, memoryBytes: 1, genericResources: ["NVIDIA-GPU": 4], labels: ["zone": "b"]),
        ClusterNode(id: "a", hostname: "manager", isManager: true, nanoCPUs: 1, memoryBytes: 1),
        ClusterNode(id: "b", hostname: "worker", nanoCPUs: 1, memoryBytes: 1, labels: ["zone": "a"]),
        ClusterNode(id: "d", hostname: "down", state: .down, nanoCPUs: 1, memoryBytes: 1),
        ClusterNode(id: "e", hostname: "drained", isActive: false, nanoCPUs: 1, memoryBytes: 1),
    ]

    /// The nodes `place` picks for hosts that ask for no memory (so room never decides), with
    /// `load` hosts already pinned to each node; empty when no node is eligible.
    private func order(
        forHosts count: Int, job: String, nodes: [ClusterNode], constraints: [String], needsGPUs: Bool, load: [String: Int]
    ) -> [String] {
        let inUse = load.flatMap { node, hosts in
            Array(repeating: SwarmPlacement.Pinned(node: node, charge: .none), count: hosts)
        }
        let demands = Array(repeating: SwarmPlacement.Demand(memoryBytes: nil, gpus: needsGPUs ? 1 : 0), count: count)
        guard case .placed(let pinned) = SwarmPlacement.place(demands, job: job, nodes: nodes, constraints: constraints, inUse: inUse)
        else { return [] }
        return pinned.map(\.node)
    }

    @Test("a job's hosts go round-robin over ready, active nodes, from the least loaded one")
    func roundRobin() {
        let chosen = order(forHosts: 4, job: "job", nodes: nodes, constraints: [], needsGPUs: false, load: ["a": 2, "c": 1])
        #expect(chosen == ["b", "c", "a", "b"])
    }

    @Test("equal load: the start is the job's hash, the same for the same job, and every node is used")
    func byHash() {
        let first = order(forHosts: 3, job: "job-1", nodes: nodes, constraints: [], needsGPUs: false, load: [:])
        #expect(first == order(forHosts: 3, job: "job-1", nodes: nodes, constraints: [], needsGPUs: false, load: [:]))
        #expect(Set(first) == ["a", "b", "c"])
        let starts = Set((0..<20).compactMap { order(forHosts: 1, job: "job-\($0)", nodes: nodes, constraints: [], needsGPUs: false, load: [:]).first })
        #expect(starts == ["a", "b", "c"])
    }

    @Test("--swarm-constraint and GPUs narrow the nodes; none left: no pinning")
    func constraints() {
        #expect(order(forHosts: 2, job: "j", nodes: nodes, constraints: ["node.role==worker"], needsGPUs: false, load: ["c": 1]) == ["b", "c"])
        #expect(order(forHosts: 2, job: "j", nodes: nodes, constraints: ["node.labels.zone==b"], needsGPUs: false, load: [:]) == ["c", "c"])
        #expect(order(forHosts: 1, job: "j", nodes: nodes, constraints: ["node.hostname != manager", "node.id!=c"], needsGPUs: false, load: [:]) == ["b"])
        #expect(order(forHosts: 1, job: "j", nodes: nodes, constraints: [], needsGPUs: true, load: [:]) == ["c"])
        #expect(order(forHosts: 1, job: "j", nodes: nodes, constraints: ["node.role==worker"], needsGPUs: false, load: [:]).count == 1)
        #expect(order(forHosts: 1, job: "j", nodes: nodes, constraints: ["node.labels.zone==z"], needsGPUs: false, load: [:]).isEmpty)
        // Attributes it does not judge are left to Swarm.
        #expect(SwarmPlacement.matches(nodes[1], ["engine.labels.gpu==yes"]))
    }
}

/// The capacity rule (SwarmPlacement.place) over fake nodes and pinned hosts.
struct SwarmCapacityTests {
    private static let gib: Int64 = 1 << 30
    private let nodes = [
        ClusterNode(id: "a", hostname: "small", nanoCPUs: 4_000_000_000, memoryBytes: 16 * gib),
        ClusterNode(id: "b", hostname: "large", nanoCPUs: 8_000_000_000, memoryBytes: 32 * gib),
        ClusterNode(id: "g", hostname: "gpu", nanoCPUs: 8_000_000_000, memoryBytes: 64 * gib, genericResources: ["NVIDIA-GPU": 2]),
        ClusterNode(id: "d", hostname: "down", state: .down, nanoCPUs: 8_000_000_000, memoryBytes: 512 * gib),
    ]
    private func pinned(_ node: String, _ memory: Int64, gpus: Int64 = 0) -> SwarmPlacement.Pinned {
        .init(node: node, charge: .init(memoryBytes: memory * Self.gib, gpus: gpus))
    }
    private func demand(_ memory: Int64, gpus: Int64 = 0) -> SwarmPlacement.Demand { .init(memoryBytes: memory * Self.gib, gpus: gpus) }

    @Test("hosts that fit are placed round-robin, each charged its memory capped at its node")
    func fits() {
        let outcome = SwarmPlacement.place(
            [demand(16), demand(16)], job: "j", nodes: nodes, constraints: ["node.hostname!=gpu"], inUse: [])
        guard case .placed(let placed) = outcome else { Issue.record("\(outcome)"); return }
        #expect(Set(placed.map(\.node)) == ["a", "b"])
        // An instance type larger than the node takes the whole node, and no more.
        #expect(SwarmPlacement.place([demand(64)], job: "j", nodes: nodes, constraints: ["node.id==a"], inUse: [])
            == .placed([pinned("a", 16)]))
        // CPUs are not counted: eight hosts of 4 vCPUs share a 4-CPU node when memory allows.
        let small = [SwarmPlacement.Demand](repeating: .init(memoryBytes: Self.gib), count: 8)
        guard case .placed(let many) = SwarmPlacement.place(small, job: "j", nodes: nodes, constraints: ["node.id==a"], inUse: [])
        else { Issue.record("CPUs counted"); return }
        #expect(many.allSatisfy { $0.node == "a" })
    }

    @Test("no room now: the job waits, and places no host of the gang")
    func notNow() {
        let outcome = SwarmPlacement.place(
            [demand(8), demand(8)], job: "j", nodes: nodes, constraints: ["node.hostname!=gpu"],
            inUse: [pinned("a", 10), pinned("b", 30)])
        guard case .notNow(let why) = outcome else { Issue.record("\(outcome)"); return }
        #expect(why.contains("waiting for cluster capacity"))
        // One host would fit on b beside 20 GiB, the other on a beside 8: both placed.
        #expect(SwarmPlacement.place(
            [demand(8), demand(8)], job: "j", nodes: nodes, constraints: ["node.hostname!=gpu"],
            inUse: [pinned("a", 8), pinned("b", 20)]).isPlaced)
        // A node-sized host waits for the node to empty.
        #expect(SwarmPlacement.place([demand(64)], job: "j", nodes: nodes, constraints: ["node.id==a"], inUse: [pinned("a", 1)])
            .isNotNow)
    }

    @Test("no eligible node, or none big enough even when empty: the job can never run")
    func never() {
        #expect(SwarmPlacement.place([demand(1)], job: "j", nodes: nodes, constraints: ["node.id==zz"], inUse: []).isNever)
        #expect(SwarmPlacement.place([demand(1)], job: "j", nodes: [], constraints: [], inUse: []).isNever)
        // Three GPUs on a node with two.
        #expect(SwarmPlacement.place([demand(1, gpus: 3)], job: "j", nodes: nodes, constraints: [], inUse: []).isNever)
        // A gang of three node-sized hosts on two nodes.
        #expect(SwarmPlacement.place(
            [demand(64), demand(64), demand(64)], job: "j", nodes: nodes, constraints: ["node.hostname!=gpu"], inUse: []).isNever)
    }

    @Test("GPUs: only nodes with them, and only as many as are not reserved")
    func gpus() {
        #expect(SwarmPlacement.place([demand(8, gpus: 1)], job: "j", nodes: nodes, constraints: [], inUse: [])
            == .placed([pinned("g", 8, gpus: 1)]))
        #expect(SwarmPlacement.place([demand(8, gpus: 1)], job: "j", nodes: nodes, constraints: [], inUse: [pinned("g", 8, gpus: 1)])
            .isPlaced)
        #expect(SwarmPlacement.place([demand(8, gpus: 1)], job: "j", nodes: nodes, constraints: [], inUse: [pinned("g", 8, gpus: 2)])
            .isNotNow)
        #expect(SwarmPlacement.place(
            [demand(8, gpus: 1), demand(8, gpus: 1)], job: "j", nodes: nodes, constraints: [], inUse: [])
            == .placed([pinned("g", 8, gpus: 1), pinned("g", 8, gpus: 1)]))
    }

    @Test("hosts that have a node keep it and count there")
    func fixed() {
        let constraints = ["node.hostname!=gpu"]
        #expect(SwarmPlacement.place(
            [demand(16), demand(16)], job: "j", nodes: nodes, constraints: constraints, inUse: [], fixed: [pinned("a", 16), nil])
            == .placed([pinned("a", 16), pinned("b", 16)]))
        #expect(SwarmPlacement.place(
            [demand(16), demand(16)], job: "j", nodes: nodes, constraints: constraints, inUse: [pinned("b", 30)],
            fixed: [pinned("a", 16), nil]).isNotNow)
    }

    @Test("the charge travels in labels and is read back")
    func labels() {
        var labels: [String: String] = [:]
        SwarmPlacement.Charge(memoryBytes: 5, gpus: 1).write(to: &labels)
        #expect(SwarmPlacement.Charge(labels: labels) == .init(memoryBytes: 5, gpus: 1))
        #expect(SwarmPlacement.Charge(labels: [:]) == .init(memoryBytes: 0, gpus: 0))
    }
}

extension SwarmPlacement.Outcome {
    var isPlaced: Bool { if case .placed = self { true } else { false } }
    var isNotNow: Bool { if case .notNow = self { true } else { false } }
    var isNever: Bool { if case .never = self { true } else { false } }
}

/// SwarmStagingEngine's requests to a fake manager.
struct SwarmStagingEngineRequestTests {
    private static let nodes = #"""
        [{"ID":"m1","Description":{"Hostname":"manager"},"Spec":{"Role":"manager","Availability":"active"},"Status":{"State":"ready"}},
         {"ID":"w1","Description":{"Hostname":"worker-1"},"Spec":{"Role":"worker","Availability":"active"},"Status":{"State":"ready"}},
         {"ID":"w2","Description":{"Hostname":"worker-2"},"Spec":{"Role":"worker","Availability":"active","Labels":{"gpu":"no"}},"Status":{"State":"ready"}},
         {"ID":"w3","Description":{"Hostname":"worker-3"},"Spec":{"Role":"worker","Availability":"active"},"Status":{"State":"down"}}]
        """#
    /// One Trainyard service pinned to w1 already.
    private static let pinned = #"[{"ID":"s0","Spec":{"Name":"other-algo-1","Labels":{"trainyard.swarm-node":"w1"}}}]"#
    private static let helper = #"{"ID":"h1","Version":{"Index":3},"Spec":{"Name":"c-algo-1-stage-in","Labels":{}}}"#

    private func engine(taskState: String, exitCode: Int?) throws -> FakeEngine {
        let status = exitCode.map { #","ContainerStatus":{"ExitCode":\#($0)}"# } ?? ""
        let tasks = #"[{"ID":"t1","Version":{"Index":5},"NodeID":"w2","Status":{"State":"\#(taskState)""# + status + "}}]"
        return try FakeEngine { method, path in
            switch (method, path) {
            case ("GET", "/version"): (200, #"{"ApiVersion":"1.41","MinAPIVersion":"1.12"}"#)
            case ("GET", let p) where p.hasPrefix("/v1.41/nodes"): (200, Self.nodes)
            case ("GET", let p) where p.hasPrefix("/v1.41/services?"): (200, Self.pinned)
            case ("POST", "/v1.41/services/create"): (201, #"{"ID":"h1"}"#)
            case ("GET", let p) where p.hasPrefix("/v1.41/services/c-algo-1-stage-in/logs"): (200, "")
            case ("GET", "/v1.41/services/c-algo-1-stage-in"): (200, Self.helper)
            case ("GET", let p) where p.hasPrefix("/v1.41/tasks"): (200, tasks)
            case ("DELETE", "/v1.41/services/c-algo-1-stage-in"): (200, "")
            default: (400, #"{"message":"unexpected"}"#)
            }
        }
    }

    private func staging(_ engine: FakeEngine) throws -> SwarmStagingEngine {
        let swarm = try SwarmRuntime(
            host: "unix://" + engine.path, options: .init(constraints: ["node.role==worker"]), logger: .init(label: "test"))
        return SwarmStagingEngine(swarm: swarm, registry: "10.0.0.1:5000", logger: .init(label: "test"), pollInterval: .milliseconds(10))
    }

    private var helperSpec: ContainerSpec {
        ContainerSpec(
            name: "c-algo-1-stage-in", image: "10.0.0.1:5000/trainyard/stage:1", entrypoint: ["/bin/sh", "-c", "true"],
            labels: [SwarmServiceSpec.nodeLabel: "w2"], hostname: "algo-1", networkMode: "host")
    }

    @Test("place pins a job's hosts to ready workers, the least loaded first, and keeps everything else")
    func place() async throws {
        let engine = try engine(taskState: "complete", exitCode: 0)
        defer { engine.stop() }
        let hosts = ["algo-1", "algo-2"].map {
            ContainerSpec(name: "trainyard-1-job-\($0)", image: "i", labels: ["trainyard.host": $0], hostname: $0)
        }
        let placed = try await staging(engine).place(hosts)
        #expect(placed.map { $0.labels[SwarmServiceSpec.nodeLabel] } == ["w2", "w1"])
        #expect(placed.map { $0.labels["trainyard.host"] } == ["algo-1", "algo-2"])
        #expect(placed.map(\.name) == hosts.map(\.name))
    }

    @Test("capacity: what is pinned comes from the services' labels; a placement is held until released")
    func capacity() async throws {
        // One worker of 16 GiB; another job's training service holds 10 GiB of it.
        let nodes = #"[{"ID":"w1","Description":{"Hostname":"worker-1","Resources":{"MemoryBytes":17179869184}},"Spec":{"Role":"worker","Availability":"active"},"Status":{"State":"ready"}}]"#
        let services = Mutex(#"[{"ID":"s0","Spec":{"Name":"other-algo-1","Labels":{"trainyard.swarm-node":"w1","trainyard.swarm-memory":"10737418240"}}}]"#)
        let engine = try FakeEngine { method, path in
            switch (method, path) {
            case ("GET", "/version"): (200, #"{"ApiVersion":"1.41","MinAPIVersion":"1.12"}"#)
            case ("GET", let p) where p.hasPrefix("/v1.41/nodes"): (200, nodes)
            case ("GET", let p) where p.hasPrefix("/v1.41/services?"): (200, services.withLock { $0 })
            default: (400, #"{"message":"unexpected"}"#)
            }
        }
        defer { engine.stop() }
        let staging = try staging(engine)
        func host(_ job: String, gib: Int64, host: String = "algo-1") -> ContainerSpec {
            ContainerSpec(name: "\(job)-\(host)", image: "i", hostname: host, memoryLimitBytes: gib << 30)
        }
        func place(_ hosts: [ContainerSpec]) async -> Result<[ContainerSpec], ContainerRuntimeError> {
            do {
                return .success(try await staging.place(hosts))
            } catch {
                return .failure(error)
            }
        }
        func waits(_ result: Result<[ContainerSpec], ContainerRuntimeError>) -> Bool {
            if case .failure(.insufficientCapacity) = result { true } else { false }
        }
        func node(_ result: Result<[ContainerSpec], ContainerRuntimeError>) -> String? {
            (try? result.get())?.first?.labels[SwarmServiceSpec.nodeLabel]
        }
        // 8 GiB does not fit beside 10 now, but would on the empty node.
        #expect(waits(await place([host("a", gib: 8)])))
        // 4 GiB fits, and is labelled with its node and charge.
        let placed = try await place([host("b", gib: 4)]).get()
        #expect(placed[0].labels[SwarmServiceSpec.nodeLabel] == "w1")
        #expect(SwarmPlacement.Charge(labels: placed[0].labels) == .init(memoryBytes: 4 << 30, gpus: 0))
        // Held: a second job sees those 4 GiB although no service of b exists yet, and b's
        // launch gets the same node again.
        #expect(waits(await place([host("c", gib: 4)])))
        #expect(node(await place([host("b", gib: 4)])) == "w1")
        staging.release(["b-algo-1"])
        #expect(node(await place([host("c", gib: 4)])) == "w1")
        // The other job's service is gone (its job ended) and c released: a node-sized host fits,
        // charged the node's memory.
        services.withLock { $0 = "[]" }
        staging.release(["c-algo-1"])
        let whole = try await place([host("d", gib: 64)]).get()
        #expect(whole[0].labels[SwarmPlacement.Charge.memoryLabel] == String(Int64(16) << 30))
        // Two node-sized hosts on the one node: never, a failure rather than a wait.
        guard case .failure(.engine(_, let message)) = await place([host("e", gib: 16), host("e", gib: 16, host: "algo-2")]) else {
            Issue.record("two node-sized hosts on one node did not fail")
            return
        }
        #expect(message.contains("even when they are empty"))
    }

    @Test("a helper runs as a service to its task's end; its exit code comes back and the service goes")
    func runHelper() async throws {
        let engine = try engine(taskState: "failed", exitCode: 3)
        defer { engine.stop() }
        let result = try await staging(engine).runHelper(helperSpec)
        #expect(result.exitCode == 3)
        let requests = engine.requests.filter { !$0.hasPrefix("GET /version") }
        #expect(requests.first == "POST /v1.41/services/create")
        #expect(requests.last == "DELETE /v1.41/services/c-algo-1-stage-in")
    }

    @Test("a helper whose task never ran (rejected) reports exit code -1 with Swarm's words")
    func rejected() async throws {
        let engine = try engine(taskState: "rejected", exitCode: nil)
        defer { engine.stop() }
        let result = try await staging(engine).runHelper(helperSpec)
        #expect(result.exitCode == -1)
        #expect(result.output.contains("task rejected"))
    }
}
