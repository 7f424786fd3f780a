import CairnCore
import Hummingbird

/// Bearer-key authentication (Tidebase §1.2): with a key configured, every route but
/// `/health` needs `Authorization: Bearer <key>`; the SSE route also accepts `?token=`, since
/// browsers' EventSource cannot set headers.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let apiKey: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let apiKey else { return try await next(request, context) }
        let path = request.uri.path
        if path == "/health" || request.method == .options { return try await next(request, context) }
        var token: Substring?
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            token = header.dropFirst(7)
        } else if Self.isEventStreamPath(path) {
            token = request.uri.queryParameters["token"]
        }
        guard let token, constantTimeEquals(Array(token.utf8), Array(apiKey.utf8)) else {
            return APIError(.unauthorized, "unauthorized").response
        }
        return try await next(request, context)
    }

    /// `/runs/<id>/events`
    static func isEventStreamPath(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0].isEmpty && parts[1] == "runs" && !parts[2].isEmpty && parts[3] == "events"
    }
}

/// Compares without exiting early, so timing does not reveal how much of a secret matched.
func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
    for i in 0..<max(a.count, b.count) {
        let x = i < a.count ? a[i] : 0
        let y = i < b.count ? b[i] : 0
        diff |= x ^ y
    }
    return diff == 0
}
