import CairnCore

/// A result row read column by column in select-list order; each engine's row type conforms,
/// so record decoders are written once.
protocol SQLRow {
    mutating func string() -> String
    mutating func optionalString() -> String?
    mutating func int() -> Int
    mutating func int64() -> Int64
    mutating func optionalInt() -> Int?
    mutating func optionalDouble() -> Double?
    mutating func timestamp() -> Timestamp
    mutating func optionalTimestamp() -> Timestamp?
}

extension SQLiteRow: SQLRow {}
