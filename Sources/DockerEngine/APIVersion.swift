/// A Docker Engine API version such as 1.41, compared numerically (1.9 < 1.41).
struct APIVersion: Comparable, Sendable, CustomStringConvertible {
    var major: Int
    var minor: Int

    /// The newest API this client speaks. Engines 29+ refuse anything below 1.44, Debian 12's
    /// 20.10 offers at most 1.41; every endpoint and field used here exists in all of them.
    static let newestSupported = APIVersion(major: 1, minor: 47)

    init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        self.init(major: major, minor: minor)
    }

    var description: String { "\(major).\(minor)" }

    static func < (a: APIVersion, b: APIVersion) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }

    /// The version to use with an engine: the newest both sides speak, and never below the
    /// engine's minimum (an engine newer than this client keeps serving older APIs down to it).
    static func negotiate(serverVersion: APIVersion, serverMinimum: APIVersion?) -> APIVersion {
        var chosen = min(serverVersion, newestSupported)
        if let serverMinimum, chosen < serverMinimum {
            chosen = serverMinimum
        }
        return chosen
    }
}
