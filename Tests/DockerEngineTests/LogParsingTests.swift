import ContainerRuntime
@testable import DockerEngine
import Foundation
import Testing

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test("nanoseconds, offsets, the zero time")
    func parse() throws {
        let base = 1_715_116_176.0  // 2024-05-07T21:09:36Z
        #expect(RFC3339.parse("2024-05-07T21:09:36Z") == Date(timeIntervalSince1970: base))
        let nanos = try #require(RFC3339.parse("2024-05-07T21:09:36.123456789Z"))
        #expect(abs(nanos.timeIntervalSince1970 - (base + 0.123456789)) < 1e-6)
        #expect(RFC3339.parse("2024-05-07T21:09:36.5Z") == Date(timeIntervalSince1970: base + 0.5))
        #expect(RFC3339.parse("2024-05-07T23:09:36+02:00") == Date(timeIntervalSince1970: base))
        #expect(RFC3339.parse("2024-05-07T20:39:36-00:30") == Date(timeIntervalSince1970: base))
        #expect(RFC3339.parse("1970-01-01T00:00:00Z") == Date(timeIntervalSince1970: 0))
        #expect(RFC3339.parse("2000-02-29T00:00:00Z") == Date(timeIntervalSince1970: 951_782_400))
        #expect(RFC3339.parse("0001-01-01T00:00:00Z") == nil)
        for bad in ["", "2024-05-07", "2024-05-07T21:09:36", "2024-05-07T21:09:36.Z", "2024-13-07T21:09:36Z", "2024-05-07T21:09:36Zx", "not a date"] {
            #expect(RFC3339.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("since: Unix seconds with nine digits, never after the timestamp, at most ~2 µs before")
    func unixTimestamp() throws {
        #expect(RFC3339.unixTimestamp(Date(timeIntervalSince1970: 0)) == "-1.999999000")
        #expect(RFC3339.unixTimestamp(Date(timeIntervalSince1970: 1_715_116_176.5)) == "1715116176.499999000")
        let date = try #require(RFC3339.parse("2024-05-07T21:09:36.123456789Z"))
        #expect(RFC3339.unixTimestamp(date) == "1715116176.123455000")
        // Random nanosecond timestamps through Date and back: inclusive, and close.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            let seconds = Int.random(in: 1_700_000_000..<1_900_000_000, using: &generator)
            let nanos = Int.random(in: 0..<1_000_000_000, using: &generator)
            let text = "\(seconds).\(String(repeating: "0", count: 9 - String(nanos).count))\(nanos)"
            let parsed = Date(timeIntervalSince1970: Double(seconds) + Double(nanos) / 1e9)
            let since = RFC3339.unixTimestamp(parsed)
            let sinceNanos = try #require(Self.nanoseconds(since))
            let actual = try #require(Self.nanoseconds(text))
            #expect(sinceNanos <= actual && actual - sinceNanos < 2_100, "\(text) → \(since)")
        }
    }

    static func nanoseconds(_ text: String) -> Int64? {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let seconds = Int64(parts[0]), let fraction = Int64(parts[1]) else { return nil }
        return seconds * 1_000_000_000 + fraction
    }
}

@Suite("Docker log stream demultiplexing")
struct LogDemuxerTests {
    static func frame(_ stream: UInt8, _ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        let size = UInt32(payload.count)
        return [stream, 0, 0, 0, UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)] + payload
    }

    static let body: [UInt8] =
        frame(1, "2024-05-07T21:09:36.000000001Z hello\n")
        + frame(2, "2024-05-07T21:09:36.000000002Z oops\n")
        + frame(1, "2024-05-07T21:09:37.000000000Z part one ")  // partial message...
        + frame(1, "2024-05-07T21:09:37.100000000Z part two\n")  // ...continued
        + frame(1, "2024-05-07T21:09:38.000000000Z \n")  // an empty line
        + frame(1, "2024-05-07T21:09:39.000000000Z ünïcode\n")
        + frame(1, "2024-05-07T21:09:40.000000000Z no newline at the end")

    static func demux(_ body: [UInt8], chunkSizes: [Int]) -> [LogLine] {
        var demuxer = DockerLogDemuxer(framing: .multiplexed)
        var lines: [LogLine] = []
        var offset = 0
        var index = 0
        while offset < body.count {
            let size = min(chunkSizes[index % chunkSizes.count], body.count - offset)
            demuxer.consume(Array(body[offset..<offset + size]), into: &lines)
            offset += size
            index += 1
        }
        demuxer.finish(into: &lines)
        return lines
    }

    @Test("frames split at any byte give the same lines", arguments: [[1], [2, 3], [7], [8], [9], [13, 1, 40], [4096]])
    func chunking(chunkSizes: [Int]) throws {
        let lines = Self.demux(Self.body, chunkSizes: chunkSizes)
        #expect(lines.map(\.text) == ["hello", "oops", "part one part two", "", "ünïcode", "no newline at the end"])
        #expect(lines.map(\.stream) == [.stdout, .stderr, .stdout, .stdout, .stdout, .stdout])
        // A joined partial line keeps the timestamp of its first part.
        #expect(lines[2].timestamp == RFC3339.parse("2024-05-07T21:09:37Z"))
        #expect(lines[0].timestamp == RFC3339.parse("2024-05-07T21:09:36.000000001Z"))
    }

    @Test("lines come out as soon as their frame is complete")
    func incremental() {
        var demuxer = DockerLogDemuxer(framing: .multiplexed)
        var lines: [LogLine] = []
        let first = Self.frame(1, "2024-05-07T21:09:36Z one\n")
        demuxer.consume(Array(first.dropLast()), into: &lines)
        #expect(lines.isEmpty)
        demuxer.consume([first.last!], into: &lines)
        #expect(lines.map(\.text) == ["one"])
    }

    @Test("stream 3 carries an engine error")
    func systemError() {
        var demuxer = DockerLogDemuxer(framing: .multiplexed)
        var lines: [LogLine] = []
        demuxer.consume(Self.frame(1, "2024-05-07T21:09:36Z one\n") + Self.frame(3, "log driver failed"), into: &lines)
        demuxer.finish(into: &lines)
        #expect(lines.map(\.text) == ["one"])
        #expect(demuxer.engineError == "log driver failed")
    }

    @Test("raw (TTY) streams: lines with timestamps, CR LF endings")
    func raw() {
        var demuxer = DockerLogDemuxer(framing: .raw)
        var lines: [LogLine] = []
        let body = Array("2024-05-07T21:09:36Z one\r\n2024-05-07T21:09:37Z two\r\n2024-05-07T21:09:38Z three".utf8)
        for byte in body { demuxer.consume([byte], into: &lines) }
        demuxer.finish(into: &lines)
        #expect(lines.map(\.text) == ["one", "two", "three"])
        #expect(lines[1].timestamp == RFC3339.parse("2024-05-07T21:09:37Z"))
    }
}
