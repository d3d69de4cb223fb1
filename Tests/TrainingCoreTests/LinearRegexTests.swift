import Foundation
import Testing
@testable import TrainingCore

@Suite("LinearRegex: metric regexes in linear time")
struct LinearRegexTests {
    func group1(_ pattern: String, _ text: String) throws -> String? {
        var budget = 10_000_000
        return try LinearRegex(pattern).firstMatchGroup1(in: text, budget: &budget)
    }

    @Test("the first capture group of the leftmost match, as Java's find() gives it")
    func captures() throws {
        #expect(try group1("Train_error=(.*?);", "[12] Train_error=0.138318; Valid_error=0.2;") == "0.138318")
        #expect(try group1("loss: ([0-9\\.]+)", "epoch 1 loss: 0.25 acc") == "0.25")
        #expect(try group1("loss=(\\S+)", "loss=1e-3 x") == "1e-3")
        #expect(try group1(#".*\[(\d+)\]#quality_metric: host=\S+, train rmse <loss>=(\S+)"#, "[2024] [7]#quality_metric: host=algo-1, train rmse <loss>=3.5") == "7")
        #expect(try group1("a(b*)", "xabbbc") == "bbb")
        #expect(try group1("a(b*?)", "xabbbc") == "")
        #expect(try group1("(a|ab)(c|bcd)", "abcd") == "a")  // ordered alternation, not longest
        #expect(try group1("(?:x|y)(\\d{2,3})", "y12345") == "123")
        #expect(try group1("(?<value>\\d+)%", "at 42% done") == "42")
        #expect(try group1("^acc=(\\d)", "val acc=1") == nil)
        #expect(try group1("acc=(\\d)$", "acc=1") == "1")
        #expect(try group1("\\bacc=(\\d)", "valacc=1 acc=2") == "2")
        #expect(try group1("x\\b(y)?", "x y") == nil)
        #expect(try group1("[^=]+=([-+]?[0-9]*\\.?[0-9]+)", "lr=-0.5") == "-0.5")
        #expect(try group1("(x)?y", "y") == nil)
        #expect(try group1("no match (here)", "something else") == nil)
        #expect(try group1("caf(é)", "café au lait") == "é")
    }

    @Test("(a+)+$ over a long line costs linear work, not exponential")
    func catastrophicPatternIsLinear() throws {
        let regex = try LinearRegex("(a+)+$")
        let line = String(repeating: "a", count: 5_000) + "!"
        var budget = 10_000_000
        #expect(try regex.firstMatchGroup1(in: line, budget: &budget) == nil)
        let used = 10_000_000 - budget
        // A few steps per character and instruction: about 5,000 × 10.
        #expect(used < 500_000)
    }

    @Test("matching stops with BudgetExceeded once its budget is used up")
    func budget() throws {
        let regex = try LinearRegex("(a|aa)*b")
        var budget = 100
        #expect(throws: LinearRegex.BudgetExceeded.self) {
            try regex.firstMatchGroup1(in: String(repeating: "a", count: 1000), budget: &budget)
        }
    }

    @Test("back-references, look-around, inline flags and huge repetitions are refused")
    func unsupported() {
        for pattern in ["(a)\\1", "a(?=b)", "(?<!a)b", "(?i)loss", "\\p{L}", "(a{1000}){1000}", "(unclosed", "[unclosed", "*a"] {
            #expect(throws: LinearRegex.Unsupported.self, "\(pattern)") { try LinearRegex(pattern) }
        }
    }
}
