import Crypto
public import EventHTTP
public import Foundation
public import ObjectStore
public import SageMakerAPI

/// Who an S3 request acts for. `--auth none`: the configured account, signed or not. `--auth sigv4`:
/// AWS Signature Version 4 as S3 verifies it
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html): in the
/// Authorization header or in the query string (presigned URLs), with S3's own canonical URI (the
/// path exactly as sent: encoded once, never normalised) and the payload hash from
/// `x-amz-content-sha256`. Refusals carry S3's codes (SignatureDoesNotMatch, InvalidAccessKeyId, ...).
public struct S3Authenticator: Sendable {
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// S3 refuses requests signed more than 15 minutes away from its clock (RequestTimeTooSkewed).
    static let allowedSkew: TimeInterval = 15 * 60
    /// A presigned URL lives at most 7 days (X-Amz-Expires ≤ 604800).
    static let maxExpires = 604_800

    let credentials: Credentials?
    let defaultAccount: String
    let region: String
    let now: @Sendable () -> Date

    /// Keys that are not in the credentials file: the per-job keys of training containers
    /// (trainyard's ContainerCredentials.swift). Returns the entry to verify the request with, nil
    /// for a request that is not the hook's, or throws a refusal; consulted whatever `--auth` is.
    public typealias ExtraKeys = @Sendable (HTTPRequest) throws(S3Error) -> Credentials.Entry?
    let extraKeys: ExtraKeys?

    /// - Parameter credentials: nil for `--auth none`.
    public init(
        credentials: Credentials?, defaultAccount: String, region: String, now: @escaping @Sendable () -> Date = { Date() },
        extraKeys: ExtraKeys? = nil
    ) {
        self.credentials = credentials
        self.defaultAccount = defaultAccount
        self.region = region
        self.now = now
        self.extraKeys = extraKeys
    }

    /// What a verified request brings: its account, and what a streamed body needs to check the
    /// signature of each chunk.
    struct Identity: Sendable {
        var account: String
        var accessKeyID: String?
        /// `x-amz-content-sha256`, or UNSIGNED-PAYLOAD for presigned URLs.
        var payloadHash: String
        var chunkSigning: ChunkSigning?
    }

    /// `@unchecked Sendable`: SymmetricKey is an immutable value that swift-crypto does not mark Sendable.
    struct ChunkSigning: @unchecked Sendable {
        var key: SymmetricKey
        var amzDate: String
        var scope: String
        var seedSignature: String
    }

    struct Signature {
        var accessKeyID: String
        var date: String
        var region: String
        var service: String
        var terminator: String
        var signedHeaders: [String]
        var signature: String
        var amzDate: String
        var payloadHash: String
        var presigned: Bool
        var expires: Int?
    }

    func authenticate(_ request: HTTPRequest, query: [(name: String, value: String)]) throws(S3Error) -> Identity {
        if let extraKeys, let entry = try extraKeys(request) {
            guard let only = try? Credentials([entry]) else {
                throw S3Error(code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.", status: 403)
            }
            return try S3Authenticator(credentials: only, defaultAccount: defaultAccount, region: region, now: now)
                .authenticate(request, query: query)
        }
        let declaredHash = request.headers["x-amz-content-sha256"]
        guard let credentials else {
            return Identity(account: defaultAccount, accessKeyID: nil, payloadHash: declaredHash ?? "UNSIGNED-PAYLOAD")
        }
        if request.headers["authorization"] == nil, Self.isSigV2Presigned(query) {
            return try authenticateSigV2(request, query: query, credentials: credentials)
        }
        let signature = try Self.parse(request, query: query)
        guard let entry = credentials.entries[signature.accessKeyID] else {
            throw S3Error(
                code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.",
                status: 403, details: [("AWSAccessKeyId", signature.accessKeyID)])
        }
        if request.headers["x-amz-security-token"] != nil || query.contains(where: { $0.name == "X-Amz-Security-Token" }) {
            throw S3Error(
                code: "InvalidToken",
                message: "The provided token is malformed or otherwise invalid. Trainyard accepts only the long-term access keys of its credentials file, without a session token.",
                status: 400)
        }
        guard let signedAt = Self.parseAmzDate(signature.amzDate) else {
            throw S3Error(code: "AccessDenied", message: "AWS authentication requires a valid Date or x-amz-date header", status: 403)
        }
        let current = now()
        if signature.presigned {
            let expires = signature.expires ?? 0
            if current.timeIntervalSince(signedAt) > Double(expires) {
                throw S3Error(
                    code: "AccessDenied", message: "Request has expired", status: 403,
                    details: [("X-Amz-Expires", String(expires)), ("Expires", Self.iso(signedAt.addingTimeInterval(Double(expires)))),
                        ("ServerTime", Self.iso(current))])
            }
            if signedAt.timeIntervalSince(current) > Self.allowedSkew {
                throw S3Error(code: "AccessDenied", message: "Request is not yet valid", status: 403)
            }
        } else if abs(signedAt.timeIntervalSince(current)) > Self.allowedSkew {
            throw S3Error(
                code: "RequestTimeTooSkewed", message: "The difference between the request time and the current time is too large.",
                status: 403, details: [("RequestTime", signature.amzDate), ("ServerTime", Self.iso(current)), ("MaxAllowedSkewMilliseconds", "900000")])
        }
        let malformedCode = signature.presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed"
        guard signature.date == String(signature.amzDate.prefix(8)) else {
            throw S3Error(
                code: malformedCode,
                message: "The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date.", status: 400)
        }
        guard signature.region == region else {
            throw S3Error(
                code: malformedCode,
                message: "The authorization header is malformed; the region '\(signature.region)' is wrong; expecting '\(region)'",
                status: 400, details: [("Region", region)])
        }
        guard signature.service == "s3", signature.terminator == "aws4_request" else {
            throw S3Error(
                code: malformedCode,
                message: "The authorization header is malformed; incorrect service \"\(signature.service)\". This endpoint belongs to \"s3\".",
                status: 400)
        }
        guard signature.signedHeaders.contains("host") else {
            throw S3Error(code: "AccessDenied", message: "There were headers present in the request which were not signed", status: 403)
        }
        let canonical = Self.canonicalRequest(request, query: query, signature: signature)
        let scope = "\(signature.date)/\(signature.region)/s3/aws4_request"
        let stringToSign = [Self.algorithm, signature.amzDate, scope, SHA256.hash(data: Data(canonical.utf8)).hex].joined(separator: "\n")
        let key = Self.signingKey(secret: entry.secretAccessKey, date: signature.date, region: signature.region)
        guard let provided = Self.bytes(hex: signature.signature),
            HMAC<SHA256>.isValidAuthenticationCode(provided, authenticating: Data(stringToSign.utf8), using: key)
        else {
            throw S3Error(
                code: "SignatureDoesNotMatch",
                message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                status: 403,
                details: [("AWSAccessKeyId", signature.accessKeyID), ("StringToSign", stringToSign), ("CanonicalRequest", canonical)])
        }
        return Identity(
            account: entry.accountId, accessKeyID: signature.accessKeyID, payloadHash: signature.payloadHash,
            chunkSigning: ChunkSigning(key: key, amzDate: signature.amzDate, scope: scope, seedSignature: signature.signature))
    }

    static func parse(_ request: HTTPRequest, query: [(name: String, value: String)]) throws(S3Error) -> Signature {
        if let header = request.headers["authorization"], !header.isEmpty {
            guard header.hasPrefix(algorithm + " ") else {
                throw S3Error(
                    code: header.hasPrefix("AWS ") ? "InvalidRequest" : "AuthorizationHeaderMalformed",
                    message: header.hasPrefix("AWS ")
                        ? "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
                        : "The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.",
                    status: 400)
            }
            var fields: [String: String] = [:]
            for part in header.dropFirst(algorithm.count + 1).split(separator: ",") {
                let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
            }
            guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else {
                throw S3Error(
                    code: "AuthorizationHeaderMalformed",
                    message: "The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.",
                    status: 400)
            }
            guard let payloadHash = request.headers["x-amz-content-sha256"] else {
                throw S3Error.invalidRequest("Missing required header for this request: x-amz-content-sha256")
            }
            let amzDate = request.headers["x-amz-date"] ?? ""
            return try split(
                credential: credential, signedHeaders: signed, signature: signature, amzDate: amzDate, payloadHash: payloadHash,
                presigned: false, expires: nil)
        }
        let parameters = Dictionary(query.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        guard let signature = parameters["X-Amz-Signature"] else {
            throw S3Error.accessDenied("Access Denied: the request is not signed (Trainyard runs with --auth sigv4).")
        }
        guard parameters["X-Amz-Algorithm"] == algorithm, let credential = parameters["X-Amz-Credential"],
            let signed = parameters["X-Amz-SignedHeaders"], let amzDate = parameters["X-Amz-Date"],
            let expiresText = parameters["X-Amz-Expires"], let expires = Int(expiresText)
        else {
            throw S3Error(
                code: "AuthorizationQueryParametersError",
                message: "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
                status: 400)
        }
        guard (1...maxExpires).contains(expires) else {
            throw S3Error(
                code: "AuthorizationQueryParametersError",
                message: "X-Amz-Expires must be less than a week (in seconds) that is; 604800 seconds", status: 400)
        }
        return try split(
            credential: credential, signedHeaders: signed, signature: signature, amzDate: amzDate,
            payloadHash: parameters["X-Amz-Content-Sha256"] ?? "UNSIGNED-PAYLOAD", presigned: true, expires: expires)
    }

    private static func split(
        credential: String, signedHeaders: String, signature: String, amzDate: String, payloadHash: String, presigned: Bool,
        expires: Int?
    ) throws(S3Error) -> Signature {
        let parts = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5 else {
            throw S3Error(
                code: presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed",
                message: "The authorization header is malformed; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
                status: 400)
        }
        return Signature(
            accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3], terminator: parts[4],
            signedHeaders: signedHeaders.split(separator: ";").map { $0.lowercased() }, signature: signature.lowercased(),
            amzDate: amzDate, payloadHash: payloadHash, presigned: presigned, expires: expires)
    }

    /// The canonical request of S3: the URI path exactly as sent (S3 signs it "without normalization"),
    /// the query sorted and re-encoded (the signature itself left out of presigned ones), the signed headers.
    static func canonicalRequest(_ request: HTTPRequest, query: [(name: String, value: String)], signature: Signature) -> String {
        var pairs = query.filter { !(signature.presigned && $0.name == "X-Amz-Signature") }.map {
            (WireFormats.uriEncode($0.name, keepingSlashes: false), WireFormats.uriEncode($0.value, keepingSlashes: false))
        }
        pairs.sort { lhs, rhs in lhs.0 == rhs.0 ? lhs.1 < rhs.1 : lhs.0 < rhs.0 }
        let canonicalQuery = pairs.map { $0.0 + "=" + $0.1 }.joined(separator: "&")
        let sortedNames = signature.signedHeaders.sorted()
        let headers = sortedNames.map { name -> String in
            let values = request.headers.values(name: name).map { value in
                value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            }
            return "\(name):\(values.joined(separator: ","))\n"
        }.joined()
        return [request.method, request.path.isEmpty ? "/" : request.path, canonicalQuery, headers, sortedNames.joined(separator: ";"),
            signature.payloadHash].joined(separator: "\n")
    }

    static func signingKey(secret: String, date: String, region: String) -> SymmetricKey {
        var key = SymmetricKey(data: Data(("AWS4" + secret).utf8))
        for part in [date, region, "s3", "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    static func parseAmzDate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        let iso = String(decoding: bytes[0..<4], as: UTF8.self) + "-" + String(decoding: bytes[4..<6], as: UTF8.self) + "-"
            + String(decoding: bytes[6..<8], as: UTF8.self) + "T" + String(decoding: bytes[9..<11], as: UTF8.self) + ":"
            + String(decoding: bytes[11..<13], as: UTF8.self) + ":" + String(decoding: bytes[13..<15], as: UTF8.self) + "Z"
        return WireFormats.parseDate(iso).map { Date(timeIntervalSince1970: Double($0)) }
    }

    static func iso(_ date: Date) -> String {
        WireFormats.iso8601(milliseconds: Int64(date.timeIntervalSince1970 * 1000)).replacingOccurrences(of: ".000Z", with: "Z")
    }

    static func bytes(hex: String) -> Data? {
        guard hex.utf8.count % 2 == 0 else { return nil }
        var data = Data()
        data.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for char in hex.utf8 {
            let value: UInt8
            switch char {
            case 0x30...0x39: value = char - 0x30
            case 0x61...0x66: value = char - 0x61 + 10
            default: return nil
            }
            if let h = high {
                data.append(h << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return data
    }
}

extension Digest {
    var hex: String { Array(self).hexString }
}
