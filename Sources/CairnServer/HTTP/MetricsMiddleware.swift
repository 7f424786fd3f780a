import HTTPTypes
import Hummingbird
import Logging
import Metrics

/// Counts requests and times them, by route pattern (not raw path, which would explode the
/// label space with ids), method and status; with an access logger, also logs one line per
/// request (method, path without the query, which may carry an SSE `?token=` or a presigned
/// URL's signature, status, milliseconds, route).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    var accessLog: Logger?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        var status = 500
        defer {
            RequestRecord.record(
                method: request.method, path: request.uri.path, status: status,
                route: context.endpointPath ?? "unmatched",
                elapsed: ContinuousClock.now - start, accessLog: accessLog)
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

/// One request's metrics and access-log line, for either listener.
enum RequestRecord {
    static func record(
        method: HTTPRequest.Method, path: String, status: Int, route: String, elapsed: Duration, accessLog: Logger?
    ) {
        let dimensions = [("method", method.rawValue), ("route", route)]
        Counter(label: "cairn_http_requests_total", dimensions: dimensions + [("status", String(status))]).increment()
        Timer(label: "cairn_http_request_duration_seconds", dimensions: dimensions).record(duration: elapsed)
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
}
