/// An outbound webhook channel as a client declares it.
public struct ChannelSpec: Sendable, Equatable {
    public var type: String
    public var url: String
    public var secret: String?
    public var events: [String]
    public init(type: String = "webhook", url: String, secret: String? = nil, events: [String] = []) {
        self.type = type
        self.url = url
        self.secret = secret
        self.events = events
    }
}

public struct CreateRunRequest: Sendable {
    public var workflowName: String
    public var input: JSONValue?
    public var metadata: JSONObject?
    public var recoveryWebhook: String?
    public var channels: [ChannelSpec]
    public init(
        workflowName: String, input: JSONValue? = nil, metadata: JSONObject? = nil, recoveryWebhook: String? = nil,
        channels: [ChannelSpec] = []
    ) {
        self.workflowName = workflowName
        self.input = input
        self.metadata = metadata
        self.recoveryWebhook = recoveryWebhook
        self.channels = channels
    }
}

public struct CreateChildRequest: Sendable {
    public var name: String
    public var run: CreateRunRequest
    public var edgeType: String?
    public var edgeMetadata: JSONObject?
    public init(name: String, run: CreateRunRequest, edgeType: String? = nil, edgeMetadata: JSONObject? = nil) {
        self.name = name
        self.run = run
        self.edgeType = edgeType
        self.edgeMetadata = edgeMetadata
    }
}

public struct BeginStepRequest: Sendable {
    public var name: String
    public var inputHash: String
    public var input: JSONValue?
    public var options: JSONObject?
    public var leaseOwner: String?
    public init(
        name: String, inputHash: String, input: JSONValue? = nil, options: JSONObject? = nil, leaseOwner: String? = nil
    ) {
        self.name = name
        self.inputHash = inputHash
        self.input = input
        self.options = options
        self.leaseOwner = leaseOwner
    }
}

public enum ResumeDecision: String, Sendable, CaseIterable {
    case autoRetry = "auto_retry"
    case safeReplay = "safe_replay"
    case manualReview = "manual_review"
    case failHard = "fail_hard"
}

public struct FailStepRequest: Sendable {
    public var leaseOwner: String
    public var error: JSONValue?
    public var retryable: Bool
    public var resumeDecision: ResumeDecision?
    public init(
        leaseOwner: String, error: JSONValue? = nil, retryable: Bool = false, resumeDecision: ResumeDecision? = nil
    ) {
        self.leaseOwner = leaseOwner
        self.error = error
        self.retryable = retryable
        self.resumeDecision = resumeDecision
    }
}

public struct BeginGateRequest: Sendable {
    public var name: String
    public var prompt: String
    public var data: JSONValue?
    public var channels: JSONValue?
    public var capability: JSONValue?
    public init(
        name: String, prompt: String, data: JSONValue? = nil, channels: JSONValue? = nil, capability: JSONValue? = nil
    ) {
        self.name = name
        self.prompt = prompt
        self.data = data
        self.channels = channels
        self.capability = capability
    }
}

public struct ResolveGateRequest: Sendable {
    public var token: String
    public var decision: GateStatus
    public var actor: String?
    public var payload: JSONValue?
    public init(token: String, decision: GateStatus, actor: String? = nil, payload: JSONValue? = nil) {
        self.token = token
        self.decision = decision
        self.actor = actor
        self.payload = payload
    }
}

/// Options of a state write (PUT/PATCH) and of a save.
public struct StateWriteOptions: Sendable {
    public var stream: String?
    public var label: String?
    public var reason: String?
    public var importance: StateImportance?
    public var metadata: JSONObject?
    public var createdBy: String?
    public init(
        stream: String? = nil, label: String? = nil, reason: String? = nil, importance: StateImportance? = nil,
        metadata: JSONObject? = nil, createdBy: String? = nil
    ) {
        self.stream = stream
        self.label = label
        self.reason = reason
        self.importance = importance
        self.metadata = metadata
        self.createdBy = createdBy
    }
}

public struct SnapshotRequest: Sendable {
    public var label: String
    public var target: (type: String, id: String)?
    public var state: JSONValue?
    public var reason: String?
    public var metadata: JSONObject?
    public var createdBy: String?
    public init(
        label: String, target: (type: String, id: String)? = nil, state: JSONValue? = nil, reason: String? = nil,
        metadata: JSONObject? = nil, createdBy: String? = nil
    ) {
        self.label = label
        self.target = target
        self.state = state
        self.reason = reason
        self.metadata = metadata
        self.createdBy = createdBy
    }
}

public struct RecordUsageRequest: Sendable {
    public var stepId: String?
    public var kind: String?
    public var provider: String?
    public var model: String?
    public var label: String?
    public var quantity: Double?
    public var unit: String?
    public var inputTokens: Int?
    public var outputTokens: Int?
    public var totalTokens: Int?
    public var costUsd: Double?
    public var metadata: JSONObject?
    /// A client key (a Cairn extension): a second entry with the same key in the same run
    /// records nothing and returns the first.
    public var idempotencyKey: String?
    public init() {}
}

public enum BeginStepOutcome: Sendable {
    case cancelled
    case inputMismatch(Step, expected: String, actual: String)
    case alreadyCompleted(Step)
    case locked(Step)
    case execute(Step, leaseOwner: String)
}
