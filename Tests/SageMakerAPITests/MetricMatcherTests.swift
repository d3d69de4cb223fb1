@testable import SageMakerAPI
import Testing
import TrainingCore

struct MetricMatcherTests {
    @Test("The text a regex requires, used to skip lines that cannot match", arguments: [
        ("loss=([0-9.]+)", "loss="),
        (#".*\[[0-9]+\]#011train-error:(\S+).*"#, "]#011train-error:"),
        ("Train_error=(.*?);", "Train_error="),
        ("epochs?: (\\d+)", "epoch"),
        ("a|loss=(\\d)", ""),
        ("(?i)loss=(\\d)", ""),
        ("(loss)=(\\d)", "="),
        ("[a-z]+: ([0-9.]+)", ": "),
    ])
    func requiredLiteral(pattern: String, literal: String) {
        #expect(MetricMatcher.requiredLiteral(pattern) == literal)
    }

    @Test("Matching with and without the filter gives the same values")
    func sameValues() {
        var matcher = MetricMatcher([
            .init(name: "loss", regex: "loss=([0-9.]+)"), .init(name: "err", regex: #".*\[[0-9]+\]#011train-error:(\S+).*"#),
        ])
        var found: [String] = []
        for line in ["step 1 loss=0.5", "[3]#011train-error:0.25 more", "nothing here", "los=1", "[x]#011train-error:1"] {
            matcher.match(line) { name, value in found.append("\(name)=\(value)") }
        }
        #expect(found == ["loss=0.5", "err=0.25"])
    }

    @Test("A catastrophic pattern over a long line costs bounded work and only drops its own metric")
    func catastrophicPattern() {
        var matcher = MetricMatcher([.init(name: "redos", regex: "(a+)+$"), .init(name: "loss", regex: "loss=([0-9.]+)")])
        var found: [String] = []
        // A backtracking engine needs about 2^n steps for this line (n = 40); the linear
        // matcher needs about n × pattern size, well inside the budget.
        let line = String(repeating: "a", count: 40) + "!"
        matcher.match(line) { name, value in found.append("\(name)=\(value)") }
        matcher.match("loss=0.5") { name, value in found.append("\(name)=\(value)") }
        #expect(found == ["loss=0.5"])
    }
}
