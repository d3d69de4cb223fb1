import Foundation
import JobStore
import TrainingCore

/// What an operation answers: a JSON value, or bytes already encoded (DescribeTrainingJob splices
/// its stored echo into the response without re-encoding it).
enum OperationOutput {
    case value(JSONValue)
    case encoded([UInt8])
}

/// The SageMaker training-job operations Trainyard serves.
struct TrainingJobOperations: Sendable {
    static let names: Set<String> = [
        "CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob", "ListTrainingJobs", "UpdateTrainingJob",
        "DeleteTrainingJob", "AddTags", "ListTags", "DeleteTags",
    ]

    /// SageMaker's limit on tags per resource (API Tags: "up to 50").
    static let maximumTags = 50

    let store: JobStore
    let tokens: PaginationTokens
    let validator: ShapeValidator
    /// Checked by CreateTrainingJob (`--instance-quota`); unlimited by default.
    let instanceQuotas: InstanceQuotas
    /// `file://` URIs are accepted only under these prefixes (`--allow-file-uris`, issue 12 item 1).
    let allowedFileURIPrefixes: [String]
    let now: @Sendable () -> Timestamp

    init(
        store: JobStore, tokens: PaginationTokens, instanceQuotas: InstanceQuotas = .unlimited,
        allowedFileURIPrefixes: [String] = ["/"],
        now: @escaping @Sendable () -> Timestamp = { Timestamp(epochSeconds: Date().timeIntervalSince1970) }
    ) throws {
        self.store = store
        self.tokens = tokens
        self.instanceQuotas = instanceQuotas
        self.allowedFileURIPrefixes = allowedFileURIPrefixes
        // Trainyard also reads file:///abs/dir wherever an S3Uri is accepted (DESIGN §2).
        self.validator = ShapeValidator(patternOverrides: ["S3Uri": #"^(https|s3)://([^/]+)/?(.*)$|^file:///.*$"#])
        self.now = now
    }

    func perform(_ name: String, input: JSONValue, context: RequestContext) throws -> OperationOutput {
        var input = input
        if let shape = SageMakerShapes.operations[name]?.input {
            switch validator.validate(input, shape: shape) {
            case .valid: input = ShapeTable.sageMaker.pruned(input, shape: shape)
            case .serializationError(let message): throw AWSServiceError.serialization(message)
            case .invalid(let violations): throw AWSServiceError.violations(violations)
            }
        }
        switch name {
        case "CreateTrainingJob": return try createTrainingJob(input, context)
        case "DescribeTrainingJob": return try describeTrainingJob(input, context)
        case "StopTrainingJob": return try stopTrainingJob(input, context)
        case "ListTrainingJobs": return try listTrainingJobs(input, context)
        case "UpdateTrainingJob": return try updateTrainingJob(input, context)
        case "DeleteTrainingJob": return try deleteTrainingJob(input, context)
        case "AddTags": return try addTags(input, context)
        case "ListTags": return try listTags(input, context)
        case "DeleteTags": return try deleteTags(input, context)
        default: throw AWSServiceError.unknownOperation("Operation \(name) is not supported by Trainyard.")
        }
    }

    // MARK: - Jobs

    private func createTrainingJob(_ input: JSONValue, _ context: RequestContext) throws -> OperationOutput {
        try CreateTrainingJobInput.checkFileURIs(input, allowedPrefixes: allowedFileURIPrefixes)
        let request = try CreateTrainingJobInput(input)
        let arn = context.trainingJobARN(request.name)
        let job = TrainingJob.created(
            account: context.account, name: request.name, arn: arn, spec: request.spec,
            requestEcho: request.echoObject(arn: arn).serialized(), now: now())
        _ = try store.create(job, tags: request.tags, instanceQuotas: instanceQuotas)  // errors: AWSServiceError(_:)
        return .value(.object(["TrainingJobArn": .string(arn)]))
    }

    private func describeTrainingJob(_ input: JSONValue, _ context: RequestContext) throws -> OperationOutput {
        let job = try existingJob(input, context)
        return .encoded(DescribeTrainingJobResponse.encode(job))
    }

    private func stopTrainingJob(_ input: JSONValue, _ context: RequestContext) throws -> OperationOutput {
        let job = try existingJob(input, context)
        try store.update(id: job.id) { job throws(LifecycleError) in try job.stopRequested(now: self.now()) }  // not InProgress: AWSServiceError(_:)
        return .value(.object([:]))
    }

    /// Stores the new profiler, warm-pool and remote-debug settings and echoes them in Describe
    /// (Trainyard runs no profiler or warm pool; API UpdateTrainingJob).
    private func updateTrainingJob(_ input: JSONValue, _ context: RequestContext) throws -> OperationOutput {
        let job = try existingJob(input, context)
        try store.update(id: job.id) { current in
            guard case .object(var echo)? = try? JSONValue.parse(Array(current.requestEcho.utf8)) else { return nil }
            if case .object(let profiler)? = input["ProfilerConfig"] {
                var merged = echo["ProfilerConfig"]?.objectValue ?? [:]
                merged.merge(profiler) { _, new in new }
                echo["ProfilerConfig"] = .object(merged)
            }
            if case .array(let rules)? = input["ProfilerRuleConfigurations"] {
                echo["ProfilerRuleConfigurations"] = .array((echo["ProfilerRuleConfigurations"]?.arrayValue ?? []) + rules)
            }
            if case .object(let resource)? = input["ResourceConfig"] {
                var merged = echo["ResourceConfig"]?.objectValue ?? [:]
                merged.merge(resource) { _, new in new }
                echo["ResourceConfig"] = .object(merged)
            }
            if case .object(let remoteDebug)? = input["RemoteDebugConfig"] {
                echo["RemoteDebugConfig"] = .object(remoteDebug)
            }
            var updated = current
            updated.requestEcho = JSONValue.object(echo).serialized()
            updated.lastModifiedTime = max(current.lastModifiedTime, self.now())
            return updated
        }
        return .value(.object(["TrainingJobArn": .string(job.arn)]))
    }

    private func deleteTrainingJob(_ input: JSONValue, _ context: RequestContext) throws -> OperationOutput {
        let name = input["TrainingJobName"]?.stringValue ?? ""
        try store.delete(account: context.account, name: name)  // missing or not ended: AWSServiceError(_:)
        return .value(.object([:]))
    }

    func existingJob(_ input: JSONValue, _ context: RequestContext) throws -> TrainingJob {
        let name = input["TrainingJobName"]?.stringValue ?? ""
        guard let job = try store.job(account: context.account, name: name) else { throw AWSServiceError.resourceNotFound }
        return job
    }
}
