public import ContainerRuntime
public import Foundation
public import TrainingCore
import Synchronization

/// How a fake container behaves, chosen per container when it is created.
public struct FakeContainerScript: Sendable {
    /// Manual time the process runs before it exits by itself; nil: until it is signalled.
    public var runsFor: Duration?
    /// The exit code when it ends by itself.
    public var exitCode: Int
    /// Written to `/opt/ml/output/failure` (through the output mount) when it exits non-zero, as a
    /// failing algorithm does (DG-out).
    public var failureText: String?
    /// SIGTERM does nothing; only SIGKILL ends it (exit 137).
    public var ignoresSIGTERM: Bool
    /// Reported as OOM-killed when it exits.
    public var oomKilled: Bool
    /// Lines the container prints when it starts.
    public var output: [String]

    public init(
        runsFor: Duration? = nil, exitCode: Int = 0, failureText: String? = nil, ignoresSIGTERM: Bool = false,
        oomKilled: Bool = false, output: [String] = []
    ) {
        self.runsFor = runsFor
        self.exitCode = exitCode
        self.failureText = failureText
        self.ignoresSIGTERM = ignoresSIGTERM
        self.oomKilled = oomKilled
        self.output = output
    }
}

/// A `ContainerRuntime` in memory, on a `ManualClock`: containers exit when the test moves the clock
/// past their run time, or when signalled. It counts every call, records every signal with its
/// (manual) time, and outlives the scheduler that uses it: a "server restart" is a new scheduler
/// over the same store and the same fake, which still has the old one's containers.
public final class FakeContainerRuntime: ContainerRuntime {
    /// One signal as the container received it.
    public struct Signal: Sendable, Equatable {
        public var container: String
        public var signal: ContainerSignal
        public var time: Timestamp
    }

    private struct Container {
        var spec: ContainerSpec
        var script: FakeContainerScript
        var status: ContainerStatus = .created
        var startedAt: Timestamp?
        var exitAt: Timestamp?
        var exit: ContainerExit?
        var waiters: [UInt64: CheckedContinuation<WaitResult, Never>] = [:]
        var logFollowers: [AsyncThrowingStream<LogLine, any Error>.Continuation] = []
    }

    private struct State {
        var containers: [String: Container] = [:]
        var calls: [String: Int] = [:]
        var signals: [Signal] = []
        var nextWaiter: UInt64 = 0
        var cancelledWaiters: Set<UInt64> = []
        /// `setCapacity`: hosts the fake cluster can run at once; nil: no limit.
        var capacity: Int?
        /// Room given by `reserveCapacity` to containers not created yet.
        var held: Set<String> = []
    }

    private enum WaitResult {
        case exited(ContainerExit)
        case noSuchContainer
        case cancelled
    }

    private let clock: ManualClock
    private let images: Set<String>?
    private let script: @Sendable (ContainerSpec) -> FakeContainerScript
    public let containersMayExitAtLaunch: Bool
    private let state = Mutex(State())
    /// Set by `unreachable`: every call fails as if the engine were down.
    private let down = Atomic<Bool>(false)

    /// - Parameters:
    ///   - images: the images that exist; nil: every image does.
    ///   - script: how each container behaves, from its spec (e.g. its environment).
    ///   - containersMayExitAtLaunch: as the simulated runtime says (a container that runs for no
    ///     time has exited when `launch` returns, and the scheduler asks).
    public init(
        clock: ManualClock, images: Set<String>? = nil, containersMayExitAtLaunch: Bool = false,
        script: @escaping @Sendable (ContainerSpec) -> FakeContainerScript = { _ in FakeContainerScript() }
    ) {
        self.clock = clock
        self.containersMayExitAtLaunch = containersMayExitAtLaunch
        self.images = images
        self.script = script
        clock.onAdvance { [weak self] now in self?.exitDue(now: now) }
    }

    // MARK: Inspection by tests

    /// How often each method was called (`create`, `start`, `inspect`, ...).
    public var calls: [String: Int] { state.withLock { $0.calls } }
    public var totalCalls: Int { state.withLock { $0.calls.values.reduce(0, +) } }
    public func resetCalls() { state.withLock { $0.calls = [:] } }
    public var signals: [Signal] { state.withLock { $0.signals } }
    /// Names of the containers that exist.
    public var containerNames: Set<String> { state.withLock { Set($0.containers.keys) } }
    /// Names of the containers that have exited (and not been removed).
    public var exitedContainers: Set<String> {
        state.withLock { Set($0.containers.filter { $0.value.exit != nil }.keys) }
    }
    /// The earliest time a running container will exit by itself, if any.
    public var nextExit: Timestamp? {
        state.withLock { $0.containers.values.filter { $0.status == .running }.compactMap(\.exitAt).min() }
    }
    public func spec(_ name: String) -> ContainerSpec? { state.withLock { $0.containers[name]?.spec } }

    /// Makes the fake a cluster with room for `hosts` containers at once (until removed): a job
    /// whose hosts do not fit beside the others gets `.insufficientCapacity` from
    /// `reserveCapacity`, one with more hosts than that an engine error (it never fits). Nil: no limit.
    public func setCapacity(_ hosts: Int?) { state.withLock { $0.capacity = hosts } }

    /// Makes the engine unreachable (or reachable again).
    public func setUnreachable(_ unreachable: Bool) { down.store(unreachable, ordering: .relaxed) }

    // MARK: ContainerRuntime

    public func create(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> ContainerID {
        try enter("create")
        if let images, !images.contains(spec.image) { throw .noSuchImage(spec.image) }
        let script = self.script(spec)
        let inserted = state.withLock { state -> Bool in
            guard state.containers[spec.name] == nil else { return false }
            state.containers[spec.name] = Container(spec: spec, script: script)
            // Its room is now counted through the container itself.
            state.held.remove(spec.name)
            return true
        }
        guard inserted else { throw .nameInUse(spec.name) }
        return ContainerID(spec.name)
    }

    /// Without `setCapacity` a no-op, not counted in `calls`, as on a single engine.
    public func reserveCapacity(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        guard state.withLock({ $0.capacity != nil }) else { return }
        try enter("reserveCapacity")
        let names = Set(hosts.map(\.name))
        let refusal: ContainerRuntimeError? = state.withLock { state in
            guard let capacity = state.capacity else { return nil }
            if names.count > capacity { return .engine(status: 0, message: "\(names.count) hosts never fit \(capacity)") }
            let others = Set(state.containers.keys).union(state.held).subtracting(names)
            if others.count + names.count > capacity { return .insufficientCapacity("\(others.count) of \(capacity) in use") }
            state.held.formUnion(names)
            return nil
        }
        if let refusal { throw refusal }
    }

    public func start(_ id: ContainerID) async throws(ContainerRuntimeError) {
        try enter("start")
        let now = clock.now
        let lines = try change(id) { container -> [LogLine] in
            guard container.status == .created else { return [] }
            container.status = .running
            container.startedAt = now
            container.exitAt = container.script.runsFor.map { now.advanced(by: $0) }
            let date = Date(timeIntervalSince1970: now.epochSeconds)
            return container.script.output.map { LogLine(timestamp: date, stream: .stdout, text: $0) }
        }
        _ = lines
        exitDue(now: now)
    }

    public func kill(_ id: ContainerID, signal: ContainerSignal) async throws(ContainerRuntimeError) {
        try enter("kill")
        let now = clock.now
        try change(id) { container in
            guard container.status == .running else { return }
            switch signal {
            case .term where container.script.ignoresSIGTERM: break
            case .term: container.exitAt = now; container.script.exitCode = 143
            case .kill: container.exitAt = now; container.script.exitCode = 137
            }
        }
        state.withLock { $0.signals.append(Signal(container: id.rawValue, signal: signal, time: now)) }
        exitDue(now: now)
    }

    /// Returns when the container exits; a cancelled wait throws (as the Docker client's does).
    public func wait(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerExit {
        try enter("wait")
        let waiter = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<WaitResult, Never>) in
                let immediate = state.withLock { state -> WaitResult? in
                    if state.cancelledWaiters.remove(waiter) != nil { return .cancelled }
                    guard var container = state.containers[id.rawValue] else { return .noSuchContainer }
                    if let exit = container.exit { return .exited(exit) }
                    container.waiters[waiter] = continuation
                    state.containers[id.rawValue] = container
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<WaitResult, Never>? in
                guard let continuation = state.containers[id.rawValue]?.waiters.removeValue(forKey: waiter) else {
                    state.cancelledWaiters.insert(waiter)
                    return nil
                }
                return continuation
            }
            continuation?.resume(returning: .cancelled)
        }
        switch result {
        case .exited(let exit): return exit
        case .noSuchContainer: throw .noSuchContainer(id.rawValue)
        case .cancelled: throw .cancelled
        }
    }

    public func inspect(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerState? {
        try enter("inspect")
        return state.withLock { state in
            state.containers[id.rawValue].map { container in
                ContainerState(
                    id: id, name: id.rawValue, status: container.status, labels: container.spec.labels,
                    exitCode: container.exit?.exitCode, oomKilled: container.exit?.oomKilled ?? false)
            }
        }
    }

    public func logs(_ id: ContainerID, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        state.withLock { $0.calls["logs", default: 0] += 1 }
        return AsyncThrowingStream { continuation in
            let keepOpen = state.withLock { state -> Bool in
                guard var container = state.containers[id.rawValue], let started = container.startedAt else { return false }
                let date = Date(timeIntervalSince1970: started.epochSeconds)
                for text in container.script.output where since.map({ $0 <= date }) ?? true {
                    continuation.yield(LogLine(timestamp: date, stream: .stdout, text: text))
                }
                guard follow, container.exit == nil else { return false }
                container.logFollowers.append(continuation)
                state.containers[id.rawValue] = container
                return true
            }
            if !keepOpen { continuation.finish() }
        }
    }

    public func remove(_ id: ContainerID) async throws(ContainerRuntimeError) {
        try enter("remove")
        let removed = state.withLock { state in
            state.held.remove(id.rawValue)
            return state.containers.removeValue(forKey: id.rawValue)
        }
        for waiter in removed?.waiters.values.map({ $0 }) ?? [] { waiter.resume(returning: WaitResult.noSuchContainer) }
    }

    public func imageExists(_ image: String) async throws(ContainerRuntimeError) -> Bool {
        try enter("imageExists")
        return images?.contains(image) ?? true
    }

    public func ping() async throws(ContainerRuntimeError) {
        try enter("ping")
    }

    // MARK: Private

    private func enter(_ call: String) throws(ContainerRuntimeError) {
        state.withLock { $0.calls[call, default: 0] += 1 }
        if down.load(ordering: .relaxed) { throw .engineUnreachable("the fake engine is down") }
    }

    @discardableResult
    private func change<T>(_ id: ContainerID, _ body: (inout Container) -> T) throws(ContainerRuntimeError) -> T {
        let result = state.withLock { state -> T? in
            guard var container = state.containers[id.rawValue] else { return nil }
            defer { state.containers[id.rawValue] = container }
            return body(&container)
        }
        guard let result else { throw .noSuchContainer(id.rawValue) }
        return result
    }

    /// Ends every running container whose exit time has come: writes its failure file, then wakes
    /// its waiters and ends its followed output.
    private func exitDue(now: Timestamp) {
        let ended = state.withLock { state -> [Container] in
            var ended: [Container] = []
            for (name, var container) in state.containers
            where container.status == .running && container.exitAt.map({ $0 <= now }) == true {
                let code = container.script.exitCode
                container.status = .exited
                container.exit = ContainerExit(exitCode: code, oomKilled: container.script.oomKilled)
                ended.append(container)
                container.waiters = [:]
                container.logFollowers = []
                state.containers[name] = container
            }
            return ended
        }
        for container in ended {
            if let exit = container.exit, exit.exitCode != 0, let text = container.script.failureText,
                let output = container.spec.mounts.first(where: { $0.target == "/opt/ml/output" })
            {
                try? Data(text.utf8).write(to: URL(fileURLWithPath: output.source).appendingPathComponent("failure"))
            }
            guard let exit = container.exit else { continue }
            for waiter in container.waiters.values { waiter.resume(returning: WaitResult.exited(exit)) }
            for follower in container.logFollowers { follower.finish() }
        }
    }
}
