import Foundation
import JobStore
import Synchronization
import TrainingCore

/// A training job's metric series, derived from its stored log lines when asked for: each
/// `MetricDefinitions` regex runs over every line and its first capture group is a data point at
/// the line's timestamp (DG-metrics; the same matching as the scheduler's MetricScanner, which
/// keeps only the last value for `FinalMetricDataList`).
///
/// Why at query time rather than at ingest: the lines are stored already, and capture (in the
/// scheduler) stays untouched. A scan is remembered per log stream, with where it stopped, so a
/// dashboard polling a running job only matches the lines that arrived since (README
/// "Dashboard": a first query over 100k lines and a repeated one are measured there).
final class TrainingJobMetricPoints: Sendable {
    private struct StreamScan {
        var definitions: [TrainingJobSpec.MetricDefinition]
        /// Where the next scan continues.
        var position: LogPosition
        /// Sequences of the events at the position's millisecond already matched (a line
        /// stored later with the same timestamp still gets scanned).
        var seenAtPosition: Set<Int64>
        var points: [String: [MetricPoint]]
        var lastUse: UInt64
    }

    private let store: JobStore
    private let scans = Mutex<(streams: [Int64: StreamScan], clock: UInt64)>(([:], 0))
    /// Streams remembered at once; the least recently used is forgotten first.
    private let capacity: Int

    init(store: JobStore, capacity: Int = 256) {
        self.store = store
        self.capacity = capacity
    }

    /// The log streams of `job` (not those of a deleted job that had the same name).
    func streams(of job: TrainingJob) throws -> [LogStreamRecord] {
        try store.logs.logStreams(
            LogStreamQuery(account: job.account, logGroup: LogStore.trainingJobsLogGroup, namePrefix: job.name + "/", limit: 1000)
        ).streams.filter { $0.jobID == job.id }
    }

    /// Every point of every metric of `job`, by metric name, oldest first.
    func points(of job: TrainingJob) throws -> [String: [MetricPoint]] {
        let definitions = job.spec.metricDefinitions
        guard !definitions.isEmpty else { return [:] }
        var merged: [String: [MetricPoint]] = [:]
        let streams = try streams(of: job)
        for stream in streams {
            for (name, points) in try points(of: stream, definitions: definitions) {
                merged[name, default: []] += points
            }
        }
        if streams.count > 1 {
            for name in merged.keys { merged[name]?.sort { $0.timestamp.milliseconds < $1.timestamp.milliseconds } }
        }
        return merged
    }

    private func points(of stream: LogStreamRecord, definitions: [TrainingJobSpec.MetricDefinition]) throws -> [String: [MetricPoint]] {
        var scan = scans.withLock { state -> StreamScan? in
            guard var scan = state.streams[stream.id], scan.definitions == definitions else { return nil }
            state.clock += 1
            scan.lastUse = state.clock
            state.streams[stream.id] = scan
            return scan
        } ?? StreamScan(definitions: definitions, position: .beginning, seenAtPosition: [], points: [:], lastUse: 0)
        var matcher = MetricMatcher(definitions)
        var position = scan.position
        while true {
            let page = try store.logs.readLogEvents(streamID: stream.id, from: position, to: .end, direction: .forward, limit: 5000)
            guard let last = page.last else { break }
            for event in page where !scan.seenAtPosition.contains(event.sequence) {
                matcher.match(event.message) { name, value in
                    scan.points[name, default: []].append(MetricPoint(timestamp: event.timestamp, value: value))
                }
            }
            position = last.positionAfter
            if page.count < 5000 { break }
        }
        // Resume at the start of the newest millisecond seen, skipping what was matched there.
        if position != scan.position {
            let newest = position.timestampMilliseconds
            let atNewest = try store.logs.readLogEvents(
                streamID: stream.id, from: LogPosition(timestampMilliseconds: newest, sequence: 0), to: position,
                direction: .forward, limit: 10_000)
            scan.position = LogPosition(timestampMilliseconds: newest, sequence: 0)
            scan.seenAtPosition = Set(atNewest.map(\.sequence))
        }
        let result = scan.points
        scans.withLock { state in
            state.clock += 1
            scan.lastUse = state.clock
            state.streams[stream.id] = scan
            if state.streams.count > capacity,
                let oldest = state.streams.min(by: { $0.value.lastUse < $1.value.lastUse })?.key
            {
                state.streams[oldest] = nil
            }
        }
        return result
    }
}

/// MetricDefinitions compiled once per scan, matched as the scheduler's MetricScanner matches
/// them so that the series ends on the `FinalMetricDataList` value: `LinearRegex` (linear time,
/// issue 12 item 4 — a backtracking engine let one job's `(a+)+$` hold a thread for a minute),
/// first match in the line, first capture group parsed as a number (whitespace trimmed). A
/// pattern LinearRegex refuses is skipped, and so is a metric once it has used up its budget
/// of matching work for this scan (the scheduler drops it the same way, with a line in the log).
struct MetricMatcher {
    /// Matching work (thread steps) one metric may use in one scan: about a second of CPU, as
    /// the scheduler's per-job budget.
    static let budgetPerScan = 100_000_000

    private var metrics: [(name: String, regex: LinearRegex, literal: [UInt8], budget: Int)]

    init(_ definitions: [TrainingJobSpec.MetricDefinition]) {
        metrics = definitions.compactMap { definition in
            (try? LinearRegex(definition.regex)).map {
                (definition.name, $0, Array(Self.requiredLiteral(definition.regex).utf8), Self.budgetPerScan)
            }
        }
    }

    mutating func match(_ line: String, _ found: (String, Double) -> Void) {
        for index in metrics.indices where metrics[index].budget > 0 {
            // A line without the regex's required text cannot match: skip the matcher
            // (the byte search is far cheaper than a match attempt).
            if !metrics[index].literal.isEmpty, !Self.contains(line, metrics[index].literal) { continue }
            let captured: String?
            do {
                captured = try metrics[index].regex.firstMatchGroup1(in: line, budget: &metrics[index].budget)
            } catch {
                metrics[index].budget = 0
                continue
            }
            guard let captured, let value = Double(captured.trimmingCharacters(in: .whitespaces)) else { continue }
            found(metrics[index].name, value)
        }
    }

    /// The longest run of plain characters every match must contain: characters outside any
    /// group or class, not made optional by a quantifier. Empty (no filter) for patterns with
    /// alternation or inline options, where no such run is certain.
    static func requiredLiteral(_ pattern: String) -> String {
        let characters = Array(pattern)
        if characters.contains("|") || pattern.contains("(?") { return "" }
        var best = ""
        var run = ""
        var depth = 0
        var inClass = false
        var index = 0
        func endRun() {
            if run.count > best.count { best = run }
            run = ""
        }
        while index < characters.count {
            let character = characters[index]
            var literal: Character?
            var width = 1
            if inClass {
                if character == "\\" { width = 2 } else if character == "]" { inClass = false }
            } else if character == "\\", index + 1 < characters.count {
                let next = characters[index + 1]
                width = 2
                // Escaped punctuation is itself; \d, \s, \b and the like are classes or assertions.
                if !next.isLetter && !next.isNumber { literal = next } else { endRun() }
            } else if character == "[" {
                inClass = true
                endRun()
            } else if character == "(" {
                depth += 1
                endRun()
            } else if character == ")" {
                depth -= 1
                endRun()
            } else if ".^$".contains(character) {
                endRun()
            } else if "*+?{".contains(character) {
                // The quantified character (the run's last) is not required: "+" keeps it.
                if character != "+", !run.isEmpty { run.removeLast() }
                endRun()
            } else {
                literal = character
            }
            if let literal, depth == 0 {
                let next = index + width < characters.count ? characters[index + width] : nil
                if let next, "*?{".contains(next) {
                    endRun()
                } else {
                    run.append(literal)
                }
            } else if literal != nil {
                endRun()
            }
            index += width
        }
        endRun()
        return best
    }

    static func contains(_ line: String, _ needle: [UInt8]) -> Bool {
        var line = line
        return line.withUTF8 { bytes in
            guard bytes.count >= needle.count, let first = needle.first else { return needle.isEmpty }
            var start = 0
            let last = bytes.count - needle.count
            while start <= last {
                if bytes[start] == first {
                    var offset = 1
                    while offset < needle.count && bytes[start + offset] == needle[offset] { offset += 1 }
                    if offset == needle.count { return true }
                }
                start += 1
            }
            return false
        }
    }
}
