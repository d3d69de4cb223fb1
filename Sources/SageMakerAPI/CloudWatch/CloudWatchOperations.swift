import Foundation
import JobStore
import TrainingCore

/// The CloudWatch metric operations a training job's metrics are read with: what the SageMaker
/// SDK's `TrainingJobAnalytics` calls (`get_metric_statistics`, SDK2 `analytics.py`), `aws
/// cloudwatch` and the dashboard. Served on the SageMaker port in the protocol botocore 1.43
/// picks from the model's `protocols` (`["smithy-rpc-v2-cbor", "json", "query"]`, first that
/// botocore's `PRIORITY_ORDERED_SUPPORTED_PROTOCOLS` ranks: `json`): AWS JSON 1.0, `POST /` with
/// `X-Amz-Target: GraniteServiceVersion20100801.<Op>`, epoch-second timestamps, signed for the
/// service `monitoring` (botocore cloudwatch 2010-08-01 `metadata`).
///
/// The metrics: namespace `/aws/sagemaker/TrainingJobs`, one metric per MetricDefinitions name
/// with the single dimension `TrainingJobName` (DG-metrics, "Monitoring Training Job Metrics
/// (CloudWatch Console)": "choose /aws/sagemaker/TrainingJobs. Choose TrainingJobName"). The
/// `Host` dimension (`<job>/algo-<n>`) belongs to the instance metrics (CPUUtilization, …;
/// monitoring-cloudwatch "Dimensions for job metrics"), which Trainyard does not emit.
/// Everything is scoped to the caller's account.
struct CloudWatchOperations: Sendable {
    static let targetPrefix = "GraniteServiceVersion20100801."
    static let names: Set<String> = ["ListMetrics", "GetMetricStatistics", "GetMetricData"]
    static let namespace = LogStore.trainingJobsLogGroup
    static let jobDimension = "TrainingJobName"
    /// "Up to 500 results are returned for any one call" (ListMetrics).
    static let listPageSize = 500
    /// "as many as 500 different metrics in a single request, with a total of as many as 100,800
    /// data points" (GetMetricData); MaxDatapoints defaults to the latter.
    static let maximumQueries = 500
    static let defaultMaxDatapoints = 100_800

    let store: JobStore
    let tokens: PaginationTokens
    let points: TrainingJobMetricPoints
    let now: @Sendable () -> Timestamp

    init(store: JobStore, tokens: PaginationTokens, now: @escaping @Sendable () -> Timestamp = { Timestamp(epochSeconds: Date().timeIntervalSince1970) }) {
        self.store = store
        self.tokens = tokens
        self.points = TrainingJobMetricPoints(store: store)
        self.now = now
    }

    /// The operation a target names when it is a CloudWatch target, nil for another service's.
    static func operationName(target: String) throws(AWSServiceError) -> String? {
        guard target.hasPrefix(targetPrefix) else { return nil }
        let name = String(target.dropFirst(targetPrefix.count))
        guard names.contains(name) else {
            throw AWSServiceError(
                code: "UnknownOperationException",
                message: "Operation \(name) is not supported by Trainyard; it serves the CloudWatch operations "
                    + names.sorted().joined(separator: ", ") + ".")
        }
        return name
    }

    func perform(_ name: String, input: JSONValue, context: RequestContext) throws -> OperationOutput {
        switch name {
        case "ListMetrics": return .value(try listMetrics(input, context))
        case "GetMetricStatistics": return .value(try getMetricStatistics(input, context))
        case "GetMetricData": return .value(try getMetricData(input, context))
        default: throw AWSServiceError.unknownOperation("Operation \(name) is not supported by Trainyard.")
        }
    }

    // MARK: ListMetrics

    private struct ListCursor: Codable {
        var job: String
        var metric: String
    }

    /// ListMetrics over the account's training-job metrics, ordered by job name then metric name.
    /// A metric is listed once it has a data point, and only while its newest point is recent:
    /// "ListMetrics doesn't return information about metrics if those metrics haven't reported
    /// data in the past two weeks"; `RecentlyActive: PT3H` narrows that to three hours.
    func listMetrics(_ input: JSONValue, _ context: RequestContext) throws -> JSONValue {
        let namespace = try Self.string(input, "Namespace", min: 1, max: 255)
        let metricName = try Self.string(input, "MetricName", min: 1, max: 255)
        let filters = try Self.dimensionFilters(input["Dimensions"])
        let window: Int64
        switch input["RecentlyActive"] {
        case nil, .null?: window = 14 * 86_400_000
        case .string("PT3H")?: window = 3 * 3_600_000
        default: throw AWSServiceError.invalidParameterValue("The parameter RecentlyActive must be PT3H.")
        }
        let scope = JSONValue.array([
            .string("ListMetrics"), .string(context.account), input["Namespace"] ?? .null, input["MetricName"] ?? .null,
            input["Dimensions"] ?? .null, input["RecentlyActive"] ?? .null,
        ]).serialized()
        var cursor: ListCursor?
        if let token = input["NextToken"]?.stringValue {
            do { cursor = try tokens.open(token, as: ListCursor.self, scope: scope) } catch { throw AWSServiceError.invalidCloudWatchNextToken }
        }
        var metrics: [JSONValue] = []
        var last: ListCursor?
        var more = false
        let empty: JSONValue = .object(["Metrics": .array([])])
        if let namespace, namespace != Self.namespace { return empty }
        // Only TrainingJobName can match; a filter on another dimension matches nothing.
        guard filters.allSatisfy({ $0.name == Self.jobDimension }) else { return empty }
        let jobFilter = Set(filters.compactMap(\.value))
        guard jobFilter.count <= 1 else { return empty }
        let since = now().milliseconds - window

        func visit(_ job: TrainingJob) throws -> Bool {
            for (name, newest) in try latestPoints(of: job).sorted(by: { $0.key < $1.key }) {
                if let metricName, name != metricName { continue }
                guard newest.milliseconds >= since else { continue }
                if let cursor, job.name == cursor.job, name <= cursor.metric { continue }
                if metrics.count == Self.listPageSize {
                    more = true
                    return false
                }
                metrics.append(Self.metric(name, job: job.name))
                last = ListCursor(job: job.name, metric: name)
            }
            return true
        }

        if let name = jobFilter.first {
            if let job = try store.job(account: context.account, name: name), cursor.map({ job.name >= $0.job }) ?? true {
                _ = try visit(job)
            }
        } else {
            if let cursor, let job = try store.job(account: context.account, name: cursor.job), try !visit(job) {
                // The cursor's own job may have metrics left after the cursor's metric.
                return Self.listOutput(metrics, more: true, last: last, tokens: tokens, scope: scope)
            }
            var after = cursor?.job
            scan: while true {
                let page = try store.jobsWithMetrics(
                    account: context.account, modifiedAfter: Timestamp(milliseconds: since - 1), afterName: after, limit: 100)
                for job in page {
                    if try !visit(job) { break scan }
                }
                guard page.count == 100, let lastJob = page.last else { break }
                after = lastJob.name
            }
        }
        return Self.listOutput(metrics, more: more, last: last, tokens: tokens, scope: scope)
    }

    private static func listOutput(_ metrics: [JSONValue], more: Bool, last: ListCursor?, tokens: PaginationTokens, scope: String) -> JSONValue {
        var output: [String: JSONValue] = ["Metrics": .array(metrics)]
        if more, let last { output["NextToken"] = .string(tokens.seal(last, scope: scope)) }
        return .object(output)
    }

    /// The newest point of each metric of `job` that has one: a finished job's
    /// `FinalMetricDataList` (the last match of each metric), a running job's scanned lines.
    func latestPoints(of job: TrainingJob) throws -> [String: Timestamp] {
        guard !job.spec.metricDefinitions.isEmpty else { return [:] }
        if job.status != .inProgress && job.status != .stopping && !job.finalMetrics.isEmpty {
            return Dictionary(job.finalMetrics.map { ($0.name, $0.timestamp) }, uniquingKeysWith: { a, b in max(a, b) })
        }
        return try points.points(of: job).compactMapValues { $0.last?.timestamp }
    }

    static func metric(_ name: String, job: String) -> JSONValue {
        .object([
            "Namespace": .string(namespace), "MetricName": .string(name),
            "Dimensions": .array([.object(["Name": .string(jobDimension), "Value": .string(job)])]),
        ])
    }

    // MARK: GetMetricStatistics

    /// GetMetricStatistics: the statistics of each period of `[StartTime, EndTime)` that has data,
    /// oldest first (CloudWatch says only "Data points are not returned in chronological order").
    func getMetricStatistics(_ input: JSONValue, _ context: RequestContext) throws -> JSONValue {
        guard let namespace = try Self.string(input, "Namespace", min: 1, max: 255) else { throw AWSServiceError.missingParameter("Namespace") }
        guard let metricName = try Self.string(input, "MetricName", min: 1, max: 255) else { throw AWSServiceError.missingParameter("MetricName") }
        let (start, end) = try Self.timeRange(input)
        let period = try Self.period(input["Period"], name: "Period")
        let statisticNames = try Self.stringList(input["Statistics"], name: "Statistics", max: 5)
        let extendedNames = try Self.stringList(input["ExtendedStatistics"], name: "ExtendedStatistics", max: 10)
        switch (statisticNames.isEmpty, extendedNames.isEmpty) {
        case (true, true):
            throw AWSServiceError.missingParameter("Statistics or ExtendedStatistics")
        case (false, false):
            throw AWSServiceError.invalidParameterCombination("The parameters Statistics and ExtendedStatistics are mutually exclusive.")
        default: break
        }
        let statistics = try statisticNames.map { name -> (String, MetricStatistic) in
            guard let statistic = MetricStatistic(name), !(statistic.isPercentile) else {
                throw AWSServiceError.invalidParameterValue(
                    "The parameter Statistics must be one of SampleCount, Average, Sum, Minimum, Maximum; got \(name).")
            }
            return (name, statistic)
        }
        let extended = try extendedNames.map { name -> (String, MetricStatistic) in
            guard let statistic = MetricStatistic(name), statistic.isPercentile else {
                throw AWSServiceError.invalidParameterValue("The parameter ExtendedStatistics must hold percentiles such as p90; got \(name).")
            }
            return (name, statistic)
        }
        let dimensions = try Self.dimensions(input["Dimensions"])
        let unit = try Self.unit(input["Unit"])
        let alignedStart = MetricAggregation.alignedStart(start, period: period, now: now())
        let requested = MetricAggregation.periodCount(from: alignedStart, to: end, period: period)
        if requested > Int64(MetricAggregation.maximumStatisticsDatapoints) {
            throw AWSServiceError.invalidParameterCombination(
                "You have requested up to \(requested) datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.")
        }
        let series = unit == nil || unit == "None"
            ? try self.series(namespace: namespace, metricName: metricName, dimensions: dimensions, context) : []
        let datapoints = MetricAggregation.buckets(series, from: alignedStart, to: end, period: period).map { bucket -> JSONValue in
            var point: [String: JSONValue] = ["Timestamp": bucket.start.wireValue, "Unit": .string("None")]
            for (name, statistic) in statistics { point[name] = .double(statistic.value(of: bucket.values)) }
            if !extended.isEmpty {
                point["ExtendedStatistics"] = .object(Dictionary(uniqueKeysWithValues: extended.map { ($0.0, JSONValue.double($0.1.value(of: bucket.values))) }))
            }
            return .object(point)
        }
        return .object(["Label": .string(metricName), "Datapoints": .array(datapoints)])
    }

    /// The points of the metric a request names: this namespace, a MetricDefinitions name and
    /// exactly the dimension `TrainingJobName` (a metric is its namespace, name and full dimension
    /// set, so anything else names a metric without data). Empty when nothing matches.
    func series(namespace: String, metricName: String, dimensions: [(name: String, value: String)], _ context: RequestContext) throws -> [MetricPoint] {
        guard namespace == Self.namespace, dimensions.count == 1, dimensions[0].name == Self.jobDimension,
            let job = try store.job(account: context.account, name: dimensions[0].value),
            job.spec.metricDefinitions.contains(where: { $0.name == metricName })
        else { return [] }
        return try points.points(of: job)[metricName] ?? []
    }

    // MARK: GetMetricData

    private struct DataCursor: Codable {
        var offset: Int
    }

    /// GetMetricData for MetricStat queries (metric math and Metrics Insights are refused): per
    /// query, the statistic of each period with data, newest first unless `ScanBy:
    /// TimestampAscending`; at most MaxDatapoints per call, the rest behind NextToken.
    func getMetricData(_ input: JSONValue, _ context: RequestContext) throws -> JSONValue {
        guard let queries = input["MetricDataQueries"] else { throw AWSServiceError.missingParameter("MetricDataQueries") }
        guard let queryList = queries.arrayValue else {
            throw AWSServiceError.invalidParameterValue("The parameter MetricDataQueries must be a list.")
        }
        guard !queryList.isEmpty, queryList.count <= Self.maximumQueries else {
            throw AWSServiceError.invalidParameterValue("The parameter MetricDataQueries must hold between 1 and 500 queries.")
        }
        let (start, end) = try Self.timeRange(input)
        let ascending: Bool
        switch input["ScanBy"] {
        case nil, .null?, .string("TimestampDescending")?: ascending = false
        case .string("TimestampAscending")?: ascending = true
        default: throw AWSServiceError.invalidParameterValue("The parameter ScanBy must be TimestampDescending or TimestampAscending.")
        }
        var maxDatapoints = Self.defaultMaxDatapoints
        if let value = input["MaxDatapoints"], !value.isNull {
            guard let number = value.int64Value, number > 0 else {
                throw AWSServiceError.invalidParameterValue("The parameter MaxDatapoints must be a positive integer.")
            }
            maxDatapoints = Int(min(number, Int64(Int32.max)))
        }
        let scope = JSONValue.array([
            .string("GetMetricData"), .string(context.account), queries, input["StartTime"] ?? .null, input["EndTime"] ?? .null,
            input["ScanBy"] ?? .null,
        ]).serialized()
        var offset = 0
        if let token = input["NextToken"]?.stringValue {
            do { offset = try tokens.open(token, as: DataCursor.self, scope: scope).offset } catch { throw AWSServiceError.invalidCloudWatchNextToken }
        }

        var ids = Set<String>()
        var computed: [(id: String, label: String, points: [(Timestamp, Double)])] = []
        for query in queryList {
            guard let id = query["Id"]?.stringValue else { throw AWSServiceError.missingParameter("MetricDataQueries.member.Id") }
            // "The first character must be a lowercase letter" (MetricDataQuery `Id`).
            guard let first = id.unicodeScalars.first, ("a"..."z").contains(first), id.count <= 255,
                id.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic && $0.isASCII || ("0"..."9").contains($0) || $0 == "_" })
            else {
                throw AWSServiceError.invalidParameterValue(
                    "The value \(id) for parameter MetricDataQueries.member.Id is not valid: it must start with a lowercase letter and hold only letters, digits and underscores.")
            }
            guard ids.insert(id).inserted else {
                throw AWSServiceError.invalidParameterValue("The value \(id) for parameter MetricDataQueries.member.Id is used more than once.")
            }
            if query["Expression"] != nil {
                throw AWSServiceError.invalidParameterValue(
                    "Trainyard does not evaluate metric math or Metrics Insights expressions; query \(id) must use MetricStat.")
            }
            guard let stat = query["MetricStat"] else {
                throw AWSServiceError.invalidParameterCombination("Query \(id) must specify either MetricStat or Expression.")
            }
            guard let metric = stat["Metric"] else { throw AWSServiceError.missingParameter("MetricDataQueries.member.MetricStat.Metric") }
            let period = try Self.period(stat["Period"], name: "MetricDataQueries.member.MetricStat.Period")
            guard let statName = stat["Stat"]?.stringValue else { throw AWSServiceError.missingParameter("MetricDataQueries.member.MetricStat.Stat") }
            guard let statistic = MetricStatistic(statName) else {
                throw AWSServiceError.invalidParameterValue("The value \(statName) for parameter MetricDataQueries.member.MetricStat.Stat is not supported.")
            }
            let unit = try Self.unit(stat["Unit"])
            guard let metricName = metric["MetricName"]?.stringValue else { throw AWSServiceError.missingParameter("MetricDataQueries.member.MetricStat.Metric.MetricName") }
            let namespace = metric["Namespace"]?.stringValue ?? ""
            let series = unit == nil || unit == "None"
                ? try self.series(namespace: namespace, metricName: metricName, dimensions: try Self.dimensions(metric["Dimensions"]), context) : []
            let alignedStart = MetricAggregation.alignedStart(start, period: period, now: now())
            var values = MetricAggregation.buckets(series, from: alignedStart, to: end, period: period).map { ($0.start, statistic.value(of: $0.values)) }
            if !ascending { values.reverse() }
            guard query["ReturnData"]?.boolValue != false else { continue }
            computed.append((id, query["Label"]?.stringValue ?? metricName, values))
        }

        var results: [JSONValue] = []
        var index = 0
        let pageEnd = offset + maxDatapoints
        for result in computed {
            let from = min(max(offset - index, 0), result.points.count)
            let to = min(max(pageEnd - index, 0), result.points.count)
            let page = result.points[from..<to]
            index += result.points.count
            results.append(.object([
                "Id": .string(result.id), "Label": .string(result.label),
                "Timestamps": .array(page.map { $0.0.wireValue }), "Values": .array(page.map { .double($0.1) }),
                "StatusCode": .string(to < result.points.count ? "PartialData" : "Complete"),
            ]))
        }
        var output: [String: JSONValue] = ["MetricDataResults": .array(results), "Messages": .array([])]
        if index > pageEnd { output["NextToken"] = .string(tokens.seal(DataCursor(offset: pageEnd), scope: scope)) }
        return .object(output)
    }

    // MARK: Input

    static func string(_ input: JSONValue, _ name: String, min: Int, max: Int) throws -> String? {
        guard let value = input[name], !value.isNull else { return nil }
        guard let text = value.stringValue, text.count >= min, text.count <= max else {
            throw AWSServiceError.invalidParameterValue("The parameter \(name) must be a string of \(min) to \(max) characters.")
        }
        return text
    }

    /// StartTime and EndTime, both required; "The value specified is inclusive" for the start and
    /// "exclusive" for the end (GetMetricStatistics).
    static func timeRange(_ input: JSONValue) throws -> (Timestamp, Timestamp) {
        guard let startValue = input["StartTime"], !startValue.isNull else { throw AWSServiceError.missingParameter("StartTime") }
        guard let endValue = input["EndTime"], !endValue.isNull else { throw AWSServiceError.missingParameter("EndTime") }
        guard let start = Timestamp(wire: startValue) else { throw AWSServiceError.invalidParameterValue("The parameter StartTime is not a valid timestamp.") }
        guard let end = Timestamp(wire: endValue) else { throw AWSServiceError.invalidParameterValue("The parameter EndTime is not a valid timestamp.") }
        guard start.milliseconds < end.milliseconds else {
            throw AWSServiceError.invalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
        }
        return (start, end)
    }

    static func period(_ value: JSONValue?, name: String) throws -> Int64 {
        guard let value, !value.isNull else { throw AWSServiceError.missingParameter(name) }
        guard let period = value.int64Value, MetricAggregation.isValidPeriod(period) else {
            throw AWSServiceError.invalidParameterValue("The parameter \(name) must be 1, 5, 10, 20, 30 or a multiple of 60.")
        }
        return period
    }

    static func stringList(_ value: JSONValue?, name: String, max: Int) throws -> [String] {
        guard let value, !value.isNull else { return [] }
        guard let list = value.arrayValue, list.count <= max else {
            throw AWSServiceError.invalidParameterValue("The parameter \(name) must be a list of at most \(max) strings.")
        }
        return try list.map { item -> String in
            guard let text = item.stringValue else { throw AWSServiceError.invalidParameterValue("The parameter \(name) must hold strings.") }
            return text
        }
    }

    /// A metric's dimensions (`Dimensions`, at most 30, each with Name and Value).
    static func dimensions(_ value: JSONValue?) throws -> [(name: String, value: String)] {
        guard let value, !value.isNull else { return [] }
        guard let list = value.arrayValue, list.count <= 30 else {
            throw AWSServiceError.invalidParameterValue("The parameter Dimensions must be a list of at most 30 dimensions.")
        }
        return try list.map { item -> (name: String, value: String) in
            guard let name = item["Name"]?.stringValue else { throw AWSServiceError.missingParameter("Dimensions.member.Name") }
            guard let value = item["Value"]?.stringValue else { throw AWSServiceError.missingParameter("Dimensions.member.Value") }
            return (name, value)
        }
    }

    /// ListMetrics' `Dimensions` filters (at most 10; Value optional).
    static func dimensionFilters(_ value: JSONValue?) throws -> [(name: String, value: String?)] {
        guard let value, !value.isNull else { return [] }
        guard let list = value.arrayValue, list.count <= 10 else {
            throw AWSServiceError.invalidParameterValue("The parameter Dimensions must be a list of at most 10 dimension filters.")
        }
        return try list.map { item -> (name: String, value: String?) in
            guard let name = item["Name"]?.stringValue else { throw AWSServiceError.missingParameter("Dimensions.member.Name") }
            return (name, item["Value"]?.stringValue)
        }
    }

    /// `Unit` (botocore cloudwatch `StandardUnit`). Trainyard's points carry no unit ("None"):
    /// "If you specify a unit that does not match the data collected, the results of the
    /// operation are null" (GetMetricData).
    static func unit(_ value: JSONValue?) throws -> String? {
        guard let value, !value.isNull else { return nil }
        guard let unit = value.stringValue, standardUnits.contains(unit) else {
            throw AWSServiceError.invalidParameterValue("The parameter Unit must be a StandardUnit such as None, Count or Seconds.")
        }
        return unit
    }

    static let standardUnits: Set<String> = [
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
        "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
        "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
        "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    ]
}

extension MetricStatistic {
    var isPercentile: Bool {
        if case .percentile = self { return true }
        return false
    }
}
