import Crypto
import EventHTTP
import Foundation
import ObjectStore

/// A request body taken in as S3 takes it: decoded when `aws-chunked` (the STREAMING-* payload
/// forms), checked against everything the client declared — the signed payload hash
/// (`x-amz-content-sha256`), `Content-MD5`, and `x-amz-checksum-<algorithm>` from a header or a
/// trailer — and spooled to a temporary file, so its size never matters for memory.
///
/// boto3 ≥ 1.36 sends a CRC32 checksum with every upload by default (header over http, trailer
/// with aws-chunked over https); the SDKs' other algorithms (CRC32C, CRC64NVME, SHA1, SHA256) are
/// verified the same way.
final class BodyIntake {
    let spool: BodySpool
    let payloadHash: String
    let chunked: Bool
    let trailerSigned: Bool
    let decoder: AWSChunkedDecoder?
    let declaredDecodedLength: Int64?
    let headerChecksums: [(ChecksumAlgorithm, String)]
    let trailerAlgorithms: [ChecksumAlgorithm]
    let contentMD5: String?

    init(store: ObjectStore, headers: HTTPHeaders, identity: S3Authenticator.Identity) throws(S3Error) {
        payloadHash = identity.payloadHash
        let encoding = headers["content-encoding"]?.lowercased() ?? ""
        chunked = payloadHash.hasPrefix("STREAMING-") || encoding.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "aws-chunked" }
        let known: Set = [
            "UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        ]
        if !known.contains(payloadHash) && !Self.isHexHash(payloadHash) {
            if payloadHash.hasPrefix("STREAMING-AWS4-ECDSA") {
                throw S3Error.notImplementedError("SigV4a (ECDSA) payload signing")
            }
            throw S3Error(
                code: "InvalidArgument", message: "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
                status: 400, details: [("ArgumentName", "x-amz-content-sha256"), ("ArgumentValue", payloadHash)])
        }
        trailerSigned = payloadHash == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
        var checksums: [(ChecksumAlgorithm, String)] = []
        for (name, value) in headers {
            if let algorithm = ChecksumAlgorithm(headerName: name) { checksums.append((algorithm, value)) }
        }
        headerChecksums = checksums
        var trailers: [ChecksumAlgorithm] = []
        if let trailer = headers["x-amz-trailer"] {
            for name in trailer.split(separator: ",") {
                let name = name.trimmingCharacters(in: .whitespaces)
                guard let algorithm = ChecksumAlgorithm(headerName: name) else {
                    throw S3Error.invalidRequest("The trailer \(name) is not supported; send an x-amz-checksum-* trailer.")
                }
                trailers.append(algorithm)
            }
        }
        trailerAlgorithms = trailers
        contentMD5 = headers["content-md5"]
        if let decoded = headers["x-amz-decoded-content-length"] {
            guard let length = Int64(decoded), length >= 0 else {
                throw S3Error.invalidRequest("x-amz-decoded-content-length is not a number.")
            }
            declaredDecodedLength = length
        } else {
            declaredDecodedLength = nil
        }
        if chunked && declaredDecodedLength == nil {
            throw S3Error(code: "MissingContentLength", message: "You must provide the Content-Length HTTP header.", status: 411)
        }
        var algorithms = checksums.map(\.0) + trailers
        if let sdk = headers["x-amz-sdk-checksum-algorithm"].flatMap({ ChecksumAlgorithm(rawValue: $0.uppercased()) }) {
            algorithms.append(sdk)
        }
        spool = try store.makeSpool(hashSHA256: Self.isHexHash(payloadHash), checksums: Array(Set(algorithms)))
        if chunked {
            let spool = self.spool
            let signing = payloadHash.hasPrefix("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") ? identity.chunkSigning : nil
            decoder = AWSChunkedDecoder(signing: signing) { spool.write($0) }
        } else {
            decoder = nil
        }
    }

    static func isHexHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) }
    }

    func feed(_ bytes: UnsafeRawBufferPointer) throws(S3Error) {
        if let decoder {
            try decoder.feed(bytes)
        } else {
            spool.write(bytes)
        }
    }

    struct Received {
        var body: SpooledBody
        /// Checksums the client sent and that matched, by algorithm name (`CRC32` → base64).
        var checksums: [String: String]
    }

    func finish() throws(S3Error) -> Received {
        var trailers: [String: String] = [:]
        if let decoder {
            trailers = try decoder.finish(trailerSigned: trailerSigned)
            if let declared = declaredDecodedLength, declared != decoder.decodedLength {
                throw S3Error(
                    code: "IncompleteBody", message: "You did not provide the number of bytes specified by the Content-Length HTTP header",
                    status: 400)
            }
        }
        let body = try spool.finish()
        if Self.isHexHash(payloadHash), body.sha256 != payloadHash.lowercased() {
            throw S3Error(
                code: "XAmzContentSHA256Mismatch", message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
                status: 400, details: [("ClientComputedContentSHA256", payloadHash), ("S3ComputedContentSHA256", body.sha256 ?? "")])
        }
        if let contentMD5 {
            guard let given = Data(base64Encoded: contentMD5), given.count == 16 else {
                throw S3Error(code: "InvalidDigest", message: "The Content-MD5 you specified was invalid.", status: 400)
            }
            guard Array(given) == body.md5 else {
                throw S3Error(code: "BadDigest", message: "The Content-MD5 you specified did not match what we received.", status: 400)
            }
        }
        var verified: [String: String] = [:]
        var declared = headerChecksums
        for algorithm in trailerAlgorithms {
            guard let value = trailers[algorithm.headerName] else {
                throw S3Error(code: "IncompleteBody", message: "The trailer \(algorithm.headerName) was announced but not sent.", status: 400)
            }
            declared.append((algorithm, value))
        }
        for (algorithm, value) in declared {
            guard let computed = body.checksums[algorithm], computed == value else {
                throw S3Error(
                    code: "BadDigest", message: "The \(algorithm.rawValue) you specified did not match the calculated checksum.", status: 400)
            }
            verified[algorithm.rawValue] = value
        }
        return Received(body: body, checksums: verified)
    }
}

extension S3Error {
    static func notImplementedError(_ what: String) -> S3Error {
        S3Error(code: "NotImplemented", message: "Trainyard does not serve \(what).", status: 501)
    }
}

extension S3Service {
    /// The request's body, taken in and checked (see BodyIntake).
    func receiveBody(_ request: S3Request, identity: S3Authenticator.Identity) throws(S3Error) -> BodyIntake.Received {
        if let streamed = request.http.streamedBody {
            guard let received = streamed as? StreamedS3Body else {
                throw .internalError("The request body arrived in an unexpected form.")
            }
            return try received.result.get()
        }
        let intake = try BodyIntake(store: store, headers: request.headers, identity: identity)
        var failure: S3Error?
        request.http.body.withUnsafeBytes { bytes in
            do throws(S3Error) {
                try intake.feed(bytes)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return try intake.finish()
    }

    /// A small body (an XML document) in memory, checked the same way.
    func bufferedBody(_ request: S3Request, identity: S3Authenticator.Identity) throws(S3Error) -> [UInt8] {
        let received = try receiveBody(request, identity: identity)
        guard received.body.size <= 1 << 20 else {
            throw S3Error(code: "MaxMessageLengthExceeded", message: "Your request was too big.", status: 400)
        }
        return try store.readAll(received.body)
    }
}
