public import TrainingCore

/// One line of container output as capture hands it to the store.
public struct LogEventInput: Sendable, Equatable {
    /// Docker's timestamp of the line, in nanoseconds since the epoch.
    public var timestampNanoseconds: Int64
    /// The line without its newline.
    public var message: String

    public init(timestampNanoseconds: Int64, message: String) {
        self.timestampNanoseconds = timestampNanoseconds
        self.message = message
    }
}

/// A CloudWatch log stream: one training host's container output.
public struct LogStreamRecord: Sendable, Equatable {
    public var id: Int64
    public var account: String
    public var logGroup: String
    /// `<job>/<host>-<epoch seconds>` (DG-logs).
    public var name: String
    public var jobID: Int64
    public var host: String
    public var creationTime: Timestamp
    /// Bounds of the events stored so far (nil until the first one), in event time.
    public var firstEventTimestamp: Timestamp?
    public var lastEventTimestamp: Timestamp?
    public var lastIngestionTime: Timestamp?
    /// The newest Docker timestamp stored: where capture resumes.
    public var lastSourceTimestampNanoseconds: Int64?
    /// UTF-8 bytes of the messages stored (and not yet deleted by retention).
    public var storedBytes: Int64

    public init(
        id: Int64, account: String, logGroup: String, name: String, jobID: Int64, host: String,
        creationTime: Timestamp, firstEventTimestamp: Timestamp? = nil, lastEventTimestamp: Timestamp? = nil,
        lastIngestionTime: Timestamp? = nil, lastSourceTimestampNanoseconds: Int64? = nil, storedBytes: Int64 = 0
    ) {
        self.id = id
        self.account = account
        self.logGroup = logGroup
        self.name = name
        self.jobID = jobID
        self.host = host
        self.creationTime = creationTime
        self.firstEventTimestamp = firstEventTimestamp
        self.lastEventTimestamp = lastEventTimestamp
        self.lastIngestionTime = lastIngestionTime
        self.lastSourceTimestampNanoseconds = lastSourceTimestampNanoseconds
        self.storedBytes = storedBytes
    }

    /// Where this stream sorts in a DescribeLogStreams listing.
    public var cursor: LogStreamCursor {
        LogStreamCursor(lastEventTimestampMilliseconds: lastEventTimestamp?.milliseconds ?? -1, name: name)
    }
}

/// A log group of an account. Groups have no row of their own: a group exists while the account
/// has a stream in it (for SageMaker, from the account's first training job that logged, which is
/// when SageMaker creates `/aws/sagemaker/TrainingJobs`; SDK2 `session.py:_flush_log_streams`).
public struct LogGroupRecord: Sendable, Equatable {
    public var name: String
    /// The creation time of its oldest stream.
    public var creationTime: Timestamp
    public var storedBytes: Int64

    public init(name: String, creationTime: Timestamp, storedBytes: Int64) {
        self.name = name
        self.creationTime = creationTime
        self.storedBytes = storedBytes
    }
}

/// A stored log event.
public struct LogEventRecord: Sendable, Equatable {
    /// Unique in the database and increasing with ingestion: orders events with equal timestamps
    /// across streams (FilterLogEvents' merge). Server-internal: it counts every account's lines,
    /// so no response shows it (issue 12 item 10).
    public var sequence: Int64
    /// The event's number in its stream (1, 2, … in order of arrival): orders events with equal
    /// timestamps within the stream, positions GetLogEvents' tokens and makes the `eventId`.
    public var ordinal: Int64
    public var streamID: Int64
    /// Event time in milliseconds (CloudWatch's unit).
    public var timestamp: Timestamp
    public var ingestionTime: Timestamp
    public var message: String

    public init(sequence: Int64, ordinal: Int64, streamID: Int64, timestamp: Timestamp, ingestionTime: Timestamp, message: String) {
        self.sequence = sequence
        self.ordinal = ordinal
        self.streamID = streamID
        self.timestamp = timestamp
        self.ingestionTime = ingestionTime
        self.message = message
    }

    /// The position just before this event in its stream (a position of ``LogStore/readLogEvents``).
    public var positionBefore: LogPosition {
        LogPosition(timestampMilliseconds: timestamp.milliseconds, sequence: ordinal)
    }

    /// The position just after this event in its stream.
    public var positionAfter: LogPosition {
        LogPosition(timestampMilliseconds: timestamp.milliseconds, sequence: ordinal + 1)
    }

    /// Where this event stands among the events of all streams (a position of
    /// ``LogStore/filterLogEvents``): just before it, by (timestamp, sequence).
    public var groupPosition: LogPosition {
        LogPosition(timestampMilliseconds: timestamp.milliseconds, sequence: sequence)
    }
}

/// A place in the event order (timestamp, then sequence) that falls *between* events: an event is
/// at or after `p` when `(timestamp, sequence) >= (p.timestampMilliseconds, p.sequence)`, else
/// before it. Reading forward from `p` yields the events at or after it, backward those before it.
/// Within one stream (``LogStore/readLogEvents``, GetLogEvents' tokens) `sequence` is the event's
/// ordinal in the stream; across streams (``LogStore/filterLogEvents``) it is the database-wide
/// sequence. Both start at 1, so `LogPosition(timestampMilliseconds: t, sequence: 0)` is the
/// start of millisecond `t` in either: time bounds and paging positions are the same kind of value.
public struct LogPosition: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var timestampMilliseconds: Int64
    public var sequence: Int64

    public init(timestampMilliseconds: Int64, sequence: Int64) {
        self.timestampMilliseconds = timestampMilliseconds
        self.sequence = sequence
    }

    /// The start of millisecond `time`: before every event stamped `time` or later.
    public static func start(of time: Timestamp) -> LogPosition {
        LogPosition(timestampMilliseconds: time.milliseconds, sequence: 0)
    }

    /// Before every event.
    public static let beginning = LogPosition(timestampMilliseconds: 0, sequence: 0)
    /// After every event.
    public static let end = LogPosition(timestampMilliseconds: .max, sequence: 0)

    public static func < (lhs: LogPosition, rhs: LogPosition) -> Bool {
        (lhs.timestampMilliseconds, lhs.sequence) < (rhs.timestampMilliseconds, rhs.sequence)
    }

    public var description: String { "\(timestampMilliseconds)ms#\(sequence)" }
}

/// Which way `readLogEvents` walks from its starting position.
public enum LogReadDirection: Sendable {
    /// From the lower bound upwards (the oldest events of the range first).
    case forward
    /// From the upper bound downwards (the newest events of the range).
    case backward
}

/// A DescribeLogStreams query.
public struct LogStreamQuery: Sendable, Equatable {
    /// DescribeLogStreams `orderBy` (botocore logs `OrderBy`).
    public enum Order: String, Sendable, Codable {
        case logStreamName = "LogStreamName"
        case lastEventTime = "LastEventTime"
    }

    public var account: String
    public var logGroup: String
    public var namePrefix: String?
    public var orderBy: Order
    public var descending: Bool
    /// At most this many streams; `Int.max` for all of them.
    public var limit: Int
    /// Continue strictly after this stream (in the query's order).
    public var after: LogStreamCursor?

    public init(
        account: String, logGroup: String, namePrefix: String? = nil, orderBy: Order = .logStreamName,
        descending: Bool = false, limit: Int = 50, after: LogStreamCursor? = nil
    ) {
        self.account = account
        self.logGroup = logGroup
        self.namePrefix = namePrefix
        self.orderBy = orderBy
        self.descending = descending
        self.limit = limit
        self.after = after
    }
}

/// A stream's place in a DescribeLogStreams listing. Names are unique within a group, so every
/// order is total and pages neither repeat nor skip a stream.
public struct LogStreamCursor: Sendable, Equatable, Codable {
    /// The stream's last event time, -1 when it has no event (such streams sort first).
    public var lastEventTimestampMilliseconds: Int64
    public var name: String

    public init(lastEventTimestampMilliseconds: Int64, name: String) {
        self.lastEventTimestampMilliseconds = lastEventTimestampMilliseconds
        self.name = name
    }
}

/// One capture's lines for ``LogStore/appendLogEvents(_:ingestedAt:)``: to the stream `streamID`,
/// or, when it is nil, to the stream of `job`'s container on `host`, opened if need be.
public struct LogBatch: Sendable {
    public var job: TrainingJob
    public var host: String
    /// When the stream is opened: its creation time, which names it (`<job>/<host>-<epoch>`).
    public var createdAt: Timestamp
    public var streamID: Int64?
    public var events: [LogEventInput]

    public init(job: TrainingJob, host: String, createdAt: Timestamp, streamID: Int64?, events: [LogEventInput]) {
        self.job = job
        self.host = host
        self.createdAt = createdAt
        self.streamID = streamID
        self.events = events
    }

    public struct Outcome: Sendable, Equatable {
        public var streamID: Int64
        /// Lines stored (those already stored are skipped).
        public var stored: Int

        public init(streamID: Int64, stored: Int) {
            self.streamID = streamID
            self.stored = stored
        }
    }
}
