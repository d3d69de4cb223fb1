import ContainerRuntime
import DockerEngine
import Logging
import Testing

/// What `DockerRuntime.launch` asks the engine: Create → running in as few requests as it can.
struct LaunchRequestsTests {
    private func engine(nameInUse: Bool) throws -> FakeEngine {
        try FakeEngine { method, path in
            switch (method, path) {
            case ("GET", "/version"): (200, #"{"ApiVersion":"1.47","MinAPIVersion":"1.24"}"#)
            case ("GET", "/_ping"): (200, "OK")
            case ("POST", let p) where p.hasPrefix("/v1.47/containers/create"):
                nameInUse ? (409, #"{"message":"Conflict."}"#) : (201, #"{"Id":"abc","Warnings":[]}"#)
            case ("GET", let p) where p.hasSuffix("/json"):
                (200, #"{"Id":"abc","Name":"/n","State":{"Status":"created","ExitCode":0,"OOMKilled":false}}"#)
            case ("POST", let p) where p.hasSuffix("/start"): (204, "")
            default: (400, #"{"message":"unexpected"}"#)
            }
        }
    }

    @Test("a new container: create and start, nothing inspected")
    func fresh() async throws {
        let engine = try engine(nameInUse: false)
        defer { engine.stop() }
        let runtime = try DockerRuntime(host: "unix://" + engine.path, logger: Logger(label: "test"))
        try await runtime.launch([ContainerSpec(name: "n", image: "i", hostname: "algo-1")])
        #expect(engine.requests.filter { !$0.hasPrefix("GET /_ping") && !$0.hasPrefix("GET /version") } == [
            "POST /v1.47/containers/create?name=n", "POST /v1.47/containers/abc/start",
        ])
    }

    @Test("a container left by an earlier attempt: looked at, then started because it never ran")
    func adopted() async throws {
        let engine = try engine(nameInUse: true)
        defer { engine.stop() }
        let runtime = try DockerRuntime(host: "unix://" + engine.path, logger: Logger(label: "test"))
        try await runtime.launch([ContainerSpec(name: "n", image: "i", hostname: "algo-1")])
        #expect(engine.requests.filter { !$0.hasPrefix("GET /_ping") && !$0.hasPrefix("GET /version") } == [
            "POST /v1.47/containers/create?name=n", "GET /v1.47/containers/n/json", "POST /v1.47/containers/n/start",
        ])
    }
}
