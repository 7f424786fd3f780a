import Synchronization

/// The latest saved state of recently written workflows, parsed, so the next save's diff needs
/// neither a read transaction nor a parse of the previous state. Bounded by the states' total
/// size in memory (a parsed state can take ten times its JSON text); the oldest entries go first. Entries carry the save sequence they belong to, and the
/// save checks that sequence against the workflow's head inside its transaction, so a stale
/// entry (another replica's save, an expiry) only costs a recomputation, never a wrong diff.
final class LatestStateCache: Sendable {
    struct Key: Hashable, Sendable {
        var tenant: TenantID
        var workflowId: String
    }

    struct Entry: Sendable {
        var sequence: Int
        /// When that save was made (the head's `lastActivityAt` right after it).
        var savedAt: Timestamp
        var state: JSONValue
        /// The parsed state's estimated size in memory (`footprint(of:)`).
        var bytes: Int
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Insertion order, oldest first, from `head` on (a key may appear again after an update;
        /// such stale positions are skipped).
        var order: [(Key, sequence: Int)] = []
        var head = 0
        var bytes = 0
    }

    let budgetBytes: Int
    private let state = Mutex(State())

    init(budgetBytes: Int) { self.budgetBytes = budgetBytes }

    /// An estimate of the memory a parsed value holds: its slot, heap buffers of arrays and long
    /// strings, and an object's key index. Linear in the value's size.
    static func footprint(of value: JSONValue) -> Int {
        let slot = MemoryLayout<JSONValue>.stride
        let bufferHeader = 32
        func string(_ s: String) -> Int { s.utf8.count > 15 ? bufferHeader + s.utf8.count : 0 }
        switch value {
        case .null, .bool: return slot
        case .number(let s), .string(let s): return slot + string(s)
        case .array(let items): return slot + bufferHeader + items.reduce(0) { $0 + footprint(of: $1) }
        case .object(let object):
            // A non-empty object has its box (three words) and two array buffers.
            var total = slot + (object.isEmpty ? 0 : bufferHeader + 24 + 2 * bufferHeader)
            for (k, v) in object.pairs { total += MemoryLayout<String>.stride + string(k) + footprint(of: v) }
            // A dictionary keeps about twice its count of key and position slots.
            if object.isIndexed { total += bufferHeader + 2 * object.count * (MemoryLayout<String>.stride + 8) }
            return total
        }
    }

    func entry(_ key: Key) -> Entry? { state.withLock { $0.entries[key] } }

    func store(_ key: Key, _ entry: Entry) {
        guard entry.bytes <= budgetBytes / 4 else { return }
        state.withLock { s in
            if let old = s.entries.updateValue(entry, forKey: key) { s.bytes -= old.bytes }
            s.bytes += entry.bytes
            s.order.append((key, entry.sequence))
            while s.bytes > budgetBytes, s.head < s.order.count {
                let (oldest, sequence) = s.order[s.head]
                s.head += 1
                if let e = s.entries[oldest], e.sequence == sequence {
                    s.entries[oldest] = nil
                    s.bytes -= e.bytes
                }
            }
            // Compact the order list once most of it is consumed or stale.
            if s.head > 1024, s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            if s.order.count - s.head > 4 * max(s.entries.count, 256) {
                s.order = s.order[s.head...].filter { s.entries[$0.0]?.sequence == $0.sequence }
                s.head = 0
            }
        }
    }
}
