/// A regular-expression matcher whose cost is linear in the input (a Pike VM: Thompson's NFA
/// simulation with capture slots), for `MetricDefinitions` (issue 12 item 4).
///
/// A backtracking engine (Swift Regex, Java's) takes exponential time on patterns such as
/// `(a+)+$`: one job's metric definition over a 21-character line held the scheduler for 62 s.
/// Here every input position is visited once with at most one thread per instruction, so a line
/// costs O(length × pattern size), and `budget` bounds the total. Matching follows leftmost-first
/// priority (greedy and lazy quantifiers, ordered alternation), so the first capture group is
/// the one Java's `Matcher.find()` reports for the patterns supported.
///
/// Supported: literals, `.`, classes `[...]` with ranges and `\d\w\s` (and negations), anchors
/// `^ $ \A \z \Z \b \B`, groups `(...)`, `(?:...)`, `(?<name>...)`, alternation, quantifiers
/// `* + ? {n} {n,} {n,m}` (greedy, lazy `?`, possessive `+` treated as greedy), escapes
/// `\t \n \r \f \e \a \0 \xhh \uhhhh`. Back-references, look-around, inline flags and Unicode
/// properties are refused (`Unsupported`): they cannot run in linear time or are not worth it.
public struct LinearRegex: Sendable {
    public struct Unsupported: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// The work allowed was used up before the matcher finished.
    public struct BudgetExceeded: Error {
        public init() {}
    }

    /// Largest compiled program; `{n,m}` copies its operand, so `(a{1000}){1000}` is refused.
    public static let maximumProgramSize = 20_000

    fileprivate struct CharacterSet: Sendable {
        enum Item: Sendable {
            case range(UInt32, UInt32)
            case builtin(Builtin, negated: Bool)
        }
        enum Builtin: Sendable { case digit, word, space }
        var items: [Item]
        var negated: Bool

        func contains(_ c: UInt32) -> Bool {
            var found = false
            for item in items {
                switch item {
                case .range(let low, let high): found = c >= low && c <= high
                case .builtin(let builtin, let negated): found = builtin.contains(c) != negated
                }
                if found { break }
            }
            return found != negated
        }
    }

    fileprivate enum Assertion: Sendable { case start, end, wordBoundary, notWordBoundary }

    fileprivate indirect enum Node {
        case empty
        case set(CharacterSet)
        case any
        case concat([Node])
        case alternation([Node])
        case capture(Node, index: Int)
        case repetition(Node, min: Int, max: Int?, greedy: Bool)
        case assertion(Assertion)
    }

    fileprivate enum Instruction: Sendable {
        case set(CharacterSet)
        case any
        case split(Int, Int)
        case jump(Int)
        case save(Int)
        case assert(Assertion)
        case match
    }

    private let program: [Instruction]
    /// Capturing groups, not counting the whole match.
    let groupCount: Int

    public init(_ pattern: String) throws(Unsupported) {
        var parser = Parser(Array(pattern.unicodeScalars.map(\.value)))
        let node = try parser.parseAll()
        groupCount = parser.groupCount
        var compiler = Compiler()
        try compiler.emit(node)
        compiler.program.append(.match)
        program = compiler.program
    }

    /// The text of the first capture group of the leftmost match (nil when there is no match or
    /// the group did not take part). Each thread step costs one unit of `budget`.
    public func firstMatchGroup1(in text: String, budget: inout Int) throws(BudgetExceeded) -> String? {
        let input = Array(text.unicodeScalars)
        guard let slots = try run(input.map(\.value), budget: &budget) else { return nil }
        guard groupCount >= 1, slots[2] >= 0, slots[3] >= slots[2] else { return nil }
        var result = String.UnicodeScalarView()
        result.append(contentsOf: input[slots[2]..<slots[3]])
        return String(result)
    }

    /// Whether the pattern matches somewhere in `text`.
    public func matches(_ text: String, budget: inout Int) throws(BudgetExceeded) -> Bool {
        try run(Array(text.unicodeScalars.map(\.value)), budget: &budget) != nil
    }

    private struct Thread {
        var pc: Int
        var slots: [Int]
    }

    private func run(_ input: [UInt32], budget: inout Int) throws(BudgetExceeded) -> [Int]? {
        let slotCount = 2 * (groupCount + 1)
        var current: [Thread] = []
        var next: [Thread] = []
        // Generation marks: an instruction is added at most once per input position.
        var marks = [Int](repeating: -1, count: program.count)
        var matched: [Int]?
        var generation = 0
        for position in 0...input.count {
            if matched == nil {
                // The lowest-priority thread: a match starting here (unanchored search).
                var slots = [Int](repeating: -1, count: slotCount)
                slots[0] = position
                try add(&current, Thread(pc: 0, slots: slots), at: position, input, &marks, generation, &budget)
            }
            if current.isEmpty {
                // No thread alive: done once a match is known, else try the next start.
                if matched != nil { break }
                generation += 1
                continue
            }
            generation += 1
            next.removeAll(keepingCapacity: true)
            for thread in current {
                budget -= 1
                if budget < 0 { throw BudgetExceeded() }
                switch program[thread.pc] {
                case .set(let set):
                    if position < input.count, set.contains(input[position]) {
                        try add(&next, Thread(pc: thread.pc + 1, slots: thread.slots), at: position + 1, input, &marks, generation, &budget)
                    }
                case .any:
                    if position < input.count, input[position] != 0x0A {
                        try add(&next, Thread(pc: thread.pc + 1, slots: thread.slots), at: position + 1, input, &marks, generation, &budget)
                    }
                case .match:
                    var slots = thread.slots
                    slots[1] = position
                    matched = slots
                    // Threads after this one have lower priority: drop them.
                    break
                default:
                    break
                }
                if case .match = program[thread.pc] { break }
            }
            swap(&current, &next)
        }
        return matched
    }

    /// Follows jumps, splits, saves and assertions from `thread` (its epsilon closure) and adds
    /// the threads that wait for a character or match, in priority order.
    private func add(
        _ list: inout [Thread], _ thread: Thread, at position: Int, _ input: [UInt32], _ marks: inout [Int],
        _ generation: Int, _ budget: inout Int
    ) throws(BudgetExceeded) {
        var stack = [thread]
        while var thread = stack.popLast() {
            budget -= 1
            if budget < 0 { throw BudgetExceeded() }
            if marks[thread.pc] == generation { continue }
            marks[thread.pc] = generation
            switch program[thread.pc] {
            case .jump(let target):
                thread.pc = target
                stack.append(thread)
            case .split(let first, let second):
                // Pushed in reverse: the first branch is explored first (higher priority).
                stack.append(Thread(pc: second, slots: thread.slots))
                thread.pc = first
                stack.append(thread)
            case .save(let slot):
                thread.slots[slot] = position
                thread.pc += 1
                stack.append(thread)
            case .assert(let assertion):
                if Self.holds(assertion, at: position, input) {
                    thread.pc += 1
                    stack.append(thread)
                }
            default:
                list.append(thread)
            }
        }
    }

    private static func isWord(_ c: UInt32) -> Bool { CharacterSet.Builtin.word.contains(c) }

    private static func holds(_ assertion: Assertion, at position: Int, _ input: [UInt32]) -> Bool {
        switch assertion {
        case .start: return position == 0
        // Java's `$` without MULTILINE: the end, or before a line terminator that ends the input.
        case .end: return position == input.count || (position == input.count - 1 && input[position] == 0x0A)
        case .wordBoundary, .notWordBoundary:
            let before = position > 0 && isWord(input[position - 1])
            let after = position < input.count && isWord(input[position])
            return (before != after) == (assertion == .wordBoundary)
        }
    }

    // MARK: Parsing

    private struct Parser {
        let pattern: [UInt32]
        var index = 0
        var groupCount = 0

        init(_ pattern: [UInt32]) { self.pattern = pattern }

        var atEnd: Bool { index >= pattern.count }
        func peek(_ offset: Int = 0) -> UInt32? { index + offset < pattern.count ? pattern[index + offset] : nil }
        func isChar(_ c: Character, _ offset: Int = 0) -> Bool { peek(offset) == c.unicodeScalars.first!.value }

        mutating func parseAll() throws(Unsupported) -> Node {
            let node = try parseAlternation()
            guard atEnd else { throw Unsupported(description: "unbalanced ')' at \(index)") }
            return node
        }

        mutating func parseAlternation() throws(Unsupported) -> Node {
            var branches = [try parseConcatenation()]
            while isChar("|") {
                index += 1
                branches.append(try parseConcatenation())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func parseConcatenation() throws(Unsupported) -> Node {
            var items: [Node] = []
            while !atEnd && !isChar("|") && !isChar(")") {
                items.append(try parseRepetition())
            }
            return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concat(items))
        }

        mutating func parseRepetition() throws(Unsupported) -> Node {
            var node = try parseAtom()
            while let c = peek() {
                var bounds: (Int, Int?)
                switch c {
                case 0x2A: bounds = (0, nil); index += 1  // *
                case 0x2B: bounds = (1, nil); index += 1  // +
                case 0x3F: bounds = (0, 1); index += 1  // ?
                case 0x7B:  // {
                    guard let counted = try parseCount() else { return node }
                    bounds = counted
                default: return node
                }
                var greedy = true
                if isChar("?") {
                    greedy = false
                    index += 1
                } else if isChar("+") {
                    index += 1  // possessive: treated as greedy
                }
                if case .assertion = node { throw Unsupported(description: "quantified assertion") }
                node = .repetition(node, min: bounds.0, max: bounds.1, greedy: greedy)
            }
            return node
        }

        /// `{n}`, `{n,}`, `{n,m}`; nil (and nothing consumed) when the brace is not a quantifier.
        mutating func parseCount() throws(Unsupported) -> (Int, Int?)? {
            let start = index
            index += 1
            func number(_ parser: inout Parser) -> Int? {
                var value: Int?
                while let c = parser.peek(), c >= 0x30 && c <= 0x39 {
                    value = (value ?? 0) * 10 + Int(c - 0x30)
                    if value! > 1000 { return 1001 }
                    parser.index += 1
                }
                return value
            }
            guard let low = number(&self) else {
                index = start
                return nil
            }
            var high: Int? = low
            if isChar(",") {
                index += 1
                high = number(&self)
            }
            guard isChar("}") else {
                index = start
                return nil
            }
            index += 1
            if low > 1000 || (high ?? 0) > 1000 { throw Unsupported(description: "repetition count above 1000") }
            if let high, high < low { throw Unsupported(description: "repetition {\(low),\(high)}") }
            return (low, high)
        }

        mutating func parseAtom() throws(Unsupported) -> Node {
            guard let c = peek() else { return .empty }
            index += 1
            switch c {
            case 0x28:  // (
                var captureIndex: Int?
                if isChar("?") {
                    if isChar(":", 1) {
                        index += 2
                    } else if isChar("<", 1), let letter = peek(2), Self.isLetter(letter) {
                        index += 2
                        while let n = peek(), n != 0x3E { index += 1 }  // the name, up to '>'
                        guard !atEnd else { throw Unsupported(description: "unterminated group name") }
                        index += 1
                        groupCount += 1
                        captureIndex = groupCount
                    } else {
                        throw Unsupported(description: "look-around, inline flags and special groups")
                    }
                } else {
                    groupCount += 1
                    captureIndex = groupCount
                }
                let inner = try parseAlternation()
                guard isChar(")") else { throw Unsupported(description: "missing ')'") }
                index += 1
                return captureIndex.map { .capture(inner, index: $0) } ?? inner
            case 0x5B: return .set(try parseClass())  // [
            case 0x2E: return .any  // .
            case 0x5E: return .assertion(.start)  // ^
            case 0x24: return .assertion(.end)  // $
            case 0x5C: return try parseEscape(inClass: false)  // backslash
            case 0x2A, 0x2B, 0x3F: throw Unsupported(description: "dangling quantifier")
            default: return .set(CharacterSet(items: [.range(c, c)], negated: false))
            }
        }

        static func isLetter(_ c: UInt32) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }

        /// After a backslash. In a class, only characters and `\d\w\s` (and negations) make sense.
        mutating func parseEscape(inClass: Bool) throws(Unsupported) -> Node {
            guard let c = peek() else { throw Unsupported(description: "trailing backslash") }
            index += 1
            func literal(_ value: UInt32) -> Node { .set(CharacterSet(items: [.range(value, value)], negated: false)) }
            func builtin(_ b: CharacterSet.Builtin, _ negated: Bool) -> Node {
                .set(CharacterSet(items: [.builtin(b, negated: negated)], negated: false))
            }
            switch Character(Unicode.Scalar(c)!) {
            case "d": return builtin(.digit, false)
            case "D": return builtin(.digit, true)
            case "w": return builtin(.word, false)
            case "W": return builtin(.word, true)
            case "s": return builtin(.space, false)
            case "S": return builtin(.space, true)
            case "t": return literal(0x09)
            case "n": return literal(0x0A)
            case "r": return literal(0x0D)
            case "f": return literal(0x0C)
            case "e": return literal(0x1B)
            case "a": return literal(0x07)
            case "0": return literal(0)
            case "x": return literal(try hex(digits: 2))
            case "u": return literal(try hex(digits: 4))
            case "b" where !inClass: return .assertion(.wordBoundary)
            case "B" where !inClass: return .assertion(.notWordBoundary)
            case "A" where !inClass: return .assertion(.start)
            case "z" where !inClass, "Z" where !inClass: return .assertion(.end)
            default:
                if Self.isLetter(c) || (c >= 0x31 && c <= 0x39) {
                    throw Unsupported(description: "escape \\\(Character(Unicode.Scalar(c)!)) (back-references, properties, quoting)")
                }
                return literal(c)  // an escaped punctuation character stands for itself
            }
        }

        mutating func hex(digits: Int) throws(Unsupported) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<digits {
                guard let c = peek(), let digit = Int(String(Character(Unicode.Scalar(c)!)), radix: 16) else {
                    throw Unsupported(description: "bad hexadecimal escape")
                }
                value = value * 16 + UInt32(digit)
                index += 1
            }
            return value
        }

        mutating func parseClass() throws(Unsupported) -> CharacterSet {
            var set = CharacterSet(items: [], negated: false)
            if isChar("^") {
                set.negated = true
                index += 1
            }
            var first = true
            while true {
                guard let c = peek() else { throw Unsupported(description: "missing ']'") }
                if c == 0x5D && !first {
                    index += 1
                    return set
                }
                first = false
                if c == 0x5B { throw Unsupported(description: "nested classes and intersections") }
                index += 1
                var low = c
                if c == 0x5C {
                    guard case .set(let escaped) = try parseEscape(inClass: true) else {
                        throw Unsupported(description: "assertion in a class")
                    }
                    if case .range(let value, _)? = escaped.items.first, escaped.items.count == 1, case .range = escaped.items[0] {
                        low = value
                    } else {
                        set.items.append(contentsOf: escaped.items)
                        continue
                    }
                }
                // A range `a-z` (a '-' before ']' is literal).
                if isChar("-"), let after = peek(1), after != 0x5D {
                    index += 1
                    var high = after
                    index += 1
                    if after == 0x5C {
                        guard case .set(let escaped) = try parseEscape(inClass: true), case .range(let value, _)? = escaped.items.first
                        else { throw Unsupported(description: "class range ending in a class") }
                        high = value
                    }
                    guard high >= low else { throw Unsupported(description: "reversed class range") }
                    set.items.append(.range(low, high))
                } else {
                    set.items.append(.range(low, low))
                }
            }
        }
    }

    // MARK: Compiling

    private struct Compiler {
        var program: [Instruction] = []

        mutating func emit(_ node: Node) throws(Unsupported) {
            guard program.count <= LinearRegex.maximumProgramSize else {
                throw Unsupported(description: "pattern too large once its repetitions are expanded")
            }
            switch node {
            case .empty: break
            case .set(let set): program.append(.set(set))
            case .any: program.append(.any)
            case .assertion(let assertion): program.append(.assert(assertion))
            case .concat(let items): for item in items { try emit(item) }
            case .capture(let inner, let index):
                program.append(.save(2 * index))
                try emit(inner)
                program.append(.save(2 * index + 1))
            case .alternation(let branches):
                var jumpsToEnd: [Int] = []
                for (offset, branch) in branches.enumerated() {
                    if offset < branches.count - 1 {
                        let split = program.count
                        program.append(.split(split + 1, -1))
                        try emit(branch)
                        jumpsToEnd.append(program.count)
                        program.append(.jump(-1))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        try emit(branch)
                    }
                }
                for jump in jumpsToEnd { program[jump] = .jump(program.count) }
            case .repetition(let inner, let min, let max, let greedy):
                for _ in 0..<min { try emit(inner) }
                if let max {
                    // Up to max - min optional copies, each skipping to the end when not taken.
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(program.count)
                        program.append(.split(-1, -1))
                        try emit(inner)
                    }
                    let end = program.count
                    for split in splits {
                        program[split] = greedy ? .split(split + 1, end) : .split(end, split + 1)
                    }
                } else {
                    let loop = program.count
                    program.append(.split(-1, -1))
                    try emit(inner)
                    program.append(.jump(loop))
                    let end = program.count
                    program[loop] = greedy ? .split(loop + 1, end) : .split(end, loop + 1)
                }
            }
            guard program.count <= LinearRegex.maximumProgramSize else {
                throw Unsupported(description: "pattern too large once its repetitions are expanded")
            }
        }
    }
}

extension LinearRegex.CharacterSet.Builtin {
    func contains(_ c: UInt32) -> Bool {
        switch self {
        case .digit: return c >= 0x30 && c <= 0x39
        case .word: return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
        case .space: return c == 0x20 || (c >= 0x09 && c <= 0x0D)
        }
    }
}
