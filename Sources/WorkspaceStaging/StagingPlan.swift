public import ContainerRuntime
import Foundation

/// One bind mount of a training container turned into a named volume.
public struct StagedVolume: Sendable, Equatable, Codable {
    /// The engine's volume name: `<container name>.stage<index>`.
    public var name: String
    /// Where the training container sees it (`/opt/ml/input`, `/opt/ml/model`, a checkpoint path, ...).
    public var target: String
    /// The server's folder it is filled from and, unless `inputOnly`, emptied back into.
    public var source: String
    /// Sent in only (`/opt/ml/input`: a 100 MB channel is not sent back).
    public var inputOnly: Bool
    public var readOnly: Bool

    enum CodingKeys: String, CodingKey { case name = "v", target = "t", source = "s", inputOnly = "i", readOnly = "r" }

    public init(name: String, target: String, source: String, inputOnly: Bool, readOnly: Bool) {
        self.name = name
        self.target = target
        self.source = source
        self.inputOnly = inputOnly
        self.readOnly = readOnly
    }
}

/// What staging makes of one training container's spec (WorkspaceStaging.plan): the same
/// container with volumes where its bind mounts were, and the helper containers that fill and
/// empty those volumes. Engine-neutral: a plain Docker runtime runs the helpers as containers, a
/// Swarm runtime as one-task services on the training task's node.
public struct StagedContainer: Sendable, Equatable {
    /// The training container: every bind mount replaced by its volume (same target, same
    /// read-only flag), and the plan in the `stagingLabel` label so that a restarted server can
    /// stage out and clean up a container it adopts.
    public var training: ContainerSpec
    public var volumes: [StagedVolume]

    public init(training: ContainerSpec, volumes: [StagedVolume]) {
        self.training = training
        self.volumes = volumes
    }

    /// On training containers: the JSON of their `[StagedVolume]`.
    public static let stagingLabel = "trainyard.staging"
    /// On volumes and helper containers: the training container they belong to.
    public static let containerLabel = "trainyard.staging.container"
    /// On helper containers: `in` or `out`.
    public static let helperLabel = "trainyard.staging.helper"

    /// Where a helper sees volume `index`: `/stage/<index>`, so tar entries are `<index>/...`.
    public static func helperPath(_ index: Int) -> String { "/stage/\(index)" }

    /// The plan a training container's labels carry (nil: not staged).
    public static func volumes(fromLabels labels: [String: String]) -> [StagedVolume]? {
        guard let text = labels[stagingLabel] else { return nil }
        return try? JSONDecoder().decode([StagedVolume].self, from: Data(text.utf8))
    }

    /// The helper container for `direction`: the staging image's busybox running Trainyard's fixed
    /// script (never user code), network `host` (it reaches `advertiseURL` as the node does), the
    /// training container's labels plus `helperLabel`, each volume at `helperPath(index)`.
    ///
    /// - in: empties the volumes (a retry after a crash starts clean), then
    ///   `wget -O - <url> | tar -x -C /stage`.
    /// - out: `tar -c` of the volumes that are not input-only, sent as the body of a hand-made
    ///   HTTP/1.0 POST through `nc`: busybox `wget --post-file` reads the whole file into memory,
    ///   and the server needs a Content-Length, so the archive is made twice (once through `wc -c`
    ///   to count it; the training container has exited, nothing changes it in between). Busybox
    ///   tar stores links, FIFOs and devices as such, never what they point to; the server decides.
    ///   Once the server has answered 2xx, every volume is emptied: on a cluster the server cannot
    ///   delete a volume on another node (Swarm's manager has no such call), so what stays there
    ///   is an empty named volume, never the job's data.
    public func helper(
        _ direction: StagingDirection, image: String, advertise: AdvertisedAddress, token: String
    ) -> ContainerSpec {
        var labels = training.labels
        labels[Self.stagingLabel] = nil
        // A helper is on network `host`, never on the job's network (which may not exist yet).
        labels[ContainerSpec.clusterNetworkLabel] = nil
        labels[Self.containerLabel] = training.name
        labels[Self.helperLabel] = direction.rawValue
        let path = "/_trainyard/staging/\(token)/\(direction.rawValue)"
        let script: String
        let clean = volumes.indices.map { "rm -rf \(Self.helperPath($0))/* \(Self.helperPath($0))/.[!.]* \(Self.helperPath($0))/..?*" }
        switch direction {
        case .stageIn:
            script = (["set -e -o pipefail"] + clean + [
                "wget -q -O - '\(advertise.url)\(path)' | tar -x -C /stage",
                "echo staged in",
            ]).joined(separator: "\n")
        case .stageOut:
            let names = volumes.indices.filter { !volumes[$0].inputOnly }.map(String.init).joined(separator: " ")
            script = ([
                "set -e -o pipefail",
                "cd /stage",
                "size=$(tar -c \(names) | wc -c)",
                "{ printf 'POST \(path) HTTP/1.0\\r\\nHost: \(advertise.hostPort)\\r\\nContent-Type: application/x-tar\\r\\nContent-Length: %s\\r\\n\\r\\n' \"$size\"; tar -c \(names); } | nc \(advertise.host) \(advertise.port) > /tmp/response",
                "head -n 1 /tmp/response",
                "head -n 1 /tmp/response | grep -q '^HTTP/1.[01] 2'",
            ] + clean).joined(separator: "\n")
        }
        return ContainerSpec(
            name: "\(training.name)-stage-\(direction.rawValue)", image: image, entrypoint: ["/bin/sh", "-c", script],
            command: [], environment: ["PATH": "/bin"], labels: labels, hostname: training.hostname,
            mounts: volumes.enumerated().map { index, volume in
                ContainerSpec.Mount(
                    source: volume.name, target: Self.helperPath(index), kind: .volume,
                    volumeLabels: volumeLabels(volume))
            },
            networkMode: "host")
    }

    /// A volume's labels: the training container's (job, host, instance: what cleanup looks for)
    /// and the container it belongs to.
    public func volumeLabels(_ volume: StagedVolume) -> [String: String] {
        var labels = training.labels
        labels[Self.stagingLabel] = nil
        labels[ContainerSpec.clusterNetworkLabel] = nil
        labels[Self.containerLabel] = training.name
        return labels
    }
}

/// The server's address as nodes see it (`--advertise-url http://HOST:PORT`).
public struct AdvertisedAddress: Sendable, Equatable {
    /// `http://HOST:PORT`, without a trailing slash.
    public var url: String
    public var host: String
    public var port: Int
    public var hostPort: String { "\(host):\(port)" }

    /// Only `http://host:port` (busybox wget and nc speak no TLS); a bracketed IPv6 host is not supported.
    public init(parsing text: String) throws(StagingError) {
        var rest = Substring(text)
        guard rest.hasPrefix("http://") else { throw StagingError("--advertise-url \(text): expected http://HOST:PORT") }
        rest = rest.dropFirst("http://".count)
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port),
            parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" })
        else { throw StagingError("--advertise-url \(text): expected http://HOST:PORT (a name or IPv4 address and a port)") }
        host = String(parts[0])
        self.port = port
        url = "http://\(host):\(port)"
    }
}
