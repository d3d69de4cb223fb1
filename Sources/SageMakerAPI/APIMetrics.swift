import Metrics

/// Request counts and latencies for /metrics, through swift-metrics (the executable chooses the
/// backend: Prometheus).
enum APIMetrics {
    static func record(operation: String, outcome: String, duration: Duration) {
        let dimensions = [("operation", operation), ("outcome", outcome)]
        Counter(label: "trainyard_api_requests_total", dimensions: dimensions).increment()
        Timer(label: "trainyard_api_request_duration_seconds", dimensions: dimensions).recordInterval(duration)
    }
}

extension Timer {
    func recordInterval(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
