import HTTPTypes
import Hummingbird
import Logging
import Metrics
import Synchronization

/// Counts requests and times them, by route pattern (not raw path, which would explode the
/// label space with ids), method and status; with an access logger, also logs one line per
/// request (method, path without the query, which may carry an SSE `?token=` or a presigned
/// URL's signature, status, milliseconds, route).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let recorder: RequestRecorder

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        var status = 500
        defer {
            recorder.record(
                method: request.method, path: request.uri.path, status: status,
                route: context.endpointPath ?? "unmatched", elapsed: ContinuousClock.now - start)
        }
        do {
            let response = try await next(request, context)
            status = response.status.code
            return response
        } catch let error as HTTPError {
            status = error.status.code
            throw error
        }
    }
}

/// One listener's request metrics and access-log lines. Each (method, route, status) gets its
/// counter and timer from the metrics factory once: making them per request looked them up in
/// the factory's registry, under its lock, on every request. One recorder per listener: a
/// key's handles come from the factory bootstrapped when that key's first request was recorded.
final class RequestRecorder: Sendable {
    private struct Key: Hashable {
        let method: String
        let route: String
        let status: Int
    }
    private struct Handles {
        let requests: Counter
        let duration: Timer
    }

    /// Bounds the cache. llhttp parses only the methods it knows and routes are the router's
    /// patterns, so real traffic stays far below it; past it, handles are made per request again.
    static let cachedLimit = 4_096

    let accessLog: Logger?
    private let handles = Mutex<[Key: Handles]>([:])

    init(accessLog: Logger?) { self.accessLog = accessLog }

    func record(method: HTTPRequest.Method, path: String, status: Int, route: String, elapsed: Duration) {
        let metrics = handles(for: Key(method: method.rawValue, route: route, status: status))
        metrics.requests.increment()
        metrics.duration.record(duration: elapsed)
        if let accessLog {
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            accessLog.info(
                "request",
                metadata: [
                    "method": "\(method.rawValue)", "path": "\(path)", "status": "\(status)",
                    "ms": "\((ms * 1000).rounded() / 1000)", "route": "\(route)",
                ])
        }
    }

    private func handles(for key: Key) -> Handles {
        if let cached = handles.withLock({ $0[key] }) { return cached }
        let dimensions = [("method", key.method), ("route", key.route)]
        let made = Handles(
            requests: Counter(
                label: "cairn_http_requests_total", dimensions: dimensions + [("status", String(key.status))]),
            duration: Timer(label: "cairn_http_request_duration_seconds", dimensions: dimensions))
        handles.withLock { cache in
            if cache.count < Self.cachedLimit { cache[key] = made }
        }
        return made
    }
}
