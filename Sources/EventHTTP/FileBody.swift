internal import Glibc
internal import Synchronization

/// A response body sent from a file region instead of memory (`HTTPResponse.file`): the loop hands
/// the descriptor to libevent, which sends it with sendfile(2) as the socket drains, so a large
/// download never passes through this process's memory and is paced by the client.
///
/// Owns `fd`: closed once sent, or when the response is dropped unsent. Sendable: the descriptor is
/// taken exactly once (atomically), by the loop thread that sends it.
public final class FileBody: Sendable {
    let fd: Int32
    public let offset: Int64
    public let length: Int64
    private let taken = Atomic<Bool>(false)

    public init(fd: Int32, offset: Int64, length: Int64) {
        self.fd = fd
        self.offset = offset
        self.length = length
    }

    /// The descriptor, now owned by the caller; nil if it was taken already.
    func take() -> Int32? {
        taken.exchange(true, ordering: .acquiringAndReleasing) ? nil : fd
    }

    deinit {
        if !taken.load(ordering: .acquiring) { close(fd) }
    }
}
