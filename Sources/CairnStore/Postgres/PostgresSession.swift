import CairnCore
import Foundation
import Logging
import PostgresNIO

/// One leased Postgres connection inside a transaction the store opened, speaking the shared SQL.
/// Lives only inside the pool's `withConnection` closure.
final class PostgresSession: SQLConnection, @unchecked Sendable {
    let connection: PostgresConnection
    let logger: Logger

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    var dialect: SQL.Dialect { .postgres }

    private func rows(_ sql: SQL) async throws -> PostgresRowSequence {
        let (text, values) = sql.render(.postgres)
        var binds = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .null: binds.appendNull()
            case .int(let v): binds.append(v)
            case .double(let v): binds.append(v)
            case .text(let v): binds.append(v)
            }
        }
        do {
            return try await connection.query(PostgresQuery(unsafeSQL: text, binds: binds), logger: logger)
        } catch let error as PSQLError {
            throw PostgresQueryError(error)
        }
    }

    func run(_ sql: SQL) async throws {
        for try await _ in try await rows(sql) {}
    }

    /// The async API does not surface the command tag, so updates and deletes count the rows
    /// they return instead.
    func changedRows(_ sql: SQL) async throws -> Int {
        var count = 0
        for try await _ in try await rows(sql + " RETURNING 1") { count += 1 }
        return count
    }

    func all<T>(_ sql: SQL, _ decode: (inout PostgresRowReader) throws -> T) async throws -> [T] {
        var result: [T] = []
        for try await row in try await rows(sql) {
            var reader = PostgresRowReader(row)
            result.append(try decode(&reader))
        }
        return result
    }

    func first<T>(_ sql: SQL, _ decode: (inout PostgresRowReader) throws -> T) async throws -> T? {
        var result: T?
        for try await row in try await rows(sql) where result == nil {
            var reader = PostgresRowReader(row)
            result = try decode(&reader)
        }
        return result
    }
}

/// A Postgres row read column by column. Numbers decode from whatever type the server chose
/// (aggregates widen to `numeric`), so the shared decoders need not know the engine.
struct PostgresRowReader: SQLRow {
    private let cells: [PostgresCell]
    private var column = 0

    init(_ row: PostgresRow) { cells = Array(row) }

    private mutating func next() -> PostgresCell? {
        defer { column += 1 }
        return column < cells.count ? cells[column] : nil
    }

    private func isNull() -> Bool { column >= cells.count || cells[column].bytes == nil }

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
        if isNull() { column += 1; return nil }
        return string()
    }

    mutating func int64() -> Int64 { next().map(Self.integer) ?? 0 }
    mutating func int() -> Int { Int(int64()) }

    mutating func optionalInt() -> Int? {
        if isNull() { column += 1; return nil }
        return int()
    }

    mutating func optionalDouble() -> Double? {
        if isNull() { column += 1; return nil }
        return next().map(Self.double)
    }

    mutating func bool() -> Bool { int64() != 0 }
    mutating func timestamp() -> Timestamp { Timestamp(milliseconds: int64()) }

    mutating func optionalTimestamp() -> Timestamp? {
        if isNull() { column += 1; return nil }
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
