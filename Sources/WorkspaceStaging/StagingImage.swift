import Crypto
public import Foundation

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
            var block = TarWriter.block(name: Array(name.utf8), type: type, mode: mode, size: Int64(data.count))
            if !link.isEmpty {
                for (index, byte) in link.utf8.enumerated() { block[157 + index] = byte }
                // The checksum covers the link name too.
                for index in 148..<156 { block[index] = UInt8(ascii: " ") }
                let sum = block.reduce(0) { $0 + Int($1) }
                let digits = Array((String(repeating: "0", count: 6 - String(sum, radix: 8).count) + String(sum, radix: 8)).utf8)
                for (index, byte) in (digits + [0, UInt8(ascii: " ")]).enumerated() { block[148 + index] = byte }
            }
            tar.append(contentsOf: block)
            tar.append(data)
            tar.append(contentsOf: [UInt8](repeating: 0, count: (512 - data.count % 512) % 512))
        }
        add("bin/", type: UInt8(ascii: "5"), mode: 0o755)
        add("bin/busybox", type: UInt8(ascii: "0"), mode: 0o755, data: binary)
        for applet in Self.applets { add("bin/\(applet)", type: UInt8(ascii: "2"), mode: 0o777, link: "busybox") }
        add("tmp/", type: UInt8(ascii: "5"), mode: 0o1777)
        add("stage/", type: UInt8(ascii: "5"), mode: 0o755)
        tar.append(contentsOf: [UInt8](repeating: 0, count: 1024))
        rootfs = tar
        let hash = SHA256.hash(data: tar).map { String(format: "%02x", $0) }.joined().prefix(16)
        reference = "\(Self.repository):\(hash)"
    }
}
