import EventHTTP
import Foundation
import JobStore
import Logging
import SageMakerAPI
import Testing
import TrainingCore

struct InstanceQuotaServiceTests {
    private func service(_ quotas: InstanceQuotas) throws -> SageMakerService {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-quota-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try JobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        return try SageMakerService(
            store: store, configuration: .init(instanceQuotas: quotas), logger: Logger(label: "test"))
    }

    private func call(_ service: SageMakerService, _ operation: String, _ body: String) async -> (status: Int, json: JSONValue) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.1")
        headers.add(name: "X-Amz-Target", value: "SageMaker.\(operation)")
        let response = await service.respond(to: HTTPRequest(method: "POST", path: "/", headers: headers, body: Array(body.utf8)))
        return (response.status, (try? JSONValue.parse(response.body)) ?? .null)
    }

    private func createBody(_ name: String, type: String, count: Int) -> String {
        """
        {"TrainingJobName": "\(name)", "RoleArn": "arn:aws:iam::123456789012:role/Trainer",
         "AlgorithmSpecification": {"TrainingImage": "img:latest", "TrainingInputMode": "File"},
         "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
         "ResourceConfig": {"InstanceType": "\(type)", "InstanceCount": \(count), "VolumeSizeInGB": 30}}
        """
    }

    @Test("over quota, Create is a 400 ResourceLimitExceeded in SageMaker's words and the job does not exist")
    func resourceLimitExceeded() async throws {
        let service = try service(InstanceQuotas(limits: ["ml.p3.2xlarge": 0, "ml.m5.large": 2]))
        let refused = await call(service, "CreateTrainingJob", createBody("gpu", type: "ml.p3.2xlarge", count: 1))
        #expect(refused.status == 400)
        #expect(refused.json["__type"]?.stringValue == "ResourceLimitExceeded")
        #expect(
            refused.json["message"]?.stringValue
                == "The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to request an increase for this quota. If AWS Service Quotas is not available, contact AWS support to request an increase for this quota.")
        let described = await call(service, "DescribeTrainingJob", #"{"TrainingJobName": "gpu"}"#)
        #expect(described.json["__type"]?.stringValue == "ValidationException")

        #expect(await call(service, "CreateTrainingJob", createBody("cpu-a", type: "ml.m5.large", count: 2)).status == 200)
        let second = await call(service, "CreateTrainingJob", createBody("cpu-b", type: "ml.m5.large", count: 1))
        #expect(second.json["__type"]?.stringValue == "ResourceLimitExceeded")
        #expect(second.json["message"]?.stringValue?.hasPrefix(
            "The account-level service limit 'ml.m5.large for training job usage' is 2 Instances, with current utilization of 2 Instances and a request delta of 1 Instances.") == true)
    }

    @Test("the instance types a quota may name are the model's TrainingInstanceType values")
    func instanceTypes() {
        let types = Set(SageMakerShapes.trainingInstanceTypes)
        #expect(types.contains("ml.m5.large") && types.contains("ml.p3.2xlarge"))
        #expect(!types.contains("ml.nope.large"))
    }
}
