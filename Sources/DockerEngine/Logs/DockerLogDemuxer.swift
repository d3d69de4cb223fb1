import ContainerRuntime
import Foundation

/// Turns the body of `GET /containers/{id}/logs?timestamps=1` into lines, incrementally: bytes go
/// in as libcurl delivers them (split anywhere), complete lines come out.
///
/// Without a TTY the body is Docker's multiplexed stream: frames of an 8-byte header
/// `[stream, 0, 0, 0, size as big-endian UInt32]` and `size` bytes of payload. The engine writes
/// one frame per log message, and each message starts with its timestamp and a space. A message
/// without a trailing newline is a partial one (the json-file driver splits lines over 16 KiB);
/// the next message of the same stream continues it, with a timestamp of its own that is dropped
/// so that the joined line keeps the time it started at.
///
/// With a TTY the body is the raw byte stream: lines, each with a timestamp prefix.
struct DockerLogDemuxer: Sendable {
    enum Framing: Sendable {
        case multiplexed, raw
    }

    private struct Pending: Sendable {
        var timestamp: Date
        var bytes: [UInt8]
    }

    let framing: Framing
    private var header: [UInt8] = []
    private var payload: [UInt8] = []
    private var payloadRemaining = 0
    private var inPayload = false
    private var frameStream: UInt8 = 1
    private var stdoutPending: Pending?
    private var stderrPending: Pending?
    private var rawBuffer: [UInt8] = []
    private var lastTimestamp: Date?
    /// Text of stream-3 frames: an error the engine reported in the middle of the stream.
    private(set) var engineError: String?

    init(framing: Framing) {
        self.framing = framing
        header.reserveCapacity(8)
    }

    /// Feeds the next bytes of the body; appends the lines they complete to `lines`.
    mutating func consume(_ bytes: UnsafeRawBufferPointer, into lines: inout [LogLine]) {
        let input = bytes.bindMemory(to: UInt8.self)
        switch framing {
        case .raw:
            consumeRaw(input, into: &lines)
        case .multiplexed:
            consumeFrames(input, into: &lines)
        }
    }

    mutating func consume(_ bytes: [UInt8], into lines: inout [LogLine]) {
        bytes.withUnsafeBytes { consume($0, into: &lines) }
    }

    /// The body has ended: whatever partial lines remain are lines too.
    mutating func finish(into lines: inout [LogLine]) {
        switch framing {
        case .raw:
            if !rawBuffer.isEmpty {
                emitRawLine(rawBuffer[...], into: &lines)
                rawBuffer.removeAll()
            }
        case .multiplexed:
            var rest: [LogLine] = []
            for pending in [stdoutPending.map { ($0, LogLine.Stream.stdout) }, stderrPending.map { ($0, .stderr) }] {
                if let (line, stream) = pending {
                    rest.append(LogLine(timestamp: line.timestamp, stream: stream, text: String(decoding: line.bytes, as: UTF8.self)))
                }
            }
            stdoutPending = nil
            stderrPending = nil
            lines.append(contentsOf: rest.sorted { $0.timestamp < $1.timestamp })
        }
    }

    /// The start time of the earliest line still waiting for its newline, if any.
    var earliestPending: Date? {
        switch framing {
        case .raw:
            return rawBuffer.isEmpty ? nil : (Self.splitTimestamp(rawBuffer[...]).0 ?? lastTimestamp)
        case .multiplexed:
            return [stdoutPending?.timestamp, stderrPending?.timestamp].compactMap { $0 }.min()
        }
    }

    /// Drops lines still waiting for their newline (the caller will read them again whole).
    mutating func discardPending() {
        stdoutPending = nil
        stderrPending = nil
        rawBuffer.removeAll()
    }

    // MARK: Multiplexed

    private mutating func consumeFrames(_ input: UnsafeBufferPointer<UInt8>, into lines: inout [LogLine]) {
        var index = 0
        while index < input.count {
            if !inPayload {
                let take = min(8 - header.count, input.count - index)
                header.append(contentsOf: input[index..<index + take])
                index += take
                guard header.count == 8 else { continue }
                frameStream = header[0]
                payloadRemaining = header[4...7].reduce(0) { $0 << 8 | Int($1) }
                header.removeAll(keepingCapacity: true)
                inPayload = true
            }
            let take = min(payloadRemaining, input.count - index)
            if take > 0 {
                payload.append(contentsOf: input[index..<index + take])
                index += take
                payloadRemaining -= take
            }
            if payloadRemaining == 0 {
                handleMessage(stream: frameStream, payload[...], into: &lines)
                payload.removeAll(keepingCapacity: true)
                inPayload = false
            }
        }
    }

    private mutating func handleMessage(stream: UInt8, _ message: ArraySlice<UInt8>, into lines: inout [LogLine]) {
        if stream == 3 {
            engineError = (engineError ?? "") + String(decoding: message, as: UTF8.self)
            return
        }
        let target: LogLine.Stream = stream == 2 ? .stderr : .stdout
        let (parsed, text) = Self.splitTimestamp(message)
        if let parsed { lastTimestamp = parsed }
        let timestamp = parsed ?? lastTimestamp ?? Date()
        // A pending partial line keeps its own (earlier) timestamp.
        var pending = (target == .stdout ? stdoutPending : stderrPending) ?? Pending(timestamp: timestamp, bytes: [])
        var start = text.startIndex
        while let newline = text[start...].firstIndex(of: 0x0A) {
            pending.bytes.append(contentsOf: text[start..<newline])
            lines.append(LogLine(timestamp: pending.timestamp, stream: target, text: String(decoding: pending.bytes, as: UTF8.self)))
            pending = Pending(timestamp: timestamp, bytes: [])
            start = newline + 1
        }
        pending.bytes.append(contentsOf: text[start...])
        let rest: Pending? = pending.bytes.isEmpty ? nil : pending
        if target == .stdout { stdoutPending = rest } else { stderrPending = rest }
    }

    // MARK: Raw (TTY)

    private mutating func consumeRaw(_ input: UnsafeBufferPointer<UInt8>, into lines: inout [LogLine]) {
        var start = 0
        for index in 0..<input.count where input[index] == 0x0A {
            if rawBuffer.isEmpty {
                emitRawLine(ArraySlice(input[start..<index]), into: &lines)
            } else {
                rawBuffer.append(contentsOf: input[start..<index])
                emitRawLine(rawBuffer[...], into: &lines)
                rawBuffer.removeAll(keepingCapacity: true)
            }
            start = index + 1
        }
        rawBuffer.append(contentsOf: input[start..<input.count])
    }

    private mutating func emitRawLine(_ bytes: ArraySlice<UInt8>, into lines: inout [LogLine]) {
        var (timestamp, text) = Self.splitTimestamp(bytes)
        if text.last == 0x0D { text = text.dropLast() }  // a TTY ends lines with CR LF
        if let timestamp { lastTimestamp = timestamp }
        lines.append(LogLine(timestamp: timestamp ?? lastTimestamp ?? Date(), stream: .stdout, text: String(decoding: text, as: UTF8.self)))
    }

    // MARK: Timestamps

    /// "2024-05-07T21:09:36.123456789Z rest" → (date, "rest"); (nil, whole) when there is no prefix.
    static func splitTimestamp(_ bytes: ArraySlice<UInt8>) -> (Date?, ArraySlice<UInt8>) {
        // The longest RFC 3339 form is 35 bytes ("...T15:04:05.999999999+07:00").
        let limit = min(bytes.endIndex, bytes.startIndex + 40)
        guard let space = bytes[bytes.startIndex..<limit].firstIndex(of: 0x20),
            let date = RFC3339.parse(bytes[bytes.startIndex..<space])
        else {
            return (nil, bytes)
        }
        return (date, bytes[(space + 1)...])
    }
}
