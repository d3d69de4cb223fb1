import Testing

@testable import SageMakerAPI

@Suite("JavaPattern")
struct JavaPatternTests {
    @Test("Java-only classes are rewritten to ASCII ranges")
    func translation() {
        #expect(JavaPattern.translate(#"arn:[\p{Alnum}\-]+:x"#) == #"arn:[a-zA-Z0-9\-]+:x"#)
        #expect(JavaPattern.translate(#"\p{Alpha}\P{Digit}"#) == "[a-zA-Z][^0-9]")
        #expect(JavaPattern.translate(#"\d{12}"#) == "[0-9]{12}")
        #expect(JavaPattern.translate(#"[\d\-]"#) == #"[0-9\-]"#)
        #expect(JavaPattern.translate(#"[\S\s]*"#) == #"[\S \t\n\x0B\f\r]*"#)
        #expect(JavaPattern.translate(#"\w+(?:-\w+)+"#) == "[a-zA-Z_0-9]+(?:-[a-zA-Z_0-9]+)+")
        #expect(JavaPattern.translate(#"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"#) == #"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"#)
        #expect(JavaPattern.translate(#"a\\d"#) == #"a\\d"#)
    }

    @Test("answers remembered for repeated values are the engine's, past the memo's limit too; non-ASCII values are not remembered")
    func repeatedValues() throws {
        let pattern = #"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"#
        let remembering = try #require(JavaPattern(pattern))
        let values = (0..<600).map { index in
            index.isMultiple(of: 3) ? "arn:aws:iam::12345678901\(index % 10):role/r\(index)" : "arn:aws:iam::1234:role/r\(index)"
        }
        for round in 0..<2 {
            for value in values {
                // A fresh pattern has remembered nothing: its answer is the engine's.
                #expect(remembering.wholeMatches(value) == JavaPattern(pattern)!.wholeMatches(value), "round \(round): \(value)")
            }
        }
        // "é" precomposed and decomposed are equal Strings but differ as scalars.
        let scalars = try #require(JavaPattern(#"[a-z\u00e9]+"#))
        #expect(scalars.wholeMatches("caf\u{E9}"))
        #expect(!scalars.wholeMatches("cafe\u{301}"))
        #expect(scalars.wholeMatches("caf\u{E9}"))
    }

    @Test("whole-value matching with backtracking, like Java's matches()")
    func wholeMatch() throws {
        let s3 = try #require(JavaPattern("(https|s3)://([^/]+)/?(.*)"))
        #expect(s3.engine == .foundation)
        #expect(s3.wholeMatches("s3://b/k"))
        #expect(!s3.wholeMatches("xs3://b/k"))
        #expect(!s3.wholeMatches("s3://"))
        let name = try #require(JavaPattern("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"))
        #expect(name.wholeMatches("a--b"))
        #expect(!name.wholeMatches("a-"))
        #expect(!name.wholeMatches("-a"))
        #expect(!name.wholeMatches("a b"))
        #expect(!name.wholeMatches("a\n"))
    }

    @Test("the resource-name shortcut decides exactly as the regular expression engine")
    func resourceNameShortcut() throws {
        let shortcut = try #require(JavaPattern("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"))
        // The same language spelled differently, so that ICU decides it.
        let engine = try #require(JavaPattern("(?:[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})"))
        let samples = [
            "", "a", "A9", "-", "a-", "-a", "a--b", "a-b-c", "a_b", "a b", "a\n", "é", "aé", "a.b",
            String(repeating: "x", count: 63), String(repeating: "x", count: 64),
            String(repeating: "x-", count: 62) + "x", String(repeating: "x-", count: 63) + "x",
            "job-" + String(repeating: "-", count: 100) + "z", "\u{0}", "ａ",
        ]
        for sample in samples {
            #expect(shortcut.wholeMatches(sample) == engine.wholeMatches(sample), "\(sample.debugDescription)")
        }
        #expect(shortcut.wholeMatches(String(repeating: "x", count: 63)))
        #expect(!shortcut.wholeMatches(String(repeating: "x", count: 64)))
    }

    @Test("\\p{Alnum} is ASCII-only, as in Java")
    func posixAlnum() throws {
        let lambda = try #require(JavaPattern(#"arn:[\p{Alnum}\-]+:lambda:[\p{Alnum}\-]+:[0-9]{12}:function:.*"#))
        #expect(lambda.wholeMatches("arn:aws:lambda:us-east-1:123456789012:function:f"))
        #expect(!lambda.wholeMatches("arn:awsé:lambda:us-east-1:123456789012:function:f"))
    }

    @Test("lookbehind falls back to NSRegularExpression, anchored at both ends")
    func lookbehind() throws {
        let pattern = try #require(JavaPattern(#"([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)"#))
        #expect(pattern.engine == .foundation)
        #expect(pattern.wholeMatches("abc"))
        #expect(!pattern.wholeMatches("abc-"))
        #expect(!pattern.wholeMatches("abc\n"))
        #expect(!pattern.wholeMatches("ab c"))
    }

    @Test("a pattern neither engine compiles")
    func uncompilable() {
        #expect(JavaPattern("(unclosed") == nil)
    }
}
