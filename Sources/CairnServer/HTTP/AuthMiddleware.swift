import CairnCore
import Hummingbird
import Synchronization

/// Authentication and scopes. With no configured key and no API key in the store, the API is
/// open (the default tenant, everything allowed). Otherwise every route but `/health` needs a
/// bearer: the configured key (root: the default tenant, and key management of every tenant)
/// or an API key, which acts in its tenant with its scopes. The SSE route also accepts
/// `?token=`, since browsers' EventSource cannot set headers. Reads need `read`, other methods
/// `write`, `/admin` routes `admin`.
struct AuthMiddleware<Context: PrincipalContext>: RouterMiddleware {
    let apiKey: String?
    let keys: KeyService
    let keysExist: CachedFlag

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        if path == "/health" || path == "/openapi.json" || request.method == .options {
            return try await next(request, context)
        }
        var token: Substring?
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            token = header.dropFirst(7)
        } else if Self.isEventStreamPath(path) {
            token = request.uri.queryParameters["token"]
        }
        let principal: Principal
        if let token {
            if let apiKey, constantTimeEquals(Array(token.utf8), Array(apiKey.utf8)) {
                principal = Principal(tenant: .default, scopes: [.admin], isRoot: true, keyId: "root")
            } else if let found = try await keys.authenticate(secret: String(token)) {
                principal = found
            } else {
                return Self.unauthorized(path: path, message: "Invalid API key")
            }
        } else if apiKey == nil, try await !keysExist.value({ try await keys.store.hasActiveKeys() }) {
            principal = .open
        } else {
            return Self.unauthorized(path: path, message: "Missing or malformed Authorization header")
        }
        let required: Scope =
            path == "/admin" || path.hasPrefix("/admin/")
            ? .admin : (request.method == .get || request.method == .head ? .read : .write)
        guard principal.allows(required) else {
            if SnapStateErrors.owns(path: path) {
                return SnapStateErrors.response(
                    .forbidden, code: "FORBIDDEN", message: "this key lacks the \(required.rawValue) scope")
            }
            return APIError(.forbidden, "this key lacks the \(required.rawValue) scope") { w in
                w.field("code", "insufficient_scope")
                w.field("required", required.rawValue)
            }.response
        }
        var context = context
        context.principal = principal
        return try await next(request, context)
    }

    /// Each protocol's clients read their own error shape.
    static func unauthorized(path: String, message: String) -> Response {
        if SnapStateErrors.owns(path: path) {
            return SnapStateErrors.response(.unauthorized, code: "UNAUTHORIZED", message: message)
        }
        return APIError(.unauthorized, "unauthorized").response
    }

    /// `/runs/<id>/events`
    static func isEventStreamPath(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0].isEmpty && parts[1] == "runs" && !parts[2].isEmpty && parts[3] == "events"
    }
}

/// A boolean read from the store at most once a second (whether any API key exists decides if
/// anonymous requests are allowed; keys can be created by another process with `cairn keys`).
final class CachedFlag: Sendable {
    private let state = Mutex<(value: Bool, readAt: ContinuousClock.Instant?)>((false, nil))
    private let maxAge: Duration

    init(maxAge: Duration = .seconds(1)) { self.maxAge = maxAge }

    func value(_ read: () async throws -> Bool) async throws -> Bool {
        let now = ContinuousClock.now
        if let cached = state.withLock({ s -> Bool? in
            guard let at = s.readAt, now - at < maxAge else { return nil }
            return s.value
        }) {
            return cached
        }
        let fresh = try await read()
        state.withLock { $0 = (fresh, now) }
        return fresh
    }

    /// Forgets the cached value (after this process created or revoked a key).
    func invalidate() { state.withLock { $0.readAt = nil } }
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
