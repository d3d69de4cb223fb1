import ContainerRuntime
import DockerEngine
import Foundation
import Logging
import Testing

/// The real Docker engine these tests run against, prepared once per test process:
/// `docker info` must work, and the offline test image is built (scripts/test-images/build.sh,
/// fast when it is already there). Without an engine the engine tests are skipped, unless CI=true,
/// where a missing engine fails them.
enum TestEngine {
    static let image = "trainyard-test/busybox:latest"
    static let host = DockerRuntime.host()
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    /// Every test container carries this label, so leftovers of a crashed run can be swept.
    static let labelKey = "trainyard.unittest"

    enum Status {
        case ready
        /// No engine and not CI: skip.
        case unavailable(String)
        /// Should work but does not: fail.
        case broken(String)
    }

    static let status: Status = prepare()

    /// For `.enabled(if:)`: false only when the engine tests are to be skipped.
    static var shouldRun: Bool { skipNotice }

    /// Evaluated once, so the reason is printed once rather than per test.
    private static let skipNotice: Bool = {
        if case .unavailable(let why) = status {
            print("DockerEngineTests: skipping engine tests: \(why)")
            return false
        }
        return true
    }()

    /// Call first in every engine test: throws (fails the test) when the engine is broken.
    static func runtime() throws -> DockerRuntime {
        switch status {
        case .ready: break
        case .unavailable(let why), .broken(let why): throw SetupError(description: why)
        }
        return try DockerRuntime(host: host, logger: logger)
    }

    /// TRAINYARD_TEST_LOG_LEVEL=debug (or trace) shows the client's own logging.
    static let logger: Logger = {
        var logger = Logger(label: "DockerEngineTests")
        logger.logLevel = ProcessInfo.processInfo.environment["TRAINYARD_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        return logger
    }()

    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private static func prepare() -> Status {
        let info = run(["docker", "info"])
        guard info.status == 0 else {
            let why = "docker info failed (\(info.output.split(separator: "\n").last ?? "no output")); "
                + "start an engine with scripts/start-dockerd.sh"
            return isCI ? .broken("CI=true but " + why) : .unavailable(why)
        }
        let build = run(["bash", packageRoot.appendingPathComponent("scripts/test-images/build.sh").path])
        guard build.status == 0 else {
            return .broken("scripts/test-images/build.sh failed: \(build.output)")
        }
        // Leftovers of an earlier run that crashed before its cleanup.
        let stale = run(["docker", "ps", "-aq", "--filter", "label=\(labelKey)"])
        let ids = stale.output.split(whereSeparator: \.isNewline).map(String.init)
        if !ids.isEmpty {
            _ = run(["docker", "rm", "-f"] + ids)
        }
        return .ready
    }

    /// Runs a command to completion, stdout and stderr together.
    static func run(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return (127, "\(arguments[0]): \(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A container spec for the test image, named `trainyard-unittest-<tag>-<random>`.
    static func spec(
        _ tag: String, behaviour: String, environment: [String: String] = [:], entrypoint: [String]? = nil,
        command: [String]? = nil, labels: [String: String] = [:], mounts: [ContainerSpec.Mount] = []
    ) -> ContainerSpec {
        var env = environment
        env["TRAINYARD_TEST_BEHAVIOUR"] = behaviour
        var allLabels = labels
        allLabels[labelKey] = "1"
        return ContainerSpec(
            name: uniqueName(tag), image: image, entrypoint: entrypoint, command: command, environment: env,
            labels: allLabels, hostname: "algo-1", mounts: mounts)
    }

    static func uniqueName(_ tag: String) -> String {
        "trainyard-unittest-\(tag)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}

extension DockerRuntime {
    /// Creates a container, runs `body`, and removes the container whatever happens.
    @discardableResult
    func withContainer<T>(
        _ spec: ContainerSpec, _ body: (ContainerID) async throws -> T
    ) async throws -> T {
        let id = try await create(spec)
        do {
            let result = try await body(id)
            try? await remove(id)
            return result
        } catch {
            try? await remove(id)
            throw error
        }
    }

    func allLogs(_ id: ContainerID, since: Date? = nil) async throws -> [LogLine] {
        var lines: [LogLine] = []
        for try await line in logs(id, since: since, follow: false) {
            lines.append(line)
        }
        return lines
    }

    /// Follows the logs until a line equal to `text` shows up (or `timeout` passes).
    func waitForLine(_ id: ContainerID, _ text: String, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for try await line in self.logs(id, since: nil, follow: true) where line.text == text {
                    return true
                }
                return false
            }
            group.addTask {
                try await Task.sleep(until: deadline)
                return false
            }
            let found = try await group.next() ?? false
            group.cancelAll()
            if !found {
                throw TestEngine.SetupError(description: "no line \"\(text)\" in the logs of \(id) within \(timeout)")
            }
        }
    }

    /// Polls inspect until `predicate` holds (or `timeout` passes).
    func waitForState(
        _ id: ContainerID, timeout: Duration = .seconds(10), _ predicate: (ContainerState) -> Bool
    ) async throws -> ContainerState {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let state = try await inspect(id), predicate(state) { return state }
            if ContinuousClock.now > deadline {
                throw TestEngine.SetupError(description: "container \(id) did not reach the expected state within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
