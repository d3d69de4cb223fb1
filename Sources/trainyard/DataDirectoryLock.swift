import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One server per data dir (issue 12 item 8): two servers on one data dir both ran, each taking
/// the other's jobs. An exclusive `flock` on `<data-dir>/trainyard.lock`, held for the life of
/// the process (the descriptor is never closed), is released by the kernel when the process
/// dies, however it dies, so a crashed server never leaves a stale lock.
enum DataDirectoryLock {
    /// Takes the lock, or returns the one-line reason it is held.
    static func acquire(dataDir: String) -> String? {
        let path = (dataDir as NSString).appendingPathComponent("trainyard.lock")
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return "cannot open \(path): \(String(cString: strerror(errno)))" }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = read(fd, &buffer, buffer.count)
            close(fd)
            let holder = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            if code == EWOULDBLOCK {
                return "another trainyard server\(holder.isEmpty ? "" : " (pid \(holder))") is using the data directory \(dataDir); stop it or choose another --data-dir"
            }
            return "cannot lock \(path): \(String(cString: strerror(code)))"
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        // Deliberately never closed: closing would release the lock.
        return nil
    }
}
