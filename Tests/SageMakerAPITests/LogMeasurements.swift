import EventHTTP
import Foundation
import JobStore
import Logging
import SageMakerAPI
import Testing
import TrainingCore

/// Container-log storage and API timings, printed rather than asserted (machines differ). Opt-in,
/// in a release build:
///   TRAINYARD_LOGS_BENCH=1 swift test -c release --filter LogMeasurements
/// Optional: TRAINYARD_LOGS_BENCH_EVENTS (default 1000000) events in the measured stream.
@Suite("LogMeasurements", .serialized, .enabled(if: ProcessInfo.processInfo.environment["TRAINYARD_LOGS_BENCH"] == "1"))
struct LogMeasurements {
    static let group = LogStore.trainingJobsLogGroup
    static let eventCount = Int(ProcessInfo.processInfo.environment["TRAINYARD_LOGS_BENCH_EVENTS"] ?? "") ?? 1_000_000
    static let batchSize = 500
    static let startNanoseconds: Int64 = 1_712_345_678_000_000_000

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
    }

    static func report(_ name: String, _ samples: [Duration]) {
        let ms = samples.map(milliseconds).sorted()
        func percentile(_ p: Double) -> Double { ms[min(ms.count - 1, Int((Double(ms.count - 1) * p).rounded()))] }
        print(
            String(
                format: "MEASURE %@: n=%d p50=%.3f ms min=%.3f ms p90=%.3f ms max=%.3f ms", name, ms.count, percentile(0.5),
                ms.first ?? 0, percentile(0.9), ms.last ?? 0))
    }

    /// A training-log-like line of about 90 bytes.
    static func line(_ index: Int) -> String {
        "[1,\(index % 8)]<stdout>: epoch \(index / 10_000) step \(index) loss=0.\(100_000 + index % 899_999) lr=0.0003 throughput=412.7 samples/s"
    }

    @Test("append 500-event batches, then GetLogEvents and FilterLogEvents with the stream full")
    func appendAndRead() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-logs-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try JobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        let job = try store.create(
            TrainingJob.created(
                account: "123456789012", name: "bench", arn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/bench",
                spec: TrainingJobSpec(trainingImage: "img", hyperParameters: [:], outputPath: "s3://b/o"), requestEcho: "{}",
                now: Timestamp(milliseconds: Self.startNanoseconds / 1_000_000)))
        let stream = try store.logs.openLogStream(for: job, host: "algo-1", createdAt: Timestamp(milliseconds: Self.startNanoseconds / 1_000_000))
        // A second host writing at the same time, so that the streams' rows interleave as they will.
        let other = try store.logs.openLogStream(for: job, host: "algo-2", createdAt: Timestamp(milliseconds: Self.startNanoseconds / 1_000_000))

        // Append: lines 0.25 ms apart (4 per millisecond), 500 per batch, one transaction each.
        var appendTime = Duration.zero
        var stored = 0
        var batchSamples: [Duration] = []
        for batchStart in stride(from: 0, to: Self.eventCount, by: Self.batchSize) {
            let batch = (batchStart..<min(batchStart + Self.batchSize, Self.eventCount)).map {
                LogEventInput(timestampNanoseconds: Self.startNanoseconds + Int64($0) * 250_000, message: Self.line($0))
            }
            let began = ContinuousClock.now
            stored += try store.logs.appendLogEvents(streamID: stream.id, batch)
            let took = ContinuousClock.now - began
            appendTime += took
            batchSamples.append(took)
            if batchStart % 20_000 == 0 {
                try store.logs.appendLogEvents(streamID: other.id, Array(batch.prefix(50)))
            }
        }
        #expect(stored == Self.eventCount)
        print(
            String(
                format: "MEASURE append: %d events in batches of %d: %.2f s, %.0f events/s, %.1f MB on disk", stored, Self.batchSize,
                Self.milliseconds(appendTime) / 1000, Double(stored) / (Self.milliseconds(appendTime) / 1000),
                Double(try store.sizeInBytes()) / 1e6))
        Self.report("append one batch of 500", batchSamples)

        // A resumed capture: the last 500 lines again (every one a duplicate to look up and skip).
        let last = try #require(try store.logs.logStream(id: stream.id)?.lastSourceTimestampNanoseconds)
        let replay = (Self.eventCount - Self.batchSize..<Self.eventCount).map {
            LogEventInput(timestampNanoseconds: Self.startNanoseconds + Int64($0) * 250_000, message: Self.line($0))
        }
        #expect(replay.last?.timestampNanoseconds == last)
        var replaySamples: [Duration] = []
        for _ in 0..<20 {
            let began = ContinuousClock.now
            #expect(try store.logs.appendLogEvents(streamID: stream.id, replay) == 0)
            replaySamples.append(ContinuousClock.now - began)
        }
        Self.report("re-append 500 already-stored lines (all skipped)", replaySamples)

        // The API, in-process (everything but the socket).
        let service = try SageMakerService(store: store, configuration: .init(), logger: Logger(label: "bench"))
        func call(_ operation: String, _ body: JSONValue) async -> (Duration, JSONValue) {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/x-amz-json-1.1")
            headers.add(name: "X-Amz-Target", value: "Logs_20140328.\(operation)")
            let request = HTTPRequest(method: "POST", path: "/", headers: headers, body: Array(body.serialized().utf8))
            let began = ContinuousClock.now
            let response = await service.respond(to: request)
            let took = ContinuousClock.now - began
            return (took, (try? JSONValue.parse(response.body)) ?? .null)
        }
        func measure(_ name: String, runs: Int = 50, _ body: () -> JSONValue, check: (JSONValue) -> Bool) async {
            var samples: [Duration] = []
            let operation = String(name.prefix { $0.isLetter })
            for _ in 0..<runs {
                let (took, json) = await call(operation, body())
                #expect(check(json), "\(name): \(String(json.serialized().prefix(300)))")
                samples.append(took)
            }
            Self.report(name, samples)
        }
        let base: [String: JSONValue] = ["logGroupName": .string(Self.group), "logStreamName": .string(stream.name)]
        let middle = Self.startNanoseconds / 1_000_000 + Int64(Self.eventCount / 8)  // half-way, in ms
        func count(_ json: JSONValue) -> Int { json["events"]?.arrayValue?.count ?? -1 }

        await measure("GetLogEvents head, limit 100", { .object(base.merging(["startFromHead": true, "limit": 100]) { $1 }) }) {
            count($0) == 100
        }
        await measure("GetLogEvents startTime mid-stream, limit 100", {
            .object(base.merging(["startFromHead": true, "limit": 100, "startTime": .int(middle)]) { $1 })
        }) { count($0) == 100 }
        let (_, firstPage) = await call("GetLogEvents", .object(base.merging(["startFromHead": true, "limit": 100, "startTime": .int(middle)]) { $1 }))
        let token = try #require(firstPage["nextForwardToken"])
        await measure("GetLogEvents nextForwardToken mid-stream, limit 100", {
            .object(base.merging(["startFromHead": true, "limit": 100, "nextToken": token]) { $1 })
        }) { count($0) == 100 }
        await measure("GetLogEvents tail (default: newest events up to 10,000 / 1 MB)", runs: 20, { .object(base) }) {
            count($0) > 1000
        }
        await measure("GetLogEvents head, default limit (10,000 events / 1 MB page)", runs: 20, {
            .object(base.merging(["startFromHead": true]) { $1 })
        }) { count($0) > 1000 }
        let (_, tail) = await call("GetLogEvents", .object(base))
        let caughtUp = try #require(tail["nextForwardToken"])
        await measure("GetLogEvents caught up (same token back)", {
            .object(base.merging(["startFromHead": true, "nextToken": caughtUp]) { $1 })
        }) { $0["nextForwardToken"] == caughtUp && count($0) == 0 }

        await measure("DescribeLogStreams (SDK call)", {
            ["logGroupName": .string(Self.group), "logStreamNamePrefix": "bench/", "orderBy": "LogStreamName", "limit": 2]
        }) { $0["logStreams"]?.arrayValue?.count == 2 }
        await measure("FilterLogEvents, both streams, limit 100", {
            ["logGroupName": .string(Self.group), "limit": 100]
        }) { count($0) == 100 }
        await measure("FilterLogEvents term in 1 line of 8, limit 100", {
            ["logGroupName": .string(Self.group), "filterPattern": #""[1,3]<stdout>""#, "limit": 100]
        }) { count($0) == 100 }
        await measure("FilterLogEvents term matching nothing (one call: at most 100,000 events examined)", runs: 10, {
            ["logGroupName": .string(Self.group), "filterPattern": "NoSuchText"]
        }) { count($0) == 0 && ($0["nextToken"] != nil) == (Self.eventCount > 100_000) }
        var filterToken: JSONValue?
        var calls = 0
        let scanStart = ContinuousClock.now
        repeat {
            var body: [String: JSONValue] = ["logGroupName": .string(Self.group), "filterPattern": "NoSuchText"]
            if let filterToken { body["nextToken"] = filterToken }
            filterToken = await call("FilterLogEvents", .object(body)).1["nextToken"]
            calls += 1
        } while filterToken != nil
        print(
            String(
                format: "MEASURE FilterLogEvents term matching nothing, paged to the end: %d calls, %.0f ms in all", calls,
                Self.milliseconds(ContinuousClock.now - scanStart)))

        // Retention: delete the older half.
        let began = ContinuousClock.now
        let deleted = try store.logs.deleteLogEvents(olderThan: Timestamp(milliseconds: middle))
        let took = ContinuousClock.now - began
        print(String(format: "MEASURE retention: deleted %d events in %.2f s", deleted, Self.milliseconds(took) / 1000))
    }
}
