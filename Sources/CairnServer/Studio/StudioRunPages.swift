import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Runs: the list (filtered by status and workflow, in cursor pages) and a run's page (facts,
/// gates to approve or reject, cancel, the step timeline, children, forks, usage, state
/// versions and a page of its newest events, followed live over the run's event stream).
struct StudioRunPages<Context: PrincipalContext>: Sendable {
    let auth: StudioAuth
    let runs: RunService
    /// The run event stream's handler (Tidebase's), run as the session's principal.
    let eventStream: @Sendable (Request, Context) async throws -> Response

    static var pageSize: Int { 50 }
    static var eventPageSize: Int { 100 }
    static var stepPageSize: Int { 100 }
    static var forkPageSize: Int { 20 }

    func register(on router: some RouterMethods<Context>) {
        router.get("/studio/runs") { request, _ in try await StudioPage.run { try await runList(request) } }
        router.get("/studio/runs/:runId") { request, context in
            try await StudioPage.run { try await runPage(request, context) }
        }
        router.get("/studio/runs/:runId/events") { request, context in
            guard let session = try await auth.session(request) else {
                return StudioPage.message(.unauthorized, "Not signed in", "Sign in to follow a run.", session: nil)
            }
            var context = context
            context.principal = session.principal
            return try await eventStream(request, context)
        }
        router.post("/studio/runs/:runId/gates/:gateId") { request, context in
            try await StudioPage.run { try await resolveGate(request, context) }
        }
        router.post("/studio/runs/:runId/cancel") { request, context in
            try await StudioPage.run { try await cancel(request, context) }
        }
        router.post("/studio/runs/:runId/fork") { request, context in
            try await StudioPage.run { try await fork(request, context) }
        }
    }

    func runList(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request)
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
        switch parameters["order"].map(String.init) ?? "" {
        case "", "desc": query.oldestFirst = false
        case "asc": query.oldestFirst = true
        default: problems.append("order must be desc (newest first) or asc (oldest first)")
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
        var view = StudioPage.base("Runs", session: session, section: "/studio/runs")
        view["workflow"] = workflow
        view["filtered"] = query.status != nil || query.workflowName != nil || query.after != nil
        view["statuses"] =
            [["value": "", "label": "any", "selected": query.status == nil]]
            + RunStatus.allCases.map { ["value": $0.rawValue, "label": $0.rawValue, "selected": $0 == query.status] }
        view["orders"] = [
            ["value": "desc", "label": "newest first", "selected": !query.oldestFirst],
            ["value": "asc", "label": "oldest first", "selected": query.oldestFirst],
        ]
        view["oldestFirst"] = query.oldestFirst
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
            if query.oldestFirst { items.append(("order", "asc")) }
            view["next"] = "/studio/runs?" + StudioPage.query(items)
        }
        return StudioPage.html(.ok, StudioTemplates.render("runs", view))
    }

    func runPage(_ request: Request, _ context: Context, error: String? = nil, notice: String? = nil)
        async throws -> Response
    {
        let session = try await auth.viewer(request)
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
        // The step timeline and the fork list page with cursors of their own.
        var cursors: [String: ListCursor] = [:]
        for (name, records): (Substring, String) in [("steps_before", "step"), ("forks_after", "fork")] {
            guard let raw = request.uri.queryParameters[name], !raw.isEmpty else { continue }
            guard let cursor = ListCursor(text: String(raw)) else {
                return StudioPage.message(
                    .badRequest, "Run", "\(name) is not a \(records) cursor of this page.", session: session,
                    back: "/studio/runs/\(StudioPage.pathSegment(runId))", backLabel: "The run")
            }
            cursors[String(name)] = cursor
        }
        let stepsBefore = cursors["steps_before"]
        let forksAfter = cursors["forks_after"]
        let overview: RunOverview
        do {
            overview = try await runs.overview(
                id: runId, eventsBefore: before, eventLimit: Self.eventPageSize, stepsBefore: stepsBefore,
                stepLimit: Self.stepPageSize, forksAfter: forksAfter, forkLimit: Self.forkPageSize,
                tenant: session.tenant)
        } catch RunError.runNotFound {
            return StudioPage.message(
                .notFound, "Run not found", "There is no run \(runId) in tenant \(session.tenant.rawValue).",
                session: session)
        }
        var diff: (from: StateVersion, to: StateVersion)?
        let from = request.uri.queryParameters["from"].map(String.init) ?? ""
        let to = request.uri.queryParameters["to"].map(String.init) ?? ""
        if !from.isEmpty || !to.isEmpty {
            guard let a = overview.stateVersions.first(where: { $0.id == from }),
                let b = overview.stateVersions.first(where: { $0.id == to })
            else {
                return StudioPage.message(
                    .badRequest, "Run",
                    "from and to must name two of the run's \(RunOverview.maxStateVersions) newest state versions.",
                    session: session, back: "/studio/runs/\(StudioPage.pathSegment(runId))", backLabel: "The run")
            }
            diff = (a, b)
        }
        var view = StudioPage.base("Run \(runId)", session: session, section: "/studio/runs")
        view.merge(StudioRunView.make(overview, session: session, before: before, diff: diff)) { _, new in new }
        view["live"] = before == .max && stepsBefore == nil && forksAfter == nil ? "1" : "0"
        if let error { view["error"] = error }
        if let notice { view["notice"] = notice }
        let part = request.uri.queryParameters["part"]
        let template = part == "live" ? "run-live" : "run"
        var status: HTTPResponse.Status = .ok
        if error != nil { status = .conflict }
        return StudioPage.html(status, StudioTemplates.render(template, view))
    }

    func resolveGate(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, form) = try await auth.actor(&request, needs: .write)
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
        return StudioPage.redirect("/studio/runs/\(StudioPage.pathSegment(runId))")
    }

    func cancel(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, form) = try await auth.actor(&request, needs: .write)
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
        return StudioPage.redirect("/studio/runs/\(StudioPage.pathSegment(runId))")
    }

    /// Retry after a step: a new run that replays this one's steps up to `step` and runs the
    /// rest again (a fork); the browser goes to it.
    func fork(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, form) = try await auth.actor(&request, needs: .write)
        let runId = try request.pathParameter("runId", context)
        let step = form["step"] ?? ""
        let child: Run
        do {
            child = try await runs.forkRun(id: runId, atStep: step, tenant: session.tenant).0
        } catch RunError.runNotFound {
            return StudioPage.notFound("Run", session: session)
        } catch RunError.invalid(let why) {
            return StudioPage.message(
                .badRequest, "Retry", why + "; nothing was created.", session: session,
                back: "/studio/runs/\(StudioPage.pathSegment(runId))", backLabel: "The run")
        }
        return StudioPage.redirect("/studio/runs/\(StudioPage.pathSegment(child.id))")
    }
}
