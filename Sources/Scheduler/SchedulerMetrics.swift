import Metrics

/// Container and log counters for /metrics, through swift-metrics (the executable chooses the
/// backend: Prometheus). Created on first use, which comes after the backend is bootstrapped.
enum SchedulerMetrics {
    private static let containerStarts = Counter(label: "trainyard_container_starts_total")
    /// SIGTERMs sent (StopTrainingJob and MaxRuntimeInSeconds).
    private static let containerStops = Counter(label: "trainyard_container_stops_total")
    /// SIGKILLs sent after the grace window.
    private static let containerKills = Counter(label: "trainyard_container_kills_total")
    private static let logLinesIngested = Counter(label: "trainyard_log_lines_ingested_total")

    static func containerStarted() { containerStarts.increment() }
    static func sigtermSent() { containerStops.increment() }
    static func sigkillSent() { containerKills.increment() }
    static func logLinesStored(_ count: Int) { logLinesIngested.increment(by: count) }
}
