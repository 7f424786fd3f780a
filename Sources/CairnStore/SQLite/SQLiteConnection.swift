import CairnCore
import Synchronization
import VaporCSQLite

private let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }
    public var isConstraintViolation: Bool { code & 0xFF == SQLITE_CONSTRAINT }
}

/// The work a store's connections have done, in SQLite's virtual-machine steps: the same for the
/// same plans over data of the same shape, whatever the timing, so tests can compare it.
final class SQLiteWork: Sendable {
    private let steps = Atomic<Int>(0)
    var virtualMachineSteps: Int { steps.load(ordering: .relaxed) }
    func add(steps count: Int) { steps.add(count, ordering: .relaxed) }
}

/// One SQLite connection driven synchronously through the C API, with a cache of prepared
/// statements. Not thread-safe: a connection is used by one thread at a time (the writer
/// thread, or a reader checked out of the pool).
final class SQLiteConnection: SQLConnection, @unchecked Sendable {
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    private let work: SQLiteWork?

    init(path: String, readOnly: Bool, busyTimeoutMilliseconds: Int32 = 5_000, work: SQLiteWork? = nil) throws {
        self.work = work
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        var db: OpaquePointer?
        let rc = sqlite_nio_sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "cannot open \(path)"
            let failure = Self.failure(rc, message: message, db)
            if let db { sqlite_nio_sqlite3_close(db) }
            throw failure
        }
        handle = db
        sqlite_nio_sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    deinit {
        for (_, statement) in statements { sqlite_nio_sqlite3_finalize(statement) }
        if let handle { sqlite_nio_sqlite3_close(handle) }
    }

    private func error(_ rc: Int32) -> any Error {
        Self.failure(rc, message: handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "closed", handle)
    }

    /// The error for a failed call: `StorageFullError` when the disk or quota is full
    /// (`SQLITE_FULL`, or an I/O error whose system cause is ENOSPC or EDQUOT), else `SQLiteError`.
    static func failure(_ rc: Int32, message: String, _ db: OpaquePointer?) -> any Error {
        let primary = rc & 0xFF
        let noSpace =
            primary == SQLITE_FULL
            || (primary == SQLITE_IOERR
                && db.map { StorageFullError.isNoSpace(sqlite_nio_sqlite3_system_errno($0)) }
                    ?? false)
        if noSpace { return StorageFullError("SQLite \(rc): \(message)") }
        return SQLiteError(code: rc, message: message)
    }

    /// Runs statements that take no parameters (pragmas, DDL, transaction control).
    func execute(script: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite_nio_sqlite3_exec(handle, script, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? "error"
            sqlite_nio_sqlite3_free(errorMessage)
            throw Self.failure(rc, message: message, handle)
        }
    }

    private func prepared(_ text: String) throws -> OpaquePointer {
        if let cached = statements[text] { return cached }
        var statement: OpaquePointer?
        let rc = sqlite_nio_sqlite3_prepare_v3(handle, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc) }
        statements[text] = statement
        return statement
    }

    /// Runs `sql` and calls `row` for each result row.
    func query(_ sql: SQL, _ row: (SQLiteRow) throws -> Void) throws {
        let (text, binds) = sql.render(.sqlite)
        let statement = try prepared(text)
        defer {
            if let work {
                work.add(steps: Int(sqlite_nio_sqlite3_stmt_status(statement, SQLITE_STMTSTATUS_VM_STEP, 1)))
            }
            sqlite_nio_sqlite3_reset(statement)
            sqlite_nio_sqlite3_clear_bindings(statement)
        }
        for (i, value) in binds.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite_nio_sqlite3_bind_null(statement, index)
            case .int(let v): rc = sqlite_nio_sqlite3_bind_int64(statement, index, v)
            case .double(let v): rc = sqlite_nio_sqlite3_bind_double(statement, index, v)
            case .text(let v):
                rc = sqlite_nio_sqlite3_bind_text64(
                    statement, index, v, UInt64(v.utf8.count), transientDestructor, UInt8(SQLITE_UTF8))
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
        while true {
            let rc = sqlite_nio_sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc) }
            try row(SQLiteRow(statement: statement))
        }
    }

    func run(_ sql: SQL) throws { try query(sql) { _ in } }

    func all<T>(_ sql: SQL, _ decode: (inout SQLiteRow) throws -> T) throws -> [T] {
        var result: [T] = []
        try query(sql) { row in
            var row = row
            result.append(try decode(&row))
        }
        return result
    }

    func first<T>(_ sql: SQL, _ decode: (inout SQLiteRow) throws -> T) throws -> T? {
        var result: T?
        try query(sql) { row in
            if result == nil {
                var row = row
                result = try decode(&row)
            }
        }
        return result
    }

    var changes: Int { Int(sqlite_nio_sqlite3_changes(handle)) }

    var dialect: SQL.Dialect { .sqlite }

    func changedRows(_ sql: SQL) throws -> Int {
        try run(sql)
        return changes
    }

    /// Whether a transaction is open (false once SQLite has rolled one back on its own).
    var isInTransaction: Bool { sqlite_nio_sqlite3_get_autocommit(handle) == 0 }
}

/// A result row read column by column in select-list order.
struct SQLiteRow {
    let statement: OpaquePointer
    var column: Int32 = 0

    init(statement: OpaquePointer) { self.statement = statement }

    private mutating func next() -> Int32 {
        defer { column += 1 }
        return column
    }

    mutating func isNull() -> Bool { sqlite_nio_sqlite3_column_type(statement, column) == SQLITE_NULL }

    mutating func string() -> String {
        let c = next()
        guard let text = sqlite_nio_sqlite3_column_text(statement, c) else { return "" }
        let count = Int(sqlite_nio_sqlite3_column_bytes(statement, c))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    mutating func optionalString() -> String? {
        if isNull() { column += 1; return nil }
        return string()
    }

    mutating func int() -> Int { Int(sqlite_nio_sqlite3_column_int64(statement, next())) }
    mutating func int64() -> Int64 { sqlite_nio_sqlite3_column_int64(statement, next()) }

    mutating func optionalInt() -> Int? {
        if isNull() { column += 1; return nil }
        return int()
    }

    mutating func optionalDouble() -> Double? {
        if isNull() { column += 1; return nil }
        return sqlite_nio_sqlite3_column_double(statement, next())
    }

    mutating func bool() -> Bool { int() != 0 }

    mutating func timestamp() -> Timestamp { Timestamp(milliseconds: int64()) }

    mutating func optionalTimestamp() -> Timestamp? {
        if isNull() { column += 1; return nil }
        return timestamp()
    }
}
