import EventHTTP
import Foundation
import JobStore
import Logging
import SageMakerAPI
import Testing
import TrainingCore

/// The service driven in-process, without a socket: protocol, routing, validation and operations.
private struct Harness {
    let store: JobStore
    let service: SageMakerService

    init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try JobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        service = try SageMakerService(store: store, configuration: .init(), logger: Logger(label: "test"))
    }

    func call(_ operation: String, _ body: String, pathForm: Bool = false, contentType: String? = "application/x-amz-json-1.1")
        async -> (status: Int, json: JSONValue, response: HTTPResponse)
    {
        var headers = HTTPHeaders()
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        if !pathForm { headers.add(name: "X-Amz-Target", value: "SageMaker.\(operation)") }
        let request = HTTPRequest(
            method: "POST", path: pathForm ? "/SageMaker.\(operation)" : "/", headers: headers, body: Array(body.utf8))
        let response = await service.respond(to: request)
        let json = (try? JSONValue.parse(response.body)) ?? .null
        return (response.status, json, response)
    }

    static let createBody = """
        {"TrainingJobName": "%@", "RoleArn": "arn:aws:iam::123456789012:role/Trainer",
         "AlgorithmSpecification": {"TrainingImage": "img:latest", "TrainingInputMode": "File"},
         "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
         "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
         "HyperParameters": {"epochs": "3"}, "Environment": {"A": "b"},
         "RetryStrategy": {"MaximumRetryAttempts": 2},
         "DebugHookConfig": {"S3OutputPath": "s3://bucket/debug", "CollectionConfigurations": []},
         "Tags": [{"Key": "team", "Value": "ml"}]}
        """

    func create(_ name: String) async -> (status: Int, json: JSONValue, response: HTTPResponse) {
        await call("CreateTrainingJob", String(format: Self.createBody, name))
    }
}

struct SageMakerServiceTests {
    @Test("cheap reads are answered on the loop thread, the same as on the pool; writes and filtered lists are not")
    func loopThreadAnswers() async throws {
        let harness = try Harness()
        _ = await harness.create("on-loop")
        func request(_ operation: String, _ body: String) -> HTTPRequest {
            HTTPRequest(
                method: "POST", path: "/",
                headers: HTTPHeaders([("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "SageMaker.\(operation)")]),
                body: Array(body.utf8))
        }
        let answered: [(String, String)] = [
            ("DescribeTrainingJob", #"{"TrainingJobName": "on-loop"}"#),
            ("DescribeTrainingJob", #"{"TrainingJobName": "missing"}"#),
            ("ListTags", #"{"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/on-loop"}"#),
            ("ListTrainingJobs", #"{"MaxResults": 100, "SortBy": "Name", "SortOrder": "Descending"}"#),
            ("ListTrainingJobs", "{}"),
        ]
        for (operation, body) in answered {
            let onLoop = try #require(harness.service.respondOnLoopThread(to: request(operation, body)), "\(operation) \(body)")
            let onPool = await harness.service.respond(to: request(operation, body))
            #expect(onLoop.status == onPool.status)
            // Same answer but for the request id.
            #expect(try JSONValue.parse(onLoop.body) == JSONValue.parse(onPool.body))
        }
        let deferred: [(String, String)] = [
            ("ListTrainingJobs", #"{"NameContains": "loop"}"#),
            ("ListTrainingJobs", #"{"StatusEquals": "InProgress"}"#),
            ("ListTrainingJobs", "{not json"),
            ("CreateTrainingJob", String(format: Harness.createBody, "later")),
            ("StopTrainingJob", #"{"TrainingJobName": "on-loop"}"#),
        ]
        for (operation, body) in deferred {
            #expect(harness.service.respondOnLoopThread(to: request(operation, body)) == nil, "\(operation) \(body)")
        }
    }

    @Test("Create returns the ARN; Describe echoes the request with SageMaker's defaults and live status")
    func createDescribe() async throws {
        let harness = try Harness()
        let created = await harness.create("job-a")
        #expect(created.status == 200)
        #expect(created.json["TrainingJobArn"]?.stringValue == "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-a")
        #expect(created.response.headers["x-amzn-RequestId"]?.isEmpty == false)
        let described = await harness.call("DescribeTrainingJob", #"{"TrainingJobName": "job-a"}"#)
        #expect(described.status == 200)
        let job = described.json
        #expect(job["TrainingJobStatus"]?.stringValue == "InProgress")
        #expect(job["SecondaryStatus"]?.stringValue == "Starting")
        #expect(job["OutputDataConfig"]?["KmsKeyId"]?.stringValue == "")
        #expect(job["ResourceConfig"]?["VolumeSizeInGB"]?.int64Value == 30)
        #expect(job["StoppingCondition"]?["MaxRuntimeInSeconds"]?.int64Value == 86_400)
        #expect(job["AlgorithmSpecification"]?["TrainingInputMode"]?.stringValue == "File")
        #expect(job["ModelArtifacts"]?["S3ModelArtifacts"]?.stringValue == "s3://bucket/out/job-a/output/model.tar.gz")
        #expect(job["Environment"]?["A"]?.stringValue == "b")
        #expect(job["RetryStrategy"]?["MaximumRetryAttempts"]?.int64Value == 2)
        #expect(job["DebugHookConfig"]?["S3OutputPath"]?.stringValue == "s3://bucket/debug")
        #expect(job["HyperParameters"]?["epochs"]?.stringValue == "3")
        #expect(job["Tags"] == nil)
        #expect(job["SecondaryStatusTransitions"]?.arrayValue?.first?["StatusMessage"]?.stringValue == "Starting the training job")
        #expect(job["CreationTime"]?.doubleValue != nil)
    }

    @Test("a duplicate name is ResourceInUse and leaves the first job as it was")
    func duplicate() async throws {
        let harness = try Harness()
        _ = await harness.create("dup")
        let again = await harness.create("dup")
        #expect(again.status == 400)
        #expect(again.json["__type"]?.stringValue == "ResourceInUse")
        #expect(again.json["message"]?.stringValue?.contains("training-job/dup") == true)
    }

    @Test("missing jobs are ValidationException 'Requested resource not found.' on every operation")
    func notFound() async throws {
        let harness = try Harness()
        let arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/ghost"
        for (operation, body) in [
            ("DescribeTrainingJob", #"{"TrainingJobName": "ghost"}"#), ("StopTrainingJob", #"{"TrainingJobName": "ghost"}"#),
            ("UpdateTrainingJob", #"{"TrainingJobName": "ghost", "ResourceConfig": {"KeepAlivePeriodInSeconds": 0}}"#),
            ("DeleteTrainingJob", #"{"TrainingJobName": "ghost"}"#), ("ListTags", "{\"ResourceArn\": \"\(arn)\"}"),
            ("AddTags", "{\"ResourceArn\": \"\(arn)\", \"Tags\": [{\"Key\": \"a\", \"Value\": \"b\"}]}"),
            ("DeleteTags", "{\"ResourceArn\": \"\(arn)\", \"TagKeys\": [\"a\"]}"),
        ] {
            let result = await harness.call(operation, body)
            #expect(result.status == 400, "\(operation)")
            #expect(result.json["__type"]?.stringValue == "ValidationException", "\(operation)")
            #expect(result.json["message"]?.stringValue == "Requested resource not found.", "\(operation)")
        }
    }

    @Test("constraint violations use Coral's message and store nothing")
    func validation() async throws {
        let harness = try Harness()
        let bad = await harness.call("CreateTrainingJob", String(format: Harness.createBody, "bad_name!"))
        #expect(bad.status == 400)
        #expect(bad.json["__type"]?.stringValue == "ValidationException")
        #expect(bad.json["message"]?.stringValue?.hasPrefix(
            "1 validation error detected: Value 'bad_name!' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern") == true)
        let noRole = await harness.call("CreateTrainingJob", #"{"TrainingJobName": "x", "OutputDataConfig": {"S3OutputPath": "s3://b/o"}}"#)
        #expect(noRole.json["message"]?.stringValue?.contains("Value null at 'roleArn' failed to satisfy constraint: Member must not be null") == true)
        let list = await harness.call("ListTrainingJobs", #"{"MaxResults": 0, "StatusEquals": "Bogus"}"#)
        #expect(list.json["message"]?.stringValue?.hasPrefix("2 validation errors detected:") == true)
        #expect(try harness.store.list(JobQuery(account: "123456789012", limit: 100)).jobs.isEmpty)
    }

    @Test("protocol errors: serialization, unknown operation, missing target, content type, path form")
    func protocolErrors() async throws {
        let harness = try Harness()
        for body in ["{not json", "[1, 2]", #"{"MaxResults": "ten"}"#, #"{"MaxResults": 1.5}"#] {
            let result = await harness.call("ListTrainingJobs", body)
            #expect(result.status == 400, "\(body)")
            #expect(result.json["__type"]?.stringValue == "SerializationException", "\(body)")
        }
        let unknown = await harness.call("CreateModel", "{}")
        #expect(unknown.status == 400 && unknown.json["__type"]?.stringValue == "UnknownOperationException")
        let missing = await harness.service.respond(
            to: HTTPRequest(method: "POST", path: "/", headers: HTTPHeaders([("Content-Type", "application/x-amz-json-1.1")]), body: Array("{}".utf8)))
        #expect(missing.status == 400)
        #expect((try? JSONValue.parse(missing.body))?["__type"]?.stringValue == "UnknownOperationException")
        let text = await harness.call("ListTrainingJobs", "{}", contentType: "text/plain")
        #expect(text.status == 415 && text.json["__type"] != nil)
        let path = await harness.call("ListTrainingJobs", "{}", pathForm: true)
        #expect(path.status == 200 && path.json["TrainingJobSummaries"]?.arrayValue != nil)
        let foreign = await harness.service.respond(
            to: HTTPRequest(method: "POST", path: "/", headers: HTTPHeaders([("X-Amz-Target", "NotSageMaker.ListTrainingJobs")]), body: Array("{}".utf8)))
        #expect(foreign.status == 400)
    }

    @Test("Stop moves an InProgress job to Stopping; stopping again names the status")
    func stop() async throws {
        let harness = try Harness()
        _ = await harness.create("to-stop")
        #expect(await harness.call("StopTrainingJob", #"{"TrainingJobName": "to-stop"}"#).status == 200)
        let described = await harness.call("DescribeTrainingJob", #"{"TrainingJobName": "to-stop"}"#)
        #expect(described.json["TrainingJobStatus"]?.stringValue == "Stopping")
        let again = await harness.call("StopTrainingJob", #"{"TrainingJobName": "to-stop"}"#)
        #expect(again.json["message"]?.stringValue == "The request was rejected because the training job is in status Stopping.")
    }

    @Test("ListTrainingJobs pages with an opaque token; a tampered token is a ValidationException")
    func listPaging() async throws {
        let harness = try Harness()
        for index in 0..<5 { _ = await harness.create("page-\(index)") }
        var names: [String] = []
        var token: String?
        repeat {
            var body = #"{"MaxResults": 2, "SortBy": "Name""#
            if let token { body += ", \"NextToken\": \"\(token)\"" }
            body += "}"
            let page = await harness.call("ListTrainingJobs", body)
            names += page.json["TrainingJobSummaries"]?.arrayValue?.compactMap { $0["TrainingJobName"]?.stringValue } ?? []
            token = page.json["NextToken"]?.stringValue
        } while token != nil
        #expect(names == ["page-0", "page-1", "page-2", "page-3", "page-4"])
        let first = await harness.call("ListTrainingJobs", #"{"MaxResults": 2}"#)
        let issued = try #require(first.json["NextToken"]?.stringValue)
        // Every single-character change is refused, including in base64's spare last bits.
        for index in [0, issued.count / 2, issued.count - 1] {
            var characters = Array(issued)
            characters[index] = characters[index] == "B" ? "C" : "B"
            let refused = await harness.call("ListTrainingJobs", "{\"MaxResults\": 2, \"NextToken\": \"\(String(characters))\"}")
            #expect(refused.status == 400 && refused.json["__type"]?.stringValue == "ValidationException", "position \(index)")
        }
        let garbage = await harness.call("ListTrainingJobs", #"{"NextToken": "not-a-token"}"#)
        #expect(garbage.json["__type"]?.stringValue == "ValidationException")
    }

    @Test("tags from Create are listed; AddTags overwrites; DeleteTags removes")
    func tags() async throws {
        let harness = try Harness()
        _ = await harness.create("tagged")
        let arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/tagged"
        _ = await harness.call("AddTags", "{\"ResourceArn\": \"\(arn)\", \"Tags\": [{\"Key\": \"team\", \"Value\": \"infra\"}, {\"Key\": \"x\", \"Value\": \"1\"}]}")
        let listed = await harness.call("ListTags", "{\"ResourceArn\": \"\(arn)\"}")
        let pairs = listed.json["Tags"]?.arrayValue?.map { "\($0["Key"]?.stringValue ?? "")=\($0["Value"]?.stringValue ?? "")" }
        #expect(pairs == ["team=infra", "x=1"])
        _ = await harness.call("DeleteTags", "{\"ResourceArn\": \"\(arn)\", \"TagKeys\": [\"team\"]}")
        let after = await harness.call("ListTags", "{\"ResourceArn\": \"\(arn)\"}")
        #expect(after.json["Tags"]?.arrayValue?.count == 1)
    }

    @Test("UpdateTrainingJob stores its fields and Describe echoes them")
    func update() async throws {
        let harness = try Harness()
        _ = await harness.create("upd")
        let result = await harness.call(
            "UpdateTrainingJob",
            #"{"TrainingJobName": "upd", "ProfilerConfig": {"DisableProfiler": true}, "ResourceConfig": {"KeepAlivePeriodInSeconds": 60}}"#)
        #expect(result.status == 200)
        #expect(result.json["TrainingJobArn"]?.stringValue?.hasSuffix("training-job/upd") == true)
        let described = await harness.call("DescribeTrainingJob", #"{"TrainingJobName": "upd"}"#)
        #expect(described.json["ProfilerConfig"]?["DisableProfiler"]?.boolValue == true)
        #expect(described.json["ResourceConfig"]?["KeepAlivePeriodInSeconds"]?.int64Value == 60)
        #expect(described.json["ResourceConfig"]?["InstanceType"]?.stringValue == "ml.m5.large")
    }

    @Test("GET /health answers ok with the database open")
    func health() async throws {
        let harness = try Harness()
        let response = await harness.service.respond(to: HTTPRequest(method: "GET", path: "/health"))
        #expect(response.status == 200)
        #expect((try? JSONValue.parse(response.body))?["status"]?.stringValue == "ok")
    }
}
