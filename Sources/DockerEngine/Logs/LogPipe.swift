import ContainerRuntime
import Foundation

/// A bounded queue from a log transfer's thread (producer) to the caller's async iteration
/// (consumer). When the consumer lags, the producer's thread blocks in `send`, libcurl stops
/// reading, and the engine's socket fills up: a fast-printing container is never buffered whole
/// in memory. When the consumer goes away, `cancel` wakes the producer, which aborts the transfer.
///
/// `@unchecked Sendable`: all mutable state below is read and written only while `condition` is
/// locked, and continuations are resumed after unlocking.
final class LogPipe: @unchecked Sendable {
    let cancellation = CancellationFlag()
    private let capacity: Int
    private let condition = NSCondition()
    private var buffer: [LogLine] = []
    private var head = 0
    private var finished = false
    private var failure: (any Error)?
    private var waiter: CheckedContinuation<LogLine?, any Error>?

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    // MARK: Producer (the transfer thread)

    /// Queues `lines`, first waiting while the queue is full. Returns false once the consumer has
    /// gone: the producer should stop.
    func send(_ lines: [LogLine]) -> Bool {
        guard !lines.isEmpty else { return !cancellation.isCancelled }
        condition.lock()
        while buffer.count - head >= capacity && !cancellation.isCancelled {
            condition.wait()
        }
        if cancellation.isCancelled {
            condition.unlock()
            return false
        }
        var toQueue = lines[...]
        var handOff: (CheckedContinuation<LogLine?, any Error>, LogLine)?
        if let waiter {
            // A waiting consumer implies an empty queue: give it the first line directly.
            handOff = (waiter, toQueue.removeFirst())
            self.waiter = nil
        }
        buffer.append(contentsOf: toQueue)
        condition.unlock()
        if let (continuation, line) = handOff {
            continuation.resume(returning: line)
        }
        return true
    }

    /// No more lines; `error` (if any) is thrown to the consumer after the queued lines.
    func finish(throwing error: (any Error)? = nil) {
        condition.lock()
        guard !finished else {
            condition.unlock()
            return
        }
        finished = true
        failure = error
        let waiter = self.waiter
        self.waiter = nil
        if waiter != nil { failure = nil }
        condition.unlock()
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }

    // MARK: Consumer

    /// The next line; nil at the end or once cancelled.
    func next() async throws -> LogLine? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<LogLine?, any Error>) in
                condition.lock()
                if head < buffer.count {
                    let line = buffer[head]
                    head += 1
                    if head >= 1024 && head * 2 >= buffer.count {
                        buffer.removeFirst(head)
                        head = 0
                    }
                    condition.signal()
                    condition.unlock()
                    continuation.resume(returning: line)
                } else if finished {
                    let failure = self.failure
                    self.failure = nil
                    condition.unlock()
                    if let failure { continuation.resume(throwing: failure) } else { continuation.resume(returning: nil) }
                } else if cancellation.isCancelled {
                    condition.unlock()
                    continuation.resume(returning: nil)
                } else {
                    waiter = continuation
                    condition.unlock()
                }
            }
        } onCancel: {
            cancel()
        }
    }

    /// The consumer is gone (task cancelled or stream dropped): wake everyone, stop the producer.
    func cancel() {
        cancellation.cancel()
        condition.lock()
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume(returning: nil)
    }
}

/// Cancels a pipe when the stream that owns it is released without being cancelled (a consumer
/// that stops iterating and drops the stream), so the transfer thread does not run forever.
final class LogPipeOwner: Sendable {
    let pipe: LogPipe
    init(_ pipe: LogPipe) { self.pipe = pipe }
    deinit { pipe.cancel() }
}
