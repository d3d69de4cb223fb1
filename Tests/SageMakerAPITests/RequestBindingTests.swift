import EventHTTP
import Foundation
import Testing

@testable import SageMakerAPI

/// Issue 12 items 1 and 5: file:// URIs only under allowed prefixes, and signatures that bind the
/// operation.
struct RequestBindingTests {
    private func request(path: String, headers: [(String, String)]) -> HTTPRequest {
        HTTPRequest(method: "POST", path: path, query: nil, headers: HTTPHeaders(headers))
    }

    private func refusal(_ request: HTTPRequest, signed: [String]) -> AWSServiceError? {
        do {
            try SigV4Authenticator.checkOperationIsSigned(request, signedHeaders: signed)
            return nil
        } catch {
            return error
        }
    }

    @Test("an unsigned X-Amz-Target or Content-Type is refused")
    func unsignedHeaders() {
        let replay = request(path: "/SageMaker.DescribeTrainingJob", headers: [("X-Amz-Target", "SageMaker.DeleteTrainingJob")])
        #expect(refusal(replay, signed: ["host", "x-amz-date"])?.code == "InvalidSignatureException")
        #expect(refusal(replay, signed: ["host", "x-amz-date"])?.message == "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
        let typed = request(path: "/", headers: [("Content-Type", "application/x-amz-json-1.1")])
        #expect(refusal(typed, signed: ["host", "x-amz-date"])?.message == "'Content-Type' must be a 'SignedHeader' in the AWS Authorization.")
        let boto = request(path: "/", headers: [("X-Amz-Target", "SageMaker.ListTrainingJobs"), ("Content-Type", "application/x-amz-json-1.1")])
        #expect(refusal(boto, signed: ["content-type", "host", "x-amz-date", "x-amz-target"]) == nil)
        #expect(refusal(request(path: "/SageMaker.ListTrainingJobs", headers: []), signed: ["host", "x-amz-date"]) == nil)
    }

    @Test("a path-form request may not name another operation in a signed header either")
    func pathAndHeaderDisagree() {
        let both = request(path: "/SageMaker.DescribeTrainingJob", headers: [("X-Amz-Target", "SageMaker.DeleteTrainingJob")])
        #expect(refusal(both, signed: ["host", "x-amz-date", "x-amz-target"])?.code == "InvalidSignatureException")
        let same = request(path: "/SageMaker.DescribeTrainingJob", headers: [("X-Amz-Target", "SageMaker.DescribeTrainingJob")])
        #expect(refusal(same, signed: ["host", "x-amz-date", "x-amz-target"]) == nil)
    }

    @Test("file:// locations anywhere in the request must be under an allowed prefix")
    func fileURIs() throws {
        let request: JSONValue = .object([
            "InputDataConfig": .array([.object(["DataSource": .object(["S3DataSource": .object(["S3Uri": .string("file:///data/train/")])])])]),
            "OutputDataConfig": .object(["S3OutputPath": .string("s3://bucket/out")]),
            "HyperParameters": .object(["path": .string("file:///etc/passwd")]),
        ])
        try CreateTrainingJobInput.checkFileURIs(request, allowedPrefixes: ["/data"])
        try CreateTrainingJobInput.checkFileURIs(request, allowedPrefixes: ["/"])
        #expect(throws: AWSServiceError.self) { try CreateTrainingJobInput.checkFileURIs(request, allowedPrefixes: []) }
        #expect(throws: AWSServiceError.self) { try CreateTrainingJobInput.checkFileURIs(request, allowedPrefixes: ["/dat"]) }
        #expect(!CreateTrainingJobInput.isAllowed(fileURI: "file:///data/../etc", prefixes: ["/data"]))
        #expect(!CreateTrainingJobInput.isAllowed(fileURI: "file:///data/%2E%2E/etc", prefixes: ["/data"]))
        #expect(CreateTrainingJobInput.isAllowed(fileURI: "file:///data", prefixes: ["/data/"]))
    }

    @Test("CheckpointConfig.LocalPath may not be /, a system folder or a SageMaker mount")
    func checkpointLocalPath() throws {
        for path in ["/opt/ml/checkpoints", "/opt/ml/checkpoints/run-1", "/checkpoints", "/tmp/ckpt"] {
            try CreateTrainingJobInput.checkCheckpointLocalPath(path)
        }
        for path in ["/", "/proc", "/proc/self", "/etc", "/sys/fs", "/dev", "/usr/lib", "relative", "/opt/ml/model", "/a/../proc", "/a//b"] {
            #expect(throws: AWSServiceError.self, "\(path)") { try CreateTrainingJobInput.checkCheckpointLocalPath(path) }
        }
    }
}
