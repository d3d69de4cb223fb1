import EventHTTP
import Foundation
@testable import SageMakerAPI
import Testing

/// AWS's published Signature V4 example (IAM ListUsers, General Reference "Signature Version 4
/// signing process" examples): an independent vector, not one computed by this code.
private let exampleSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
private let exampleSignature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"

private func exampleRequest(signature: String = exampleSignature, date: String = "20150830T123600Z") -> HTTPRequest {
    HTTPRequest(
        method: "GET", path: "/", query: "Action=ListUsers&Version=2010-05-08",
        headers: HTTPHeaders([
            ("Host", "iam.amazonaws.com"),
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("X-Amz-Date", date),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=\(signature)"),
        ]))
}

private func authenticator(now: Date = Date(timeIntervalSince1970: 1_440_938_160)) throws -> SigV4Authenticator {
    let credentials = try Credentials([.init(accessKeyId: "AKIDEXAMPLE", secretAccessKey: exampleSecret, accountId: "111122223333")])
    return SigV4Authenticator(credentials: credentials, region: "us-east-1", now: { now })
}

struct SigV4AuthenticatorTests {
    @Test("AWS's published example request verifies and maps to the key's account")
    func publishedExample() throws {
        #expect(try authenticator().account(for: exampleRequest(), service: "iam") == "111122223333")
    }

    /// The error `request` is refused with, or nil if it was accepted.
    private func refusal(_ auth: SigV4Authenticator, _ request: HTTPRequest, service: String = "iam") -> AWSServiceError? {
        do {
            _ = try auth.account(for: request, service: service)
            return nil
        } catch {
            return error
        }
    }

    @Test("a wrong signature, key, date, region or service is refused with AWS's codes")
    func refusals() throws {
        let auth = try authenticator()
        let wrong = refusal(auth, exampleRequest(signature: String(repeating: "0", count: 64)))
        #expect(wrong?.code == "InvalidSignatureException")
        #expect(wrong?.message.hasPrefix("The request signature we calculated does not match") == true)
        let otherService = refusal(auth, exampleRequest(), service: "sagemaker")
        #expect(otherService?.code == "InvalidSignatureException")
        #expect(otherService?.message.contains("correct service: 'sagemaker'") == true)
        // 16 minutes later the same request has expired.
        let expired = refusal(try authenticator(now: Date(timeIntervalSince1970: 1_440_938_160 + 16 * 60)), exampleRequest())
        #expect(expired?.code == "InvalidSignatureException")
        #expect(expired?.message.hasPrefix("Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z") == true)

        var unsigned = exampleRequest()
        unsigned.headers.remove(name: "Authorization")
        let missing = refusal(auth, unsigned)
        #expect(missing?.code == "MissingAuthenticationTokenException" && missing?.status == 403)

        var unknownKey = exampleRequest()
        unknownKey.headers.replaceOrAdd(
            name: "Authorization",
            value: "AWS4-HMAC-SHA256 Credential=AKIDOTHER/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=\(exampleSignature)")
        #expect(refusal(auth, unknownKey)?.code == "UnrecognizedClientException")

        var incomplete = exampleRequest()
        incomplete.headers.replaceOrAdd(name: "Authorization", value: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request")
        #expect(refusal(auth, incomplete)?.code == "IncompleteSignatureException")

        var withToken = exampleRequest()
        withToken.headers.add(name: "X-Amz-Security-Token", value: "token")
        #expect(refusal(auth, withToken)?.code == "UnrecognizedClientException")

        let otherRegion = SigV4Authenticator(
            credentials: try Credentials([.init(accessKeyId: "AKIDEXAMPLE", secretAccessKey: exampleSecret, accountId: "111122223333")]),
            region: "eu-west-1", now: { Date(timeIntervalSince1970: 1_440_938_160) })
        #expect(refusal(otherRegion, exampleRequest())?.message.contains("valid region, not 'us-east-1'") == true)
    }

    @Test("a tampered body or header breaks the signature")
    func tampering() throws {
        let auth = try authenticator()
        var request = exampleRequest()
        request.query = "Action=DeleteUser&Version=2010-05-08"
        #expect(refusal(auth, request)?.code == "InvalidSignatureException")
        var withBody = exampleRequest()
        withBody.body = Array("{}".utf8)
        #expect(refusal(auth, withBody)?.code == "InvalidSignatureException")
    }

    @Test("credentials files are checked when loaded")
    func credentialsFile() throws {
        #expect(throws: CredentialsError.self) { try Credentials([.init(accessKeyId: "A", secretAccessKey: "s", accountId: "12")]) }
        #expect(throws: CredentialsError.self) {
            try Credentials([.init(accessKeyId: "A", secretAccessKey: "s", accountId: "111111111111"),
                             .init(accessKeyId: "A", secretAccessKey: "t", accountId: "222222222222")])
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString).json")
        try Data(#"{"credentials": [{"accessKeyId": "AK", "secretAccessKey": "s", "accountId": "111111111111", "name": "a"}]}"#.utf8).write(to: path)
        #expect(try Credentials.load(path: path.path).entries["AK"]?.accountId == "111111111111")
        #expect(throws: CredentialsError.self) { try Credentials.load(path: "/nonexistent/creds.json") }
    }
}
