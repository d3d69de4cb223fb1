import EventHTTP
import Foundation
import JobStore
import Logging
import SageMakerAPI
import Testing
import TrainingCore

private let account = "123456789012"
private let otherAccount = "210987654321"
private let namespace = "/aws/sagemaker/TrainingJobs"

/// The CloudWatch metric operations through `SageMakerService.respond(to:)`, in-process, over
/// log lines seeded through the store as capture writes them.
private struct MetricsHarness {
    let store: JobStore
    let service: SageMakerService
    let otherService: SageMakerService
    /// Recent, so that ListMetrics' two-week window holds the points.
    let base: Int64 = (Int64(Date().timeIntervalSince1970) / 60 - 30) * 60_000

    init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-cw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try JobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        service = try SageMakerService(store: store, configuration: .init(account: account), logger: Logger(label: "test"))
        otherService = try SageMakerService(store: store, configuration: .init(account: otherAccount), logger: Logger(label: "test"))
    }

    func call(_ operation: String, _ body: JSONValue, asOther: Bool = false) async -> (status: Int, json: JSONValue, headers: HTTPHeaders) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
        headers.add(name: "X-Amz-Target", value: "GraniteServiceVersion20100801.\(operation)")
        headers.add(name: "x-amzn-query-mode", value: "true")
        let request = HTTPRequest(method: "POST", path: "/", headers: headers, body: Array(body.serialized().utf8))
        let response = await (asOther ? otherService : service).respond(to: request)
        return (response.status, (try? JSONValue.parse(response.body)) ?? .null, response.headers)
    }

    /// A job with `loss` and `acc` definitions whose stream holds `lines`, at the given second offsets.
    func seed(job name: String, lines: [(second: Int64, text: String)]) throws {
        let spec = TrainingJobSpec(
            trainingImage: "img", hyperParameters: [:], outputPath: "s3://b/o",
            metricDefinitions: [.init(name: "loss", regex: "loss=([0-9.]+)"), .init(name: "acc", regex: "acc: (\\S+)")])
        let job = try store.create(
            TrainingJob.created(
                account: account, name: name, arn: "arn:aws:sagemaker:us-east-1:\(account):training-job/\(name)",
                spec: spec, requestEcho: "{}", now: Timestamp(milliseconds: base)))
        let stream = try store.logs.openLogStream(for: job, host: "algo-1", createdAt: Timestamp(milliseconds: base))
        try store.logs.appendLogEvents(
            streamID: stream.id,
            lines.map { LogEventInput(timestampNanoseconds: (base + $0.second * 1000) * 1_000_000, message: $0.text) })
    }

    func statistics(_ job: String, metric: String = "loss", period: Int = 60, extra: [String: JSONValue] = [:]) -> JSONValue {
        var body: [String: JSONValue] = [
            "Namespace": .string(namespace), "MetricName": .string(metric),
            "Dimensions": [["Name": "TrainingJobName", "Value": .string(job)]],
            "StartTime": .int(base / 1000), "EndTime": .int(base / 1000 + 600), "Period": .int(Int64(period)),
            "Statistics": ["Average", "Maximum", "SampleCount"],
        ]
        for (key, value) in extra { body[key] = value }
        return .object(body)
    }
}

struct CloudWatchServiceTests {
    @Test("GetMetricStatistics: one datapoint per period with data, over the matching lines only")
    func statistics() async throws {
        let harness = try MetricsHarness()
        try harness.seed(job: "job-a", lines: [
            (1, "epoch 1 loss=0.9 acc: 0.5"), (2, "noise"), (30, "epoch 2 loss=0.7"), (70, "epoch 3 loss=0.4 acc: 0.8"),
        ])
        let result = await harness.call("GetMetricStatistics", harness.statistics("job-a"))
        #expect(result.status == 200, "\(result.json)")
        #expect(result.headers["Content-Type"] == "application/x-amz-json-1.0")
        #expect(result.json["Label"] == "loss")
        let points = result.json["Datapoints"]?.arrayValue ?? []
        #expect(points.count == 2)
        #expect(points.first?["Timestamp"]?.int64Value == harness.base / 1000)
        #expect(points.first?["SampleCount"] == .double(2))
        #expect(abs((points.first?["Average"]?.doubleValue ?? 0) - 0.8) < 1e-9)
        #expect(points.first?["Maximum"] == .double(0.9))
        #expect(points.first?["Unit"] == "None")
        #expect(points.last?["Timestamp"]?.int64Value == harness.base / 1000 + 60)
        // One-second periods: a point per line.
        let fine = await harness.call("GetMetricStatistics", harness.statistics("job-a", period: 1))
        #expect(fine.json["Datapoints"]?.arrayValue?.count == 3)
        // Another metric, a percentile, a unit the points do not have, another account.
        let acc = await harness.call("GetMetricStatistics", harness.statistics("job-a", metric: "acc", period: 300))
        #expect(acc.json["Datapoints"]?.arrayValue?.first?["SampleCount"] == .double(2))
        let p90 = await harness.call(
            "GetMetricStatistics", harness.statistics("job-a", period: 300, extra: ["Statistics": .null, "ExtendedStatistics": ["p90"]]))
        #expect(p90.json["Datapoints"]?.arrayValue?.first?["ExtendedStatistics"]?["p90"] == .double(0.9))
        let seconds = await harness.call("GetMetricStatistics", harness.statistics("job-a", extra: ["Unit": "Seconds"]))
        #expect(seconds.json["Datapoints"] == [])
        let other = await harness.call("GetMetricStatistics", harness.statistics("job-a"), asOther: true)
        #expect(other.json["Datapoints"] == [])
    }

    @Test("New lines of a running job reach the next query")
    func incremental() async throws {
        let harness = try MetricsHarness()
        try harness.seed(job: "job-a", lines: [(1, "loss=1")])
        #expect(await harness.call("GetMetricStatistics", harness.statistics("job-a", period: 1)).json["Datapoints"]?.arrayValue?.count == 1)
        let job = try #require(try harness.store.job(account: account, name: "job-a"))
        let stream = try harness.store.logs.openLogStream(for: job, host: "algo-1", createdAt: Timestamp(milliseconds: harness.base))
        // Same millisecond as the line already scanned, and later ones.
        try harness.store.logs.appendLogEvents(streamID: stream.id, [
            LogEventInput(timestampNanoseconds: (harness.base + 1000) * 1_000_000 + 1, message: "loss=2"),
            LogEventInput(timestampNanoseconds: (harness.base + 5000) * 1_000_000, message: "loss=3"),
        ])
        let points = await harness.call("GetMetricStatistics", harness.statistics("job-a", period: 1)).json["Datapoints"]?.arrayValue ?? []
        #expect(points.map { $0["SampleCount"] } == [.double(2), .double(1)])
    }

    @Test("GetMetricStatistics errors as CloudWatch reports them, with the query error code")
    func statisticsErrors() async throws {
        let harness = try MetricsHarness()
        let missing = await harness.call("GetMetricStatistics", ["Namespace": .string(namespace), "MetricName": "loss"])
        #expect(missing.status == 400)
        #expect(missing.json["__type"] == "com.amazonaws.cloudwatch#MissingRequiredParameterException")
        #expect(missing.headers["x-amzn-query-error"] == "MissingParameter;Sender")
        let period = await harness.call("GetMetricStatistics", harness.statistics("j", period: 7))
        #expect(period.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender")
        let tooMany = await harness.call(
            "GetMetricStatistics", harness.statistics("j", period: 1, extra: ["EndTime": .int(harness.base / 1000 + 1441)]))
        #expect(tooMany.headers["x-amzn-query-error"] == "InvalidParameterCombination;Sender")
        #expect(tooMany.json["message"]?.stringValue?.contains("exceeds the limit of 1,440") == true)
        let reversed = await harness.call(
            "GetMetricStatistics", harness.statistics("j", extra: ["EndTime": .int(harness.base / 1000 - 1)]))
        #expect(reversed.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender")
        let both = await harness.call("GetMetricStatistics", harness.statistics("j", extra: ["ExtendedStatistics": ["p50"]]))
        #expect(both.headers["x-amzn-query-error"] == "InvalidParameterCombination;Sender")
    }

    @Test("GetMetricData: newest first by default, ascending on request, paged by MaxDatapoints")
    func metricData() async throws {
        let harness = try MetricsHarness()
        try harness.seed(job: "job-a", lines: (0..<5).map { (Int64($0), "loss=\($0)") })
        func query(_ extra: [String: JSONValue]) -> JSONValue {
            var body: [String: JSONValue] = [
                "MetricDataQueries": [[
                    "Id": "m1",
                    "MetricStat": [
                        "Metric": ["Namespace": .string(namespace), "MetricName": "loss", "Dimensions": [["Name": "TrainingJobName", "Value": "job-a"]]],
                        "Period": 1, "Stat": "Maximum",
                    ],
                ]],
                "StartTime": .int(harness.base / 1000), "EndTime": .int(harness.base / 1000 + 60),
            ]
            for (key, value) in extra { body[key] = value }
            return .object(body)
        }
        let newest = await harness.call("GetMetricData", query([:]))
        #expect(newest.status == 200, "\(newest.json)")
        let result = newest.json["MetricDataResults"]?.arrayValue?.first
        #expect(result?["Values"] == [4.0, 3.0, 2.0, 1.0, 0.0])
        #expect(result?["Label"] == "loss")
        #expect(result?["StatusCode"] == "Complete")
        let ascending = await harness.call("GetMetricData", query(["ScanBy": "TimestampAscending", "MaxDatapoints": 3]))
        #expect(ascending.json["MetricDataResults"]?.arrayValue?.first?["Values"] == [0.0, 1.0, 2.0])
        #expect(ascending.json["MetricDataResults"]?.arrayValue?.first?["StatusCode"] == "PartialData")
        let token = try #require(ascending.json["NextToken"])
        let rest = await harness.call("GetMetricData", query(["ScanBy": "TimestampAscending", "MaxDatapoints": 3, "NextToken": token]))
        #expect(rest.json["MetricDataResults"]?.arrayValue?.first?["Values"] == [3.0, 4.0])
        #expect(rest.json["NextToken"] == nil)
        let expression = await harness.call("GetMetricData", ["MetricDataQueries": [["Id": "e1", "Expression": "m1*2"]], "StartTime": 1, "EndTime": 2])
        #expect(expression.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender")
    }

    @Test("ListMetrics: a metric per definition that matched, by job, per account, filtered")
    func listMetrics() async throws {
        let harness = try MetricsHarness()
        try harness.seed(job: "job-a", lines: [(1, "loss=1 acc: 0.5")])
        try harness.seed(job: "job-b", lines: [(1, "loss=2")])
        try harness.seed(job: "job-c", lines: [(1, "nothing")])
        let all = await harness.call("ListMetrics", [:])
        #expect(all.status == 200, "\(all.json)")
        let listed = (all.json["Metrics"]?.arrayValue ?? []).map {
            "\($0["Dimensions"]?.arrayValue?.first?["Value"]?.stringValue ?? "")/\($0["MetricName"]?.stringValue ?? "")"
        }
        #expect(listed == ["job-a/acc", "job-a/loss", "job-b/loss"])
        #expect(all.json["Metrics"]?.arrayValue?.first?["Namespace"] == .string(namespace))
        let loss = await harness.call("ListMetrics", ["MetricName": "loss"])
        #expect(loss.json["Metrics"]?.arrayValue?.count == 2)
        let jobB = await harness.call("ListMetrics", ["Dimensions": [["Name": "TrainingJobName", "Value": "job-b"]]])
        #expect(jobB.json["Metrics"]?.arrayValue?.count == 1)
        #expect(await harness.call("ListMetrics", ["Namespace": "AWS/EC2"]).json["Metrics"] == [])
        #expect(await harness.call("ListMetrics", ["Dimensions": [["Name": "Host"]]]).json["Metrics"] == [])
        #expect(await harness.call("ListMetrics", [:], asOther: true).json["Metrics"] == [])
    }

    @Test("Period alignment and percentiles")
    func aggregation() {
        let now = Timestamp(milliseconds: 1_800_000_000_000)
        // Recent: down to the minute; 5-second periods: down to a 5-second division.
        #expect(MetricAggregation.alignedStart(Timestamp(milliseconds: now.milliseconds - 94_500), period: 60, now: now).milliseconds % 60_000 == 0)
        #expect(MetricAggregation.alignedStart(Timestamp(milliseconds: 1_799_999_997_000), period: 5, now: now).milliseconds == 1_799_999_995_000)
        // Older than 15 days: 5-minute clock intervals.
        let old = Timestamp(milliseconds: now.milliseconds - 20 * 86_400_000 + 123_000)
        #expect(MetricAggregation.alignedStart(old, period: 60, now: now).milliseconds % 300_000 == 0)
        #expect(MetricAggregation.isValidPeriod(20) && MetricAggregation.isValidPeriod(120) && !MetricAggregation.isValidPeriod(90))
        #expect(MetricStatistic("p50")?.value(of: [1, 2, 3, 4]) == 2)
        #expect(MetricStatistic("p100")?.value(of: [3, 1, 2]) == 3)
        #expect(MetricStatistic("Average")?.value(of: [1, 2]) == 1.5)
        #expect(MetricStatistic("p101") == nil && MetricStatistic("Median") == nil)
    }
}
