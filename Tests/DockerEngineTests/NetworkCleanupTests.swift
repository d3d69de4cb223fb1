import ContainerRuntime
import DockerEngine
import Logging
import Testing

/// Job networks a dead server left behind (issue 13: the network outlived its last container).
struct NetworkCleanupTests {
    @Test("only job networks (trainyard.network names the network) that the caller calls stale are removed")
    func removesStaleJobNetworksOnly() async throws {
        let listing = """
            [{"Name":"trainyard-1-done","Labels":{"trainyard.network":"trainyard-1-done","trainyard.job-id":"1"}},
             {"Name":"trainyard-2-running","Labels":{"trainyard.network":"trainyard-2-running","trainyard.job-id":"2"}},
             {"Name":"mislabelled","Labels":{"trainyard.network":"someone-else","trainyard.job-id":"1"}},
             {"Name":"busy","Labels":{"trainyard.network":"busy","trainyard.job-id":"3"}}]
            """
        let engine = try FakeEngine { method, path in
            switch (method, path) {
            case ("GET", "/version"): (200, #"{"ApiVersion":"1.47","MinAPIVersion":"1.24"}"#)
            case ("GET", "/_ping"): (200, "OK")
            case ("GET", let p) where p.hasPrefix("/v1.47/networks?"): (200, listing)
            case ("DELETE", "/v1.47/networks/trainyard-1-done"): (204, "")
            // Still has a container on it: the engine refuses, and the network stays.
            case ("DELETE", "/v1.47/networks/busy"): (403, #"{"message":"error while removing network: network busy has active endpoints"}"#)
            default: (400, #"{"message":"unexpected"}"#)
            }
        }
        defer { engine.stop() }
        let runtime = try DockerRuntime(host: "unix://" + engine.path, logger: Logger(label: "test"))
        let removed = try await runtime.removeJobNetworks(labels: ["trainyard.instance": "abc"]) { labels in
            labels["trainyard.job-id"] != "2"
        }
        #expect(removed == ["trainyard-1-done"])
        let asked = engine.requests.filter { !$0.hasPrefix("GET /_ping") && !$0.hasPrefix("GET /version") }
        // The listing is filtered by the instance label on the engine's side.
        #expect(asked.first?.hasPrefix("GET /v1.47/networks?filters=") == true)
        #expect(asked.first?.contains("trainyard.instance%3Dabc") == true)
        #expect(Array(asked.dropFirst()) == ["DELETE /v1.47/networks/trainyard-1-done", "DELETE /v1.47/networks/busy"])
    }
}
