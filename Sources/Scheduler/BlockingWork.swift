import Dispatch

/// Runs blocking file work (staging channel data, packing model.tar.gz, deleting a workspace) off
/// the cooperative pool and suspends the caller until it is done.
///
/// Called inline from the scheduler actor, a copy of a large channel or the gzip of a large model
/// held the actor, and one of the cooperative pool's threads (two on a two-core machine), for as
/// long as it took: no other job was launched or finished, and no SIGKILL or MaxRuntimeInSeconds
/// deadline was acted on meanwhile (found by the end-to-end test
/// `test_a_large_download_does_not_hold_up_other_jobs`). Dispatch's global queue grows its
/// threads when the ones it has block, and reuses them (a thread per call cost more than the
/// work for the simulated runtime's empty workspaces).
func runBlocking<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, E>, Never>) in
        // At the caller's priority: the scheduler runs ahead of API requests (SchedulerService).
        DispatchQueue.global(qos: Task.currentPriority >= .high ? .userInitiated : .default).async {
            continuation.resume(returning: Result { () throws(E) -> T in try work() })
        }
    }
    return try result.get()
}
