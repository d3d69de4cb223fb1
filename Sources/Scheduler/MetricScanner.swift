import ContainerRuntime
import Foundation
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

    func scan(_ lines: AsyncThrowingStream<LogLine, any Error>) async -> [MetricValue] {
        guard !metrics.isEmpty else { return [] }
        var latest: [String: MetricValue] = [:]
        do {
            for try await line in lines { record(line, into: &latest) }
        } catch {
            // Logs that cannot be read leave the metrics seen so far.
        }
        return metrics.compactMap { latest[$0.name] }
    }

    func record(_ line: LogLine, into latest: inout [String: MetricValue]) {
        for metric in metrics {
            guard let match = try? metric.regex.firstMatch(in: line.text), match.output.count > 1,
                let captured = match.output[1].substring, let value = Double(captured.trimmingCharacters(in: .whitespaces))
            else { continue }
            latest[metric.name] = MetricValue(
                name: metric.name, value: value,
                timestamp: Timestamp(epochSeconds: line.timestamp.timeIntervalSince1970))
        }
    }
}
