import Synchronization

/// Where the core reads the current time. Owners pass one in (the system clock unless a test
/// wants to move time itself), so leases, delays, TTLs and rate windows can be driven exactly.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// The machine's real-time clock.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Timestamp { Timestamp.now() }
}

/// A clock that moves only when told to, for tests.
public final class ManualClock: WallClock {
    private let current: Mutex<Timestamp>

    /// Starts at `start` (default: 2026-06-01T00:00:00Z, a fixed and ordinary instant).
    public init(_ start: Timestamp = Timestamp(milliseconds: 1_780_272_000_000)) {
        current = Mutex(start)
    }

    public func now() -> Timestamp { current.withLock { $0 } }

    /// Moves the clock forward (or back, for a negative amount).
    public func advance(milliseconds: Int64) {
        current.withLock { $0 = $0.adding(milliseconds: milliseconds) }
    }

    public func set(_ instant: Timestamp) { current.withLock { $0 = instant } }
}
