import ContainerRuntime
import DockerEngine
import Foundation
import Testing
import WorkspaceStaging

/// The staging image, helper runs and volumes on the real engine (see `TestEngine`).
@Suite("DockerStagingEngine against a real engine", .enabled(if: TestEngine.shouldRun, "needs a Docker engine (docker info)"))
struct DockerStagingEngineTests {
    func helper(_ tag: String, volume: String, script: String) -> ContainerSpec {
        ContainerSpec(
            name: TestEngine.uniqueName(tag), image: "", entrypoint: ["/bin/sh", "-c", script], command: [],
            environment: ["PATH": "/bin"], labels: [TestEngine.labelKey: "1"], hostname: "algo-1",
            mounts: [.init(source: volume, target: "/stage/0", kind: .volume, volumeLabels: [TestEngine.labelKey: "1"])],
            networkMode: "host")
    }

    @Test("the image is made from busybox, helpers run in it with a labelled volume, and the volume goes")
    func helpersAndVolumes() async throws {
        let engine = DockerStagingEngine(docker: try TestEngine.runtime(), logger: TestEngine.logger)
        let image = try await engine.stagingImage()
        #expect(image.hasPrefix("trainyard/stage:"))
        #expect(try await engine.stagingImage() == image)
        let volume = TestEngine.uniqueName("volume")
        defer { _ = TestEngine.run(["docker", "volume", "rm", "-f", volume]) }
        var write = helper("write", volume: volume, script: "echo staged > /stage/0/f && wc -c < /stage/0/f")
        write.image = image
        let written = try await engine.runHelper(write)
        #expect(written.exitCode == 0)
        #expect(written.output.contains("7"))
        #expect(TestEngine.run(["docker", "volume", "inspect", "--format", "{{ index .Labels \"\(TestEngine.labelKey)\" }}", volume]).output
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        var read = helper("read", volume: volume, script: "cat /stage/0/f; exit 4")
        read.image = image
        let second = try await engine.runHelper(read)
        #expect(second.exitCode == 4 && second.output.contains("staged"))
        // Helpers are removed once they have run.
        #expect(TestEngine.run(["docker", "ps", "-aq", "--filter", "name=\(read.name)"]).output.isEmpty)
        try await engine.removeVolumes([volume, volume + "-missing"])
        #expect(TestEngine.run(["docker", "volume", "inspect", volume]).status != 0)
    }
}
