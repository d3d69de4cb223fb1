import Foundation

/// Dates and URL encodings of the S3 and query protocols, by hand: no formatter state is shared
/// between threads, and these run for every listed object.
enum WireFormats {
    private static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// (year, month 1-12, day, hour, minute, second) of a UTC epoch second (Howard Hinnant's civil_from_days).
    static func civil(_ seconds: Int64) -> (Int64, Int64, Int64, Int64, Int64, Int64, Int64) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, secondOfDay / 3600, secondOfDay % 3600 / 60, secondOfDay % 60, days)
    }

    static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    /// `2026-12-06T03:16:37.000Z` (S3's XML timestamps).
    static func iso8601(milliseconds: Int64) -> String {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let (y, mo, d, h, mi, s, _) = civil(seconds)
        return "\(pad(y, 4))-\(pad(mo, 2))-\(pad(d, 2))T\(pad(h, 2)):\(pad(mi, 2)):\(pad(s, 2)).\(pad(milliseconds - seconds * 1000, 3))Z"
    }

    /// `Sun, 06 Dec 2026 03:16:37 GMT` (RFC 7231 IMF-fixdate: Last-Modified, Date).
    static func httpDate(seconds: Int64) -> String {
        let (y, mo, d, h, mi, s, days) = civil(seconds)
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        return "\(weekday), \(pad(d, 2)) \(months[Int(mo - 1)]) \(pad(y, 4)) \(pad(h, 2)):\(pad(mi, 2)):\(pad(s, 2)) GMT"
    }

    /// Parses IMF-fixdate (`Sun, 06 Dec 2026 03:16:37 GMT`) and ISO 8601 (`2026-12-06T03:16:37Z`), to epoch seconds.
    static func parseDate(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let parts = trimmed.split(separator: " ")
        if parts.count == 6, let day = Int64(parts[1]), let monthIndex = months.firstIndex(of: String(parts[2])),
            let year = Int64(parts[3])
        {
            let time = parts[4].split(separator: ":").compactMap { Int64($0) }
            guard time.count == 3 else { return nil }
            return daysFromCivil(year, Int64(monthIndex + 1), day) * 86_400 + time[0] * 3600 + time[1] * 60 + time[2]
        }
        let bytes = Array(trimmed.utf8)
        if bytes.count >= 19, bytes[4] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T") {
            func number(_ range: Range<Int>) -> Int64? { Int64(String(decoding: bytes[range], as: UTF8.self)) }
            guard let y = number(0..<4), let mo = number(5..<7), let d = number(8..<10), let h = number(11..<13),
                let mi = number(14..<16), let s = number(17..<19)
            else { return nil }
            return daysFromCivil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s
        }
        return nil
    }

    /// Percent-decoding of a URL path or query part; nil for malformed escapes or invalid UTF-8.
    static func percentDecode(_ text: Substring, plusIsSpace: Bool = false) -> String? {
        if !text.utf8.contains(UInt8(ascii: "%")) && !(plusIsSpace && text.utf8.contains(UInt8(ascii: "+"))) {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            } else if plusIsSpace && byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` when kept),
    /// as SigV4 canonicalises and as S3's `encoding-type=url` encodes keys.
    static func uriEncode(_ text: String, keepingSlashes: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var encoded: [UInt8] = []
        encoded.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            let unreserved = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E || byte == 0x7E
            if unreserved || (keepingSlashes && byte == UInt8(ascii: "/")) {
                encoded.append(byte)
            } else {
                encoded.append(UInt8(ascii: "%"))
                encoded.append(hex[Int(byte >> 4)])
                encoded.append(hex[Int(byte & 0xF)])
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// `a=1&b&c=%20` as ordered (name, value) pairs, decoded; nil names/values are skipped when malformed.
    static func parseQuery(_ query: String?, plusIsSpace: Bool = false) -> [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        var pairs: [(name: String, value: String)] = []
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let halves = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(halves[0], plusIsSpace: plusIsSpace) else { continue }
            let value = halves.count > 1 ? percentDecode(halves[1], plusIsSpace: plusIsSpace) ?? "" : ""
            pairs.append((name, value))
        }
        return pairs
    }
}
