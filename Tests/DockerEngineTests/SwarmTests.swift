import ContainerRuntime
import DockerEngine
import Foundation
import Logging
import Testing

/// `--runtime swarm`: the service spec sent to the manager, and what a service's tasks mean.
struct SwarmServiceSpecTests {
    private let nodes = [
        ClusterNode(id: "m", hostname: "manager", isManager: true, nanoCPUs: 2_000_000_000, memoryBytes: 4 << 30),
        ClusterNode(id: "w", hostname: "worker", nanoCPUs: 2_000_000_000, memoryBytes: 8 << 30),
    ]

    private func json(_ spec: SwarmServiceSpec) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(spec)) as? [String: Any])
    }

    private var host: ContainerSpec {
        ContainerSpec(
            name: "trainyard-abc-7-job-algo-2", image: "registry:5000/train:1", command: ["train"],
            environment: ["B": "2", "A": "1"], labels: ["trainyard.job": "job", "trainyard.host": "algo-2"],
            hostname: "algo-2", mounts: [.init(source: "/data/ws/input", target: "/opt/ml/input", readOnly: true)],
            shmSizeBytes: 1 << 30, memoryLimitBytes: 16 << 30, nanoCPUs: 4_000_000_000, pidsLimit: 4096)
    }

    @Test("one replica, no restart, the grace window, dnsrr, spread, the host's alias on the job network")
    func shape() throws {
        let spec = SwarmServiceSpec.make(
            for: host, serviceName: "trainyard-abc-7-job-algo-2", network: "trainyard-7-job", nodes: nodes,
            options: .init(constraints: ["node.role==worker"], stopGraceNanoseconds: 2_000_000_000))
        let body = try json(spec)
        #expect(body["Name"] as? String == "trainyard-abc-7-job-algo-2")
        #expect(body["Mode"] as? [String: [String: Int]] == ["Replicated": ["Replicas": 1]])
        #expect(body["EndpointSpec"] as? [String: String] == ["Mode": "dnsrr"])
        let labels = try #require(body["Labels"] as? [String: String])
        #expect(labels["trainyard.swarm-network"] == "trainyard-7-job")
        #expect(labels["trainyard.job"] == "job")
        let task = try #require(body["TaskTemplate"] as? [String: Any])
        #expect(task["RestartPolicy"] as? [String: String] == ["Condition": "none"])
        let container = try #require(task["ContainerSpec"] as? [String: Any])
        #expect(container["Image"] as? String == "registry:5000/train:1")
        #expect(container["Command"] == nil)  // the image's ENTRYPOINT
        #expect(container["Args"] as? [String] == ["train"])
        #expect(container["Hostname"] as? String == "algo-2")
        #expect(container["Env"] as? [String] == ["A=1", "B=2"])
        #expect(container["StopGracePeriod"] as? Int == 2_000_000_000)
        let mounts = try #require(container["Mounts"] as? [[String: Any]])
        #expect(mounts.count == 2)
        #expect(mounts[0]["Type"] as? String == "bind")
        #expect(mounts[0]["Source"] as? String == "/data/ws/input")
        #expect(mounts[0]["Target"] as? String == "/opt/ml/input")
        #expect(mounts[0]["ReadOnly"] as? Bool == true)
        #expect(mounts[1]["Type"] as? String == "tmpfs")
        #expect(mounts[1]["Target"] as? String == "/dev/shm")
        #expect((mounts[1]["TmpfsOptions"] as? [String: Int])?["SizeBytes"] == 1 << 30)
        let placement = try #require(task["Placement"] as? [String: Any])
        #expect(placement["Constraints"] as? [String] == ["node.role==worker"])
        #expect(placement["Preferences"] as? [[String: [String: String]]] == [["Spread": ["SpreadDescriptor": "node.id"]]])
        let networks = try #require(task["Networks"] as? [[String: Any]])
        #expect(networks.count == 1)
        #expect(networks[0]["Target"] as? String == "trainyard-7-job")
        #expect(networks[0]["Aliases"] as? [String] == ["algo-2"])
    }

    @Test("limits capped at the largest node; no CPU or memory reservations (a too-big one would pend forever)")
    func resources() throws {
        let body = try json(SwarmServiceSpec.make(for: host, serviceName: "s", network: "n", nodes: nodes, options: .init()))
        let resources = try #require((body["TaskTemplate"] as? [String: Any])?["Resources"] as? [String: Any])
        let limits = try #require(resources["Limits"] as? [String: Int])
        #expect(limits == ["NanoCPUs": 2_000_000_000, "MemoryBytes": 8 << 30, "Pids": 4096])
        #expect(resources["Reservations"] == nil)
    }

    @Test("GPUs are reserved as the NVIDIA-GPU generic resource")
    func gpus() throws {
        var gpuHost = host
        gpuHost.gpuCount = 4
        let body = try json(SwarmServiceSpec.make(for: gpuHost, serviceName: "s", network: "n", nodes: nodes, options: .init()))
        let resources = try #require((body["TaskTemplate"] as? [String: Any])?["Resources"] as? [String: Any])
        let reservations = try #require(resources["Reservations"] as? [String: Any])
        let generic = try #require(reservations["GenericResources"] as? [[String: [String: Any]]])
        #expect(generic.count == 1)
        #expect(generic[0]["DiscreteResourceSpec"]?["Kind"] as? String == "NVIDIA-GPU")
        #expect(generic[0]["DiscreteResourceSpec"]?["Value"] as? Int == 4)
    }

    @Test("ContainerEntrypoint becomes Swarm's Command")
    func entrypoint() throws {
        var custom = host
        custom.entrypoint = ["/bin/sh", "-c", "echo hi"]
        custom.command = []
        let body = try json(SwarmServiceSpec.make(for: custom, serviceName: "s", network: "n", nodes: nodes, options: .init()))
        let container = try #require((body["TaskTemplate"] as? [String: Any])?["ContainerSpec"] as? [String: Any])
        #expect(container["Command"] as? [String] == ["/bin/sh", "-c", "echo hi"])
        #expect(container["Args"] as? [String] == [])
    }

    @Test("service names fit Swarm's 63 characters and stay deterministic")
    func names() {
        #expect(SwarmServiceSpec.serviceName(for: "trainyard-1-job-algo-1") == "trainyard-1-job-algo-1")
        let long = "trainyard-0123456789abcdef-42-" + String(repeating: "x", count: 63) + "-algo-1"
        let name = SwarmServiceSpec.serviceName(for: long)
        #expect(name.count <= 63)
        #expect(name.hasPrefix("trainyard-0123456789abcdef-42-"))
        #expect(name.hasSuffix("-algo-1"))
        #expect(name == SwarmServiceSpec.serviceName(for: long))
        #expect(name != SwarmServiceSpec.serviceName(for: long.replacingOccurrences(of: "algo-1", with: "algo-2")))
    }
}

/// What `GET /tasks` answers mean for the scheduler (fake answers, as the manager sends them).
struct SwarmTaskStateTests {
    private func tasks(_ json: String) throws -> [SwarmTask] {
        try JSONDecoder().decode([SwarmTask].self, from: Data(json.utf8))
    }

    private let nodes = [
        "w": ClusterNode(id: "w", hostname: "worker", state: .ready, nanoCPUs: 1, memoryBytes: 1),
        "d": ClusterNode(id: "d", hostname: "gpu-box-3", state: .down, nanoCPUs: 1, memoryBytes: 1),
    ]

    private func state(_ json: String, labels: [String: String] = [:]) throws -> ContainerState {
        SwarmTaskState.state(name: "svc", serviceID: "id", labels: labels, tasks: try tasks(json), nodes: nodes)
    }

    @Test("complete → exit 0; failed → its exit code")
    func exits() throws {
        let complete = try state(#"[{"ID":"t","Version":{"Index":5},"NodeID":"w","Status":{"State":"complete","ContainerStatus":{"ExitCode":0}}}]"#)
        #expect(complete.status == .exited)
        #expect(complete.exitCode == 0)
        let failed = try state(
            #"[{"ID":"t","NodeID":"w","Status":{"State":"failed","Err":"task: non-zero exit (3)","ContainerStatus":{"ExitCode":3}}}]"#)
        #expect(failed.exitCode == 3)
        #expect(failed.loss == nil)
    }

    @Test("the newest task counts")
    func newest() throws {
        let state = try state(
            #"[{"ID":"old","Version":{"Index":9},"Status":{"State":"failed","ContainerStatus":{"ExitCode":2}}},"#
                + #"{"ID":"new","Version":{"Index":12},"NodeID":"w","Status":{"State":"running"}}]"#)
        #expect(state.isRunning)
    }

    @Test("pending, no task yet, and running on a live node: running")
    func running() throws {
        #expect(try state(#"[{"ID":"t","Status":{"State":"pending"}}]"#).isRunning)
        #expect(try state("[]").isRunning)
        #expect(try state(#"[{"ID":"t","NodeID":"w","Status":{"State":"running"}}]"#).isRunning)
    }

    @Test("a stop: running through the grace window, then 143 or 137 once Swarm reaped the task")
    func stopped() throws {
        let term = ["trainyard.stop": "SIGTERM"]
        #expect(try state(#"[{"ID":"t","NodeID":"w","DesiredState":"remove","Status":{"State":"running"}}]"#, labels: term).isRunning)
        let shutdown = try state(#"[{"ID":"t","NodeID":"w","Status":{"State":"shutdown","ContainerStatus":{"ExitCode":0}}}]"#, labels: term)
        #expect(shutdown.exitCode == 0)  // a handler that exited 0
        #expect(try state("[]", labels: term).exitCode == 143)
        #expect(try state("[]", labels: ["trainyard.stop": "SIGKILL"]).exitCode == 137)
    }

    @Test("a task on a node that is down, or orphaned: the instance was lost")
    func nodeDeath() throws {
        let onDeadNode = try state(#"[{"ID":"t","NodeID":"d","Status":{"State":"running"}}]"#)
        #expect(onDeadNode.status == .exited)
        #expect(onDeadNode.loss == .nodeLost("Swarm node gpu-box-3 is down"))
        let orphaned = try state(#"[{"ID":"t","NodeID":"d","Status":{"State":"orphaned"}}]"#)
        #expect(orphaned.loss == .nodeLost("Swarm node gpu-box-3 is unreachable; its task was orphaned"))
        // Being stopped anyway: the stop is what the user sees.
        #expect(try state(#"[{"ID":"t","NodeID":"d","Status":{"State":"running"}}]"#, labels: ["trainyard.stop": "SIGTERM"]).loss == nil)
    }

    @Test("rejected (no such image on the node): the cluster's words")
    func rejected() throws {
        let rejected = try state(
            #"[{"ID":"t","NodeID":"w","Status":{"State":"rejected","Err":"No such image: nope:1","Message":"preparing"}}]"#)
        #expect(rejected.status == .exited)
        #expect(rejected.loss == .rejected("No such image: nope:1"))
    }
}

/// What `SwarmRuntime` asks the manager (a fake engine answering as Docker 20.10 does).
struct SwarmRuntimeRequestTests {
    private static let service = #"{"ID":"svc1","Version":{"Index":42},"Spec":{"Name":"trainyard-1-j-algo-1","#
        + #""Labels":{"trainyard.job":"j","trainyard.swarm-network":"trainyard-1-j"},"Mode":{"Replicated":{"Replicas":1}}}}"#

    private func engine(tasks: String = "[]", nodes: String = "[]") throws -> FakeEngine {
        try FakeEngine { method, path in
            switch (method, path) {
            case ("GET", "/version"): (200, #"{"ApiVersion":"1.41","MinAPIVersion":"1.12"}"#)
            case ("GET", let p) where p.hasPrefix("/v1.41/services/trainyard-1-j-algo-1"): (200, Self.service)
            case ("GET", let p) where p.hasPrefix("/v1.41/services/"): (404, #"{"message":"service not found"}"#)
            case ("POST", let p) where p.hasPrefix("/v1.41/services/svc1/update"): (200, #"{"Warnings":null}"#)
            case ("GET", let p) where p.hasPrefix("/v1.41/tasks"): (200, tasks)
            case ("GET", let p) where p.hasPrefix("/v1.41/nodes"): (200, nodes)
            default: (400, #"{"message":"unexpected"}"#)
            }
        }
    }

    private func requests(_ engine: FakeEngine) -> [String] {
        engine.requests.filter { !$0.hasPrefix("GET /version") }
    }

    @Test("a stop scales the service to 0 at the version it was read at")
    func stop() async throws {
        let engine = try engine()
        defer { engine.stop() }
        let runtime = try SwarmRuntime(host: "unix://" + engine.path, options: .init(), logger: .init(label: "test"))
        try await runtime.kill(ContainerID("trainyard-1-j-algo-1"), signal: .term)
        #expect(requests(engine) == ["GET /v1.41/services/trainyard-1-j-algo-1", "POST /v1.41/services/svc1/update?version=42"])
    }

    @Test("a signal to a service that is gone: noSuchContainer (the scheduler skips it)")
    func stopMissing() async throws {
        let engine = try engine()
        defer { engine.stop() }
        let runtime = try SwarmRuntime(host: "unix://" + engine.path, options: .init(), logger: .init(label: "test"))
        await #expect(throws: ContainerRuntimeError.noSuchContainer("gone")) {
            try await runtime.kill(ContainerID("gone"), signal: .term)
        }
    }

    @Test("wait returns the exit of a task on a node the manager reports down, as a lost instance")
    func waitOnDeadNode() async throws {
        let engine = try engine(
            tasks: #"[{"ID":"t","NodeID":"n2","DesiredState":"shutdown","Status":{"State":"running"}}]"#,
            nodes: #"[{"ID":"n2","Description":{"Hostname":"box-2"},"Spec":{"Role":"worker"},"Status":{"State":"down"}}]"#)
        defer { engine.stop() }
        let runtime = try SwarmRuntime(host: "unix://" + engine.path, options: .init(), logger: .init(label: "test"))
        let exit = try await runtime.wait(ContainerID("trainyard-1-j-algo-1"))
        #expect(exit.loss == .nodeLost("Swarm node box-2 is down"))
        #expect(exit.exitCode != 0)
    }
}
