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
        let scope = Self.listScope(query)
        if let token = input["NextToken"]?.stringValue, !token.isEmpty {
            query.after = try tokens.open(token, as: JobCursor.self, scope: scope)
        }
        let page = try store.list(query)
        // About 330 bytes per summary: reserved once instead of growing (and copying) the buffer.
        var output = JSONObjectWriter(reservingCapacity: 64 + 400 * page.jobs.count)
        if page.hasMore, let last = page.jobs.last {
            output.member("NextToken", .string(tokens.seal(last.cursor, scope: scope)))
        }
        output.member("TrainingJobSummaries", objects: page.jobs, Self.writeSummary)
        return .encoded(output.finish())
    }

    /// What a NextToken is bound to: every parameter but the page size and the position.
    static func listScope(_ query: JobQuery) -> String {
        let optional: (String?) -> JSONValue = { $0.map(JSONValue.string) ?? .null }
        let time: (Timestamp?) -> JSONValue = { $0.map { .int($0.milliseconds) } ?? .null }
        let parameters: JSONValue = .array([
            .string(query.account), optional(query.nameContains), optional(query.statusEquals?.rawValue),
            time(query.creationTimeAfter), time(query.creationTimeBefore),
            time(query.lastModifiedTimeAfter), time(query.lastModifiedTimeBefore),
            .string(query.sortBy.rawValue), .bool(query.ascending),
        ])
        return "ListTrainingJobs|" + parameters.serialized()
    }

    /// One TrainingJobSummary, keys in ascending order.
    static func writeSummary(_ object: inout JSONObjectWriter, _ job: JobSummary) {
        object.member("CreationTime", writing: job.creationTime.writeWireValue)
        object.member("LastModifiedTime", writing: job.lastModifiedTime.writeWireValue)
        object.member("SecondaryStatus", .string(job.secondaryStatus.rawValue))
        if let end = job.trainingEndTime { object.member("TrainingEndTime", writing: end.writeWireValue) }
        object.member("TrainingJobArn", .string(job.arn))
        object.member("TrainingJobName", .string(job.name))
        object.member("TrainingJobStatus", .string(job.status.rawValue))
    }
}
