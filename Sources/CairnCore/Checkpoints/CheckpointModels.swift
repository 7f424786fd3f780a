import Crypto

/// One saved step of a checkpointed workflow (the SnapState protocol). Immutable once saved.
public struct Checkpoint: Sendable, Equatable {
    public var tenant: TenantID
    public var workflowId: String
    public var step: Int
    /// Position in the workflow's stream of saves: 1 for the first, one more for each new save.
    public var sequence: Int
    public var label: String?
    /// The state as compact JSON text: what `size_bytes` and the etag are computed over.
    public var state: RawJSON
    /// A JSON object, or nil when the save carried none.
    public var metadata: RawJSON?
    public var agentId: String?
    public var etag: String
    /// `{added, removed, changed}` against the workflow's previous save.
    public var diff: RawJSON
    public var sizeBytes: Int
    /// Set when the save's metadata reports an error (`metadata.error`): a failure at this step.
    public var errorType: String?
    public var errorMessage: String?
    public var createdAt: Timestamp

    public init(
        tenant: TenantID, workflowId: String, step: Int, sequence: Int, label: String?, state: RawJSON,
        metadata: RawJSON?, agentId: String?, etag: String, diff: RawJSON, sizeBytes: Int, errorType: String?,
        errorMessage: String?, createdAt: Timestamp
    ) {
        self.tenant = tenant
        self.workflowId = workflowId
        self.step = step
        self.sequence = sequence
        self.label = label
        self.state = state
        self.metadata = metadata
        self.agentId = agentId
        self.etag = etag
        self.diff = diff
        self.sizeBytes = sizeBytes
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.createdAt = createdAt
    }

    public var id: String { Checkpoint.id(workflowId: workflowId, step: step) }

    /// `cp_<workflow>_<step, zero-padded to three digits>`, as the reference server forms it.
    public static func id(workflowId: String, step: Int) -> String {
        let digits = String(step)
        return "cp_" + workflowId + "_" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }

    /// The (workflow, step) a checkpoint id names, if it is one this server could have issued.
    /// The step is the digits after the last underscore; anything not in canonical form is no id.
    public static func parse(id: String) -> (workflowId: String, step: Int)? {
        guard id.hasPrefix("cp_"), let last = id.lastIndex(of: "_") else { return nil }
        let workflowStart = id.index(id.startIndex, offsetBy: 3)
        guard last > workflowStart else { return nil }
        let digits = id[id.index(after: last)...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let step = Int(digits) else {
            return nil
        }
        let workflowId = String(id[workflowStart..<last])
        guard Checkpoint.id(workflowId: workflowId, step: step) == id else { return nil }
        return (workflowId, step)
    }

    /// `"` + the first 16 hex digits of SHA-256 over the compact state + `"` (quotes included).
    public static func etag(state: RawJSON) -> String {
        let digest = SHA256.hash(data: Array(state.utf8))
        return "\"" + String(Array(digest).hexString.prefix(16)) + "\""
    }
}

/// A workflow's stream head: which save is the latest, and running totals, so resume reads
/// two rows whatever the history length.
public struct CheckpointWorkflow: Sendable, Equatable {
    public var tenant: TenantID
    public var workflowId: String
    public var latestStep: Int
    /// Saves so far; also the sequence number of the latest.
    public var totalCheckpoints: Int
    public var totalSizeBytes: Int
    public var errorCount: Int
    public var status: WorkflowStatus
    public var resumed: Bool
    public var startedAt: Timestamp
    public var lastActivityAt: Timestamp
    /// The latest save's creation plus its TTL; the whole workflow goes at this instant.
    public var expiresAt: Timestamp
    /// The sequence of the first save whose step was not above the one saved just before it
    /// in the workflow's history (a fork's includes its parent's up to the fork point); nil
    /// while the steps ascend. Then save order is step order, and a replay page that starts at
    /// a step seeks to it instead of walking the saves before it.
    public var unorderedFrom: Int?
    /// True when part of the history is read through another workflow (`CheckpointFork`);
    /// read with the head, so a workflow that is no fork costs no lookup of one. Not written.
    public var isFork: Bool

    public init(
        tenant: TenantID, workflowId: String, latestStep: Int, totalCheckpoints: Int, totalSizeBytes: Int,
        errorCount: Int, status: WorkflowStatus, resumed: Bool, startedAt: Timestamp, lastActivityAt: Timestamp,
        expiresAt: Timestamp, unorderedFrom: Int? = nil, isFork: Bool = false
    ) {
        self.tenant = tenant
        self.workflowId = workflowId
        self.latestStep = latestStep
        self.totalCheckpoints = totalCheckpoints
        self.totalSizeBytes = totalSizeBytes
        self.errorCount = errorCount
        self.status = status
        self.resumed = resumed
        self.startedAt = startedAt
        self.lastActivityAt = lastActivityAt
        self.expiresAt = expiresAt
        self.unorderedFrom = unorderedFrom
        self.isFork = isFork
    }

    public func isExpired(at now: Timestamp) -> Bool { expiresAt <= now }
}

/// Where a workflow stands, as its latest checkpoint says: `metadata.status` of `completed` or
/// `failed` is taken as given; otherwise a latest save reporting an error means failed.
public enum WorkflowStatus: String, Sendable {
    case active, completed, failed
}

public enum CheckpointEvent: String, Sendable, CaseIterable {
    case checkpointSaved = "checkpoint.saved"
    case workflowResumed = "workflow.resumed"
    case workflowExpired = "workflow.expired"
}

/// A tenant's webhook registration for checkpoint events.
public struct CheckpointWebhook: Sendable, Equatable {
    public var id: String
    public var tenant: TenantID
    public var url: String
    public var events: [String]
    /// The HMAC key; never shown.
    public var secret: String?
    public var createdAt: Timestamp

    public init(id: String, tenant: TenantID, url: String, events: [String], secret: String?, createdAt: Timestamp) {
        self.id = id
        self.tenant = tenant
        self.url = url
        self.events = events
        self.secret = secret
        self.createdAt = createdAt
    }
}

/// A registered agent identity of a tenant.
public struct Agent: Sendable, Equatable {
    /// The row's serial number (the reference server's `id`).
    public var serial: Int
    public var tenant: TenantID
    public var agentId: String
    public var name: String?
    public var description: String?
    /// A JSON array.
    public var capabilities: RawJSON
    /// A JSON object.
    public var metadata: RawJSON
    public var lastSeenAt: Timestamp?
    public var createdAt: Timestamp

    public init(
        serial: Int, tenant: TenantID, agentId: String, name: String?, description: String?, capabilities: RawJSON,
        metadata: RawJSON, lastSeenAt: Timestamp?, createdAt: Timestamp
    ) {
        self.serial = serial
        self.tenant = tenant
        self.agentId = agentId
        self.name = name
        self.description = description
        self.capabilities = capabilities
        self.metadata = metadata
        self.lastSeenAt = lastSeenAt
        self.createdAt = createdAt
    }
}

/// Why a checkpoint-protocol request is refused.
public enum CheckpointError: Error, Equatable, Sendable {
    case invalid(String)
    case stateTooLarge(limit: Int)
    /// The step is saved already and no `If-Match` was given.
    case checkpointExists(id: String, etag: String)
    case etagMismatch
    case checkpointNotFound(String)
    case workflowNotFound(String)
    /// A fork's new workflow id names a live workflow.
    case workflowExists(String)
    case webhookNotFound(String)
    case agentNotFound(String)
    case maxAgentsReached(Int)
    case noUpdatableFields
}
