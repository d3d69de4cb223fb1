import Foundation
import JobStore
import SQLite
import Testing
import TrainingCore

private let account = "123456789012"
private let group = LogStore.trainingJobsLogGroup
/// 2024-04-05T19:14:38Z: the stream-name example of reference sagemaker-semantics §2.8.
private let epochSeconds: Int64 = 1_712_345_678

private func temporaryStore() throws -> JobStore {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-logs-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return try JobStore(path: directory.appendingPathComponent("jobs.sqlite").path)
}

private func storedJob(_ store: JobStore, _ name: String, account: String = account) throws -> TrainingJob {
    try store.create(
        TrainingJob.created(
            account: account, name: name, arn: "arn:aws:sagemaker:us-east-1:\(account):training-job/\(name)",
            spec: TrainingJobSpec(trainingImage: "img", hyperParameters: [:], outputPath: "s3://b/o"),
            requestEcho: "{}", now: Timestamp(milliseconds: epochSeconds * 1000)))
}

/// Lines "line <i>", one millisecond apart from `epochSeconds`.
private func lines(_ range: Range<Int>) -> [LogEventInput] {
    range.map { LogEventInput(timestampNanoseconds: (epochSeconds * 1000 + Int64($0)) * 1_000_000, message: "line \($0)") }
}

private func ingested(_ seconds: Int64) -> Timestamp { Timestamp(milliseconds: seconds * 1000) }

struct LogStoreTests {
    @Test("a database of schema 1 (jobs only) is brought to the log tables, its jobs kept")
    func upgrade() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-logs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("jobs.sqlite").path
        do {
            let db = try Database(path: path)
            try Migrator(migrations: JobStore.migrations.filter { $0.version == 1 }).migrate(db)
            try db.run(
                """
                INSERT INTO training_jobs (account_id, name, arn, status, secondary_status, created_at_ms, last_modified_at_ms,
                    spec_json, request_echo_json) VALUES ('123456789012', 'old', 'arn', 'Completed', 'Completed', 0, 0, '{}', '{}')
                """)
            db.close()
        }
        let store = try JobStore(path: path)
        #expect(try store.integrityCheck() == "ok")
        let stream = try store.logs.openLogStream(for: try storedJob(store, "new"), host: "algo-1", createdAt: ingested(epochSeconds))
        #expect(try store.logs.appendLogEvents(streamID: stream.id, lines(0..<2)) == 2)
        let check = try Database(path: path)
        #expect(try check.userVersion == JobStore.migrations.map(\.version).max())
        #expect(try check.scalarInt("SELECT count(*) FROM training_jobs") == 2)
    }

    @Test("migration 7 numbers a stream's stored events 1, 2, … in order of arrival, and capture goes on from there")
    func ordinalBackfill() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainyard-logs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("jobs.sqlite").path
        do {
            let db = try Database(path: path)
            try Migrator(migrations: JobStore.migrations.filter { $0.version <= 6 }).migrate(db)
            try db.run(
                """
                INSERT INTO training_jobs (account_id, name, arn, status, secondary_status, created_at_ms, last_modified_at_ms,
                    spec_json, request_echo_json) VALUES ('123456789012', 'old', 'arn', 'Completed', 'Completed', 0, 0, '{}', '{}')
                """)
            for host in ["algo-1", "algo-2", "algo-3"] {
                try db.run(
                    "INSERT INTO log_streams (account_id, log_group, stream_name, job_id, host, created_at_ms) VALUES (?, ?, ?, 1, ?, 0)",
                    [account, group, "old/\(host)-0", host])
            }
            // Two streams written in turns, older timestamps arriving later; the third stays empty.
            for index in 0..<6 {
                let stream: Int64 = index % 2 == 0 ? 1 : 2
                try db.run(
                    """
                    INSERT INTO log_events (stream_id, timestamp_ms, source_timestamp_ns, ingested_at_ms, message)
                    VALUES (?, ?, ?, 0, ?)
                    """, [stream, Int64(10 - index), Int64(10 - index) * 1_000_000, "line \(index)"])
            }
            try db.run("UPDATE log_streams SET last_source_timestamp_ns = 10000000 WHERE id IN (1, 2)")
            db.close()
        }
        let store = try JobStore(path: path)
        #expect(try store.integrityCheck() == "ok")
        let one = try store.logs.readLogEvents(streamID: 1, from: .beginning, to: .end, direction: .forward, limit: 100)
        #expect(one.map(\.message) == ["line 4", "line 2", "line 0"])
        #expect(one.map(\.ordinal) == [3, 2, 1])
        let two = try store.logs.readLogEvents(streamID: 2, from: .beginning, to: .end, direction: .forward, limit: 100)
        #expect(two.map(\.ordinal) == [3, 2, 1])
        #expect(try store.logs.appendLogEvents(streamID: 1, [LogEventInput(timestampNanoseconds: 20_000_000, message: "new")]) == 1)
        #expect(try store.logs.appendLogEvents(streamID: 3, [LogEventInput(timestampNanoseconds: 20_000_000, message: "first")]) == 1)
        #expect(try store.logs.readLogEvents(streamID: 1, from: .beginning, to: .end, direction: .backward, limit: 1).map(\.ordinal) == [4])
        #expect(try store.logs.readLogEvents(streamID: 3, from: .beginning, to: .end, direction: .backward, limit: 1).map(\.ordinal) == [1])
        // Paging on from a page's last event: positions are (timestamp, ordinal).
        let head = try store.logs.readLogEvents(streamID: 1, from: .beginning, to: .end, direction: .forward, limit: 2)
        let rest = try store.logs.readLogEvents(streamID: 1, from: try #require(head.last).positionAfter, to: .end, direction: .forward, limit: 10)
        #expect((head + rest).map(\.message) == ["line 4", "line 2", "line 0", "new"])
    }

    @Test("ordinals count per stream, not across the database, and survive retention")
    func ordinalsPerStream() throws {
        let store = try temporaryStore()
        let job = try storedJob(store, "o")
        let one = try store.logs.openLogStream(for: job, host: "algo-1", createdAt: ingested(epochSeconds))
        let two = try store.logs.openLogStream(for: job, host: "algo-2", createdAt: ingested(epochSeconds))
        try store.logs.appendLogEvents(streamID: one.id, lines(0..<50))
        try store.logs.appendLogEvents(streamID: two.id, lines(0..<2))
        try store.logs.appendLogEvents(streamID: one.id, lines(50..<52))
        try store.logs.appendLogEvents(streamID: two.id, lines(2..<3))
        let read = { (id: Int64) in try store.logs.readLogEvents(streamID: id, from: .beginning, to: .end, direction: .forward, limit: 100) }
        #expect(try read(one.id).map(\.ordinal) == Array(1...52))
        #expect(try read(two.id).map(\.ordinal) == [1, 2, 3])
        // Retention deletes events, not numbers: the next event does not reuse a seen ordinal.
        #expect(try store.logs.deleteLogEvents(olderThan: Timestamp(milliseconds: epochSeconds * 1000 + 100)) == 55)
        try store.logs.appendLogEvents(streamID: two.id, lines(200..<201))
        #expect(try read(two.id).map(\.ordinal) == [4])
    }

    @Test("batches of several captures in one call: a batch without a stream opens it; later batches go to the same stream")
    func batchesOfSeveralCaptures() throws {
        let store = try temporaryStore()
        let one = try storedJob(store, "first-batch")
        let two = try storedJob(store, "other-job")
        #expect(try store.logs.logStream(jobID: one.id, host: "algo-1") == nil)
        let createdAt = Timestamp(milliseconds: epochSeconds * 1000)
        let first = try store.logs.appendLogEvents([
            LogBatch(job: one, host: "algo-1", createdAt: createdAt, streamID: nil, events: lines(0..<3)),
            LogBatch(job: two, host: "algo-1", createdAt: createdAt, streamID: nil, events: []),
            // The same capture's next batch, queued before the first was stored: same stream.
            LogBatch(job: one, host: "algo-1", createdAt: createdAt, streamID: nil, events: lines(3..<4)),
        ])
        #expect(first.map(\.stored) == [3, 0, 1])
        #expect(first[0].streamID == first[2].streamID && first[0].streamID != first[1].streamID)
        let found = try #require(try store.logs.logStream(jobID: one.id, host: "algo-1"))
        #expect(found.id == first[0].streamID && found.name == "first-batch/algo-1-1712345678")
        #expect(found.lastSourceTimestampNanoseconds == (epochSeconds * 1000 + 3) * 1_000_000)
        // A capture that printed nothing still has its (empty) stream.
        let empty = try #require(try store.logs.logStream(jobID: two.id, host: "algo-1"))
        #expect(empty.id == first[1].streamID && empty.storedBytes == 0)
        let next = try store.logs.appendLogEvents([
            LogBatch(job: one, host: "algo-1", createdAt: createdAt, streamID: found.id, events: lines(4..<5))
        ])
        #expect(next == [LogBatch.Outcome(streamID: found.id, stored: 1)])
        let read = try store.logs.readLogEvents(streamID: found.id, from: .beginning, to: .end, direction: .forward, limit: 10)
        #expect(read.map(\.message) == (0..<5).map { "line \($0)" })
    }

    @Test("a stream is named <job>/<host>-<epoch seconds> and opening it again returns the same stream")
    func openStream() throws {
        let store = try temporaryStore()
        let job = try storedJob(store, "my-job")
        let stream = try store.logs.openLogStream(for: job, host: "algo-1", createdAt: Timestamp(milliseconds: epochSeconds * 1000 + 999))
        #expect(stream.name == "my-job/algo-1-1712345678")
        #expect(stream.logGroup == "/aws/sagemaker/TrainingJobs")
        #expect(stream.account == account && stream.jobID == job.id && stream.host == "algo-1")
        #expect(stream.firstEventTimestamp == nil && stream.lastSourceTimestampNanoseconds == nil && stream.storedBytes == 0)
        // A restarted capture passes a later time: the stream (and its name) stay.
        let again = try store.logs.openLogStream(for: job, host: "algo-1", createdAt: Timestamp(milliseconds: (epochSeconds + 60) * 1000))
        #expect(again == stream)
        let second = try store.logs.openLogStream(for: job, host: "algo-2", createdAt: Timestamp(milliseconds: epochSeconds * 1000))
        #expect(second.id != stream.id && second.name == "my-job/algo-2-1712345678")
        #expect(try store.logs.logStream(id: stream.id) == stream)
        #expect(try store.logs.logStream(account: account, logGroup: group, name: stream.name) == stream)
        #expect(try store.logs.logStream(account: "210987654321", logGroup: group, name: stream.name) == nil)
    }

    @Test("a re-created job whose stream name is taken by the deleted job's gets the next free second")
    func reusedNameSameSecond() throws {
        let store = try temporaryStore()
        let job = try storedJob(store, "again")
        let first = try store.logs.openLogStream(for: job, host: "algo-1", createdAt: Timestamp(milliseconds: epochSeconds * 1000))
        var recreated = job
        recreated.id = job.id + 1000
        let second = try store.logs.openLogStream(for: recreated, host: "algo-1", createdAt: Timestamp(milliseconds: epochSeconds * 1000 + 500))
        #expect(first.name == "again/algo-1-1712345678")
        #expect(second.name == "again/algo-1-1712345679")
    }

    @Test("appending stores the lines and keeps the stream's bounds, ingestion time and bytes")
    func append() throws {
        let store = try temporaryStore()
        let stream = try store.logs.openLogStream(for: try storedJob(store, "j"), host: "algo-1", createdAt: ingested(epochSeconds))
        #expect(try store.logs.appendLogEvents(streamID: stream.id, []) == 0)
        #expect(try store.logs.appendLogEvents(streamID: stream.id, lines(0..<3), ingestedAt: ingested(epochSeconds + 5)) == 3)
        #expect(try store.logs.appendLogEvents(streamID: stream.id, lines(3..<5), ingestedAt: ingested(epochSeconds + 9)) == 2)
        let read = try #require(try store.logs.logStream(id: stream.id))
        #expect(read.firstEventTimestamp == Timestamp(milliseconds: epochSeconds * 1000))
        #expect(read.lastEventTimestamp == Timestamp(milliseconds: epochSeconds * 1000 + 4))
        #expect(read.lastIngestionTime == ingested(epochSeconds + 9))
        #expect(read.storedBytes == 5 * 6)  // "line N"
        #expect(try store.logs.logStream(id: stream.id)?.lastSourceTimestampNanoseconds == (epochSeconds * 1000 + 4) * 1_000_000)
        let events = try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 100)
        #expect(events.map(\.message) == (0..<5).map { "line \($0)" })
        #expect(events.map(\.ingestionTime)
            == Array(repeating: ingested(epochSeconds + 5), count: 3) + Array(repeating: ingested(epochSeconds + 9), count: 2))
        #expect(throws: JobStoreError.notFound) { try store.logs.appendLogEvents(streamID: 9999, lines(0..<1)) }
    }

    @Test("a resumed capture's repeated lines are skipped: same timestamp (ns) and message, counted as a multiset")
    func resumeDeduplication() throws {
        let store = try temporaryStore()
        let stream = try store.logs.openLogStream(for: try storedJob(store, "resume"), host: "algo-1", createdAt: ingested(epochSeconds))
        let base = epochSeconds * 1_000_000_000
        let first: [LogEventInput] = [
            .init(timestampNanoseconds: base + 1, message: "a"),
            .init(timestampNanoseconds: base + 2, message: "tick"),
            .init(timestampNanoseconds: base + 2, message: "tick"),  // two identical lines, one timestamp
            .init(timestampNanoseconds: base + 3, message: "b"),
        ]
        #expect(try store.logs.appendLogEvents(streamID: stream.id, first) == 4)
        let resumeFrom = try #require(try store.logs.logStream(id: stream.id)?.lastSourceTimestampNanoseconds)
        #expect(resumeFrom == base + 3)
        // Docker's `since` is inclusive and the reader starts a little early: lines at and before
        // the resume point come again, followed by new ones (including a third "tick" and a new
        // line that shares the last stored timestamp).
        let replay: [LogEventInput] = [
            .init(timestampNanoseconds: base + 2, message: "tick"),
            .init(timestampNanoseconds: base + 2, message: "tick"),
            .init(timestampNanoseconds: base + 2, message: "tick"),
            .init(timestampNanoseconds: base + 3, message: "b"),
            .init(timestampNanoseconds: base + 3, message: "c"),
            .init(timestampNanoseconds: base + 4, message: "d"),
        ]
        #expect(try store.logs.appendLogEvents(streamID: stream.id, replay) == 3)
        #expect(try store.logs.appendLogEvents(streamID: stream.id, replay) == 0)
        let messages = try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 100)
            .map(\.message)
        // All in one millisecond, CloudWatch's resolution: ingestion order decides.
        #expect(messages == ["a", "tick", "tick", "b", "tick", "c", "d"])
        #expect(try store.logs.logStream(id: stream.id)?.lastSourceTimestampNanoseconds == base + 4)
    }

    @Test("messages beyond 256 KiB are cut on a character boundary and end with [Truncated...]")
    func truncation() throws {
        let store = try temporaryStore()
        let stream = try store.logs.openLogStream(for: try storedJob(store, "long"), host: "algo-1", createdAt: ingested(epochSeconds))
        let limit = LogStore.maximumLogMessageBytes
        #expect(limit == 262_118)
        let exact = String(repeating: "x", count: limit)
        let long = String(repeating: "é", count: limit)  // 2 bytes each
        try store.logs.appendLogEvents(streamID: stream.id, [
            .init(timestampNanoseconds: 1_000_000, message: exact), .init(timestampNanoseconds: 2_000_000, message: long),
        ])
        let events = try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 10)
        #expect(events[0].message == exact)
        let cut = events[1].message
        #expect(cut.hasSuffix("[Truncated...]"))
        #expect(cut.utf8.count <= limit && cut.utf8.count >= limit - 1)
        #expect(cut.dropLast("[Truncated...]".count).allSatisfy { $0 == "é" })
        // Replaying the same long line is recognised (the comparison is on the stored, cut text).
        #expect(try store.logs.appendLogEvents(streamID: stream.id, [.init(timestampNanoseconds: 2_000_000, message: long)]) == 0)
    }

    @Test("timestamps become milliseconds (floor), and times before 1970 are stored as 0")
    func milliseconds() throws {
        let store = try temporaryStore()
        let stream = try store.logs.openLogStream(for: try storedJob(store, "ms"), host: "algo-1", createdAt: ingested(epochSeconds))
        try store.logs.appendLogEvents(streamID: stream.id, [
            .init(timestampNanoseconds: -5, message: "before 1970"), .init(timestampNanoseconds: 1_999_999, message: "1 ms"),
        ])
        let events = try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 10)
        #expect(events.map(\.timestamp.milliseconds) == [0, 1])
    }

    @Test("reading forward and backward in pages returns every event once, in order, within the bounds")
    func paging() throws {
        let store = try temporaryStore()
        let stream = try store.logs.openLogStream(for: try storedJob(store, "pages"), host: "algo-1", createdAt: ingested(epochSeconds))
        // 50 events over 10 milliseconds: five share each timestamp.
        let events = (0..<50).map { LogEventInput(timestampNanoseconds: (1000 + Int64($0 / 5)) * 1_000_000, message: "e\($0)") }
        try store.logs.appendLogEvents(streamID: stream.id, events)
        let all = (0..<50).map { "e\($0)" }

        var forward: [String] = []
        var position = LogPosition.beginning
        while true {
            let page = try store.logs.readLogEvents(streamID: stream.id, from: position, to: .end, direction: .forward, limit: 7)
            guard let last = page.last else { break }
            forward += page.map(\.message)
            position = last.positionAfter
        }
        #expect(forward == all)

        var backward: [String] = []
        var upper = LogPosition.end
        while true {
            let page = try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: upper, direction: .backward, limit: 7)
            guard let first = page.first else { break }
            backward = page.map(\.message) + backward
            upper = first.positionBefore
        }
        #expect(backward == all)

        // Time bounds: [1002 ms, 1004 ms) holds e10..e19; the start is inclusive.
        let window = try store.logs.readLogEvents(
            streamID: stream.id, from: .start(of: Timestamp(milliseconds: 1002)), to: .start(of: Timestamp(milliseconds: 1004)),
            direction: .forward, limit: 100)
        #expect(window.map(\.message) == (10..<20).map { "e\($0)" })
        let tail = try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .backward, limit: 3)
        #expect(tail.map(\.message) == ["e47", "e48", "e49"])
    }

    @Test("a page stops at the byte budget (message bytes + 26 each) but always holds one event")
    func byteBudget() throws {
        let store = try temporaryStore()
        let stream = try store.logs.openLogStream(for: try storedJob(store, "budget"), host: "algo-1", createdAt: ingested(epochSeconds))
        let big = String(repeating: "b", count: 100)
        try store.logs.appendLogEvents(streamID: stream.id, (0..<10).map { LogEventInput(timestampNanoseconds: Int64($0) * 1_000_000, message: big) })
        let page = try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 100, byteBudget: 3 * 126)
        #expect(page.count == 3)
        let one = try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 100, byteBudget: 10)
        #expect(one.count == 1)
    }

    @Test("streams: name prefix, both orders, descending, keyset pages, and one account never sees another's")
    func streamListing() throws {
        let store = try temporaryStore()
        var streams: [LogStreamRecord] = []
        for (index, name) in ["b-job", "a-job", "c-job", "ab-job"].enumerated() {
            let stream = try store.logs.openLogStream(for: try storedJob(store, name), host: "algo-1", createdAt: ingested(epochSeconds))
            // Last event times: b 3 s, a 1 s, c none, ab 2 s.
            let lastSecond: [Int64?] = [3, 1, nil, 2]
            if let second = lastSecond[index] {
                try store.logs.appendLogEvents(streamID: stream.id, [.init(timestampNanoseconds: second * 1_000_000_000, message: "x")])
            }
            streams.append(stream)
        }
        _ = try store.logs.openLogStream(for: try storedJob(store, "a-job", account: "210987654321"), host: "algo-1", createdAt: ingested(epochSeconds))

        func names(_ query: LogStreamQuery) throws -> [String] { try store.logs.logStreams(query).streams.map(\.name) }
        let suffix = "/algo-1-\(epochSeconds)"
        #expect(try names(LogStreamQuery(account: account, logGroup: group)) == ["a-job", "ab-job", "b-job", "c-job"].map { $0 + suffix })
        #expect(try names(LogStreamQuery(account: account, logGroup: group, descending: true)).first == "c-job" + suffix)
        #expect(try names(LogStreamQuery(account: account, logGroup: group, namePrefix: "a")) == ["a-job", "ab-job"].map { $0 + suffix })
        #expect(try names(LogStreamQuery(account: account, logGroup: group, namePrefix: "a-job/")) == ["a-job" + suffix])
        #expect(try names(LogStreamQuery(account: account, logGroup: group, orderBy: .lastEventTime)) == ["c-job", "a-job", "ab-job", "b-job"].map { $0 + suffix })
        #expect(try names(LogStreamQuery(account: account, logGroup: group, orderBy: .lastEventTime, descending: true))
            == ["b-job", "ab-job", "a-job", "c-job"].map { $0 + suffix })
        #expect(try names(LogStreamQuery(account: "210987654321", logGroup: group)) == ["a-job" + suffix])
        #expect(try names(LogStreamQuery(account: account, logGroup: "/other")) == [])

        for order in [LogStreamQuery.Order.logStreamName, .lastEventTime] {
            for descending in [false, true] {
                let everything = try names(LogStreamQuery(account: account, logGroup: group, orderBy: order, descending: descending, limit: .max))
                var paged: [String] = []
                var query = LogStreamQuery(account: account, logGroup: group, orderBy: order, descending: descending, limit: 1)
                while true {
                    let page = try store.logs.logStreams(query)
                    paged += page.streams.map(\.name)
                    guard page.hasMore, let last = page.streams.last else { break }
                    query.after = last.cursor
                }
                #expect(paged == everything, "\(order) descending=\(descending)")
                #expect(everything.count == 4)
            }
        }
        #expect(try store.logs.logStreams(account: account, logGroup: group, names: ["c-job" + suffix, "nope", "a-job" + suffix]).map(\.name)
            == ["a-job", "c-job"].map { $0 + suffix })
    }

    @Test("log groups exist while the account has a stream in them")
    func groups() throws {
        let store = try temporaryStore()
        #expect(try store.logs.logGroup(account: account, name: group) == nil)
        #expect(try store.logs.logGroups(account: account, limit: 50).groups.isEmpty)
        let stream = try store.logs.openLogStream(for: try storedJob(store, "g"), host: "algo-1", createdAt: ingested(epochSeconds))
        try store.logs.appendLogEvents(streamID: stream.id, [.init(timestampNanoseconds: 0, message: "12345")])
        let record = try #require(try store.logs.logGroup(account: account, name: group))
        #expect(record == LogGroupRecord(name: group, creationTime: ingested(epochSeconds), storedBytes: 5))
        #expect(try store.logs.logGroups(account: account, namePrefix: "/aws/sagemaker/", limit: 50).groups == [record])
        #expect(try store.logs.logGroups(account: account, namePrefix: "/aws/lambda", limit: 50).groups.isEmpty)
        #expect(try store.logs.logGroups(account: account, nameContains: "TrainingJobs", limit: 50).groups == [record])
        #expect(try store.logs.logGroups(account: account, nameContains: "trainingjobs", limit: 50).groups.isEmpty)
        #expect(try store.logs.logGroups(account: account, after: group, limit: 50).groups.isEmpty)
        #expect(try store.logs.logGroups(account: "210987654321", limit: 50).groups.isEmpty)
    }

    @Test("filtering merges streams in (timestamp, sequence) order, matches every term, and pages without gaps")
    func filter() throws {
        let store = try temporaryStore()
        let job = try storedJob(store, "f")
        let one = try store.logs.openLogStream(for: job, host: "algo-1", createdAt: ingested(epochSeconds))
        let two = try store.logs.openLogStream(for: job, host: "algo-2", createdAt: ingested(epochSeconds))
        // Interleaved timestamps; equal timestamps across streams are ordered by ingestion.
        try store.logs.appendLogEvents(streamID: one.id, (0..<20).map { (index: Int) -> LogEventInput in
            let message = index % 3 == 0 ? "ERROR one \(index)" : "info one \(index)"
            return LogEventInput(timestampNanoseconds: Int64(index * 2) * 1_000_000, message: message)
        })
        try store.logs.appendLogEvents(streamID: two.id, (0..<20).map { (index: Int) -> LogEventInput in
            let message = index % 4 == 0 ? "ERROR two \(index) disk full" : "info two \(index)"
            return LogEventInput(timestampNanoseconds: Int64(index * 2 + 1) * 1_000_000, message: message)
        })
        try store.logs.appendLogEvents(streamID: two.id, [.init(timestampNanoseconds: 2_000_000, message: "ERROR two late")])
        let all = try store.logs.filterLogEvents(streamIDs: [one.id, two.id], from: .beginning, to: .end, limit: 1000)
        #expect(all.events.count == 41 && all.resumeAt == nil)
        #expect(all.events.map(\.groupPosition) == all.events.map(\.groupPosition).sorted())
        #expect(all.events.prefix(4).map(\.message) == ["ERROR one 0", "ERROR two 0 disk full", "info one 1", "ERROR two late"])

        let errors = try store.logs.filterLogEvents(streamIDs: [one.id, two.id], from: .beginning, to: .end, containing: ["ERROR"], limit: 1000)
        #expect(errors.events.count == 7 + 5 + 1)
        #expect(errors.events.allSatisfy { $0.message.hasPrefix("ERROR") })
        let both = try store.logs.filterLogEvents(streamIDs: [one.id, two.id], from: .beginning, to: .end, containing: ["ERROR", "disk full"], limit: 1000)
        #expect(both.events.map(\.message) == (0..<5).map { "ERROR two \($0 * 4) disk full" })
        #expect(try store.logs.filterLogEvents(streamIDs: [one.id], from: .beginning, to: .end, containing: ["error"], limit: 10).events.isEmpty)

        var paged: [LogEventRecord] = []
        var position = LogPosition.beginning
        while true {
            let page = try store.logs.filterLogEvents(streamIDs: [one.id, two.id], from: position, to: .end, limit: 6)
            paged += page.events
            guard let next = page.resumeAt else { break }
            #expect(page.events.count == 6)
            position = next
        }
        #expect(paged == all.events)

        // A scan limit of 5 examined events: short and empty pages, but every match exactly once.
        var scanned: [LogEventRecord] = []
        var calls = 0
        position = .beginning
        while true {
            let page = try store.logs.filterLogEvents(
                streamIDs: [one.id, two.id], from: position, to: .end, containing: ["ERROR"], limit: 100, scanLimit: 5)
            #expect(page.events.count <= 5)
            scanned += page.events
            calls += 1
            guard let next = page.resumeAt else { break }
            #expect(next > position)
            position = next
        }
        #expect(scanned == errors.events)
        #expect(calls > 41 / 5)  // at most 5 of the 41 events examined per call

        let window = try store.logs.filterLogEvents(
            streamIDs: [two.id], from: .start(of: Timestamp(milliseconds: 3)), to: .start(of: Timestamp(milliseconds: 8)), limit: 100)
        #expect(window.events.map(\.timestamp.milliseconds) == [3, 5, 7])
    }

    @Test("retention deletes events older than the cutoff, lowers stored bytes and keeps the resume point")
    func retention() throws {
        let store = try temporaryStore()
        let stream = try store.logs.openLogStream(for: try storedJob(store, "old"), host: "algo-1", createdAt: ingested(epochSeconds))
        let day: Int64 = 86_400_000
        let now = epochSeconds * 1000
        let events = (0..<30).map { LogEventInput(timestampNanoseconds: (now - Int64(29 - $0) * day) * 1_000_000, message: "day \($0)") }
        try store.logs.appendLogEvents(streamID: stream.id, events)
        let before = try #require(try store.logs.logStream(id: stream.id))
        // Keep 7 days: the events of the last 7 days (day 23 … day 29, the cutoff inclusive) remain.
        let deleted = try store.logs.deleteLogEvents(olderThan: Timestamp(milliseconds: now - 6 * day), chunkSize: 4)
        #expect(deleted == 23)
        let left = try store.logs.readLogEvents(streamID: stream.id, from: .beginning, to: .end, direction: .forward, limit: 100)
        #expect(left.map(\.message) == (23..<30).map { "day \($0)" })
        let after = try #require(try store.logs.logStream(id: stream.id))
        #expect(after.storedBytes == Int64(left.map(\.message.utf8.count).reduce(0, +)))
        #expect(after.lastSourceTimestampNanoseconds == before.lastSourceTimestampNanoseconds)
        #expect(try store.logs.deleteLogEvents(olderThan: Timestamp(milliseconds: now - 6 * day)) == 0)
    }
}

