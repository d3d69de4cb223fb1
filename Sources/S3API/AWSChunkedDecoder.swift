import Crypto
import Foundation
import ObjectStore

/// Decodes an `aws-chunked` body as it arrives
/// (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html and
/// sigv4-streaming-trailers.html): `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n` chunks, a
/// zero-size chunk, then optional trailer lines (`x-amz-checksum-crc32:<base64>`, and for signed
/// trailers `x-amz-trailer-signature:<sig>`) and an empty line. The data goes to a spool; with a
/// signing context each chunk's signature is checked against the seed signature chain. The decoded data goes to `output` (a spool, or memory for small bodies).
///
/// Not thread-safe: fed by one thread at a time.
final class AWSChunkedDecoder {
    enum State {
        case header
        case data(remaining: Int)
        case dataEnd
        case trailers
        case done
    }

    private let output: (UnsafeRawBufferPointer) -> Void
    private let signing: S3Authenticator.ChunkSigning?
    private var previousSignature: String
    private var state = State.header
    private var line: [UInt8] = []
    private var chunkSignature: String?
    private var chunkHash = SHA256()
    private var sawLastChunk = false
    private(set) var trailers: [(name: String, value: String)] = []
    private var trailerBytes = 0
    private(set) var decodedLength: Int64 = 0
    static let emptyHash = SHA256.hash(data: Data()).hex
    static let maxLine = 4096
    static let maxTrailerBytes = 16 << 10

    init(signing: S3Authenticator.ChunkSigning?, output: @escaping (UnsafeRawBufferPointer) -> Void) {
        self.output = output
        self.signing = signing
        self.previousSignature = signing?.seedSignature ?? ""
    }

    static func malformed(_ detail: String) -> S3Error {
        S3Error(code: "IncompleteBody", message: "The aws-chunked request body is malformed: \(detail).", status: 400)
    }

    func feed(_ bytes: UnsafeRawBufferPointer) throws(S3Error) {
        var index = 0
        while index < bytes.count {
            switch state {
            case .data(let remaining):
                let take = min(remaining, bytes.count - index)
                let slice = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)])
                output(slice)
                if signing != nil { chunkHash.update(bufferPointer: slice) }
                decodedLength += Int64(take)
                index += take
                state = remaining - take == 0 ? .dataEnd : .data(remaining: remaining - take)
            case .header, .dataEnd, .trailers:
                let byte = bytes[index]
                index += 1
                if byte != UInt8(ascii: "\n") {
                    line.append(byte)
                    if line.count > Self.maxLine { throw Self.malformed("a chunk header or trailer line is too long") }
                    continue
                }
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                let text = String(decoding: line, as: UTF8.self)
                line.removeAll(keepingCapacity: true)
                try endOfLine(text)
            case .done:
                throw Self.malformed("bytes follow the end of the body")
            }
        }
    }

    private func endOfLine(_ text: String) throws(S3Error) {
        switch state {
        case .dataEnd:
            guard text.isEmpty else { throw Self.malformed("a chunk's data is longer than its declared size") }
            try verifyChunk()
            state = .header
        case .header:
            let fields = text.split(separator: ";", maxSplits: 1)
            guard let sizeText = fields.first, let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                throw Self.malformed("a chunk size is not hexadecimal")
            }
            chunkSignature = nil
            if fields.count == 2 {
                let extensionText = fields[1].trimmingCharacters(in: .whitespaces)
                if extensionText.hasPrefix("chunk-signature=") {
                    chunkSignature = String(extensionText.dropFirst("chunk-signature=".count)).lowercased()
                }
            }
            if signing != nil && chunkSignature == nil { throw Self.malformed("a chunk has no chunk-signature") }
            chunkHash = SHA256()
            if size == 0 {
                try verifyChunk()
                sawLastChunk = true
                state = .trailers
            } else {
                state = .data(remaining: size)
            }
        case .trailers:
            if text.isEmpty {
                state = .done
                return
            }
            trailerBytes += text.utf8.count
            if trailerBytes > Self.maxTrailerBytes { throw Self.malformed("the trailers are too long") }
            guard let colon = text.firstIndex(of: ":") else { throw Self.malformed("a trailer line has no ':'") }
            let name = text[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            trailers.append((name, value))
        case .data, .done:
            break
        }
    }

    private func verifyChunk() throws(S3Error) {
        guard let signing, let provided = chunkSignature else { return }
        let stringToSign = [
            "AWS4-HMAC-SHA256-PAYLOAD", signing.amzDate, signing.scope, previousSignature, Self.emptyHash,
            chunkHash.finalize().hex,
        ].joined(separator: "\n")
        let expected = Data(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: signing.key))
        guard let providedBytes = S3Authenticator.bytes(hex: provided), providedBytes == expected else {
            throw S3Error(
                code: "SignatureDoesNotMatch",
                message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                status: 403)
        }
        previousSignature = provided
    }

    /// After the last byte: the trailers (signature checked when signed), or an error for a body cut short.
    func finish(trailerSigned: Bool) throws(S3Error) -> [String: String] {
        // A body may end right after the zero chunk's line when no trailer follows.
        if case .trailers = state, line.isEmpty, trailers.isEmpty, sawLastChunk {
            state = .done
        }
        guard case .done = state else { throw Self.malformed("the body ended before its last chunk") }
        var result: [String: String] = [:]
        var canonical = ""
        var trailerSignature: String?
        for (name, value) in trailers {
            if name == "x-amz-trailer-signature" {
                trailerSignature = value.lowercased()
            } else {
                result[name] = value
                canonical += "\(name):\(value)\n"
            }
        }
        if trailerSigned, let signing {
            guard let provided = trailerSignature else { throw Self.malformed("the trailer signature is missing") }
            let stringToSign = [
                "AWS4-HMAC-SHA256-TRAILER", signing.amzDate, signing.scope, previousSignature,
                SHA256.hash(data: Data(canonical.utf8)).hex,
            ].joined(separator: "\n")
            let expected = Data(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: signing.key))
            guard S3Authenticator.bytes(hex: provided) == expected else {
                throw S3Error(
                    code: "SignatureDoesNotMatch",
                    message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                    status: 403)
            }
        }
        return result
    }
}
