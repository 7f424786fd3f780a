import Synchronization

/// In-process fan-out of committed run events to live subscribers (SSE streams). Stores call
/// `publish` only after a transaction commits, so a subscriber never sees an event that was
/// rolled back.
public final class EventBroker: Sendable {
    private struct State {
        var subscribers: [String: [Int: AsyncStream<RunEvent>.Continuation]] = [:]
        var commitListeners: [@Sendable ([RunEvent]) -> Void] = []
        var nextID = 0
        var closed = false
    }

    private let state = Mutex(State())

    public init() {}

    public struct Subscription: Sendable {
        public let runId: String
        public let id: Int
        public let events: AsyncStream<RunEvent>
    }

    /// Subscribes to a run's future events. The stream ends when the broker shuts down.
    public func subscribe(runId: String, bufferLimit: Int = 10_000) -> Subscription {
        let (stream, continuation) = AsyncStream<RunEvent>.makeStream(bufferingPolicy: .bufferingNewest(bufferLimit))
        let id: Int? = state.withLock { s in
            if s.closed { return nil }
            s.nextID += 1
            s.subscribers[runId, default: [:]][s.nextID] = continuation
            return s.nextID
        }
        guard let id else {
            continuation.finish()
            return Subscription(runId: runId, id: -1, events: stream)
        }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(runId: runId, id: id) }
        return Subscription(runId: runId, id: id, events: stream)
    }

    public func unsubscribe(runId: String, id: Int) {
        state.withLock { s in
            s.subscribers[runId]?[id] = nil
            if s.subscribers[runId]?.isEmpty == true { s.subscribers[runId] = nil }
        }
    }

    /// Calls `listener` with every committed batch of events (services that act on commits).
    public func addCommitListener(_ listener: @escaping @Sendable ([RunEvent]) -> Void) {
        state.withLock { $0.commitListeners.append(listener) }
    }

    public func publish(_ events: [RunEvent]) {
        guard !events.isEmpty else { return }
        for listener in state.withLock({ $0.commitListeners }) { listener(events) }
        let targets: [(RunEvent, [AsyncStream<RunEvent>.Continuation])] = state.withLock { s in
            if s.subscribers.isEmpty { return [] }
            return events.compactMap { e in
                guard let subs = s.subscribers[e.runId] else { return nil }
                return (e, Array(subs.values))
            }
        }
        for (event, continuations) in targets {
            for c in continuations { c.yield(event) }
        }
    }

    /// Whether anyone watches the run (relaying another replica's events is skipped if not).
    public func hasSubscribers(runId: String) -> Bool { state.withLock { $0.subscribers[runId] != nil } }

    public var subscriberCount: Int { state.withLock { $0.subscribers.values.reduce(0) { $0 + $1.count } } }

    /// Ends every stream (graceful shutdown) and refuses new subscriptions.
    public func shutdown() {
        let all: [AsyncStream<RunEvent>.Continuation] = state.withLock { s in
            s.closed = true
            let all = s.subscribers.values.flatMap { $0.values }
            s.subscribers = [:]
            return all
        }
        for c in all { c.finish() }
    }
}
