import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Studio, the web UI: server-rendered pages under `/studio`. A browser signs in with an API key
/// (or the root key, or, while the server is open, with none), which is exchanged for a session
/// cookie; the key's tenant and scopes decide what is shown and which buttons exist, and every
/// action checks them again. Each handler authenticates for itself (the matched route decides),
/// and every form carries the session's CSRF token. Each kind of record has its pages in a
/// group of its own (`StudioRunPages`, ...), registered here.
struct StudioRoutes<Context: PrincipalContext>: Sendable {
    let server: CairnServer
    let auth: StudioAuth
    /// The run event stream's handler (Tidebase's), run as the session's principal.
    let eventStream: @Sendable (Request, Context) async throws -> Response

    init(server: CairnServer, eventStream: @escaping @Sendable (Request, Context) async throws -> Response) {
        self.server = server
        self.eventStream = eventStream
        auth = StudioAuth(
            sessions: StudioSessionService(store: server.store, keys: server.keys, clock: server.clock),
            keys: server.keys, openMode: server.openMode, rootKey: server.configuration.apiKey,
            publicURL: server.configuration.effectivePublicURL)
    }

    func register(on router: some RouterMethods<Context>) {
        router.get("/studio") { _, _ in StudioPage.redirect("/studio/runs") }
        router.get("/studio/assets/studio.css") { _, _ in
            Self.asset(StudioTemplates.stylesheet, type: "text/css; charset=utf-8")
        }
        router.get("/studio/assets/studio.js") { _, _ in
            Self.asset(StudioTemplates.script, type: "text/javascript; charset=utf-8")
        }
        router.get("/studio/sign-in") { request, _ in try await StudioPage.run { try await signInPage(request) } }
        router.post("/studio/sign-in") { request, _ in try await StudioPage.run { try await signIn(request) } }
        router.post("/studio/sign-out") { request, _ in try await StudioPage.run { try await signOut(request) } }
        StudioRunPages(auth: auth, runs: server.runs, eventStream: eventStream).register(on: router)
        StudioOperationPages<Context>(
            auth: auth, runs: server.runs, registry: server.registry,
            engine: server.configuration.databaseURL == nil ? "SQLite" : "Postgres", clock: server.clock,
            services: Self.backgroundServices(server.configuration)
        ).register(on: router)
        StudioSandboxPages<Context>(auth: auth, sandboxes: server.sandboxes).register(on: router)
        StudioKeyPages<Context>(auth: auth).register(on: router)
        StudioWorkspacePages<Context>(auth: auth, server: server).register(on: router)
        StudioArtifactPages<Context>(auth: auth, artifacts: server.artifacts).register(on: router)
        StudioCheckpointPages<Context>(auth: auth, checkpoints: server.checkpoints).register(on: router)
    }

    // MARK: Sign-in

    func signInPage(_ request: Request, error: String? = nil, status: HTTPResponse.Status = .ok)
        async throws -> Response
    {
        if error == nil, try await auth.session(request) != nil { return StudioPage.redirect("/studio/runs") }
        let token = request.cookies[StudioAuth.signInCookie]?.value ?? ""
        let csrf = StudioAuth.isToken(token) ? token : Identifier.randomHex()
        var view: [String: Any] = ["title": "Sign in", "csrf": csrf]
        if auth.rootKey == nil, try await auth.openMode.isOpen() { view["open"] = true }
        if let error { view["error"] = error }
        var response = StudioPage.html(status, StudioTemplates.render("sign-in", view))
        if csrf != token {
            response.headers[values: .setCookie].append(
                auth.cookie(StudioAuth.signInCookie, csrf, maxAge: 3600, request: request))
        }
        return response
    }

    func signIn(_ request: Request) async throws -> Response {
        var request = request
        let form = try await StudioAuth.form(&request)
        guard let presented = form["csrf"], let expected = request.cookies[StudioAuth.signInCookie]?.value,
            StudioAuth.isToken(expected), constantTimeEquals(Array(presented.utf8), Array(expected.utf8))
        else {
            return try await signInPage(
                request, error: "The sign-in form expired. Try again.", status: .forbidden)
        }
        let principal: Principal
        if form["open"] == "1", auth.rootKey == nil, try await auth.openMode.isOpen() {
            principal = .open
        } else if let key = form["key"]?.trimmingCharacters(in: .whitespaces), !key.isEmpty, key.utf8.count <= 512 {
            if let rootKey = auth.rootKey, constantTimeEquals(Array(key.utf8), Array(rootKey.utf8)) {
                principal = Principal(tenant: .default, scopes: [.admin], isRoot: true, keyId: "root")
            } else if let found = try await auth.keys.authenticate(secret: key) {
                principal = found
            } else {
                return try await signInPage(
                    request, error: "That key is not valid, or it was revoked.", status: .unauthorized)
            }
        } else {
            return try await signInPage(request, error: "Enter an API key.", status: .badRequest)
        }
        let (_, token) = try await auth.sessions.signIn(as: principal)
        var response = StudioPage.redirect("/studio/runs")
        response.headers[values: .setCookie].append(
            auth.cookie(
                StudioAuth.sessionCookie, token, maxAge: Int(StudioSessionService.lifetimeMilliseconds / 1000),
                request: request))
        response.headers[values: .setCookie].append(
            auth.cookie(StudioAuth.signInCookie, "", maxAge: 0, request: request))
        return response
    }

    func signOut(_ request: Request) async throws -> Response {
        var request = request
        let (session, _) = try await auth.actor(&request)
        try await auth.sessions.signOut(tokenHash: session.tokenHash)
        var response = StudioPage.redirect("/studio/sign-in")
        response.headers[values: .setCookie].append(
            auth.cookie(StudioAuth.sessionCookie, "", maxAge: 0, request: request))
        return response
    }

    /// What `CairnServer.services` runs, named for people.
    static func backgroundServices(_ c: ServerConfiguration) -> [(name: String, everyMilliseconds: Int64)] {
        [
            ("Reconciler: expired leases, overdue runs, due schedules, recovery calls", c.reconcileMilliseconds),
            ("Store figures for /metrics", StoreGauges.interval),
            ("Deliveries: webhooks and notifications (also woken by each commit)", DeliveryService.interval),
            ("Checkpoint expiry", c.checkpointSweepMilliseconds),
            ("Artifact sweeper: expired artifacts and unreferenced blobs", c.artifactSweepMilliseconds),
            ("Workspace lifecycle rules", c.lifecycleSweepMilliseconds),
            ("Sandbox reaper: sandboxes past their time", c.sandboxReapMilliseconds),
        ]
    }

    private static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
