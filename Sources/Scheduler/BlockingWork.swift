import Foundation

/// Runs blocking file work (staging channel data, packing model.tar.gz, deleting a workspace) on a
/// thread of its own and suspends the caller until it is done.
///
/// Called inline from the scheduler actor, a copy of a large channel or the gzip of a large model
/// held the actor, and one of the cooperative pool's threads (two on a two-core machine), for as
/// long as it took: no other job was launched or finished, and no SIGKILL or MaxRuntimeInSeconds
/// deadline was acted on meanwhile (found by the end-to-end test
/// `test_a_large_download_does_not_hold_up_other_jobs`). DockerClient runs its blocking libcurl
/// transfers on threads of their own for the same reason.
func runBlocking<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, E>, Never>) in
        let thread = Thread {
            continuation.resume(returning: Result { () throws(E) -> T in try work() })
        }
        thread.name = "trainyard-files"
        thread.start()
    }
    return try result.get()
}
