import JobStore
import TrainingCore

extension TrainingJobOperations {
    /// SageMaker does not document ListTrainingJobs' default page size; its list operations
    /// typically default to 10 (unsure), which is what Trainyard uses.
    static let defaultMaxResults = 10

    func listTrainingJobs(_ input: JSONValue, _ context: RequestContext) throws -> OperationOutput {
        var query = JobQuery(account: context.account)
        query.nameContains = input["NameContains"]?.stringValue
        query.statusEquals = input["StatusEquals"]?.stringValue.flatMap(TrainingJobStatus.init(rawValue:))
        query.creationTimeAfter = input["CreationTimeAfter"].flatMap(Timestamp.init(wire:))
        query.creationTimeBefore = input["CreationTimeBefore"].flatMap(Timestamp.init(wire:))
        query.lastModifiedTimeAfter = input["LastModifiedTimeAfter"].flatMap(Timestamp.init(wire:))
        query.lastModifiedTimeBefore = input["LastModifiedTimeBefore"].flatMap(Timestamp.init(wire:))
        query.sortBy = input["SortBy"]?.stringValue.flatMap(JobQuery.SortKey.init(rawValue:)) ?? .creationTime
        // The model documents Ascending as the default order (reference api-fidelity §2, unverified).
        query.ascending = input["SortOrder"]?.stringValue != "Descending"
        query.limit = Int(input["MaxResults"]?.int64Value ?? Int64(Self.defaultMaxResults))
        // A job's page must not depend on anything but these parameters.
        var scopeQuery = query
        scopeQuery.limit = 0
        let scope = "ListTrainingJobs|\(scopeQuery)"
        if let token = input["NextToken"]?.stringValue, !token.isEmpty {
            query.after = try tokens.open(token, as: JobCursor.self, scope: scope)
        }
        let page = try store.list(query)
        var output: [String: JSONValue] = [
            "TrainingJobSummaries": .array(page.jobs.map(Self.summary))
        ]
        if page.hasMore, let last = page.jobs.last {
            output["NextToken"] = .string(tokens.seal(last.cursor, scope: scope))
        }
        return .value(.object(output))
    }

    static func summary(_ job: JobSummary) -> JSONValue {
        var summary: [String: JSONValue] = [
            "TrainingJobName": .string(job.name),
            "TrainingJobArn": .string(job.arn),
            "CreationTime": job.creationTime.wireValue,
            "LastModifiedTime": job.lastModifiedTime.wireValue,
            "TrainingJobStatus": .string(job.status.rawValue),
            "SecondaryStatus": .string(job.secondaryStatus.rawValue),
        ]
        if let end = job.trainingEndTime { summary["TrainingEndTime"] = end.wireValue }
        return .object(summary)
    }
}
