import CairnCore

/// A result row read column by column in select-list order; each engine's row type conforms,
/// so record decoders are written once.
protocol SQLRow: SendableMetatype {
    mutating func string() -> String
    mutating func optionalString() -> String?
    mutating func int() -> Int
    mutating func int64() -> Int64
    mutating func optionalInt() -> Int?
    mutating func optionalDouble() -> Double?
    mutating func timestamp() -> Timestamp
    mutating func optionalTimestamp() -> Timestamp?
    mutating func bool() -> Bool
}

extension SQLiteRow: SQLRow {}

/// What the shared SQL needs of one engine's connection, inside a transaction the store opened.
/// A synchronous engine (SQLite) witnesses these with plain calls; Postgres awaits the wire.
protocol SQLConnection: AnyObject, SendableMetatype {
    associatedtype Row: SQLRow
    var dialect: SQL.Dialect { get }
    func run(_ sql: SQL) async throws
    /// Runs a statement and returns how many rows it inserted, updated or deleted.
    func changedRows(_ sql: SQL) async throws -> Int
    func all<T>(_ sql: SQL, _ decode: (inout Row) throws -> T) async throws -> [T]
    func first<T>(_ sql: SQL, _ decode: (inout Row) throws -> T) async throws -> T?
}

/// A state the store's own code should never reach (a row it just wrote is missing); a bug,
/// reported as a server error rather than a crash.
struct StoreInvariantError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Everything a server keeps in its database: runs (and checkpoints, queues, schedules,
/// deliveries), artifacts and keys. SQLite and Postgres stores both are one.
public typealias RecordStore = RunStore & ArtifactStore & KeyStore
