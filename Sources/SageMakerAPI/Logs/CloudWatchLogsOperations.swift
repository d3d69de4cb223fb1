import JobStore
import TrainingCore

/// The CloudWatch Logs operations Trainyard serves on the SageMaker port (`X-Amz-Target:
/// Logs_20140328.<Op>`, or `POST /Logs_20140328.<Op>`): what the SageMaker SDK's `logs_for_job`,
/// `aws logs` and log viewers call to read the training containers' output (reference
/// sagemaker-semantics §2.8; DESIGN §1). Read-only: the streams are written by capture.
///
/// Everything is scoped to the caller's account. Timestamps are epoch **milliseconds** as JSON
/// integers (botocore logs `Timestamp`: `long`), unlike SageMaker's seconds.
struct CloudWatchLogsOperations: Sendable {
    /// The target prefix of the logs model (`metadata.targetPrefix` of botocore logs 2014-03-28).
    static let targetPrefix = "Logs_20140328."

    static let names: Set<String> = ["DescribeLogGroups", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents"]

    /// "If you don't specify a value, the default is up to 50 items" (DescribeLogGroups and
    /// DescribeLogStreams `limit`).
    static let defaultDescribeLimit = 50
    /// GetLogEvents: "as many log events as can fit in a response size of 1 MB (up to 10,000 log
    /// events)"; FilterLogEvents: "The default is 10,000 events" (botocore logs).
    static let defaultEventsLimit = 10_000
    /// "Each page returned can contain up to 1 MB of log events" (GetLogEvents, FilterLogEvents).
    static let pageBytes = 1_048_576

    let store: LogStore
    let tokens: PaginationTokens
    let eventIDs: LogEventIDs
    let validator = ShapeValidator(table: .cloudWatchLogs)

    /// The operation a target names when it is a CloudWatch Logs target, nil for another service's.
    static func operationName(target: String) throws(AWSServiceError) -> String? {
        guard target.hasPrefix(targetPrefix) else { return nil }
        let name = String(target.dropFirst(targetPrefix.count))
        guard names.contains(name) else {
            throw .unknownOperation(
                "Operation \(name) is not supported by Trainyard; it serves the CloudWatch Logs operations "
                    + names.sorted().joined(separator: ", ") + ".")
        }
        return name
    }

    func perform(_ name: String, input: JSONValue, context: RequestContext) throws -> OperationOutput {
        if let shape = CloudWatchLogsShapes.operations[name]?.input {
            switch validator.validate(input, shape: shape) {
            case .valid: break
            case .serializationError(let message): throw AWSServiceError.serialization(message)
            case .invalid(let violations): throw AWSServiceError.invalidParameter(ShapeValidator.message(for: violations))
            }
        }
        switch name {
        case "DescribeLogGroups": return .value(try describeLogGroups(input, context))
        case "DescribeLogStreams": return .value(try describeLogStreams(input, context))
        case "GetLogEvents": return .value(try getLogEvents(input, context))
        case "FilterLogEvents": return .value(try filterLogEvents(input, context))
        default: throw AWSServiceError.unknownOperation("Operation \(name) is not supported by Trainyard.")
        }
    }

    // MARK: Shared

    /// The log group a request names with `logGroupName` or `logGroupIdentifier` ("You must include
    /// either logGroupIdentifier or logGroupName, but not both"), checked to exist for the caller.
    /// An identifier may be the group's ARN (botocore logs `logGroupIdentifier`); an ARN of another account names no group of the caller's
    /// (cross-account observability is not emulated). The two InvalidParameterException wordings
    /// are Trainyard's (unverified).
    func existingLogGroup(_ input: JSONValue, _ context: RequestContext) throws -> LogGroupRecord {
        let name: String
        switch (input["logGroupName"]?.stringValue, input["logGroupIdentifier"]?.stringValue) {
        case (nil, nil):
            throw AWSServiceError.invalidParameter("Either logGroupName or logGroupIdentifier must be specified.")
        case (.some, .some):
            throw AWSServiceError.invalidParameter("Specify either logGroupName or logGroupIdentifier, not both.")
        case (let groupName?, nil):
            name = groupName
        case (nil, let identifier?):
            name = try Self.logGroupName(identifier: identifier, context)
        }
        guard let group = try store.logGroup(account: context.account, name: name) else {
            throw AWSServiceError.logGroupNotFound
        }
        return group
    }

    /// The group name in a `logGroupIdentifier`: a name, or
    /// `arn:<partition>:logs:<region>:<account>:log-group:<name>`. (The `:*` form never gets here:
    /// it fails the model's `LogGroupIdentifier` pattern, as on AWS, grafana/grafana#79155.)
    static func logGroupName(identifier: String, _ context: RequestContext) throws -> String {
        guard identifier.hasPrefix("arn:") else { return identifier }
        let parts = identifier.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 7, parts[2] == "logs", parts[5] == "log-group",
            !parts[6].isEmpty
        else {
            throw AWSServiceError.invalidParameter("Invalid log group identifier: \(identifier)")
        }
        guard parts[4] == context.account else { throw AWSServiceError.logGroupNotFound }
        return String(parts[6])
    }

    /// Opens a NextToken sealed by ``PaginationTokens`` for `scope`, answering anything else with
    /// CloudWatch's InvalidParameterException.
    func openToken<Payload: Codable>(_ input: JSONValue, as type: Payload.Type, scope: String) throws -> Payload? {
        guard let token = input["nextToken"]?.stringValue else { return nil }
        do {
            return try tokens.open(token, as: type, scope: scope)
        } catch {
            throw AWSServiceError.invalidNextToken
        }
    }

    /// What a NextToken is sealed for: the operation, the account and the parameters that must
    /// not change between pages (not the limit, which clients may change from page to page).
    static func scope(_ operation: String, _ context: RequestContext, _ parameters: [JSONValue]) -> String {
        JSONValue.array([.string(operation), .string(context.account)] + parameters).serialized()
    }

    /// `arn:aws:logs:<region>:<account>:log-group:<name>` (the form without `:*`: `logGroupArn`).
    static func logGroupARN(_ name: String, _ context: RequestContext) -> String {
        "arn:aws:logs:\(context.region):\(context.account):log-group:\(name)"
    }

    static func milliseconds(_ time: Timestamp) -> JSONValue { .int(time.milliseconds) }

    /// A request timestamp (epoch milliseconds; validated as `long, min 0`).
    static func time(_ input: JSONValue, _ member: String) -> Timestamp? {
        input[member]?.int64Value.map(Timestamp.init(milliseconds:))
    }

    static func limit(_ input: JSONValue, default value: Int) -> Int {
        input["limit"]?.int64Value.map { Int($0) } ?? value
    }
}
