import Crypto
public import EventHTTP
public import Foundation

/// `--auth sigv4`: verifies AWS Signature Version 4 exactly as AWS computes it (the algorithm of
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html and botocore's
/// `SigV4Auth`), with keys from a credentials file. The request then acts for the key's account.
///
/// Error codes and texts are the ones AWS JSON services answer (as seen from boto3); their HTTP
/// statuses are unsure for SageMaker (AWS answers 403 for a missing token and 400 for the others
/// on JSON services), and none is a 5xx, so boto3 never retries them.
public struct SigV4Authenticator: RequestAuthenticator {
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// AWS refuses requests whose X-Amz-Date is more than 15 minutes off.
    public static let allowedSkew: TimeInterval = 15 * 60

    let credentials: Credentials
    let region: String
    let now: @Sendable () -> Date

    public init(credentials: Credentials, region: String, now: @escaping @Sendable () -> Date = { Date() }) {
        self.credentials = credentials
        self.region = region
        self.now = now
    }

    public func account(for request: HTTPRequest, service: String) throws(AWSServiceError) -> String {
        guard let header = request.headers["authorization"], !header.isEmpty else {
            throw AWSServiceError(code: "MissingAuthenticationTokenException", message: "Missing Authentication Token", status: 403)
        }
        let authorization = try Self.parseAuthorization(header)
        guard let entry = credentials.entries[authorization.accessKeyId] else {
            throw AWSServiceError(code: "UnrecognizedClientException", message: "The security token included in the request is invalid.")
        }
        if request.headers["x-amz-security-token"] != nil {
            // Trainyard issues no temporary credentials, so a session token cannot be one of ours.
            throw AWSServiceError(
                code: "UnrecognizedClientException",
                message: "The security token included in the request is invalid. Trainyard accepts only the long-term access keys of its credentials file, without a session token.")
        }
        guard let amzDate = request.headers["x-amz-date"], let signedAt = Self.parseAmzDate(amzDate) else {
            throw AWSServiceError(
                code: "IncompleteSignatureException",
                message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=\(header)")
        }
        let skew = signedAt.timeIntervalSince(now())
        if abs(skew) > Self.allowedSkew {
            let current = now()
            let bound = Self.formatAmzDate(current.addingTimeInterval(skew < 0 ? -Self.allowedSkew : Self.allowedSkew))
            let message = skew < 0
                ? "Signature expired: \(amzDate) is now earlier than \(bound) (\(Self.formatAmzDate(current)) - 15 min.)"
                : "Signature not yet current: \(amzDate) is still later than \(bound) (\(Self.formatAmzDate(current)) + 15 min.)"
            throw AWSServiceError(code: "InvalidSignatureException", message: message)
        }
        guard authorization.date == String(amzDate.prefix(8)) else {
            throw AWSServiceError(
                code: "InvalidSignatureException",
                message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '\(authorization.date)' != '\(amzDate.prefix(8))', from '\(amzDate)'.")
        }
        guard authorization.region == region else {
            throw AWSServiceError(
                code: "InvalidSignatureException",
                message: "Credential should be scoped to a valid region, not '\(authorization.region)'. ")
        }
        guard authorization.service == service else {
            throw AWSServiceError(
                code: "InvalidSignatureException",
                message: "Credential should be scoped to correct service: '\(service)'. ")
        }
        guard authorization.terminator == "aws4_request" else {
            throw AWSServiceError(
                code: "InvalidSignatureException",
                message: "Credential should be scoped with a valid terminator: 'aws4_request', not '\(authorization.terminator)'. ")
        }
        guard authorization.signedHeaders.contains("host") else {
            throw AWSServiceError(code: "InvalidSignatureException", message: "'Host' must be a 'SignedHeader' in the AWS Authorization.")
        }
        try Self.checkOperationIsSigned(request, signedHeaders: authorization.signedHeaders)

        let bodyHash = SHA256.hash(data: request.body).hexString
        if let declared = request.headers["x-amz-content-sha256"], declared != "UNSIGNED-PAYLOAD", declared.lowercased() != bodyHash {
            throw AWSServiceError(
                code: "InvalidSignatureException",
                message: "The provided 'x-amz-content-sha256' header does not match what was computed.")
        }
        let canonical = Self.canonicalRequest(request, signedHeaders: authorization.signedHeaders, payloadHash: bodyHash)
        let scope = "\(authorization.date)/\(authorization.region)/\(authorization.service)/aws4_request"
        let stringToSign = [Self.algorithm, amzDate, scope, SHA256.hash(data: Data(canonical.utf8)).hexString].joined(separator: "\n")
        let key = Self.signingKey(
            secret: entry.secretAccessKey, date: authorization.date, region: authorization.region, service: authorization.service)
        // isValidAuthenticationCode compares in constant time.
        guard let provided = Data(hexString: authorization.signature),
            HMAC<SHA256>.isValidAuthenticationCode(provided, authenticating: Data(stringToSign.utf8), using: key)
        else {
            throw AWSServiceError(
                code: "InvalidSignatureException",
                message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
        }
        return entry.accountId
    }

    /// The signature must bind what the request does (issue 12 item 5): a path-form request signed
    /// with `SignedHeaders=host;x-amz-date` and replayed with an added, unsigned
    /// `X-Amz-Target: SageMaker.DeleteTrainingJob` deleted the job. So `x-amz-target` and
    /// `content-type`, when sent, must be signed (botocore's SigV4Auth signs every header but
    /// `expect`, `user-agent` and `x-amzn-trace-id`, so real clients always do), and a path-form
    /// request (whose path is signed) may not name a different operation in the header.
    static func checkOperationIsSigned(_ request: HTTPRequest, signedHeaders: [String]) throws(AWSServiceError) {
        for (header, display) in [("x-amz-target", "X-Amz-Target"), ("content-type", "Content-Type")]
        where request.headers[header] != nil && !signedHeaders.contains(header) {
            throw AWSServiceError(
                code: "InvalidSignatureException", message: "'\(display)' must be a 'SignedHeader' in the AWS Authorization.")
        }
        if let target = request.headers["x-amz-target"], request.path != "/", !request.path.isEmpty,
            String(request.path.dropFirst()) != target
        {
            throw AWSServiceError(
                code: "InvalidSignatureException",
                message: "The X-Amz-Target header (\(target)) names a different operation than the request path (\(request.path)).")
        }
    }

    // MARK: - The pieces of SigV4

    struct Authorization: Equatable {
        var accessKeyId: String
        var date: String
        var region: String
        var service: String
        var terminator: String
        var signedHeaders: [String]
        var signature: String
    }

    static func parseAuthorization(_ header: String) throws(AWSServiceError) -> Authorization {
        guard header.hasPrefix(algorithm + " ") else {
            throw AWSServiceError(
                code: "IncompleteSignatureException",
                message: "Authorization header requires the \(algorithm) algorithm. Authorization=\(header)")
        }
        var fields: [String: String] = [:]
        for part in header.dropFirst(algorithm.count + 1).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        for required in ["Credential", "SignedHeaders", "Signature"] where fields[required] == nil {
            throw AWSServiceError(
                code: "IncompleteSignatureException",
                message: "Authorization header requires '\(required)' parameter. Authorization=\(header)")
        }
        let credential = fields["Credential"]!.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard credential.count == 5 else {
            throw AWSServiceError(
                code: "IncompleteSignatureException",
                message: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '\(fields["Credential"]!)'")
        }
        return Authorization(
            accessKeyId: credential[0], date: credential[1], region: credential[2], service: credential[3],
            terminator: credential[4], signedHeaders: fields["SignedHeaders"]!.split(separator: ";").map { $0.lowercased() },
            signature: fields["Signature"]!.lowercased())
    }

    /// The canonical request: method, URI, query, signed headers, signed header names, payload hash.
    static func canonicalRequest(_ request: HTTPRequest, signedHeaders: [String], payloadHash: String) -> String {
        let path = request.path.removingPercentEncoding ?? request.path
        let canonicalURI = path.isEmpty ? "/" : uriEncode(path, keepingSlashes: true)
        var pairs: [(key: String, value: String)] = []
        for pair in (request.query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            pairs.append((
                uriEncode(key.removingPercentEncoding ?? key, keepingSlashes: false),
                uriEncode(value.removingPercentEncoding ?? value, keepingSlashes: false)))
        }
        pairs.sort { lhs, rhs in lhs.key == rhs.key ? lhs.value < rhs.value : lhs.key < rhs.key }
        let query = pairs.map { pair in pair.key + "=" + pair.value }.joined(separator: "&")
        let headers = signedHeaders.sorted().map { name -> String in
            let values = request.headers.values(name: name).map { value in
                // Trim, and collapse sequential spaces to one (SigV4's canonical header rule).
                value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            }
            return "\(name):\(values.joined(separator: ","))\n"
        }.joined()
        return [request.method, canonicalURI, query, headers, signedHeaders.sorted().joined(separator: ";"), payloadHash]
            .joined(separator: "\n")
    }

    /// RFC 3986 encoding of everything but the unreserved characters (and `/` in paths).
    static func uriEncode(_ text: String, keepingSlashes: Bool) -> String {
        var encoded = ""
        for byte in text.utf8 {
            if isUnreserved(byte) || (keepingSlashes && byte == UInt8(ascii: "/")) {
                encoded.unicodeScalars.append(UnicodeScalar(byte))
            } else {
                encoded += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return encoded
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        let isLetter = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
        let isDigit = byte >= 0x30 && byte <= 0x39
        return isLetter || isDigit || byte == 0x2D || byte == 0x5F || byte == 0x2E || byte == 0x7E  // - _ . ~
    }

    static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Data(("AWS4" + secret).utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    /// `yyyyMMdd'T'HHmmss'Z'`, parsed by hand: no formatter state shared between threads.
    static func parseAmzDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
            let minute = number(11..<13), let second = number(13..<15)
        else { return nil }
        var components = DateComponents()
        (components.year, components.month, components.day) = (year, month, day)
        (components.hour, components.minute, components.second) = (hour, minute, second)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard components.isValidDate(in: calendar) else { return nil }
        return calendar.date(from: components)
    }

    static func formatAmzDate(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func pad(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2) + "T" + pad(c.hour, 2) + pad(c.minute, 2) + pad(c.second, 2) + "Z"
    }
}

extension Digest {
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}

extension Data {
    init?(hexString: String) {
        guard hexString.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hexString.count / 2)
        var index = hexString.startIndex
        while index < hexString.endIndex {
            let next = hexString.index(index, offsetBy: 2)
            guard let byte = UInt8(hexString[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.init(bytes)
    }
}
