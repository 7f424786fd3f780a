import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Studio, the web UI: server-rendered pages under `/studio`. A browser signs in with an API key
/// (or the root key, or, while the server is open, with none), which is exchanged for a session
/// cookie; the key's tenant and scopes decide what is shown and which buttons exist, and every
/// action checks them again. Each handler authenticates for itself (the matched route decides),
/// and every form carries the session's CSRF token.
struct StudioRoutes<Context: PrincipalContext>: Sendable {
    let runs: RunService
    let sessions: StudioSessionService
    let keys: KeyService
    let openMode: OpenMode
    let rootKey: String?
    /// Cookies get `Secure` when the server's public URL is https or a proxy says the request
    /// came over TLS.
    let publicURL: String?
    /// The run event stream's handler (Tidebase's), run as the session's principal.
    let eventStream: @Sendable (Request, Context) async throws -> Response

    static var sessionCookie: String { "cairn_studio" }
    /// Before sign-in, the sign-in form's CSRF token lives in a cookie of its own (double submit).
    static var signInCookie: String { "cairn_studio_signin" }
    static var formLimit: Int { 64 * 1024 }
    static var pageSize: Int { 50 }
    static var eventPageSize: Int { 100 }

    func register(on router: some RouterMethods<Context>) {
        router.get("/studio") { _, _ in Self.redirect("/studio/runs") }
        router.get("/studio/assets/studio.css") { _, _ in
            Self.asset(StudioTemplates.stylesheet, type: "text/css; charset=utf-8")
        }
        router.get("/studio/assets/studio.js") { _, _ in
            Self.asset(StudioTemplates.script, type: "text/javascript; charset=utf-8")
        }
        router.get("/studio/sign-in") { request, _ in try await page { try await signInPage(request) } }
        router.post("/studio/sign-in") { request, _ in try await page { try await signIn(request) } }
        router.post("/studio/sign-out") { request, _ in try await page { try await signOut(request) } }
        router.get("/studio/runs") { request, _ in try await page { try await runList(request) } }
        router.get("/studio/runs/:runId") { request, context in
            try await page { try await runPage(request, context) }
        }
        router.get("/studio/runs/:runId/events") { request, context in
            guard let session = try await session(request) else {
                return StudioPage.message(.unauthorized, "Not signed in", "Sign in to follow a run.", session: nil)
            }
            var context = context
            context.principal = session.principal
            return try await eventStream(request, context)
        }
        router.post("/studio/runs/:runId/gates/:gateId") { request, context in
            try await page { try await resolveGate(request, context) }
        }
        router.post("/studio/runs/:runId/cancel") { request, context in
            try await page { try await cancel(request, context) }
        }
    }

    // MARK: Sign-in

    private func signInPage(_ request: Request, error: String? = nil, status: HTTPResponse.Status = .ok)
        async throws -> Response
    {
        if error == nil, try await session(request) != nil { return Self.redirect("/studio/runs") }
        let token = request.cookies[Self.signInCookie]?.value ?? ""
        let csrf = Self.isToken(token) ? token : Identifier.randomHex()
        var view: [String: Any] = ["title": "Sign in", "csrf": csrf]
        if rootKey == nil, try await openMode.isOpen() { view["open"] = true }
        if let error { view["error"] = error }
        var response = StudioPage.html(status, StudioTemplates.render("sign-in", view))
        if csrf != token {
            response.headers[values: .setCookie].append(
                cookie(Self.signInCookie, csrf, maxAge: 3600, request: request))
        }
        return response
    }

    private func signIn(_ request: Request) async throws -> Response {
        var request = request
        let form = try await Self.form(&request)
        guard let presented = form["csrf"], let expected = request.cookies[Self.signInCookie]?.value,
            Self.isToken(expected), constantTimeEquals(Array(presented.utf8), Array(expected.utf8))
        else {
            return try await signInPage(
                request, error: "The sign-in form expired. Try again.", status: .forbidden)
        }
        let principal: Principal
        if form["open"] == "1", rootKey == nil, try await openMode.isOpen() {
            principal = .open
        } else if let key = form["key"]?.trimmingCharacters(in: .whitespaces), !key.isEmpty, key.utf8.count <= 512 {
            if let rootKey, constantTimeEquals(Array(key.utf8), Array(rootKey.utf8)) {
                principal = Principal(tenant: .default, scopes: [.admin], isRoot: true, keyId: "root")
            } else if let found = try await keys.authenticate(secret: key) {
                principal = found
            } else {
                return try await signInPage(
                    request, error: "That key is not valid, or it was revoked.", status: .unauthorized)
            }
        } else {
            return try await signInPage(request, error: "Enter an API key.", status: .badRequest)
        }
        let (_, token) = try await sessions.signIn(as: principal)
        var response = Self.redirect("/studio/runs")
        response.headers[values: .setCookie].append(
            cookie(
                Self.sessionCookie, token, maxAge: Int(StudioSessionService.lifetimeMilliseconds / 1000),
                request: request))
        response.headers[values: .setCookie].append(cookie(Self.signInCookie, "", maxAge: 0, request: request))
        return response
    }

    private func signOut(_ request: Request) async throws -> Response {
        var request = request
        let (session, _) = try await actingSession(&request)
        try await sessions.signOut(tokenHash: session.tokenHash)
        var response = Self.redirect("/studio/sign-in")
        response.headers[values: .setCookie].append(cookie(Self.sessionCookie, "", maxAge: 0, request: request))
        return response
    }

    // MARK: Runs

    private func runList(_ request: Request) async throws -> Response {
        let session = try await requireSession(request)
        let parameters = request.uri.queryParameters
        var query = RunListQuery(limit: Self.pageSize)
        var problems: [String] = []
        let statusText = parameters["status"].map(String.init) ?? ""
        if !statusText.isEmpty {
            if let status = RunStatus(rawValue: statusText) {
                query.status = status
            } else {
                problems.append("status must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        let workflow = parameters["workflow"].map(String.init) ?? ""
        if !workflow.isEmpty {
            if workflow.utf8.count <= 200 {
                query.workflowName = workflow
            } else {
                problems.append("workflow is too long")
            }
        }
        if let after = parameters["after"], !after.isEmpty {
            if let cursor = ListCursor(text: String(after)) {
                query.after = cursor
            } else {
                problems.append("the page cursor is not valid")
            }
        }
        guard problems.isEmpty else {
            return StudioPage.message(
                .badRequest, "Runs", problems.joined(separator: "; ") + ".", session: session, back: "/studio/runs",
                backLabel: "All runs")
        }
        let page = try await runs.listRuns(tenant: session.tenant, query)
        var view = StudioPage.base("Runs", session: session)
        view["onRuns"] = true
        view["workflow"] = workflow
        view["filtered"] = query.status != nil || query.workflowName != nil || query.after != nil
        view["statuses"] =
            [["value": "", "label": "any", "selected": query.status == nil]]
            + RunStatus.allCases.map { ["value": $0.rawValue, "label": $0.rawValue, "selected": $0 == query.status] }
        view["hasRuns"] = !page.runs.isEmpty
        view["runs"] = page.runs.map { run -> [String: Any] in
            [
                "id": run.id, "workflow": run.workflowName, "status": run.status.rawValue,
                "created": run.createdAt.iso8601, "updated": run.updatedAt.iso8601,
            ]
        }
        if let next = page.next {
            var items = [("after", next.text)]
            if let status = query.status { items.append(("status", status.rawValue)) }
            if let name = query.workflowName { items.append(("workflow", name)) }
            view["next"] = "/studio/runs?" + StudioPage.query(items)
        }
        return StudioPage.html(.ok, StudioTemplates.render("runs", view))
    }

    private func runPage(_ request: Request, _ context: Context, error: String? = nil, notice: String? = nil)
        async throws -> Response
    {
        let session = try await requireSession(request)
        let runId = try request.pathParameter("runId", context)
        var before = Int64.max
        if let raw = request.uri.queryParameters["before"], !raw.isEmpty {
            guard let value = Int64(String(raw)), value > 0 else {
                return StudioPage.message(
                    .badRequest, "Run", "before must be a positive event number.", session: session,
                    back: "/studio/runs/\(StudioPage.pathSegment(runId))", backLabel: "The run")
            }
            before = value
        }
        let overview: RunOverview
        do {
            overview = try await runs.overview(
                id: runId, eventsBefore: before, eventLimit: Self.eventPageSize, tenant: session.tenant)
        } catch RunError.runNotFound {
            return StudioPage.message(
                .notFound, "Run not found", "There is no run \(runId) in tenant \(session.tenant.rawValue).",
                session: session)
        }
        var view = StudioPage.base("Run \(runId)", session: session)
        view["onRuns"] = true
        view.merge(StudioRunView.make(overview, session: session, before: before)) { _, new in new }
        view["live"] = before == .max ? "1" : "0"
        if let error { view["error"] = error }
        if let notice { view["notice"] = notice }
        let part = request.uri.queryParameters["part"]
        let template = part == "live" ? "run-live" : "run"
        var status: HTTPResponse.Status = .ok
        if error != nil { status = .conflict }
        return StudioPage.html(status, StudioTemplates.render(template, view))
    }

    private func resolveGate(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, form) = try await actingSession(&request, needs: .write)
        let runId = try request.pathParameter("runId", context)
        let gateId = try request.pathParameter("gateId", context)
        let decision: GateStatus
        switch form["decision"] {
        case "approve": decision = .approved
        case "reject": decision = .rejected
        default:
            return StudioPage.message(
                .badRequest, "Gate", "The decision must be approve or reject.", session: session,
                back: "/studio/runs/\(StudioPage.pathSegment(runId))", backLabel: "The run")
        }
        let comment = form["comment"] ?? ""
        guard comment.count <= 2000 else {
            return StudioPage.message(
                .badRequest, "Gate", "The comment is longer than 2,000 characters; nothing was decided.",
                session: session, back: "/studio/runs/\(StudioPage.pathSegment(runId))", backLabel: "The run")
        }
        let gate: Gate
        do {
            gate = try await runs.gate(runId: runId, gateId: gateId, tenant: session.tenant).gate
        } catch RunError.runNotFound, RunError.gateNotFound {
            return StudioPage.message(.notFound, "Gate not found", "There is no such gate.", session: session)
        }
        var payload = JSONObject()
        if !comment.isEmpty { payload["comment"] = .string(comment) }
        do {
            _ = try await runs.resolveGate(
                runId: runId, gateId: gateId,
                ResolveGateRequest(
                    token: gate.resolveToken, decision: decision, actor: "studio:" + (session.keyId ?? "open"),
                    payload: .object(payload)),
                tenant: session.tenant)
        } catch RunError.gateNotResolvable {
            return try await runPage(
                request, context, error: "The gate \(gate.name) was already resolved; the first decision stands.")
        }
        return Self.redirect("/studio/runs/\(StudioPage.pathSegment(runId))")
    }

    private func cancel(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, form) = try await actingSession(&request, needs: .write)
        let runId = try request.pathParameter("runId", context)
        let reason = (form["reason"] ?? "").trimmingCharacters(in: .whitespaces)
        guard reason.count <= 500 else {
            return StudioPage.message(
                .badRequest, "Cancel", "The reason is longer than 500 characters; nothing was cancelled.",
                session: session, back: "/studio/runs/\(StudioPage.pathSegment(runId))", backLabel: "The run")
        }
        do {
            _ = try await runs.cancelRun(
                id: runId, reason: reason.isEmpty ? "cancelled in Studio" : reason,
                actor: "studio:" + (session.keyId ?? "open"), tenant: session.tenant)
        } catch RunError.runNotFound {
            return StudioPage.message(.notFound, "Run not found", "There is no such run.", session: session)
        } catch RunError.runAlreadyCompleted {
            return try await runPage(request, context, error: "The run has already completed; it was not cancelled.")
        }
        return Self.redirect("/studio/runs/\(StudioPage.pathSegment(runId))")
    }

    // MARK: Sessions

    /// The session the request's cookie names, if it is still good.
    private func session(_ request: Request) async throws -> StudioSession? {
        guard let token = request.cookies[Self.sessionCookie]?.value, !token.isEmpty else { return nil }
        let openMode = self.openMode
        let rootKeyConfigured = rootKey != nil
        return try await sessions.session(token: token, rootKeyConfigured: rootKeyConfigured) {
            !rootKeyConfigured ? try await openMode.isOpen() : false
        }
    }

    /// Pages need a session; without one the browser is sent to sign in.
    private func requireSession(_ request: Request) async throws -> StudioSession {
        guard let session = try await session(request) else { throw StudioPage.Redirect(to: "/studio/sign-in") }
        return session
    }

    /// An action (a POST): a session, the form, its CSRF token, and the scope the action needs.
    private func actingSession(_ request: inout Request, needs scope: Scope? = nil) async throws -> (
        StudioSession, URLEncodedForm
    ) {
        guard let session = try await session(request) else {
            throw StudioPage.Refusal(
                status: .unauthorized, title: "Not signed in",
                message:
                    "Your session ended (signed out, expired, or its key was revoked). Sign in again; nothing was changed.",
                session: nil)
        }
        let form = try await Self.form(&request)
        guard let presented = form["csrf"],
            constantTimeEquals(Array(presented.utf8), Array(session.csrfToken.utf8))
        else {
            throw StudioPage.Refusal(
                status: .forbidden, title: "Form expired",
                message:
                    "This form did not come from your current Studio page. Reload the page and try again; nothing was changed.",
                session: session)
        }
        if let scope, !session.principal.allows(scope) {
            throw StudioPage.Refusal(
                status: .forbidden, title: "Not allowed",
                message: "Your key lacks the \(scope.rawValue) scope; nothing was changed.", session: session)
        }
        return (session, form)
    }

    private static func form(_ request: inout Request) async throws -> URLEncodedForm {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: formLimit)
        } catch {
            throw StudioPage.Refusal(
                status: .contentTooLarge, title: "Form too large",
                message: "The form is larger than \(formLimit / 1024) KiB; nothing was changed.", session: nil)
        }
        do {
            return try URLEncodedForm(Array(buffer: body))
        } catch {
            throw StudioPage.Refusal(
                status: .badRequest, title: "Bad form", message: "The form could not be read; nothing was changed.",
                session: nil)
        }
    }

    private static func isToken(_ text: String) -> Bool {
        text.utf8.count == 32
            && text.utf8.allSatisfy {
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
            }
    }

    private func cookie(_ name: String, _ value: String, maxAge: Int, request: Request) -> String {
        let tls =
            publicURL?.lowercased().hasPrefix("https://") == true
            || request.headers[HTTPField.Name("x-forwarded-proto")!]?.lowercased() == "https"
        return "\(name)=\(value); Path=/studio; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (tls ? "; Secure" : "")
    }

    private static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    private static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Runs a page's handler, turning a redirect or a refusal into its response.
    private func page(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let redirect as StudioPage.Redirect {
            return Self.redirect(redirect.location)
        } catch let refusal as StudioPage.Refusal {
            return StudioPage.message(refusal.status, refusal.title, refusal.message, session: refusal.session)
        }
    }
}
