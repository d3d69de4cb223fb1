internal import Glibc

/// A value behind a pthread mutex.
///
/// Used instead of Synchronization.Mutex because, on Linux with this toolchain, ThreadSanitizer cannot
/// see Mutex's futex-based synchronisation and reports every protected access as a race; with a
/// pthread mutex (intercepted by TSan) the component can be checked with `swift test --sanitize=thread`.
///
/// Sendable: `value` is only read or written between pthread_mutex_lock and pthread_mutex_unlock.
final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
