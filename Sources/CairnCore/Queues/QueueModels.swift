/// A field of a partial update: left alone when absent, cleared by an explicit `null`.
public enum FieldUpdate<Value: Sendable & Equatable>: Sendable, Equatable {
    case keep
    case clear
    case set(Value)

    public func applied(to current: Value?) -> Value? {
        switch self {
        case .keep: return current
        case .clear: return nil
        case .set(let v): return v
        }
    }
}

/// Limits and push target of a named queue.
public struct QueueConfig: Sendable, Equatable {
    public var name: String
    /// Most runs of the queue running at once.
    public var concurrency: Int?
    /// Most claims per rolling minute.
    public var ratePerMinute: Int?
    /// Push mode: ready runs are announced to this URL (`run.invoke`) instead of being claimed.
    public var invokeURL: String?
    /// Set while the queue is paused (Cairn's extension): its runs wait, none is claimed or pushed.
    public var pausedAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        name: String, concurrency: Int? = nil, ratePerMinute: Int? = nil, invokeURL: String? = nil,
        pausedAt: Timestamp? = nil, createdAt: Timestamp,
        updatedAt: Timestamp
    ) {
        self.name = name
        self.concurrency = concurrency
        self.ratePerMinute = ratePerMinute
        self.invokeURL = invokeURL
        self.pausedAt = pausedAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// How many of a queue's runs were claimed, completed and failed for good in a recent window,
/// counted from the runs' own times (a run claimed twice in the window counts once).
public struct QueueActivity: Sendable, Equatable {
    /// The windows `RunService.queueStats(tenant:activity:)` counts: the last minute and the last
    /// quarter hour.
    public static let windowsMilliseconds: [Int64] = [60_000, 900_000]

    public var windowMilliseconds: Int64
    public var claimed = 0
    public var completed = 0
    public var failed = 0

    public init(windowMilliseconds: Int64, claimed: Int = 0, completed: Int = 0, failed: Int = 0) {
        self.windowMilliseconds = windowMilliseconds
        self.claimed = claimed
        self.completed = completed
        self.failed = failed
    }

    /// Claims per minute over the window.
    public var claimsPerMinute: Double { Double(claimed) * 60_000 / Double(windowMilliseconds) }
}

public struct QueueStat: Sendable, Equatable {
    public var name: String
    public var queued = 0
    public var running = 0
    public var failed = 0
    public var completed = 0
    public var cancelled = 0
    public var config: QueueConfig?
    /// One entry per `QueueActivity.windowsMilliseconds` when asked for; empty otherwise.
    public var activity: [QueueActivity] = []

    public init(name: String) { self.name = name }
}

public struct EnqueueRequest: Sendable {
    /// The longest `delayMs` or `deadlineMs` accepted: ten years.
    public static let maxOffsetMilliseconds: Int64 = 10 * 365 * 86_400_000

    public var run: CreateRunRequest
    public var dedupeKey: String?
    public var delayMilliseconds: Int64?
    public var runAt: Timestamp?
    public var maxAttempts: Int
    public var priority: Int
    public var deadlineMilliseconds: Int64?

    public init(
        run: CreateRunRequest, dedupeKey: String? = nil, delayMilliseconds: Int64? = nil, runAt: Timestamp? = nil,
        maxAttempts: Int = 1, priority: Int = 0, deadlineMilliseconds: Int64? = nil
    ) {
        self.run = run
        self.dedupeKey = dedupeKey
        self.delayMilliseconds = delayMilliseconds
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.priority = priority
        self.deadlineMilliseconds = deadlineMilliseconds
    }
}

public struct QueueConfigUpdate: Sendable {
    public var concurrency: FieldUpdate<Int>
    public var ratePerMinute: FieldUpdate<Int>
    public var invokeURL: FieldUpdate<String>
    public init(
        concurrency: FieldUpdate<Int> = .keep, ratePerMinute: FieldUpdate<Int> = .keep,
        invokeURL: FieldUpdate<String> = .keep
    ) {
        self.concurrency = concurrency
        self.ratePerMinute = ratePerMinute
        self.invokeURL = invokeURL
    }
}

/// Queue-side reads and writes of the run store.
public protocol QueueReadTransaction: Sendable {
    /// The queued or running run holding a dedupe key, if any.
    func activeRun(tenant: TenantID, queue: String, dedupeKey: String) async throws -> Run?
    /// Queued runs due at `now`, by priority (high first) then due time; called by claims in a
    /// write transaction, which lock them and skip rows another claimer holds. With
    /// `unlessCapped`, none when the queue has a concurrency or rate cap or is paused (read in
    /// the same statement, so a claim of a plain queue needs no read of its config first).
    func dueRuns(tenant: TenantID, queue: String, now: Timestamp, limit: Int, unlessCapped: Bool) async throws
        -> [Run]
    func runningCount(tenant: TenantID, queue: String) async throws -> Int
    func claimedCount(tenant: TenantID, queue: String, since: Timestamp) async throws -> Int
    /// Run counts per queue and status; with `queue`, that queue's only.
    func queueCounts(tenant: TenantID, queue: String?) async throws -> [(queue: String, status: RunStatus, count: Int)]
    /// The tenant's queue configs; with `queue`, that queue's only.
    func queueConfigs(tenant: TenantID, queue: String?) async throws -> [QueueConfig]
    /// Per queue (with `queue`, that one only), its runs claimed, completed and failed since each
    /// of `since` (one pass).
    func queueActivity(tenant: TenantID, queue: String?, since: [Timestamp]) async throws
        -> [(queue: String, claimed: [Int], completed: [Int], failed: [Int])]
    func queueConfig(tenant: TenantID, name: String) async throws -> QueueConfig?
}

public protocol PushQueueReadTransaction: Sendable {
    /// Queues in push mode (with an invoke URL), across tenants.
    func pushQueueConfigs() async throws -> [(tenant: TenantID, config: QueueConfig)]
}

public protocol QueueWriteTransaction: QueueReadTransaction {
    func upsertQueueConfig(_ config: QueueConfig, tenant: TenantID) async throws
    /// Marks runs this transaction just read with `dueRuns` (so holds, and knows to be the
    /// tenant's) as running for `owner`, their attempt counted up by one, all at once.
    func markClaimed(runIds: [String], owner: String, leaseExpiresAt: Timestamp, at: Timestamp) async throws
    /// A whole claim from a queue without caps: up to `limit` due runs (`dueRuns`) marked
    /// claimed (`markClaimed`), each with a `run.claimed` event of `eventPayload`; the runs as
    /// claimed. Nil when the queue has a concurrency or rate cap and is not paused, which the
    /// caller decides in a transaction of its own. One statement on Postgres, so
    /// `RunStore.writeStatement` can run it.
    func claimUncapped(
        tenant: TenantID, queue: String, owner: String, leaseExpiresAt: Timestamp, limit: Int,
        eventPayload: RawJSON, at: Timestamp
    ) async throws -> [Run]?
}

extension Run {
    /// The run as a claim by `owner` leaves it.
    public func claimed(by owner: String, leaseExpiresAt: Timestamp, at now: Timestamp) -> Run {
        var run = self
        run.status = .running
        run.leaseOwner = owner
        run.leaseExpiresAt = leaseExpiresAt
        run.attempt += 1
        run.claimedAt = now
        run.updatedAt = now
        return run
    }
}
