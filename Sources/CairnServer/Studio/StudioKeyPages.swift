import CairnCore
import Foundation
import HTTPTypes
import Hummingbird

/// API keys (admin scope): the tenant's keys (every tenant's for the root key), creating one
/// (its secret shown once, on the page that answers the form) and revoking one. A tenant's
/// admin manages only its own tenant's keys, as over the API.
struct StudioKeyPages<Context: PrincipalContext>: Sendable {
    let auth: StudioAuth

    func register(on router: some RouterMethods<Context>) {
        router.get("/studio/keys") { request, _ in try await StudioPage.run { try await list(request) } }
        router.post("/studio/keys") { request, _ in try await StudioPage.run { try await create(request) } }
        router.post("/studio/keys/:keyId/revoke") { request, context in
            try await StudioPage.run { try await revoke(request, context) }
        }
    }

    private func list(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request, needs: .admin)
        var tenant: TenantID? = session.isRoot ? nil : session.tenant
        if let raw = request.uri.queryParameters["tenant"], !raw.isEmpty {
            guard KeyService.isValidTenant(String(raw)) else {
                return StudioPage.message(
                    .badRequest, "Keys", "tenant must be 1-64 letters, digits, '-', '_' or '.'.", session: session,
                    back: "/studio/keys", backLabel: "Keys")
            }
            guard session.isRoot || raw == session.tenant.rawValue else {
                return StudioPage.message(
                    .forbidden, "Keys", "A tenant's admin key sees only its own tenant's keys.", session: session,
                    back: "/studio/keys", backLabel: "Keys")
            }
            tenant = TenantID(rawValue: String(raw))
        }
        return try await page(session, tenant: tenant, created: nil, status: .ok)
    }

    private func page(
        _ session: StudioSession, tenant: TenantID?, created: (key: APIKey, secret: String)?,
        status: HTTPResponse.Status, error: String? = nil
    ) async throws -> Response {
        let keys = try await auth.keys.list(tenant: tenant)
        var view = StudioPage.base("Keys", session: session, section: "/studio/keys")
        view["isRoot"] = session.isRoot
        view["tenant"] = tenant?.rawValue ?? ""
        view["ownTenant"] = session.tenant.rawValue
        view["hasKeys"] = !keys.isEmpty
        view["keys"] = keys.reversed().map { key -> [String: Any] in
            var k: [String: Any] = [
                "id": key.id, "tenant": key.tenant.rawValue, "name": key.name ?? "", "prefix": key.prefix,
                "scopes": key.scopes.map(\.rawValue).joined(separator: ", "), "created": key.createdAt.iso8601,
                "active": key.revokedAt == nil, "own": key.id == session.keyId,
            ]
            if let revoked = key.revokedAt { k["revoked"] = revoked.iso8601 }
            return k
        }
        if let created {
            view["created"] = [
                "secret": created.secret, "id": created.key.id, "tenant": created.key.tenant.rawValue,
                "scopes": created.key.scopes.map(\.rawValue).joined(separator: ", "),
            ]
        }
        if let error { view["error"] = error }
        return StudioPage.html(status, StudioTemplates.render("keys", view))
    }

    private func create(_ request: Request) async throws -> Response {
        var request = request
        let (session, form) = try await auth.actor(&request, needs: .admin)
        let tenantText = (form["tenant"] ?? "").trimmingCharacters(in: .whitespaces)
        let tenant = tenantText.isEmpty ? session.tenant.rawValue : tenantText
        let name = (form["name"] ?? "").trimmingCharacters(in: .whitespaces)
        let scopes = Scope.allCases.filter { form["scope-\($0.rawValue)"] == "on" }
        var problem: String?
        if !KeyService.isValidTenant(tenant) {
            problem = "The tenant must be 1-64 letters, digits, '-', '_' or '.'."
        } else if !session.isRoot && tenant != session.tenant.rawValue {
            problem = "A tenant's admin key creates keys only in its own tenant."
        } else if scopes.isEmpty {
            problem = "Choose at least one scope."
        } else if name.count > 200 {
            problem = "The name is longer than 200 characters."
        }
        let listed: TenantID? = session.isRoot ? nil : session.tenant
        if let problem {
            return try await page(
                session, tenant: listed, created: nil, status: .badRequest, error: problem + " No key was created.")
        }
        let made = try await auth.keys.create(tenant: tenant, name: name.isEmpty ? nil : name, scopes: scopes)
        auth.openMode.keyCreated()
        return try await page(session, tenant: listed, created: made, status: .created)
    }

    private func revoke(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, _) = try await auth.actor(&request, needs: .admin)
        let keyId = try request.pathParameter("keyId", context)
        do {
            try await auth.keys.revoke(id: keyId, tenant: session.isRoot ? nil : session.tenant)
        } catch KeyError.keyNotFound {
            return StudioPage.notFound("Key", session: session)
        }
        // Revoking the key this session was made from ends the session too.
        return StudioPage.redirect(keyId == session.keyId ? "/studio/sign-in" : "/studio/keys")
    }
}

extension StudioTemplates {
    static var keyTemplates: [(String, String)] {
        [
            (
                "keys",
                """
                {{<layout}}{{$content}}
                <h1>API keys</h1>
                {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
                {{#created}}
                <div class="card created" role="status">
                <h2>Key created</h2>
                <p>Copy the secret now: it is shown this once and never stored.</p>
                <p><code id="new-secret">{{secret}}</code>
                <button type="button" class="copy-button" data-copy="{{secret}}" aria-label="Copy the secret">Copy</button></p>
                <p>Tenant {{tenant}} · scopes {{scopes}} · id <code>{{id}}</code></p>
                </div>
                {{/created}}
                <form id="create-key" method="post" action="/studio/keys" class="card inline">
                <input type="hidden" name="csrf" value="{{csrf}}">
                <label>Name <input name="name" maxlength="200"></label>
                {{#isRoot}}<label>Tenant <input name="tenant" value="{{ownTenant}}" maxlength="64" required></label>{{/isRoot}}
                <fieldset><legend>Scopes</legend>
                <label class="check"><input type="checkbox" name="scope-read" checked> read</label>
                <label class="check"><input type="checkbox" name="scope-write"> write</label>
                <label class="check"><input type="checkbox" name="scope-admin"> admin</label>
                </fieldset>
                <button type="submit">Create key</button>
                </form>
                {{#isRoot}}
                <form method="get" action="/studio/keys" class="filters">
                <label>Tenant <input name="tenant" value="{{tenant}}" maxlength="64"></label><button type="submit">Filter</button>
                </form>
                {{/isRoot}}
                {{#hasKeys}}
                <div class="scroll"><table id="keys">
                <thead><tr><th scope="col">Key</th><th scope="col">Name</th><th scope="col">Tenant</th><th scope="col">Scopes</th>
                <th scope="col">Created</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
                <tbody>
                {{#keys}}
                <tr data-key-id="{{id}}">
                <td><code>{{prefix}}…</code></td><td>{{name}}</td><td>{{tenant}}</td><td>{{scopes}}</td>
                <td><time datetime="{{created}}">{{created}}</time></td>
                <td>{{#active}}active{{#own}} (this session){{/own}}{{/active}}{{#revoked}}revoked <time datetime="{{revoked}}">{{revoked}}</time>{{/revoked}}</td>
                <td>{{#active}}<form method="post" action="/studio/keys/{{id}}/revoke" class="revoke">
                <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger">Revoke</button></form>{{/active}}</td>
                </tr>
                {{/keys}}
                </tbody></table></div>
                {{/hasKeys}}
                {{^hasKeys}}<p class="empty">No keys yet. Create one above, or with <code>cairn keys create --tenant NAME</code>.</p>{{/hasKeys}}
                {{/content}}{{/layout}}
                """
            )
        ]
    }
}
