import CairnCore

/// Why an SDK call failed.
public enum CairnError: Error, Equatable, Sendable {
    /// The run was cancelled; let it propagate (the run is already terminal).
    case runCancelled(runId: String)
    /// A step's input changed since it was first recorded for this run.
    case inputMismatch(step: String, expected: String, actual: String)
    /// Another worker holds the step's lease.
    case stepLocked(step: String)
    /// A gate did not resolve within its timeout.
    case gateTimedOut(gate: String)
    case runNotFound
    /// The lease is gone: another worker took the run over, or it ended.
    case leaseLost
    /// Another worker holds the run's lease (after a crash: until it expires).
    case runLeased(holder: String)
    /// The run already completed, and its result stands.
    case runAlreadyCompleted
    /// The run belongs to another workflow than the one asked to resume it.
    case workflowMismatch(runWorkflow: String, requested: String)
    /// A cron expression was refused; `field` names the part that is wrong.
    case invalidCron(String, field: String?)
    /// A value could not be encoded or decoded as JSON.
    case encoding(String)
    /// The checkpoint, workflow, agent, webhook or sandbox with this id does not exist (a
    /// workflow or sandbox past its TTL no longer does), or the sandbox has no file at this path.
    case notFound(String)
    /// The step is saved already, and a checkpoint never changes. `currentETag` is its stored
    /// etag when the save had no `ifMatch` (the server says it); nil when an `ifMatch` did not
    /// match it.
    case checkpointConflict(checkpointId: String, currentETag: String?)
    /// The request was refused as invalid: its code and message. The checkpoint protocol's
    /// codes are `VALIDATION_ERROR`, `PAYLOAD_TOO_LARGE` and `MAX_AGENTS_REACHED`; the sandbox
    /// API's `invalid_request` (a value out of range, an unknown name), `invalid_path` (absolute,
    /// `..`, or through a symlink), `unknown_backend`, `backend_unavailable`, `read_only`,
    /// `too_large`, and the SDK's own `not_a_file` and `not_a_directory`.
    case invalidRequest(code: String, message: String)
    /// The server answered 429 Too Many Requests, and ``RateLimitRetry`` allowed no further
    /// attempt (they ran out, or the wait asked for was longer than its `maxWait`).
    /// `retryAfterSeconds` is the server's last `Retry-After`.
    case rateLimited(retryAfterSeconds: Int?)
    /// A fork's new workflow id names a live workflow.
    case workflowExists(String)
    /// The sandbox backend cannot enforce what was asked for: a limit or a required
    /// capability (`memory_limit`, `network_off`, ...). Nothing was created; `missing` names
    /// each capability, as ``SandboxCapability`` raw values.
    case capabilityUnavailable(missing: [String])
    /// The sandbox is running another execution; it runs one at a time.
    case sandboxBusy
    /// The server (or, embedded, this process) holds as many sandboxes as it allows, in all
    /// or for the tenant: delete one first.
    case tooManySandboxes
    /// Any other refusal by the server, with its status and body.
    case server(status: Int, body: String)

    init(_ error: RunError) {
        switch error {
        case .runCancelled(let run): self = .runCancelled(runId: run.id)
        case .leaseLost(let run, let cancelled): self = cancelled ? .runCancelled(runId: run.id) : .leaseLost
        case .runNotFound, .parentRunNotFound: self = .runNotFound
        case .runAlreadyCompleted: self = .runAlreadyCompleted
        case .stepLeaseLost: self = .leaseLost
        case .runLeased(let holder): self = .runLeased(holder: holder)
        case .gateNotFound, .stateNotFound, .scheduleNotFound, .queueNotFound:
            self = .server(status: 404, body: "\(error)")
        case .gateNotResolvable: self = .server(status: 409, body: "\(error)")
        case .noRecoveryWebhook: self = .server(status: 422, body: "\(error)")
        case .invalidCron(let message, let field): self = .invalidCron(message, field: field)
        case .invalid: self = .server(status: 400, body: "\(error)")
        }
    }
}

extension CairnError {
    /// A refusal of the checkpoint domain (embedded mode), as the HTTP transport reports the
    /// server's answer to it. `etagMismatch` names no checkpoint: callers that know it map it
    /// themselves.
    init(_ error: CheckpointError) {
        switch error {
        case .invalid(let message): self = .invalidRequest(code: "VALIDATION_ERROR", message: message)
        case .stateTooLarge(let limit):
            self = .invalidRequest(code: "PAYLOAD_TOO_LARGE", message: "State payload exceeds \(limit) bytes")
        case .checkpointExists(let id, let etag): self = .checkpointConflict(checkpointId: id, currentETag: etag)
        case .workflowExists(let id): self = .workflowExists(id)
        case .etagMismatch: self = .checkpointConflict(checkpointId: "", currentETag: nil)
        case .checkpointNotFound(let id), .workflowNotFound(let id), .webhookNotFound(let id),
            .agentNotFound(let id):
            self = .notFound(id)
        case .maxAgentsReached(let limit):
            self = .invalidRequest(code: "MAX_AGENTS_REACHED", message: "Maximum of \(limit) agents allowed")
        case .noUpdatableFields:
            self = .invalidRequest(code: "VALIDATION_ERROR", message: "No updatable fields provided")
        }
    }
}
