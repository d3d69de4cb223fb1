import Foundation
import Locking

/// The scheduler actor's own thread (its `unownedExecutor`), so that it never waits for a thread
/// of Swift's cooperative pool. That pool has one thread a core, and API requests, log captures and
/// runtime calls block its threads in SQLite and file system calls. In a burst of simulated jobs
/// (bench/burst.py) the actor, which decides and records every job's steps, stood in line behind
/// the creates: 1,400–2,900 of 10,000 jobs were Completed when the last create returned, the rest
/// seconds later. On its own thread it keeps pace (9,960–9,995), and the creates slow down instead;
/// stop signals and deadlines no longer wait behind API load either. Work the actor hands off
/// (runtime calls, blocking file work) still runs elsewhere; only the actor's own code runs here.
final class SchedulerThread: SerialExecutor, @unchecked Sendable {
    private let lock = ConditionLock()
    /// Jobs waiting to run, in order; only touched with `lock` held.
    private var queue: [UnownedJob] = []

    init(name: String) {
        // Runs for the life of the process: one executor serves every scheduler of the process
        // (one per server; tests make many, which then take turns on it).
        let thread = Thread { self.runJobs() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        lock.lock()
        queue.append(unowned)
        lock.signal()
        lock.unlock()
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    private func runJobs() {
        var batch: [UnownedJob] = []
        while true {
            lock.lock()
            while queue.isEmpty { lock.wait() }
            swap(&batch, &queue)
            lock.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
