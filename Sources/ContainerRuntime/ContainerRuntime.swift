public import Foundation

/// A container engine, seen from the scheduler: containers, not jobs (DESIGN §5).
///
/// A job runs on one or more hosts, one container each; `launch` takes them all at once, so that a
/// cluster backend can place a job's containers together (a gang) and a local one can give them a
/// network of their own. The other calls address one container.
///
/// Graceful stop is built from `kill(_:signal:)` by the scheduler, which stores when SIGTERM went out
/// and sends SIGKILL once the grace window has passed. That way a restarted server recomputes the
/// window from the stored time instead of relying on a timer that died with the old process.
public protocol ContainerRuntime: Sendable {
    /// Creates and starts the containers of one job's hosts (one spec per host). A host whose
    /// container exists already (created by a run of the server that crashed before recording
    /// it) is adopted: started if it never was, left alone if it has run.
    func launch(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError)
    /// Creates (does not start) a container. Throws `.nameInUse` if a container with `spec.name` exists.
    func create(_ spec: ContainerSpec) async throws(ContainerRuntimeError) -> ContainerID
    /// Starts a created container. Starting a running container is not an error; a container
    /// that has already run is not run again.
    func start(_ id: ContainerID) async throws(ContainerRuntimeError)
    /// Sends a signal to the container's PID 1. Signalling a container that is not running is not an error.
    func kill(_ id: ContainerID, signal: ContainerSignal) async throws(ContainerRuntimeError)
    /// Waits until the container is no longer running and returns how it ended.
    func wait(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerExit
    /// The container's current state, or nil if there is no such container.
    func inspect(_ id: ContainerID) async throws(ContainerRuntimeError) -> ContainerState?
    /// The container's output lines, oldest first, from `since` (inclusive) on; with `follow` the
    /// stream ends when the container stops.
    func logs(_ id: ContainerID, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error>
    /// Removes a container that is not running. Removing a missing container is not an error.
    func remove(_ id: ContainerID) async throws(ContainerRuntimeError)
    /// Whether `image` is present on the engine.
    func imageExists(_ image: String) async throws(ContainerRuntimeError) -> Bool
    /// Pulls `image` from the registry its reference names (the whole progress stream: it returns
    /// once the image is present). Throws `.imagePullFailed` with the registry's or engine's words.
    /// Runtimes that cannot pull keep the default, which throws `.imagePullFailed`.
    func pullImage(_ image: String) async throws(ContainerRuntimeError)
    /// Whether `pullImage` can fetch images (a Docker engine); false: a missing image is final.
    var pullsImages: Bool { get }
    /// Whether a container may already have exited when `launch` returns (the simulated runtime,
    /// whose containers at phase 0 end as they start). The scheduler then inspects a job's
    /// containers before it stores Training, and a job whose containers have all exited ends in the
    /// same store write. A real engine's containers have not, so it is not asked: false.
    var containersMayExitAtLaunch: Bool { get }
    /// Throws if the engine cannot be reached (for /health and clear job failures).
    func ping() async throws(ContainerRuntimeError)
    /// Before a job leaves Starting/Pending: finds room for all its hosts at once (a gang) and
    /// holds it for the `launch` that follows, until `remove` of those containers. Throws
    /// `.insufficientCapacity` when the cluster has no room now but would when emptier (the job
    /// waits), and any other error when the job can never run there (the job fails). A single
    /// engine has no such bookkeeping: the default accepts every job.
    func reserveCapacity(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError)
}

extension ContainerRuntime {
    public func pullImage(_ image: String) async throws(ContainerRuntimeError) {
        throw .imagePullFailed(image: image, message: "this container runtime does not pull images")
    }

    public var pullsImages: Bool { false }

    public var containersMayExitAtLaunch: Bool { false }

    public func reserveCapacity(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {}

    /// Creates every host's container, then starts them, so that a job's hosts start close
    /// together; a name in use means the container of an earlier attempt, which `start` adopts
    /// (it never reruns a container that has run).
    public func launch(_ hosts: [ContainerSpec]) async throws(ContainerRuntimeError) {
        for spec in hosts {
            do {
                _ = try await create(spec)
            } catch .nameInUse {
                // Created by an earlier pass whose record was lost: the same container.
            }
        }
        for spec in hosts { try await start(ContainerID(spec.name)) }
    }
}
