import Foundation

/// Docker's timestamps: RFC 3339 with up to nanoseconds ("2024-05-07T21:09:36.123456789Z"),
/// on every log line and in inspect's StartedAt/FinishedAt.
///
/// Parsed by hand: it runs once per log line, and Foundation's ISO 8601 parsers are both slower
/// and, depending on the platform, stop at milliseconds.
enum RFC3339 {
    /// Parses a whole timestamp; nil if `bytes` is anything else. Go's zero time (year 1,
    /// "0001-01-01T00:00:00Z", what the engine reports for "never") is nil too.
    static func parse(_ bytes: some Collection<UInt8>) -> Date? {
        var iterator = bytes.makeIterator()
        var consumed = 0
        func next() -> UInt8? {
            consumed += 1
            return iterator.next()
        }
        func digits(_ count: Int) -> Int? {
            var value = 0
            for _ in 0..<count {
                guard let c = next(), c >= 0x30, c <= 0x39 else { return nil }
                value = value * 10 + Int(c - 0x30)
            }
            return value
        }
        func expect(_ byte: UInt8) -> Bool { next() == byte }

        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2) else {
            return nil
        }
        guard let separator = next(), separator == 0x54 || separator == 0x74 || separator == 0x20 else { return nil }
        guard let hour = digits(2), expect(0x3A), let minute = digits(2), expect(0x3A), let second = digits(2) else {
            return nil
        }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60 else { return nil }

        var nanoseconds = 0
        var c = next()
        if c == 0x2E {  // '.' fraction: keep nine digits, ignore any beyond
            var scale = 100_000_000
            var sawDigit = false
            c = next()
            while let d = c, d >= 0x30, d <= 0x39 {
                sawDigit = true
                nanoseconds += Int(d - 0x30) * scale
                scale /= 10
                c = next()
            }
            guard sawDigit else { return nil }
        }
        var offsetSeconds = 0
        switch c {
        case 0x5A, 0x7A:  // 'Z'
            break
        case 0x2B, 0x2D:  // '+' / '-'
            guard let offsetHour = digits(2), expect(0x3A), let offsetMinute = digits(2) else { return nil }
            offsetSeconds = (offsetHour * 3600 + offsetMinute * 60) * (c == 0x2D ? -1 : 1)
        default:
            return nil
        }
        guard next() == nil else { return nil }
        if year <= 1 { return nil }

        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9)
    }

    static func parse(_ text: String) -> Date? {
        parse(Array(text.utf8))
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The engine's `since`/`until` form: Unix seconds with a nine-digit fraction.
    ///
    /// A `Date` holds a line's nanosecond timestamp only to about 0.2 µs today, and rounding can
    /// land just after the true time (measured: 1 in 8 with a plain round-down), which would make
    /// the engine's inclusive `since` drop the very line whose timestamp was passed back. So step
    /// one microsecond back, then round down to the microsecond: never after the true time, at
    /// most about 2 µs before it.
    static func unixTimestamp(_ date: Date) -> String {
        let microseconds = Int64((date.timeIntervalSince1970 * 1_000_000 - 1).rounded(.down))
        var seconds = microseconds / 1_000_000
        var fraction = microseconds % 1_000_000
        if fraction < 0 {
            seconds -= 1
            fraction += 1_000_000
        }
        let padded = String(fraction * 1000)
        return "\(seconds)." + String(repeating: "0", count: 9 - padded.count) + padded
    }
}
