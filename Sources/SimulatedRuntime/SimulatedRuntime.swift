public import ContainerRuntime
public import Foundation
import Synchronization
import TrainingCore

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
///   container (exit 137), exercising the grace window;
/// - `TRAINYARD_SIMULATE_FAILING_HOST` (`algo-2`): with several hosts, only that host exits with the
///   exit code and failure text, after `TRAINYARD_SIMULATE_FAILING_HOST_SECONDS`.
///
/// Records are kept in memory and in a journal under `stateDirectory` (one JSON line per change,
/// appended; compacted when it has grown well past the live records), so a restarted server finds
/// its simulated containers again exactly as it finds Docker containers. A file per record, written
/// three times and deleted once per job, held a burst of simulated jobs to the disk's pace.
public final class SimulatedRuntime: ContainerRuntime {
    public static let trainingSecondsVariable = "TRAINYARD_SIMULATE_TRAINING_SECONDS"
    public static let exitCodeVariable = "TRAINYARD_SIMULATE_EXIT_CODE"
    public static let failureVariable = "TRAINYARD_SIMULATE_FAILURE"
    public static let ignoreSIGTERMVariable = "TRAINYARD_SIMULATE_IGNORE_SIGTERM"
    /// With several hosts: only this host (`algo-2`) ends with the exit code and failure text; the
    /// others run on, with exit code 0, until they end by themselves or are stopped.
    public static let failingHostVariable = "TRAINYARD_SIMULATE_FAILING_HOST"
    /// How long the failing host runs before it fails (default: the training time).
    public static let failingHostSecondsVariable = "TRAINYARD_SIMULATE_FAILING_HOST_SECONDS"

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
    private let state: Mutex<State>
    private let now: @Sendable () -> Date

    private struct State {
        var records: [String: Record]
        var journal: FileHandle
        /// Lines in the journal: compacted when well past the live records.
        var journalLines: Int
    }

    /// One journal line: a record as it now is, or the name of a removed one.
    struct JournalEntry: Codable {
        var record: Record?
        var removed: String?
    }

    static let journalName = "containers.jsonl"

    /// - Parameters:
    ///   - stateDirectory: where container records are kept across restarts.
    ///   - defaultTrainingSeconds: training time when the job does not set one.
    ///   - knownImages: if set, only these images "exist" (to exercise the missing-image path); nil accepts any.
    public init(
        stateDirectory: URL, defaultTrainingSeconds: Double, knownImages: Set<String>? = nil,
        compactionSlack: Int = SimulatedRuntime.defaultCompactionSlack, now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        self.stateDirectory = stateDirectory
        self.defaultTrainingSeconds = defaultTrainingSeconds
        self.images = knownImages
        self.now = now
        self.compactionSlack = compactionSlack
        let fm = FileManager.default
        try fm.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        var loaded: [String: Record] = [:]
        let decoder = JSONDecoder()
        // Records of earlier versions, a JSON file each: taken over into the journal.
        for file in try fm.contentsOfDirectory(atPath: stateDirectory.path) where file.hasSuffix(".json") {
            let url = stateDirectory.appendingPathComponent(file)
            if let data = try? Data(contentsOf: url), let record = try? decoder.decode(Record.self, from: data) {
                loaded[record.spec.name] = record
            }
        }
        let journalURL = stateDirectory.appendingPathComponent(Self.journalName)
        if let data = try? Data(contentsOf: journalURL) {
            for line in data.split(separator: UInt8(ascii: "\n")) {
                // A line cut short by a crash is the last one; what it said was not acknowledged.
                guard let entry = try? decoder.decode(JournalEntry.self, from: line) else { continue }
                if let record = entry.record { loaded[record.spec.name] = record }
                if let removed = entry.removed { loaded[removed] = nil }
            }
        }
        try Self.writeCompacted(loaded, to: journalURL)
        for file in try fm.contentsOfDirectory(atPath: stateDirectory.path) where file.hasSuffix(".json") {
            try? fm.removeItem(at: stateDirectory.appendingPathComponent(file))
        }
        let journal = try FileHandle(forWritingTo: journalURL)
        try journal.seekToEnd()
        state = Mutex(State(records: loaded, journal: journal, journalLines: loaded.count))
    }

    public func create(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> ContainerID {
        if let images, !images.contains(spec.image) { throw .noSuchImage(spec.image) }
        let record = Record(id: "sim-" + spec.name, spec: summary(of: spec), createdAt: now())
        let line = try Self.line(JournalEntry(record: record))
        try state.withLock { state throws(ContainerRuntimeError) in
            guard state.records[spec.name] == nil else { throw .nameInUse(spec.name) }
            state.records[spec.name] = record
            try append(line, to: &state, directory: stateDirectory)
        }
        return ContainerID(spec.name)
    }

    private func summary(of spec: ContainerSpec) -> SpecSummary {
        let env = spec.environment
        let trainingSeconds = env[Self.trainingSecondsVariable].flatMap(Double.init) ?? defaultTrainingSeconds
        // Per-host knobs: with a failing host named, the exit code and failure text are its alone.
        let failingHost = env[Self.failingHostVariable]
        let fails = failingHost.map { $0 == spec.hostname } ?? true
        return SpecSummary(
            name: spec.name, labels: spec.labels,
            trainingSeconds: failingHost != nil && fails
                ? env[Self.failingHostSecondsVariable].flatMap(Double.init) ?? trainingSeconds : trainingSeconds,
            exitCode: fails ? env[Self.exitCodeVariable].flatMap { Int($0) } ?? 0 : 0,
            failureText: fails ? env[Self.failureVariable] : nil,
            ignoresSIGTERM: ["true", "1", "yes"].contains(env[Self.ignoreSIGTERMVariable]?.lowercased() ?? ""),
            outputDirectory: spec.mounts.first { $0.target == "/opt/ml/output" }?.source)
    }

    /// Each new container is recorded created and started in one journal line.
    public func launch(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        for spec in hosts {
            if let images, !images.contains(spec.image) { throw .noSuchImage(spec.image) }
            var record = Record(id: "sim-" + spec.name, spec: summary(of: spec), createdAt: now())
            record.startedAt = record.createdAt
            let line = try Self.line(JournalEntry(record: record))
            let created = try state.withLock { state throws(ContainerRuntimeError) -> Bool in
                guard state.records[spec.name] == nil else { return false }
                state.records[spec.name] = record
                try append(line, to: &state, directory: stateDirectory)
                return true
            }
            // A container of an earlier attempt: started only if it never was.
            if !created { try await start(ContainerID(spec.name)) }
        }
    }

    public func start(_ id: ContainerID) async throws(ContainerRuntimeError) {
        let at = now()
        try update(id) { record in
            guard record.startedAt == nil else { return false }
            record.startedAt = at
            return true
        }
    }

    public func kill(_ id: ContainerID, signal: ContainerSignal) async throws(ContainerRuntimeError) {
        let at = now()
        try update(id) { record in
            guard record.startedAt != nil, Self.exitTime(of: record) == nil || Self.exitTime(of: record)! > at else { return false }
            switch signal {
            case .term where record.sigtermAt == nil: record.sigtermAt = at
            case .kill where record.sigkillAt == nil: record.sigkillAt = at
            default: return false
            }
            return true
        }
    }

    public func wait(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerExit {
        while true {
            guard let state = try await inspect(id) else { throw .noSuchContainer(id.rawValue) }
            if state.status == .exited, let code = state.exitCode {
                return ContainerExit(exitCode: code, oomKilled: false)
            }
            // Sleep until the computed exit time (or a short poll while it depends on a future signal).
            let record = self.state.withLock { $0.records[id.rawValue] }
            let exitAt = record.flatMap(Self.exitTime(of:))
            let delay = max(0.005, min(exitAt.map { $0.timeIntervalSince(now()) } ?? 0.05, 0.05))
            try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            if Task.isCancelled { throw .engine(status: 499, message: "wait cancelled") }
        }
    }

    public func inspect(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerState? {
        guard let record = state.withLock({ $0.records[id.rawValue] }) else { return nil }
        return state(of: record)
    }

    public func logs(_ id: ContainerID, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        let record = state.withLock { $0.records[id.rawValue] }
        return AsyncThrowingStream { continuation in
            if let record, let started = record.startedAt, since.map({ $0 <= started }) ?? true {
                continuation.yield(LogLine(timestamp: started, stream: .stdout, text: "simulated training container \(record.spec.name) started"))
            }
            continuation.finish()
        }
    }

    public func remove(_ id: ContainerID) async throws(ContainerRuntimeError) {
        let line = try Self.line(JournalEntry(removed: id.rawValue))
        try state.withLock { state throws(ContainerRuntimeError) in
            guard state.records.removeValue(forKey: id.rawValue) != nil else { return }
            try append(line, to: &state, directory: stateDirectory)
        }
    }

    public func imageExists(_ image: String) async throws(ContainerRuntimeError) -> Bool {
        images?.contains(image) ?? true
    }

    public func ping() async throws(ContainerRuntimeError) {}

    /// A container whose training takes no time (phase 0) has exited as `launch` returns; asking
    /// costs a dictionary lookup.
    public var containersMayExitAtLaunch: Bool { true }

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
            id: ContainerID(record.id), name: record.spec.name, status: .created, labels: record.spec.labels)
        guard record.startedAt != nil else { return state }
        if let exitAt = Self.exitTime(of: record), exitAt <= current {
            state.status = .exited
            state.exitCode = Self.exitCode(of: record, exitedAt: exitAt)
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
        var shouldWrite = false
        _ = try? update(ContainerID(record.spec.name)) { current in
            guard !current.failureWritten else { return false }
            current.failureWritten = true
            shouldWrite = true
            return true
        }
        if shouldWrite {
            // The workspace's folders exist only once something writes into them (LocalWorkspaces).
            let folder = URL(fileURLWithPath: directory)
            try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try? Data(text.utf8).write(to: folder.appendingPathComponent("failure"))
        }
    }

    /// Changes a record and journals it when `change` says it changed something.
    @discardableResult
    private func update(_ id: ContainerID, _ change: (inout Record) -> Bool) throws(ContainerRuntimeError) -> Record {
        try state.withLock { state throws(ContainerRuntimeError) -> Record in
            guard var record = state.records[id.rawValue] else { throw .noSuchContainer(id.rawValue) }
            guard change(&record) else { return record }
            state.records[id.rawValue] = record
            try append(Self.line(JournalEntry(record: record)), to: &state, directory: stateDirectory)
            return record
        }
    }

    /// Journal lines beyond the live records before the journal is compacted. Each compaction
    /// rewrites every live record under the lock, so it must be rare: at 1,000 a burst of simulated
    /// jobs (few live records, two lines a job) compacted every 500 jobs, and compaction took a
    /// sixth of a scheduler thread's time in a profile. 50,000 lines are about 20 MB.
    public static let defaultCompactionSlack = 50_000
    private let compactionSlack: Int

    /// A journal line for `entry`. Made before the lock is taken where the entry is known
    /// beforehand: encoding under the lock had the scheduler's launches and the steps' removals
    /// wait for each other in a burst of simulated jobs.
    private static func line(_ entry: JournalEntry) throws(ContainerRuntimeError) -> Data {
        do {
            var line = try entry.jsonLine() ?? JSONEncoder().encode(entry)
            line.append(UInt8(ascii: "\n"))
            return line
        } catch {
            throw .engine(status: 500, message: "cannot record simulated container changes: \(error)")
        }
    }

    /// One line (`line(_:)`) at the journal's end, written whole with one write under the lock,
    /// so a crash leaves at most the last line cut short. Compacts when the journal has
    /// `compactionSlack` lines more than twice the live records.
    private func append(_ line: Data, to state: inout State, directory: URL) throws(ContainerRuntimeError) {
        do {
            try state.journal.write(contentsOf: line)
            state.journalLines += 1
            if state.journalLines > compactionSlack + 2 * state.records.count {
                let url = directory.appendingPathComponent(Self.journalName)
                try Self.writeCompacted(state.records, to: url)
                try? state.journal.close()
                state.journal = try FileHandle(forWritingTo: url)
                try state.journal.seekToEnd()
                state.journalLines = state.records.count
            }
        } catch {
            throw .engine(status: 500, message: "cannot record simulated container changes: \(error)")
        }
    }

    /// The live records, a line each, written beside the journal and renamed over it.
    private static func writeCompacted(_ records: [String: Record], to url: URL) throws {
        var data = Data()
        for record in records.values {
            let entry = JournalEntry(record: record)
            data.append(try entry.jsonLine() ?? JSONEncoder().encode(entry))
            data.append(UInt8(ascii: "\n"))
        }
        try data.write(to: url, options: .atomic)
    }
}

extension SimulatedRuntime.JournalEntry {
    /// The JSON `JSONEncoder` would write (the same keys, dates as seconds since 2001, nil
    /// optionals left out), written by hand: `JSONEncoder` was a tenth of the simulated runtime's
    /// share of a burst of simulated jobs. Nil for a value it cannot write (a training time that
    /// is not finite), which `JSONEncoder` then refuses as before.
    func jsonLine() -> Data? {
        var out = "{"
        if let record {
            let spec = record.spec
            let numbers = [spec.trainingSeconds, record.createdAt.timeIntervalSinceReferenceDate]
                + [record.startedAt, record.sigtermAt, record.sigkillAt].compactMap { $0?.timeIntervalSinceReferenceDate }
            guard numbers.allSatisfy(\.isFinite) else { return nil }
            out += "\"record\":{\"id\":" + JSONText.quoted(record.id)
            out += ",\"spec\":{\"name\":" + JSONText.quoted(spec.name)
            out += ",\"labels\":{"
                + spec.labels.sorted { $0.key < $1.key }.map { JSONText.quoted($0.key) + ":" + JSONText.quoted($0.value) }.joined(separator: ",")
                + "}"
            out += ",\"trainingSeconds\":\(spec.trainingSeconds),\"exitCode\":\(spec.exitCode)"
            if let text = spec.failureText { out += ",\"failureText\":" + JSONText.quoted(text) }
            out += ",\"ignoresSIGTERM\":\(spec.ignoresSIGTERM)"
            if let directory = spec.outputDirectory { out += ",\"outputDirectory\":" + JSONText.quoted(directory) }
            out += "},\"createdAt\":\(record.createdAt.timeIntervalSinceReferenceDate)"
            for (key, date) in [("startedAt", record.startedAt), ("sigtermAt", record.sigtermAt), ("sigkillAt", record.sigkillAt)] {
                if let date { out += ",\"\(key)\":\(date.timeIntervalSinceReferenceDate)" }
            }
            out += ",\"failureWritten\":\(record.failureWritten)}"
        }
        if let removed { out += (record == nil ? "" : ",") + "\"removed\":" + JSONText.quoted(removed) }
        out += "}"
        return Data(out.utf8)
    }
}
