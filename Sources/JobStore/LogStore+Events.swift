import Foundation
import SQLite
public import TrainingCore

/// LogStore's operations.
///
/// Events are ordered by timestamp, then order of arrival, CloudWatch's order ("sorted by event
/// timestamp, the timestamp when the event was ingested", botocore logs FilterLogEvents): within a
/// stream by (timestamp, ordinal), across streams by (timestamp, sequence), which agree within a
/// stream. Every read walks the `log_events_by_stream_order` index from a ``LogPosition``, so a
/// page costs the same with a thousand events stored or millions.
extension LogStore {
    /// The log group of SageMaker training jobs (DG-logs; reference sagemaker-semantics §2.8).
    public static let trainingJobsLogGroup = "/aws/sagemaker/TrainingJobs"

    /// The largest message stored, in UTF-8 bytes: CloudWatch's historic event limit of 256 KiB,
    /// counted as PutLogEvents counts an event (message bytes + 26). botocore 1.43.11's PutLogEvents
    /// documentation allows 1 MB per event since 2025; 256 KiB is what the CloudWatch agent still
    /// cuts at (amazon-cloudwatch-agent `plugins/inputs/logfile`: `defaultMaxEventSize = 256 KiB`).
    public static let maximumLogMessageBytes = 256 * 1024 - logEventOverheadBytes

    /// What a longer message is cut to end with, so that a reader sees it was cut: the CloudWatch
    /// agent's `defaultTruncateSuffix`.
    public static let truncatedLogMessageSuffix = "[Truncated...]"

    /// PutLogEvents' per-event overhead: "the sum of all event messages in UTF-8, plus 26 bytes
    /// for each log event" (botocore logs PutLogEvents). Also what response budgets count.
    public static let logEventOverheadBytes = 26

    // MARK: Capture

    /// The stream of `job`'s container on `host` (e.g. `algo-1`), created on first use as
    /// `<job name>/<host>-<epoch seconds of createdAt>` in ``trainingJobsLogGroup`` (DG-logs).
    /// Idempotent per job and host: a capture that restarts gets the same stream back, whatever
    /// `createdAt` it passes. `job` must be stored (its `id` identifies it).
    ///
    /// A deleted job's name can be reused, and its streams stay (CloudWatch keeps logs of deleted
    /// jobs). Should the new job's stream get exactly the old one's name (same second), the epoch
    /// suffix is moved on by a second until free, rather than mixing two jobs' output.
    public func openLogStream(for job: TrainingJob, host: String, createdAt: Timestamp) throws(JobStoreError) -> LogStreamRecord {
        try write { db throws(JobStoreError) in try Self.openLogStream(db, for: job, host: host, createdAt: createdAt).stream }
    }

    /// The stream of `job`'s container on `host` if it has been opened, with where capture resumes
    /// (its `lastSourceTimestampNanoseconds`); nil before. Only reads.
    public func logStream(jobID: Int64, host: String) throws(JobStoreError) -> LogStreamRecord? {
        try withDatabase { db throws(JobStoreError) in try Self.logStreams(db, where: "job_id = ? AND host = ?", [jobID, host]).first }
    }

    /// Stores several captures' batches in one transaction, in order, and returns each batch's
    /// stream id and how many of its lines were stored (as ``appendLogEvents(streamID:_:ingestedAt:)``).
    /// A batch without a stream id goes to its job and host's stream, opened as
    /// ``openLogStream(for:host:createdAt:)`` opens it: a capture's first batch opens its stream in
    /// the same transaction. Captures of a burst of short jobs end together, and a transaction
    /// each was a commit per job.
    public func appendLogEvents(_ batches: [LogBatch], ingestedAt: Timestamp? = nil) throws(JobStoreError) -> [LogBatch.Outcome] {
        guard !batches.isEmpty else { return [] }
        let ingestedAt = ingestedAt ?? Timestamp(epochSeconds: Date().timeIntervalSince1970)
        return try write { db throws(JobStoreError) in
            var outcomes: [LogBatch.Outcome] = []
            outcomes.reserveCapacity(batches.count)
            for batch in batches {
                let streamID: Int64
                var opened = false
                if let known = batch.streamID {
                    streamID = known
                } else {
                    let open = try Self.openLogStream(db, for: batch.job, host: batch.host, createdAt: batch.createdAt)
                    (streamID, opened) = (open.stream.id, open.opened)
                }
                // A stream opened just now holds nothing: no last line or ordinal to read.
                let stored = try Self.appendLogEvents(
                    db, streamID: streamID, batch.events, ingestedAt: ingestedAt, state: opened ? .empty : nil)
                outcomes.append(LogBatch.Outcome(streamID: streamID, stored: stored))
            }
            return outcomes
        }
    }

    /// The job and host's stream, and whether it was opened just now.
    private static func openLogStream(
        _ db: StoreDatabase, for job: TrainingJob, host: String, createdAt: Timestamp
    ) throws(JobStoreError) -> (stream: LogStreamRecord, opened: Bool) {
        if let existing = try logStreams(db, where: "job_id = ? AND host = ?", [job.id, host]).first {
            return (existing, false)
        }
        var seconds = floorDivide(createdAt.milliseconds, 1000)
        while true {
            // A name another stream has (the same job name, re-created within the second) moves
            // on a second; the unique index says so, without a query first.
            let name = "\(job.name)/\(host)-\(seconds)"
            try db.run(
                """
                INSERT INTO log_streams (account_id, log_group, stream_name, job_id, host, created_at_ms)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (account_id, log_group, stream_name) DO NOTHING
                """,
                [job.account, trainingJobsLogGroup, name, job.id, host, createdAt.milliseconds])
            if db.changes == 1 {
                let stream = LogStreamRecord(
                    id: db.lastInsertRowID, account: job.account, logGroup: trainingJobsLogGroup, name: name,
                    jobID: job.id, host: host, creationTime: createdAt)
                return (stream, true)
            }
            seconds += 1
        }
    }

    /// Stores a batch of lines in one transaction and returns how many were stored.
    ///
    /// Lines already stored are skipped: capture resumes from the stream's
    /// ``LogStreamRecord/lastSourceTimestampNanoseconds`` and Docker's `since` is inclusive (and
    /// the Docker reader starts a catch-up read a millisecond early), so a resumed read repeats
    /// lines. A line counts as already stored when the stream
    /// holds a line with the same source timestamp (ns) and message; the comparison is a multiset,
    /// so two identical lines with one timestamp are both kept the first time and both skipped
    /// when read again. Only lines not newer than the newest stored one are checked, so a batch
    /// of new lines costs no lookup.
    ///
    /// Messages longer than ``maximumLogMessageBytes`` are cut and end with
    /// ``truncatedLogMessageSuffix``. Timestamps before 1970 are stored as 0 (the API's `Timestamp`
    /// is `long, min 0`). The stream's event bounds, ingestion time (`ingestedAt`, default now)
    /// and bytes follow. Throws `.notFound` if there is no such stream.
    @discardableResult
    public func appendLogEvents(
        streamID: Int64, _ events: [LogEventInput], ingestedAt: Timestamp? = nil
    ) throws(JobStoreError) -> Int {
        guard !events.isEmpty else { return 0 }
        let ingestedAt = ingestedAt ?? Timestamp(epochSeconds: Date().timeIntervalSince1970)
        return try write { db throws(JobStoreError) in try Self.appendLogEvents(db, streamID: streamID, events, ingestedAt: ingestedAt) }
    }

    /// Where a stream's lines stand: its newest stored source timestamp and its last ordinal.
    struct StreamState {
        var newestStored: Int64?
        var ordinal: Int64
        static let empty = StreamState(newestStored: nil, ordinal: 0)
    }

    /// `state`: the stream's, when the caller knows it (a stream it has just opened).
    private static func appendLogEvents(
        _ db: StoreDatabase, streamID: Int64, _ events: [LogEventInput], ingestedAt: Timestamp, state known: StreamState? = nil
    ) throws(JobStoreError) -> Int {
        guard !events.isEmpty else { return 0 }
        let streamState: StreamState
        if let known {
            streamState = known
        } else {
            let state = try db.prepare("SELECT last_source_timestamp_ns, last_ordinal FROM log_streams WHERE id = ?")
            try state.bind([streamID])
            guard try state.step() else {
                state.reset()
                throw .notFound
            }
            streamState = StreamState(newestStored: state.optionalInt64(0), ordinal: state.int64(1))
            state.reset()
        }
        let newestStored = streamState.newestStored
        var ordinal = streamState.ordinal

        let insert = try db.prepare(
            """
            INSERT INTO log_events (stream_id, timestamp_ms, source_timestamp_ns, ingested_at_ms, message, ordinal)
            VALUES (?, ?, ?, ?, ?, ?)
            """)
        defer { insert.reset() }
        // How many stored copies of a (ns, message) this batch may still skip.
        var skippable: [DuplicateKey: Int] = [:]
        var stored = 0
        var bytes: Int64 = 0
        var earliestMilliseconds = Int64.max
        var latestMilliseconds = Int64.min
        var latestNanoseconds = Int64.min
        for event in events {
            let message = storedLogMessage(event.message)
            let nanoseconds = event.timestampNanoseconds
            let milliseconds = max(0, floorDivide(nanoseconds, 1_000_000))
            if let newestStored, nanoseconds <= newestStored {
                let key = DuplicateKey(nanoseconds: nanoseconds, message: message)
                let remaining = if let known = skippable[key] {
                    known
                } else {
                    try storedCopies(db, streamID: streamID, milliseconds: milliseconds, key: key)
                }
                if remaining > 0 {
                    skippable[key] = remaining - 1
                    continue
                }
                skippable[key] = 0
            }
            insert.reset()
            try insert.bind(streamID, at: 1)
            try insert.bind(milliseconds, at: 2)
            try insert.bind(nanoseconds, at: 3)
            try insert.bind(ingestedAt.milliseconds, at: 4)
            try insert.bind(message, at: 5)
            ordinal += 1
            try insert.bind(ordinal, at: 6)
            _ = try insert.step()
            stored += 1
            bytes += Int64(message.utf8.count)
            earliestMilliseconds = min(earliestMilliseconds, milliseconds)
            latestMilliseconds = max(latestMilliseconds, milliseconds)
            latestNanoseconds = max(latestNanoseconds, nanoseconds)
        }
        guard stored > 0 else { return 0 }
        try db.run(
            """
            UPDATE log_streams SET
                first_event_timestamp_ms = min(coalesce(first_event_timestamp_ms, ?1), ?1),
                last_event_timestamp_ms = max(coalesce(last_event_timestamp_ms, ?2), ?2),
                last_ingested_at_ms = ?3,
                last_source_timestamp_ns = max(coalesce(last_source_timestamp_ns, ?4), ?4),
                stored_bytes = stored_bytes + ?5,
                last_ordinal = ?7
            WHERE id = ?6
            """,
            [earliestMilliseconds, latestMilliseconds, ingestedAt.milliseconds, latestNanoseconds, bytes, streamID, ordinal])
        return stored
    }

    /// Retention: deletes the events whose timestamp is before `cutoff` (e.g. now − N days, as a
    /// CloudWatch retention policy expires events by their timestamp) and returns how many.
    /// Streams stay, with their event bounds, and their ``LogStreamRecord/lastSourceTimestampNanoseconds``
    /// is kept; stored bytes go down. Deletes in chunks of `chunkSize` rows, each its own
    /// transaction, so capture and the API are never held up for long.
    @discardableResult
    public func deleteLogEvents(olderThan cutoff: Timestamp, chunkSize: Int = 5000) throws(JobStoreError) -> Int {
        let streamIDs = try withDatabase { db throws(JobStoreError) in
            try db.query("SELECT id FROM log_streams WHERE first_event_timestamp_ms < ?", [cutoff.milliseconds]) {
                $0.int64(0)
            }
        }
        var deleted = 0
        for streamID in streamIDs {
            while true {
                let count = try write { db throws(JobStoreError) -> Int in
                    // RETURNING reports each deleted message's size for the stream's byte count.
                    let sizes = try db.query(
                        """
                        DELETE FROM log_events WHERE seq IN (
                            SELECT seq FROM log_events WHERE stream_id = ? AND timestamp_ms < ? LIMIT ?)
                        RETURNING length(CAST(message AS BLOB))
                        """,
                        [streamID, cutoff.milliseconds, chunkSize]
                    ) { $0.int64(0) }
                    if !sizes.isEmpty {
                        try db.run(
                            "UPDATE log_streams SET stored_bytes = max(0, stored_bytes - ?) WHERE id = ?",
                            [sizes.reduce(0, +), streamID])
                    }
                    return sizes.count
                }
                deleted += count
                if count < chunkSize { break }
            }
        }
        return deleted
    }

    // MARK: Streams and groups

    public func logStream(id: Int64) throws(JobStoreError) -> LogStreamRecord? {
        try withDatabase { db throws(JobStoreError) in try Self.logStreams(db, where: "id = ?", [id]).first }
    }

    public func logStream(account: String, logGroup: String, name: String) throws(JobStoreError) -> LogStreamRecord? {
        try withReader { db throws(JobStoreError) in
            try Self.logStreams(db, where: "account_id = ? AND log_group = ? AND stream_name = ?", [account, logGroup, name]).first
        }
    }

    /// The log group `name` of `account`, or nil if the account has no stream in it.
    public func logGroup(account: String, name: String) throws(JobStoreError) -> LogGroupRecord? {
        try queryLogGroups(account: account, exactName: name, limit: 1).groups.first
    }

    /// DescribeLogGroups: the account's groups in ASCII order of name ("The results are
    /// ASCII-sorted by log group name", botocore logs DescribeLogGroups), filtered by a name
    /// prefix or a case-sensitive substring (`logGroupNamePattern`), after `after`, and whether
    /// more follow the page.
    public func logGroups(
        account: String, namePrefix: String? = nil, nameContains: String? = nil, after: String? = nil, limit: Int
    ) throws(JobStoreError) -> (groups: [LogGroupRecord], hasMore: Bool) {
        try queryLogGroups(account: account, namePrefix: namePrefix, nameContains: nameContains, after: after, limit: limit)
    }

    private func queryLogGroups(
        account: String, exactName: String? = nil, namePrefix: String? = nil, nameContains: String? = nil,
        after: String? = nil, limit: Int
    ) throws(JobStoreError) -> (groups: [LogGroupRecord], hasMore: Bool) {
        var conditions = ["account_id = ?"]
        var arguments: [any SQLiteBindable] = [account]
        if let exactName {
            conditions.append("log_group = ?")
            arguments.append(exactName)
        }
        if let namePrefix, !namePrefix.isEmpty {
            conditions.append("log_group >= ? AND log_group < ?")
            arguments += [namePrefix, Self.prefixUpperBound(namePrefix)]
        }
        if let nameContains, !nameContains.isEmpty {
            conditions.append("instr(log_group, ?) > 0")
            arguments.append(nameContains)
        }
        if let after {
            conditions.append("log_group > ?")
            arguments.append(after)
        }
        arguments.append(Self.limitPlusOne(limit))
        let sql = """
            SELECT log_group, min(created_at_ms), sum(stored_bytes) FROM log_streams
            WHERE \(conditions.joined(separator: " AND "))
            GROUP BY log_group ORDER BY log_group LIMIT ?
            """
        let groups = try withReader { db throws(JobStoreError) in
            try db.query(sql, arguments) {
                LogGroupRecord(name: $0.string(0), creationTime: Timestamp(milliseconds: $0.int64(1)), storedBytes: $0.int64(2))
            }
        }
        return (Array(groups.prefix(limit)), groups.count > limit)
    }

    /// DescribeLogStreams: one page of a group's streams and whether more follow it.
    public func logStreams(_ query: LogStreamQuery) throws(JobStoreError) -> (streams: [LogStreamRecord], hasMore: Bool) {
        var conditions = ["account_id = ?", "log_group = ?"]
        var arguments: [any SQLiteBindable] = [query.account, query.logGroup]
        if let prefix = query.namePrefix, !prefix.isEmpty {
            conditions.append("stream_name >= ? AND stream_name < ?")
            arguments += [prefix, Self.prefixUpperBound(prefix)]
        }
        let comparison = query.descending ? "<" : ">"
        let direction = query.descending ? "DESC" : "ASC"
        let order: String
        switch query.orderBy {
        case .logStreamName:
            if let after = query.after {
                conditions.append("stream_name \(comparison) ?")
                arguments.append(after.name)
            }
            order = "stream_name \(direction)"
        case .lastEventTime:
            // The expression is the one log_streams_by_last_event indexes.
            if let after = query.after {
                conditions.append("(coalesce(last_event_timestamp_ms, -1), stream_name) \(comparison) (?, ?)")
                arguments += [after.lastEventTimestampMilliseconds, after.name]
            }
            order = "coalesce(last_event_timestamp_ms, -1) \(direction), stream_name \(direction)"
        }
        arguments.append(Self.limitPlusOne(query.limit))
        let condition = conditions.joined(separator: " AND ") + " ORDER BY \(order) LIMIT ?"
        let streams = try withReader { db throws(JobStoreError) in try Self.logStreams(db, where: condition, arguments) }
        return (Array(streams.prefix(query.limit)), streams.count > query.limit)
    }

    /// The streams of the group with these names, in name order; names without a stream are left out.
    public func logStreams(account: String, logGroup: String, names: [String]) throws(JobStoreError) -> [LogStreamRecord] {
        try read { db throws(JobStoreError) in
            var streams: [LogStreamRecord] = []
            for name in Set(names).sorted() {
                if let stream = try Self.logStreams(
                    db, where: "account_id = ? AND log_group = ? AND stream_name = ?", [account, logGroup, name]
                ).first {
                    streams.append(stream)
                }
            }
            return streams
        }
    }

    // MARK: Events

    /// GetLogEvents: up to `limit` events of the stream in `[lower, upper)` (positions by ordinal,
    /// ``LogEventRecord/positionBefore``), in ascending order.
    /// `.forward` takes the first of them, `.backward` the last. Stops early once the events
    /// would exceed `byteBudget` (message bytes + ``logEventOverheadBytes`` each), but always
    /// returns at least one event when there is one.
    public func readLogEvents(
        streamID: Int64, from lower: LogPosition, to upper: LogPosition, direction: LogReadDirection,
        limit: Int, byteBudget: Int = .max
    ) throws(JobStoreError) -> [LogEventRecord] {
        guard lower < upper, limit > 0 else { return [] }
        let order = direction == .forward ? "ASC" : "DESC"
        let sql = """
            SELECT seq, timestamp_ms, ingested_at_ms, message, ordinal FROM log_events
            WHERE stream_id = ? AND (timestamp_ms, ordinal) >= (?, ?) AND (timestamp_ms, ordinal) < (?, ?)
            ORDER BY timestamp_ms \(order), ordinal \(order)
            """
        var events = try withReader { db throws(JobStoreError) -> [LogEventRecord] in
            let statement = try db.prepare(sql)
            defer { statement.reset() }
            try statement.bind([streamID, lower.timestampMilliseconds, lower.sequence, upper.timestampMilliseconds, upper.sequence])
            var events: [LogEventRecord] = []
            var budget = PageBudget(limit: limit, bytes: byteBudget)
            while try statement.step() {
                let event = Self.event(statement.statement, streamID: streamID)
                guard budget.admit(event) else { break }
                events.append(event)
            }
            return events
        }
        if direction == .backward { events.reverse() }
        return events
    }

    /// FilterLogEvents: the events of these streams in `[lower, upper)` whose message contains
    /// every one of `terms` (case-sensitive substrings), in (timestamp, sequence) order across the
    /// streams, up to `limit` and `byteBudget`.
    ///
    /// About `scanLimit` events are examined per call, matching or not, so that a rare term over
    /// millions of lines never holds the database for long: CloudWatch pages too "might only be
    /// partially full, or even empty" while a nextToken says there may be more (botocore logs
    /// FilterLogEvents). `resumeAt` is where the next call continues (nil: nothing left) — past
    /// every event examined, which may be past the last one returned.
    ///
    /// How: the range is walked in windows that hold a given number of each stream's events
    /// (located by an index-only walk), growing fourfold from 256 until the page is full or the
    /// scan budget is spent. Within a window, a k-way merge: one cursor per stream walks its
    /// index range with the terms checked inside SQLite, and each step takes the smallest head.
    /// Sorting the union instead would cost every event of the range on every page.
    public func filterLogEvents(
        streamIDs: [Int64], from lower: LogPosition, to upper: LogPosition, containing terms: [String] = [],
        limit: Int, byteBudget: Int = .max, scanLimit: Int = 100_000
    ) throws(JobStoreError) -> (events: [LogEventRecord], resumeAt: LogPosition?) {
        let streamIDs = Array(Set(streamIDs))
        guard lower < upper, limit > 0, !streamIDs.isEmpty else { return ([], nil) }
        let page = try read { db throws(JobStoreError) -> LogFilterPage in
            var page = LogFilterPage(budget: PageBudget(limit: limit, bytes: byteBudget))
            var windowStart = lower
            var remaining = scanLimit
            var perStream = min(256, max(1, scanLimit / streamIDs.count))
            while true {
                // Without terms every event examined is returned: the page itself bounds the work.
                var windowEnd = upper
                if !terms.isEmpty {
                    for streamID in streamIDs {
                        if let next = try Self.position(db, streamID: streamID, from: windowStart, to: upper, after: perStream) {
                            windowEnd = min(windowEnd, next)
                        }
                    }
                }
                try Self.merge(db, streamIDs: streamIDs, from: windowStart, to: windowEnd, containing: terms, into: &page)
                if page.resumeAt != nil { return page }
                if windowEnd == upper { return page }
                remaining -= perStream * streamIDs.count
                perStream = min(perStream * 4, remaining / streamIDs.count)
                guard perStream > 0 else {
                    page.resumeAt = windowEnd
                    return page
                }
                windowStart = windowEnd
            }
        }
        return (page.events, page.resumeAt)
    }

    /// The (group) position just before the stream's event number `count + 1` (from 1) in
    /// `[lower, upper)`: `count` of its events lie before it. nil when the stream has no more than
    /// `count` there.
    private static func position(
        _ db: StoreDatabase, streamID: Int64, from lower: LogPosition, to upper: LogPosition, after count: Int
    ) throws(JobStoreError) -> LogPosition? {
        try db.queryOne(
            """
            SELECT timestamp_ms, seq FROM log_events
            WHERE \(groupRange)
            ORDER BY timestamp_ms, ordinal LIMIT 1 OFFSET ?6
            """,
            [streamID, lower.timestampMilliseconds, lower.sequence, upper.timestampMilliseconds, upper.sequence, count]
        ) { LogPosition(timestampMilliseconds: $0.int64(0), sequence: $0.int64(1)) }
    }

    /// Appends the matching events of `[lower, upper)` to `page` in (timestamp, sequence) order
    /// until the range ends or the page's budget is full (then `page.resumeAt` is set): a k-way
    /// merge of one cursor per stream.
    private static func merge(
        _ db: StoreDatabase, streamIDs: [Int64], from lower: LogPosition, to upper: LogPosition, containing terms: [String],
        into page: inout LogFilterPage
    ) throws(JobStoreError) {
        guard lower < upper else { return }
        let matches = terms.map { _ in " AND instr(message, ?) > 0" }.joined()
        let sql = """
            SELECT seq, timestamp_ms, ingested_at_ms, message, ordinal FROM log_events
            WHERE \(groupRange)\(matches)
            ORDER BY timestamp_ms, ordinal
            """
        // Each cursor needs its own statement (the cache hands out one per SQL text).
        var heads: [StreamCursor] = []
        for streamID in streamIDs {
            let statement = try db.prepareUncached(sql)
            try statement.bind(
                [streamID, lower.timestampMilliseconds, lower.sequence, upper.timestampMilliseconds, upper.sequence]
                    + terms.map { $0 as any SQLiteBindable })
            if try statement.step() { heads.append(StreamCursor(statement: statement, streamID: streamID)) }
        }
        // Sorted with the smallest head last, so that taking it is a popLast.
        heads.sort { $0.position > $1.position }
        while var cursor = heads.popLast() {
            let event = cursor.event
            guard page.budget.admit(event) else {
                page.resumeAt = cursor.position
                return
            }
            page.events.append(event)
            guard try cursor.statement.step() else { continue }
            cursor.position = StreamCursor.position(of: cursor.statement)
            // Usually the same stream is still the smallest (always, with one stream).
            if heads.last.map({ cursor.position < $0.position }) ?? true {
                heads.append(cursor)
                continue
            }
            // Binary search for the insertion point (descending order).
            var low = 0
            var high = heads.count
            while low < high {
                let middle = (low + high) / 2
                if heads[middle].position > cursor.position { low = middle + 1 } else { high = middle }
            }
            heads.insert(cursor, at: low)
        }
    }

    /// A stream's events in `[?2 ms #?3, ?4 ms #?5)` by (timestamp, sequence), for stream ?1. The
    /// index orders a stream by (timestamp, ordinal), the same order within a stream; the range is
    /// spelled on `timestamp_ms` so that it walks the index, and `seq` (every index entry's rowid)
    /// only decides within the two boundary milliseconds.
    private static let groupRange = """
        stream_id = ?1 AND timestamp_ms BETWEEN ?2 AND ?4
            AND (timestamp_ms > ?2 OR seq >= ?3) AND (timestamp_ms < ?4 OR seq < ?5)
        """

    // MARK: Rows

    static func logStreams(_ db: StoreDatabase, where condition: String, _ arguments: [any SQLiteBindable]) throws(JobStoreError) -> [LogStreamRecord] {
        try db.query(
            """
            SELECT id, account_id, log_group, stream_name, job_id, host, created_at_ms, first_event_timestamp_ms,
                last_event_timestamp_ms, last_ingested_at_ms, last_source_timestamp_ns, stored_bytes
            FROM log_streams WHERE \(condition)
            """, arguments
        ) { row in
            LogStreamRecord(
                id: row.int64(0), account: row.string(1), logGroup: row.string(2), name: row.string(3),
                jobID: row.int64(4), host: row.string(5), creationTime: Timestamp(milliseconds: row.int64(6)),
                firstEventTimestamp: row.optionalInt64(7).map(Timestamp.init(milliseconds:)),
                lastEventTimestamp: row.optionalInt64(8).map(Timestamp.init(milliseconds:)),
                lastIngestionTime: row.optionalInt64(9).map(Timestamp.init(milliseconds:)),
                lastSourceTimestampNanoseconds: row.optionalInt64(10), storedBytes: row.int64(11))
        }
    }

    /// An event from a row of `seq, timestamp_ms, ingested_at_ms, message, ordinal`.
    private static func event(_ row: Statement, streamID: Int64) -> LogEventRecord {
        LogEventRecord(
            sequence: row.int64(0), ordinal: row.int64(4), streamID: streamID, timestamp: Timestamp(milliseconds: row.int64(1)),
            ingestionTime: Timestamp(milliseconds: row.int64(2)), message: row.string(3))
    }

    /// How many copies of a line the stream already holds. The millisecond is derived from the
    /// nanoseconds, so the probe is a short range of the stream's time index.
    private static func storedCopies(_ db: StoreDatabase, streamID: Int64, milliseconds: Int64, key: DuplicateKey) throws(JobStoreError) -> Int {
        Int(
            try db.scalarInt(
                """
                SELECT count(*) FROM log_events
                WHERE stream_id = ? AND timestamp_ms = ? AND source_timestamp_ns = ? AND message = ?
                """,
                [streamID, milliseconds, key.nanoseconds, key.message]) ?? 0)
    }

    /// `message`, cut to ``maximumLogMessageBytes`` on a character boundary and marked with
    /// ``truncatedLogMessageSuffix`` when longer.
    static func storedLogMessage(_ message: String) -> String {
        let utf8 = message.utf8
        guard utf8.count > maximumLogMessageBytes else { return message }
        var cut = utf8.index(utf8.startIndex, offsetBy: maximumLogMessageBytes - truncatedLogMessageSuffix.utf8.count)
        // Back off to the start of a Unicode scalar (never split a multi-byte UTF-8 sequence).
        while cut > utf8.startIndex, utf8[cut] & 0xC0 == 0x80 { cut = utf8.index(before: cut) }
        return String(decoding: utf8[..<cut], as: UTF8.self) + truncatedLogMessageSuffix
    }

    /// The smallest string greater than every string that starts with `prefix`, in SQLite's
    /// BINARY (UTF-8 byte) order — up to names containing U+10FFFF, a noncharacter.
    private static func prefixUpperBound(_ prefix: String) -> String {
        prefix + "\u{10FFFF}"
    }

    /// `limit + 1` (one row more tells whether a next page exists), without overflowing `Int.max`.
    private static func limitPlusOne(_ limit: Int) -> Int64 {
        limit >= Int(Int64.max) ? Int64.max : Int64(limit) + 1
    }

    /// Division rounding towards negative infinity (epoch values before 1970 stay ordered).
    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient
    }
}

/// A line as de-duplication compares it.
private struct DuplicateKey: Hashable {
    var nanoseconds: Int64
    var message: String
}

/// One stream's position in FilterLogEvents' merge: its statement stands on the head row
/// (`seq, timestamp_ms, ingested_at_ms, message, ordinal`); its position is a group position.
private struct StreamCursor {
    let statement: StoreStatement
    let streamID: Int64
    var position: LogPosition

    init(statement: StoreStatement, streamID: Int64) {
        self.statement = statement
        self.streamID = streamID
        self.position = Self.position(of: statement)
    }

    static func position(of row: StoreStatement) -> LogPosition {
        LogPosition(timestampMilliseconds: row.int64(1), sequence: row.int64(0))
    }

    var event: LogEventRecord {
        LogEventRecord(
            sequence: position.sequence, ordinal: statement.int64(4), streamID: streamID, timestamp: Timestamp(milliseconds: position.timestampMilliseconds),
            ingestionTime: Timestamp(milliseconds: statement.int64(2)), message: statement.string(3))
    }
}

/// FilterLogEvents' page as it fills.
private struct LogFilterPage: Sendable {
    var budget: PageBudget
    var events: [LogEventRecord] = []
    /// Where the next call continues; nil while the page is not full.
    var resumeAt: LogPosition?
}

/// CloudWatch pages hold "up to 1 MB of log events or up to 10,000 log events" (botocore logs
/// GetLogEvents/FilterLogEvents); the first event is always admitted, so a page is never empty
/// while events remain.
private struct PageBudget: Sendable {
    var limit: Int
    var bytes: Int
    private var count = 0
    private var used = 0

    init(limit: Int, bytes: Int) {
        self.limit = limit
        self.bytes = bytes
    }

    mutating func admit(_ event: LogEventRecord) -> Bool {
        let size = event.message.utf8.count + LogStore.logEventOverheadBytes
        guard count < limit, count == 0 || used + size <= bytes else { return false }
        count += 1
        used += size
        return true
    }
}
