internal import CNetNS
import Foundation
internal import Glibc
import Synchronization

/// A listening TCP socket created inside another process's network namespace (a container's),
/// while the process that holds it keeps running in its own. Connections made inside that
/// namespace to the socket's address are accepted here, in the host's namespace.
///
/// Entering a namespace needs CAP_SYS_ADMIN (a server running as root); `setns(2)` moves only the
/// calling thread, so the work runs on a thread of its own that ends right after: no other code
/// ever runs in the container's namespace, even if moving back failed.
enum NetworkNamespaceListener {
    /// A blocking listening socket bound to `address:port` in the network namespace of `pid`.
    static func listen(inNamespaceOf pid: Int32, address: String, port: Int) throws(ContainerGatewayError) -> Int32 {
        let result = Mutex<Result<Int32, ContainerGatewayError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let outcome = bindInNamespace(pid: pid, address: address, port: port)
            result.withLock { $0 = outcome }
            done.signal()
        }
        thread.stackSize = 256 << 10
        thread.start()
        done.wait()
        return try result.withLock { $0 ?? .failure(ContainerGatewayError(description: "no result")) }.get()
    }

    private static func bindInNamespace(pid: Int32, address: String, port: Int) -> Result<Int32, ContainerGatewayError> {
        func failure(_ what: String) -> Result<Int32, ContainerGatewayError> {
            .failure(ContainerGatewayError(description: "\(what): \(String(cString: strerror(errno)))"))
        }
        let target = open("/proc/\(pid)/ns/net", O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { return failure("cannot open the network namespace of process \(pid)") }
        defer { close(target) }
        let own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard own >= 0 else { return failure("cannot open this thread's network namespace") }
        defer { close(own) }
        guard trainyard_setns_net(target) == 0 else {
            return failure("cannot enter the network namespace of process \(pid) (needs root)")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        let outcome: Result<Int32, ContainerGatewayError>
        if fd < 0 {
            outcome = failure("cannot create a socket in the container's network namespace")
        } else {
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = in_port_t(UInt16(port).bigEndian)
            _ = inet_pton(AF_INET, address, &socketAddress.sin_addr)
            let bound = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if bound != 0 {
                outcome = failure("cannot bind \(address):\(port) in the container's network namespace")
                close(fd)
            } else if Glibc.listen(fd, 64) != 0 {
                outcome = failure("cannot listen in the container's network namespace")
                close(fd)
            } else {
                outcome = .success(fd)
            }
        }
        // The thread ends next either way; moving back only keeps its last moments tidy.
        _ = trainyard_setns_net(own)
        return outcome
    }
}
