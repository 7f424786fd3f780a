/// Reads of run records inside one consistent snapshot.
public protocol RunReadTransaction: QueueReadTransaction, ReconcilerReadTransaction, ScheduleReadTransaction,
    CheckpointReadTransaction,
    DeliveryReadTransaction, PushQueueReadTransaction, StoreFiguresReadTransaction, ArtifactReadTransaction,
    KeyReadTransaction, StudioSessionReadTransaction, WorkspaceReadTransaction, IAMReadTransaction
{
    func run(id: String, tenant: TenantID) async throws -> Run?
    /// Runs newest first (`created_at DESC, id DESC`) matching `query`, at most `query.limit`;
    /// `now` decides which are stalled.
    func runs(tenant: TenantID, query: RunListQuery, now: Timestamp) async throws -> [Run]
    func runs(ids: [String]) async throws -> [Run]
    func steps(runId: String) async throws -> [Step]
    func step(runId: String, name: String) async throws -> Step?
    func step(runId: String, id: String) async throws -> Step?
    func state(runId: String) async throws -> RunState?
    func stateStreams(runId: String) async throws -> [StateStream]
    func stateStream(runId: String, name: String) async throws -> StateStream?
    /// Ordered by stream name, then version.
    func stateVersions(runId: String, stream: String?, labeledOnly: Bool) async throws -> [StateVersion]
    /// The run's steps before `before` in (`created_at`, `id`) order, newest first, at most `limit`.
    func steps(runId: String, before: ListCursor?, newestFirstLimit limit: Int) async throws -> [Step]
    /// Versions of every stream, newest first, at most `limit`.
    func stateVersions(runId: String, newestFirstLimit limit: Int) async throws -> [StateVersion]
    /// Labeled versions of every stream, newest first.
    func snapshots(runId: String) async throws -> [StateVersion]
    func edges(parentRunId: String) async throws -> [RunEdge]
    func edge(parentRunId: String, name: String) async throws -> RunEdge?
    func gates(runId: String) async throws -> [Gate]
    func gate(runId: String, id: String) async throws -> Gate?
    func gate(runId: String, name: String) async throws -> Gate?
    func usage(runId: String) async throws -> [UsageRecord]
    /// The newest `limit` entries, newest first.
    func usage(runId: String, newestFirstLimit limit: Int) async throws -> [UsageRecord]
    func usageTotals(runId: String) async throws -> UsageTotals
    /// The entry recorded with this idempotency key, if any.
    func usage(runId: String, idempotencyKey: String) async throws -> UsageRecord?
    func channels(runId: String) async throws -> [Channel]
    func recoveryAttempts(runId: String) async throws -> [RecoveryAttempt]
    /// Events with `seq > after`, in seq order, at most `limit`.
    func events(runId: String, after: Int64, limit: Int) async throws -> [RunEvent]
    /// Events with `seq < before`, newest first, at most `limit`.
    func events(runId: String, before: Int64, newestFirstLimit limit: Int) async throws -> [RunEvent]
    /// Where the run was forked from; nil if it is not a fork.
    func runFork(runId: String) async throws -> RunFork?
    /// The forks made of a run before `before` in (`created_at`, `runId`) order, newest first,
    /// at most `limit`.
    func runForks(parentRunId: String, before: ListCursor?, newestFirstLimit limit: Int) async throws -> [RunFork]
    /// The value of the run's state stream `stream` as of `at`: its newest version written by
    /// then and, when `seq` is given, before the run's event numbered `seq`.
    func runStateValue(runId: String, stream: String, at: Timestamp, through seq: Int64?) async throws -> RawJSON?
}

/// Writes inside one transaction. A read-modify-write through one transaction is atomic on
/// every engine because each one names its primitive: SQLite runs one writer (group commit),
/// so there they cost nothing; Postgres runs READ COMMITTED, where they are what makes it
/// atomic:
/// - locking reads: `runForUpdate` (every write to a run's steps, gates, state, usage and
///   events locks the run first, which also makes event and version numbers gap-free),
///   `checkpointWorkflowForUpdate`, the artifact rows a delete reads, a tenant's usage row;
/// - claims skip rows another transaction holds: due queue runs, due deliveries, due
///   schedules, expired leases, overdue runs, expired workflows;
/// - `lock(_:)` for a decision over rows that may not exist yet;
/// - unique constraints decide races of inserts (enqueue dedupe keys, idempotency keys,
///   checkpoint steps and sequences): the loser's transaction is rolled back and run again
///   from the start, as it is after a deadlock, so a body must be safe to run again (it only
///   reads and writes through `tx`, and publishes nothing until commit).
public protocol RunWriteTransaction: RunReadTransaction, QueueWriteTransaction, ScheduleWriteTransaction,
    CheckpointWriteTransaction,
    DeliveryWriteTransaction, ArtifactWriteTransaction, KeyWriteTransaction, StudioSessionWriteTransaction,
    WorkspaceWriteTransaction,
    IAMWriteTransaction
{
    /// Reads the run and locks it against other writers until commit.
    func runForUpdate(id: String, tenant: TenantID) async throws -> Run?
    /// Holds a lock named by `key` until commit, for a decision over rows that may not exist
    /// yet (a queue's concurrency cap, a tenant's agent count): a transaction-scoped advisory
    /// lock on Postgres, nothing on SQLite, whose single writer already serializes.
    func lock(_ key: String) async throws
    func insertRun(_ run: Run) async throws
    func insertRunFork(_ fork: RunFork) async throws
    func updateRun(_ run: Run) async throws
    /// Inserts the step unless its run already has a step of that name (one statement, so
    /// a run's first begin of a step needs no read first); whether it did.
    func insertStepIfNew(_ step: Step) async throws -> Bool
    /// A run's first begin of `step`: under the run's lock, inserts it with its `step.started`
    /// event (`eventPayload`) unless the run is missing from the tenant or cancelled, or already
    /// has a step of that name. One statement on Postgres, so `RunStore.writeStatement` can run
    /// it; the caller checks first that the run is not a fork (whose steps replay the parent's).
    func startStep(_ step: Step, tenant: TenantID, eventPayload: RawJSON) async throws -> StepStart
    func updateStep(_ step: Step) async throws
    /// Under the run's lock, checkpoints a step's output if `leaseOwner` holds its lease and
    /// appends its `step.completed` event (`Step.completedEventPayload`). One statement on
    /// Postgres, so `RunStore.writeStatement` can run it.
    func completeStep(
        runId: String, tenant: TenantID, stepId: String, leaseOwner: String, output: RawJSON?, at: Timestamp
    )
        async throws -> StepCompletion
    func insertGate(_ gate: Gate) async throws
    /// Resolves a pending gate if the token matches; returns the resolved gate, or nil.
    func resolveGate(
        runId: String, gateId: String, token: String, decision: GateStatus, actor: String?,
        payload: RawJSON, at: Timestamp
    ) async throws -> Gate?
    func upsertState(_ state: RunState) async throws
    func insertStateStream(_ stream: StateStream) async throws
    func updateStateStream(_ stream: StateStream) async throws
    /// Records a version, numbered in the run's event log as the run's next event (the caller
    /// holds the run's lock), so a fork point orders it against the run's step completions.
    func insertStateVersion(_ version: StateVersion) async throws
    func insertEdge(_ edge: RunEdge) async throws
    /// Inserts an entry; a second entry with the same run and idempotency key is refused by a
    /// unique constraint (the caller looks the key up first, in the same transaction).
    func insertUsage(_ usage: UsageRecord, idempotencyKey: String?) async throws
    func insertChannel(_ channel: Channel) async throws
    func insertRecoveryAttempt(_ attempt: RecoveryAttempt) async throws
    func updateRecoveryAttempt(_ attempt: RecoveryAttempt) async throws
    /// Appends to the run's gap-free event log; the event is published to live subscribers
    /// only after the transaction commits.
    func appendEvent(runId: String, type: String, payload: RawJSON, at: Timestamp) async throws -> RunEvent
    /// Appends one event to each of several different runs at once (a claim's batch), as
    /// `appendEvent` would one by one; returned in the drafts' order.
    func appendEvents(_ drafts: [RunEventDraft], at: Timestamp) async throws -> [RunEvent]
}

/// An event to append, before the store numbers it.
public struct RunEventDraft: Sendable {
    public var runId: String
    public var type: String
    public var payload: RawJSON
    public init(runId: String, type: String, payload: RawJSON) {
        self.runId = runId
        self.type = type
        self.payload = payload
    }
}

/// Where run records live.
public protocol RunStore: Sendable {
    /// Runs `body` in a write transaction and returns once it is durable. A thrown error rolls
    /// back everything `body` wrote.
    func write<T: Sendable>(_ body: @escaping @Sendable (any RunWriteTransaction) async throws -> T) async throws -> T
    func read<T: Sendable>(_ body: @escaping @Sendable (any RunReadTransaction) async throws -> T) async throws -> T
    /// Runs `body`, which issues one statement, as that statement alone: a single statement
    /// reads one snapshot by itself, so no transaction is opened around it (on Postgres that
    /// spares a `BEGIN` and a `COMMIT` on the connection; on SQLite it is `read`). On Postgres a
    /// second statement fails with `OneStatementError`, so a body that needs more uses `read`.
    func readStatement<T: Sendable>(_ body: @escaping @Sendable (any RunReadTransaction) async throws -> T)
        async throws -> T
    /// `write` for a body of one statement (`startStep`, `completeStep`): a lone statement is
    /// atomic and durable by itself, so on Postgres it is sent without `BEGIN` and `COMMIT`, one
    /// round trip where a transaction takes three or more, and rerun on the conflicts `write`
    /// reruns. On SQLite it is `write`. A second statement fails with `OneStatementError`.
    func writeStatement<T: Sendable>(_ body: @escaping @Sendable (any RunWriteTransaction) async throws -> T)
        async throws -> T
}

/// A `readStatement` or `writeStatement` body issued more than one statement: a programming
/// error, never a client's.
public struct OneStatementError: Error, Sendable {
    public init() {}
}

/// What `RunWriteTransaction.startStep` did.
public enum StepStart: Sendable, Equatable {
    case started
    case runNotFound
    case runCancelled
    /// The run already has a step of that name: a replay or a retry, decided by the caller.
    case stepExists
}

/// What `RunWriteTransaction.completeStep` did.
public enum StepCompletion: Sendable {
    case completed(Step)
    case runNotFound
    /// The step is missing, or its lease is another's.
    case leaseLost
}
