/// Why a run operation was refused. Protocol modules map these to their wire errors.
public enum RunError: Error, Equatable, Sendable {
    case runNotFound
    case parentRunNotFound
    case gateNotFound
    case stateNotFound
    /// The run is cancelled (begin, gate begin).
    case runCancelled(Run)
    /// Another owner holds a live lease.
    case runLeased(holder: String)
    /// Heartbeat from an owner that no longer holds the lease.
    case leaseLost(Run, cancelled: Bool)
    case runAlreadyCompleted(Run)
    case stepLeaseLost
    case gateNotResolvable
    case noRecoveryWebhook
    case invalid(String)
    case invalidCron(String, field: String?)
    case scheduleNotFound
    /// A queue with neither runs nor a config.
    case queueNotFound
}
