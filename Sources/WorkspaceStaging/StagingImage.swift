import Crypto
public import Foundation
import TarFormat

/// The staging image Trainyard makes itself: FROM scratch, the host's static busybox at
/// `/bin/busybox`, links for the applets the helper scripts use, and `/tmp`. Tagged by a hash of
/// its content (`trainyard/stage:<16 hex>`), so a new busybox makes a new tag and an existing tag
/// is never rebuilt. It runs only StagedContainer's fixed scripts.
public struct StagingImage: Sendable {
    public static let repository = "trainyard/stage"
    /// What the helper scripts call.
    static let applets = ["sh", "tar", "wget", "nc", "wc", "head", "grep", "rm", "cat"]

    /// The root filesystem as an uncompressed tar (what `POST /images/create?fromSrc=-` imports).
    public let rootfs: Data
    /// `trainyard/stage:<hash>`.
    public let reference: String

    /// `busybox` must be a static build (Debian's busybox-static): the image has no libc.
    public init(busybox: String = "/bin/busybox") throws(StagingError) {
        guard let binary = FileManager.default.contents(atPath: busybox) else {
            throw StagingError("\(busybox) is missing: workspace staging needs a static busybox (apt-get install busybox-static)")
        }
        var tar = Data()
        func add(_ name: String, type: UInt8, mode: Int, data: Data = Data(), link: String = "") {
            let block = TarHeader(name: name, type: type, mode: Int64(mode), size: Int64(data.count), linkname: link).encode()
            tar.append(contentsOf: block)
            tar.append(data)
            tar.append(contentsOf: [UInt8](repeating: 0, count: TarHeader.padding(for: Int64(data.count))))
        }
        add("bin/", type: TarHeader.directory, mode: 0o755)
        add("bin/busybox", type: TarHeader.regularFile, mode: 0o755, data: binary)
        for applet in Self.applets { add("bin/\(applet)", type: TarHeader.symbolicLink, mode: 0o777, link: "busybox") }
        add("tmp/", type: TarHeader.directory, mode: 0o1777)
        add("stage/", type: TarHeader.directory, mode: 0o755)
        tar.append(contentsOf: [UInt8](repeating: 0, count: 1024))
        rootfs = tar
        let hash = SHA256.hash(data: tar).map { String(format: "%02x", $0) }.joined().prefix(16)
        reference = "\(Self.repository):\(hash)"
    }
}
