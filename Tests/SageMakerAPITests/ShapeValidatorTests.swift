import Testing

@testable import SageMakerAPI

@Suite("ShapeValidator")
struct ShapeValidatorTests {
    let validator = ShapeValidator()

    /// A CreateTrainingJob body as the SageMaker Python SDK sends it (Estimator.fit with a
    /// debugger hook and profiler, both on by default).
    static let sdkCreateTrainingJob: JSONValue = [
        "TrainingJobName": "pytorch-training-2025-05-16-18-10-50-603",
        "AlgorithmSpecification": [
            "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310",
            "TrainingInputMode": "File",
            "EnableSageMakerMetricsTimeSeries": true,
            "MetricDefinitions": [["Name": "train:loss", "Regex": "loss: ([0-9\\.]+)"]],
        ],
        "RoleArn": "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-20200101T000000",
        "OutputDataConfig": ["S3OutputPath": "s3://sagemaker-us-east-1-123456789012/"],
        "ResourceConfig": ["InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30],
        "StoppingCondition": ["MaxRuntimeInSeconds": 86400],
        "InputDataConfig": [
            [
                "ChannelName": "training",
                "DataSource": [
                    "S3DataSource": [
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://my-bucket/data/train",
                        "S3DataDistributionType": "FullyReplicated",
                    ]
                ],
                "ContentType": "text/csv",
            ]
        ],
        "HyperParameters": [
            "epochs": "10",
            "sagemaker_program": "\"train.py\"",
            "sagemaker_submit_directory": "\"s3://bucket/pytorch-training/source/sourcedir.tar.gz\"",
            "sagemaker_region": "\"us-east-1\"",
        ],
        "Environment": ["PYTHONUNBUFFERED": "1", "_SM_FLAG": "x y\nz"],
        "Tags": [["Key": "project", "Value": "trainyard"], ["Key": "aws:team", "Value": "ml @ home"]],
        "DebugHookConfig": [
            "S3OutputPath": "s3://sagemaker-us-east-1-123456789012/",
            "CollectionConfigurations": [],
        ],
        "ProfilerConfig": [
            "S3OutputPath": "s3://sagemaker-us-east-1-123456789012/",
            "DisableProfiler": false,
        ],
        "ProfilerRuleConfigurations": [
            [
                "RuleConfigurationName": "ProfilerReport-1747419050",
                "RuleEvaluatorImage": "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest",
                "RuleParameters": ["rule_to_invoke": "ProfilerReport"],
            ]
        ],
        "EnableNetworkIsolation": false,
        "EnableInterContainerTrafficEncryption": false,
        "EnableManagedSpotTraining": false,
    ]

    private func create(_ change: (inout [String: JSONValue]) -> Void) -> JSONValue {
        var body = Self.sdkCreateTrainingJob.objectValue!
        change(&body)
        return .object(body)
    }

    private func violations(_ value: JSONValue, _ shape: String) -> [String] {
        guard case .invalid(let found) = validator.validate(value, shape: shape) else { return [] }
        return found
    }

    // MARK: Valid requests

    @Test("a full CreateTrainingJob from the SageMaker Python SDK is valid")
    func validSDKRequest() {
        #expect(validator.validate(Self.sdkCreateTrainingJob, shape: "CreateTrainingJobRequest") == .valid)
    }

    @Test("the minimal valid bodies of every operation")
    func minimalBodies() {
        let arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1"
        let cases: [(String, JSONValue)] = [
            ("DescribeTrainingJobRequest", ["TrainingJobName": "job-1"]),
            ("StopTrainingJobRequest", ["TrainingJobName": "job-1"]),
            ("DeleteTrainingJobRequest", ["TrainingJobName": "job-1"]),
            (
                "UpdateTrainingJobRequest",
                ["TrainingJobName": "job-1", "ResourceConfig": ["KeepAlivePeriodInSeconds": 0]]
            ),
            ("ListTrainingJobsRequest", [:]),
            ("AddTagsInput", ["ResourceArn": .string(arn), "Tags": []]),
            ("ListTagsInput", ["ResourceArn": .string(arn), "MaxResults": 50]),
            ("DeleteTagsInput", ["ResourceArn": .string(arn), "TagKeys": ["a"]]),
        ]
        for (shape, body) in cases {
            #expect(validator.validate(body, shape: shape) == .valid, "\(shape)")
        }
    }

    @Test("every operation's input shape is known")
    func operationsTable() {
        #expect(SageMakerShapes.operations.count == 9)
        #expect(SageMakerShapes.operations["CreateTrainingJob"]?.input == "CreateTrainingJobRequest")
        #expect(SageMakerShapes.operations["StopTrainingJob"]?.output == nil)
        for (name, operation) in SageMakerShapes.operations {
            #expect(SageMakerShapes.named(operation.input) != nil, "\(name)")
            if let output = operation.output { #expect(SageMakerShapes.named(output) != nil, "\(name)") }
            // An empty object is at worst a constraint violation, never a type error.
            if case .serializationError = validator.validate([:], shape: operation.input) {
                Issue.record("\(name): {} is a serialization error")
            }
        }
    }

    // MARK: Message templates

    @Test("pattern")
    func patternMessage() {
        let body: JSONValue = ["TrainingJobName": "bad_name!"]
        #expect(
            validator.validate(body, shape: "DescribeTrainingJobRequest")
                == .invalid([
                    "Value 'bad_name!' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
                ])
        )
    }

    @Test("required member missing or null")
    func notNull() {
        let missing = create { $0["RoleArn"] = nil }
        #expect(
            violations(missing, "CreateTrainingJobRequest") == [
                "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
            ]
        )
        let null = create { $0["RoleArn"] = .null }
        #expect(violations(null, "CreateTrainingJobRequest") == violations(missing, "CreateTrainingJobRequest"))
        #expect(
            violations([:], "DescribeTrainingJobRequest") == [
                "Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null"
            ]
        )
    }

    @Test("length maximum and minimum")
    func lengths() {
        // 64 characters: the model's pattern ({0,62} after the first) also caps the name at 63,
        // so both clauses fire, pattern first.
        let long = String(repeating: "a", count: 64)
        #expect(
            violations(["TrainingJobName": .string(long)], "DescribeTrainingJobRequest") == [
                "Value '\(long)' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                "Value '\(long)' at 'trainingJobName' failed to satisfy constraint: Member must have length less than or equal to 63",
            ]
        )
        // Length alone: a 2049-character role ARN that matches the pattern.
        let role = "arn:aws:iam::123456789012:role/" + String(repeating: "r", count: 2018)
        #expect(
            violations(create { $0["RoleArn"] = .string(role) }, "CreateTrainingJobRequest") == [
                "Value '\(role)' at 'roleArn' failed to satisfy constraint: Member must have length less than or equal to 2048"
            ]
        )
        #expect(violations(["TrainingJobName": .string(String(long.dropLast()))], "DescribeTrainingJobRequest") == [])
        // Empty: the pattern clause comes before the length clause, as in real messages.
        #expect(
            violations(["TrainingJobName": ""], "DescribeTrainingJobRequest") == [
                "Value '' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                "Value '' at 'trainingJobName' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ]
        )
        // A list below its minimum.
        #expect(
            violations(
                ["ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/a", "TagKeys": []],
                "DeleteTagsInput")
                == [
                    "Value '[]' at 'tagKeys' failed to satisfy constraint: Member must have length greater than or equal to 1"
                ]
        )
    }

    @Test("integer range")
    func ranges() {
        let zero = create { $0["StoppingCondition"] = ["MaxRuntimeInSeconds": 0] }
        #expect(
            violations(zero, "CreateTrainingJobRequest") == [
                "Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 1"
            ]
        )
        #expect(
            violations(["MaxResults": 101], "ListTrainingJobsRequest") == [
                "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"
            ]
        )
        #expect(
            violations(["MaxResults": 0], "ListTrainingJobsRequest") == [
                "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
            ]
        )
        #expect(validator.validate(["MaxResults": 100], shape: "ListTrainingJobsRequest") == .valid)
        #expect(validator.validate(["MaxResults": 1], shape: "ListTrainingJobsRequest") == .valid)
    }

    @Test("enum")
    func enumMessage() {
        #expect(
            violations(["StatusEquals": "Bogus"], "ListTrainingJobsRequest") == [
                "Value 'Bogus' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set: [InProgress, Completed, Failed, Stopping, Stopped, Deleting]"
            ]
        )
        #expect(validator.validate(["StatusEquals": "Deleting"], shape: "ListTrainingJobsRequest") == .valid)
        // Enum values are case-sensitive.
        #expect(violations(["SortOrder": "ascending"], "ListTrainingJobsRequest").count == 1)
    }

    @Test("message(for:) joins violations")
    func messageFormat() {
        #expect(ShapeValidator.message(for: ["a"]) == "1 validation error detected: a")
        #expect(ShapeValidator.message(for: ["a", "b", "c"]) == "3 validation errors detected: a; b; c")
    }

    @Test("every violation is reported, in model member order, depth-first")
    func multipleViolations() {
        let body = create {
            $0["TrainingJobName"] = "bad_name!"
            $0["RoleArn"] = nil
            $0["AlgorithmSpecification"] = ["TrainingImage": "img", "TrainingInputMode": "Streaming"]
            $0["StoppingCondition"] = ["MaxRuntimeInSeconds": 0, "MaxPendingTimeInSeconds": 60]
        }
        let found = violations(body, "CreateTrainingJobRequest")
        #expect(
            found == [
                "Value 'bad_name!' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
                "Value 'Streaming' at 'algorithmSpecification.trainingInputMode' failed to satisfy constraint: Member must satisfy enum value set: [Pipe, File, FastFile]",
                "Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
                "Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 1",
                "Value '60' at 'stoppingCondition.maxPendingTimeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 7200",
            ]
        )
        #expect(ShapeValidator.message(for: found).hasPrefix("5 validation errors detected: Value 'bad_name!' at"))
    }

    // MARK: Paths

    @Test("nested list paths are <list>.<n>.member.<child>")
    func listPaths() {
        let body = create {
            $0["InputDataConfig"] = [
                [
                    "ChannelName": "train",
                    "DataSource": ["S3DataSource": ["S3DataType": "S3Prefix", "S3Uri": "s3://b/k"]],
                ],
                [
                    "ChannelName": "bad name",
                    "DataSource": ["S3DataSource": ["S3DataType": "Bogus", "S3Uri": "s3://b/k"]],
                ],
                ["ChannelName": "test"],
            ]
            $0["Tags"] = [["Key": "ok", "Value": "v"], ["Key": "a#b", "Value": "v"]]
        }
        #expect(
            violations(body, "CreateTrainingJobRequest") == [
                "Value 'bad name' at 'inputDataConfig.2.member.channelName' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9\\.\\-_]+",
                "Value 'Bogus' at 'inputDataConfig.2.member.dataSource.s3DataSource.s3DataType' failed to satisfy constraint: Member must satisfy enum value set: [ManifestFile, S3Prefix, AugmentedManifestFile, Converse]",
                "Value null at 'inputDataConfig.3.member.dataSource' failed to satisfy constraint: Member must not be null",
                "Value 'a#b' at 'tags.2.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)",
            ]
        )
    }

    @Test("lowerCamelCase path segments: only the first letter is lower-cased")
    func pathNames() {
        #expect(CompiledShapeModel.pathName("InputDataConfig") == "inputDataConfig")
        #expect(CompiledShapeModel.pathName("S3Uri") == "s3Uri")
        #expect(CompiledShapeModel.pathName("KmsKeyId") == "kmsKeyId")
        #expect(CompiledShapeModel.pathName("VolumeSizeInGB") == "volumeSizeInGB")
        let body = create { $0["OutputDataConfig"] = ["S3OutputPath": "s3://b/k", "KmsKeyId": "bad key"] }
        #expect(violations(body, "CreateTrainingJobRequest").first?.contains("at 'outputDataConfig.kmsKeyId'") == true)
    }

    @Test("a list that is too long shows its elements like Java's toString")
    func listRendering() {
        let tags = JSONValue.array((1...51).map { ["Key": .string("k\($0)"), "Value": "v"] })
        let found = violations(create { $0["Tags"] = tags }, "CreateTrainingJobRequest")
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("Value '[{Key=k1, Value=v}, {Key=k2, Value=v}, ") == true)
        #expect(
            found.first?.hasSuffix(
                "' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50") == true)
    }

    // MARK: Maps

    @Test("map keys: one violation at the map, listing the key shape's constraints")
    func mapKeys() {
        let body = create { $0["Environment"] = ["1BAD": "x", "GOOD": "y", "2BAD": "z"] }
        #expect(
            violations(body, "CreateTrainingJobRequest") == [
                "Value '{1BAD=x, 2BAD=z, GOOD=y}' at 'environment' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 512, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: [a-zA-Z_][a-zA-Z0-9_]*]"
            ]
        )
    }

    @Test("map values: one violation at the map; `.*` does not match a newline, as in Java")
    func mapValues() {
        let long = String(repeating: "v", count: 2501)
        let body = create { $0["HyperParameters"] = ["a": .string(long), "b": "x\ny", "c": "ok"] }
        #expect(
            violations(body, "CreateTrainingJobRequest") == [
                "Value '{a=\(long), b=x\ny, c=ok}' at 'hyperParameters' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 2500, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: .*]"
            ]
        )
    }

    @Test("map keys and values both bad, and too many entries")
    func mapKeysAndValues() {
        var entries: [String: JSONValue] = [:]
        for index in 0..<101 { entries["k\(index)"] = "v" }
        entries[String(repeating: "k", count: 257)] = .string(String(repeating: "v", count: 2501))
        let found = violations(create { $0["HyperParameters"] = .object(entries) }, "CreateTrainingJobRequest")
        #expect(found.count == 3)
        #expect(
            found[0].hasSuffix(
                "at 'hyperParameters' failed to satisfy constraint: Member must have length less than or equal to 100"))
        #expect(
            found[1].hasSuffix(
                "Map keys must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: .*]"
            ))
        #expect(
            found[2].contains("Map value must satisfy constraint: [Member must have length less than or equal to 2500"))
    }

    @Test("a null map value")
    func nullMapValue() {
        let found = violations(create { $0["Environment"] = ["A": nil] }, "CreateTrainingJobRequest")
        #expect(
            found == [
                "Value '{A=null}' at 'environment' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 512, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: [\\S\\s]*, Member must not be null]"
            ]
        )
    }

    // MARK: Serialization errors

    @Test(
        "a member of the wrong JSON type is a serialization error",
        arguments: [
            (["MaxResults": "10"], "class java.lang.String can not be converted to an Integer"),
            (["MaxResults": true], "class java.lang.Boolean can not be converted to an Integer"),
            (["MaxResults": [10]], "Start of list found where not expected"),
            (["MaxResults": ["a": 1]], "Start of structure or map found where not expected."),
            (
                ["NameContains": 5],
                "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
            ),
            (["NameContains": false], "class java.lang.Boolean can not be converted to an String"),
            (
                ["CreationTimeAfter": true],
                "Cannot deserialize true as a Timestamp for member 'creationTimeAfter': expected epoch seconds or an ISO-8601 date-time"
            ),
            (
                ["CreationTimeAfter": "yesterday"],
                "Cannot deserialize yesterday as a Timestamp for member 'creationTimeAfter': expected epoch seconds or an ISO-8601 date-time"
            ),
            (
                ["MaxResults": 1.5],
                "Cannot deserialize 1.5 as an Integer for member 'maxResults': not an integral number within 64 bits"
            ),
            (
                ["MaxResults": 1e20],
                "Cannot deserialize 1e+20 as an Integer for member 'maxResults': not an integral number within 64 bits"
            ),
        ] as [(JSONValue, String)])
    func typeErrors(body: JSONValue, message: String) {
        #expect(validator.validate(body, shape: "ListTrainingJobsRequest") == .serializationError(message))
    }

    @Test("structures, lists, maps and booleans of the wrong type")
    func containerTypeErrors() {
        let cases: [(JSONValue, String)] = [
            (
                create { $0["InputDataConfig"] = ["ChannelName": "train"] },
                "Start of structure or map found where not expected."
            ),
            (create { $0["InputDataConfig"] = "train" }, "Expected list or null"),
            (create { $0["HyperParameters"] = ["a", "b"] }, "Start of list found where not expected"),
            (create { $0["HyperParameters"] = "a=b" }, "Expected map or null"),
            (
                create { $0["HyperParameters"] = ["epochs": 10] },
                "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
            ),
            (create { $0["ResourceConfig"] = "ml.m5.large" }, "Expected null"),
            (create { $0["ResourceConfig"] = [] }, "Start of list found where not expected"),
            (create { $0["EnableNetworkIsolation"] = "true" }, "'TRUE' can not be converted to an Boolean"),
            (
                create { $0["EnableNetworkIsolation"] = 1 },
                "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an Boolean"
            ),
        ]
        for (body, message) in cases {
            #expect(validator.validate(body, shape: "CreateTrainingJobRequest") == .serializationError(message))
        }
    }

    @Test("a body that is not an object is a serialization error")
    func bodyNotObject() {
        #expect(
            validator.validate([], shape: "ListTrainingJobsRequest")
                == .serializationError("Start of list found where not expected"))
        #expect(validator.validate("x", shape: "ListTrainingJobsRequest") == .serializationError("Expected null"))
        #expect(validator.validate(1, shape: "ListTrainingJobsRequest") == .serializationError("Expected null"))
    }

    @Test("a type error wins over constraint violations found before it")
    func typeErrorWins() {
        let body = create {
            $0["TrainingJobName"] = "bad_name!"
            $0["RoleArn"] = nil
            $0["StoppingCondition"] = ["MaxRuntimeInSeconds": "86400"]
        }
        #expect(
            validator.validate(body, shape: "CreateTrainingJobRequest")
                == .serializationError("class java.lang.String can not be converted to an Integer")
        )
    }

    @Test("integral doubles and both timestamp forms are accepted")
    func lenientNumbers() {
        #expect(validator.validate(["MaxResults": 10.0], shape: "ListTrainingJobsRequest") == .valid)
        #expect(validator.validate(["MaxResults": 1e2], shape: "ListTrainingJobsRequest") == .valid)
        for timestamp: JSONValue in [
            1_700_000_000, 1.7474182506e9, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123+02:00",
        ] {
            #expect(validator.validate(["CreationTimeAfter": timestamp], shape: "ListTrainingJobsRequest") == .valid)
        }
    }

    @Test("unknown members are ignored, null optional members are absent")
    func unknownAndNull() {
        let body: JSONValue = ["TrainingJobName": "job", "Bogus": [1, "x"], "bogus": nil]
        #expect(validator.validate(body, shape: "DescribeTrainingJobRequest") == .valid)
        let nulls = create {
            $0["HyperParameters"] = nil
            $0["VpcConfig"] = .null
            $0["Tags"] = .null
        }
        #expect(validator.validate(nulls, shape: "CreateTrainingJobRequest") == .valid)
    }

    @Test("a null list element")
    func nullListElement() {
        let body: JSONValue = [
            "ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/a", "TagKeys": ["a", nil],
        ]
        #expect(
            violations(body, "DeleteTagsInput") == [
                "Value null at 'tagKeys.2.member' failed to satisfy constraint: Member must not be null"
            ]
        )
    }

    // MARK: Patterns

    @Test("S3 URIs", arguments: ["s3://b/k", "s3://b", "s3://bucket/a/b/c.csv", "https://bucket.s3.amazonaws.com/key"])
    func s3URIs(uri: String) {
        let body = create { $0["OutputDataConfig"] = ["S3OutputPath": .string(uri)] }
        #expect(validator.validate(body, shape: "CreateTrainingJobRequest") == .valid)
    }

    @Test("file:// URIs need the S3Uri pattern override")
    func fileURIOverride() {
        let body = create {
            $0["OutputDataConfig"] = ["S3OutputPath": "file:///abs/dir"]
            $0["InputDataConfig"] = [
                [
                    "ChannelName": "train",
                    "DataSource": ["S3DataSource": ["S3DataType": "S3Prefix", "S3Uri": "file:///data/train"]],
                ]
            ]
        }
        #expect(
            violations(body, "CreateTrainingJobRequest") == [
                "Value 'file:///data/train' at 'inputDataConfig.1.member.dataSource.s3DataSource.s3Uri' failed to satisfy constraint: Member must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)",
                "Value 'file:///abs/dir' at 'outputDataConfig.s3OutputPath' failed to satisfy constraint: Member must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)",
            ]
        )
        let widened = ShapeValidator(patternOverrides: ["S3Uri": #"(https|s3)://([^/]+)/?(.*)|file:///.*"#])
        #expect(widened.validate(body, shape: "CreateTrainingJobRequest") == .valid)
        #expect(widened.validate(Self.sdkCreateTrainingJob, shape: "CreateTrainingJobRequest") == .valid)
        // Still rejected: messages keep quoting the model's pattern.
        let ftp = create { $0["OutputDataConfig"] = ["S3OutputPath": "ftp://host/x"] }
        #expect(
            widened.validate(ftp, shape: "CreateTrainingJobRequest")
                == .invalid([
                    "Value 'ftp://host/x' at 'outputDataConfig.s3OutputPath' failed to satisfy constraint: Member must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)"
                ])
        )
        // The default validator is unaffected.
        #expect(validator.validate(body, shape: "CreateTrainingJobRequest") != .valid)
    }

    @Test("role ARNs: \\d is ASCII-only, as in Java")
    func roleARNDigits() {
        let arabicIndic = create { $0["RoleArn"] = "arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/x" }
        #expect(violations(arabicIndic, "CreateTrainingJobRequest").count == 1)
        let china = create { $0["RoleArn"] = "arn:aws-cn:iam::123456789012:role/x" }
        #expect(validator.validate(china, shape: "CreateTrainingJobRequest") == .valid)
    }

    @Test("patterns match Unicode scalars, not grapheme clusters")
    func scalarSemantics() {
        // U+0301 (a combining mark) is not in [\p{L}\p{Z}\p{N}...]: Java rejects "e\u{301}";
        // with grapheme semantics "é" as one Character would match \p{L}.
        let decomposed = create { $0["Tags"] = [["Key": "caf\u{65}\u{301}", "Value": "v"]] }
        #expect(violations(decomposed, "CreateTrainingJobRequest").count == 1)
        let composed = create { $0["Tags"] = [["Key": "café 中文", "Value": "v"]] }
        #expect(validator.validate(composed, shape: "CreateTrainingJobRequest") == .valid)
    }

    @Test("string length counts Unicode scalars, not UTF-16 code units")
    func lengthInScalars() {
        // U+1D49C MATHEMATICAL SCRIPT CAPITAL A: a letter outside the BMP (2 UTF-16 units).
        let letter = "\u{1D49C}"
        let fits = create { $0["Tags"] = [["Key": "k", "Value": .string(String(repeating: letter, count: 256))]] }
        #expect(validator.validate(fits, shape: "CreateTrainingJobRequest") == .valid)
        let over = create { $0["Tags"] = [["Key": "k", "Value": .string(String(repeating: letter, count: 257))]] }
        #expect(
            violations(over, "CreateTrainingJobRequest").first?.hasSuffix(
                "Member must have length less than or equal to 256") == true)
    }

    @Test("the lookbehind pattern (AlgorithmName) runs on NSRegularExpression")
    func lookbehindFallback() {
        let good = create { $0["AlgorithmSpecification"] = ["AlgorithmName": "my-algo", "TrainingInputMode": "File"] }
        #expect(validator.validate(good, shape: "CreateTrainingJobRequest") == .valid)
        let arn = create {
            $0["AlgorithmSpecification"] = [
                "AlgorithmName": "arn:aws:sagemaker:us-east-1:123456789012:algorithm/my-algo",
                "TrainingInputMode": "File",
            ]
        }
        #expect(validator.validate(arn, shape: "CreateTrainingJobRequest") == .valid)
        let trailingDash = create {
            $0["AlgorithmSpecification"] = ["AlgorithmName": "my-algo-", "TrainingInputMode": "File"]
        }
        #expect(violations(trailingDash, "CreateTrainingJobRequest").count == 1)
    }

    @Test("every pattern of the model compiles")
    func allPatternsCompile() {
        #expect(ShapeValidator.uncompilablePatterns == [])
    }

    @Test("the validator can be shared across tasks")
    func concurrentUse() async {
        let validator = self.validator
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<200).allSatisfy { _ in
                        validator.validate(Self.sdkCreateTrainingJob, shape: "CreateTrainingJobRequest") == .valid
                    }
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}
