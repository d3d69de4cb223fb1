import EventHTTP
import Logging
import Scheduler
import ServiceLifecycle

// The long-running parts of `trainyard serve`, each a swift-service-lifecycle Service run by one
// ServiceGroup (Server.run). The group shuts services down in reverse order of its list, each
// finishing before the next is told: the HTTP server is last in the list so that it stops first
// (no new requests reach a scheduler that is going away), then the chores, then the scheduler,
// and the log captures, first in the list, last (a scheduler finishing a job waits for them).

/// The HTTP server, started (bound and printing its port) before the group runs. On graceful
/// shutdown it stops accepting, lets requests in flight finish for up to `drainTimeout`, then
/// closes every connection.
struct HTTPServerService: Service, CustomStringConvertible {
    let server: HTTPServer
    let drainTimeout: Duration
    /// Runs first: by then the group traps SIGTERM and SIGINT (it does before starting services).
    let announce: @Sendable () -> Void
    var description: String { "HTTPServer" }

    func run() async throws {
        announce()
        // Returns on graceful shutdown; throws CancellationError if the group is cancelled instead,
        // and the server is shut down (without waiting as long) either way.
        do {
            try await gracefulShutdown()
        } catch {
            await server.shutdown(drainTimeout: .zero)
            throw error
        }
        await server.shutdown(drainTimeout: drainTimeout)
    }
}

/// The reconcile loop. Its `run()` ends when its task is cancelled, which graceful shutdown does;
/// training containers keep running for the next start to adopt.
struct SchedulerService: Service, CustomStringConvertible {
    let scheduler: TrainingScheduler
    var description: String { "TrainingScheduler" }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // Ahead of the API's requests: under a burst of creates the loop (and its steps, its
            // children) queued behind thousands of request tasks, and jobs completed at half the
            // rate they were created (bench/burst.py).
            await withDiscardingTaskGroup { group in
                group.addTask(priority: .high) { await scheduler.run() }
            }
        }
    }
}

/// Work done now and then every `interval` (indexing new job names, expiring old log lines), in
/// the group's structured task instead of a detached one: it stops with the server.
struct PeriodicChore: Service, CustomStringConvertible {
    let name: String
    let interval: Duration
    let chore: @Sendable () -> Void
    var description: String { name }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                chore()
                try? await Task.sleep(for: interval)  // cancelled: the loop condition ends it
            }
        }
    }
}

/// The log captures: each training container's output followed into its log stream, as child
/// tasks of this service. Graceful shutdown cancels them; each stores what it has read before it
/// ends, and the next start resumes from the last stored line.
struct LogCaptureService: Service, CustomStringConvertible {
    let captures: LogCaptures
    var description: String { "LogCaptures" }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await captures.run()
        }
    }
}
