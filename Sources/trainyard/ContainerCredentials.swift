import Crypto
import DockerEngine
import EventHTTP
import Foundation
import JobStore
import ObjectStore
import S3API
import SageMakerAPI
import TrainingCore

/// Access keys minted per training job, as SageMaker hands a container its execution role's
/// credentials: valid for the job's own account, for S3 and STS only, and only while the job is
/// InProgress or Stopping (revoked when it ends, with nothing to delete).
///
/// Nothing is stored per job: the key id names the job (`AKIATYJOB` + 11 characters, 20 like
/// AWS's), and the secret is an HMAC of the key id under a server secret kept in
/// `<data-dir>/job-keys.secret`, so a restarted server still knows the keys of the containers it
/// adopts. The 11 characters are the job's database id encrypted with a keyed permutation, not
/// the id itself: a container must not learn how many jobs the server has run for all accounts.
struct JobKeys: Sendable {
    static let prefix = "AKIATYJOB"

    /// Raw bytes (SymmetricKey is not Sendable); a key is made from them per use.
    private let secret: Data

    init(secret: Data) { self.secret = secret }

    /// Reads the server secret, creating it (32 random bytes, mode 0600) on first start.
    static func load(dataDir: URL) throws -> JobKeys {
        let path = dataDir.appendingPathComponent("job-keys.secret").path
        if let data = FileManager.default.contents(atPath: path), data.count == 32 {
            return JobKeys(secret: data)
        }
        let data = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CredentialsError("cannot write \(path)")
        }
        return JobKeys(secret: data)
    }

    func accessKeyID(jobID: Int64) -> String {
        Self.prefix + Self.base32(permute(UInt64(jobID)))
    }

    func credentials(jobID: Int64) -> (accessKeyID: String, secretAccessKey: String) {
        let id = accessKeyID(jobID: jobID)
        return (id, secretAccessKey(accessKeyID: id))
    }

    func secretAccessKey(accessKeyID: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(accessKeyID.utf8), using: SymmetricKey(data: secret))
        // 40 characters of base64 without '+' and '/', as AWS secrets look.
        return String(Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "A")
            .replacingOccurrences(of: "/", with: "B").prefix(40))
    }

    /// The job a key id names, or nil for any other key.
    func jobID(accessKeyID: String) -> Int64? {
        guard accessKeyID.count == 20, accessKeyID.hasPrefix(Self.prefix),
            let block = Self.decodeBase32(accessKeyID.dropFirst(Self.prefix.count))
        else { return nil }
        let id = unpermute(block)
        return id > 0 && id <= UInt64(Int64.max) ? Int64(id) : nil
    }

    // MARK: key ids

    /// Job ids are encrypted as 54-bit blocks (a 4-round Feistel network over two 27-bit halves,
    /// rounds keyed by HMAC-SHA256 under the server secret): a bijection, so every id has one key
    /// id and a key id decodes to one id; ids beyond 2^54 do not occur (SQLite rowids of one server).
    private static let halfBits: UInt64 = 27
    private static let halfMask: UInt64 = (1 << halfBits) - 1
    private static let rounds: UInt8 = 4

    private func roundValue(_ round: UInt8, _ half: UInt64) -> UInt64 {
        var message = Data([round])
        withUnsafeBytes(of: half.littleEndian) { message.append(contentsOf: $0) }
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret))
        return mac.withUnsafeBytes { bytes in bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } } & Self.halfMask
    }

    func permute(_ value: UInt64) -> UInt64 {
        var left = (value >> Self.halfBits) & Self.halfMask, right = value & Self.halfMask
        for round in 0..<Self.rounds { (left, right) = (right, left ^ roundValue(round, right)) }
        return left << Self.halfBits | right
    }

    func unpermute(_ value: UInt64) -> UInt64 {
        var left = (value >> Self.halfBits) & Self.halfMask, right = value & Self.halfMask
        for round in (0..<Self.rounds).reversed() { (left, right) = (right ^ roundValue(round, left), left) }
        return left << Self.halfBits | right
    }

    /// RFC 4648 base32 letters, all within AWS key ids' alphabet (upper-case letters and digits).
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// 11 characters of 5 bits: 55 bits, the top one always 0 for a 54-bit block.
    static func base32(_ value: UInt64) -> String {
        String(decoding: (0..<11).reversed().map { alphabet[Int((value >> (5 * UInt64($0))) & 31)] }, as: UTF8.self)
    }

    static func decodeBase32(_ text: Substring) -> UInt64? {
        guard text.utf8.count == 11 else { return nil }
        var value: UInt64 = 0
        for byte in text.utf8 {
            guard let digit = alphabet.firstIndex(of: byte) else { return nil }
            value = value << 5 | UInt64(digit)
        }
        return value >> 54 == 0 ? value : nil
    }
}

/// Puts job keys and the container gateway in front of the configured authenticator:
/// - a request signed with a job key is verified with that key (whatever `--auth` is), may call
///   S3 and STS only, and acts for the job's account while the job runs;
/// - a request relayed from a container (ContainerGateway's source address) must be signed so;
/// - every other request goes to the configured authenticator, unchanged.
struct ContainerAwareAuthenticator: RequestAuthenticator {
    let inner: any RequestAuthenticator
    let keys: JobKeys
    let store: JobStore
    let region: String

    static let containerServices: Set<String> = ["s3", "sts"]

    func account(for request: HTTPRequest, service: String) throws(AWSServiceError) -> String {
        let relayed = ContainerGateway.isRelayed(remoteAddress: request.remoteAddress)
        guard let keyID = Self.accessKeyID(of: request), let jobID = keys.jobID(accessKeyID: keyID) else {
            if relayed {
                throw Self.accessDenied(
                    service: service,
                    "A training container reaches Trainyard with its job's own credentials only (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as set in the container).")
            }
            return try inner.account(for: request, service: service)
        }
        guard Self.containerServices.contains(service) else {
            throw Self.accessDenied(
                service: service,
                "The credentials of training job \(jobID) allow S3 and STS only, not \(service).")
        }
        guard let job = try? store.job(id: jobID), job.status == .inProgress || job.status == .stopping else {
            throw Self.invalidKey(service: service)
        }
        let entry = Credentials.Entry(
            accessKeyId: keyID, secretAccessKey: keys.secretAccessKey(accessKeyID: keyID), accountId: job.account)
        guard let credentials = try? Credentials([entry]) else { throw Self.invalidKey(service: service) }
        return try SigV4Authenticator(credentials: credentials, region: region).account(for: request, service: service)
    }

    /// For S3Authenticator: the entry of a job key (whatever `--auth` is), a refusal for a
    /// container's request without one, nil for everything else.
    func s3Entry(for request: HTTPRequest) throws(S3Error) -> Credentials.Entry? {
        guard let keyID = Self.accessKeyID(of: request), let jobID = keys.jobID(accessKeyID: keyID) else {
            if ContainerGateway.isRelayed(remoteAddress: request.remoteAddress) {
                throw S3Error(
                    code: "AccessDenied",
                    message: "A training container reaches S3 with its job's own credentials only (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as set in the container).",
                    status: 403)
            }
            return nil
        }
        guard let job = try? store.job(id: jobID), job.status == .inProgress || job.status == .stopping else {
            throw S3Error(
                code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.",
                status: 403, details: [("AWSAccessKeyId", keyID)])
        }
        return Credentials.Entry(
            accessKeyId: keyID, secretAccessKey: keys.secretAccessKey(accessKeyID: keyID), accountId: job.account,
            name: "training-job-\(jobID)")
    }

    /// The key id of a header-signed (`Credential=KEY/...`) or presigned (`X-Amz-Credential`) request.
    static func accessKeyID(of request: HTTPRequest) -> String? {
        if let header = request.headers["authorization"], let range = header.range(of: "Credential=") {
            return String(header[range.upperBound...].prefix { $0 != "/" && $0 != "," && $0 != " " })
        }
        if let query = request.query {
            for pair in query.split(separator: "&") where pair.hasPrefix("X-Amz-Credential=") {
                let value = pair.dropFirst("X-Amz-Credential=".count)
                let decoded = value.removingPercentEncoding ?? String(value)
                return String(decoded.prefix { $0 != "/" })
            }
        }
        return nil
    }

    /// The services' own codes: S3's AccessDenied / InvalidAccessKeyId, STS's, JSON services'.
    static func accessDenied(service: String, _ message: String) -> AWSServiceError {
        switch service {
        case "s3", "sts": AWSServiceError(code: "AccessDenied", message: message, status: 403)
        default: AWSServiceError(code: "AccessDeniedException", message: message)
        }
    }

    static func invalidKey(service: String) -> AWSServiceError {
        switch service {
        case "s3":
            AWSServiceError(code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.", status: 403)
        case "sts":
            AWSServiceError(code: "InvalidClientTokenId", message: "The security token included in the request is invalid.", status: 403)
        default:
            AWSServiceError(code: "UnrecognizedClientException", message: "The security token included in the request is invalid.")
        }
    }
}

/// In front of the whole service: a request relayed from a container that is not signed with a
/// job key is refused before any handler sees it, so the server's unauthenticated endpoints
/// (/health, /metrics, pages) stay out of a container's reach; signed ones go on to
/// `ContainerAwareAuthenticator`, which verifies the key and allows S3 and STS only.
struct ContainerRequestFilter: HTTPResponder {
    let inner: any HTTPResponder
    let keys: JobKeys

    func respond(to request: HTTPRequest) async -> HTTPResponse {
        if let refusal = refusal(of: request) { return refusal }
        return await inner.respond(to: request)
    }

    func respondOnLoopThread(to request: HTTPRequest) -> HTTPResponse? {
        if let refusal = refusal(of: request) { return refusal }
        return inner.respondOnLoopThread(to: request)
    }

    private func refusal(of request: HTTPRequest) -> HTTPResponse? {
        guard ContainerGateway.isRelayed(remoteAddress: request.remoteAddress) else { return nil }
        if let keyID = ContainerAwareAuthenticator.accessKeyID(of: request), keys.jobID(accessKeyID: keyID) != nil,
            request.path != "/health", request.path != "/metrics"
        {
            return nil
        }
        // S3's error document: the gateway exists for S3.
        let body = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>AccessDenied</Code><Message>A training container reaches only Trainyard's S3 API (and STS), signed with its job's own credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as set in the container).</Message></Error>
            """
        return HTTPResponse(status: 403, headers: ["Content-Type": "application/xml"], body: Array(body.utf8))
    }
}
