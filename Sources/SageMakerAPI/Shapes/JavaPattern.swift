import Foundation
import Synchronization

/// A botocore `pattern` (a Java regular expression, as the service itself runs it) compiled for
/// whole-value matching, like Java's `Pattern.matcher(value).matches()`.
///
/// Compiled with `NSRegularExpression` (ICU) where it can be, else with Swift `Regex`; the
/// generator (`scripts/codegen/generate_shapes.py`) checks every pattern of the model with this
/// very file and lists the ones that need the fallback or that neither engine compiles.
///
/// Java semantics kept:
/// - matching works on Unicode scalars (Java code points), not grapheme clusters;
/// - `\d`, `\w`, `\s` (and negations) are ASCII-only, as in Java without
///   `UNICODE_CHARACTER_CLASS`;
/// - POSIX classes `\p{Alnum}`, `\p{Alpha}`, ... are ASCII-only, as in Java (they are rewritten
///   to explicit ranges, since Swift and ICU read them as Unicode properties);
/// - `.` does not match line terminators. (Java's `.` matches U+000B and U+000C, Swift's does
///   not; the shortcut for `.*`/`.+` follows Java exactly, other patterns with `.` do not.)
///
/// Instances are immutable after `init` and both engines are safe to match from several threads
/// at once (a Swift `Regex` is a value whose lowered program is published atomically;
/// `NSRegularExpression` is documented as immutable and thread-safe), hence `@unchecked`.
struct JavaPattern: @unchecked Sendable {
    /// Which engine compiled the pattern.
    enum Engine: String, Sendable {
        case swiftRegex = "Swift Regex"
        case foundation = "NSRegularExpression"
    }

    /// The model's pattern text, unchanged.
    let source: String
    /// The engine in use.
    let engine: Engine

    private let swiftRegex: Regex<AnyRegexOutput>?
    private let foundationRegex: NSRegularExpression?
    private let shortcut: Shortcut?
    /// The answers for values matched lately through an engine: a test suite's requests repeat
    /// their RoleArn, TrainingImage and S3 URIs job after job, and an ICU match costs 1–2 µs.
    private let recent = RecentMatches()

    /// At most `limit` values (emptied when full), each at most `longestValue` bytes: bounded
    /// memory whatever the requests hold. ASCII values only: `String` keys compare by canonical
    /// equivalence, and a precomposed "é" and "e" + U+0301 are equal keys but not equal to a
    /// pattern that matches scalars.
    private final class RecentMatches: Sendable {
        static let limit = 256
        static let longestValue = 512
        private let answers = Mutex<[String: Bool]>([:])

        func answer(for value: String, _ match: () -> Bool) -> Bool {
            guard value.utf8.count <= Self.longestValue, value.utf8.allSatisfy({ $0 < 0x80 }) else { return match() }
            if let known = answers.withLock({ $0[value] }) { return known }
            let matched = match()
            answers.withLock { answers in
                if answers.count >= Self.limit { answers.removeAll(keepingCapacity: true) }
                answers[value] = matched
            }
            return matched
        }
    }

    /// Patterns that are common in the model (`.*` alone is on 9 of the 192 shapes, on every
    /// hyperparameter key and value) and cheap to decide without an engine: a Swift Regex match
    /// costs 1–13 µs, which added up to most of a CreateTrainingJob validation.
    private enum Shortcut {
        /// `[\S\s]*`: any string.
        case anything
        /// `.*` / `.+`: no Java line terminator (`\n`, `\r`, U+0085, U+2028, U+2029; Java's
        /// `.` without DOTALL matches everything else).
        case noLineTerminator(allowsEmpty: Bool)
        /// `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`: SageMaker's resource names (TrainingJobName among
        /// them, checked on every Describe): ASCII letters, digits and hyphens, starting and ending
        /// with a letter or digit, at most 63 letters and digits. ICU took ~2 µs per match here.
        case resourceName

        init?(_ pattern: String) {
            switch pattern {
            case #"[\S\s]*"#, #"[\s\S]*"#: self = .anything
            case ".*": self = .noLineTerminator(allowsEmpty: true)
            case ".+": self = .noLineTerminator(allowsEmpty: false)
            case "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}": self = .resourceName
            default: return nil
            }
        }

        func matches(_ value: String) -> Bool {
            switch self {
            case .anything:
                return true
            case .noLineTerminator(let allowsEmpty):
                if value.isEmpty { return allowsEmpty }
                return !value.unicodeScalars.contains { scalar in
                    switch scalar.value {
                    case 0x0A, 0x0D, 0x85, 0x2028, 0x2029: true
                    default: false
                    }
                }
            case .resourceName:
                let isAlphanumeric: (UInt8) -> Bool = { byte in
                    (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                }
                let bytes = value.utf8
                guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else {
                    return false
                }
                var alphanumerics = 0
                for byte in bytes {
                    if isAlphanumeric(byte) {
                        alphanumerics += 1
                    } else if byte != UInt8(ascii: "-") {
                        return false
                    }
                }
                return alphanumerics <= 63
            }
        }
    }

    /// Compiles `source`; `nil` when neither engine accepts it.
    init?(_ source: String) {
        self.source = source
        self.shortcut = Shortcut(source)
        let translated = Self.translate(source)
        // ICU first: its matcher is about 5x faster than Swift Regex on the model's patterns
        // (1.5 µs vs 7-16 µs for TrainingJobName, measured in a release build), and like Java it
        // matches code points over UTF-16. Swift Regex remains for what ICU cannot compile.
        if let regex = try? NSRegularExpression(pattern: "\\A(?:" + translated + ")\\z") {
            // \A and \z, not ^ and $: ICU's $ also matches before a final line terminator.
            swiftRegex = nil
            foundationRegex = regex
            engine = .foundation
        } else if let regex = try? Regex(translated) {
            swiftRegex = regex.matchingSemantics(.unicodeScalar)
                .asciiOnlyDigits()
                .asciiOnlyWordCharacters()
                .asciiOnlyWhitespace()
            foundationRegex = nil
            engine = .swiftRegex
        } else {
            return nil
        }
    }

    /// Whether the pattern matches all of `value`.
    func wholeMatches(_ value: String) -> Bool {
        if let shortcut {
            return shortcut.matches(value)
        }
        return recent.answer(for: value) {
            if let swiftRegex {
                return (try? swiftRegex.wholeMatch(in: value)) != nil
            }
            guard let foundationRegex else { return true }
            let range = NSRange(location: 0, length: value.utf16.count)
            return foundationRegex.firstMatch(in: value, options: [], range: range) != nil
        }
    }

    // MARK: Java → Swift/ICU syntax

    /// Java's POSIX character classes (ASCII-only in Java) as explicit ranges to put inside a
    /// bracket expression.
    private static let posixClasses: [String: String] = [
        "Lower": "a-z",
        "Upper": "A-Z",
        "ASCII": "\\x00-\\x7F",
        "Alpha": "a-zA-Z",
        "Digit": "0-9",
        "Alnum": "a-zA-Z0-9",
        "Punct": "\\x21-\\x2F\\x3A-\\x40\\x5B-\\x60\\x7B-\\x7E",
        "Graph": "\\x21-\\x7E",
        "Print": "\\x20-\\x7E",
        "Blank": " \\t",
        "Cntrl": "\\x00-\\x1F\\x7F",
        "XDigit": "0-9a-fA-F",
        "Space": " \\t\\n\\x0B\\f\\r",
    ]

    /// ASCII forms of Java's predefined classes; the Swift engine also gets the ASCII-only
    /// options, so this matters for the ICU fallback, which has no such option.
    private static let predefinedClasses: [Character: String] = [
        "d": "0-9",
        "w": "a-zA-Z_0-9",
        "s": " \\t\\n\\x0B\\f\\r",
    ]

    /// Rewrites the Java-only parts of `pattern`: POSIX classes `\p{Alnum}` etc., and `\d`, `\w`,
    /// `\s`, `\D`, `\W`, `\S` to ASCII ranges. Inside a bracket expression only the positive
    /// forms can be spliced in; negated ones stay for the engine (ASCII-only via Swift options).
    static func translate(_ pattern: String) -> String {
        var output = ""
        var characters = pattern[...]
        var classDepth = 0
        while let character = characters.popFirst() {
            if character == "\\", let next = characters.popFirst() {
                if next == "p" || next == "P", characters.first == "{",
                    let close = characters.firstIndex(of: "}")
                {
                    let name = String(characters[characters.index(after: characters.startIndex)..<close])
                    let negated = next == "P"
                    // A negated POSIX class inside brackets cannot be spliced in; it stays for
                    // the engine (no model pattern has one).
                    if let ranges = posixClasses[name], classDepth == 0 || !negated {
                        characters = characters[characters.index(after: close)...]
                        if classDepth == 0 {
                            output += (negated ? "[^" : "[") + ranges + "]"
                        } else {
                            output += ranges
                        }
                        continue
                    }
                }
                let lower = Character(next.lowercased())
                if let ranges = predefinedClasses[lower] {
                    let negated = next != lower
                    if classDepth == 0 {
                        output += (negated ? "[^" : "[") + ranges + "]"
                        continue
                    } else if !negated {
                        output += ranges
                        continue
                    }
                }
                output.append(character)
                output.append(next)
                continue
            }
            if character == "[" {
                classDepth += 1
            } else if character == "]", classDepth > 0 {
                classDepth -= 1
            }
            output.append(character)
        }
        return output
    }
}
