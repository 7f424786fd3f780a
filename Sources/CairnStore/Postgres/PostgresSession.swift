import CairnCore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// One leased Postgres connection inside a transaction the store opened, speaking the shared SQL.
/// Lives only inside the pool's `withConnection` closure.
final class PostgresSession: SQLConnection, @unchecked Sendable {
    let connection: PostgresConnection
    let logger: Logger
    /// Statements this session may run (one outside a transaction, `RunStore.readStatement`).
    private let statementLimit: Int
    private var statements = 0

    init(connection: PostgresConnection, logger: Logger, statementLimit: Int = .max) {
        self.connection = connection
        self.logger = logger
        self.statementLimit = statementLimit
    }

    var dialect: SQL.Dialect { .postgres }

    /// Runs a statement and hands each row to `body`. A statement the registry names is
    /// prepared once per connection and then only bound and executed, which spares the server a
    /// parse and plan each time (most of a short statement's cost); others go unnamed.
    private func forEachRow(_ sql: SQL, _ body: (PostgresRow) throws -> Void) async throws {
        statements += 1
        guard statements <= statementLimit else { throw OneStatementError() }
        let (text, values) = sql.render(.postgres)
        var binds = PostgresBindings(capacity: values.count)
        var types: [PostgresDataType] = []
        types.reserveCapacity(values.count)
        for value in values {
            switch value {
            case .null: binds.appendNull(); types.append(.null)
            case .int(let v): binds.append(v); types.append(.int8)
            case .double(let v): binds.append(v); types.append(.float8)
            case .text(let v): binds.append(v); types.append(.text)
            }
        }
        do {
            if let prepared = PreparedStatements.shared.statement(text: text, types: types) {
                let rows = try await PreparedStatement.$current.withValue(prepared) {
                    try await connection.execute(PreparedStatement(bindings: binds), logger: logger)
                }
                for try await row in rows { try body(row) }
            } else {
                for try await row in try await connection.query(
                    PostgresQuery(unsafeSQL: text, binds: binds), logger: logger)
                {
                    try body(row)
                }
            }
        } catch let error as PSQLError {
            let failure = PostgresQueryError(error)
            PreparedStatements.shared.failed(text: text, types: types, error: failure)
            throw failure
        }
    }

    /// Sends a statement without binds and without waiting for its answer (transaction
    /// control): the connection runs it before any later statement, and a failure also fails
    /// the statements after it. The answer is there to check later.
    @discardableResult
    func send(_ sql: String) -> EventLoopFuture<PostgresQueryResult> {
        connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    func run(_ sql: SQL) async throws {
        try await forEachRow(sql) { _ in }
    }

    /// The async API does not surface the command tag, so updates and deletes count the rows
    /// they return instead.
    func changedRows(_ sql: SQL) async throws -> Int {
        var count = 0
        try await forEachRow(sql + " RETURNING 1") { _ in count += 1 }
        return count
    }

    func all<T>(_ sql: SQL, _ decode: (inout PostgresRowReader) throws -> T) async throws -> [T] {
        var result: [T] = []
        try await forEachRow(sql) { row in
            var reader = PostgresRowReader(row)
            result.append(try decode(&reader))
        }
        return result
    }

    func first<T>(_ sql: SQL, _ decode: (inout PostgresRowReader) throws -> T) async throws -> T? {
        var result: T?
        try await forEachRow(sql) { row in
            guard result == nil else { return }
            var reader = PostgresRowReader(row)
            result = try decode(&reader)
        }
        return result
    }
}

/// The statements this process prepares on its connections, each under one name for its text
/// and parameter types. PostgresNIO prepares a name on a connection at its first use and keeps
/// it for the connection's life, so the names are bounded: statements with many parameters
/// (built for one request's list) and any beyond the cap run unnamed.
final class PreparedStatements: Sendable {
    static let shared = PreparedStatements()
    static let capacity = 1_024
    static let maxParameters = 64

    struct Key: Hashable {
        let text: String
        let types: [PostgresDataType]
    }

    private struct State {
        var names: [Key: String] = [:]
        var issued = 0
    }
    private let state = Mutex(State())

    func statement(text: String, types: [PostgresDataType]) -> PreparedStatement.Definition? {
        guard !types.isEmpty, types.count <= Self.maxParameters else { return nil }
        let key = Key(text: text, types: types)
        let name: String? = state.withLock { s in
            if let name = s.names[key] { return name }
            guard s.names.count < Self.capacity else { return nil }
            s.issued += 1
            let name = "cairn_\(s.issued)"
            s.names[key] = name
            return name
        }
        return name.map { PreparedStatement.Definition(name: $0, sql: text, types: key.types) }
    }

    /// A connection remembers a failed preparation under its name for good. Statement and
    /// transaction-state errors (classes 42 and 25) and a plan a migration outdated (0A) may have
    /// come from the preparation, so the text gets a fresh name next time; execution errors
    /// (conflicts, constraints) keep it.
    func failed(text: String, types: [PostgresDataType], error: PostgresQueryError) {
        guard let state = error.sqlState, ["42", "25", "0A"].contains(where: state.hasPrefix) else { return }
        let key = Key(text: text, types: types)
        self.state.withLock { s in _ = s.names.removeValue(forKey: key) }
    }
}

/// The one statement type handed to PostgresNIO's prepared-statement cache. Its name and text
/// are per statement, while the protocol reads them as static properties, so they travel in a
/// task-local value set around each execution.
struct PreparedStatement: PostgresPreparedStatement {
    struct Definition: Sendable {
        var name: String
        var sql: String
        var types: [PostgresDataType]
    }
    @TaskLocal static var current = Definition(name: "", sql: "", types: [])
    static var name: String { current.name }
    static var sql: String { current.sql }
    static var bindingDataTypes: [PostgresDataType] { current.types }

    let bindings: PostgresBindings
    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// A Postgres row read column by column. Numbers decode from whatever type the server chose
/// (aggregates widen to `numeric`), so the shared decoders need not know the engine.
struct PostgresRowReader: SQLRow {
    // One pass over the row's cells with one cell of lookahead (for the null checks), rather
    // than copying them into an array first.
    private var cells: PostgresRow.Iterator
    private var upcoming: PostgresCell?

    init(_ row: PostgresRow) {
        cells = row.makeIterator()
        upcoming = cells.next()
    }

    private mutating func next() -> PostgresCell? {
        defer { upcoming = cells.next() }
        return upcoming
    }

    private func isNull() -> Bool { upcoming?.bytes == nil }

    private mutating func skip() { upcoming = cells.next() }

    private static func integer(_ cell: PostgresCell) -> Int64 {
        switch cell.dataType {
        case .int2, .int4, .int8: return (try? cell.decode(Int64.self)) ?? 0
        case .bool: return (try? cell.decode(Bool.self)) == true ? 1 : 0
        case .float4, .float8: return Int64(exactly: ((try? cell.decode(Double.self)) ?? 0).rounded(.down)) ?? 0
        case .numeric:
            guard let d = try? cell.decode(Decimal.self) else { return 0 }
            return NSDecimalNumber(decimal: d).int64Value
        default: return (try? cell.decode(String.self)).flatMap { Int64($0) } ?? 0
        }
    }

    private static func double(_ cell: PostgresCell) -> Double {
        switch cell.dataType {
        case .float4, .float8: return (try? cell.decode(Double.self)) ?? 0
        case .numeric:
            guard let d = try? cell.decode(Decimal.self) else { return 0 }
            return NSDecimalNumber(decimal: d).doubleValue
        default: return Double(integer(cell))
        }
    }

    mutating func string() -> String {
        guard let cell = next(), cell.bytes != nil else { return "" }
        return (try? cell.decode(String.self)) ?? ""
    }

    mutating func optionalString() -> String? {
        if isNull() { skip(); return nil }
        return string()
    }

    mutating func int64() -> Int64 { next().map(Self.integer) ?? 0 }
    mutating func int() -> Int { Int(int64()) }

    mutating func optionalInt() -> Int? {
        if isNull() { skip(); return nil }
        return int()
    }

    mutating func optionalDouble() -> Double? {
        if isNull() { skip(); return nil }
        return next().map(Self.double)
    }

    mutating func bool() -> Bool { int64() != 0 }
    mutating func timestamp() -> Timestamp { Timestamp(milliseconds: int64()) }

    mutating func optionalTimestamp() -> Timestamp? {
        if isNull() { skip(); return nil }
        return timestamp()
    }
}

/// A failed statement, with what the server said (PostgresNIO's own error hides it by design,
/// which leaves a log saying nothing): the SQLSTATE and message, never the bound values.
public struct PostgresQueryError: Error, CustomStringConvertible, Sendable {
    public let sqlState: String?
    public let message: String

    init(_ error: PSQLError) {
        sqlState = error.serverInfo?[.sqlState]
        message = error.serverInfo?[.message] ?? String(reflecting: error)
    }

    public var description: String { "Postgres error \(sqlState ?? "-"): \(message)" }
}
