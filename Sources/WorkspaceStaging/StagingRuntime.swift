public import ContainerRuntime
public import Foundation
public import Logging
import Synchronization

/// What a backend does for staging on the node that runs a training container. The Docker
/// runtime runs helpers as plain containers on its engine (DockerEngine's DockerStagingEngine);
/// a Swarm runtime runs each as a one-task service constrained to the training task's node.
public protocol StagingEngine: Sendable {
    /// The staging image's reference as nodes pull or find it; made (and pushed) if needed.
    func stagingImage() async throws(ContainerRuntimeError) -> String
    /// Runs a helper container to its end and removes it; returns its exit code and its last
    /// output lines. A leftover helper of the same name (a crashed server's) is replaced.
    func runHelper(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> (exitCode: Int, output: String)
    /// Removes volumes by name; a missing one is not an error.
    func removeVolumes(_ names: [String]) async throws(ContainerRuntimeError)
    /// Before stage-in: the hosts' specs as they must run, e.g. pinned to a node each (labels that
    /// the training container and its helpers then carry), because a cluster's volumes are
    /// node-local. A single engine returns them unchanged.
    func place(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) -> [ContainerSpec]
    /// A cluster holds the room `place` found for a host until its training container exists;
    /// this gives it up earlier (the launch failed, or the container is removed). Takes container names.
    func release(_ containers: [String])
}

extension StagingEngine {
    public func place(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) -> [ContainerSpec] { hosts }
    public func release(_ containers: [String]) {}
}

/// A `ContainerRuntime` whose training containers get their `/opt/ml` through staging
/// (`--workspace-staging api`; WorkspaceStaging has the design). Wraps the runtime that runs the
/// training containers; the scheduler sees no difference:
/// - `launch`/`create`: stage in (helper), then the base runtime creates the container with
///   volumes for mounts. A container that exists already (adopted) is not staged again.
/// - `wait`: the base runtime's exit, returned only once the outputs are staged out.
/// - `inspect` of an exited container also stages out first, once per process: a restarted server
///   finds exits by inspecting (TrainingScheduler.observe), then collects outputs.
/// - `remove`: the container, then its volumes.
/// A stage-out that keeps failing (3 attempts) is given up with a line in the job's log, so the
/// job still ends (without those outputs) instead of retrying forever.
public final class StagingRuntime: ContainerRuntime {
    let base: any ContainerRuntime
    let engine: any StagingEngine
    public let staging: WorkspaceStaging
    let logger: Logger
    private let stagedOut = Mutex<[String: StageOutState]>([:])

    private enum StageOutState {
        case running(Task<Void, Never>)
        case done
        case failed(attempts: Int)
    }

    static let maxStageOutAttempts = 3

    public init(base: any ContainerRuntime, engine: any StagingEngine, staging: WorkspaceStaging, logger: Logger) {
        self.base = base
        self.engine = engine
        self.staging = staging
        self.logger = logger
    }

    public func launch(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        let plans = try await engine.place(hosts).map(staging.plan)
        do {
            try await stageIn(plans)
            try await base.launch(plans.map(\.training))
        } catch {
            await removeOrphanedVolumes(plans)
            engine.release(hosts.map(\.name))
            throw error
        }
    }

    /// The placement itself (SwarmStagingEngine.place), held by the engine for the `launch` that
    /// follows: a job that does not fit now gets `.insufficientCapacity` before it leaves Pending.
    public func reserveCapacity(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        _ = try await engine.place(hosts)
    }

    public func create(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> ContainerID {
        let plan = staging.plan(try await engine.place([spec])[0])
        do {
            try await stageIn([plan])
            return try await base.create(plan.training)
        } catch {
            await removeOrphanedVolumes([plan])
            engine.release([spec.name])
            throw error
        }
    }

    /// A failed launch leaves volumes that no container will take (and that `remove`, which finds
    /// the volumes through the container's labels, cannot see): those of hosts without a container go.
    private func removeOrphanedVolumes(_ plans: [StagedContainer]) async {
        for plan in plans where !plan.volumes.isEmpty {
            guard (try? await base.inspect(ContainerID(plan.training.name))) == .some(nil) else { continue }
            try? await engine.removeVolumes(plan.volumes.map(\.name))
        }
    }

    /// Every host's stage-in at once (a cluster's nodes fetch in parallel).
    private func stageIn(_ plans: [StagedContainer]) async throws(ContainerRuntimeError) {
        var pending: [StagedContainer] = []
        for plan in plans where plan.volumes.isEmpty == false {
            if try await base.inspect(ContainerID(plan.training.name)) == nil { pending.append(plan) }
        }
        guard !pending.isEmpty else { return }
        let image = try await engine.stagingImage()
        let failures = await withTaskGroup(of: ContainerRuntimeError?.self) { group in
            for plan in pending {
                group.addTask {
                    do throws(ContainerRuntimeError) {
                        try await self.transfer(plan, .stageIn, image: image)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            var failures: [ContainerRuntimeError] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        if let first = failures.first { throw first }
    }

    /// Runs one helper with its URL open for exactly that long.
    private func transfer(_ plan: StagedContainer, _ direction: StagingDirection, image: String) async throws(ContainerRuntimeError) {
        let helper: ContainerSpec
        do {
            helper = try staging.helper(for: plan, direction, image: image)
        } catch {
            throw .engine(status: 0, message: "workspace staging: \(error.description)")
        }
        let started = ContinuousClock.now
        let transfer = staging.open(plan, direction)
        defer { transfer.close() }
        let result = try await engine.runHelper(helper)
        guard result.exitCode == 0 else {
            throw .engine(
                status: 0,
                message: "workspace staging (\(direction.rawValue)) for \(plan.training.labels["trainyard.host"] ?? plan.training.name) failed with exit code \(result.exitCode): \(result.output)")
        }
        logger.debug(
            "staged", metadata: ["container": "\(plan.training.name)", "direction": "\(direction.rawValue)", "duration": "\(ContinuousClock.now - started)"])
    }

    public func start(_ id: ContainerID) async throws(ContainerRuntimeError) { try await base.start(id) }

    public func kill(_ id: ContainerID, signal: ContainerSignal) async throws(ContainerRuntimeError) {
        try await base.kill(id, signal: signal)
    }

    public func wait(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerExit {
        let exit = try await base.wait(id)
        if let state = try await base.inspect(id) { await stageOutOnce(state) }
        return exit
    }

    public func inspect(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerState? {
        guard let state = try await base.inspect(id) else { return nil }
        if state.status == .exited || state.status == .dead { await stageOutOnce(state) }
        return state
    }

    /// Stages out an exited container's volumes unless this process has done so (or is doing so:
    /// the caller then waits for that one).
    private func stageOutOnce(_ state: ContainerState) async {
        guard let plan = staging.plan(name: state.name, labels: state.labels), !plan.volumes.isEmpty else { return }
        let task: Task<Void, Never>? = stagedOut.withLock { table in
            switch table[state.name] {
            case .done?: return nil
            case .running(let task)?: return task
            case .failed(let attempts)? where attempts >= Self.maxStageOutAttempts: return nil
            default:
                let attempts: Int
                if case .failed(let count)? = table[state.name] { attempts = count } else { attempts = 0 }
                let task = Task { await self.stageOut(plan, attempts: attempts) }
                table[state.name] = .running(task)
                return task
            }
        }
        await task?.value
    }

    private func stageOut(_ plan: StagedContainer, attempts: Int) async {
        let name = plan.training.name
        do throws(ContainerRuntimeError) {
            let image = try await engine.stagingImage()
            try await transfer(plan, .stageOut, image: image)
            stagedOut.withLock { $0[name] = .done }
        } catch {
            let attempt = attempts + 1
            logger.warning("cannot stage out", metadata: ["container": "\(name)", "attempt": "\(attempt)", "error": "\(error)"])
            stagedOut.withLock { $0[name] = .failed(attempts: attempt) }
            if attempt >= Self.maxStageOutAttempts {
                staging.notice(
                    plan.training.labels,
                    "the outputs of \(plan.training.labels["trainyard.host"] ?? name) could not be staged out (\(attempt) attempts): \(error)")
            }
        }
    }

    public func logs(_ id: ContainerID, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        base.logs(id, since: since, follow: follow)
    }

    /// The container, then its volumes (the engine keeps a volume a container still uses).
    public func remove(_ id: ContainerID) async throws(ContainerRuntimeError) {
        engine.release([id.rawValue])
        let state = try await base.inspect(id)
        try await base.remove(id)
        guard let state, let plan = staging.plan(name: state.name, labels: state.labels) else { return }
        try await engine.removeVolumes(plan.volumes.map(\.name))
        stagedOut.withLock { $0[state.name] = nil }
    }

    public func imageExists(_ image: String) async throws(ContainerRuntimeError) -> Bool { try await base.imageExists(image) }
    public func pullImage(_ image: String) async throws(ContainerRuntimeError) { try await base.pullImage(image) }
    public var pullsImages: Bool { base.pullsImages }
    public var containersMayExitAtLaunch: Bool { base.containersMayExitAtLaunch }
    public func ping() async throws(ContainerRuntimeError) { try await base.ping() }
}
