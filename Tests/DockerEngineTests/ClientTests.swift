import ContainerRuntime
@testable import DockerEngine
import Foundation
import Logging
import Testing

/// No engine needed.
@Suite("Docker client without an engine")
struct ClientTests {
    @Test("an engine at a socket that does not exist is .engineUnreachable, quickly")
    func unreachable() async throws {
        let host = "unix:///nonexistent/trainyard/docker.sock"
        let runtime = try DockerRuntime(host: host, logger: Logger(label: "test"))
        let clock = ContinuousClock()
        let elapsed = await clock.measure {
            do {
                try await runtime.ping()
                Issue.record("ping succeeded")
            } catch {
                guard case ContainerRuntimeError.engineUnreachable(let message) = error else {
                    Issue.record("expected .engineUnreachable, got \(error)")
                    return
                }
                #expect(message.hasPrefix("cannot reach the Docker engine at \(host): "))
                #expect(message.contains("No such file or directory"))
            }
            // Versioned requests fail the same way (the negotiation cannot happen).
            await #expect(throws: ContainerRuntimeError.self) {
                _ = try await runtime.inspect(ContainerID("x"))
            }
            let stream = runtime.logs(ContainerID("x"), since: nil, follow: true)
            await #expect(throws: ContainerRuntimeError.self) {
                for try await _ in stream {}
            }
        }
        // Not a speed check: far below the 120 s request timeout, so the failure came from the
        // connect itself and nothing waited for a timeout (generous for a loaded machine).
        #expect(elapsed < .seconds(10))
    }

    @Test("a socket path that is not a socket is .engineUnreachable too")
    func notASocket() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-not-a-socket-\(UUID())").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("x".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let runtime = try DockerRuntime(host: "unix://" + path, logger: Logger(label: "test"))
        await #expect {
            try await runtime.ping()
        } throws: { error in
            if case ContainerRuntimeError.engineUnreachable(let message) = error {
                return message.contains(path)
            }
            return false
        }
    }

    @Test("against a newer engine (API 1.52, minimum 1.44) requests use /v1.47/")
    func newerEngine() async throws {
        let engine = try FakeEngine { method, path in
            switch (method, path) {
            case ("GET", "/version"): (200, #"{"Version":"29.0.0","ApiVersion":"1.52","MinAPIVersion":"1.44"}"#)
            case ("GET", "/_ping"): (200, "OK")
            case ("GET", let p) where p.hasPrefix("/v1.47/images/"): (404, #"{"message":"No such image: x"}"#)
            case ("POST", let p) where p.hasPrefix("/v1.47/containers/create"): (409, #"{"message":"Conflict."}"#)
            default: (400, #"{"message":"client version 1.41 is too old. Minimum supported API version is 1.44"}"#)
            }
        }
        defer { engine.stop() }
        let runtime = try DockerRuntime(host: "unix://" + engine.path, logger: Logger(label: "test"))
        try await runtime.ping()
        #expect(try await runtime.imageExists("trainyard-test/busybox:latest") == false)
        await #expect(throws: ContainerRuntimeError.nameInUse("n")) {
            _ = try await runtime.create(ContainerSpec(name: "n", image: "i", hostname: "h"))
        }
        #expect(
            engine.requests == [
                "GET /_ping", "GET /version", "GET /v1.47/images/trainyard-test/busybox:latest/json",
                "POST /v1.47/containers/create?name=n",
            ])
    }

    @Test("a wedged engine: requests time out as .engineUnreachable")
    func wedgedEngine() async throws {
        let engine = try FakeEngine { _, _ in nil }
        defer { engine.stop() }
        let runtime = try DockerRuntime(host: "unix://" + engine.path, logger: Logger(label: "test"), requestTimeout: .milliseconds(300))
        let clock = ContinuousClock()
        let elapsed = await clock.measure {
            await #expect {
                _ = try await runtime.inspect(ContainerID("x"))
            } throws: { error in
                guard case ContainerRuntimeError.engineUnreachable(let message) = error else { return false }
                return message.contains("timed out")
            }
        }
        // Not a speed check: the short timeout of this runtime ended the call, not the 120 s default.
        #expect(elapsed < .seconds(20))
    }

    @Test("engine errors carry the engine's message")
    func engineErrors() async throws {
        let engine = try FakeEngine { method, path in
            switch (method, path) {
            case ("GET", "/version"): (200, #"{"ApiVersion":"1.41","MinAPIVersion":"1.12"}"#)
            case ("POST", let p) where p.contains("/kill"): (409, #"{"message":"Container x is paused, unpause the container before stopping or killing"}"#)
            case ("POST", let p) where p.contains("/create"): (404, #"{"message":"network foo not found"}"#)
            default: (500, #"{"message":"something broke"}"#)
            }
        }
        defer { engine.stop() }
        let runtime = try DockerRuntime(host: "unix://" + engine.path, logger: Logger(label: "test"))
        await #expect(throws: ContainerRuntimeError.engine(status: 500, message: "something broke")) {
            try await runtime.start(ContainerID("x"))
        }
        await #expect(throws: ContainerRuntimeError.engine(status: 409, message: "Container x is paused, unpause the container before stopping or killing")) {
            try await runtime.kill(ContainerID("x"), signal: .term)
        }
        // A 404 on create that is not about the image is not .noSuchImage.
        await #expect(throws: ContainerRuntimeError.engine(status: 404, message: "network foo not found")) {
            _ = try await runtime.create(ContainerSpec(name: "n", image: "i", hostname: "h", networkMode: "foo"))
        }
    }

    @Test("only unix:// hosts are accepted", arguments: ["tcp://127.0.0.1:2375", "ssh://me@host", "/var/run/docker.sock", "unix://"])
    func rejectedHosts(host: String) throws {
        #expect {
            _ = try DockerRuntime(host: host, logger: Logger(label: "test"))
        } throws: { error in
            guard case ContainerRuntimeError.engineUnreachable(let message) = error else { return false }
            return message.contains(host) && message.contains("unix://")
        }
    }

    @Test("DOCKER_HOST is used when set")
    func hostFromEnvironment() {
        #expect(DockerRuntime.host(from: [:]) == "unix:///var/run/docker.sock")
        #expect(DockerRuntime.host(from: ["DOCKER_HOST": ""]) == "unix:///var/run/docker.sock")
        #expect(DockerRuntime.host(from: ["DOCKER_HOST": "unix:///run/user/1000/docker.sock"]) == "unix:///run/user/1000/docker.sock")
    }

    @Test("API version negotiation")
    func negotiation() throws {
        func negotiate(_ server: String, _ minimum: String?) -> String {
            APIVersion.negotiate(serverVersion: APIVersion(server)!, serverMinimum: minimum.flatMap(APIVersion.init)).description
        }
        #expect(negotiate("1.41", "1.12") == "1.41")  // Debian 12's 20.10
        #expect(negotiate("1.47", "1.24") == "1.47")
        #expect(negotiate("1.52", "1.44") == "1.47")  // engine 29+: newest we speak
        #expect(negotiate("1.60", "1.50") == "1.50")  // never below the engine's minimum
        #expect(negotiate("1.41", nil) == "1.41")
        #expect(APIVersion("1.9")! < APIVersion("1.41")!)
        #expect(APIVersion("1") == nil)
        #expect(APIVersion("v1.41") == nil)
    }

    @Test("query and path escaping")
    func escaping() {
        #expect(DockerClient.queryString([]) == "")
        #expect(DockerClient.queryString([("filters", #"{"label":["a=b c"]}"#)]) == "?filters=%7B%22label%22%3A%5B%22a%3Db%20c%22%5D%7D")
        #expect(DockerClient.escapeImageReference("trainyard-test/busybox:latest") == "trainyard-test/busybox:latest")
        #expect(DockerClient.escapeImageReference("repo@sha256:abc") == "repo@sha256:abc")
        #expect(DockerClient.containerPath(ContainerID("a/b"), "/json") == "/containers/a%2Fb/json")
    }

    @Test("create request body: entrypoint and cmd only when set, mounts as bind mounts")
    func createBody() throws {
        let spec = ContainerSpec(
            name: "n", image: "img", command: ["train"], environment: ["B": "2", "A": "1=x"], labels: ["k": "v"],
            hostname: "algo-1", mounts: [.init(source: "/s", target: "/t", readOnly: true)], networkMode: "none",
            shmSizeBytes: 1, memoryLimitBytes: 2, nanoCPUs: 3, pidsLimit: 4)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(ContainerCreateRequest(spec)), as: UTF8.self)
        #expect(
            json
                == #"{"AttachStderr":false,"AttachStdin":false,"AttachStdout":false,"Cmd":["train"],"Env":["A=1=x","B=2"],"#
                + #""HostConfig":{"Memory":2,"MemorySwap":2,"Mounts":[{"ReadOnly":true,"Source":"\/s","Target":"\/t","Type":"bind"}],"#
                + #""NanoCpus":3,"NetworkMode":"none","PidsLimit":4,"ShmSize":1},"Hostname":"algo-1","Image":"img","Labels":{"k":"v"},"#
                + #""OpenStdin":false,"Tty":false}"#)
    }

    @Test("inspect → ContainerState")
    func inspectMapping() throws {
        let json = #"""
            {"Id":"abc","Name":"/trainyard-x","State":{"Status":"exited","ExitCode":137,"OOMKilled":true,
             "StartedAt":"2024-05-07T21:09:36.123456789Z","FinishedAt":"2024-05-07T21:09:38.5Z"},
             "Config":{"Labels":{"a":"b"},"Tty":false}}
            """#
        let info = try JSONDecoder().decode(ContainerInspectResponse.self, from: Data(json.utf8))
        let state = DockerRuntime.state(from: info)
        #expect(state.id == ContainerID("abc"))
        #expect(state.name == "trainyard-x")
        #expect(state.status == .exited)
        #expect(state.exitCode == 137)
        #expect(state.oomKilled)
        #expect(state.labels == ["a": "b"])

        let created = #"""
            {"Id":"abc","Name":"/x","State":{"Status":"created","ExitCode":0,"OOMKilled":false,
             "StartedAt":"0001-01-01T00:00:00Z","FinishedAt":"0001-01-01T00:00:00Z"},"Config":{"Labels":null}}
            """#
        let createdState = DockerRuntime.state(from: try JSONDecoder().decode(ContainerInspectResponse.self, from: Data(created.utf8)))
        #expect(createdState.status == .created)
        #expect(createdState.exitCode == nil)
        #expect(createdState.labels.isEmpty)
    }
}
