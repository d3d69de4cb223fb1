import Foundation
import JobStore
import TrainingCore

/// `MetricDefinitions`: each regex runs over the container's output lines and its first capture
/// group is the value; `FinalMetricDataList` keeps the last value of each metric (DG-metrics).
///
/// One job's regex must not stall the others (issue 12 item 4): patterns run on `LinearRegex`
/// (linear time, no backtracking), each metric has a budget of matching work per job, and a
/// metric whose pattern cannot run that way, or that uses up its budget, is dropped with a line
/// in the job's log. The scheduler runs the scan on a file thread, off its own.
struct MetricScanner: Sendable {
    /// Matching work (thread steps) a metric may use over one job's log: about a second of CPU.
    static let defaultBudget = 100_000_000

    private struct Metric: Sendable {
        var name: String
        var regex: LinearRegex
        var budget: Int
    }

    private var metrics: [Metric]
    /// Lines for the job's log about metrics that were dropped.
    private(set) var warnings: [String] = []

    init(definitions: [TrainingJobSpec.MetricDefinition], budget: Int = defaultBudget) {
        var metrics: [Metric] = []
        for definition in definitions {
            do {
                metrics.append(Metric(name: definition.name, regex: try LinearRegex(definition.regex), budget: budget))
            } catch {
                warnings.append(
                    "Trainyard: metric \(definition.name) is not collected: its regex uses a feature Trainyard does not match (\(error)).")
            }
        }
        self.metrics = metrics
    }

    /// Scans the stored lines of a log stream, oldest first, a page at a time.
    mutating func scan(store: JobStore, streamID: Int64) -> [MetricValue] {
        guard !metrics.isEmpty else { return [] }
        var latest: [String: MetricValue] = [:]
        var position = LogPosition.beginning
        while !metrics.isEmpty {
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

    /// Matches one line against every metric still collected; a match becomes that metric's latest value.
    mutating func record(_ text: String, at time: Date, into latest: inout [String: MetricValue]) {
        var index = 0
        while index < metrics.count {
            let captured: String?
            do {
                captured = try metrics[index].regex.firstMatchGroup1(in: text, budget: &metrics[index].budget)
            } catch {
                warnings.append(
                    "Trainyard: metric \(metrics[index].name) is no longer collected: its regex needed more matching work than a job may use.")
                latest[metrics[index].name] = nil
                metrics.remove(at: index)
                continue
            }
            index += 1
            guard let captured, let value = Double(captured.trimmingCharacters(in: .whitespaces)) else { continue }
            latest[metrics[index - 1].name] = MetricValue(
                name: metrics[index - 1].name, value: value, timestamp: Timestamp(epochSeconds: time.timeIntervalSince1970))
        }
    }
}

extension MetricScanner {
    /// The final metric values from a job's stored log; dropped metrics get a line in that log.
    /// Blocking work: the scheduler calls it through `runBlocking`.
    static func collect(_ definitions: [TrainingJobSpec.MetricDefinition], store: JobStore, streamID: Int64) -> [MetricValue] {
        guard !definitions.isEmpty else { return [] }
        var scanner = MetricScanner(definitions: definitions)
        let values = scanner.scan(store: store, streamID: streamID)
        if !scanner.warnings.isEmpty {
            let now = LogCapture.nanoseconds(Date())
            _ = try? store.logs.appendLogEvents(
                streamID: streamID, scanner.warnings.map { LogEventInput(timestampNanoseconds: now, message: $0) })
        }
        return values
    }
}
