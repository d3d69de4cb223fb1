import ContainerRuntime
import DockerEngine
import Foundation
import Testing

/// Against the real engine (see `TestEngine`). Tests run in parallel; each container is named
/// `trainyard-unittest-...` and removed by `withContainer`.
@Suite("DockerRuntime against a real engine", .enabled(if: TestEngine.shouldRun, "needs a Docker engine (docker info)"))
struct DockerRuntimeTests {
    @Test("complete: exit 0, timestamped logs on both streams, inspect after the end")
    func completeRun() async throws {
        let runtime = try TestEngine.runtime()
        let before = Date()
        let spec = TestEngine.spec("complete", behaviour: "complete")
        try await runtime.withContainer(spec) { id in
            let created = try #require(try await runtime.inspect(id))
            #expect(created.status == .created)
            #expect(created.name == spec.name)
            #expect(created.exitCode == nil)
            #expect(!created.isRunning)

            try await runtime.start(id)
            let exit = try await runtime.wait(id)
            #expect(exit.exitCode == 0)
            #expect(!exit.oomKilled)

            // Starting it again does not run the job a second time.
            try await runtime.start(id)
            #expect(try await runtime.inspect(id)?.status == .exited)

            let lines = try await runtime.allLogs(id)
            let texts = lines.map(\.text)
            #expect(texts.contains("starting training (args: train)"))
            #expect(texts.contains("epoch=3 loss=0.5"))
            #expect(texts.contains("training complete"))
            #expect(lines.contains { $0.text == "a line on stderr" && $0.stream == .stderr })
            #expect(lines.filter { $0.stream == .stdout }.count == 5)
            for line in lines {
                #expect(line.timestamp > before.addingTimeInterval(-5) && line.timestamp < Date().addingTimeInterval(5))
            }
            let stdout = lines.filter { $0.stream == .stdout }
            #expect(zip(stdout, stdout.dropFirst()).allSatisfy { $0.timestamp <= $1.timestamp })

            let state = try #require(try await runtime.inspect(id))
            #expect(state.status == .exited)
            #expect(state.exitCode == 0)
            #expect(state.name == spec.name)
        }
    }

    @Test("fail: exit code 3, or the one asked for")
    func failRun() async throws {
        let runtime = try TestEngine.runtime()
        try await runtime.withContainer(TestEngine.spec("fail", behaviour: "fail")) { id in
            try await runtime.start(id)
            #expect(try await runtime.wait(id).exitCode == 3)
            #expect(try await runtime.inspect(id)?.exitCode == 3)
        }
        let custom = TestEngine.spec("fail42", behaviour: "fail", environment: ["TRAINYARD_TEST_EXIT_CODE": "42"])
        try await runtime.withContainer(custom) { id in
            try await runtime.start(id)
            #expect(try await runtime.wait(id).exitCode == 42)
        }
    }

    @Test("trap-term: SIGTERM reaches the trap, which saves and exits 0")
    func trapTerm() async throws {
        let runtime = try TestEngine.runtime()
        try await runtime.withContainer(TestEngine.spec("trapterm", behaviour: "trap-term")) { id in
            try await runtime.start(id)
            try await runtime.waitForLine(id, "ready")
            try await runtime.start(id)  // starting a running container is not an error
            let sent = ContinuousClock.now
            try await runtime.kill(id, signal: .term)
            let exit = try await runtime.wait(id)
            let elapsed = ContinuousClock.now - sent
            #expect(exit.exitCode == 0)
            #expect(elapsed < .seconds(5))
            #expect(try await runtime.allLogs(id).map(\.text).contains("got SIGTERM"))
            // Signalling a container that has exited is not an error.
            try await runtime.kill(id, signal: .term)
            try await runtime.kill(id, signal: .kill)
        }
    }

    @Test("ignore-term: survives SIGTERM, dies on SIGKILL with 137")
    func ignoreTerm() async throws {
        let runtime = try TestEngine.runtime()
        try await runtime.withContainer(TestEngine.spec("ignoreterm", behaviour: "ignore-term")) { id in
            try await runtime.start(id)
            try await runtime.waitForLine(id, "ready")
            try await runtime.kill(id, signal: .term)
            try await runtime.waitForLine(id, "ignoring SIGTERM")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await runtime.inspect(id)?.isRunning == true)
            try await runtime.kill(id, signal: .kill)
            let exit = try await runtime.wait(id)
            #expect(exit.exitCode == 137)
            #expect(try await runtime.inspect(id)?.status == .exited)
        }
    }

    struct Override: Sendable, CustomTestStringConvertible {
        var entrypoint: [String]?
        var command: [String]?
        var expected: String
        var testDescription: String { "entrypoint \(entrypoint ?? []) command \(command ?? []) → \(expected)" }
    }

    static let script = ["/bin/sh", "/usr/local/bin/train-entry.sh"]

    @Test(
        "entrypoint and command overrides reach the program",
        arguments: [
            Override(entrypoint: nil, command: nil, expected: "ARGS=train"),  // the image's CMD
            Override(entrypoint: nil, command: ["a", "b c"], expected: "ARGS=a b c"),  // Cmd replaces CMD
            Override(entrypoint: script + ["custom"], command: nil, expected: "ARGS=custom"),  // image CMD dropped
            Override(entrypoint: script + ["custom"], command: ["x"], expected: "ARGS=custom x"),
        ])
    func overrides(_ override: Override) async throws {
        let runtime = try TestEngine.runtime()
        let spec = TestEngine.spec(
            "dump", behaviour: "dump", environment: ["SM_TEST": "value with spaces=and equals"],
            entrypoint: override.entrypoint, command: override.command)
        try await runtime.withContainer(spec) { id in
            try await runtime.start(id)
            #expect(try await runtime.wait(id).exitCode == 0)
            let texts = try await runtime.allLogs(id).map(\.text)
            #expect(texts.first == override.expected)
            #expect(texts.contains("HOSTNAME=algo-1"))
            #expect(texts.contains("ENV SM_TEST=value with spaces=and equals"))
        }
    }

    @Test("bind mounts: read-only input in, model out; resource limits accepted")
    func mounts() async throws {
        let runtime = try TestEngine.runtime()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestEngine.uniqueName("mounts"))
        let config = root.appendingPathComponent("config")
        let model = root.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try Data(#"{"epochs": "3"}"#.utf8).write(to: config.appendingPathComponent("hyperparameters.json"))

        var spec = TestEngine.spec(
            "mounts", behaviour: "dump",
            mounts: [
                .init(source: config.path, target: "/opt/ml/input/config", readOnly: true),
                .init(source: model.path, target: "/opt/ml/model"),
            ])
        spec.memoryLimitBytes = 256 << 20
        spec.nanoCPUs = 1_000_000_000
        spec.shmSizeBytes = 64 << 20
        try await runtime.withContainer(spec) { id in
            try await runtime.start(id)
            #expect(try await runtime.wait(id).exitCode == 0)
            let texts = try await runtime.allLogs(id).map(\.text)
            #expect(texts.contains(#"{"epochs": "3"}"#))
        }
        let copied = try String(contentsOf: model.appendingPathComponent("hyperparameters.json"), encoding: .utf8)
        #expect(copied == #"{"epochs": "3"}"#)
        #expect(FileManager.default.fileExists(atPath: model.appendingPathComponent("input-data-listing.txt").path))

        // A missing host directory is an engine error, not a silently created empty directory.
        let missing = TestEngine.spec(
            "mounts-missing", behaviour: "dump", mounts: [.init(source: root.path + "/nope", target: "/opt/ml/model")])
        let error = await #expect(throws: ContainerRuntimeError.self) {
            _ = try await runtime.withContainer(missing) { _ in }
        }
        if case .engine(let status, let message)? = error {
            #expect(status == 400)
            #expect(message.contains("does not exist"))
        } else {
            Issue.record("expected .engine(400, ...), got \(String(describing: error))")
        }
    }

    @Test("labels are stored and list(labels:) filters on all of them")
    func labelsAndList() async throws {
        let runtime = try TestEngine.runtime()
        let run = UUID().uuidString
        let first = TestEngine.spec("labels-a", behaviour: "complete", labels: ["trainyard.run": run, "role": "a"])
        let second = TestEngine.spec("labels-b", behaviour: "complete", labels: ["trainyard.run": run, "role": "b"])
        try await runtime.withContainer(first) { firstID in
            try await runtime.withContainer(second) { secondID in
                let both = try await runtime.list(labels: ["trainyard.run": run])
                #expect(Set(both.map(\.id)) == [firstID, secondID])
                #expect(Set(both.map(\.name)) == [first.name, second.name])
                let onlyB = try await runtime.list(labels: ["trainyard.run": run, "role": "b"])
                #expect(onlyB.map(\.id) == [secondID])
                #expect(onlyB.first?.labels["role"] == "b")
                #expect(onlyB.first?.labels["trainyard.run"] == run)
                #expect(onlyB.first?.status == .created)
                #expect(try await runtime.list(labels: ["trainyard.run": run, "role": "c"]).isEmpty)
            }
        }
        #expect(try await runtime.list(labels: ["trainyard.run": run]).isEmpty)
    }

    @Test("missing containers: inspect nil, remove fine, others noSuchContainer")
    func missingContainer() async throws {
        let runtime = try TestEngine.runtime()
        let id = ContainerID(TestEngine.uniqueName("missing"))
        #expect(try await runtime.inspect(id) == nil)
        try await runtime.remove(id)
        await #expect(throws: ContainerRuntimeError.noSuchContainer(id.rawValue)) { try await runtime.start(id) }
        await #expect(throws: ContainerRuntimeError.noSuchContainer(id.rawValue)) { try await runtime.kill(id, signal: .term) }
        await #expect(throws: ContainerRuntimeError.noSuchContainer(id.rawValue)) { _ = try await runtime.wait(id) }
        await #expect(throws: ContainerRuntimeError.noSuchContainer(id.rawValue)) { _ = try await runtime.allLogs(id) }
    }

    @Test("images: a missing image is .noSuchImage on create, false in imageExists")
    func missingImage() async throws {
        let runtime = try TestEngine.runtime()
        #expect(try await runtime.imageExists(TestEngine.image))
        let missing = "trainyard-test/does-not-exist:latest"
        #expect(try await runtime.imageExists(missing) == false)
        var spec = TestEngine.spec("noimage", behaviour: "complete")
        spec.image = missing
        await #expect(throws: ContainerRuntimeError.noSuchImage(missing)) {
            _ = try await runtime.withContainer(spec) { _ in }
        }
    }

    @Test("a second container with the same name is .nameInUse")
    func nameConflict() async throws {
        let runtime = try TestEngine.runtime()
        let spec = TestEngine.spec("conflict", behaviour: "complete")
        try await runtime.withContainer(spec) { _ in
            await #expect(throws: ContainerRuntimeError.nameInUse(spec.name)) {
                _ = try await runtime.withContainer(spec) { _ in }
            }
        }
    }

    @Test("following logs yields lines while the container runs, then ends; since is inclusive")
    func followLogs() async throws {
        let runtime = try TestEngine.runtime()
        let spec = TestEngine.spec("follow", behaviour: "ticker", environment: ["TRAINYARD_TEST_TICKS": "5", "TRAINYARD_TEST_TICK_SECONDS": "0.3"])
        try await runtime.withContainer(spec) { id in
            try await runtime.start(id)
            var arrivals: [(LogLine, ContinuousClock.Instant)] = []
            for try await line in runtime.logs(id, since: nil, follow: true) {
                arrivals.append((line, .now))
            }
            // The stream ended by itself: the container has stopped.
            #expect(arrivals.map(\.0.text) == (1...5).map { "tick \($0)" })
            if arrivals.count == 5 {
                // Streamed as printed, not all at once at the end. Ticks 3 → 5 are printed 0.6 s
                // apart; the first ticks may arrive together when the follow attaches late on a
                // loaded machine, so they are not compared.
                let gap = arrivals[4].1 - arrivals[2].1
                #expect(gap > .milliseconds(300), "ticks 3 → 5 arrived \(gap) apart")
            }
            #expect(try await runtime.wait(id).exitCode == 0)

            let all = arrivals.map(\.0)
            let fromThird = try await runtime.allLogs(id, since: all[2].timestamp)
            #expect(fromThird == Array(all[2...]))
            // A follow of a stopped container returns what is there and ends.
            var count = 0
            for try await _ in runtime.logs(id, since: nil, follow: true) { count += 1 }
            #expect(count == 5)
        }
    }

    @Test("many lines arrive complete and in order")
    func chattyLogs() async throws {
        let runtime = try TestEngine.runtime()
        let spec = TestEngine.spec("chatty", behaviour: "chatty", environment: ["TRAINYARD_TEST_LINES": "20000"])
        try await runtime.withContainer(spec) { id in
            try await runtime.start(id)
            // Follow from the start while it prints: the reader keeps up with a fast writer.
            var count = 0
            var inOrder = true
            for try await line in runtime.logs(id, since: nil, follow: true) {
                count += 1
                if line.text != "line \(count)" { inOrder = false }
            }
            #expect(count == 20000)
            #expect(inOrder)
            #expect(try await runtime.wait(id).exitCode == 0)
            let lines = try await runtime.allLogs(id)
            #expect(lines.count == 20000)
            #expect(lines.last?.text == "line 20000")
        }
    }

    @Test("a line longer than the engine's 16 KiB message limit comes back whole")
    func longLine() async throws {
        let runtime = try TestEngine.runtime()
        let spec = TestEngine.spec("longline", behaviour: "long-line", environment: ["TRAINYARD_TEST_LINE_LENGTH": "40000"])
        try await runtime.withContainer(spec) { id in
            try await runtime.start(id)
            #expect(try await runtime.wait(id).exitCode == 0)
            let texts = try await runtime.allLogs(id).map(\.text)
            #expect(texts == ["before", String(repeating: "x", count: 40000), "after"])
        }
    }

    @Test("cancelling a followed log or a wait ends it; long calls do not block short ones")
    func cancellation() async throws {
        let runtime = try TestEngine.runtime()
        let spec = TestEngine.spec("cancel", behaviour: "sleep", environment: ["TRAINYARD_TEST_SLEEP_SECONDS": "60"])
        try await runtime.withContainer(spec) { id in
            try await runtime.start(id)
            try await runtime.waitForLine(id, "ready")

            let follower = Task {
                var count = 0
                for try await _ in runtime.logs(id, since: nil, follow: true) { count += 1 }
                return count
            }
            let waiters = (0..<3).map { _ in Task { try await runtime.wait(id) } }
            try await Task.sleep(for: .milliseconds(200))

            // Four long requests are open; short ones still answer at once.
            let clock = ContinuousClock()
            let shortCalls = try await clock.measure {
                for _ in 0..<10 {
                    try await runtime.ping()
                    _ = try await runtime.inspect(id)
                }
            }
            #expect(shortCalls < .seconds(2))

            let cancelled = ContinuousClock.now
            follower.cancel()
            for waiter in waiters { waiter.cancel() }
            #expect(try await follower.value == 1)  // "ready", then nothing until cancelled
            for waiter in waiters {
                await #expect(throws: ContainerRuntimeError.cancelled) { _ = try await waiter.value }
            }
            #expect(ContinuousClock.now - cancelled < .seconds(3))
            #expect(try await runtime.inspect(id)?.isRunning == true)
        }
    }
}
