import CairnCore
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The notices that tell the other replicas which runs gained events: `NOTIFY <channel>` with
/// the sending replica's id on the first line, then one line `run lowSeq highSeq` per run, each
/// notice under 8000 bytes (Postgres refuses more).
///
/// They go out after the events' commit, on the connection the replica listens on, never from
/// the writing transaction: Postgres holds one database-wide lock from a notifying
/// transaction's pre-commit to the end of its commit, so notifying writers flush their commits
/// one at a time (measured with pgbench, 8 writers: 1,500–1,700 commits/s notifying,
/// 4,400–5,200 not). A notice-only statement writes no WAL and holds that lock briefly. The
/// listening connection is otherwise idle, so a notice neither waits for a pool lease nor
/// delays another borrower. Commits announced while a notice is on its way, or within
/// `spacing` of the last, are merged into the next, so a busy replica sends one notice for
/// many commits.
///
/// A notice can be lost (the replica dies between a commit and its notice, or its listener is
/// reconnecting, when notices are dropped); subscribers read the events table at every
/// keepalive, so they still get every event, later.
final class EventNoticeSender: Sendable {
    static let payloadLimit = 7_000
    /// The least time between two notices of a replica. A notice costs the database and every
    /// listening replica a wake-up, about 0.5 ms of a step's 2.1 ms when each commit sent one
    /// (in turns, one writer); a commit after a quiet spell is announced at once, and one
    /// during a spell waits at most this long.
    static let spacing = TimeAmount.milliseconds(10)

    /// Runs with events not yet announced, in the order they first appeared, each with the
    /// lowest and highest of its numbers.
    struct Ranges {
        private(set) var order: [String] = []
        private(set) var ranges: [String: ClosedRange<Int64>] = [:]

        var isEmpty: Bool { order.isEmpty }

        mutating func add(_ events: [RunEvent]) {
            for event in events {
                if let range = ranges[event.runId] {
                    ranges[event.runId] = min(range.lowerBound, event.seq)...max(range.upperBound, event.seq)
                } else {
                    ranges[event.runId] = event.seq...event.seq
                    order.append(event.runId)
                }
            }
        }
    }

    private struct State {
        var pending = Ranges()
        var connection: PostgresConnection?
        var sending = false
    }

    private let state = Mutex(State())
    private let sender: String
    private let channel: String
    private let logger: Logger

    init(sender: String, channel: String, logger: Logger) {
        self.sender = sender
        self.channel = channel
        self.logger = logger
    }

    /// Notices go out on `connection` from now on (the listener's, once it listens).
    func attach(_ connection: PostgresConnection) {
        state.withLock { $0.connection = connection }
    }

    /// The connection is going away: nothing is sent until another is attached, and what is
    /// pending is dropped.
    func detach() {
        state.withLock { s in
            s.connection = nil
            s.pending = Ranges()
        }
    }

    /// Announces committed events; returns at once. Dropped while no connection is attached.
    func announce(_ events: [RunEvent]) {
        guard !events.isEmpty else { return }
        let next = state.withLock { s -> (PostgresConnection, Ranges)? in
            guard s.connection != nil else { return nil }
            s.pending.add(events)
            return Self.takeBatch(&s)
        }
        if let (connection, batch) = next { send(batch, on: connection) }
    }

    /// The pending runs and the connection to send them on, unless a send is under way.
    private static func takeBatch(_ s: inout State) -> (PostgresConnection, Ranges)? {
        guard !s.sending, !s.pending.isEmpty, let connection = s.connection else { return nil }
        s.sending = true
        defer { s.pending = Ranges() }
        return (connection, s.pending)
    }

    private func send(_ batch: Ranges, on connection: PostgresConnection) {
        let payloads = Self.payloads(sender: sender, ranges: batch)
        var sent: EventLoopFuture<Void>?
        for payload in payloads {
            var binds = PostgresBindings(capacity: 2)
            binds.append(channel)
            binds.append(payload)
            let query = connection.query(
                PostgresQuery(unsafeSQL: "SELECT pg_notify($1, $2)", binds: binds), logger: logger
            )
            .map { _ in }
            sent = sent.map { $0.and(query).map { _ in } } ?? query
        }
        sent?.whenComplete { [self] result in
            // A connection closed under it is the store shutting down or the listener
            // reconnecting: expected, and covered like any lost notice.
            if case .failure(let error) = result, (error as? PSQLError)?.code != .clientClosedConnection {
                logger.warning(
                    "an events notice failed; other replicas' streams get those events at their next keepalive",
                    metadata: ["error": "\((error as? PSQLError).map(PostgresQueryError.init) ?? error)"])
            }
            // The next notice waits out the spacing, gathering what commits meanwhile.
            connection.eventLoop.scheduleTask(in: Self.spacing) { [self] in
                let next = state.withLock { s -> (PostgresConnection, Ranges)? in
                    s.sending = false
                    return Self.takeBatch(&s)
                }
                if let (connection, batch) = next { send(batch, on: connection) }
            }
        }
    }

    /// The payloads announcing `ranges`: the sender's id, then `run low high` lines, split so
    /// that none passes `payloadLimit` bytes.
    static func payloads(sender: String, ranges: Ranges) -> [String] {
        var payloads: [String] = []
        var current = sender
        for run in ranges.order {
            guard let range = ranges.ranges[run] else { continue }
            let line = "\n\(run) \(range.lowerBound) \(range.upperBound)"
            if current.utf8.count + line.utf8.count > payloadLimit, current != sender {
                payloads.append(current)
                current = sender
            }
            current += line
        }
        if current != sender { payloads.append(current) }
        return payloads
    }
}
