import ContainerRuntime
import Foundation
import JobStore
import TrainingCore

/// `MetricDefinitions`: each regex runs over the container's output lines and its first capture
/// group is the value; `FinalMetricDataList` keeps the last value of each metric (DG-metrics).
struct MetricScanner {
    private let metrics: [(name: String, regex: Regex<AnyRegexOutput>)]

    init(definitions: [TrainingJobSpec.MetricDefinition]) {
        // A pattern Swift's regex engine cannot compile (Java-only syntax) is skipped.
        metrics = definitions.compactMap { definition in
            (try? Regex(definition.regex)).map { (definition.name, $0) }
        }
    }

    /// Scans the stored lines of a log stream, oldest first, a page at a time.
    func scan(store: JobStore, streamID: Int64) -> [MetricValue] {
        guard !metrics.isEmpty else { return [] }
        var latest: [String: MetricValue] = [:]
        var position = LogPosition.beginning
        while true {
            guard let page = try? store.logs.readLogEvents(streamID: streamID, from: position, to: .end, direction: .forward, limit: 5000),
                let last = page.last
            else { break }
            for event in page {
                record(event.message, at: Date(timeIntervalSince1970: event.timestamp.epochSeconds), into: &latest)
            }
            position = last.positionAfter
        }
        return metrics.compactMap { latest[$0.name] }
    }

    func record(_ line: LogLine, into latest: inout [String: MetricValue]) {
        record(line.text, at: line.timestamp, into: &latest)
    }

    func record(_ text: String, at time: Date, into latest: inout [String: MetricValue]) {
        for metric in metrics {
            guard let match = try? metric.regex.firstMatch(in: text), match.output.count > 1,
                let captured = match.output[1].substring, let value = Double(captured.trimmingCharacters(in: .whitespaces))
            else { continue }
            latest[metric.name] = MetricValue(
                name: metric.name, value: value, timestamp: Timestamp(epochSeconds: time.timeIntervalSince1970))
        }
    }
}
