import Synchronization

/// In-process wake-ups for the event streams of buckets: after a commit that recorded events,
/// `signal` wakes the streams of that bucket, which then read the new events from the store (the
/// store is the truth; streams on other replicas find them by polling). `shutdown` ends them all.
public final class WorkspaceChangeFeed: Sendable {
    private struct State {
        var streams: [String: [Int: AsyncStream<Void>.Continuation]] = [:]
        var nextId = 0
        var closed = false
    }

    private let state = Mutex(State())

    public init() {}

    public struct Subscription: Sendable {
        public let bucketId: String
        let id: Int
        /// Yields after each signal (coalesced) and ends at shutdown.
        public let wakeups: AsyncStream<Void>
        /// Wakes this subscription alone (the stream's own timer).
        public let wake: @Sendable () -> Void
    }

    public func subscribe(bucketId: String) -> Subscription {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { s in
            if s.closed { return nil }
            s.nextId += 1
            s.streams[bucketId, default: [:]][s.nextId] = continuation
            return s.nextId
        }
        guard let id else {
            continuation.finish()
            return Subscription(bucketId: bucketId, id: -1, wakeups: stream, wake: {})
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(bucketId: bucketId, id: id) }
        return Subscription(bucketId: bucketId, id: id, wakeups: stream, wake: { continuation.yield() })
    }

    func unsubscribe(bucketId: String, id: Int) {
        state.withLock { s in
            s.streams[bucketId]?[id] = nil
            if s.streams[bucketId]?.isEmpty == true { s.streams[bucketId] = nil }
        }
    }

    public func signal(bucketId: String) {
        let targets = state.withLock { s in s.streams[bucketId].map { Array($0.values) } ?? [] }
        for c in targets { c.yield() }
    }

    public var subscriberCount: Int { state.withLock { $0.streams.values.reduce(0) { $0 + $1.count } } }

    /// Ends every stream (graceful shutdown) and refuses new ones.
    public func shutdown() {
        let all = state.withLock { s in
            s.closed = true
            defer { s.streams = [:] }
            return s.streams.values.flatMap { $0.values }
        }
        for c in all { c.finish() }
    }
}
