import CairnCore
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// The scale-out store: every replica of `cairn serve` on one Postgres database.
///
/// Write transactions run READ COMMITTED, and every read-decide-write the core does (claims,
/// dedupe, sequences, quotas, schedule fires) names its primitive (see `RunWriteTransaction`):
/// row locks, claims that skip locked rows, advisory locks, unique constraints. So it is
/// atomic against other replicas exactly as under SQLite's single writer, and writers of
/// different runs never wait for each other. A transaction that loses an insert race on a
/// unique constraint, a deadlock or a serialization failure is rolled back and run again from
/// the start (the bodies only read and write through their transaction, so a rerun is safe).
///
/// Committed run events reach this replica's subscribers at once, and every other replica's
/// through `NOTIFY`, sent after the commit (`EventNoticeSender`): the notice names the run and
/// sequence numbers, and the receiving replica reads the events from the table, the one source
/// of truth.
public final class PostgresStore: RunStore, ArtifactStore, KeyStore, Sendable {
    public struct Configuration: Sendable {
        /// `postgres://user:password@host:port/database`, with `?sslmode=disable|prefer|require`
        /// (default `prefer`) and `?search_path=schema` (default `public`).
        public var url: String
        /// Connections this replica may open (one of them listens for other replicas' events),
        /// shared out among the event loops (`LoopPools`).
        public var poolSize: Int
        /// How often a transaction is tried before a serialization failure reaches the caller.
        public var maxTransactionAttempts = 16
        /// Whether all `poolSize` connections open at the start and stay open (a fixed pool), or
        /// open on demand and close after idling. The driver arms a demand connection's idle
        /// timer at each release and disarms it at each lease, each time waking the pool's
        /// background task on another thread; a fixed pool has no such timer.
        public var opensWholePool: Bool
        public init(url: String, poolSize: Int = 16, opensWholePool: Bool = true) {
            self.url = url
            self.poolSize = poolSize
            self.opensWholePool = opensWholePool
        }
    }

    /// What a database URL says, checked.
    public struct Endpoint: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String?
        public var database: String
        public var sslMode: String
        public var schema: String?

        public static func parse(_ url: String) throws -> Endpoint {
            guard let c = URLComponents(string: url), let scheme = c.scheme,
                scheme == "postgres" || scheme == "postgresql"
            else {
                throw PostgresConfigurationError(
                    "the database URL must look like postgres://user:password@host:port/database")
            }
            guard let host = c.host, !host.isEmpty else {
                throw PostgresConfigurationError("the database URL has no host")
            }
            guard let user = c.user, !user.isEmpty else {
                throw PostgresConfigurationError("the database URL has no user")
            }
            let database = String(c.path.drop(while: { $0 == "/" }))
            guard !database.isEmpty else { throw PostgresConfigurationError("the database URL names no database") }
            let port = c.port ?? 5432
            guard (1...65_535).contains(port) else {
                throw PostgresConfigurationError("the database port is out of range")
            }
            var endpoint = Endpoint(
                host: host, port: port, user: user.removingPercentEncoding ?? user,
                password: c.password.map { $0.removingPercentEncoding ?? $0 }, database: database, sslMode: "prefer",
                schema: nil)
            for item in c.queryItems ?? [] {
                switch item.name {
                case "sslmode":
                    guard let mode = item.value, ["disable", "prefer", "require"].contains(mode) else {
                        throw PostgresConfigurationError("sslmode must be disable, prefer or require")
                    }
                    endpoint.sslMode = mode
                case "search_path":
                    guard let schema = item.value, Self.isIdentifier(schema) else {
                        throw PostgresConfigurationError("search_path must be one schema name: letters, digits, _")
                    }
                    endpoint.schema = schema
                default:
                    throw PostgresConfigurationError("unknown database URL parameter \(item.name)")
                }
            }
            return endpoint
        }

        static func isIdentifier(_ s: String) -> Bool {
            !s.isEmpty && s.count <= 63
                && s.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
                && !(s.utf8.first.map { $0 >= 48 && $0 <= 57 } ?? true)
        }

        /// The URL without its password, for logs.
        public var redacted: String { "postgres://\(user)@\(host):\(port)/\(database)" }
    }

    public let configuration: Configuration
    public let endpoint: Endpoint
    private let pools: LoopPools
    /// The listening connection's own pool of one, so a loop's pool never lends it out for good.
    private let listenerClient: PostgresClient?
    private let broker: EventBroker?
    let logger: Logger
    /// Tells this replica's own notices from others'.
    let replicaID = UUID().uuidString
    private let channel: String
    /// API keys answered from memory while the listener hears revocations (a server's store;
    /// nil for a store without a listener, such as the CLI's).
    public let verifiedKeys: VerifiedKeys?
    let tasks = Mutex<[Task<Void, Never>]>([])
    private let notices: EventNoticeSender
    private let retries = Counter(label: "cairn_store_transaction_retries_total")
    private let commitTimer = Timer(label: "cairn_store_commit_duration_seconds")

    /// Connects, applies pending migrations (under an advisory lock, so replicas starting
    /// together apply each once) and starts listening for other replicas' events.
    public static func open(configuration: Configuration, broker: EventBroker?, logger: Logger) async throws
        -> PostgresStore
    {
        let store = try PostgresStore(configuration: configuration, broker: broker, logger: logger)
        do {
            try await store.migrate()
        } catch {
            store.shutdown()
            throw error
        }
        let statistics = store.keepStatistics()
        store.tasks.withLock { $0.append(statistics) }
        if broker != nil {
            // Listening before the first request, so this replica hears every later commit.
            let listening = store.startListening()
            _ = await listening.first { _ in true }
        }
        return store
    }

    private init(configuration: Configuration, broker: EventBroker?, logger: Logger) throws {
        guard (2...1_000).contains(configuration.poolSize) else {
            throw PostgresConfigurationError("the database pool size must be 2 to 1000")
        }
        self.configuration = configuration
        self.broker = broker
        self.logger = logger
        endpoint = try Endpoint.parse(configuration.url)
        let tls: PostgresClient.Configuration.TLS
        switch endpoint.sslMode {
        case "disable": tls = .disable
        case "require": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        var clientConfiguration = PostgresClient.Configuration(
            host: endpoint.host, port: endpoint.port, username: endpoint.user, password: endpoint.password,
            database: endpoint.database, tls: tls)
        // The driver's keep-alive (a query on a connection idle for 30 s) arms a timer at each
        // release and disarms it at each lease, two cross-thread wake-ups a request: about 80 µs
        // of each lease (`cairn bench postgres`). A connection the server closes is seen
        // closing and replaced without it; one that fails silently fails its next statement.
        clientConfiguration.options.keepAliveBehavior = nil
        channel = "cairn_events_" + (endpoint.schema ?? "public")
        notices = EventNoticeSender(sender: replicaID, channel: channel, logger: logger)
        verifiedKeys = broker == nil ? nil : VerifiedKeys()
        if let schema = endpoint.schema {
            clientConfiguration.options.additionalStartupParameters.append(("search_path", schema))
        }
        var clients: [PostgresClient] = []
        let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator())
        let shared = broker == nil ? configuration.poolSize : configuration.poolSize - 1
        for (loop, size) in zip(loops, LoopPools.shares(connections: shared, loops: loops.count)) {
            var share = clientConfiguration
            share.options.maximumConnections = size
            share.options.minimumConnections = configuration.opensWholePool ? size : 0
            clients.append(PostgresClient(configuration: share, eventLoopGroup: loop, backgroundLogger: logger))
        }
        pools = LoopPools(loops: loops, clients: clients)
        if broker != nil {
            var one = clientConfiguration
            one.options.maximumConnections = 1
            one.options.minimumConnections = 0
            listenerClient = PostgresClient(configuration: one, backgroundLogger: logger)
        } else {
            listenerClient = nil
        }
        // Started immediately, so each pool counts as running before its first lease (a plain
        // task could start after the migrations' lease, and the driver warns of that).
        for client in clients + (listenerClient.map { [$0] } ?? []) {
            tasks.withLock { $0.append(Task.immediate { await client.run() }) }
        }
    }

    /// The pool for the calling task: its event loop's, so a statement is written and its answer
    /// read on the thread that awaits it (a request runs on its connection's loop; see
    /// docs/architecture.md, "Connections"). Against one pool with connections on any loop, in
    /// turns: about half the server's `write` and `read` calls a step, and 7% less of its CPU.
    var client: PostgresClient { pools.current }

    deinit { shutdown() }

    /// Stops listening and closes the pool.
    public func shutdown() {
        // The listener first: cancelled after the pool, it would see its connection close and
        // log a failure.
        for task in tasks.withLock({ t in
            defer { t.removeAll() }; return t
        }).reversed() { task.cancel() }
    }

    // MARK: Migrations

    private static let migrationLock: Int64 = 0x4361_6972_6E5F_6D69  // "Cairn_mi"

    private func migrate() async throws {
        try await client.withConnection { conn in
            let s = PostgresSession(connection: conn, logger: self.logger)
            try await s.run("SELECT pg_advisory_lock(\(Self.migrationLock))")
            do {
                try await s.run(
                    """
                    CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
                    applied_at BIGINT NOT NULL)
                    """)
                let applied = Set(try await s.all("SELECT version FROM schema_migrations") { $0.int() })
                for migration in Migrations.all where !applied.contains(migration.version) {
                    try await s.run("BEGIN")
                    do {
                        // The extended protocol takes one statement at a time.
                        for statement in Self.statements(migration.postgres) {
                            try await s.run(SQL(stringLiteral: statement))
                        }
                        try await s.run(
                            """
                            INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), \
                            \(migration.name), \(Timestamp.now()))
                            """)
                        try await s.run("COMMIT")
                        self.logger.debug("applied migration", metadata: ["version": "\(migration.version)"])
                    } catch {
                        try? await s.run("ROLLBACK")
                        throw error
                    }
                }
            } catch {
                try? await s.run("SELECT pg_advisory_unlock(\(Self.migrationLock))")
                throw error
            }
            try await s.run("SELECT pg_advisory_unlock(\(Self.migrationLock))")
        }
    }

    /// A script's statements: split at semicolons outside `$$`-quoted function bodies.
    static func statements(_ script: String) -> [String] {
        var result: [String] = []
        var current = ""
        var inBody = false
        var rest = Substring(script)
        while let c = rest.first {
            if rest.hasPrefix("$$") {
                inBody.toggle()
                current += "$$"
                rest = rest.dropFirst(2)
                continue
            }
            rest = rest.dropFirst()
            if c == ";" && !inBody {
                result.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        result.append(current)
        return result.filter { !$0.allSatisfy(\.isWhitespace) }
    }

    /// Creates a schema if it is missing, for a store opened with `?search_path=<name>` (a
    /// deployment sharing a database, or a test giving each store its own).
    public static func createSchema(_ name: String, url: String) async throws {
        guard Endpoint.isIdentifier(name) else { throw PostgresConfigurationError("bad schema name \(name)") }
        let store = try PostgresStore(
            configuration: .init(url: url, poolSize: 2, opensWholePool: false), broker: nil,
            logger: Logger(label: "test"))
        defer { store.shutdown() }
        try await store.client.withConnection { conn in
            try await PostgresSession(connection: conn, logger: store.logger).run(
                "CREATE SCHEMA IF NOT EXISTS \(unsafeRaw: name)")
        }
    }

    /// The schema version this database is at.
    public func schemaVersion() async throws -> Int {
        try await client.withConnection { conn in
            try await PostgresSession(connection: conn, logger: self.logger).first(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
            ) { $0.int() } ?? 0
        }
    }

    // MARK: Transactions

    public func write<T: Sendable>(_ body: @escaping @Sendable (any RunWriteTransaction) async throws -> T) async throws
        -> T
    {
        try await writePostgres { tx in try await body(tx) }
    }

    public func writeStatement<T: Sendable>(
        _ body: @escaping @Sendable (any RunWriteTransaction) async throws -> T
    ) async throws -> T {
        try await writePostgres(.statement) { tx in try await body(tx) }
    }

    func writePostgres<T: Sendable>(
        _ kind: TransactionKind = .write,
        _ body: @escaping @Sendable (SQLRunTransaction<PostgresSession>) async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let start = ContinuousClock.now
            do {
                let (value, events) = try await transaction(kind, body)
                commitTimer.record(duration: ContinuousClock.now - start)
                broker?.publish(events)
                notices.announce(events)
                return value
            } catch  where Self.isConflict(error) && attempt < configuration.maxTransactionAttempts {
                retries.increment()
                // Jittered backoff, growing with the attempts, so the losers do not collide again.
                let ceiling = min(50_000, 500 << min(attempt, 7))
                try await Task.sleep(for: .microseconds(Int.random(in: ceiling / 4...ceiling)))
            }
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any RunReadTransaction) async throws -> T) async throws
        -> T
    {
        try await transaction(.read) { tx in try await body(tx) }.0
    }

    public func readStatement<T: Sendable>(
        _ body: @escaping @Sendable (any RunReadTransaction) async throws -> T
    ) async throws -> T {
        do {
            return try await client.withConnection { conn in
                let session = PostgresSession(connection: conn, logger: self.logger, statementLimit: 1)
                return try await body(SQLRunTransaction(connection: session))
            }
        } catch let error as PSQLError {
            throw PostgresQueryError(error)
        }
    }

    enum TransactionKind {
        case read, write
        /// A write of one statement, committed by itself (`writeStatement`).
        case statement

        var begin: String? {
            switch self {
            case .read: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            case .write: "BEGIN ISOLATION LEVEL READ COMMITTED"
            case .statement: nil
            }
        }
    }

    /// Runs `body` between `BEGIN` and `COMMIT` on one connection. A read sends its transaction
    /// control without waiting for the answers: the connection runs statements in order, so the
    /// body's first statement still runs inside the transaction and the next borrower's queue
    /// behind the `COMMIT`; only the body's statements cost a round trip each. A write waits for
    /// each (sending its BEGIN ahead measured slower, and a lost BEGIN would leave the statements
    /// after it committing one by one).
    private func transaction<T: Sendable>(
        _ kind: TransactionKind, _ body: @escaping @Sendable (SQLRunTransaction<PostgresSession>) async throws -> T
    ) async throws -> (T, [RunEvent]) {
        do {
            return try await client.withConnection { conn in
                // A write awaits each of its statements in turn; run on the connection's own
                // event loop, an answer resumes it there instead of hopping to the cooperative
                // pool and back (measured in turns: never slower, steps up to about 10% faster; see
                // docs/benchmarks.md, "Scale-out"). Reads send
                // BEGIN/COMMIT without waiting, and measured slower on the loop, so stay off it.
                let executor: (any TaskExecutor)? = kind == .read ? nil : EventLoopExecutor(conn.eventLoop)
                return try await withTaskExecutorPreference(executor) {
                    guard let begin = kind.begin else {
                        let tx = SQLRunTransaction(
                            connection: PostgresSession(connection: conn, logger: self.logger, statementLimit: 1))
                        return (try await body(tx), tx.appendedEvents)
                    }
                    let session = PostgresSession(connection: conn, logger: self.logger)
                    func control(_ statement: String) async throws {
                        switch kind {
                        case .read: session.send(statement)
                        case .write, .statement: try await session.run(SQL(stringLiteral: statement))
                        }
                    }
                    try await control(begin)
                    do {
                        let tx = SQLRunTransaction(connection: session)
                        let value = try await body(tx)
                        try await control("COMMIT")
                        return (value, tx.appendedEvents)
                    } catch {
                        try? await control("ROLLBACK")
                        throw error
                    }
                }
            }
        } catch let error as PSQLError {
            throw PostgresQueryError(error)
        }
    }

    /// Serialization failures, deadlocks and unique-constraint races: a rerun decides anew.
    static func isConflict(_ error: any Error) -> Bool {
        guard let state = (error as? PostgresQueryError)?.sqlState else { return false }
        return state == "40001" || state == "40P01" || state == "23505"
    }

    // MARK: API keys

    /// The first line of a notice that API keys were revoked (their ids follow, one a line).
    /// A replica that predates it reads it as a notice of no events.
    static let keyRevokedNotice = "key-revoked"

    /// Revokes a key and, in the same transaction, tells every replica listening (Postgres
    /// delivers the notice at commit), so none answers for it from memory any more.
    public func revokeKey(id: String, tenant: TenantID?, at now: Timestamp) async throws -> Bool {
        let channel = self.channel
        let revoked = try await writePostgres { tx in
            guard try await tx.revokeKey(id: id, tenant: tenant, at: now) else { return false }
            try await tx.connection.run("SELECT pg_notify(\(channel), \(Self.keyRevokedNotice + "\n" + id))")
            return true
        }
        if revoked { verifiedKeys?.forget(keyId: id) }
        return revoked
    }

    // MARK: Events across replicas

    /// Starts the listener; the stream yields once `LISTEN` is in place (or the first attempt
    /// failed; later attempts retry every second).
    private func startListening() -> AsyncStream<Void> {
        let (ready, signal) = AsyncStream<Void>.makeStream()
        // The task holds the client, not the store, so a store nobody uses any more is freed
        // (its deinit cancels this task).
        guard let client = listenerClient else { return AsyncStream { $0.finish() } }
        let channel = self.channel, logger = self.logger, sender = notices, verifiedKeys = self.verifiedKeys
        let task = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    try await client.withConnection { conn in
                        // This replica's own notices go out on the same connection.
                        sender.attach(conn)
                        defer { sender.detach() }
                        // Keys are answered from memory only while revocations are heard.
                        defer { verifiedKeys?.setListening(false) }
                        try await conn.listen(on: channel) { notices in
                            verifiedKeys?.setListening(true)
                            signal.yield()
                            signal.finish()
                            for try await notice in notices { await self?.relay(notice.payload) }
                        }
                    }
                } catch {
                    signal.finish()
                    if Task.isCancelled { return }
                    logger.warning(
                        "listening for other replicas' events failed; retrying",
                        metadata: ["error": "\((error as? PSQLError).map(PostgresQueryError.init) ?? error)"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        tasks.withLock { $0.append(task) }
        return ready
    }

    /// Publishes another replica's committed events to this replica's subscribers, read from
    /// the events table. Runs nobody here watches are skipped.
    private func relay(_ payload: String) async {
        var lines = payload.split(separator: "\n")
        if lines.first.map(String.init) == Self.keyRevokedNotice {
            for id in lines.dropFirst() { verifiedKeys?.forget(keyId: String(id)) }
            return
        }
        guard let broker else { return }
        guard let sender = lines.first, sender != replicaID else { return }
        lines.removeFirst()
        for line in lines {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let low = Int64(parts[1]), let high = Int64(parts[2]), low <= high else { continue }
            let runId = String(parts[0])
            guard broker.hasSubscribers(runId: runId) else { continue }
            do {
                let events = try await read { tx in
                    try await tx.events(runId: runId, after: low - 1, limit: Int(clamping: high - low + 1))
                }
                broker.publish(events)
            } catch {
                logger.warning("cannot read relayed events", metadata: ["run": "\(runId)", "error": "\(error)"])
            }
        }
    }
}

public struct PostgresConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension PostgresStore {
    /// Mean latencies of the building blocks of a transaction on this database, for
    /// `cairn bench postgres`: one statement on a held connection, a connection lease plus one
    /// statement, and an empty read and write transaction.
    public func measureRoundTrips(count: Int) async throws -> [(String, Duration)] {
        let count = max(1, min(count, 1_000_000))
        var results: [(String, Duration)] = []
        let held = try await client.withConnection { conn in
            let s = PostgresSession(connection: conn, logger: self.logger)
            let start = ContinuousClock.now
            for _ in 0..<count { try await s.run("SELECT 1") }
            return (ContinuousClock.now - start) / count
        }
        results.append(("SELECT 1 on a held connection", held))
        var start = ContinuousClock.now
        for _ in 0..<count {
            try await client.withConnection { conn in
                try await PostgresSession(connection: conn, logger: self.logger).run("SELECT 1")
            }
        }
        results.append(("lease + SELECT 1", (ContinuousClock.now - start) / count))
        start = ContinuousClock.now
        for _ in 0..<count { _ = try await read { _ in 0 } }
        results.append(("empty read transaction", (ContinuousClock.now - start) / count))
        start = ContinuousClock.now
        for _ in 0..<count { _ = try await write { _ in 0 } }
        results.append(("empty write transaction", (ContinuousClock.now - start) / count))
        return results
    }
}

/// One connection pool per event loop, each pool's connections on its loop. A loop without a
/// pool of its own (a pool smaller than the loops) borrows another's, as does a task on no loop.
final class LoopPools: Sendable {
    private let clients: [ObjectIdentifier: PostgresClient]
    private let all: [PostgresClient]
    private let next = Atomic<UInt>(0)

    init(loops: [any EventLoop], clients: [PostgresClient]) {
        precondition(!clients.isEmpty)
        all = clients
        var byLoop: [ObjectIdentifier: PostgresClient] = [:]
        for (i, loop) in loops.enumerated() { byLoop[ObjectIdentifier(loop)] = clients[i % clients.count] }
        self.clients = byLoop
    }

    /// The pool sizes of the first loops: `connections` split as evenly as they go, one each at
    /// least, so fewer connections than loops leave the last loops without a pool.
    static func shares(connections: Int, loops: Int) -> [Int] {
        (0..<min(connections, loops)).map { i in connections / loops + (i < connections % loops ? 1 : 0) }
    }

    var current: PostgresClient {
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop, let client = clients[ObjectIdentifier(loop)] {
            return client
        }
        return all[Int(next.wrappingAdd(1, ordering: .relaxed).oldValue % UInt(all.count))]
    }
}

/// Runs a task's jobs on a NIO event loop, so code that awaits the loop's own futures resumes
/// without a thread hop.
public final class EventLoopExecutor: TaskExecutor {
    let eventLoop: any EventLoop
    public init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
