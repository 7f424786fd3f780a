import CairnCore
import Hummingbird
import Logging
import Synchronization

/// Authentication, and the scope a route needs unless it declares more. With no configured key
/// and no API key ever created, the API is open (the default tenant, everything allowed).
/// Otherwise a request needs a bearer: the configured key (root: the default tenant, and key
/// management of every tenant) or an API key, which acts in its tenant with its scopes. The
/// SSE route also accepts `?token=`, since browsers' EventSource cannot set headers.
///
/// It runs after the router matched the request (Hummingbird applies router middleware per
/// endpoint), so what it decides follows the matched route, never the raw path: reads (GET,
/// HEAD) need `read`, other methods `write`; routes that need more are registered behind
/// `RequireAccess`. Public routes are registered before this middleware is added, so it never
/// runs for them. A request no route matches only needs a valid credential (then it is a 404).
struct AuthMiddleware<Context: PrincipalContext>: RouterMiddleware {
    let apiKey: String?
    let keys: KeyService
    let openMode: OpenMode

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        if request.method == .options {
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
        } else if apiKey == nil, try await openMode.isOpen() {
            principal = .open
        } else {
            return Self.unauthorized(path: path, message: "Missing or malformed Authorization header")
        }
        var context = context
        context.principal = principal
        // Unmatched requests have no endpoint yet: the router answers 404 after this.
        if context.coreContext.endpointPath.value != nil {
            let required: Scope = request.method == .get || request.method == .head ? .read : .write
            guard principal.allows(required) else { return Self.forbidden(path: path, required: required.rawValue) }
        }
        return try await next(request, context)
    }

    /// Each protocol's clients read their own error shape.
    static func unauthorized(path: String, message: String) -> Response {
        if SnapStateErrors.owns(path: path) {
            return SnapStateErrors.response(.unauthorized, code: "UNAUTHORIZED", message: message)
        }
        return APIError(.unauthorized, "unauthorized").response
    }

    /// `required` names what the credential lacks: a scope, or `root`.
    static func forbidden(path: String, required: String) -> Response {
        let message =
            required == "root" ? "only the root key may use this route" : "this key lacks the \(required) scope"
        if SnapStateErrors.owns(path: path) {
            return SnapStateErrors.response(.forbidden, code: "FORBIDDEN", message: message)
        }
        return APIError(.forbidden, message) { w in
            w.field("code", "insufficient_scope")
            w.field("required", required)
        }.response
    }

    /// `/runs/<id>/events`
    static func isEventStreamPath(_ path: String) -> Bool {
        // Asked of every request without an Authorization header, so it allocates nothing.
        guard path.hasPrefix("/runs/"), path.hasSuffix("/events") else { return false }
        let id = path.utf8.dropFirst(6).dropLast(7)
        return !id.isEmpty && !id.contains(UInt8(ascii: "/"))
    }
}

/// What a group of routes needs beyond `AuthMiddleware`'s default (read for reads, write
/// otherwise): added to the router group the routes are registered in, so the requirement
/// belongs to the matched route.
struct RequireAccess<Context: PrincipalContext>: RouterMiddleware {
    enum Requirement: Sendable {
        case scope(Scope)
        /// The configured root key (or an open server).
        case root
    }

    let requirement: Requirement

    static var admin: Self { Self(requirement: .scope(.admin)) }
    static var root: Self { Self(requirement: .root) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        switch requirement {
        case .scope(let scope):
            guard context.principal.allows(scope) else {
                return AuthMiddleware<Context>.forbidden(path: request.uri.path, required: scope.rawValue)
            }
        case .root:
            guard context.principal.isRoot else {
                return AuthMiddleware<Context>.forbidden(path: request.uri.path, required: "root")
            }
        }
        return try await next(request, context)
    }
}

/// Refuses request targets whose path is not canonical, before any route or credential is
/// looked at: the router ignores empty segments (`//admin/keys` would match `/admin/keys`),
/// so what a request reaches must not depend on how its path is spelled. Refused: a path that
/// does not start with `/`, empty segments (`//`, a trailing `/`), and `.` or `..` segments
/// (also percent-encoded). Other percent-encodings stay: the router never decodes, so an
/// encoded `/` is part of its segment (the Tidebase SDK sends workflow names so).
struct CanonicalPathMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let target = request.head.path ?? ""
        guard !(request.method == .options && target == "*") else { return try await next(request, context) }
        let path = request.uri.path
        guard target.hasPrefix("/"), Self.isCanonical(path) else {
            let message =
                "the request path must be canonical: it starts with '/' and has no empty, '.' or '..' segments"
            if SnapStateErrors.owns(path: path) {
                return SnapStateErrors.response(.badRequest, code: "VALIDATION_ERROR", message: message)
            }
            return APIError(.badRequest, message) { w in
                w.field("code", "non_canonical_path")
                w.field("field", "path")
            }.response
        }
        return try await next(request, context)
    }

    /// Byte by byte, as it runs for every request (string-level lowercasing and replacing
    /// took about 12 µs a request).
    static func isCanonical(_ path: String) -> Bool {
        let bytes = Array(path.utf8)
        guard bytes.first == UInt8(ascii: "/") else { return false }
        if bytes.count == 1 { return true }
        var start = 1
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "/") { end += 1 }
            if end == start || isDotSegment(bytes[start..<end]) { return false }
            start = end + 1
        }
        return true
    }

    /// `.` or `..`, each dot written as itself or as `%2e`/`%2E`.
    private static func isDotSegment(_ segment: ArraySlice<UInt8>) -> Bool {
        var dots = 0
        var i = segment.startIndex
        while i < segment.endIndex {
            if segment[i] == UInt8(ascii: ".") {
                i += 1
            } else if segment[i] == UInt8(ascii: "%"), i + 2 < segment.endIndex, segment[i + 1] == UInt8(ascii: "2"),
                segment[i + 2] | 0x20 == UInt8(ascii: "e")
            {
                i += 3
            } else {
                return false
            }
            dots += 1
            if dots > 2 { return false }
        }
        return dots > 0
    }
}

/// Whether the server is still open: no configured key and no API key ever created. It closes
/// for good once any key exists in the store (created here, or by `cairn keys` in another
/// process); revoking keys never reopens it. While open, the store is read at most once a
/// second.
final class OpenMode: Sendable {
    private enum State {
        /// Not read yet: a key found on the first read was created before this process looked.
        case unknown
        case open(readAt: ContinuousClock.Instant)
        case closed
    }

    private let state: Mutex<State>
    private let store: any KeyStore
    private let logger: Logger
    private let maxAge: Duration

    init(configuredKey: Bool, store: any KeyStore, logger: Logger, maxAge: Duration = .seconds(1)) {
        state = Mutex(configuredKey ? .closed : .unknown)
        self.store = store
        self.logger = logger
        self.maxAge = maxAge
    }

    func isOpen() async throws -> Bool {
        let now = ContinuousClock.now
        let cached = state.withLock { s -> Bool? in
            switch s {
            case .closed: return false
            case .open(let at) where now - at < maxAge: return true
            default: return nil
            }
        }
        if let cached { return cached }
        if try await store.anyKeyCreated() {
            keyCreated()
            return false
        }
        return state.withLock { s in
            // Another request may have seen a key meanwhile: closed stays closed.
            if case .closed = s { return false }
            s = .open(readAt: now)
            return true
        }
    }

    /// Closes open mode (a key was created, here or elsewhere); says so once if it was open.
    func keyCreated() {
        let wasOpen = state.withLock { s -> Bool in
            defer { s = .closed }
            if case .open = s { return true }
            return false
        }
        if wasOpen {
            logger.notice("the first API key was created: this server now requires an API key on every request")
        }
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
