/// A Docker image reference, `[domain/]path[:tag][@digest]`, split into its parts, and the rule that
/// maps an Amazon ECR image URI onto the registry Trainyard is configured with (`--registry`).
///
/// Grammar: distribution/reference's `reference.go` (the grammar the Docker engine parses with):
/// the first `/`-separated component is a domain when it contains `.` or `:` or is `localhost`;
/// path components are lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`; a tag is
/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; a digest is `algorithm:hex`; a name is at most 255 characters.
///
/// ECR: a SageMaker job names its image `<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`
/// (also `dkr.ecr-fips`, and `.amazonaws.com.cn` in the China regions; "Amazon ECR registries" in
/// the ECR user guide). With a registry configured, such a reference is pulled as
/// `<registry>/<repo>:<tag>`, so a job written for SageMaker runs unchanged; every other reference,
/// and every reference when no registry is configured, is used exactly as the user wrote it (an
/// image tagged locally with its ECR name still runs).
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    /// The registry host (with its port), nil when the reference names none (Docker Hub).
    public let domain: String?
    /// The repository path, e.g. `train/busybox`.
    public let path: String
    public let tag: String?
    /// `algorithm:hex`, e.g. `sha256:…`.
    public let digest: String?

    /// The tag a reference without tag or digest means (the Docker CLI's `TagNameOnly`).
    public static let defaultTag = "latest"
    /// A name (domain and path) is at most this long (distribution/reference `NameTotalLengthMax`).
    public static let maximumNameLength = 255

    /// Why a text is not an image reference; `description` says it as Docker would.
    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case invalidFormat(String)
        case nameTooLong(String)

        public var description: String {
            switch self {
            case .invalidFormat(let text): "invalid reference format: \"\(text)\""
            case .nameTooLong(let text): "repository name must not be more than \(ImageReference.maximumNameLength) characters: \"\(text)\""
            }
        }
    }

    public init(parsing text: String) throws(ParseError) {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else { throw .invalidFormat(text) }
        var rest = Substring(text)
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            let candidate = rest[rest.index(after: at)...]
            guard Self.isDigest(candidate) else { throw .invalidFormat(text) }
            digest = String(candidate)
            rest = rest[..<at]
        }
        // A tag follows the last ':' after the last '/' (a ':' before a '/' is a registry port).
        var tag: String?
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let candidate = rest[rest.index(after: colon)...]
            guard Self.isTag(candidate) else { throw .invalidFormat(text) }
            tag = String(candidate)
            rest = rest[..<colon]
        }
        guard rest.count <= Self.maximumNameLength else { throw .nameTooLong(text) }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false)
        var domain: String?
        if components.count > 1, let first = components.first,
            first.contains(".") || first.contains(":") || first == "localhost"
        {
            guard Self.isDomain(first) else { throw .invalidFormat(text) }
            domain = String(first)
            components.removeFirst()
        }
        guard !components.isEmpty, components.allSatisfy(Self.isPathComponent) else { throw .invalidFormat(text) }
        self.domain = domain
        self.path = components.joined(separator: "/")
        self.tag = tag
        self.digest = digest
    }

    /// The reference without tag or digest: what the engine's pull takes as `fromImage`.
    public var name: String { domain.map { "\($0)/\(path)" } ?? path }

    /// The tag or digest to pull (`tag` of the engine's pull): the digest when there is one (it
    /// names the content exactly), else the tag, else `latest`.
    public var tagOrDigest: String { digest ?? tag ?? Self.defaultTag }

    /// `name[:tag][@digest]`, as parsed (no default tag added).
    public var description: String {
        name + (tag.map { ":\($0)" } ?? "") + (digest.map { "@\($0)" } ?? "")
    }

    // MARK: ECR

    /// The parts of an ECR registry host, `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`.
    public struct ECRRegistry: Sendable, Hashable {
        public let account: String
        public let region: String
        public let fips: Bool
    }

    /// The ECR registry this reference names, if its domain is one.
    public var ecrRegistry: ECRRegistry? {
        guard let domain else { return nil }
        var labels = domain.lowercased().split(separator: ".", omittingEmptySubsequences: false)
        if labels.last == "cn" { labels.removeLast() }
        guard labels.count == 6, labels[4] == "amazonaws", labels[5] == "com", labels[1] == "dkr",
            labels[2] == "ecr" || labels[2] == "ecr-fips",
            labels[0].count == 12, labels[0].allSatisfy({ $0.isASCII && $0.isNumber }),
            !labels[3].isEmpty, labels[3].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
        else { return nil }
        return ECRRegistry(account: String(labels[0]), region: String(labels[3]), fips: labels[2] == "ecr-fips")
    }

    /// The reference to run: an ECR reference moves to `registry` (`<registry>/<repo>:<tag>`, the
    /// tag `latest` when none is given; a digest is kept); anything else, or anything when
    /// `registry` is nil, is returned as it came.
    public func resolved(registry: String?) -> ImageReference {
        guard let registry, ecrRegistry != nil else { return self }
        return ImageReference(domain: registry, path: path, tag: tag ?? (digest == nil ? Self.defaultTag : nil), digest: digest)
    }

    /// `resolved(registry:)` for a reference as text: text that is not a reference (the engine
    /// rejects it later, with its own message) and non-ECR references come back unchanged.
    public static func resolve(_ text: String, registry: String?) -> String {
        guard registry != nil, let reference = try? ImageReference(parsing: text), reference.ecrRegistry != nil else {
            return text
        }
        return reference.resolved(registry: registry).description
    }

    /// Whether `text` is a registry address `host[:port]` as `--registry` takes it (no scheme, no
    /// path): the domain grammar of a reference.
    public static func isValidRegistry(_ text: String) -> Bool {
        !text.isEmpty && !text.contains("/") && isDomain(Substring(text))
    }

    private init(domain: String?, path: String, tag: String?, digest: String?) {
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    // MARK: Grammar

    private static func isAlphanumeric(_ c: Character) -> Bool {
        c.isASCII && (c.isLowercase || c.isNumber)
    }

    /// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
    private static func isPathComponent(_ component: Substring) -> Bool {
        guard let first = component.first, let last = component.last, isAlphanumeric(first), isAlphanumeric(last) else {
            return false
        }
        var separator = ""
        for c in component {
            if isAlphanumeric(c) {
                guard separator.isEmpty || separator == "." || separator == "_" || separator == "__"
                    || separator.allSatisfy({ $0 == "-" })
                else { return false }
                separator = ""
            } else if c == "." || c == "_" || c == "-" {
                separator.append(c)
            } else {
                return false
            }
        }
        return true
    }

    /// `[\w][\w.-]{0,127}`
    private static func isTag(_ tag: Substring) -> Bool {
        func word(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_") }
        guard let first = tag.first, word(first), tag.count <= 128 else { return false }
        return tag.allSatisfy { word($0) || $0 == "." || $0 == "-" }
    }

    /// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}` (distribution/reference
    /// `DigestRegexp`); sha256 digests must have 64 hex digits (opencontainers/go-digest).
    private static func isDigest(_ digest: Substring) -> Bool {
        guard let colon = digest.firstIndex(of: ":") else { return false }
        let algorithm = digest[..<colon]
        let hex = digest[digest.index(after: colon)...]
        guard let first = algorithm.first, first.isASCII, first.isLetter,
            algorithm.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_+.".contains($0)) }),
            hex.count >= 32, hex.allSatisfy({ $0.isHexDigit && $0.isASCII })
        else { return false }
        if algorithm == "sha256" { return hex.count == 64 }
        return true
    }

    /// `host[:port]`: DNS labels (`[A-Za-z0-9]` ends, `-` inside) joined by `.`, or a bracketed
    /// IPv6 address, then an optional decimal port.
    private static func isDomain(_ domain: Substring) -> Bool {
        var host = domain
        if domain.hasPrefix("[") {
            guard let close = domain.firstIndex(of: "]") else { return false }
            let inner = domain[domain.index(after: domain.startIndex)..<close]
            guard !inner.isEmpty, inner.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return false }
            let after = domain[domain.index(after: close)...]
            if after.isEmpty { return true }
            guard after.first == ":" else { return false }
            return isPort(after.dropFirst())
        }
        if let colon = domain.firstIndex(of: ":") {
            guard isPort(domain[domain.index(after: colon)...]) else { return false }
            host = domain[..<colon]
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && labels.allSatisfy { label in
            guard let first = label.first, let last = label.last else { return false }
            func alnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }
            return alnum(first) && alnum(last) && label.allSatisfy { alnum($0) || $0 == "-" }
        }
    }

    private static func isPort(_ port: Substring) -> Bool {
        guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(port) else {
            return false
        }
        return value <= 65535
    }
}
