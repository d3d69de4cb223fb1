extension CreateTrainingJobInput {
    /// Request members that hold the user's own data, never read by the server as a location.
    static let memberDataMembers: Set<String> = ["HyperParameters", "Environment", "Tags"]

    /// `file://` URIs reach this machine's files as the server's user (root, often): an input
    /// channel `file:///etc/` copied the host's /etc, `S3OutputPath file:///tmp/x` wrote anywhere
    /// (issue 12 item 1). So every `file://` location in the request (channels, S3OutputPath,
    /// CheckpointConfig.S3Uri, the debugger/profiler/TensorBoard output paths) must lie under a
    /// prefix the operator allowed with `--allow-file-uris`; otherwise a ValidationException.
    static func checkFileURIs(_ input: JSONValue, allowedPrefixes: [String], member: String = "") throws(AWSServiceError) {
        switch input {
        case .object(let members):
            for (key, value) in members where !(member.isEmpty && memberDataMembers.contains(key)) {
                try checkFileURIs(value, allowedPrefixes: allowedPrefixes, member: member.isEmpty ? key : member + "." + key)
            }
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                try checkFileURIs(element, allowedPrefixes: allowedPrefixes, member: "\(member)[\(index)]")
            }
        case .string(let text) where text.lowercased().hasPrefix("file:"):
            guard isAllowed(fileURI: text, prefixes: allowedPrefixes) else {
                let allowed = allowedPrefixes.isEmpty
                    ? "none are allowed on this server"
                    : "allowed prefixes: \(allowedPrefixes.joined(separator: ", "))"
                throw .validation(
                    "\(member) '\(text)' is not allowed: this server reads and writes file:// locations only under the prefixes its operator allowed with --allow-file-uris (\(allowed)). Use s3://bucket/key.")
            }
        default:
            break
        }
    }

    /// `file:///abs/path` with no `..` segment, under one of `prefixes` (whole components).
    static func isAllowed(fileURI: String, prefixes: [String]) -> Bool {
        guard fileURI.hasPrefix("file:///") else { return false }
        let rawPath = String(fileURI.dropFirst("file://".count))
        let path = rawPath.removingPercentEncodingIfPossible
        guard !path.split(separator: "/").contains("..") else { return false }
        return prefixes.contains { prefix in
            let normalized = prefix.hasSuffix("/") ? prefix : prefix + "/"
            return path.hasPrefix(normalized) || path + "/" == normalized
        }
    }
}

extension String {
    /// Percent-decoded (the scheduler decodes `file://` paths the same way), or unchanged.
    fileprivate var removingPercentEncodingIfPossible: String {
        var bytes: [UInt8] = []
        var iterator = Array(utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension CreateTrainingJobInput {
    /// Paths a checkpoint folder may not be mounted over. SageMaker documents no rule for
    /// CheckpointConfig.LocalPath (API CheckpointConfig: default /opt/ml/checkpoints); for
    /// TensorBoardOutputConfig it answers `"LocalPath" of "TensorBoardOutputConfig" cannot start
    /// with the following reserved path: [/opt/ml, /tmp, /usr/local/nvidia]`
    /// (aws/amazon-sagemaker-examples#3620). Here the container's system folders are reserved
    /// (`/proc` as LocalPath made the engine fail with host paths in FailureReason; issue 12
    /// item 10), and so are the folders SageMaker itself mounts.
    static let reservedCheckpointPaths = [
        "/opt/ml/input", "/opt/ml/model", "/opt/ml/output", "/opt/ml/code", "/proc", "/sys", "/dev", "/etc", "/bin", "/sbin",
        "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/boot", "/run", "/var/run", "/usr/local/nvidia",
    ]

    static func checkCheckpointLocalPath(_ path: String) throws(AWSServiceError) {
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let reserved = reservedCheckpointPaths.first { path == $0 || path.hasPrefix($0 + "/") }
        guard path.hasPrefix("/"), path != "/", !components.contains(""), !components.contains(".."), !components.contains("."),
            reserved == nil
        else {
            throw .validation(
                "\"LocalPath\" of \"CheckpointConfig\" must be an absolute, normalized folder path that does not start with the following reserved path: [\(reservedCheckpointPaths.joined(separator: ", "))]")
        }
    }
}
