import Foundation

/// The access keys a shared server accepts, each mapped to the AWS account whose jobs it sees.
///
/// File format (JSON), given with `--credentials-file`:
/// ```json
/// {"credentials": [
///   {"accessKeyId": "AKIAALICE0000000", "secretAccessKey": "...", "accountId": "111111111111", "name": "alice"}
/// ]}
/// ```
public struct Credentials: Sendable, Equatable {
    public struct Entry: Sendable, Equatable, Codable {
        public var accessKeyId: String
        public var secretAccessKey: String
        public var accountId: String
        public var name: String?

        public init(accessKeyId: String, secretAccessKey: String, accountId: String, name: String? = nil) {
            self.accessKeyId = accessKeyId
            self.secretAccessKey = secretAccessKey
            self.accountId = accountId
            self.name = name
        }
    }

    public var entries: [String: Entry]

    public init(_ entries: [Entry]) throws(CredentialsError) {
        var byKey: [String: Entry] = [:]
        for entry in entries {
            guard !entry.accessKeyId.isEmpty, !entry.secretAccessKey.isEmpty else {
                throw CredentialsError("an entry has an empty accessKeyId or secretAccessKey")
            }
            guard entry.accountId.count == 12, entry.accountId.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw CredentialsError("accountId of \(entry.accessKeyId) must be 12 digits")
            }
            guard byKey[entry.accessKeyId] == nil else {
                throw CredentialsError("access key \(entry.accessKeyId) appears twice")
            }
            byKey[entry.accessKeyId] = entry
        }
        self.entries = byKey
    }

    /// Reads a credentials file; errors say which file and what is wrong, in one line.
    public static func load(path: String) throws(CredentialsError) -> Credentials {
        struct File: Codable { var credentials: [Entry] }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CredentialsError("cannot read the credentials file \(path): \(error.localizedDescription)")
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw CredentialsError("the credentials file \(path) is not of the form {\"credentials\": [{\"accessKeyId\", \"secretAccessKey\", \"accountId\", \"name\"}]}")
        }
        do {
            return try Credentials(file.credentials)
        } catch {
            throw CredentialsError("the credentials file \(path): \(error.description)")
        }
    }
}

public struct CredentialsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
