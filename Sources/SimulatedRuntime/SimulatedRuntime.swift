public import ContainerRuntime
public import Foundation
import Synchronization

/// A container runtime that runs nothing: each "container" is a record whose life is computed from
/// when it started and which signals it received. It lets Trainyard serve as a fast, Docker-free
/// fixture for integration tests (`--runtime simulated`).
///
/// A test steers a job through the job's `Environment`:
/// - `TRAINYARD_SIMULATE_TRAINING_SECONDS`: how long "training" runs (default: `defaultTrainingSeconds`);
/// - `TRAINYARD_SIMULATE_EXIT_CODE`: the exit code when training ends by itself (default 0);
/// - `TRAINYARD_SIMULATE_FAILURE`: text written to `/opt/ml/output/failure` at exit, as a failing
///   algorithm would;
/// - `TRAINYARD_SIMULATE_IGNORE_SIGTERM` (`true`/`1`): SIGTERM is ignored, so only SIGKILL ends the
///   container (exit 137), exercising the grace window.
///
/// Records are kept as small JSON files under `stateDirectory`, so a restarted server finds its
/// simulated containers again exactly as it finds Docker containers.
public final class SimulatedRuntime: ContainerRuntime {
    public static let trainingSecondsVariable = "TRAINYARD_SIMULATE_TRAINING_SECONDS"
    public static let exitCodeVariable = "TRAINYARD_SIMULATE_EXIT_CODE"
    public static let failureVariable = "TRAINYARD_SIMULATE_FAILURE"
    public static let ignoreSIGTERMVariable = "TRAINYARD_SIMULATE_IGNORE_SIGTERM"

    /// A process that handles SIGTERM by exiting needs a moment to do so.
    static let sigtermExitDelay: TimeInterval = 0.05

    struct Record: Codable, Equatable {
        var id: String
        var spec: SpecSummary
        var createdAt: Date
        var startedAt: Date?
        var sigtermAt: Date?
        var sigkillAt: Date?
        var failureWritten: Bool = false
    }

    struct SpecSummary: Codable, Equatable {
        var name: String
        var labels: [String: String]
        var trainingSeconds: Double
        var exitCode: Int
        var failureText: String?
        var ignoresSIGTERM: Bool
        /// Host directory mounted at /opt/ml/output, where the failure file goes.
        var outputDirectory: String?
    }

    private let stateDirectory: URL
    private let defaultTrainingSeconds: Double
    private let images: Set<String>?
    private let records: Mutex<[String: Record]>
    private let now: @Sendable () -> Date

    /// - Parameters:
    ///   - stateDirectory: where container records are kept across restarts.
    ///   - defaultTrainingSeconds: training time when the job does not set one.
    ///   - knownImages: if set, only these images "exist" (to exercise the missing-image path); nil accepts any.
    public init(
        stateDirectory: URL, defaultTrainingSeconds: Double, knownImages: Set<String>? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        self.stateDirectory = stateDirectory
        self.defaultTrainingSeconds = defaultTrainingSeconds
        self.images = knownImages
        self.now = now
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        var loaded: [String: Record] = [:]
        let decoder = JSONDecoder()
        for file in try FileManager.default.contentsOfDirectory(atPath: stateDirectory.path) where file.hasSuffix(".json") {
            let url = stateDirectory.appendingPathComponent(file)
            if let data = try? Data(contentsOf: url), let record = try? decoder.decode(Record.self, from: data) {
                loaded[record.spec.name] = record
            }
        }
        records = Mutex(loaded)
    }

    public func create(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> ContainerID {
        if let images, !images.contains(spec.image) { throw .noSuchImage(spec.image) }
        let env = spec.environment
        let summary = SpecSummary(
            name: spec.name, labels: spec.labels,
            trainingSeconds: env[Self.trainingSecondsVariable].flatMap(Double.init) ?? defaultTrainingSeconds,
            exitCode: env[Self.exitCodeVariable].flatMap { Int($0) } ?? 0,
            failureText: env[Self.failureVariable],
            ignoresSIGTERM: ["true", "1", "yes"].contains(env[Self.ignoreSIGTERMVariable]?.lowercased() ?? ""),
            outputDirectory: spec.mounts.first { $0.target == "/opt/ml/output" }?.source)
        let record = Record(id: "sim-" + spec.name, spec: summary, createdAt: now())
        let inserted = records.withLock { records -> Bool in
            guard records[spec.name] == nil else { return false }
            records[spec.name] = record
            return true
        }
        guard inserted else { throw .nameInUse(spec.name) }
        try persist(record)
        return ContainerID(spec.name)
    }

    public func start(_ id: ContainerID) async throws(ContainerRuntimeError) {
        let record = try update(id) { record in
            if record.startedAt == nil { record.startedAt = now() }
        }
        try persist(record)
    }

    public func kill(_ id: ContainerID, signal: ContainerSignal) async throws(ContainerRuntimeError) {
        let at = now()
        let record = try update(id) { record in
            guard record.startedAt != nil, Self.exitTime(of: record) == nil || Self.exitTime(of: record)! > at else { return }
            switch signal {
            case .term: if record.sigtermAt == nil { record.sigtermAt = at }
            case .kill: if record.sigkillAt == nil { record.sigkillAt = at }
            }
        }
        try persist(record)
    }

    public func wait(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerExit {
        while true {
            guard let state = try await inspect(id) else { throw .noSuchContainer(id.rawValue) }
            if state.status == .exited, let code = state.exitCode {
                return ContainerExit(exitCode: code, oomKilled: false, finishedAt: state.finishedAt)
            }
            // Sleep until the computed exit time (or a short poll while it depends on a future signal).
            let record = records.withLock { $0[id.rawValue] }
            let exitAt = record.flatMap(Self.exitTime(of:))
            let delay = max(0.005, min(exitAt.map { $0.timeIntervalSince(now()) } ?? 0.05, 0.05))
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            if Task.isCancelled { throw .engine(status: 499, message: "wait cancelled") }
        }
    }

    public func inspect(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerState? {
        guard let record = records.withLock({ $0[id.rawValue] }) else { return nil }
        return state(of: record)
    }

    public func logs(_ id: ContainerID, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        let record = records.withLock { $0[id.rawValue] }
        return AsyncThrowingStream { continuation in
            if let record, let started = record.startedAt, since.map({ $0 <= started }) ?? true {
                continuation.yield(LogLine(timestamp: started, stream: .stdout, text: "simulated training container \(record.spec.name) started"))
            }
            continuation.finish()
        }
    }

    public func remove(_ id: ContainerID) async throws(ContainerRuntimeError) {
        records.withLock { _ = $0.removeValue(forKey: id.rawValue) }
        try? FileManager.default.removeItem(at: fileURL(id.rawValue))
    }

    public func imageExists(_ image: String) async throws(ContainerRuntimeError) -> Bool {
        images?.contains(image) ?? true
    }

    public func ping() async throws(ContainerRuntimeError) {}

    /// When the simulated process ends: at the end of training, shortly after SIGTERM unless it is
    /// ignored, or at SIGKILL, whichever comes first; nil while that is still open.
    static func exitTime(of record: Record) -> Date? {
        guard let started = record.startedAt else { return nil }
        var candidates = [started.addingTimeInterval(record.spec.trainingSeconds)]
        if let term = record.sigtermAt, !record.spec.ignoresSIGTERM { candidates.append(term.addingTimeInterval(sigtermExitDelay)) }
        if let kill = record.sigkillAt { candidates.append(kill) }
        return candidates.min()
    }

    static func exitCode(of record: Record, exitedAt: Date) -> Int {
        if let kill = record.sigkillAt, kill == exitedAt { return 137 }
        if let term = record.sigtermAt, !record.spec.ignoresSIGTERM, term.addingTimeInterval(sigtermExitDelay) == exitedAt {
            return 143
        }
        return record.spec.exitCode
    }

    private func state(of record: Record) -> ContainerState {
        let current = now()
        var state = ContainerState(
            id: ContainerID(record.id), name: record.spec.name, status: .created, labels: record.spec.labels,
            startedAt: record.startedAt)
        guard record.startedAt != nil else { return state }
        if let exitAt = Self.exitTime(of: record), exitAt <= current {
            state.status = .exited
            state.exitCode = Self.exitCode(of: record, exitedAt: exitAt)
            state.finishedAt = exitAt
            writeFailureFileOnce(record: record, exitCode: state.exitCode!)
        } else {
            state.status = .running
        }
        return state
    }

    /// A failing algorithm writes /opt/ml/output/failure before it exits (DG-out).
    private func writeFailureFileOnce(record: Record, exitCode: Int) {
        guard exitCode != 0, let text = record.spec.failureText, let directory = record.spec.outputDirectory,
            !record.failureWritten
        else { return }
        let shouldWrite = records.withLock { records -> Bool in
            guard var current = records[record.spec.name], !current.failureWritten else { return false }
            current.failureWritten = true
            records[record.spec.name] = current
            return true
        }
        if shouldWrite {
            try? Data(text.utf8).write(to: URL(fileURLWithPath: directory).appendingPathComponent("failure"))
            if let updated = records.withLock({ $0[record.spec.name] }) { try? persist(updated) }
        }
    }

    private func update(_ id: ContainerID, _ change: (inout Record) -> Void) throws(ContainerRuntimeError) -> Record {
        let updated = records.withLock { records -> Record? in
            guard var record = records[id.rawValue] else { return nil }
            change(&record)
            records[id.rawValue] = record
            return record
        }
        guard let updated else { throw .noSuchContainer(id.rawValue) }
        return updated
    }

    private func fileURL(_ name: String) -> URL { stateDirectory.appendingPathComponent(name + ".json") }

    private func persist(_ record: Record) throws(ContainerRuntimeError) {
        do {
            let data = try JSONEncoder().encode(record)
            try data.write(to: fileURL(record.spec.name), options: .atomic)
        } catch {
            throw .engine(status: 500, message: "cannot record simulated container \(record.spec.name): \(error)")
        }
    }
}
