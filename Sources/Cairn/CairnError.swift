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
        case .gateNotFound, .stateNotFound, .scheduleNotFound: self = .server(status: 404, body: "\(error)")
        case .gateNotResolvable: self = .server(status: 409, body: "\(error)")
        case .noRecoveryWebhook: self = .server(status: 422, body: "\(error)")
        case .invalidCron(let message, let field): self = .invalidCron(message, field: field)
        case .invalid: self = .server(status: 400, body: "\(error)")
        }
    }
}
