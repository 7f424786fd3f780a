/// Counts across every tenant, for the server's gauges (`/metrics`).
public struct StoreFigures: Sendable, Equatable {
    /// Runs by status, for the statuses that change: `queued` (queue depth, due or not) and
    /// `running` (in flight).
    public var queuedRuns = 0
    public var runningRuns = 0
    /// Outbound deliveries not yet delivered or given up (the backlog).
    public var pendingDeliveries = 0

    public init(queuedRuns: Int = 0, runningRuns: Int = 0, pendingDeliveries: Int = 0) {
        self.queuedRuns = queuedRuns
        self.runningRuns = runningRuns
        self.pendingDeliveries = pendingDeliveries
    }
}

public protocol StoreFiguresReadTransaction: Sendable {
    func storeFigures() async throws -> StoreFigures
}

extension RunService {
    public func storeFigures() async throws -> StoreFigures {
        try await store.read { tx in try await tx.storeFigures() }
    }
}
