/// What an HTTP client does when the server answers 429 Too Many Requests (Cairn limits the
/// checkpoint routes per API key): it waits the `Retry-After` seconds the answer names and
/// sends the request again, a bounded number of times, then throws
/// ``CairnError/rateLimited(retryAfterSeconds:)``.
///
/// ```swift
/// let cairn = Cairn.http(rateLimitRetry: RateLimitRetry(maxAttempts: 5, maxWait: .seconds(90)))
/// ```
public struct RateLimitRetry: Sendable {
    /// Attempts in all, the first included; 1 sends each request once.
    public var maxAttempts: Int
    /// The longest wait honoured: a `Retry-After` beyond it fails at once instead of blocking
    /// the caller that long.
    public var maxWait: Duration
    /// How the client waits between attempts: `Task.sleep` unless a test passes its own (one
    /// that advances a manual clock, say).
    public var sleep: @Sendable (Duration) async throws -> Void

    /// Three attempts, waits of at most 60 seconds (the reference server's whole window).
    public init(
        maxAttempts: Int = 3, maxWait: Duration = .seconds(60),
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.maxWait = maxWait
        self.sleep = sleep
    }

    /// No retries: a 429 throws ``CairnError/rateLimited(retryAfterSeconds:)`` at once.
    public static var never: RateLimitRetry { RateLimitRetry(maxAttempts: 1) }
}
