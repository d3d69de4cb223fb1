import EventHTTP
import Foundation
import JobStore
import Logging
import SageMakerAPI
import Testing
import TrainingCore

private let account = "123456789012"
private let otherAccount = "210987654321"
private let group = "/aws/sagemaker/TrainingJobs"
private let base: Int64 = 1_712_345_678_000  // ms

/// The CloudWatch Logs operations through `SageMakerService.respond(to:)`, in-process. Events are
/// seeded through the store, as capture will write them.
private struct LogsHarness {
    let store: JobStore
    let service: SageMakerService
    /// The same store seen by another account.
    let otherService: SageMakerService

    init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-logs-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try JobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
        service = try SageMakerService(store: store, configuration: .init(account: account), logger: Logger(label: "test"))
        otherService = try SageMakerService(store: store, configuration: .init(account: otherAccount), logger: Logger(label: "test"))
    }

    @discardableResult
    func call(_ operation: String, _ body: JSONValue, pathForm: Bool = false, asOther: Bool = false) async -> (status: Int, json: JSONValue) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.1")
        if !pathForm { headers.add(name: "X-Amz-Target", value: "Logs_20140328.\(operation)") }
        let request = HTTPRequest(
            method: "POST", path: pathForm ? "/Logs_20140328.\(operation)" : "/", headers: headers,
            body: Array(body.serialized().utf8))
        let response = await (asOther ? otherService : service).respond(to: request)
        return (response.status, (try? JSONValue.parse(response.body)) ?? .null)
    }

    /// A stored job with a stream on `host` holding `messages`, one per millisecond from `start`.
    @discardableResult
    func seed(job name: String, host: String = "algo-1", account: String = account, messages: [String], start: Int64 = base)
        throws -> LogStreamRecord
    {
        let job =
            try store.job(account: account, name: name)
            ?? store.create(
                TrainingJob.created(
                    account: account, name: name, arn: "arn:aws:sagemaker:us-east-1:\(account):training-job/\(name)",
                    spec: TrainingJobSpec(trainingImage: "img", hyperParameters: [:], outputPath: "s3://b/o"),
                    requestEcho: "{}", now: Timestamp(milliseconds: base)))
        let stream = try store.logs.openLogStream(for: job, host: host, createdAt: Timestamp(milliseconds: base))
        try append(stream, messages, start: start)
        return stream
    }

    func append(_ stream: LogStreamRecord, _ messages: [String], start: Int64) throws {
        let events = messages.enumerated().map { offset, message in
            LogEventInput(timestampNanoseconds: (start + Int64(offset)) * 1_000_000, message: message)
        }
        try store.logs.appendLogEvents(streamID: stream.id, events, ingestedAt: Timestamp(milliseconds: base + 60_000))
    }
}

private func messages(_ json: JSONValue) -> [String] {
    (json["events"]?.arrayValue ?? []).compactMap { $0["message"]?.stringValue }
}

private func expectError(_ result: (status: Int, json: JSONValue), _ code: String, _ message: String? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == 400, sourceLocation: sourceLocation)
    #expect(result.json["__type"]?.stringValue == code, "\(result.json)", sourceLocation: sourceLocation)
    if let message {
        #expect(result.json["message"]?.stringValue == message, sourceLocation: sourceLocation)
    }
}

struct CloudWatchLogsServiceTests {
    @Test("DescribeLogGroups: the group appears with the account's first stream; prefix, pattern and their exclusion")
    func describeLogGroups() async throws {
        let harness = try LogsHarness()
        #expect(await harness.call("DescribeLogGroups", [:]).json == ["logGroups": []])
        try harness.seed(job: "job-a", messages: ["12345"])
        let all = await harness.call("DescribeLogGroups", [:])
        #expect(all.status == 200)
        #expect(all.json["nextToken"] == nil)
        #expect(all.json["logGroups"] == [[
            "logGroupName": .string(group), "creationTime": .int(base), "metricFilterCount": 0, "storedBytes": 5,
            "arn": .string("arn:aws:logs:us-east-1:\(account):log-group:\(group):*"),
            "logGroupArn": .string("arn:aws:logs:us-east-1:\(account):log-group:\(group)"), "logGroupClass": "STANDARD",
        ]])
        #expect(await harness.call("DescribeLogGroups", ["logGroupNamePrefix": "/aws/sagemaker/"]).json["logGroups"]?.arrayValue?.count == 1)
        #expect(await harness.call("DescribeLogGroups", ["logGroupNamePrefix": "/aws/lambda/"]).json["logGroups"] == [])
        let pattern = await harness.call("DescribeLogGroups", ["logGroupNamePattern": "Training"])
        #expect(pattern.json["logGroups"]?.arrayValue?.first?["storedBytes"] == nil)
        #expect(pattern.json["logGroups"]?.arrayValue?.first?["logGroupName"]?.stringValue == group)
        expectError(await harness.call("DescribeLogGroups", ["logGroupNamePrefix": "/a", "logGroupNamePattern": "b"]), "InvalidParameterException")
        #expect(await harness.call("DescribeLogGroups", [:], asOther: true).json == ["logGroups": []])
    }

    @Test("DescribeLogStreams as the SageMaker SDK calls it, and nextToken only while more streams exist")
    func describeLogStreams() async throws {
        let harness = try LogsHarness()
        try harness.seed(job: "job-a", messages: ["a"], start: base + 10)
        try harness.seed(job: "job-a", host: "algo-2", messages: [])
        try harness.seed(job: "job-b", messages: ["b"], start: base + 5)
        // SDK2 session.py:_flush_log_streams.
        let sdk = await harness.call(
            "DescribeLogStreams", ["logGroupName": .string(group), "logStreamNamePrefix": "job-a/", "orderBy": "LogStreamName", "limit": 2])
        #expect(sdk.status == 200)
        #expect(sdk.json["nextToken"] == nil)
        let streams = try #require(sdk.json["logStreams"]?.arrayValue)
        #expect(streams.compactMap { $0["logStreamName"]?.stringValue } == ["job-a/algo-1-1712345678", "job-a/algo-2-1712345678"])
        #expect(streams[0] == [
            "logStreamName": "job-a/algo-1-1712345678", "creationTime": .int(base), "firstEventTimestamp": .int(base + 10),
            "lastEventTimestamp": .int(base + 10), "lastIngestionTime": .int(base + 60_000), "storedBytes": 0,
            "arn": .string("arn:aws:logs:us-east-1:\(account):log-group:\(group):log-stream:job-a/algo-1-1712345678"),
        ])
        // A stream without events has no event times yet.
        #expect(streams[1]["firstEventTimestamp"] == nil && streams[1]["lastIngestionTime"] == nil)

        // Pages of one, by name and by last event time, both directions, naming the group by its
        // logGroupArn. (The `:*` form fails the model's LogGroupIdentifier pattern, as it does on
        // AWS: grafana/grafana#79155.)
        let arn = JSONValue.string("arn:aws:logs:us-east-1:\(account):log-group:\(group)")
        expectError(
            await harness.call("DescribeLogStreams", ["logGroupIdentifier": .string("arn:aws:logs:us-east-1:\(account):log-group:\(group):*")]),
            "InvalidParameterException")
        for (orderBy, descending, expected) in [
            ("LogStreamName", false, ["job-a/algo-1", "job-a/algo-2", "job-b/algo-1"]),
            ("LogStreamName", true, ["job-b/algo-1", "job-a/algo-2", "job-a/algo-1"]),
            ("LastEventTime", false, ["job-a/algo-2", "job-b/algo-1", "job-a/algo-1"]),
            ("LastEventTime", true, ["job-a/algo-1", "job-b/algo-1", "job-a/algo-2"]),
        ] {
            var names: [String] = []
            var request: [String: JSONValue] = [
                "logGroupIdentifier": arn, "orderBy": .string(orderBy), "descending": .bool(descending), "limit": 1,
            ]
            while true {
                let page = await harness.call("DescribeLogStreams", .object(request))
                #expect(page.status == 200, "\(page.json)")
                names += (page.json["logStreams"]?.arrayValue ?? []).compactMap { $0["logStreamName"]?.stringValue }
                guard let token = page.json["nextToken"] else { break }
                request["nextToken"] = token
            }
            #expect(names == expected.map { $0 + "-1712345678" }, "\(orderBy) descending=\(descending)")
        }
    }

    @Test("DescribeLogStreams errors: missing group, prefix with LastEventTime, both or neither group parameter, bad token, limit")
    func describeLogStreamsErrors() async throws {
        let harness = try LogsHarness()
        // Before the account's first stream: the SDK tolerates exactly this error.
        expectError(
            await harness.call("DescribeLogStreams", ["logGroupName": .string(group), "logStreamNamePrefix": "job/"]),
            "ResourceNotFoundException", "The specified log group does not exist.")
        try harness.seed(job: "job", messages: ["x"])
        expectError(
            await harness.call("DescribeLogStreams", ["logGroupName": .string(group), "logStreamNamePrefix": "job/", "orderBy": "LastEventTime"]),
            "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
        expectError(await harness.call("DescribeLogStreams", [:]), "InvalidParameterException")
        expectError(
            await harness.call("DescribeLogStreams", ["logGroupName": .string(group), "logGroupIdentifier": .string(group)]),
            "InvalidParameterException")
        expectError(
            await harness.call("DescribeLogStreams", ["logGroupName": .string(group), "nextToken": "bogus"]),
            "InvalidParameterException", "The specified nextToken is invalid.")
        // Validation from the botocore logs model, as CloudWatch reports it.
        expectError(
            await harness.call("DescribeLogStreams", ["logGroupName": .string(group), "limit": 51]), "InvalidParameterException",
            "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50")
        expectError(
            await harness.call("DescribeLogStreams", ["logGroupName": "bad name!"]), "InvalidParameterException",
            #"1 validation error detected: Value 'bad name!' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+"#)
        expectError(await harness.call("DescribeLogStreams", ["logGroupName": .string(group), "limit": "5"]), "SerializationException")
    }

    @Test("GetLogEvents from the head: pages until the forward token repeats, then picks up what arrives later")
    func getLogEventsForward() async throws {
        let harness = try LogsHarness()
        let stream = try harness.seed(job: "job", messages: (0..<25).map { "line \($0)" })
        let request: [String: JSONValue] = ["logGroupName": .string(group), "logStreamName": .string(stream.name), "startFromHead": true, "limit": 10]
        var seen: [String] = []
        var token: JSONValue?
        var pages = 0
        while true {
            var body = request
            if let token { body["nextToken"] = token }
            let page = await harness.call("GetLogEvents", .object(body))
            #expect(page.status == 200, "\(page.json)")
            let next = try #require(page.json["nextForwardToken"])
            #expect(page.json["nextBackwardToken"]?.stringValue?.hasPrefix("b/") == true)
            #expect(next.stringValue?.hasPrefix("f/") == true)
            seen += messages(page.json)
            pages += 1
            if next == token { break }
            token = next
        }
        #expect(seen == (0..<25).map { "line \($0)" })
        #expect(pages == 4)  // 10 + 10 + 5, then an empty page with the same token

        // Events are milliseconds and ingestion times, as integers.
        let first = await harness.call("GetLogEvents", .object(request.merging(["limit": 1]) { $1 }))
        #expect(first.json["events"] == [["timestamp": .int(base), "message": "line 0", "ingestionTime": .int(base + 60_000)]])

        // New lines arrive: the caught-up token now returns them, and only them.
        try harness.append(stream, ["late 1", "late 2"], start: base + 100)
        let later = await harness.call("GetLogEvents", .object(request.merging(["nextToken": try #require(token)]) { $1 }))
        #expect(messages(later.json) == ["late 1", "late 2"])
        #expect(later.json["nextForwardToken"] != token)
    }

    @Test("GetLogEvents from the tail, paging back with nextBackwardToken until it repeats")
    func getLogEventsBackward() async throws {
        let harness = try LogsHarness()
        let stream = try harness.seed(job: "job", messages: (0..<25).map { "line \($0)" })
        let request: [String: JSONValue] = ["logGroupName": .string(group), "logStreamName": .string(stream.name), "limit": 10]
        let tail = await harness.call("GetLogEvents", .object(request))
        #expect(messages(tail.json) == (15..<25).map { "line \($0)" })
        var collected = messages(tail.json)
        var token = try #require(tail.json["nextBackwardToken"])
        while true {
            let page = await harness.call("GetLogEvents", .object(request.merging(["nextToken": token]) { $1 }))
            collected = messages(page.json) + collected
            let next = try #require(page.json["nextBackwardToken"])
            if next == token { break }
            token = next
        }
        #expect(collected == (0..<25).map { "line \($0)" })
        // Turning round: the forward token of the tail page sees nothing new.
        let forward = try #require(tail.json["nextForwardToken"])
        let caughtUp = await harness.call("GetLogEvents", .object(request.merging(["nextToken": forward, "startFromHead": true]) { $1 }))
        #expect(messages(caughtUp.json).isEmpty)
        #expect(caughtUp.json["nextForwardToken"] == forward)
    }

    @Test("GetLogEvents: startTime is inclusive, endTime exclusive; the SDK's resume-and-skip loop prints each line once")
    func getLogEventsTimeRange() async throws {
        let harness = try LogsHarness()
        let stream = try harness.seed(job: "job", messages: (0..<10).map { "line \($0)" })
        let range = await harness.call(
            "GetLogEvents",
            ["logGroupName": .string(group), "logStreamName": .string(stream.name), "startFromHead": true,
             "startTime": .int(base + 3), "endTime": .int(base + 6)])
        #expect(messages(range.json) == ["line 3", "line 4", "line 5"])

        // SDK2 logs.py log_stream + session.py position bookkeeping: each flush starts again at
        // the last printed timestamp (inclusive) and skips the events already printed there.
        try harness.append(stream, ["same ms a", "same ms b"], start: base + 9)  // share line 9's millisecond
        var printed: [String] = []
        var position = (timestamp: Int64(0), skip: 0)
        for round in 0..<3 {
            if round == 2 { try harness.append(stream, ["after"], start: base + 20) }
            var token: JSONValue?
            var skip = position.skip
            while true {
                var body: [String: JSONValue] = [
                    "logGroupName": .string(group), "logStreamName": .string(stream.name), "startTime": .int(position.timestamp),
                    "startFromHead": true, "limit": 4,
                ]
                if let token { body["nextToken"] = token }
                let page = await harness.call("GetLogEvents", .object(body))
                let events = page.json["events"]?.arrayValue ?? []
                if events.isEmpty { break }
                token = page.json["nextForwardToken"]
                for event in events {
                    if skip > 0 {
                        skip -= 1
                        continue
                    }
                    let timestamp = event["timestamp"]?.int64Value ?? -1
                    printed.append(event["message"]?.stringValue ?? "")
                    position = timestamp == position.timestamp ? (timestamp, position.skip + 1) : (timestamp, 1)
                }
            }
        }
        #expect(printed == (0..<10).map { "line \($0)" } + ["same ms a", "same ms b", "after"])
    }

    @Test("GetLogEvents errors: missing group, missing stream, malformed token, another account's stream")
    func getLogEventsErrors() async throws {
        let harness = try LogsHarness()
        expectError(
            await harness.call("GetLogEvents", ["logGroupName": .string(group), "logStreamName": "x"]),
            "ResourceNotFoundException", "The specified log group does not exist.")
        let stream = try harness.seed(job: "job", messages: ["secret"])
        expectError(
            await harness.call("GetLogEvents", ["logGroupName": .string(group), "logStreamName": "job/algo-9-1"]),
            "ResourceNotFoundException", "The specified log stream does not exist.")
        for token in ["f/1", "x/0000000000000000000000000000000000000000/s", "f/abc/s", ""] {
            let result = await harness.call(
                "GetLogEvents", ["logGroupName": .string(group), "logStreamName": .string(stream.name), "nextToken": .string(token)])
            expectError(result, "InvalidParameterException")
        }
        expectError(await harness.call("GetLogEvents", ["logGroupName": .string(group)]), "InvalidParameterException",
                    "1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null")
        // The other account has no such group, and an ARN naming this account is not theirs either.
        expectError(
            await harness.call("GetLogEvents", ["logGroupName": .string(group), "logStreamName": .string(stream.name)], asOther: true),
            "ResourceNotFoundException", "The specified log group does not exist.")
        try harness.seed(job: "job", account: otherAccount, messages: ["theirs"])
        let theirs = await harness.call(
            "GetLogEvents",
            ["logGroupIdentifier": .string("arn:aws:logs:us-east-1:\(account):log-group:\(group)"), "logStreamName": .string(stream.name)],
            asOther: true)
        expectError(theirs, "ResourceNotFoundException")
        let own = await harness.call("GetLogEvents", ["logGroupName": .string(group), "logStreamName": .string(stream.name)], asOther: true)
        #expect(messages(own.json) == ["theirs"])
        #expect(messages(await harness.call("GetLogEvents", ["logGroupName": .string(group), "logStreamName": .string(stream.name)]).json)
            == ["secret"])
    }

    @Test("FilterLogEvents interleaves a job's streams, matches every term, and pages with nextToken until done")
    func filterLogEvents() async throws {
        let harness = try LogsHarness()
        try harness.seed(job: "job", host: "algo-1", messages: (0..<10).map { $0 % 2 == 0 ? "ERROR disk full \($0)" : "info \($0)" })
        try harness.seed(job: "job", host: "algo-2", messages: (0..<10).map { $0 % 3 == 0 ? "ERROR network \($0)" : "info \($0)" }, start: base)
        try harness.seed(job: "other", messages: ["ERROR elsewhere"])
        let all = await harness.call("FilterLogEvents", ["logGroupName": .string(group), "logStreamNamePrefix": "job/"])
        #expect(all.status == 200)
        let events = try #require(all.json["events"]?.arrayValue)
        #expect(events.count == 20)
        #expect(all.json["nextToken"] == nil)
        #expect(all.json["searchedLogStreams"] == [])
        #expect(events.compactMap { $0["timestamp"]?.int64Value } == events.compactMap { $0["timestamp"]?.int64Value }.sorted())
        #expect(events[0]["logStreamName"]?.stringValue == "job/algo-1-1712345678")
        #expect(events[1]["logStreamName"]?.stringValue == "job/algo-2-1712345678")
        #expect(events[0]["eventId"]?.stringValue?.isEmpty == false)
        #expect(Set(events.compactMap { $0["eventId"]?.stringValue }).count == 20)

        let errors = await harness.call("FilterLogEvents", ["logGroupName": .string(group), "filterPattern": "ERROR"])
        #expect(messages(errors.json).count == 5 + 4 + 1)
        let phrase = await harness.call("FilterLogEvents", ["logGroupName": .string(group), "filterPattern": #"ERROR "disk full""#])
        #expect(messages(phrase.json) == [0, 2, 4, 6, 8].map { "ERROR disk full \($0)" })
        let both = await harness.call("FilterLogEvents", ["logGroupName": .string(group), "filterPattern": "ERROR network 9"])
        #expect(messages(both.json) == ["ERROR network 9"])

        // Paging: limit 3, following nextToken, yields everything once.
        var paged: [String] = []
        var request: [String: JSONValue] = ["logGroupName": .string(group), "logStreamNamePrefix": "job/", "limit": 3]
        while true {
            let page = await harness.call("FilterLogEvents", .object(request))
            #expect(page.status == 200, "\(page.json)")
            paged += (page.json["events"]?.arrayValue ?? []).compactMap { $0["eventId"]?.stringValue }
            guard let token = page.json["nextToken"] else { break }
            request["nextToken"] = token
        }
        #expect(paged == events.compactMap { $0["eventId"]?.stringValue })

        // Both time bounds are inclusive; logStreamNames selects streams.
        let window = await harness.call(
            "FilterLogEvents",
            ["logGroupName": .string(group), "logStreamNames": ["job/algo-2-1712345678"], "startTime": .int(base + 2), "endTime": .int(base + 4)])
        #expect(messages(window.json) == ["info 2", "ERROR network 3", "info 4"])
    }

    @Test("eventIds and GetLogEvents tokens say nothing about another account's lines (issue 12 item 10)")
    func eventIDsPerAccount() async throws {
        // What account B is shown, after account A wrote `linesOfA` lines first in the same database.
        func shownToB(afterLinesOfA linesOfA: Int) async throws -> (ids: [String], forward: String?, backward: String?) {
            let harness = try LogsHarness()
            if linesOfA > 0 {
                try harness.seed(job: "a", messages: (0..<linesOfA).map { "a \($0)" })
                try harness.seed(job: "a", host: "algo-2", messages: ["a again"])
            }
            let stream = try harness.seed(job: "b", account: otherAccount, messages: ["b 0", "b 1", "b 2"])
            let filtered = await harness.call("FilterLogEvents", ["logGroupName": .string(group)], asOther: true)
            let read = await harness.call(
                "GetLogEvents", ["logGroupName": .string(group), "logStreamName": .string(stream.name), "startFromHead": true],
                asOther: true)
            #expect(messages(read.json) == ["b 0", "b 1", "b 2"])
            return ((filtered.json["events"]?.arrayValue ?? []).compactMap { $0["eventId"]?.stringValue },
                    read.json["nextForwardToken"]?.stringValue, read.json["nextBackwardToken"]?.stringValue)
        }
        let quiet = try await shownToB(afterLinesOfA: 0)
        let busy = try await shownToB(afterLinesOfA: 500)
        // CloudWatch's shape: 56 decimal digits; one stream part, then the ordinal 1, 2, 3.
        for id in quiet.ids + busy.ids {
            #expect(id.utf8.count == 56 && id.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }, "\(id)")
        }
        #expect(quiet.ids.map { String($0.suffix(20)) } == ["1", "2", "3"].map { String(repeating: "0", count: 19) + $0 })
        #expect(busy.ids.map { String($0.suffix(20)) } == quiet.ids.map { String($0.suffix(20)) })
        #expect(Set(busy.ids.map { String($0.prefix(36)) }).count == 1)
        #expect(busy.ids == busy.ids.sorted())
        // Tokens position by the stream's own ordinals: the same whatever A wrote.
        #expect(busy.forward == quiet.forward && busy.backward == quiet.backward)
        #expect(quiet.forward == "f/\(String(repeating: "0", count: 7))\(base + 2)\(String(repeating: "0", count: 19))4/s")
    }

    @Test("eventIds are stable across restarts and pages, and differ between streams")
    func eventIDsStable() async throws {
        let harness = try LogsHarness()
        let one = try harness.seed(job: "job", messages: ["x", "y"])
        try harness.seed(job: "job", host: "algo-2", messages: ["z"])
        let first = await harness.call("FilterLogEvents", ["logGroupName": .string(group)])
        let restarted = try SageMakerService(store: harness.store, configuration: .init(account: account), logger: Logger(label: "test"))
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-amz-json-1.1")
        headers.add(name: "X-Amz-Target", value: "Logs_20140328.FilterLogEvents")
        let again = await restarted.respond(to: HTTPRequest(
            method: "POST", path: "/", headers: headers, body: Array(#"{"logGroupName": "/aws/sagemaker/TrainingJobs"}"#.utf8)))
        #expect(try JSONValue.parse(again.body)["events"] == first.json["events"])
        let events = try #require(first.json["events"]?.arrayValue)
        let ids = events.compactMap { $0["eventId"]?.stringValue }
        #expect(ids.count == 3 && Set(ids).count == 3)
        let streamParts = Dictionary(grouping: events, by: { $0["logStreamName"]?.stringValue ?? "" })
            .mapValues { Set($0.compactMap { $0["eventId"]?.stringValue?.prefix(36) }) }
        #expect(streamParts[one.name]?.count == 1 && streamParts.values.reduce(Set()) { $0.union($1) }.count == 2)
    }

    @Test("FilterLogEvents errors: unknown stream, names with a prefix, unsupported patterns, a token for other parameters")
    func filterLogEventsErrors() async throws {
        let harness = try LogsHarness()
        try harness.seed(job: "job", messages: (0..<5).map { "line \($0)" })
        expectError(
            await harness.call("FilterLogEvents", ["logGroupName": .string(group), "logStreamNames": ["job/algo-1-1712345678", "nope"]]),
            "ResourceNotFoundException", "The specified log stream does not exist.")
        expectError(
            await harness.call("FilterLogEvents", ["logGroupName": .string(group), "logStreamNames": ["a"], "logStreamNamePrefix": "a"]),
            "InvalidParameterException")
        for pattern in [#"{ $.level = "ERROR" }"#, "[ip, user]", "%ERR.*%", "?ERROR ?WARN", "ERROR -DEBUG", #""unclosed"#] {
            expectError(await harness.call("FilterLogEvents", ["logGroupName": .string(group), "filterPattern": .string(pattern)]),
                        "InvalidParameterException")
        }
        let first = await harness.call("FilterLogEvents", ["logGroupName": .string(group), "limit": 2])
        let token = try #require(first.json["nextToken"])
        expectError(
            await harness.call("FilterLogEvents", ["logGroupName": .string(group), "filterPattern": "line", "nextToken": token]),
            "InvalidParameterException", "The specified nextToken is invalid.")
        // A different limit is fine: only the filters are bound to the token.
        let next = await harness.call("FilterLogEvents", ["logGroupName": .string(group), "limit": 10, "nextToken": token])
        #expect(messages(next.json) == ["line 2", "line 3", "line 4"])
    }

    @Test("the path form POST /Logs_20140328.<Op> is the same operation; unknown Logs operations are refused")
    func pathForm() async throws {
        let harness = try LogsHarness()
        let stream = try harness.seed(job: "job", messages: ["hello"])
        let viaPath = await harness.call(
            "GetLogEvents", ["logGroupName": .string(group), "logStreamName": .string(stream.name), "startFromHead": true], pathForm: true)
        #expect(messages(viaPath.json) == ["hello"])
        expectError(await harness.call("PutLogEvents", [:]), "UnknownOperationException")
        expectError(await harness.call("CreateLogGroup", [:], pathForm: true), "UnknownOperationException")
    }
}

struct CloudWatchLogsShapesTests {
    @Test("the logs table validates against the logs model, beside the SageMaker one")
    func table() {
        #expect(CloudWatchLogsShapes.botocoreVersion == SageMakerShapes.botocoreVersion)
        #expect(CloudWatchLogsShapes.operations["GetLogEvents"]?.input == "GetLogEventsRequest")
        #expect(ShapeValidator.uncompilablePatterns(in: .cloudWatchLogs) == [])
        let validator = ShapeValidator(table: .cloudWatchLogs)
        #expect(validator.validate(["logStreamName": "a/b", "startTime": 0, "limit": 10_000], shape: "GetLogEventsRequest") == .valid)
        #expect(
            validator.validate(["logStreamName": "a:b", "startTime": -1], shape: "GetLogEventsRequest")
                == .invalid([
                    "Value 'a:b' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*",
                    "Value '-1' at 'startTime' failed to satisfy constraint: Member must have value greater than or equal to 0",
                ]))
        // The default table is still SageMaker's.
        #expect(ShapeValidator().validate(["TrainingJobName": "x"], shape: "DescribeTrainingJobRequest") == .valid)
    }
}
