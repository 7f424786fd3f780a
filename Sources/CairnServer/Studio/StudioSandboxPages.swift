import CairnCore
import Foundation
import HTTPTypes
import Hummingbird

/// Sandboxes: the tenant's live sandboxes (this replica's: sandboxes are processes of the
/// replica that made them), each one's limits, capabilities and last executions with their
/// output; reset (forgets the interpreter's state) and kill (ends every process and removes
/// the sandbox).
struct StudioSandboxPages<Context: PrincipalContext>: Sendable {
    let auth: StudioAuth
    let sandboxes: SandboxService

    func register(on router: some RouterMethods<Context>) {
        router.get("/studio/sandboxes") { request, _ in try await StudioPage.run { try await list(request) } }
        router.get("/studio/sandboxes/:id") { request, context in
            try await StudioPage.run { try await detail(request, context) }
        }
        router.post("/studio/sandboxes/:id/kill") { request, context in
            try await StudioPage.run { try await kill(request, context) }
        }
        router.post("/studio/sandboxes/:id/reset") { request, context in
            try await StudioPage.run { try await reset(request, context) }
        }
    }

    private func list(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request)
        let infos = await sandboxes.list(tenant: session.tenant)
        var view = StudioPage.base("Sandboxes", session: session, section: "/studio/sandboxes")
        view["hasSandboxes"] = !infos.isEmpty
        view["sandboxes"] = infos.map(Self.summary)
        return StudioPage.html(.ok, StudioTemplates.render("sandboxes", view))
    }

    private func detail(_ request: Request, _ context: Context) async throws -> Response {
        let session = try await auth.viewer(request)
        let id = try request.pathParameter("id", context)
        guard let sandbox = try? sandboxes.sandbox(id, tenant: session.tenant) else {
            return StudioPage.notFound("Sandbox", session: session)
        }
        let info = await sandbox.info
        let history = await sandbox.history
        var view = StudioPage.base("Sandbox \(id)", session: session, section: "/studio/sandboxes")
        view.merge(Self.summary(info)) { _, new in new }
        let limits = info.limits
        view["limits"] = [
            ("Timeout", limits.timeoutMilliseconds.map { "\($0) ms" }),
            ("Memory", limits.memoryBytes.map { StudioByteCount.text($0) }),
            ("CPU", limits.cpuMillicores.map { String(format: "%.2f cores", Double($0) / 1000) }),
            ("Processes", limits.processes.map(String.init)),
            ("Temporary space", limits.tmpBytes.map { StudioByteCount.text($0) }),
            ("Output per execution", StudioByteCount.text(Int64(limits.outputBytes))),
        ].map { ["name": $0.0, "value": $0.1 ?? "not limited"] }
        view["capabilities"] = info.capabilities.map(\.rawValue).sorted().joined(separator: ", ")
        if let mount = info.workspace {
            view["workspace"] = [
                "bucket": mount.bucket, "snapshot": mount.snapshot ?? "current", "writable": mount.writable,
            ]
        }
        view["hasExecutions"] = !history.isEmpty
        view["executions"] = history.reversed().map { e -> [String: Any] in
            var item: [String: Any] = [
                "command": e.command, "started": e.startedAt.iso8601, "reason": e.exit.reason.rawValue,
                "duration": String(format: "%.0f ms", e.exit.durationMilliseconds), "truncated": e.truncated,
            ]
            if let code = e.exit.exitCode { item["exitCode"] = code }
            if let signal = e.exit.signal { item["signal"] = signal }
            if !e.stdout.isEmpty { item["stdout"] = e.stdout }
            if !e.stderr.isEmpty { item["stderr"] = e.stderr }
            if let value = e.value { item["value"] = value }
            if let error = e.error { item["error"] = error }
            return item
        }
        return StudioPage.html(.ok, StudioTemplates.render("sandbox", view))
    }

    private func kill(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, _) = try await auth.actor(&request, needs: .write)
        let id = try request.pathParameter("id", context)
        do {
            try await sandboxes.delete(id, tenant: session.tenant)
        } catch SandboxError.notFound {
            return StudioPage.notFound("Sandbox", session: session)
        }
        return StudioPage.redirect("/studio/sandboxes")
    }

    private func reset(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, _) = try await auth.actor(&request, needs: .write)
        let id = try request.pathParameter("id", context)
        do {
            _ = try await sandboxes.reset(id, tenant: session.tenant)
        } catch SandboxError.notFound {
            return StudioPage.notFound("Sandbox", session: session)
        } catch SandboxError.busy {
            return StudioPage.message(
                .conflict, "Sandbox busy", "The sandbox is running something; kill it, or reset it when it is idle.",
                session: session, back: "/studio/sandboxes/\(StudioPage.pathSegment(id))", backLabel: "The sandbox")
        }
        return StudioPage.redirect("/studio/sandboxes/\(StudioPage.pathSegment(id))")
    }

    static func summary(_ info: SandboxInfo) -> [String: Any] {
        var item: [String: Any] = [
            "id": info.id, "backend": info.backend, "language": info.language.rawValue, "status": info.status,
            "created": info.createdAt.iso8601,
        ]
        if let expires = info.idleExpiresAt ?? info.expiresAt { item["expires"] = expires.iso8601 }
        return item
    }
}

extension StudioTemplates {
    static var sandboxTemplates: [(String, String)] {
        [
            (
                "sandboxes",
                """
                {{<layout}}{{$content}}
                <h1>Sandboxes</h1>
                {{#hasSandboxes}}
                <div class="scroll"><table id="sandboxes">
                <thead><tr><th scope="col">Sandbox</th><th scope="col">Backend</th><th scope="col">Language</th>
                <th scope="col">State</th><th scope="col">Created</th><th scope="col">Expires</th></tr></thead>
                <tbody>
                {{#sandboxes}}<tr data-sandbox-id="{{id}}"><td><a href="/studio/sandboxes/{{id}}"><code>{{id}}</code></a></td>
                <td>{{backend}}</td><td>{{language}}</td><td>{{status}}</td><td><time datetime="{{created}}">{{created}}</time></td>
                <td>{{#expires}}<time datetime="{{expires}}">{{expires}}</time>{{/expires}}{{^expires}}—{{/expires}}</td></tr>{{/sandboxes}}
                </tbody></table></div>
                {{/hasSandboxes}}
                {{^hasSandboxes}}<p class="empty">No sandboxes on this server. Create one with <code>cairn sandbox create</code>,
                <code>POST /sandboxes</code> or a py-code-mode session; they end when their time is up.</p>{{/hasSandboxes}}
                {{/content}}{{/layout}}
                """
            ),
            (
                "sandbox",
                """
                {{<layout}}{{$content}}
                <p><a href="/studio/sandboxes">← Sandboxes</a></p>
                <h1>Sandbox <code>{{id}}</code></h1>
                <dl class="facts">
                <dt>Backend</dt><dd>{{backend}}</dd><dt>Language</dt><dd>{{language}}</dd><dt>State</dt><dd>{{status}}</dd>
                <dt>Created</dt><dd><time datetime="{{created}}">{{created}}</time></dd>
                {{#expires}}<dt>Expires</dt><dd><time datetime="{{expires}}">{{expires}}</time></dd>{{/expires}}
                <dt>Enforced</dt><dd>{{capabilities}}</dd>
                {{#workspace}}<dt>Workspace</dt><dd>{{bucket}} at {{snapshot}}{{#writable}}, written back{{/writable}}</dd>{{/workspace}}
                </dl>
                <h2>Limits</h2>
                <table id="limits"><tbody>{{#limits}}<tr><th scope="row">{{name}}</th><td>{{value}}</td></tr>{{/limits}}</tbody></table>
                {{#canWrite}}
                <div class="inline">
                <form id="reset" method="post" action="/studio/sandboxes/{{id}}/reset"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Reset</button></form>
                <form id="kill" method="post" action="/studio/sandboxes/{{id}}/kill"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger">Kill</button></form>
                </div>
                {{/canWrite}}
                <h2>Last executions</h2>
                {{#hasExecutions}}
                <ol id="executions" class="executions">
                {{#executions}}<li class="card"><p><time datetime="{{started}}">{{started}}</time> · <b>{{reason}}</b>{{#exitCode}} (exit {{exitCode}}){{/exitCode}}{{#signal}} (signal {{signal}}){{/signal}} · {{duration}}{{#truncated}} · output cut short{{/truncated}}</p>
                <pre class="json">{{command}}</pre>
                {{#stdout}}<h3>stdout</h3><pre class="json">{{stdout}}</pre>{{/stdout}}
                {{#stderr}}<h3>stderr</h3><pre class="json">{{stderr}}</pre>{{/stderr}}
                {{#value}}<h3>Value</h3><pre class="json">{{value}}</pre>{{/value}}
                {{#error}}<h3>Error</h3><pre class="json">{{error}}</pre>{{/error}}
                </li>{{/executions}}
                </ol>
                {{/hasExecutions}}
                {{^hasExecutions}}<p class="empty">Nothing has run here yet.</p>{{/hasExecutions}}
                {{/content}}{{/layout}}
                """
            ),
        ]
    }
}
