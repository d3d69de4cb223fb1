import Foundation
import Testing
import TrainingCore

@Suite("The spec's stored JSON, written by hand")
struct StoredJSONTests {
    /// Every member set, with characters that need escaping.
    static let full = TrainingJobSpec(
        trainingImage: "123456789012.dkr.ecr.us-east-1.amazonaws.com/algo:latest", containerEntrypoint: ["python3", "-m", "train"],
        containerArguments: ["--epochs", "3"], trainingInputMode: "Pipe",
        hyperParameters: ["lr": "0.1", "name": "\"quoted\"", "path": "a\\b", "multi": "line\nbreak\ttab", "ctl": "\u{1}x", "é": "ü"],
        environment: ["B": "2", "A": "1"],
        channels: [
            TrainingJobSpec.Channel(
                name: "train", uri: "s3://bucket/train/", contentType: "text/csv", inputMode: "File", instanceGroupNames: ["g1"]),
            TrainingJobSpec.Channel(name: "test", uri: "file:///data/test", distributionType: "ShardedByS3Key"),
        ],
        outputPath: "s3://bucket/out/", checkpoint: TrainingJobSpec.Checkpoint(uri: "s3://bucket/ckpt", localPath: "/opt/ml/ck"),
        instanceType: "ml.m5.xlarge", instanceCount: 3, volumeSizeInGB: 50, maxRuntimeSeconds: 3600, maxPendingSeconds: 600,
        metricDefinitions: [TrainingJobSpec.MetricDefinition(name: "loss", regex: "loss=(\\S+)")], enableNetworkIsolation: true,
        extraConfigFiles: ["debughookconfig.json": "{\"a\":1}"],
        instanceGroups: [TrainingJobSpec.InstanceGroup(name: "g1", instanceType: "ml.m5.large", instanceCount: 2)])

    static func encoderText(_ spec: TrainingJobSpec) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(spec), as: UTF8.self)
    }

    @Test("the same text JSONEncoder writes, for a spec with every member and for the least one")
    func sameTextAsJSONEncoder() throws {
        for spec in [Self.full, TrainingJobSpec(trainingImage: "img", outputPath: "s3://b/o")] {
            #expect(spec.storedJSON == (try Self.encoderText(spec)))
        }
    }

    @Test("decodes to the same spec")
    func roundTrip() throws {
        for spec in [Self.full, TrainingJobSpec(trainingImage: "img", outputPath: "s3://b/o")] {
            #expect(try JSONDecoder().decode(TrainingJobSpec.self, from: Data(spec.storedJSON.utf8)) == spec)
        }
    }

    @Test("string literals escape quotes, backslashes and control characters only")
    func quoting() {
        #expect(JSONText.quoted("a\"b\\c/d\n\r\t\u{1f}é") == #""a\"b\\c/d\n\r\t\u001fé""#)
    }
}
