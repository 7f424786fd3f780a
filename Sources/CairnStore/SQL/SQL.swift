import CairnCore

/// A SQL statement with its bound values, written once for every engine: values interpolated
/// with `\(x)` become bind parameters, rendered as `?` for SQLite and `$n` for Postgres.
public struct SQL: Sendable, ExpressibleByStringInterpolation {
    public enum Value: Sendable, Equatable {
        case null
        case int(Int64)
        case double(Double)
        case text(String)
    }

    enum Part: Sendable {
        case text(String)
        case bind(Value)
        case hook(Hook)
    }

    /// The few places where the engines' SQL differs, rendered per dialect.
    public enum Hook: Sendable {
        /// The column that orders rows of a table by insertion (ties of `created_at`): SQLite's
        /// `rowid`, Postgres's identity column `ord`.
        case insertionOrder
        /// A locking read: ` FOR UPDATE` on Postgres; nothing on SQLite, whose single writer
        /// already serializes the transaction.
        case forUpdate
        /// A claim: ` FOR UPDATE SKIP LOCKED` on Postgres, so concurrent claimers take disjoint
        /// rows without waiting; nothing on SQLite.
        case forUpdateSkipLocked
    }

    var parts: [Part]

    public init(stringLiteral value: String) { parts = [.text(value)] }

    public init(stringInterpolation: Interpolation) { parts = stringInterpolation.parts }

    public struct Interpolation: StringInterpolationProtocol {
        var parts: [Part] = []
        public init(literalCapacity: Int, interpolationCount: Int) {}
        public mutating func appendLiteral(_ literal: String) { parts.append(.text(literal)) }
        public mutating func appendInterpolation(_ value: String) { parts.append(.bind(.text(value))) }
        public mutating func appendInterpolation(_ value: String?) {
            parts.append(.bind(value.map { .text($0) } ?? .null))
        }
        public mutating func appendInterpolation(_ value: Int) { parts.append(.bind(.int(Int64(value)))) }
        public mutating func appendInterpolation(_ value: Int?) {
            parts.append(.bind(value.map { .int(Int64($0)) } ?? .null))
        }
        public mutating func appendInterpolation(_ value: Int64) { parts.append(.bind(.int(value))) }
        public mutating func appendInterpolation(_ value: Int64?) {
            parts.append(.bind(value.map { .int($0) } ?? .null))
        }
        public mutating func appendInterpolation(_ value: Double?) {
            parts.append(.bind(value.map { .double($0) } ?? .null))
        }
        public mutating func appendInterpolation(_ value: Bool) { parts.append(.bind(.int(value ? 1 : 0))) }
        public mutating func appendInterpolation(_ value: Timestamp) { parts.append(.bind(.int(value.milliseconds))) }
        public mutating func appendInterpolation(_ value: Timestamp?) {
            parts.append(.bind(value.map { .int($0.milliseconds) } ?? .null))
        }
        /// Splices SQL text verbatim (identifiers, fragments); never user input.
        public mutating func appendInterpolation(unsafeRaw text: String) { parts.append(.text(text)) }
        public mutating func appendInterpolation(_ fragment: SQL) { parts.append(contentsOf: fragment.parts) }
        public mutating func appendInterpolation(_ hook: Hook) { parts.append(.hook(hook)) }
    }

    public enum Dialect: Sendable { case sqlite, postgres }

    /// The statement text for `dialect` and its binds in order.
    public func render(_ dialect: Dialect) -> (text: String, binds: [Value]) {
        var text = ""
        var binds: [Value] = []
        for part in parts {
            switch part {
            case .text(let t): text += t
            case .bind(let v):
                binds.append(v)
                switch dialect {
                case .sqlite: text += "?"
                case .postgres: text += "$\(binds.count)"
                }
            case .hook(let hook):
                switch (hook, dialect) {
                case (.insertionOrder, .sqlite): text += "rowid"
                case (.insertionOrder, .postgres): text += "ord"
                case (.forUpdate, .sqlite), (.forUpdateSkipLocked, .sqlite): break
                case (.forUpdate, .postgres): text += " FOR UPDATE"
                case (.forUpdateSkipLocked, .postgres): text += " FOR UPDATE SKIP LOCKED"
                }
            }
        }
        return (text, binds)
    }

    public static func + (a: SQL, b: SQL) -> SQL {
        var r = a
        r.parts += b.parts
        return r
    }
}

extension Sequence where Element == SQL {
    /// The fragments one after another with `separator` between them (a list of values or rows).
    func joined(separator: String) -> SQL {
        var result: SQL = ""
        for (i, fragment) in enumerated() {
            if i > 0 { result = result + SQL(stringLiteral: separator) }
            result = result + fragment
        }
        return result
    }
}
