#if canImport(Glibc)
package import Glibc
#elseif canImport(Darwin)
package import Darwin
#endif

/// A value behind a pthread mutex, for the locks Synchronization.Mutex does not suit on Linux
/// with this toolchain:
/// - Mutex is a priority-inheritance futex (the lock word holds the owner's thread id), and a
///   thread that finds it taken spins in the kernel while the owner runs. JobStore's writer
///   connection is held for whole transactions (a Create, a scheduler batch), so its waiters spun
///   for long: 5% of the server's CPU in a burst of simulated jobs (bench/burst.py,
///   `rt_mutex_slowlock_block`). A pthread mutex waiter sleeps.
/// - ThreadSanitizer cannot see Mutex's futex-based synchronisation and reports every protected
///   access as a race; a pthread mutex is intercepted by TSan, so EventHTTP can be checked with
///   `swift test --sanitize=thread`.
///
/// `withLock` is inlinable so that its callers in other modules are specialised as before, when
/// each module had its own copy (the writer lock is on the create path).
///
/// Sendable: `value` is only read or written between pthread_mutex_lock and pthread_mutex_unlock.
package final class Locked<Value>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value

    package init(_ value: sending Value) {
        self.value = value
        mutex = PthreadMutex.make()
    }

    deinit {
        PthreadMutex.destroy(mutex)
    }

    @inlinable
    package func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

/// A pthread mutex on the heap (its address must never change once initialised), made and torn
/// down in one place for Locked and ConditionLock.
enum PthreadMutex {
    static func make() -> UnsafeMutablePointer<pthread_mutex_t> {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        return mutex
    }

    static func destroy(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
}
