/// The structural difference between two saved states, as leaf paths (`a.b[2].c`): what the
/// SnapState protocol reports as `diff_from_previous`. Paths follow `next`'s key order
/// depth-first, with each object's removed keys after its remaining ones; an added or removed
/// subtree lists its leaves (an empty object or array has none); a changed scalar, or a change
/// of type, reports the path itself.
///
/// Every leaf repeats its full path, so a leaf diff can be far larger than the states (deep
/// paths over many small elements). Its serialized size is therefore bounded by `budgetBytes`:
/// past it, the diff reports whole top-level keys as added, removed or changed instead of their
/// leaves, and if even that is over budget, the whole state as changed (the path `""`), or as
/// added on a first save. Building stops as soon as the budget is spent, so the work is linear
/// in the states' size plus the budget.
public struct StateDiff: Sendable, Equatable {
    /// How finely a diff reports changes.
    public enum Detail: Sendable, Equatable {
        /// Every changed leaf (the protocol's algorithm).
        case leaves
        /// Top-level keys whose values were added, removed or changed as a whole.
        case topLevelKeys
        /// The whole state, as the single path `""`.
        case wholeState
    }

    public var added: [String] = []
    public var removed: [String] = []
    public var changed: [String] = []
    public private(set) var detail = Detail.leaves

    /// The serialized size of the empty diff, `{"added":[],"removed":[],"changed":[]}`.
    static let emptyJSONBytes = 38

    /// The budget for a diff whose new state serializes to `stateBytes`: twice the state, but
    /// at least 64 KiB so that small states keep their detail.
    public static func budget(stateBytes: Int) -> Int { max(2 * stateBytes, 64 << 10) }

    public init() {}

    /// With no previous state, every leaf of `next` is added. Without a budget the diff is
    /// unbounded (for callers that control both states).
    public init(previous: JSONValue?, next: JSONValue, budgetBytes: Int = .max) {
        var leaves = Builder(budget: budgetBytes)
        if let previous {
            leaves.walk(previous, next)
        } else {
            leaves.leaves(next, into: .added)
        }
        if !leaves.overBudget {
            take(leaves)
            return
        }
        var keys = Builder(budget: budgetBytes)
        keys.topLevelKeys(previous, next)
        if !keys.overBudget {
            take(keys)
            detail = .topLevelKeys
            return
        }
        if previous == nil { added = [""] } else { changed = [""] }
        detail = .wholeState
    }

    private mutating func take(_ builder: Builder) {
        added = builder.added
        removed = builder.removed
        changed = builder.changed
    }

    public var json: RawJSON {
        jsonObject { w in
            w.key("added"); w.stringArray(added)
            w.key("removed"); w.stringArray(removed)
            w.key("changed"); w.stringArray(changed)
        }
    }

    /// Collects paths while their serialized size stays within a budget. The current path is
    /// one byte buffer that grows and shrinks with the walk, so a path costs its bytes only when
    /// it is reported (and reported bytes are what the budget counts).
    private struct Builder {
        enum List { case added, removed, changed }

        var added: [String] = []
        var removed: [String] = []
        var changed: [String] = []
        var path: [UInt8] = []
        var remaining: Int
        var overBudget = false

        init(budget: Int) { remaining = budget - StateDiff.emptyJSONBytes }

        mutating func report(_ list: List) {
            guard !overBudget else { return }
            // A path costs its escaped bytes, two quotes and a comma after the list's first path.
            var cost = path.count + 2
            for b in path where b < 0x20 || b == 0x22 || b == 0x5C { cost += b < 0x20 ? 5 : 1 }
            switch list {
            case .added: if !added.isEmpty { cost += 1 }
            case .removed: if !removed.isEmpty { cost += 1 }
            case .changed: if !changed.isEmpty { cost += 1 }
            }
            remaining -= cost
            if remaining < 0 {
                overBudget = true
                return
            }
            let text = String(decoding: path, as: UTF8.self)
            switch list {
            case .added: added.append(text)
            case .removed: removed.append(text)
            case .changed: changed.append(text)
            }
        }

        /// Runs `body` with `key` appended to the current path (`a.key`, or `key` at the top).
        mutating func withKey(_ key: String, _ body: (inout Builder) -> Void) {
            let mark = path.count
            if mark > 0 { path.append(UInt8(ascii: ".")) }
            path.append(contentsOf: key.utf8)
            body(&self)
            path.removeSubrange(mark...)
        }

        /// Runs `body` with `[index]` appended to the current path.
        mutating func withIndex(_ index: Int, _ body: (inout Builder) -> Void) {
            let mark = path.count
            path.append(UInt8(ascii: "["))
            path.append(contentsOf: String(index).utf8)
            path.append(UInt8(ascii: "]"))
            body(&self)
            path.removeSubrange(mark...)
        }

        mutating func walk(_ prev: JSONValue, _ next: JSONValue) {
            guard !overBudget else { return }
            switch (prev, next) {
            case (.object(let p), .object(let n)):
                for (k, v) in n.pairs {
                    if overBudget { return }
                    withKey(k) { b in
                        if let old = p[k] { b.walk(old, v) } else { b.leaves(v, into: .added) }
                    }
                }
                for (k, v) in p.pairs where n[k] == nil {
                    if overBudget { return }
                    withKey(k) { $0.leaves(v, into: .removed) }
                }
            case (.array(let p), .array(let n)):
                for i in 0..<max(p.count, n.count) {
                    if overBudget { return }
                    withIndex(i) { b in
                        if i >= p.count {
                            b.leaves(n[i], into: .added)
                        } else if i >= n.count {
                            b.leaves(p[i], into: .removed)
                        } else {
                            b.walk(p[i], n[i])
                        }
                    }
                }
            default:
                if !StateDiff.equal(prev, next) { report(.changed) }
            }
        }

        mutating func leaves(_ value: JSONValue, into list: List) {
            guard !overBudget else { return }
            switch value {
            case .object(let o):
                for (k, v) in o.pairs {
                    if overBudget { return }
                    withKey(k) { $0.leaves(v, into: list) }
                }
            case .array(let a):
                for (i, v) in a.enumerated() {
                    if overBudget { return }
                    withIndex(i) { $0.leaves(v, into: list) }
                }
            default:
                report(list)
            }
        }

        /// Each top-level key whose value differs, reported as a whole.
        mutating func topLevelKeys(_ prev: JSONValue?, _ next: JSONValue) {
            guard case .object(let n) = next, prev == nil || prev?.objectValue != nil else {
                overBudget = true  // not objects: only the whole state can be reported
                return
            }
            let p = prev?.objectValue ?? JSONObject()
            for (k, v) in n.pairs {
                if overBudget { return }
                if let old = p[k] {
                    if !StateDiff.equal(old, v) { withKey(k) { $0.report(.changed) } }
                } else {
                    withKey(k) { $0.report(.added) }
                }
            }
            for k in p.keys where n[k] == nil {
                if overBudget { return }
                withKey(k) { $0.report(.removed) }
            }
        }
    }

    /// Deep equality where numbers compare by value (`1` equals `1.0`, as in JavaScript) and
    /// objects ignore key order.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.number(let x), .number(let y)):
            if x == y { return true }
            guard let dx = Double(x), let dy = Double(y) else { return false }
            return dx == dy
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.pairs.allSatisfy { k, v in y[k].map { equal(v, $0) } ?? false }
        default: return false
        }
    }
}
