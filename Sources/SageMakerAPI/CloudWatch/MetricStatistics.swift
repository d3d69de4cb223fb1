public import TrainingCore

/// One data point of a training job's metric: a MetricDefinitions match in a log line, at the
/// line's timestamp (DG-metrics: "The training algorithm writes the values of these metrics to
/// logs, which SageMaker monitors and sends to Amazon CloudWatch in real time").
public struct MetricPoint: Sendable, Equatable {
    public var timestamp: Timestamp
    public var value: Double
    public init(timestamp: Timestamp, value: Double) {
        self.timestamp = timestamp
        self.value = value
    }
}

/// A statistic CloudWatch computes over a period: the five of `Statistic` (botocore cloudwatch
/// `Statistic` enum) or a percentile `pNN(.NN)` (an `ExtendedStatistic`).
public enum MetricStatistic: Sendable, Hashable {
    case sampleCount, average, sum, minimum, maximum
    case percentile(Double)

    /// `SampleCount`, `Average`, `Sum`, `Minimum`, `Maximum` or `p0`…`p100` (with up to two
    /// decimals, as CloudWatch's percentile syntax allows); nil for anything else.
    public init?(_ text: String) {
        switch text {
        case "SampleCount": self = .sampleCount
        case "Average": self = .average
        case "Sum": self = .sum
        case "Minimum": self = .minimum
        case "Maximum": self = .maximum
        default:
            guard text.hasPrefix("p"), let value = Double(text.dropFirst()), value >= 0, value <= 100,
                text.dropFirst().allSatisfy({ $0.isNumber || $0 == "." })
            else { return nil }
            self = .percentile(value)
        }
    }

    /// The value of this statistic over `values` (not empty).
    public func value(of values: [Double]) -> Double {
        switch self {
        case .sampleCount: return Double(values.count)
        case .sum: return values.reduce(0, +)
        case .average: return values.reduce(0, +) / Double(values.count)
        case .minimum: return values.min() ?? 0
        case .maximum: return values.max() ?? 0
        case .percentile(let p):
            // Nearest rank over the raw values (CloudWatch keeps raw samples for percentiles of
            // metrics published as single values; its interpolation is unpublished).
            let sorted = values.sorted()
            let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
            return sorted[min(max(rank, 1), sorted.count) - 1]
        }
    }
}

/// CloudWatch's aggregation of raw points into periods, as GetMetricStatistics and GetMetricData
/// describe it (botocore cloudwatch model, `StartTime` and `Period` documentation).
public enum MetricAggregation {
    /// GetMetricStatistics: "The maximum number of data points returned from a single call is
    /// 1,440. If you request more than 1,440 data points, CloudWatch returns an error."
    public static let maximumStatisticsDatapoints = 1440

    /// "the period can be 1, 5, 10, 20, 30, 60, or any multiple of 60" for high-resolution
    /// metrics (GetMetricStatistics `Period`). Training metrics are matched per log line, so every
    /// resolution down to a second is kept.
    public static func isValidPeriod(_ period: Int64) -> Bool {
        period > 0 && ([1, 5, 10, 20, 30].contains(period) || period % 60 == 0)
    }

    /// The start of the first period. "CloudWatch rounds the specified time stamp as follows:
    /// Start time less than 15 days ago - Round down to the nearest whole minute. ... between 15
    /// and 63 days ago - Round down to the nearest 5-minute clock interval. ... greater than 63
    /// days ago - Round down to the nearest 1-hour clock interval. If you set Period to 5, 10, 20,
    /// or 30, the start time of your request is rounded down to the nearest time that corresponds
    /// to even 5-, 10-, 20-, or 30-second divisions of a minute." (GetMetricStatistics `StartTime`)
    public static func alignedStart(_ start: Timestamp, period: Int64, now: Timestamp) -> Timestamp {
        let seconds = floorDivide(start.milliseconds, 1000)
        let age = now.milliseconds - start.milliseconds
        let day: Int64 = 86_400_000
        let unit: Int64
        if age > 63 * day {
            unit = 3600
        } else if age > 15 * day {
            unit = 300
        } else if period < 60 {
            unit = period
        } else {
            unit = 60
        }
        return Timestamp(milliseconds: floorDivide(seconds, unit) * unit * 1000)
    }

    /// How many periods `[start, end)` spans from the aligned start: what the 1,440 limit counts.
    public static func periodCount(from alignedStart: Timestamp, to end: Timestamp, period: Int64) -> Int64 {
        let span = max(0, end.milliseconds - alignedStart.milliseconds)
        let length = period * 1000
        return (span + length - 1) / length
    }

    /// The points of `[alignedStart, end)` grouped into periods from `alignedStart`, each with its
    /// period's start time, oldest first; periods without a point are left out, as CloudWatch
    /// returns no datapoint for them.
    public static func buckets(
        _ points: [MetricPoint], from alignedStart: Timestamp, to end: Timestamp, period: Int64
    ) -> [(start: Timestamp, values: [Double])] {
        let length = period * 1000
        var groups: [Int64: [Double]] = [:]
        for point in points where point.timestamp.milliseconds >= alignedStart.milliseconds && point.timestamp.milliseconds < end.milliseconds {
            groups[(point.timestamp.milliseconds - alignedStart.milliseconds) / length, default: []].append(point.value)
        }
        return groups.keys.sorted().map { index in
            (Timestamp(milliseconds: alignedStart.milliseconds + index * length), groups[index] ?? [])
        }
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient
    }
}
