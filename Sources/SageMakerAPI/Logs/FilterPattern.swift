/// A FilterLogEvents `filterPattern` for unstructured log events, in the subset Trainyard supports:
/// terms that must all appear in the message (`ERROR Exception`), each a case-sensitive substring,
/// and double-quoted phrases for terms with spaces or punctuation (`"disk full" ERROR`) — the
/// "Matching terms in unstructured log events" part of CloudWatch's filter pattern syntax
/// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
///
/// Not supported, and refused with InvalidParameterException rather than matched wrongly: `?term`
/// (any of) and `-term` (exclusion), regular expressions (`%…%`), JSON (`{ $.x = … }`) and
/// space-delimited (`[ip, user, …]`) patterns.
struct FilterPattern: Equatable {
    /// Every term must occur in the message.
    var terms: [String]

    init(_ text: String) throws(AWSServiceError) {
        var terms: [String] = []
        var characters = text[...]
        while let first = characters.first {
            if first.isWhitespace {
                characters.removeFirst()
                continue
            }
            if first == "\"" {
                characters.removeFirst()
                var phrase = ""
                var closed = false
                while let next = characters.popFirst() {
                    if next == "\\", let escaped = characters.first, escaped == "\"" || escaped == "\\" {
                        phrase.append(escaped)
                        characters.removeFirst()
                    } else if next == "\"" {
                        closed = true
                        break
                    } else {
                        phrase.append(next)
                    }
                }
                guard closed else { throw Self.invalid("a quoted term is not closed") }
                if !phrase.isEmpty { terms.append(phrase) }
                continue
            }
            if terms.isEmpty, ["{", "[", "%"].contains(first) {
                throw Self.unsupported(
                    "JSON, space-delimited and regular-expression patterns are not supported by Trainyard")
            }
            if first == "?" || first == "-" {
                throw Self.unsupported("?term (any of) and -term (exclusion) are not supported by Trainyard")
            }
            let term = characters.prefix { !$0.isWhitespace }
            characters.removeFirst(term.count)
            terms.append(String(term))
        }
        self.terms = terms
    }

    private static func invalid(_ reason: String) -> AWSServiceError {
        .invalidParameter("Invalid filter pattern: \(reason).")
    }

    private static func unsupported(_ reason: String) -> AWSServiceError {
        .invalidParameter(
            "Unsupported filter pattern: \(reason); use terms that must all appear, with \"quoted phrases\".")
    }
}
