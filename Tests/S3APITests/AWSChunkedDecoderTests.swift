import Crypto
import Foundation
import ObjectStore
import Testing

@testable import S3API

@Suite struct AWSChunkedDecoderTests {
    func decode(_ encoded: String, feedBy step: Int = 1, signing: S3Authenticator.ChunkSigning? = nil, trailerSigned: Bool = false)
        throws -> (String, [String: String])
    {
        var output: [UInt8] = []
        let decoder = AWSChunkedDecoder(signing: signing) { output.append(contentsOf: $0) }
        let bytes = Array(encoded.utf8)
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + step)
            try bytes[index..<end].withUnsafeBytes { try decoder.feed($0) }
            index = end
        }
        let trailers = try decoder.finish(trailerSigned: trailerSigned)
        return (String(decoding: output, as: UTF8.self), trailers)
    }

    @Test(arguments: [1, 3, 1000])
    func unsignedChunksWithATrailer(step: Int) throws {
        let (body, trailers) = try decode("5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n", feedBy: step)
        #expect(body == "hello world")
        #expect(trailers == ["x-amz-checksum-crc32": "DUoRhQ=="])
    }

    @Test func malformedBodiesAreRefused() {
        #expect(throws: S3Error.self) { try decode("zz\r\nhello\r\n0\r\n\r\n") }
        #expect(throws: S3Error.self) { try decode("3\r\nhello\r\n0\r\n\r\n") }
        #expect(throws: S3Error.self) { try decode("5\r\nhello\r\n") }
    }

    /// The example of AWS's "Signature Calculations for the Authorization Header: Transferring
    /// Payload in Multiple Chunks" page: its seed signature and first chunk signature.
    @Test func chunkSignaturesFollowTheSeed() throws {
        var key = SymmetricKey(data: Data("AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".utf8))
        for part in ["20130524", "us-east-1", "s3", "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signing = S3Authenticator.ChunkSigning(
            key: key, amzDate: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request",
            seedSignature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
        var output: [UInt8] = []
        let decoder = AWSChunkedDecoder(signing: signing) { output.append(contentsOf: $0) }
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 65536)
        var encoded = Array("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n".utf8)
        encoded += chunk + Array("\r\n".utf8)
        try encoded.withUnsafeBytes { try decoder.feed($0) }
        #expect(output.count == 65536)
        // A wrong signature on the next chunk is refused.
        let bad = Array("400;chunk-signature=0000000000000000000000000000000000000000000000000000000000000000\r\n".utf8)
            + [UInt8](repeating: 0x61, count: 1024) + Array("\r\n".utf8)
        #expect { try bad.withUnsafeBytes { try decoder.feed($0) } } throws: { ($0 as? S3Error)?.code == "SignatureDoesNotMatch" }
    }
}
