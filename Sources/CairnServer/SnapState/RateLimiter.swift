import CairnCore
import Hummingbird
import Synchronization

/// At most `limit` requests per credential in any sliding `window`. Refused requests are not
/// counted, so a client that backs off as told gets through. State is in memory, per process.
final class SlidingWindowRateLimiter: Sendable {
    enum Decision: Equatable {
        case allowed
        /// Whole seconds until the oldest counted request leaves the window (at least 1).
        case limited(retryAfterSeconds: Int)
    }

    let limit: Int
    let windowMilliseconds: Int64
    let clock: any WallClock
    /// Admission times per credential, oldest first.
    private let buckets = Mutex<(times: [String: [Int64]], admitted: Int)>(([:], 0))

    init(limit: Int, windowMilliseconds: Int64, clock: any WallClock = SystemClock()) {
        self.limit = limit
        self.windowMilliseconds = windowMilliseconds
        self.clock = clock
    }

    func admit(key: String) -> Decision {
        let now = clock.now().milliseconds
        let cutoff = now - windowMilliseconds
        return buckets.withLock { state in
            if let times = state.times[key] {
                let expired = times.firstIndex(where: { $0 > cutoff }) ?? times.count
                if expired > 0 { state.times[key]?.removeFirst(expired) }
            }
            if let times = state.times[key], times.count >= limit {
                let wait = times[0] + windowMilliseconds - now
                return .limited(retryAfterSeconds: max(1, Int((wait + 999) / 1000)))
            }
            state.times[key, default: []].append(now)
            state.admitted += 1
            // Now and then, forget credentials that have gone quiet.
            if state.admitted % 4096 == 0 {
                state.times = state.times.filter { $0.value.last.map { $0 > cutoff } ?? false }
            }
            return .allowed
        }
    }
}

/// Applies the limiter to the request's credential; refusals are 429 `RATE_LIMITED` with an
/// integer `Retry-After`. Limits are per credential: a server running open (no keys at all,
/// which it allows on loopback only) has none to count against and is not limited.
struct RateLimitMiddleware<Context: PrincipalContext>: RouterMiddleware {
    let limiter: SlidingWindowRateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if let key = context.principal.keyId, case .limited(let seconds) = limiter.admit(key: key) {
            return SnapStateErrors.response(
                .tooManyRequests, code: "RATE_LIMITED", message: "Rate limit exceeded",
                headers: [.retryAfter: String(seconds)])
        }
        return try await next(request, context)
    }
}
