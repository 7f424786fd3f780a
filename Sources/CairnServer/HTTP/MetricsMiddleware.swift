import Hummingbird
import Metrics

/// Counts requests and times them, by route pattern (not raw path, which would explode the
/// label space with ids), method and status.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        var status = 500
        defer {
            let route = context.endpointPath ?? "unmatched"
            let dimensions = [("method", request.method.rawValue), ("route", route)]
            Counter(label: "cairn_http_requests_total", dimensions: dimensions + [("status", String(status))])
                .increment()
            Timer(label: "cairn_http_request_duration_seconds", dimensions: dimensions).record(
                duration: ContinuousClock.now - start)
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
