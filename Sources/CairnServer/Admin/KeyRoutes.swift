import CairnCore
import Hummingbird

/// Key management: `POST /admin/keys`, `GET /admin/keys`, `DELETE /admin/keys/:id` (scope
/// admin). A tenant's admin key manages its own tenant's keys; the root key (the configured
/// `--api-key`) manages every tenant's.
struct KeyRoutes<Context: PrincipalContext>: Sendable {
    let keys: KeyService
    let openMode: OpenMode
    let bodyLimit: Int

    func register(on router: Router<Context>) {
        let group = router.group("/admin/keys").add(middleware: RequireAccess<Context>.admin)
            .add(middleware: TidebaseErrorMiddleware<Context>())
        group.post(use: create)
        group.get(use: list)
        group.delete(":keyId", use: revoke)
    }

    /// The tenant a request may manage keys of: its own, or any for the root key.
    private func tenant(_ requested: String?, _ context: Context) throws -> TenantID? {
        let principal = context.principal
        guard let requested else { return principal.isRoot ? nil : principal.tenant }
        if principal.isRoot || requested == principal.tenant.rawValue { return TenantID(rawValue: requested) }
        throw APIError(.forbidden, "a tenant's admin key manages only its own tenant's keys") {
            $0.field("code", "cross_tenant")
        }
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let requestedTenant = body.string("tenant")
        let name = body.string("name")
        var scopes: [Scope] = []
        if let items = body.array("scopes") {
            for item in items {
                guard let scope = item.stringValue.flatMap(Scope.init) else {
                    body.fail("scopes", "each scope must be one of read, write, admin")
                    continue
                }
                scopes.append(scope)
            }
        } else {
            scopes = [.read, .write]
        }
        if let t = requestedTenant, !KeyService.isValidTenant(t) {
            body.fail("tenant", "1-64 letters, digits, '-', '_' or '.'")
        }
        if scopes.isEmpty { body.fail("scopes", "at least one scope") }
        try body.validate()
        let tenant = try self.tenant(requestedTenant, context) ?? context.principal.tenant
        let (key, secret) = try await keys.create(tenant: tenant.rawValue, name: name, scopes: scopes)
        openMode.keyCreated()
        return JSONResponse.object(.created) { w in
            w.key("key"); w.apiKey(key)
            w.field("secret", secret)
        }
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let tenant = try self.tenant(request.uri.queryParameters["tenant"].map(String.init), context)
        let list = try await keys.list(tenant: tenant)
        return JSONResponse.object { w in w.array("keys", list) { $0.apiKey($1) } }
    }

    @Sendable func revoke(_ request: Request, context: Context) async throws -> Response {
        let id = try request.pathParameter("keyId", context)
        do {
            try await keys.revoke(id: id, tenant: context.principal.isRoot ? nil : context.principal.tenant)
        } catch KeyError.keyNotFound {
            throw APIError(.notFound, "key not found")
        }
        return JSONResponse.object { w in w.field("revoked", id) }
    }
}

extension JSONWriter {
    /// A key as listed: never its secret or hash.
    mutating func apiKey(_ k: APIKey) {
        beginObjectValue()
        field("id", k.id)
        field("tenant", k.tenant.rawValue)
        field("name", k.name)
        field("prefix", k.prefix)
        key("scopes"); stringArray(k.scopes.map(\.rawValue))
        field("createdAt", timestamp: k.createdAt)
        field("revokedAt", timestamp: k.revokedAt)
        endObject()
    }
}
