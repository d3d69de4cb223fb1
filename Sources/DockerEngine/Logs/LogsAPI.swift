import ContainerRuntime
import Foundation
import Logging

/// What identifies a delivered line, so that a second read can drop it.
private struct LineKey: Hashable {
    var timestamp: Double
    var stream: LogLine.Stream
    var text: String
    init(_ line: LogLine) {
        timestamp = line.timestamp.timeIntervalSince1970
        stream = line.stream
        text = line.text
    }
}

/// Hands the logs body to the demuxer as it arrives, and the lines it completes to the pipe.
/// Lives on the transfer thread only.
private final class LogStreamSink: ResponseSink {
    private var demuxer: DockerLogDemuxer
    private let pipe: LogPipe
    private var scratch: [LogLine] = []
    private(set) var errorBody = Data()
    /// Lines an earlier read delivered already (a multiset): dropped, not delivered twice.
    private var alreadyDelivered: [LineKey: Int]
    /// The lines delivered in about the last millisecond (and since the start of a line still
    /// waiting for its newline): what a catch-up read from `catchUpStart` returns again.
    private(set) var recent: [LogLine] = []
    private var newest: Date?
    private var pruneAbove = 8192
    private(set) var deliveredCount = 0

    init(framing: DockerLogDemuxer.Framing, pipe: LogPipe, alreadyDelivered: [LineKey: Int] = [:]) {
        self.demuxer = DockerLogDemuxer(framing: framing)
        self.pipe = pipe
        self.alreadyDelivered = alreadyDelivered
    }

    func receive(_ bytes: UnsafeRawBufferPointer, status: Int) -> Bool {
        guard status == 200 else {
            errorBody.append(contentsOf: bytes)
            return true
        }
        scratch.removeAll(keepingCapacity: true)
        demuxer.consume(bytes, into: &scratch)
        return deliver()
    }

    /// The body ended: flush a last line that had no newline.
    func finish() -> Bool {
        scratch.removeAll(keepingCapacity: true)
        demuxer.finish(into: &scratch)
        return deliver()
    }

    var engineError: String? { demuxer.engineError }

    /// Where a catch-up read has to start so that it misses nothing this one did not deliver:
    /// a millisecond before the newest delivered line (stdout and stderr are stamped by separate
    /// goroutines, so the file's order and the timestamps' can differ by a little), or earlier
    /// when a line still waits for its newline. nil: nothing delivered, start where this one did.
    var catchUpStart: Date? {
        [newest?.addingTimeInterval(-0.001), demuxer.earliestPending].compactMap { $0 }.min()
    }

    /// Ends this read without flushing an incomplete line: the catch-up read returns it whole.
    func abandonPartialLines() {
        demuxer.discardPending()
    }

    var deliveredRecently: [LineKey: Int] {
        recent.reduce(into: [:]) { $0[LineKey($1), default: 0] += 1 }
    }

    private func deliver() -> Bool {
        if !alreadyDelivered.isEmpty {
            scratch.removeAll { line in
                let key = LineKey(line)
                guard let count = alreadyDelivered[key] else { return false }
                alreadyDelivered[key] = count > 1 ? count - 1 : nil
                return true
            }
        }
        remember(scratch)
        deliveredCount += scratch.count
        // Blocks while the consumer is behind; false (abort) once it is gone.
        return pipe.send(scratch)
    }

    private func remember(_ lines: [LogLine]) {
        guard !lines.isEmpty else { return }
        recent.append(contentsOf: lines)
        for line in lines where newest.map({ line.timestamp > $0 }) ?? true {
            newest = line.timestamp
        }
        if recent.count > pruneAbove, let floor = catchUpStart {
            recent.removeAll { $0.timestamp < floor }
            // Bounded work even if a flood of lines shares one millisecond.
            pruneAbove = max(8192, recent.count * 2)
        }
    }
}

extension DockerClient {
    /// `GET /containers/{id}/logs` as a stream of lines. The transfer runs on a thread of its own
    /// from the moment this is called; it ends when the body ends (with `follow`, when the
    /// container stops), or soon after the consumer cancels or drops the stream.
    func logs(_ id: ContainerID, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        let pipe = LogPipe()
        let owner = LogPipeOwner(pipe)
        Self.startThread {
            self.streamLogsBlocking(id, since: since, follow: follow, into: pipe)
        }
        return AsyncThrowingStream(unfolding: {
            try await owner.pipe.next()
        })
    }

    private func streamLogsBlocking(_ id: ContainerID, since: Date?, follow: Bool, into pipe: LogPipe) {
        // Multiplexed frames or a raw stream depends on whether the container has a TTY.
        let framing: DockerLogDemuxer.Framing
        switch inspectContainerBlocking(id, cancellation: pipe.cancellation) {
        case .success(let info?):
            framing = info.config?.tty == true ? .raw : .multiplexed
        case .success(nil):
            return pipe.finish(throwing: ContainerRuntimeError.noSuchContainer(id.rawValue))
        case .failure(let error):
            return pipe.finish(throwing: pipe.cancellation.isCancelled ? nil : error)
        }

        let sink = LogStreamSink(framing: framing, pipe: pipe)
        let outcome = readLogs(id, since: since, follow: follow, sink: sink, pipe: pipe)
        switch outcome {
        case .success(200):
            if let message = sink.engineError {
                return pipe.finish(throwing: ContainerRuntimeError.engine(status: 200, message: message))
            }
            if follow {
                // The engine can end a followed stream before it has sent all the container
                // wrote: on 20.10 a reader that is behind when the container exits loses the
                // tail (about 1 run in 10 with 20,000 fast lines), while a plain read afterwards
                // has every line. Training jobs print their final metrics just before they exit,
                // so read the tail again without follow and deliver what is missing.
                sink.abandonPartialLines()
                catchUp(id, from: sink.catchUpStart ?? since, framing: framing, skipping: sink.deliveredRecently, pipe: pipe)
            } else {
                _ = sink.finish()
                pipe.finish()
            }
        case .success(404):
            pipe.finish(throwing: ContainerRuntimeError.noSuchContainer(id.rawValue))
        case .success(let status):
            pipe.finish(throwing: HTTPResponse(status: status, body: sink.errorBody).engineError)
        case .failure(let error):
            pipe.finish(throwing: pipe.cancellation.isCancelled ? nil : error)
        }
    }

    private func catchUp(
        _ id: ContainerID, from start: Date?, framing: DockerLogDemuxer.Framing, skipping: [LineKey: Int], pipe: LogPipe
    ) {
        let sink = LogStreamSink(framing: framing, pipe: pipe, alreadyDelivered: skipping)
        let outcome = readLogs(id, since: start, follow: false, sink: sink, pipe: pipe)
        if case .success(200) = outcome, sink.engineError == nil {
            _ = sink.finish()
            if sink.deliveredCount > 0 {
                logger.debug(
                    "docker ended a followed log early; the catch-up read delivered the rest",
                    metadata: ["container": "\(id)", "lines": "\(sink.deliveredCount)"])
            }
        } else if !pipe.cancellation.isCancelled {
            // The followed read ended normally; a container removed meanwhile is not an error.
            logger.debug("docker logs catch-up read failed", metadata: ["container": "\(id)", "outcome": "\(outcome)"])
        }
        pipe.finish()
    }

    private func readLogs(
        _ id: ContainerID, since: Date?, follow: Bool, sink: LogStreamSink, pipe: LogPipe
    ) -> Result<Int, ContainerRuntimeError> {
        var query = [("stdout", "1"), ("stderr", "1"), ("timestamps", "1"), ("follow", follow ? "1" : "0")]
        if let since {
            query.append(("since", RFC3339.unixTimestamp(since)))
        }
        return sendBlocking(
            .get, Self.containerPath(id, "/logs"), query: query, longRunning: true, sink: sink,
            cancellation: pipe.cancellation)
    }
}

extension DockerClient {
    /// `GET /services/{id}/logs` (Docker Swarm) as a stream of lines: the same multiplexed frames
    /// as a container's logs, collected by the manager from whichever node runs the task. With
    /// `follow` the engine does not end the stream when the task ends (measured on 20.10): the
    /// caller (SwarmRuntime) ends it.
    func serviceLogs(_ service: String, since: Date?, follow: Bool) -> AsyncThrowingStream<LogLine, any Error> {
        let pipe = LogPipe()
        let owner = LogPipeOwner(pipe)
        Self.startThread {
            let sink = LogStreamSink(framing: .multiplexed, pipe: pipe)
            var query = [("stdout", "1"), ("stderr", "1"), ("timestamps", "1"), ("follow", follow ? "1" : "0")]
            if let since { query.append(("since", RFC3339.unixTimestamp(since))) }
            let outcome = self.sendBlocking(
                .get, "/services/\(Self.escape(service))/logs", query: query, longRunning: true, sink: sink,
                cancellation: pipe.cancellation)
            switch outcome {
            case .success(200):
                _ = sink.finish()
                pipe.finish(throwing: sink.engineError.map { ContainerRuntimeError.engine(status: 200, message: $0) })
            case .success(404):
                pipe.finish(throwing: ContainerRuntimeError.noSuchContainer(service))
            case .success(let status):
                pipe.finish(throwing: HTTPResponse(status: status, body: sink.errorBody).engineError)
            case .failure(let error):
                pipe.finish(throwing: pipe.cancellation.isCancelled ? nil : error)
            }
        }
        return AsyncThrowingStream(unfolding: {
            try await owner.pipe.next()
        })
    }
}
