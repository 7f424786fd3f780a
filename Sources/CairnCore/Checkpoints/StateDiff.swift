/// The structural difference between two saved states, as leaf paths (`a.b[2].c`): what the
/// SnapState protocol reports as `diff_from_previous`. Paths follow `next`'s key order
/// depth-first, with each object's removed keys after its remaining ones; an added or removed
/// subtree lists its leaves (an empty object or array has none); a changed scalar, or a change
/// of type, reports the path itself.
public struct StateDiff: Sendable, Equatable {
    public var added: [String] = []
    public var removed: [String] = []
    public var changed: [String] = []

    public init() {}

    /// With no previous state, every leaf of `next` is added.
    public init(previous: JSONValue?, next: JSONValue) {
        if let previous {
            walk(previous, next, "")
        } else {
            StateDiff.leaves(next, "", into: &added)
        }
    }

    public var json: RawJSON {
        jsonObject { w in
            w.key("added"); w.stringArray(added)
            w.key("removed"); w.stringArray(removed)
            w.key("changed"); w.stringArray(changed)
        }
    }

    private mutating func walk(_ prev: JSONValue, _ next: JSONValue, _ path: String) {
        switch (prev, next) {
        case (.object(let p), .object(let n)):
            // A dictionary of the previous keys keeps large objects linear.
            var previousByKey: [String: JSONValue] = [:]
            previousByKey.reserveCapacity(p.count)
            for (k, v) in p.pairs { previousByKey[k] = v }
            var seen = Set<String>()
            seen.reserveCapacity(n.count)
            for (k, v) in n.pairs {
                seen.insert(k)
                let child = StateDiff.join(path, k)
                if let old = previousByKey[k] {
                    walk(old, v, child)
                } else {
                    StateDiff.leaves(v, child, into: &added)
                }
            }
            for (k, v) in p.pairs where !seen.contains(k) {
                StateDiff.leaves(v, StateDiff.join(path, k), into: &removed)
            }
        case (.array(let p), .array(let n)):
            for i in 0..<max(p.count, n.count) {
                let child = path + "[\(i)]"
                if i >= p.count {
                    StateDiff.leaves(n[i], child, into: &added)
                } else if i >= n.count {
                    StateDiff.leaves(p[i], child, into: &removed)
                } else {
                    walk(p[i], n[i], child)
                }
            }
        default:
            if !StateDiff.equal(prev, next) { changed.append(path) }
        }
    }

    private static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    private static func leaves(_ value: JSONValue, _ path: String, into out: inout [String]) {
        switch value {
        case .object(let o):
            for (k, v) in o.pairs { leaves(v, join(path, k), into: &out) }
        case .array(let a):
            for (i, v) in a.enumerated() { leaves(v, path + "[\(i)]", into: &out) }
        default:
            out.append(path)
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
            guard x.count == y.count else { return false }
            var byKey: [String: JSONValue] = [:]
            for (k, v) in y.pairs { byKey[k] = v }
            return x.pairs.allSatisfy { k, v in byKey[k].map { equal(v, $0) } ?? false }
        default: return false
        }
    }
}
