import Foundation
import Testing
import TrainingCore

@testable import Scheduler

@Suite("MetricScanner: bounded metric matching over a job's log")
struct MetricScannerTests {
    @Test("MetricScanner drops a metric its engine cannot run, with a warning, and keeps the others")
    func scannerUnsupported() {
        var scanner = MetricScanner(definitions: [.init(name: "ok", regex: "loss=(\\d+)"), .init(name: "lookahead", regex: "loss=(?=1)(\\d)")])
        var latest: [String: MetricValue] = [:]
        scanner.record("loss=7", at: Date(timeIntervalSince1970: 1), into: &latest)
        scanner.record("loss=8", at: Date(timeIntervalSince1970: 2), into: &latest)
        #expect(latest["ok"]?.value == 8 && latest["lookahead"] == nil)
        #expect(scanner.warnings.count == 1 && scanner.warnings[0].contains("metric lookahead is not collected"))
    }

    @Test("MetricScanner drops a metric that uses up its budget, with a warning")
    func scannerBudget() {
        var scanner = MetricScanner(definitions: [.init(name: "greedy", regex: "(?:a|aa)*=(\\d)")], budget: 5_000)
        var latest: [String: MetricValue] = [:]
        scanner.record("aa=1", at: Date(timeIntervalSince1970: 1), into: &latest)
        #expect(latest["greedy"]?.value == 1)
        scanner.record(String(repeating: "a", count: 5_000), at: Date(timeIntervalSince1970: 2), into: &latest)
        scanner.record("aa=2", at: Date(timeIntervalSince1970: 3), into: &latest)
        #expect(latest["greedy"] == nil)
        #expect(scanner.warnings.count == 1 && scanner.warnings[0].contains("metric greedy is no longer collected"))
    }
}
