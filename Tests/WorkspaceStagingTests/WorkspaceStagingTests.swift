import ContainerRuntime
import EventHTTP
import Foundation
import Logging
import Testing

@testable import WorkspaceStaging

@Suite("Staging tokens, plans and the endpoint")
struct WorkspaceStagingTests {
    let tokens = StagingTokens(secret: Data(repeating: 1, count: 32))

    func staging(_ scratch: Scratch, limit: Int64 = 1 << 20) -> WorkspaceStaging {
        WorkspaceStaging(
            tokens: tokens, spoolDirectory: scratch.root, maxOutputBytes: limit,
            advertise: { try? AdvertisedAddress(parsing: "http://10.1.2.3:8080") }, logger: Logger(label: "test"))
    }

    func spec(_ scratch: Scratch) throws -> ContainerSpec {
        for folder in ["ws/input/config", "ws/model", "ws/output", "ws/checkpoints"] { try scratch.folder(folder) }
        FileManager.default.createFile(atPath: scratch.path("ws/input/config/hyperparameters.json"), contents: Data("{}".utf8))
        return ContainerSpec(
            name: "trainyard-abc-1-job-algo-1", image: "img", labels: ["trainyard.job": "job", "trainyard.host": "algo-1", ContainerSpec.clusterNetworkLabel: "job-net"],
            hostname: "algo-1",
            mounts: [
                .init(source: scratch.path("ws/input"), target: "/opt/ml/input"),
                .init(source: scratch.path("ws/model"), target: "/opt/ml/model"),
                .init(source: scratch.path("ws/output"), target: "/opt/ml/output"),
                .init(source: scratch.path("ws/checkpoints"), target: "/opt/ml/checkpoints"),
            ])
    }

    @Test("a token depends on the secret, the container and the direction, and fits a URL")
    func tokenShape() {
        let a = tokens.token(container: "c1", direction: .stageIn)
        #expect(a == tokens.token(container: "c1", direction: .stageIn))
        #expect(a != tokens.token(container: "c1", direction: .stageOut))
        #expect(a != tokens.token(container: "c2", direction: .stageIn))
        #expect(a != StagingTokens(secret: Data(repeating: 2, count: 32)).token(container: "c1", direction: .stageIn))
        #expect(a.count == 43)
        #expect(a.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(StagingTokens.constantTimeEqual(a, a) && !StagingTokens.constantTimeEqual(a, String(a.dropLast()) + "x"))
    }

    @Test("bind mounts become labelled volumes at the same targets; the plan survives in the labels")
    func plan() throws {
        let scratch = try Scratch()
        let staging = staging(scratch)
        let plan = staging.plan(try spec(scratch))
        #expect(plan.training.mounts.map(\.kind) == [.volume, .volume, .volume, .volume])
        #expect(plan.training.mounts.map(\.target) == ["/opt/ml/input", "/opt/ml/model", "/opt/ml/output", "/opt/ml/checkpoints"])
        #expect(plan.training.mounts[1].source == "trainyard-abc-1-job-algo-1.stage1")
        #expect(plan.training.mounts[1].volumeLabels[StagedContainer.containerLabel] == "trainyard-abc-1-job-algo-1")
        #expect(plan.volumes.map(\.inputOnly) == [true, false, false, false])
        #expect(staging.plan(name: plan.training.name, labels: plan.training.labels)?.volumes == plan.volumes)
        #expect(staging.plan(name: "x", labels: [:]) == nil)
    }

    @Test("helpers run a fixed script on the host network with the volumes under /stage")
    func helpers() throws {
        let scratch = try Scratch()
        let staging = staging(scratch)
        let plan = staging.plan(try spec(scratch))
        let stageIn = try staging.helper(for: plan, .stageIn, image: "trainyard/stage:1")
        #expect(stageIn.networkMode == "host")
        #expect(stageIn.name == "trainyard-abc-1-job-algo-1-stage-in")
        #expect(stageIn.mounts.map(\.target) == ["/stage/0", "/stage/1", "/stage/2", "/stage/3"])
        #expect(stageIn.labels[StagedContainer.helperLabel] == "in" && stageIn.labels[StagedContainer.stagingLabel] == nil)
        // On network host, not on the job's network (created later, with the training containers).
        #expect(stageIn.clusterNetwork == nil)
        #expect(plan.training.clusterNetwork == "job-net")
        let token = tokens.token(container: plan.training.name, direction: .stageIn)
        #expect(stageIn.entrypoint?.last?.contains("wget -q -O - 'http://10.1.2.3:8080/_trainyard/staging/\(token)/in'") == true)
        let stageOut = try staging.helper(for: plan, .stageOut, image: "trainyard/stage:1")
        // /opt/ml/input (volume 0) does not go back.
        #expect(stageOut.entrypoint?.last?.contains("tar -c 1 2 3") == true)
        #expect(stageOut.entrypoint?.last?.contains("nc 10.1.2.3 8080") == true)
    }

    @Test("a URL works only while its transfer is open, and only in its direction")
    func endpoint() async throws {
        let scratch = try Scratch()
        let staging = staging(scratch)
        let plan = staging.plan(try spec(scratch))
        let inPath = "/_trainyard/staging/\(tokens.token(container: plan.training.name, direction: .stageIn))/in"
        #expect(await staging.respond(to: HTTPRequest(method: "GET", path: inPath)).status == 403)
        let transfer = staging.open(plan, .stageIn)
        let answer = await staging.respond(to: HTTPRequest(method: "GET", path: inPath))
        #expect(answer.status == 200)
        #expect(answer.file != nil)
        // The same token in the other direction, or another container's: refused.
        let outPath = "/_trainyard/staging/\(tokens.token(container: plan.training.name, direction: .stageIn))/out"
        #expect(await staging.respond(to: HTTPRequest(method: "POST", path: outPath, body: [1])).status == 403)
        #expect(await staging.respond(to: HTTPRequest(method: "GET", path: "/_trainyard/staging/nope/in")).status == 403)
        transfer.close()
        #expect(await staging.respond(to: HTTPRequest(method: "GET", path: inPath)).status == 403)
    }

    @Test("a stage-out body is unpacked into the workspace; too large is 413")
    func stageOut() async throws {
        let scratch = try Scratch()
        let staging = staging(scratch, limit: 4096)
        let plan = staging.plan(try spec(scratch))
        let path = "/_trainyard/staging/\(tokens.token(container: plan.training.name, direction: .stageOut))/out"
        var archive = Archive()
        archive.file("1/model.txt", "weights")
        archive.file("0/config/hyperparameters.json", "overwritten?")
        let transfer = staging.open(plan, .stageOut)
        defer { transfer.close() }
        #expect(await staging.respond(to: HTTPRequest(method: "POST", path: path, body: archive.finished())).status == 200)
        #expect(scratch.read("ws/model/model.txt") == "weights")
        #expect(scratch.read("ws/input/config/hyperparameters.json") == "{}")
        var big = Archive()
        big.file("1/big", String(repeating: "x", count: 9000))
        #expect(await staging.respond(to: HTTPRequest(method: "POST", path: path, body: big.finished())).status == 413)
    }

    @Test("the advertised address is http://host:port")
    func advertisedAddress() throws {
        let address = try AdvertisedAddress(parsing: "http://node-1.example:9000/")
        #expect(address.url == "http://node-1.example:9000" && address.host == "node-1.example" && address.port == 9000)
        for bad in ["https://a:1", "http://a", "http://a:0", "a:1", "http://a b:1", "http://[::1]:80"] {
            #expect(throws: StagingError.self) { try AdvertisedAddress(parsing: bad) }
        }
    }
}
