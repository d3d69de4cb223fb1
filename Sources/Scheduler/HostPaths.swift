import Foundation

/// FailureReason is read by the job's owner, who has no business knowing where the server keeps
/// its files: engine errors quote the bind-mount sources (issue 12 item 10). Every path into a
/// job workspace (`.../workspaces/<job>/<host>/...`) becomes `<job workspace>/...`.
enum HostPaths {
    static func redacted(_ message: String) -> String {
        var result = ""
        var rest = Substring(message)
        while let marker = rest.range(of: "/workspaces/") {
            // The path starts at the last delimiter before the marker.
            let before = rest[..<marker.lowerBound]
            let start = before.lastIndex(where: { " \"'(:=,".contains($0) }).map { before.index(after: $0) } ?? before.startIndex
            result += rest[..<start]
            // Skip "<job>/<host>" after the marker.
            var tail = rest[marker.upperBound...]
            for _ in 0..<2 {
                guard let slash = tail.firstIndex(where: { "/ \"'".contains($0) }) else {
                    tail = tail[tail.endIndex...]
                    break
                }
                if tail[slash] != "/" {
                    tail = tail[slash...]
                    break
                }
                tail = tail[tail.index(after: slash)...]
            }
            result += "<job workspace>"
            if let first = tail.first, first != " ", first != "\"", first != "'" { result += "/" }
            rest = tail
        }
        return result + rest
    }
}
