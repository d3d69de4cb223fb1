import JobStore
import TrainingCore

extension CloudWatchLogsOperations {
    /// DescribeLogGroups: the caller's groups in ASCII order of name, by `logGroupNamePrefix`,
    /// `logGroupNamePattern` (case-sensitive substring) or `logGroupIdentifiers` (names or ARNs).
    /// Every group is in the STANDARD class, never expires (no retention policy is reported) and
    /// has no metric filter. The cross-account members (`includeLinkedAccounts`,
    /// `accountIdentifiers`) are accepted and ignored: a caller sees its own account's groups.
    func describeLogGroups(_ input: JSONValue, _ context: RequestContext) throws -> JSONValue {
        let prefix = input["logGroupNamePrefix"]?.stringValue
        let pattern = input["logGroupNamePattern"]?.stringValue
        let identifiers = input["logGroupIdentifiers"]?.arrayValue?.compactMap(\.stringValue)
        // "logGroupNamePrefix and logGroupNamePattern are mutually exclusive"; with
        // logGroupIdentifiers "the only other filter that you can choose to specify is
        // includeLinkedAccounts" (botocore logs DescribeLogGroups). Wording is Trainyard's.
        if prefix != nil, pattern != nil {
            throw AWSServiceError.invalidParameter("logGroupNamePrefix and logGroupNamePattern are mutually exclusive.")
        }
        if identifiers != nil, prefix != nil || pattern != nil {
            throw AWSServiceError.invalidParameter(
                "logGroupIdentifiers cannot be combined with logGroupNamePrefix or logGroupNamePattern.")
        }
        if let logGroupClass = input["logGroupClass"]?.stringValue, logGroupClass != "STANDARD" {
            return .object(["logGroups": .array([])])
        }
        let limit = Self.limit(input, default: Self.defaultDescribeLimit)
        var groups: [LogGroupRecord]
        var hasMore = false
        let scope = Self.scope("DescribeLogGroups", context, [.string(prefix ?? ""), .string(pattern ?? "")])
        if let identifiers {
            var names: Set<String> = []
            for identifier in identifiers { names.insert(try Self.logGroupName(identifier: identifier, context)) }
            groups = try names.sorted().compactMap { try store.logGroup(account: context.account, name: $0) }
        } else {
            let after = try openToken(input, as: String.self, scope: scope)
            (groups, hasMore) = try store.logGroups(
                account: context.account, namePrefix: prefix, nameContains: pattern, after: after, limit: limit)
        }
        var output: [String: JSONValue] = [
            "logGroups": .array(groups.map { Self.logGroup($0, context, reduced: pattern != nil) })
        ]
        if hasMore, let last = groups.last {
            output["nextToken"] = .string(tokens.seal(last.name, scope: scope))
        }
        return .object(output)
    }

    /// A `LogGroup`. With `logGroupNamePattern`, "only arn, creationTime, and logGroupName are
    /// included in the response" (botocore logs DescribeLogGroups).
    static func logGroup(_ group: LogGroupRecord, _ context: RequestContext, reduced: Bool) -> JSONValue {
        let arn = logGroupARN(group.name, context)
        var object: [String: JSONValue] = [
            "logGroupName": .string(group.name),
            "creationTime": milliseconds(group.creationTime),
            // LogGroup.arn "includes a trailing :*"; logGroupArn does not.
            "arn": .string(arn + ":*"),
        ]
        if !reduced {
            object["logGroupArn"] = .string(arn)
            object["metricFilterCount"] = .int(0)
            object["storedBytes"] = .int(group.storedBytes)
            object["logGroupClass"] = .string("STANDARD")
        }
        return .object(object)
    }

    /// DescribeLogStreams. `nextToken` is returned only when more streams exist: the SageMaker SDK
    /// loops `while "nextToken" in streams` without passing the token back, so a token after the
    /// last page would make it spin forever (SDK2 `session.py:_flush_log_streams`; reference
    /// sagemaker-semantics §2.8).
    func describeLogStreams(_ input: JSONValue, _ context: RequestContext) throws -> JSONValue {
        let group = try existingLogGroup(input, context)
        var query = LogStreamQuery(account: context.account, logGroup: group.name)
        query.namePrefix = input["logStreamNamePrefix"]?.stringValue
        query.orderBy = input["orderBy"]?.stringValue.flatMap(LogStreamQuery.Order.init(rawValue:)) ?? .logStreamName
        query.descending = input["descending"]?.boolValue ?? false
        if query.orderBy == .lastEventTime, query.namePrefix != nil {
            // Observed wording (turbot/steampipe-plugin-aws#1949).
            throw AWSServiceError.invalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        }
        let scope = Self.scope(
            "DescribeLogStreams", context,
            [.string(group.name), .string(query.namePrefix ?? ""), .string(query.orderBy.rawValue), .bool(query.descending)])
        query.after = try openToken(input, as: LogStreamCursor.self, scope: scope)
        query.limit = Self.limit(input, default: Self.defaultDescribeLimit)
        let page = try store.logStreams(query)
        var output: [String: JSONValue] = ["logStreams": .array(page.streams.map { Self.logStream($0, context) })]
        if page.hasMore, let last = page.streams.last {
            output["nextToken"] = .string(tokens.seal(last.cursor, scope: scope))
        }
        return .object(output)
    }

    /// A `LogStream`. The event times and ingestion time are absent until the stream has an event
    /// (moto and real responses alike). `storedBytes` "is no longer supported for log streams,
    /// and is always reported as zero" (botocore logs LogStream); `uploadSequenceToken` "is now
    /// ignored" and left out.
    static func logStream(_ stream: LogStreamRecord, _ context: RequestContext) -> JSONValue {
        var object: [String: JSONValue] = [
            "logStreamName": .string(stream.name),
            "creationTime": milliseconds(stream.creationTime),
            "arn": .string(logGroupARN(stream.logGroup, context) + ":log-stream:" + stream.name),
            "storedBytes": .int(0),
        ]
        if let first = stream.firstEventTimestamp { object["firstEventTimestamp"] = milliseconds(first) }
        if let last = stream.lastEventTimestamp { object["lastEventTimestamp"] = milliseconds(last) }
        if let ingested = stream.lastIngestionTime { object["lastIngestionTime"] = milliseconds(ingested) }
        return .object(object)
    }
}
