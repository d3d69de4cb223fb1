import TrainingCore

/// Job ids waiting for a decision, first in first out, each at most once.
struct ReadyQueue {
    private var items: [Int64] = []
    private var head = 0
    private var members: Set<Int64> = []

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }

    mutating func push(_ id: Int64) {
        guard members.insert(id).inserted else { return }
        items.append(id)
    }

    /// Puts ids back at the front, in order (they were taken but could not be served).
    mutating func pushFront(_ ids: some Collection<Int64>) {
        let fresh = ids.filter { members.insert($0).inserted }
        guard !fresh.isEmpty else { return }
        items = fresh + items[head...]
        head = 0
    }

    mutating func pop(upTo limit: Int) -> [Int64] {
        let end = min(items.count, head + limit)
        let taken = Array(items[head..<end])
        head = end
        for id in taken { members.remove(id) }
        if head > 4096 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return taken
    }
}

/// A min-heap of (time, job id): the next deadline in O(log n). Stale entries (a job whose
/// deadline moved) are left in place and skipped by the caller when they come up.
struct DeadlineHeap {
    private var entries: [(time: Timestamp, id: Int64)] = []

    var first: (time: Timestamp, id: Int64)? { entries.first }

    mutating func insert(_ time: Timestamp, _ id: Int64) {
        entries.append((time, id))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].time < entries[parent].time else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() -> (time: Timestamp, id: Int64)? {
        guard !entries.isEmpty else { return nil }
        entries.swapAt(0, entries.count - 1)
        let first = entries.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count && entries[left].time < entries[smallest].time { smallest = left }
            if right < entries.count && entries[right].time < entries[smallest].time { smallest = right }
            guard smallest != parent else { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }
}
