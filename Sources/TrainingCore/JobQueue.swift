import DequeModule

/// Job ids waiting for a decision, first in first out, each at most once.
struct JobQueue: Sendable {
    private var items = Deque<Int64>()
    private var members: Set<Int64> = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }

    mutating func push(_ id: Int64) {
        guard members.insert(id).inserted else { return }
        items.append(id)
    }

    /// Puts ids back at the front, in order (they were taken but could not be served).
    mutating func pushFront(_ ids: some BidirectionalCollection<Int64>) {
        for id in ids.reversed() where members.insert(id).inserted {
            items.prepend(id)
        }
    }

    mutating func pop(upTo limit: Int) -> [Int64] {
        var taken: [Int64] = []
        taken.reserveCapacity(min(limit, items.count))
        while taken.count < limit, let id = items.popFirst() {
            members.remove(id)
            taken.append(id)
        }
        return taken
    }
}
