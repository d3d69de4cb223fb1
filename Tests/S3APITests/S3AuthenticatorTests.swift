import EventHTTP
import Foundation
import ObjectStore
import SageMakerAPI
import Testing

@testable import S3API

/// Requests signed by botocore 1.43 (S3SigV4Auth / S3SigV4QueryAuth) at 2026-12-06T03:16:37Z.
@Suite struct S3AuthenticatorTests {
    static let signedAt = Date(timeIntervalSince1970: 1_796_526_997)  // 2026-12-06T03:16:37Z
    static let credentials = try! Credentials([
        .init(accessKeyId: "AKIAALICE0000000001", secretAccessKey: "alice-secret", accountId: "111111111111", name: "alice")
    ])

    func authenticator(now: Date = signedAt) -> S3Authenticator {
        S3Authenticator(credentials: Self.credentials, defaultAccount: "123456789012", region: "us-east-1", now: { now })
    }

    static let signedPut = HTTPRequest(
        method: "PUT", path: "/bkt/a/b%20c.txt",
        headers: HTTPHeaders([
            ("Host", "127.0.0.1:8080"), ("x-amz-meta-x", "1"), ("Content-Type", "text/plain"), ("X-Amz-Date", "20261206T031637Z"),
            ("X-Amz-Content-SHA256", "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"),
            ("Authorization",
             "AWS4-HMAC-SHA256 Credential=AKIAALICE0000000001/20261206/us-east-1/s3/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-x, Signature=ce23fc23a7d15f4616bd975582ced1cf2cbdf276c8f3d7ed2f451fa2ac92b9d5"),
        ]), body: Array("hello world".utf8))

    static let presignedGet = HTTPRequest(
        method: "GET", path: "/bkt/a/b%20c.txt",
        query: "versionId=null&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAALICE0000000001%2F20261206%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261206T031637Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=f391eb481fead0a2169fedcf6b4ff031fc204a70b406ec74f6dd99abd2e85b18",
        headers: ["Host": "127.0.0.1:8080"])

    func authenticate(_ request: HTTPRequest, now: Date = signedAt) throws(S3Error) -> S3Authenticator.Identity {
        try authenticator(now: now).authenticate(request, query: WireFormats.parseQuery(request.query))
    }

    @Test func headerSignatureOfBotocoreVerifies() throws {
        let identity = try authenticate(Self.signedPut)
        #expect(identity.account == "111111111111")
        #expect(identity.chunkSigning?.seedSignature == "ce23fc23a7d15f4616bd975582ced1cf2cbdf276c8f3d7ed2f451fa2ac92b9d5")
    }

    @Test func anyChangeBreaksTheSignature() {
        var request = Self.signedPut
        request.headers.replaceOrAdd(name: "x-amz-meta-x", value: "2")
        #expect { try authenticate(request) } throws: { ($0 as? S3Error)?.code == "SignatureDoesNotMatch" }
        request = Self.signedPut
        // The URI is signed as sent: a differently encoded path is a different request.
        request.path = "/bkt/a/b c.txt"
        #expect { try authenticate(request) } throws: { ($0 as? S3Error)?.code == "SignatureDoesNotMatch" }
    }

    @Test func presignedURLVerifiesUntilItExpires() throws {
        #expect(try authenticate(Self.presignedGet).account == "111111111111")
        #expect(try authenticate(Self.presignedGet, now: Self.signedAt.addingTimeInterval(299)).account == "111111111111")
        #expect { try authenticate(Self.presignedGet, now: Self.signedAt.addingTimeInterval(301)) } throws: {
            ($0 as? S3Error)?.code == "AccessDenied" && ($0 as? S3Error)?.message == "Request has expired"
        }
    }

    /// boto3's default presigned URL for S3 (HmacV1QueryAuth), expiring at 1796527297.
    static let sigV2Get = HTTPRequest(
        method: "GET", path: "/bkt/a/b%20c.txt",
        query: "response-content-type=text/plain&AWSAccessKeyId=AKIAALICE0000000001&Signature=aoyh%2FRyreBl2QnUIQmQ96gNOoBE%3D&Expires=1796527297",
        headers: ["Host": "127.0.0.1:8080"])

    @Test func sigV2PresignedURLOfBotocoreVerifies() {
        #expect((try? authenticate(Self.sigV2Get))?.account == "111111111111")
        #expect { try authenticate(Self.sigV2Get, now: Self.signedAt.addingTimeInterval(301)) } throws: {
            ($0 as? S3Error)?.message == "Request has expired"
        }
        var tampered = Self.sigV2Get
        tampered.query = tampered.query?.replacingOccurrences(of: "text/plain", with: "text/html")
        #expect { try authenticate(tampered) } throws: { ($0 as? S3Error)?.code == "SignatureDoesNotMatch" }
    }

    @Test func clockSkewAndUnknownKeys() {
        #expect { try authenticate(Self.signedPut, now: Self.signedAt.addingTimeInterval(16 * 60)) } throws: {
            ($0 as? S3Error)?.code == "RequestTimeTooSkewed"
        }
        var request = Self.signedPut
        request.headers.replaceOrAdd(
            name: "Authorization",
            value: request.headers["authorization"]!.replacingOccurrences(of: "AKIAALICE0000000001", with: "AKIANOBODY"))
        #expect { try authenticate(request) } throws: { ($0 as? S3Error)?.code == "InvalidAccessKeyId" }
        #expect { try authenticate(HTTPRequest(method: "GET", path: "/")) } throws: { ($0 as? S3Error)?.code == "AccessDenied" }
    }

    @Test func withoutCredentialsEveryRequestActsForTheDefaultAccount() throws {
        let open = S3Authenticator(credentials: nil, defaultAccount: "123456789012", region: "us-east-1")
        #expect(try open.authenticate(HTTPRequest(method: "GET", path: "/"), query: []).account == "123456789012")
    }
}

@Suite struct FrontDoorRoutingTests {
    func request(_ method: String, _ path: String, _ headers: [(String, String)] = [], body: String = "", query: String? = nil) -> HTTPRequest {
        HTTPRequest(method: method, path: path, query: query, headers: HTTPHeaders(headers), body: Array(body.utf8))
    }

    @Test func requestsGoWhereTheirShapeSays() {
        let scope = { (service: String) in "AWS4-HMAC-SHA256 Credential=AK/20261206/us-east-1/\(service)/aws4_request, SignedHeaders=host, Signature=00" }
        #expect(FrontDoor.route(request("POST", "/", [("X-Amz-Target", "SageMaker.ListTrainingJobs")])) == .sagemaker)
        #expect(FrontDoor.route(request("POST", "/", [("Authorization", scope("sagemaker"))])) == .sagemaker)
        #expect(FrontDoor.route(request("PUT", "/bucket/key", [("Authorization", scope("s3"))])) == .s3)
        #expect(FrontDoor.route(request("POST", "/", [("Authorization", scope("s3"))])) == .s3)
        #expect(FrontDoor.route(request("POST", "/", [("Authorization", scope("sts"))])) == .sts)
        #expect(FrontDoor.route(request("POST", "/", [("Authorization", scope("iam"))])) == .iam)
        #expect(FrontDoor.route(request("GET", "/b/k", query: "X-Amz-Credential=AK%2F20261206%2Fus-east-1%2Fs3%2Faws4_request")) == .s3)
        // Unsigned: by shape.
        #expect(FrontDoor.route(request("GET", "/health")) == .sagemaker)
        #expect(FrontDoor.route(request("POST", "/SageMaker.ListTrainingJobs")) == .sagemaker)
        #expect(FrontDoor.route(request("POST", "/")) == .sagemaker)
        #expect(FrontDoor.route(request("POST", "/", [("Content-Type", "application/x-www-form-urlencoded")], body: "Action=GetCallerIdentity&Version=2011-06-15")) == .sts)
        #expect(FrontDoor.route(request("POST", "/", [("Content-Type", "application/x-www-form-urlencoded")], body: "Action=GetRole&RoleName=r")) == .iam)
        // An unsigned GET / is the web dashboard (a signed one is ListBuckets); its files too.
        #expect(FrontDoor.route(request("GET", "/")) == .sagemaker)
        #expect(FrontDoor.route(request("GET", "/", [("Authorization", scope("s3"))])) == .s3)
        #expect(FrontDoor.route(request("GET", "/_dashboard/app.js")) == .sagemaker)
        #expect(FrontDoor.route(request("POST", "/GraniteServiceVersion20100801.ListMetrics")) == .sagemaker)
        #expect(FrontDoor.route(request("GET", "/", [("Content-Type", "application/x-amz-json-1.1")])) == .sagemaker)
        #expect(FrontDoor.route(request("PUT", "/bucket/key")) == .s3)
        #expect(FrontDoor.route(request("GET", "/health", [("Host", "bkt.localhost:8080")])) == .s3)
    }

    @Test func virtualHostedAddressing() throws {
        let virtual = try S3Request(HTTPRequest(method: "GET", path: "/a/b%20c", headers: ["Host": "my-bucket.localhost:9000"]))
        #expect(virtual.bucket == "my-bucket" && virtual.key == "a/b c")
        let path = try S3Request(HTTPRequest(method: "GET", path: "/my-bucket/a/b%20c", headers: ["Host": "127.0.0.1:9000"]))
        #expect(path.bucket == "my-bucket" && path.key == "a/b c")
        let bucketOnly = try S3Request(HTTPRequest(method: "GET", path: "/my-bucket/", query: "list-type=2&prefix=a%2Fb"))
        #expect(bucketOnly.bucket == "my-bucket" && bucketOnly.key == nil && bucketOnly[query: "prefix"] == "a/b")
        #expect(S3Request.virtualHostBucket("localhost:8080") == nil)
        #expect(S3Request.virtualHostBucket("127.0.0.1") == nil)
    }
}

@Suite struct WireFormatTests {
    @Test func dates() {
        #expect(WireFormats.httpDate(seconds: 1_796_526_997) == "Sun, 06 Dec 2026 03:16:37 GMT")
        #expect(WireFormats.iso8601(milliseconds: 1_796_526_997_123) == "2026-12-06T03:16:37.123Z")
        #expect(WireFormats.parseDate("Sun, 06 Dec 2026 03:16:37 GMT") == 1_796_526_997)
        #expect(WireFormats.parseDate("2026-12-06T03:16:37Z") == 1_796_526_997)
        #expect(WireFormats.httpDate(seconds: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
    }

    @Test func ranges() throws {
        #expect(try S3Service.parseRange("bytes=0-9", size: 100) == 0...9)
        #expect(try S3Service.parseRange("bytes=90-", size: 100) == 90...99)
        #expect(try S3Service.parseRange("bytes=-10", size: 100) == 90...99)
        #expect(try S3Service.parseRange("bytes=50-500", size: 100) == 50...99)
        #expect(try S3Service.parseRange("bytes=0-1,5-6", size: 100) == nil)
        #expect(try S3Service.parseRange("items=0-1", size: 100) == nil)
        #expect { try S3Service.parseRange("bytes=100-", size: 100) } throws: { ($0 as? S3Error)?.code == "InvalidRange" }
    }

    @Test func percentCoding() {
        #expect(WireFormats.percentDecode("a%20b%2Fc") == "a b/c")
        #expect(WireFormats.percentDecode("bad%2") == nil)
        #expect(WireFormats.uriEncode("a b/é~", keepingSlashes: true) == "a%20b/%C3%A9~")
    }
}
