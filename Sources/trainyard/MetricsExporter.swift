import JobStore
import Metrics
import Prometheus
import TrainingCore

/// The Prometheus registry behind GET /metrics. Counters and latency histograms come in through
/// swift-metrics from the libraries; the gauges of stored state are read at scrape time.
struct MetricsExporter: Sendable {
    let registry = PrometheusCollectorRegistry()
    let store: JobStore

    /// Makes this registry swift-metrics' backend; call once, before anything records.
    func bootstrap() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // API calls take microseconds to milliseconds: finer buckets than the default's 5 ms start.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .seconds(1),
        ]
        MetricsSystem.bootstrap(factory)
    }

    static var jobs: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "trainyard", metricName: "jobs", unitName: "", helpText: "Training jobs stored, by TrainingJobStatus.")
    }

    static var storeBytes: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "trainyard", metricName: "store", unitName: "bytes", helpText: "Size of the SQLite database.")
    }

    static var jobNamesNotIndexed: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "trainyard", metricName: "job_names_not_indexed", unitName: "",
            helpText: "Jobs whose names the NameContains index does not hold yet (filled about once a second).")
    }

    func export() -> [UInt8] {
        if let counts = try? store.countsByStatus() {
            for status in TrainingJobStatus.allCases {
                registry.makeGauge(descriptor: Self.jobs, labels: [("status", status.rawValue)])
                    .set(Double(counts[status] ?? 0))
            }
        }
        if let bytes = try? store.sizeInBytes() {
            registry.makeGauge(descriptor: Self.storeBytes).set(Double(bytes))
        }
        if let behind = try? store.jobNamesNotIndexed() {
            registry.makeGauge(descriptor: Self.jobNamesNotIndexed).set(Double(behind))
        }
        return registry.emitToBuffer()
    }
}
