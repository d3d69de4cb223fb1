import Foundation
import TrainingCore

extension Timestamp {
    /// AWS JSON 1.1 timestamps are epoch seconds as JSON numbers; SageMaker sends fractional
    /// seconds (e.g. `1.747418250603E9`; reference api-fidelity §1).
    var wireValue: JSONValue {
        milliseconds % 1000 == 0 ? .int(milliseconds / 1000) : .double(Double(milliseconds) / 1000)
    }

    /// Appends the JSON text of ``wireValue`` without making a `Double` and its description:
    /// whole seconds, then up to three decimals without trailing zeros. For 0 ≤ t < 10^15 ms that
    /// is exactly the shortest round-trip text Swift prints for `Double(ms) / 1000` (no shorter
    /// decimal lies closer to it than its neighbours at 1 ms apart); other values take the
    /// `Double` route.
    func writeWireValue(into bytes: inout [UInt8]) {
        guard milliseconds >= 0, milliseconds < 1_000_000_000_000_000 else {
            wireValue.write(into: &bytes)
            return
        }
        JSONValue.int(milliseconds / 1000).write(into: &bytes)
        var fraction = milliseconds % 1000
        guard fraction != 0 else { return }
        bytes.append(UInt8(ascii: "."))
        var divisor: Int64 = 100
        while fraction != 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / divisor))
            fraction %= divisor
            divisor /= 10
        }
    }

    /// A request timestamp: epoch seconds (whole, as botocore sends them, or fractional), or an
    /// ISO-8601 string. Values beyond any real date are clamped rather than overflowing.
    init?(wire value: JSONValue) {
        let limit = 9.0e12  // epoch seconds, far beyond year 200000
        switch value {
        case .int(let seconds):
            self.init(epochSeconds: max(min(Double(seconds), limit), -limit))
        case .double(let seconds) where seconds.isFinite:
            self.init(epochSeconds: max(min(seconds, limit), -limit))
        case .string(let text):
            let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
            guard let date = (try? Date(text, strategy: withFraction)) ?? (try? Date(text, strategy: .iso8601)) else {
                return nil
            }
            self.init(epochSeconds: date.timeIntervalSince1970)
        default:
            return nil
        }
    }
}
