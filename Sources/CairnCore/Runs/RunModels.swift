/// JSON text as stored: user payloads are kept verbatim and spliced into responses unparsed.
public typealias RawJSON = String

public enum RunStatus: String, Sendable, CaseIterable {
    case pending, queued, running, completed, failed, cancelled
}

public enum StepStatus: String, Sendable {
    case pending, running, completed, failed
    case failedRetryable = "failed_retryable"
    case manualReview = "manual_review"
}

public enum GateStatus: String, Sendable {
    case pending, approved, rejected, canceled
}

/// Every record belongs to a tenant; until API keys with tenants exist, everything lives in
/// the default tenant.
public struct TenantID: RawRepresentable, Sendable, Hashable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let `default` = TenantID(rawValue: "default")
}

public struct Run: Sendable, Equatable {
    public var id: String
    public var tenant: TenantID
    public var workflowName: String
    public var input: RawJSON
    public var metadata: RawJSON
    public var status: RunStatus
    public var result: RawJSON?
    public var error: RawJSON?
    public var recoveryWebhook: String?
    public var leaseOwner: String?
    public var leaseExpiresAt: Timestamp?
    public var attempt: Int
    public var queue: String?
    public var dedupeKey: String?
    public var priority: Int
    public var runAt: Timestamp?
    public var maxAttempts: Int
    public var deadlineAt: Timestamp?
    public var claimedAt: Timestamp?
    public var cancelRequestedAt: Timestamp?
    public var cancelledAt: Timestamp?
    public var cancelReason: String?
    public var cancelActor: String?
    public var failureClass: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var completedAt: Timestamp?

    public init(
        id: String, tenant: TenantID, workflowName: String, input: RawJSON, metadata: RawJSON,
        status: RunStatus, recoveryWebhook: String?, now: Timestamp
    ) {
        self.id = id
        self.tenant = tenant
        self.workflowName = workflowName
        self.input = input
        self.metadata = metadata
        self.status = status
        self.recoveryWebhook = recoveryWebhook
        self.attempt = 0
        self.priority = 0
        self.maxAttempts = 1
        self.createdAt = now
        self.updatedAt = now
    }

    /// The run holds a lease that has not expired.
    public func hasLiveLease(at now: Timestamp) -> Bool {
        guard leaseOwner != nil, let expires = leaseExpiresAt else { return false }
        return expires > now
    }

    /// The state change of a cancel, by a person or the deadline sweep: one-way, lease released.
    mutating func markCancelled(reason: String?, actor: String?, at now: Timestamp) {
        status = .cancelled
        cancelRequestedAt = cancelRequestedAt ?? now
        cancelledAt = now
        cancelReason = reason
        cancelActor = actor
        leaseOwner = nil
        leaseExpiresAt = nil
        completedAt = now
        updatedAt = now
    }
}

public struct Step: Sendable, Equatable {
    public var id: String
    public var runId: String
    public var name: String
    public var inputHash: String
    public var input: RawJSON
    public var options: RawJSON
    public var resumeContract: RawJSON
    public var status: StepStatus
    public var output: RawJSON?
    public var error: RawJSON?
    public var leaseOwner: String?
    public var leaseExpiresAt: Timestamp?
    public var attempt: Int
    public var startedAt: Timestamp?
    public var completedAt: Timestamp?
    /// The number of its `step.completed` event in the run's log: where the completion falls
    /// among the run's others (times can tie). Nil until completed, and for steps completed
    /// before schema 22.
    public var completedSeq: Int64?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public func hasLiveLease(at now: Timestamp) -> Bool {
        guard leaseOwner != nil, let expires = leaseExpiresAt else { return false }
        return expires > now
    }

    public init(
        id: String, runId: String, name: String, inputHash: String, input: RawJSON, options: RawJSON,
        resumeContract: RawJSON, status: StepStatus, output: RawJSON? = nil, error: RawJSON? = nil,
        leaseOwner: String? = nil, leaseExpiresAt: Timestamp? = nil, attempt: Int, startedAt: Timestamp? = nil,
        completedAt: Timestamp? = nil, completedSeq: Int64? = nil, createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.id = id
        self.runId = runId
        self.name = name
        self.inputHash = inputHash
        self.input = input
        self.options = options
        self.resumeContract = resumeContract
        self.status = status
        self.output = output
        self.error = error
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.attempt = attempt
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.completedSeq = completedSeq
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public struct Gate: Sendable, Equatable {
    public var id: String
    public var runId: String
    public var name: String
    public var prompt: String
    public var data: RawJSON
    public var status: GateStatus
    public var decision: String?
    public var actor: String?
    public var decisionPayload: RawJSON?
    public var capability: RawJSON?
    /// Inline channels given at gate begin (used for this gate's notifications only).
    public var channels: RawJSON
    public var resolveToken: String
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var resolvedAt: Timestamp?

    public init(
        id: String, runId: String, name: String, prompt: String, data: RawJSON, status: GateStatus,
        decision: String? = nil, actor: String? = nil, decisionPayload: RawJSON? = nil, capability: RawJSON? = nil,
        channels: RawJSON, resolveToken: String, createdAt: Timestamp, updatedAt: Timestamp,
        resolvedAt: Timestamp? = nil
    ) {
        self.id = id
        self.runId = runId
        self.name = name
        self.prompt = prompt
        self.data = data
        self.status = status
        self.decision = decision
        self.actor = actor
        self.decisionPayload = decisionPayload
        self.capability = capability
        self.channels = channels
        self.resolveToken = resolveToken
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.resolvedAt = resolvedAt
    }
}

public struct RunState: Sendable, Equatable {
    public var runId: String
    public var value: RawJSON
    public var version: Int
    public var updatedAt: Timestamp

    public init(
        runId: String, value: RawJSON, version: Int, updatedAt: Timestamp
    ) {
        self.runId = runId
        self.value = value
        self.version = version
        self.updatedAt = updatedAt
    }
}

public struct StateStream: Sendable, Equatable {
    public var id: String
    public var runId: String
    public var name: String
    public var targetType: String
    public var targetId: String?
    public var currentVersion: Int
    public var currentValue: RawJSON
    public var metadata: RawJSON
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: String, runId: String, name: String, targetType: String, targetId: String? = nil, currentVersion: Int,
        currentValue: RawJSON, metadata: RawJSON, createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.id = id
        self.runId = runId
        self.name = name
        self.targetType = targetType
        self.targetId = targetId
        self.currentVersion = currentVersion
        self.currentValue = currentValue
        self.metadata = metadata
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public enum StateImportance: String, Sendable, CaseIterable {
    case transient, normal, checkpoint, milestone
}

public struct StateVersion: Sendable, Equatable {
    public var id: String
    public var streamId: String
    public var runId: String
    public var stepId: String?
    public var version: Int
    public var value: RawJSON
    public var patch: RawJSON?
    public var label: String?
    public var reason: String?
    public var importance: StateImportance
    public var metadata: RawJSON
    public var createdBy: String?
    public var createdAt: Timestamp

    public init(
        id: String, streamId: String, runId: String, stepId: String? = nil, version: Int, value: RawJSON,
        patch: RawJSON? = nil, label: String? = nil, reason: String? = nil, importance: StateImportance,
        metadata: RawJSON, createdBy: String? = nil, createdAt: Timestamp
    ) {
        self.id = id
        self.streamId = streamId
        self.runId = runId
        self.stepId = stepId
        self.version = version
        self.value = value
        self.patch = patch
        self.label = label
        self.reason = reason
        self.importance = importance
        self.metadata = metadata
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

public struct RunEdge: Sendable, Equatable {
    public var id: String
    public var parentRunId: String
    public var childRunId: String
    public var name: String
    public var edgeType: String
    public var metadata: RawJSON
    public var createdAt: Timestamp

    public init(
        id: String, parentRunId: String, childRunId: String, name: String, edgeType: String, metadata: RawJSON,
        createdAt: Timestamp
    ) {
        self.id = id
        self.parentRunId = parentRunId
        self.childRunId = childRunId
        self.name = name
        self.edgeType = edgeType
        self.metadata = metadata
        self.createdAt = createdAt
    }
}

/// A run's usage ledger summed: how many entries, their tokens (an entry without `totalTokens`
/// counts input plus output) and their cost.
public struct UsageTotals: Sendable, Equatable {
    public var records: Int
    public var tokens: Int
    public var costUsd: Double

    public init(records: Int, tokens: Int, costUsd: Double) {
        self.records = records
        self.tokens = tokens
        self.costUsd = costUsd
    }
}

public struct UsageRecord: Sendable, Equatable {
    public var id: String
    public var runId: String
    public var stepId: String?
    public var kind: String
    public var provider: String?
    public var model: String?
    public var label: String?
    public var quantity: Double?
    public var unit: String?
    public var inputTokens: Int?
    public var outputTokens: Int?
    public var totalTokens: Int?
    public var costUsd: Double?
    public var metadata: RawJSON
    public var createdAt: Timestamp

    public init(
        id: String, runId: String, stepId: String? = nil, kind: String, provider: String? = nil, model: String? = nil,
        label: String? = nil, quantity: Double? = nil, unit: String? = nil, inputTokens: Int? = nil,
        outputTokens: Int? = nil, totalTokens: Int? = nil, costUsd: Double? = nil, metadata: RawJSON,
        createdAt: Timestamp
    ) {
        self.id = id
        self.runId = runId
        self.stepId = stepId
        self.kind = kind
        self.provider = provider
        self.model = model
        self.label = label
        self.quantity = quantity
        self.unit = unit
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.totalTokens = totalTokens
        self.costUsd = costUsd
        self.metadata = metadata
        self.createdAt = createdAt
    }
}

/// An outbound notification target attached to a run.
public struct Channel: Sendable, Equatable {
    public var id: String
    public var runId: String
    public var type: String
    public var url: String
    public var secret: String?
    /// Event types this channel wants; empty means all deliverable events.
    public var events: [String]
    public var createdAt: Timestamp

    public init(
        id: String, runId: String, type: String, url: String, secret: String? = nil, events: [String],
        createdAt: Timestamp
    ) {
        self.id = id
        self.runId = runId
        self.type = type
        self.url = url
        self.secret = secret
        self.events = events
        self.createdAt = createdAt
    }
}

public struct RunEvent: Sendable, Equatable {
    public var id: Int64
    public var runId: String
    public var seq: Int64
    public var type: String
    public var payload: RawJSON
    public var createdAt: Timestamp

    public init(
        id: Int64, runId: String, seq: Int64, type: String, payload: RawJSON, createdAt: Timestamp
    ) {
        self.id = id
        self.runId = runId
        self.seq = seq
        self.type = type
        self.payload = payload
        self.createdAt = createdAt
    }
}

public struct RecoveryAttempt: Sendable, Equatable {
    public var id: String
    public var runId: String
    public var reason: String
    public var webhookURL: String
    public var status: String
    public var httpStatus: Int?
    public var responseBody: String?
    public var errorText: String?
    public var createdAt: Timestamp
    public var completedAt: Timestamp?

    public init(
        id: String, runId: String, reason: String, webhookURL: String, status: String, httpStatus: Int? = nil,
        responseBody: String? = nil, errorText: String? = nil, createdAt: Timestamp, completedAt: Timestamp? = nil
    ) {
        self.id = id
        self.runId = runId
        self.reason = reason
        self.webhookURL = webhookURL
        self.status = status
        self.httpStatus = httpStatus
        self.responseBody = responseBody
        self.errorText = errorText
        self.createdAt = createdAt
        self.completedAt = completedAt
    }
}

/// Everything `GET /runs/:id` shows.
/// One run as Studio shows it (see `RunService.overview`).
public struct RunOverview: Sendable {
    public var run: Run
    /// A page of steps, newest first (`created_at`, then `id`).
    public var newestSteps: [Step]
    public var gates: [Gate]
    /// Child runs, their children, and so on (at most `maxDescendants`), each right after its
    /// parent, depth first in order of creation: a tree read top to bottom.
    public var descendants: [Descendant]
    /// The newest `maxUsage` entries of the usage ledger, newest first.
    public var newestUsage: [UsageRecord]
    /// The whole ledger summed (the database adds it up; the entries are not read).
    public var usageTotals: UsageTotals
    public var fork: RunFork?
    /// A page of the forks made of this run, newest first.
    public var forks: RunForkPage
    /// The newest `maxStateVersions`, newest first.
    public var stateVersions: [StateVersion]
    /// Newest first.
    public var newestEvents: [RunEvent]

    public static let maxDescendants = 200
    public static let maxStateVersions = 50
    public static let maxUsage = 50

    public struct Descendant: Sendable {
        public var edge: RunEdge
        public var run: Run
        /// 1 for a child, 2 for a grandchild, ...
        public var depth: Int
        public var parentId: String
    }
}

public struct RunDetail: Sendable {
    public var run: Run
    public var steps: [Step]
    public var state: RunState?
    public var stateStreams: [StateStream]
    public var stateVersions: [StateVersion]
    public var runEdges: [RunEdge]
    public var childRuns: [Run]
    public var recoveryAttempts: [RecoveryAttempt]
    public var channels: [Channel]
    public var channelDeliveries: [ChannelDelivery]
    public var gates: [Gate]
    public var usage: [UsageRecord]
    public var events: [RunEvent]
    /// Where the run was forked from, if it is a fork.
    public var fork: RunFork?

    public init(
        run: Run, steps: [Step], state: RunState? = nil, stateStreams: [StateStream], stateVersions: [StateVersion],
        runEdges: [RunEdge], childRuns: [Run], recoveryAttempts: [RecoveryAttempt], channels: [Channel],
        channelDeliveries: [ChannelDelivery], gates: [Gate], usage: [UsageRecord], events: [RunEvent],
        fork: RunFork? = nil
    ) {
        self.fork = fork
        self.run = run
        self.steps = steps
        self.state = state
        self.stateStreams = stateStreams
        self.stateVersions = stateVersions
        self.runEdges = runEdges
        self.childRuns = childRuns
        self.recoveryAttempts = recoveryAttempts
        self.channels = channels
        self.channelDeliveries = channelDeliveries
        self.gates = gates
        self.usage = usage
        self.events = events
    }
}
