public import Crypto
public import Foundation

/// Which way a staging transfer goes: the workspace into the volumes before the training
/// container starts (`in`), or the volumes' outputs back after it exits (`out`).
public enum StagingDirection: String, Sendable, Hashable, CaseIterable {
    case stageIn = "in"
    case stageOut = "out"
}

/// The bearer tokens in staging URLs (`/_trainyard/staging/<token>/in|out`).
///
/// A token is an HMAC-SHA256, under a secret kept in the data directory, of the direction and the
/// training container's name (which holds the data dir's instance id, the job id and name and the
/// host): unguessable, never a path, and the same after a restart, so a staging container that
/// outlived a crashed server still works against the next one. The HMAC alone does not make a
/// token valid: WorkspaceStaging accepts it only while a transfer in that direction is open for
/// that container (the job is then in the phase that needs it), and answers 403 otherwise.
/// The secret is made and kept as ContainerCredentials.swift keeps the job-key secret.
public struct StagingTokens: Sendable {
    /// Raw bytes (SymmetricKey is not Sendable); a key is made from them per use.
    private let secret: Data

    public init(secret: Data) { self.secret = secret }

    /// Reads `<dataDir>/staging.secret`, creating it (32 random bytes, mode 0600) on first start.
    public static func load(dataDir: URL) throws -> StagingTokens {
        let path = dataDir.appendingPathComponent("staging.secret").path
        if let data = FileManager.default.contents(atPath: path), data.count == 32 {
            return StagingTokens(secret: data)
        }
        let data = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw StagingError("cannot write \(path)")
        }
        return StagingTokens(secret: data)
    }

    /// 43 characters of unpadded base64url: safe in a URL path and a shell word.
    public func token(container: String, direction: StagingDirection) -> String {
        let message = Data("trainyard-staging\0\(direction.rawValue)\0\(container)".utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret))
        return Data(mac).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Compares in time independent of where the strings differ.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

/// A staging failure, in words for the job's log and the server's.
public struct StagingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
