import CairnCore
import Foundation
import Logging
import Metrics
import Synchronization

/// The embedded store: one SQLite database in WAL mode.
///
/// All writes go through a single writer on a dedicated thread. Requests that arrive while a
/// transaction commits queue up and share the next one (group commit): one `BEGIN`, each
/// request's work inside its own savepoint (so one request's error rolls back only its own
/// writes), one `COMMIT` and one fsync. A request is answered only after the commit that holds
/// its writes is durable. Reads use a pool of separate connections and never wait for writes.
public final class SQLiteStore: RunStore, Sendable {
    public struct Configuration: Sendable {
        public var path: String
        /// `FULL` fsyncs the WAL on every commit: nothing acknowledged is lost even on power loss.
        public var synchronous: String = "FULL"
        /// How long a write waits for another process's lock on the database before failing.
        public var busyTimeoutMilliseconds: Int32 = 5_000
        /// Told when a write fails for lack of space and when writes succeed again.
        public var reserve: StorageReserve?
        public init(path: String, reserve: StorageReserve? = nil) {
            self.path = path
            self.reserve = reserve
        }
    }

    private final class WriteJob: Sendable {
        /// Runs the job's work; returns whether it succeeded and how to answer its caller once
        /// the outcome of the commit is known.
        let run: @Sendable (SQLiteRunTransaction) async -> (ok: Bool, finish: @Sendable ((any Error)?) -> Void)
        /// Answers the caller with an error without running the work (the transaction could not
        /// be opened), so nothing is ever written outside a transaction or left unanswered.
        let abandon: @Sendable (any Error) -> Void
        init(
            run:
                @escaping @Sendable (SQLiteRunTransaction) async -> (ok: Bool, finish: @Sendable ((any Error)?) -> Void),
            abandon: @escaping @Sendable (any Error) -> Void
        ) {
            self.run = run
            self.abandon = abandon
        }
    }

    private struct WriterState {
        var queue: [WriteJob] = []
        var draining = false
    }

    public let configuration: Configuration
    private let writer: SQLiteConnection
    private let writerExecutor: ThreadExecutor
    private let writerState = Mutex(WriterState())
    private let readers = Mutex<[SQLiteConnection]>([])
    private let broker: EventBroker?
    private let logger: Logger
    private let commitTimer = Timer(label: "cairn_store_commit_duration_seconds")
    private let batchRecorder = Recorder(label: "cairn_store_group_commit_batch_size", aggregate: true)
    private let commitCounter = Counter(label: "cairn_store_commits_total")
    /// Transactions the writer has run (tests check that concurrent writes share them).
    private let commitsRun = Atomic<Int>(0)
    /// The work of the writer and the readers (tests check that it does not grow with the data).
    let work: SQLiteWork

    /// Opens (creating if needed) the database and applies pending migrations.
    public init(configuration: Configuration, broker: EventBroker?, logger: Logger = Logger(label: "cairn.store"))
        throws
    {
        self.configuration = configuration
        self.broker = broker
        self.logger = logger
        let directory = (configuration.path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let work = SQLiteWork()
        self.work = work
        writer = try SQLiteConnection(
            path: configuration.path, readOnly: false, busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds,
            work: work)
        try writer.execute(
            script: """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = \(configuration.synchronous);
                PRAGMA foreign_keys = ON;
                PRAGMA temp_store = MEMORY;
                PRAGMA cache_size = -65536;
                """)
        try Self.migrate(writer, logger: logger)
        writerExecutor = ThreadExecutor(name: "cairn-sqlite-writer")
    }

    deinit { writerExecutor.stop() }

    /// The schema version this database is at.
    public func schemaVersion() throws -> Int {
        try withReader { c in try c.first("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") { $0.int() } ?? 0 }
    }

    /// Applies the migrations not yet applied, up to `version` (tests stop early to build an
    /// older schema).
    static func migrate(_ db: SQLiteConnection, logger: Logger, through version: Int = .max) throws {
        try db.execute(
            script: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
                """)
        let applied = Set(try db.all("SELECT version FROM schema_migrations") { $0.int() })
        for migration in Migrations.all where !applied.contains(migration.version) && migration.version <= version {
            try db.execute(script: "BEGIN IMMEDIATE")
            do {
                try db.execute(script: migration.sqlite)
                try db.run(
                    """
                    INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(migration.version), \
                    \(migration.name), \(Timestamp.now()))
                    """)
                try db.execute(script: "COMMIT")
                logger.debug(
                    "applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            } catch {
                try? db.execute(script: "ROLLBACK")
                throw error
            }
        }
    }

    // MARK: Writes

    public func write<T: Sendable>(_ body: @escaping @Sendable (any RunWriteTransaction) async throws -> T) async throws
        -> T
    {
        try await writeSQLite { tx in try await body(tx) }
    }

    /// A group-committed write with the SQLite transaction itself (for this module's own tables).
    func writeSQLite<T: Sendable>(_ body: @escaping @Sendable (SQLiteRunTransaction) async throws -> T) async throws
        -> T
    {
        do {
            return try await groupCommitted(body)
        } catch {
            configuration.reserve?.note(error)
            throw error
        }
    }

    private func groupCommitted<T: Sendable>(_ body: @escaping @Sendable (SQLiteRunTransaction) async throws -> T)
        async throws -> T
    {
        // When the writer is idle, the caller leads the commit on its own thread: no hand-off to
        // the writer thread and back, which dominates latency when requests come one at a time.
        let leads = writerState.withLock { s -> Bool in
            if s.draining { return false }
            s.draining = true
            return true
        }
        if leads { return try await leadCommit(body) }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Self.makeJob(body) { continuation.resume(with: $0) }
            let startDrain = writerState.withLock { s -> Bool in
                s.queue.append(job)
                if s.draining { return false }
                s.draining = true
                return true
            }
            if startDrain { Task(executorPreference: writerExecutor) { await self.drain() } }
        }
    }

    private static func makeJob<T: Sendable>(
        _ body: @escaping @Sendable (SQLiteRunTransaction) async throws -> T,
        deliver: @escaping @Sendable (Result<T, any Error>) -> Void
    ) -> WriteJob {
        WriteJob(
            run: { tx in
                do {
                    let value = try await body(tx)
                    return (true, { commitError in deliver(commitError.map { .failure($0) } ?? .success(value)) })
                } catch {
                    return (false, { _ in deliver(.failure(error)) })
                }
            },
            abandon: { error in deliver(.failure(error)) })
    }

    /// Commits the caller's job together with whatever queued meanwhile, then hands any later
    /// arrivals to the writer thread, so a leader answers its own request after one commit.
    private func leadCommit<T: Sendable>(_ body: @escaping @Sendable (SQLiteRunTransaction) async throws -> T)
        async throws -> T
    {
        let outcome = Mutex<Result<T, any Error>?>(nil)
        let own = Self.makeJob(body) { result in outcome.withLock { $0 = result } }
        let queued = writerState.withLock { s -> [WriteJob] in
            let q = s.queue
            s.queue.removeAll(keepingCapacity: true)
            return q
        }
        await commit([own] + queued)
        let more = writerState.withLock { s -> Bool in
            if s.queue.isEmpty {
                s.draining = false
                return false
            }
            return true
        }
        if more { Task(executorPreference: writerExecutor) { await self.drain() } }
        return try outcome.withLock { $0! }.get()
    }

    /// Commits queued jobs in batches until the queue is empty. Runs on the writer thread.
    private func drain() async {
        while true {
            let batch = writerState.withLock { s -> [WriteJob] in
                let batch = s.queue
                s.queue.removeAll(keepingCapacity: true)
                if batch.isEmpty { s.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            await commit(batch)
        }
    }

    /// Writes waiting for the writer (tests use it to build a batch).
    var queuedWriteCount: Int { writerState.withLock { $0.queue.count } }

    private func commit(_ batch: [WriteJob]) async {
        var remaining = batch
        while !remaining.isEmpty { remaining = await commitOnce(remaining) }
    }

    /// Runs the jobs in one transaction and answers them. If SQLite rolls the whole transaction
    /// back under a failing job (it may on a full disk or an I/O error), that job is answered
    /// with its error and the others, whose writes went with the transaction, are returned to
    /// run again in a new one: nothing is acknowledged that was not committed.
    private func commitOnce(_ batch: [WriteJob]) async -> [WriteJob] {
        let start = ContinuousClock.now
        do {
            try writer.run("BEGIN IMMEDIATE")
        } catch {
            // A full disk is logged once per episode by the reserve, not once per batch.
            if !(error is StorageFullError) {
                logger.error("cannot begin transaction", metadata: ["error": "\(error)"])
            }
            for job in batch { job.abandon(error) }
            return []
        }
        var outcomes: [(ok: Bool, finish: @Sendable ((any Error)?) -> Void)] = []
        outcomes.reserveCapacity(batch.count)
        var committedEvents: [RunEvent] = []
        for (index, job) in batch.enumerated() {
            do {
                try writer.run("SAVEPOINT job")
            } catch {
                outcomes.append((false, { _ in job.abandon(error) }))
                continue
            }
            let tx = SQLiteRunTransaction(connection: writer)
            let outcome = await job.run(tx)
            if !writer.isInTransaction {
                if !outcome.ok { outcome.finish(nil) }
                return Array(batch[..<index]) + (outcome.ok ? [job] : []) + Array(batch[(index + 1)...])
            }
            if outcome.ok {
                try? writer.run("RELEASE job")
                committedEvents.append(contentsOf: tx.appendedEvents)
            } else {
                try? writer.run("ROLLBACK TO job")
                try? writer.run("RELEASE job")
            }
            outcomes.append(outcome)
        }
        var commitError: (any Error)?
        do {
            try writer.run("COMMIT")
        } catch {
            commitError = error
            if !(error is StorageFullError) {
                logger.error("commit failed", metadata: ["error": "\(error)", "batch": "\(batch.count)"])
            }
            try? writer.run("ROLLBACK")
        }
        commitTimer.record(duration: ContinuousClock.now - start)
        batchRecorder.record(batch.count)
        commitCounter.increment()
        commitsRun.add(1, ordering: .relaxed)
        if commitError == nil {
            broker?.publish(committedEvents)
            configuration.reserve?.noteWriteSucceeded()
        }
        for outcome in outcomes { outcome.finish(outcome.ok ? commitError : nil) }
        return []
    }

    // MARK: Test hooks

    /// How many transactions the writer has run since the store opened.
    var commitCount: Int { commitsRun.load(ordering: .relaxed) }

    /// The writer connection's journal mode and `synchronous` level (0 OFF, 1 NORMAL, 2 FULL),
    /// as SQLite reports them.
    func writerDurabilitySettings() async throws -> (journalMode: String, synchronous: Int) {
        try await writeSQLite { tx in
            let journalMode = try tx.connection.first("PRAGMA journal_mode") { $0.string() } ?? ""
            let synchronous = try tx.connection.first("PRAGMA synchronous") { $0.int() } ?? -1
            return (journalMode, synchronous)
        }
    }

    // MARK: Reads

    public func read<T: Sendable>(_ body: @escaping @Sendable (any RunReadTransaction) async throws -> T) async throws
        -> T
    {
        try await readSQLite { tx in try await body(tx) }
    }

    /// SQLite's reads are local calls, so a lone statement gains nothing from skipping the
    /// transaction.
    public func readStatement<T: Sendable>(
        _ body: @escaping @Sendable (any RunReadTransaction) async throws -> T
    ) async throws -> T {
        try await read(body)
    }

    /// SQLite's statements are local calls, and its transactions cheap, so a one-statement
    /// write is `write` (whose bodies may take several statements where Postgres takes one).
    public func writeStatement<T: Sendable>(
        _ body: @escaping @Sendable (any RunWriteTransaction) async throws -> T
    ) async throws -> T {
        try await write(body)
    }

    func readSQLite<T: Sendable>(_ body: @escaping @Sendable (SQLiteRunTransaction) async throws -> T) async throws -> T
    {
        let connection = try checkoutReader()
        defer { checkinReader(connection) }
        // One read transaction, so a multi-query read sees a single snapshot.
        try connection.run("BEGIN")
        do {
            let value = try await body(SQLiteRunTransaction(connection: connection))
            try connection.run("COMMIT")
            return value
        } catch {
            try? connection.run("ROLLBACK")
            throw error
        }
    }

    private func withReader<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let connection = try checkoutReader()
        defer { checkinReader(connection) }
        return try body(connection)
    }

    private func checkoutReader() throws -> SQLiteConnection {
        if let connection = readers.withLock({ $0.popLast() }) { return connection }
        let connection = try SQLiteConnection(path: configuration.path, readOnly: true, work: work)
        try connection.execute(script: "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384;")
        return connection
    }

    private func checkinReader(_ connection: SQLiteConnection) {
        readers.withLock { pool in
            if pool.count < 16 { pool.append(connection) }
        }
    }
}

extension SQLiteStore: ArtifactStore, KeyStore {}
