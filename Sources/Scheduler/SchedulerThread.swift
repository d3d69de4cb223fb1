import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The scheduler actor's own thread (its `unownedExecutor`), so that it never waits for a thread
/// of Swift's cooperative pool. That pool has one thread a core, and API requests, log captures and
/// runtime calls block its threads in SQLite and file system calls. In a burst of simulated jobs
/// (bench/burst.py) the actor, which decides and records every job's steps, stood in line behind
/// the creates: 1,400–2,900 of 10,000 jobs were Completed when the last create returned, the rest
/// seconds later. On its own thread it keeps pace (9,960–9,995), and the creates slow down instead;
/// stop signals and deadlines no longer wait behind API load either. Work the actor hands off
/// (runtime calls, blocking file work) still runs elsewhere; only the actor's own code runs here.
final class SchedulerThread: SerialExecutor, @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    /// Jobs waiting to run, in order; only touched with `mutex` held.
    private var queue: [UnownedJob] = []

    init(name: String) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
        // Runs for the life of the process: one executor serves every scheduler of the process
        // (one per server; tests make many, which then take turns on it).
        let thread = Thread { self.runJobs() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        pthread_mutex_lock(mutex)
        queue.append(unowned)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    private func runJobs() {
        var batch: [UnownedJob] = []
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty { pthread_cond_wait(condition, mutex) }
            swap(&batch, &queue)
            pthread_mutex_unlock(mutex)
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
