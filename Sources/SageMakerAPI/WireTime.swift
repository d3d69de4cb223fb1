import Foundation
import TrainingCore

extension Timestamp {
    /// AWS JSON 1.1 timestamps are epoch seconds as JSON numbers; SageMaker sends fractional
    /// seconds (e.g. `1.747418250603E9`; reference api-fidelity §1).
    var wireValue: JSONValue {
        milliseconds % 1000 == 0 ? .int(milliseconds / 1000) : .double(Double(milliseconds) / 1000)
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
