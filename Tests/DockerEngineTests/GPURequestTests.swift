import ContainerRuntime
@testable import DockerEngine
import Foundation
import Logging
import Testing

/// GPU instance types ask the engine for GPUs (issue 13 item 7).
@Suite("GPU requests")
struct GPURequestTests {
    @Test("a spec with GPUs: HostConfig.DeviceRequests asks the nvidia driver for that many, with the gpu capability")
    func createBodyCarriesDeviceRequests() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for count in [1, 4, 8] {
            let spec = ContainerSpec(name: "n", image: "img", hostname: "algo-1", gpuCount: count)
            let body = try #require(
                JSONSerialization.jsonObject(with: encoder.encode(ContainerCreateRequest(spec))) as? [String: Any])
            let hostConfig = try #require(body["HostConfig"] as? [String: Any])
            let requests = try #require(hostConfig["DeviceRequests"] as? [[String: Any]])
            #expect(requests.count == 1)
            #expect(requests[0]["Driver"] as? String == "nvidia")
            #expect(requests[0]["Count"] as? Int == count)
            #expect(requests[0]["Capabilities"] as? [[String]] == [["gpu"]])
        }
        let cpu = ContainerSpec(name: "n", image: "img", hostname: "algo-1")
        let json = String(decoding: try encoder.encode(ContainerCreateRequest(cpu)), as: UTF8.self)
        #expect(!json.contains("DeviceRequests"))
    }

    @Test("GET /info: a GPU runtime is the nvidia runtime, or CDI-discovered nvidia.com/gpu devices")
    func infoSaysWhetherTheEngineHasGPUs() throws {
        func decode(_ json: String) throws -> SystemInfoResponse {
            try JSONDecoder().decode(SystemInfoResponse.self, from: Data(json.utf8))
        }
        // This machine's engine (Docker 20.10): runc only.
        #expect(try !decode(#"{"Runtimes":{"io.containerd.runc.v2":{"path":"runc"},"runc":{"path":"runc"}},"DefaultRuntime":"runc"}"#).hasNVIDIAGPURuntime)
        #expect(try decode(#"{"Runtimes":{"nvidia":{"path":"nvidia-container-runtime","runtimeArgs":[]},"runc":{"path":"runc"}}}"#).hasNVIDIAGPURuntime)
        #expect(try decode(#"{"Runtimes":{"runc":{"path":"runc"}},"DiscoveredDevices":[{"Source":"cdi","ID":"nvidia.com/gpu=0"}]}"#).hasNVIDIAGPURuntime)
        #expect(try !decode(#"{"Runtimes":{"runc":{"path":"runc"}},"DiscoveredDevices":[{"Source":"cdi","ID":"vendor.com/fpga=0"}]}"#).hasNVIDIAGPURuntime)
        #expect(try !decode("{}").hasNVIDIAGPURuntime)
    }

    private func engine(runtimes: String) throws -> FakeEngine {
        try FakeEngine { method, path in
            switch (method, path) {
            case ("GET", "/version"): (200, #"{"ApiVersion":"1.47","MinAPIVersion":"1.24"}"#)
            case ("GET", "/_ping"): (200, "OK")
            case ("GET", "/v1.47/info"): (200, #"{"Runtimes":\#(runtimes)}"#)
            case ("POST", let p) where p.hasPrefix("/v1.47/containers/create"): (201, #"{"Id":"abc","Warnings":[]}"#)
            case ("POST", let p) where p.hasSuffix("/start"): (204, "")
            default: (400, #"{"message":"unexpected"}"#)
            }
        }
    }

    @Test("without a GPU runtime, launch fails before anything is created; CPU jobs do not ask")
    func launchChecksTheEngineFirst() async throws {
        let engine = try engine(runtimes: #"{"runc":{"path":"runc"}}"#)
        defer { engine.stop() }
        let runtime = try DockerRuntime(host: "unix://" + engine.path, logger: Logger(label: "test"))
        await #expect(throws: ContainerRuntimeError.noGPURuntime(requested: 4)) {
            try await runtime.launch([ContainerSpec(name: "n", image: "i", hostname: "algo-1", gpuCount: 4)])
        }
        #expect(engine.requests.filter { $0.contains("/containers/") }.isEmpty)
        try await runtime.launch([ContainerSpec(name: "c", image: "i", hostname: "algo-1")])
        #expect(engine.requests.filter { $0.hasSuffix("/info") }.count == 1)
        #expect(engine.requests.contains("POST /v1.47/containers/create?name=c"))
    }

    @Test("with the nvidia runtime, launch creates and starts the GPU containers")
    func launchWithAGPURuntime() async throws {
        let engine = try engine(runtimes: #"{"nvidia":{"path":"nvidia-container-runtime"},"runc":{"path":"runc"}}"#)
        defer { engine.stop() }
        let runtime = try DockerRuntime(host: "unix://" + engine.path, logger: Logger(label: "test"))
        try await runtime.launch([ContainerSpec(name: "g", image: "i", hostname: "algo-1", gpuCount: 1)])
        #expect(engine.requests.contains("POST /v1.47/containers/create?name=g"))
        #expect(engine.requests.contains("POST /v1.47/containers/abc/start"))
    }
}
