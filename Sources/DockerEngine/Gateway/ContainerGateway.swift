public import Foundation
internal import Glibc
public import Logging
import Synchronization

/// How a training container that is not network-isolated reaches Trainyard's S3 API, and nothing
/// else (issue 11 item 6; SageMaker: a job without `EnableNetworkIsolation` reaches S3 with its
/// role's credentials, an isolated one reaches nothing).
///
/// The container keeps network `none` (only its own loopback). Once it runs, a listening socket is
/// created inside its network namespace at `127.0.0.1:<port>` (the server's own port number, so
/// `AWS_ENDPOINT_URL=http://127.0.0.1:<port>` means Trainyard inside and outside the container);
/// connections accepted there are relayed, byte for byte, to the server's own listener, from the
/// source address `relaySourceAddress`. The server treats requests from that address as a
/// container's: they must be signed with the job's own key (minted per job, valid while it runs)
/// and may call S3 and STS only.
///
/// Why this and not a Docker network: the engine here runs with `--bridge=none --iptables=false`.
/// A bridge network gives the host an address on it (the gateway) at which every host service
/// bound to 0.0.0.0 answers, and without iptables nothing filters that; with IP forwarding on, a
/// bridge with a default route would also forward the container's packets off the machine. A
/// bridge with `inhibit_ipv4` keeps the host unreachable but then offers no address for S3 either.
/// A socket placed in the container's own namespace gives exactly one reachable service, needs no
/// firewall, and other jobs' containers (other namespaces) stay unreachable.
///
/// The socket exists only once the container has started (its namespace is made at start), so a
/// connection attempted in the first moments of the container can be refused; AWS SDKs retry
/// refused connections (botocore's legacy and standard retry modes both do).
///
/// Threads: one accepting thread per container, two relay threads per open connection (blocking
/// I/O; a training job holds a handful of connections).
public final class ContainerGateway: Sendable {
    /// The source address of relayed connections: a loopback address no client uses by default,
    /// so the server can tell a container's requests apart (`isRelayed(remoteAddress:)`).
    public static let relaySourceAddress = "127.100.0.1"

    /// Whether a request's peer address (`HTTPRequest.remoteAddress`, "a.b.c.d:port") is the relay's.
    public static func isRelayed(remoteAddress: String) -> Bool {
        remoteAddress.hasPrefix(relaySourceAddress + ":")
    }

    /// Where the server listens (in the host's namespace); nil until it has bound its port.
    public struct Upstream: Sendable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    private let upstream: Mutex<Upstream?>
    private let listeners = Mutex<[String: Listener]>([:])
    private let logger: Logger

    public init(logger: Logger, upstream: Upstream? = nil) {
        self.logger = logger
        self.upstream = Mutex(upstream)
    }

    /// Set once the server has bound its port. A wildcard host (0.0.0.0, ::) is reached at 127.0.0.1.
    public func setUpstream(_ upstream: Upstream) {
        var resolved = upstream
        if ["", "0.0.0.0", "::", "[::]", "localhost"].contains(upstream.host) { resolved.host = "127.0.0.1" }
        self.upstream.withLock { $0 = resolved }
    }

    public var upstreamPort: Int? { upstream.withLock { $0?.port } }

    /// Whether `container` has a listener now.
    public func isAttached(_ container: String) -> Bool {
        listeners.withLock { $0[container] != nil }
    }

    /// Places the listener in the namespace of the container whose first process is `pid`. Attaching
    /// an attached container does nothing.
    public func attach(container: String, pid: Int32) throws(ContainerGatewayError) {
        guard let upstream = upstream.withLock({ $0 }) else {
            throw ContainerGatewayError(description: "the server has not bound its port yet")
        }
        if isAttached(container) { return }
        let fd = try NetworkNamespaceListener.listen(inNamespaceOf: pid, address: "127.0.0.1", port: upstream.port)
        let listener = Listener(fd: fd, container: container, upstream: upstream, logger: logger)
        let added = listeners.withLock { listeners -> Bool in
            guard listeners[container] == nil else { return false }
            listeners[container] = listener
            return true
        }
        guard added else {
            close(fd)
            return
        }
        listener.start()
    }

    /// Closes the container's listener (its connections end with the container).
    public func detach(container: String) {
        let listener = listeners.withLock { $0.removeValue(forKey: container) }
        listener?.stop()
    }

    /// Accepts in the container's namespace and relays each connection upstream.
    final class Listener: Sendable {
        let fd: Int32
        let container: String
        let upstream: Upstream
        let logger: Logger
        private let stopped = Atomic<Bool>(false)

        init(fd: Int32, container: String, upstream: Upstream, logger: Logger) {
            self.fd = fd
            self.container = container
            self.upstream = upstream
            self.logger = logger
        }

        func start() {
            let thread = Thread { [self] in acceptLoop() }
            thread.stackSize = 256 << 10
            thread.start()
        }

        /// shutdown(2) wakes the thread blocked in accept(2), which then closes the socket.
        func stop() {
            stopped.store(true, ordering: .releasing)
            shutdown(fd, Int32(SHUT_RDWR))
        }

        private func acceptLoop() {
            defer { close(fd) }
            while !stopped.load(ordering: .acquiring) {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    if !stopped.load(ordering: .acquiring) {
                        logger.warning("container gateway stopped accepting", metadata: [
                            "container.name": "\(container)", "error": "\(String(cString: strerror(errno)))",
                        ])
                    }
                    return
                }
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                guard let server = connectUpstream() else {
                    close(client)
                    continue
                }
                Relay(client: client, server: server).start()
            }
        }

        private func connectUpstream() -> Int32? {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return nil }
            var source = sockaddr_in()
            source.sin_family = sa_family_t(AF_INET)
            _ = inet_pton(AF_INET, ContainerGateway.relaySourceAddress, &source.sin_addr)
            var target = sockaddr_in()
            target.sin_family = sa_family_t(AF_INET)
            target.sin_port = in_port_t(UInt16(upstream.port).bigEndian)
            guard inet_pton(AF_INET, upstream.host, &target.sin_addr) == 1 else {
                logger.warning("container gateway: the server's host is not an IPv4 address", metadata: ["host": "\(upstream.host)"])
                close(fd)
                return nil
            }
            let bound = withUnsafePointer(to: &source) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            let connected = bound == 0 && withUnsafePointer(to: &target) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
            guard connected else {
                logger.warning("container gateway cannot reach the server", metadata: [
                    "container.name": "\(container)", "error": "\(String(cString: strerror(errno)))",
                ])
                close(fd)
                return nil
            }
            return fd
        }
    }

    /// Copies both directions of one connection; each side's end of stream is passed on as a
    /// half-close, and both sockets are closed when both directions are done.
    final class Relay: Sendable {
        let client: Int32
        let server: Int32
        private let directionsLeft = Atomic<Int>(2)

        init(client: Int32, server: Int32) {
            self.client = client
            self.server = server
        }

        func start() {
            for (from, to) in [(client, server), (server, client)] {
                let thread = Thread { [self] in
                    copy(from: from, to: to)
                    if directionsLeft.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                        close(client)
                        close(server)
                    }
                }
                thread.stackSize = 256 << 10
                thread.start()
            }
        }

        private func copy(from: Int32, to: Int32) {
            let size = 64 << 10
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            defer { buffer.deallocate() }
            outer: while true {
                let count = read(from, buffer, size)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                var sent = 0
                while sent < count {
                    let written = write(to, buffer + sent, count - sent)
                    if written < 0 && errno == EINTR { continue }
                    if written <= 0 {
                        // The other side is gone: stop reading this side too.
                        shutdown(from, Int32(SHUT_RD))
                        break outer
                    }
                    sent += written
                }
            }
            shutdown(to, Int32(SHUT_WR))
        }
    }
}

public struct ContainerGatewayError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
