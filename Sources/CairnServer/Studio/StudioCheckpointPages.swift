import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Checkpoints (the SnapState protocol): the tenant's workflows in cursor pages, a workflow's
/// saves in save order with each save's diff against the one before, forks, analytics as
/// server-rendered charts, agents, and webhooks with their delivery logs (deleted here by keys
/// with the write scope). Everything is read in the session's tenant; another tenant's records
/// answer exactly like missing ones.
///
/// A workflow's page is `/studio/checkpoints/<id>`; ids that would collide with this group's
/// own pages (or that a browser would resolve as a dot segment) use
/// `/studio/checkpoints/workflow?id=<id>`, which serves any id.
struct StudioCheckpointPages<Context: PrincipalContext>: Sendable {
    let auth: StudioAuth
    let checkpoints: CheckpointService

    static var pageSize: Int { 50 }
    static var stepPageSize: Int { 50 }
    static var deliveryLogSize: Int { 100 }
    /// Rows shown of lists the service answers whole (webhooks, agents).
    static var listCap: Int { 200 }
    static var section: String { "/studio/checkpoints" }
    /// Paths of this group that a workflow id must not take.
    static var reserved: Set<String> { ["agents", "analytics", "webhooks", "workflow", ".", ".."] }
    /// The longest workflow id a save accepts (`workflow_id`: 1 to 128 characters).
    static var maxWorkflowIdBytes: Int { 512 }

    func register(on router: some RouterMethods<Context>) {
        router.get("/studio/checkpoints") { request, _ in try await StudioPage.run { try await workflowList(request) } }
        router.get("/studio/checkpoints/workflow") { request, _ in
            try await StudioPage.run {
                let session = try await auth.viewer(request)
                let id = request.uri.queryParameters["id"].map(String.init) ?? ""
                guard !id.isEmpty else {
                    return Self.badRequest("Workflow", "Give a workflow id.", session: session)
                }
                return try await workflowPage(request, workflowId: id, session: session)
            }
        }
        router.get("/studio/checkpoints/analytics") { request, _ in
            try await StudioPage.run { try await analyticsPage(request) }
        }
        router.get("/studio/checkpoints/agents") { request, _ in
            try await StudioPage.run { try await agentsPage(request) }
        }
        router.post("/studio/checkpoints/agents/:agentId/delete") { request, context in
            try await StudioPage.run { try await deleteAgent(request, context) }
        }
        router.get("/studio/checkpoints/webhooks") { request, _ in
            try await StudioPage.run { try await webhooksPage(request) }
        }
        router.get("/studio/checkpoints/webhooks/:webhookId") { request, context in
            try await StudioPage.run { try await webhookPage(request, context) }
        }
        router.post("/studio/checkpoints/webhooks/:webhookId/delete") { request, context in
            try await StudioPage.run { try await deleteWebhook(request, context) }
        }
        router.get("/studio/checkpoints/:workflowId") { request, context in
            try await StudioPage.run {
                let session = try await auth.viewer(request)
                return try await workflowPage(
                    request, workflowId: try request.pathParameter("workflowId", context), session: session)
            }
        }
    }

    // MARK: Workflows

    func workflowList(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request)
        var after: ListCursor?
        if let raw = request.uri.queryParameters["after"], !raw.isEmpty {
            guard let cursor = Self.cursor(String(raw)) else {
                return Self.badRequest("Checkpoints", "The page cursor is not valid.", session: session)
            }
            after = cursor
        }
        let page = try await checkpoints.workflows(tenant: session.tenant, limit: Self.pageSize, after: after)
        let now = checkpoints.clock.now()
        var view = base("Checkpoints", session: session, current: Self.section)
        view["paged"] = after != nil
        view["hasWorkflows"] = !page.workflows.isEmpty
        view["workflows"] = page.workflows.map { w -> [String: Any] in
            [
                "id": w.workflowId, "href": Self.workflowPath(w.workflowId), "status": w.status.rawValue,
                "saves": w.totalCheckpoints, "latestStep": w.latestStep, "size": Self.bytes(w.totalSizeBytes),
                "errors": w.errorCount, "hasErrors": w.errorCount > 0, "fork": w.isFork,
                "lastActivity": w.lastActivityAt.iso8601, "expires": w.expiresAt.iso8601,
                "expiresIn": Self.remaining(w.expiresAt.milliseconds - now.milliseconds),
            ]
        }
        if let next = page.next {
            view["next"] = "/studio/checkpoints?" + StudioPage.query([("after", Self.cursorText(next))])
        }
        return StudioPage.html(.ok, StudioTemplates.render("checkpoint-workflows", view))
    }

    /// What the page of a workflow reads besides its saves: the head, where it was forked
    /// from, the forks that read through it, and the agents that saved in it.
    struct WorkflowFacts: Sendable {
        var head: CheckpointWorkflow
        var fork: CheckpointFork?
        var forks: [CheckpointFork]
        var agents: [String]
    }

    func workflowPage(_ request: Request, workflowId: String, session: StudioSession) async throws -> Response {
        let path = Self.workflowPath(workflowId)
        var fromStep: Int?
        if let raw = request.uri.queryParameters["from_step"], !raw.isEmpty {
            guard let value = Int(String(raw)), (0...BodyReader.maxMagnitude).contains(value) else {
                return Self.badRequest(
                    "Workflow", "from_step must be a whole number from 0 to \(BodyReader.maxMagnitude).",
                    session: session, back: path, backLabel: "The workflow")
            }
            fromStep = value
        }
        guard workflowId.utf8.count <= Self.maxWorkflowIdBytes else {
            return StudioPage.notFound("Workflow", session: session)
        }
        let tenant = session.tenant
        let now = checkpoints.clock.now()
        let facts = try await checkpoints.store.read { tx -> WorkflowFacts? in
            guard let head = try await tx.checkpointWorkflow(tenant: tenant, workflowId: workflowId),
                !head.isExpired(at: now)
            else { return nil }
            var fork: CheckpointFork?
            if head.isFork { fork = try await tx.checkpointFork(tenant: tenant, workflowId: workflowId) }
            return WorkflowFacts(
                head: head, fork: fork,
                forks: try await tx.checkpointForks(tenant: tenant, parentWorkflowId: workflowId),
                agents: try await tx.workflowAgents(tenant: tenant, workflowId: workflowId))
        }
        guard let facts else { return StudioPage.notFound("Workflow", session: session) }
        let page = try await checkpoints.replay(
            workflowId: workflowId, fromStep: fromStep, toStep: nil, limit: Self.stepPageSize, tenant: tenant)
        let head = facts.head

        var view = base("Workflow \(workflowId)", session: session, current: Self.section)
        view["id"] = workflowId
        view["status"] = head.status.rawValue
        view["latestStep"] = head.latestStep
        view["saves"] = head.totalCheckpoints
        view["size"] = Self.bytes(head.totalSizeBytes)
        view["errors"] = head.errorCount
        view["resumed"] = head.resumed ? "yes" : "no"
        view["started"] = head.startedAt.iso8601
        view["lastActivity"] = head.lastActivityAt.iso8601
        view["expires"] = head.expiresAt.iso8601
        view["expiresIn"] = Self.remaining(head.expiresAt.milliseconds - now.milliseconds)
        view["ttl"] = Self.remaining(head.expiresAt.milliseconds - head.lastActivityAt.milliseconds)
        view["agents"] = facts.agents.prefix(Self.listCap).joined(separator: ", ")
        view["hasAgents"] = !facts.agents.isEmpty
        if let fork = facts.fork {
            view["forkedFrom"] = [
                "parent": fork.parentWorkflowId, "parentHref": Self.workflowPath(fork.parentWorkflowId),
                "step": fork.step, "forked": fork.createdAt.iso8601,
            ]
        }
        view["hasForks"] = !facts.forks.isEmpty
        view["forks"] = facts.forks.prefix(Self.listCap).map { f -> [String: Any] in
            ["id": f.workflowId, "href": Self.workflowPath(f.workflowId), "step": f.step]
        }
        view["paged"] = fromStep != nil
        view["first"] = path
        view["hasSteps"] = !page.checkpoints.isEmpty
        var previous: Timestamp?
        view["steps"] = page.checkpoints.map { c -> [String: Any] in
            defer { previous = c.createdAt }
            return Self.stepView(c, previous: previous)
        }
        view["sizeChart"] = StudioChart.columns(
            id: "size-chart", label: "Size of each save on this page, in bytes",
            empty: "No saves on this page.",
            page.checkpoints.map {
                StudioChart.Bar(name: "step \($0.step)", value: Double($0.sizeBytes), text: Self.bytes($0.sizeBytes))
            })
        if page.hasMore, let last = page.checkpoints.last, last.step < BodyReader.maxMagnitude {
            view["next"] = Self.appending(path, [("from_step", String(last.step + 1))])
        }
        return StudioPage.html(.ok, StudioTemplates.render("checkpoint-workflow", view))
    }

    static func stepView(_ c: Checkpoint, previous: Timestamp?) -> [String: Any] {
        var s: [String: Any] = [
            "step": c.step, "sequence": c.sequence, "checkpointId": c.id, "etag": c.etag,
            "size": bytes(c.sizeBytes), "sizeBytes": c.sizeBytes, "created": c.createdAt.iso8601,
            "agent": c.agentId ?? "", "hasAgent": c.agentId != nil,
        ]
        if let label = c.label, !label.isEmpty { s["label"] = label }
        if let previous { s["since"] = StudioRunView.duration(c.createdAt.milliseconds - previous.milliseconds) }
        if let type = c.errorType {
            var failure: [String: Any] = ["type": type]
            if let message = c.errorMessage, !message.isEmpty { failure["message"] = message }
            s["failure"] = failure
        }
        s["diff"] = diffView(c.diff, first: c.sequence == 1)
        s["stateText"] = clipped(c.state, 4000)
        if let metadata = c.metadata, metadata != "{}" { s["metadataText"] = clipped(metadata, 4000) }
        return s
    }

    /// Paths shown per kind of change; the rest is counted.
    static var diffPathCap: Int { 40 }

    /// `{added, removed, changed}` as lists of paths (`""` is the whole state).
    static func diffView(_ raw: RawJSON, first: Bool) -> [String: Any] {
        let object = (try? JSONParser.parse(raw))?.objectValue
        var view: [String: Any] = ["first": first]
        var total = 0
        for kind in ["added", "removed", "changed"] {
            let paths = object?[kind]?.arrayValue?.compactMap(\.stringValue) ?? []
            total += paths.count
            view[kind] = paths.prefix(diffPathCap).map { $0.isEmpty ? "(the whole state)" : $0 }
            if paths.count > diffPathCap { view[kind + "More"] = "and \(paths.count - diffPathCap) more" }
        }
        view["unchanged"] = total == 0
        return view
    }

    // MARK: Analytics

    func analyticsPage(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request)
        guard let days = Self.days(request) else {
            return Self.badRequest(
                "Analytics", "days must be a whole number from 1 to 90.", session: session,
                back: "/studio/checkpoints/analytics", backLabel: "Analytics")
        }
        let now = checkpoints.clock.now()
        let since = now.adding(milliseconds: -Int64(days) * 86_400_000)
        let (totals, top) = try await checkpoints.overview(from: since, to: now, tenant: session.tenant)
        let failures = try await checkpoints.failures(since: since, agentId: nil, tenant: session.tenant)

        var view = base("Checkpoint analytics", session: session, current: "/studio/checkpoints/analytics")
        view["days"] = days
        view["periods"] = Set([1, 7, 30, 90, days]).sorted().map { d -> [String: Any] in
            ["days": d, "label": d == 1 ? "last day" : "last \(d) days", "selected": d == days]
        }
        view["totals"] = [
            "workflows": totals.workflows, "active": totals.active, "completed": totals.completed,
            "failed": totals.failed, "checkpoints": totals.checkpoints,
            "avgSteps": String(format: "%.2f", totals.averageSteps),
            "avgDuration": StudioRunView.duration(Int64(totals.averageDurationSeconds * 1000)),
            "failures": failures.counts.total,
        ]
        view["charts"] = [
            StudioChart.bars(
                id: "status-chart", label: "Workflows by status, last active in the last \(days) days",
                empty: "No workflows were active in this period.",
                totals.workflows == 0
                    ? []
                    : [
                        StudioChart.Bar(name: "active", value: Double(totals.active), text: "\(totals.active)"),
                        StudioChart.Bar(
                            name: "completed", value: Double(totals.completed), text: "\(totals.completed)"),
                        StudioChart.Bar(name: "failed", value: Double(totals.failed), text: "\(totals.failed)"),
                    ]),
            StudioChart.bars(
                id: "agents-chart", label: "Workflows per agent (top \(top.count))",
                empty: "No agent saved a checkpoint in this period.",
                top.map { StudioChart.Bar(name: $0.agentId, value: Double($0.workflows), text: "\($0.workflows)") }),
            StudioChart.bars(
                id: "failures-step-chart", label: "Failures by step",
                empty: "No save reported an error in this period.",
                failures.counts.byStep.prefix(20).map {
                    StudioChart.Bar(name: "step \($0.step)", value: Double($0.count), text: "\($0.count)")
                }),
            StudioChart.bars(
                id: "failures-agent-chart", label: "Failures by agent",
                empty: "No agent reported an error in this period.",
                failures.counts.byAgent.prefix(20).map {
                    StudioChart.Bar(name: $0.agentId, value: Double($0.count), text: "\($0.count)")
                }),
        ]
        view["hasRecent"] = !failures.recent.isEmpty
        view["recent"] = failures.recent.map { c -> [String: Any] in
            var item: [String: Any] = [
                "workflow": c.workflowId,
                "href": Self.appending(Self.workflowPath(c.workflowId), [("from_step", String(c.step))]),
                "step": c.step, "agent": c.agentId ?? "", "type": c.errorType ?? "", "created": c.createdAt.iso8601,
            ]
            if let message = c.errorMessage, !message.isEmpty { item["message"] = message }
            return item
        }
        return StudioPage.html(.ok, StudioTemplates.render("checkpoint-analytics", view))
    }

    /// `days`: absent means 30; otherwise 1 to 90.
    static func days(_ request: Request) -> Int? {
        guard let raw = request.uri.queryParameters["days"], !raw.isEmpty else { return 30 }
        guard let days = Int(String(raw)), (1...90).contains(days) else { return nil }
        return days
    }

    // MARK: Agents

    func agentsPage(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request)
        guard let days = Self.days(request) else {
            return Self.badRequest(
                "Agents", "days must be a whole number from 1 to 90.", session: session,
                back: "/studio/checkpoints/agents", backLabel: "Agents")
        }
        let now = checkpoints.clock.now()
        let rows = try await checkpoints.agentReport(
            from: now.adding(milliseconds: -Int64(days) * 86_400_000), to: now, tenant: session.tenant)
        let canWrite = session.principal.allows(.write)
        var view = base("Agents", session: session, current: "/studio/checkpoints/agents")
        view["days"] = days
        let registered = rows.filter { $0.agent != nil }
        let unregistered = rows.filter { $0.agent == nil }
        view["hasRegistered"] = !registered.isEmpty
        view["registered"] = registered.prefix(Self.listCap).compactMap { row -> [String: Any]? in
            guard let a = row.agent else { return nil }
            var item = Self.activityView(row.activity)
            item["id"] = a.agentId
            item["name"] = a.name ?? ""
            if let description = a.description, !description.isEmpty { item["description"] = description }
            item["capabilities"] =
                ((try? JSONParser.parse(a.capabilities))?.arrayValue?.compactMap(\.stringValue) ?? [])
                .joined(separator: ", ")
            if a.metadata != "{}" { item["metadataText"] = Self.clipped(a.metadata, 2000) }
            item["lastSeen"] = a.lastSeenAt?.iso8601 ?? ""
            item["seen"] = a.lastSeenAt != nil
            item["created"] = a.createdAt.iso8601
            item["deletePath"] = "/studio/checkpoints/agents/\(StudioPage.pathSegment(a.agentId))/delete"
            item["canDelete"] = canWrite
            return item
        }
        view["hasUnregistered"] = !unregistered.isEmpty
        view["unregistered"] = unregistered.prefix(Self.listCap).map { row -> [String: Any] in
            var item = Self.activityView(row.activity)
            item["id"] = row.agentId
            return item
        }
        view["chart"] = StudioChart.bars(
            id: "agent-checkpoints-chart", label: "Checkpoints saved per agent, last \(days) days",
            empty: "No agent saved a checkpoint in this period.",
            rows.compactMap { row in
                row.activity.map {
                    StudioChart.Bar(name: row.agentId, value: Double($0.checkpoints), text: "\($0.checkpoints)")
                }
            }.prefix(20).map { $0 })
        return StudioPage.html(.ok, StudioTemplates.render("checkpoint-agents", view))
    }

    static func activityView(_ a: AgentActivity?) -> [String: Any] {
        [
            "workflows": a?.workflows ?? 0, "activeWorkflows": a?.activeWorkflows ?? 0,
            "checkpoints": a?.checkpoints ?? 0, "errorRate": String(format: "%.0f%%", (a?.errorRate ?? 0) * 100),
        ]
    }

    func deleteAgent(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, _) = try await auth.actor(&request, needs: .write)
        let agentId = try request.pathParameter("agentId", context)
        do {
            try await checkpoints.deleteAgent(agentId: agentId, tenant: session.tenant)
        } catch CheckpointError.agentNotFound {
            return StudioPage.notFound("Agent", session: session)
        }
        return StudioPage.redirect("/studio/checkpoints/agents")
    }

    // MARK: Webhooks

    func webhooksPage(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request)
        let hooks = try await checkpoints.webhooks(tenant: session.tenant)
        var view = base("Webhooks", session: session, current: "/studio/checkpoints/webhooks")
        view["hasWebhooks"] = !hooks.isEmpty
        view["webhooks"] = hooks.prefix(Self.listCap).map { Self.webhookView($0, session: session) }
        if hooks.count > Self.listCap { view["capped"] = "The first \(Self.listCap) of \(hooks.count) are shown." }
        return StudioPage.html(.ok, StudioTemplates.render("checkpoint-webhooks", view))
    }

    static func webhookView(_ hook: CheckpointWebhook, session: StudioSession) -> [String: Any] {
        [
            "id": hook.id, "href": "/studio/checkpoints/webhooks/\(StudioPage.pathSegment(hook.id))",
            "url": hook.url, "events": hook.events.joined(separator: ", "), "signed": hook.secret != nil,
            "created": hook.createdAt.iso8601,
            "deletePath": "/studio/checkpoints/webhooks/\(StudioPage.pathSegment(hook.id))/delete",
            "canDelete": session.principal.allows(.write),
        ]
    }

    func webhookPage(_ request: Request, _ context: Context) async throws -> Response {
        let session = try await auth.viewer(request)
        let id = try request.pathParameter("webhookId", context)
        guard let hook = try await checkpoints.webhooks(tenant: session.tenant).first(where: { $0.id == id }) else {
            return StudioPage.notFound("Webhook", session: session)
        }
        let limit = Self.deliveryLogSize
        let deliveries = try await checkpoints.store.read { tx in
            try await tx.deliveries(channelId: hook.id, limit: limit)
        }.filter { $0.kind == .checkpointWebhook }
        var view = base("Webhook \(hook.id)", session: session, current: "/studio/checkpoints/webhooks")
        view["hook"] = Self.webhookView(hook, session: session)
        view["hasDeliveries"] = !deliveries.isEmpty
        view["full"] = deliveries.count == limit
        view["limit"] = limit
        view["deliveries"] = deliveries.map { d -> [String: Any] in
            var item: [String: Any] = [
                "id": d.id, "event": d.eventType, "status": d.status, "attempts": d.attempts,
                "created": d.createdAt.iso8601, "payloadText": Self.clipped(d.payload, 2000),
            ]
            if let code = d.httpStatus { item["httpStatus"] = code }
            if let error = d.errorText { item["errorText"] = Self.clipped(error, 500) }
            if let body = d.responseBody, !body.isEmpty { item["responseText"] = Self.clipped(body, 500) }
            if let completed = d.completedAt { item["completed"] = completed.iso8601 }
            if d.status == "pending", let next = d.nextAttemptAt { item["nextAttempt"] = next.iso8601 }
            return item
        }
        return StudioPage.html(.ok, StudioTemplates.render("checkpoint-webhook", view))
    }

    func deleteWebhook(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, _) = try await auth.actor(&request, needs: .write)
        let id = try request.pathParameter("webhookId", context)
        do {
            try await checkpoints.deleteWebhook(id: id, tenant: session.tenant)
        } catch CheckpointError.webhookNotFound {
            return StudioPage.notFound("Webhook", session: session)
        }
        return StudioPage.redirect("/studio/checkpoints/webhooks")
    }

    // MARK: Helpers

    /// The layout's values plus this group's own navigation.
    func base(_ title: String, session: StudioSession, current: String) -> [String: Any] {
        var view = StudioPage.base(title, session: session, section: Self.section)
        view["subnav"] = [
            (Self.section, "Workflows"), ("/studio/checkpoints/analytics", "Analytics"),
            ("/studio/checkpoints/agents", "Agents"), ("/studio/checkpoints/webhooks", "Webhooks"),
        ].map { item -> [String: Any] in ["path": item.0, "label": item.1, "current": item.0 == current] }
        return view
    }

    static func badRequest(
        _ title: String, _ message: String, session: StudioSession, back: String = section,
        backLabel: String = "Checkpoints"
    ) -> Response {
        StudioPage.message(
            .badRequest, title, message + " Nothing was changed.", session: session, back: back, backLabel: backLabel)
    }

    /// Where a workflow's page is.
    static func workflowPath(_ id: String) -> String {
        reserved.contains(id)
            ? "/studio/checkpoints/workflow?" + StudioPage.query([("id", id)])
            : "/studio/checkpoints/" + StudioPage.pathSegment(id)
    }

    static func appending(_ path: String, _ items: [(String, String)]) -> String {
        path + (path.contains("?") ? "&" : "?") + StudioPage.query(items)
    }

    /// The list's cursor in the page's links: `<ms>.<the workflow id's UTF-8 in hex>`, so any
    /// workflow id (spaces, non-ASCII) survives the round trip.
    static func cursorText(_ cursor: ListCursor) -> String {
        "\(cursor.createdAt.milliseconds)." + Array(cursor.id.utf8).hexString
    }

    static func cursor(_ text: String) -> ListCursor? {
        guard text.utf8.count <= 20 + 1 + 2 * maxWorkflowIdBytes, let dot = text.firstIndex(of: "."),
            let ms = Int64(text[..<dot]), (0...Int64(BodyReader.maxMagnitude)).contains(ms)
        else { return nil }
        let hex = Array(text[text.index(after: dot)...].utf8)
        guard !hex.isEmpty, hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var i = 0
        while i < hex.count {
            guard let high = nibble(hex[i]), let low = nibble(hex[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
            i += 2
        }
        guard let id = String(validating: bytes, as: UTF8.self) else { return nil }
        return ListCursor(createdAt: Timestamp(milliseconds: ms), id: id)
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    static func bytes(_ n: Int) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1024 * 1024 { return String(format: "%.1f KiB", Double(n) / 1024) }
        return String(format: "%.1f MiB", Double(n) / 1_048_576)
    }

    /// A span of time in its largest units ("6 d 23 h", "4 min 2 s"); "expired" when not positive.
    static func remaining(_ ms: Int64) -> String {
        guard ms > 0 else { return "expired" }
        let s = ms / 1000
        if s >= 365 * 86_400 { return "\(s / (365 * 86_400)) y \(s % (365 * 86_400) / 86_400) d" }
        if s >= 86_400 { return "\(s / 86_400) d \(s % 86_400 / 3600) h" }
        if s >= 3600 { return "\(s / 3600) h \(s % 3600 / 60) min" }
        if s >= 60 { return "\(s / 60) min \(s % 60) s" }
        return "\(s) s"
    }

    /// At most `limit` characters of `text`, marked when cut.
    static func clipped(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + " … (\(text.utf8.count) bytes in all)"
    }
}

/// Bar charts as inline SVG, drawn on the server: no script, no library. Each chart is an
/// `img` with its label as the accessible name and a `<title>`, and its numbers follow in a
/// table, so nothing is only in the picture.
enum StudioChart {
    struct Bar: Sendable {
        var name: String
        var value: Double
        var text: String
    }

    static let width = 640.0

    /// Horizontal bars, one row per bar, labelled on the left and valued on the right.
    static func bars(id: String, label: String, empty: String, _ bars: [Bar]) -> [String: Any] {
        let row = 24.0, labelWidth = 190.0, room = width - labelWidth - 80
        let top = max(bars.map(\.value).max() ?? 0, 1)
        var view = frame(id: id, label: label, empty: empty, bars)
        view["horizontal"] = true
        view["height"] = format(Double(bars.count) * row + 8)
        view["bars"] = bars.enumerated().map { i, bar -> [String: Any] in
            let y = 4 + Double(i) * row
            let w = bar.value > 0 ? max(2, bar.value / top * room) : 0
            return [
                "name": bar.name, "short": short(bar.name, 26), "text": bar.text,
                "labelX": format(labelWidth - 8), "textY": format(y + 16),
                "x": format(labelWidth), "y": format(y + 3), "w": format(w), "h": format(row - 6),
                "valueX": format(labelWidth + w + 6),
            ]
        }
        return view
    }

    /// Vertical columns in order (a series), the largest value marked on the axis.
    static func columns(id: String, label: String, empty: String, _ bars: [Bar]) -> [String: Any] {
        let height = 180.0, left = 64.0, bottom = 22.0, top = 10.0
        let plot = height - bottom - top
        let slot = (width - left - 8) / Double(max(bars.count, 1))
        let peak = max(bars.map(\.value).max() ?? 0, 1)
        let every = max(1, Int((Double(bars.count) / 12).rounded(.up)))
        var view = frame(id: id, label: label, empty: empty, bars)
        view["columns"] = true
        view["height"] = format(height)
        view["axis"] = [
            "x1": format(left), "x2": format(width - 4), "y": format(height - bottom),
            "topY": format(top + 4), "labelX": format(left - 6), "zeroY": format(height - bottom),
            "peak": bars.max(by: { $0.value < $1.value })?.text ?? "0",
        ]
        view["bars"] = bars.enumerated().map { i, bar -> [String: Any] in
            let h = bar.value > 0 ? max(1, bar.value / peak * plot) : 0
            let x = left + Double(i) * slot + slot * 0.1
            var item: [String: Any] = [
                "name": bar.name, "text": bar.text, "x": format(x), "y": format(height - bottom - h),
                "w": format(max(1, slot * 0.8)), "h": format(h),
            ]
            if i % every == 0 {
                item["tick"] = ["x": format(x + slot * 0.4), "y": format(height - 6), "short": short(bar.name, 10)]
            }
            return item
        }
        return view
    }

    static func frame(id: String, label: String, empty: String, _ bars: [Bar]) -> [String: Any] {
        [
            "chartId": id, "label": label, "empty": empty, "hasData": !bars.isEmpty, "width": format(width),
            "rows": bars.map { ["name": $0.name, "text": $0.text] },
        ]
    }

    static func short(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    static func format(_ x: Double) -> String { String(format: "%.1f", x) }
}

extension StudioTemplates {
    static var checkpointTemplates: [(String, String)] {
        [
            ("checkpoint-nav", checkpointNav), ("checkpoint-chart", checkpointChart),
            ("checkpoint-workflows", checkpointWorkflows), ("checkpoint-workflow", checkpointWorkflow),
            ("checkpoint-analytics", checkpointAnalytics), ("checkpoint-agents", checkpointAgents),
            ("checkpoint-webhooks", checkpointWebhooks), ("checkpoint-webhook", checkpointWebhook),
        ]
    }

    private static let checkpointNav = """
        <nav class="subnav" aria-label="Checkpoints">{{#subnav}}<a href="{{path}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>{{/subnav}}</nav>
        """

    /// A chart (`StudioChart`): the picture, then its numbers.
    private static let checkpointChart = """
        <figure class="chart" id="{{chartId}}">
        <figcaption>{{label}}</figcaption>
        {{#hasData}}
        <svg role="img" aria-label="{{label}}" viewBox="0 0 {{width}} {{height}}" width="{{width}}" height="{{height}}" preserveAspectRatio="xMinYMin meet">
        <title>{{label}}</title>
        {{#horizontal}}{{#bars}}<g><text x="{{labelX}}" y="{{textY}}" text-anchor="end">{{short}}</text><rect x="{{x}}" y="{{y}}" width="{{w}}" height="{{h}}"><title>{{name}}: {{text}}</title></rect><text x="{{valueX}}" y="{{textY}}">{{text}}</text></g>
        {{/bars}}{{/horizontal}}
        {{#columns}}{{#axis}}<line x1="{{x1}}" x2="{{x2}}" y1="{{y}}" y2="{{y}}"></line><text x="{{labelX}}" y="{{topY}}" text-anchor="end">{{peak}}</text><text x="{{labelX}}" y="{{zeroY}}" text-anchor="end">0</text>{{/axis}}
        {{#bars}}<rect x="{{x}}" y="{{y}}" width="{{w}}" height="{{h}}"><title>{{name}}: {{text}}</title></rect>{{#tick}}<text x="{{x}}" y="{{y}}" text-anchor="middle">{{short}}</text>{{/tick}}
        {{/bars}}{{/columns}}
        </svg>
        <details><summary>The numbers</summary>
        <table class="chart-data"><tbody>{{#rows}}<tr><th scope="row">{{name}}</th><td>{{text}}</td></tr>{{/rows}}</tbody></table>
        </details>
        {{/hasData}}
        {{^hasData}}<p class="empty">{{empty}}</p>{{/hasData}}
        </figure>
        """

    private static let checkpointWorkflows = """
        {{<layout}}{{$content}}
        <h1>Checkpoints</h1>
        {{> checkpoint-nav}}
        <form id="workflow-jump" method="get" action="/studio/checkpoints/workflow" class="filters">
        <label>Workflow id <input name="id" maxlength="128" required></label>
        <button type="submit">Open</button>
        </form>
        {{#hasWorkflows}}
        <p class="hint">Live workflows, most recently active first.</p>
        <div class="scroll">
        <table id="workflows">
        <thead><tr><th scope="col">Workflow</th><th scope="col">Status</th><th scope="col">Saves</th>
        <th scope="col">Latest step</th><th scope="col">Size</th><th scope="col">Last activity</th><th scope="col">Expires</th></tr></thead>
        <tbody>
        {{#workflows}}
        <tr data-workflow-id="{{id}}">
        <td><a href="{{href}}"><code>{{id}}</code></a>{{#fork}} <span class="badge">fork</span>{{/fork}}</td>
        <td><span class="badge {{status}}">{{status}}</span>{{#hasErrors}} <span class="failed">{{errors}} errors</span>{{/hasErrors}}</td>
        <td>{{saves}}</td>
        <td>{{latestStep}}</td>
        <td>{{size}}</td>
        <td><time datetime="{{lastActivity}}">{{lastActivity}}</time></td>
        <td><time datetime="{{expires}}">{{expires}}</time> ({{expiresIn}})</td>
        </tr>
        {{/workflows}}
        </tbody>
        </table>
        </div>
        {{/hasWorkflows}}
        {{^hasWorkflows}}
        {{#paged}}<p class="empty">No more workflows.</p>{{/paged}}
        {{^paged}}
        <div class="empty card">
        <p>No checkpointed workflows in tenant {{#session}}<b>{{tenant}}</b>{{/session}} yet.</p>
        <p>Save a checkpoint with <code>snapstate-sdk</code>, using an API key of this tenant and this server as its <code>base_url</code>:</p>
        <pre class="json">from snapstate_sdk import SnapStateClient
        client = SnapStateClient(api_key=KEY, base_url="http://localhost:7373")
        client.save("wf_001", step=1, state={"progress": 1}, label="fetched", agent_id="bot")</pre>
        <p>Each save appears here as a step of its workflow, with what it changed.</p>
        </div>
        {{/paged}}
        {{/hasWorkflows}}
        <p class="pager">{{#paged}}<a href="/studio/checkpoints">Most recent</a> {{/paged}}
        {{#next}}<a rel="next" href="{{next}}">Less recently active →</a>{{/next}}</p>
        {{/content}}{{/layout}}
        """

    private static let checkpointWorkflow = """
        {{<layout}}{{$content}}
        <p><a href="/studio/checkpoints">← Checkpoints</a></p>
        <h1>Workflow <code>{{id}}</code></h1>
        {{> checkpoint-nav}}
        <dl class="facts">
        <dt>Status</dt><dd><span id="workflow-status" class="badge {{status}}">{{status}}</span></dd>
        <dt>Saves</dt><dd>{{saves}} (latest step {{latestStep}})</dd>
        <dt>Size</dt><dd>{{size}}</dd>
        <dt>Errors</dt><dd>{{errors}}</dd>
        <dt>Started</dt><dd><time datetime="{{started}}">{{started}}</time></dd>
        <dt>Last activity</dt><dd><time datetime="{{lastActivity}}">{{lastActivity}}</time></dd>
        <dt>Expires</dt><dd><time datetime="{{expires}}">{{expires}}</time> (in {{expiresIn}}; TTL {{ttl}} from the latest save)</dd>
        <dt>Resumed</dt><dd>{{resumed}}</dd>
        {{#hasAgents}}<dt>Agents</dt><dd>{{agents}}</dd>{{/hasAgents}}
        {{#forkedFrom}}<dt>Forked from</dt><dd id="forked-from"><a href="{{parentHref}}"><code>{{parent}}</code></a> at step {{step}}, <time datetime="{{forked}}">{{forked}}</time></dd>{{/forkedFrom}}
        </dl>
        {{#hasForks}}
        <section aria-labelledby="forks-h">
        <h2 id="forks-h">Forks</h2>
        <ul id="forks">{{#forks}}<li><a href="{{href}}"><code>{{id}}</code></a> from step {{step}}</li>{{/forks}}</ul>
        </section>
        {{/hasForks}}

        <section aria-labelledby="saves-h">
        <h2 id="saves-h">Saves</h2>
        {{#sizeChart}}{{> checkpoint-chart}}{{/sizeChart}}
        {{#hasSteps}}
        <ol id="saves" class="saves">
        {{#steps}}
        <li class="card" data-step="{{step}}" id="step-{{step}}">
        <h3>Step {{step}}{{#label}} · {{label}}{{/label}} <span class="seq">save #{{sequence}}</span></h3>
        <dl class="facts">
        <dt>Checkpoint</dt><dd><code>{{checkpointId}}</code></dd>
        <dt>ETag</dt><dd><code>{{etag}}</code></dd>
        <dt>Agent</dt><dd>{{#hasAgent}}{{agent}}{{/hasAgent}}{{^hasAgent}}none{{/hasAgent}}</dd>
        <dt>Size</dt><dd>{{size}}</dd>
        <dt>Saved</dt><dd><time datetime="{{created}}">{{created}}</time>{{#since}} ({{since}} after the save before){{/since}}</dd>
        {{#failure}}<dt>Error</dt><dd class="failed">{{type}}{{#message}}: {{message}}{{/message}}</dd>{{/failure}}
        </dl>
        {{#diff}}
        <div class="diff">
        <h4>{{#first}}First save: what it set{{/first}}{{^first}}Changes from the save before{{/first}}</h4>
        {{#unchanged}}<p class="empty">No change.</p>{{/unchanged}}
        <ul>
        {{#added}}<li class="added"><b aria-hidden="true">+</b> added <code>{{.}}</code></li>{{/added}}
        {{#addedMore}}<li class="added">{{addedMore}} added</li>{{/addedMore}}
        {{#removed}}<li class="removed"><b aria-hidden="true">−</b> removed <code>{{.}}</code></li>{{/removed}}
        {{#removedMore}}<li class="removed">{{removedMore}} removed</li>{{/removedMore}}
        {{#changed}}<li class="changed"><b aria-hidden="true">~</b> changed <code>{{.}}</code></li>{{/changed}}
        {{#changedMore}}<li class="changed">{{changedMore}} changed</li>{{/changedMore}}
        </ul>
        </div>
        {{/diff}}
        <details><summary>State</summary><pre class="json">{{stateText}}</pre></details>
        {{#metadataText}}<details><summary>Metadata</summary><pre class="json">{{metadataText}}</pre></details>{{/metadataText}}
        </li>
        {{/steps}}
        </ol>
        {{/hasSteps}}
        {{^hasSteps}}<p class="empty">No saves {{#paged}}from this step on{{/paged}}{{^paged}}yet{{/paged}}.</p>{{/hasSteps}}
        <p class="pager">{{#paged}}<a href="{{first}}">First saves</a> {{/paged}}
        {{#next}}<a rel="next" href="{{next}}">Later saves →</a>{{/next}}</p>
        </section>
        {{/content}}{{/layout}}
        """

    private static let checkpointAnalytics = """
        {{<layout}}{{$content}}
        <h1>Checkpoint analytics</h1>
        {{> checkpoint-nav}}
        <form id="period" method="get" action="/studio/checkpoints/analytics" class="filters">
        <label>Period <select name="days">
        {{#periods}}<option value="{{days}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/periods}}
        </select></label>
        <button type="submit">Show</button>
        </form>
        {{#totals}}
        <dl class="facts" id="totals">
        <dt>Workflows</dt><dd>{{workflows}} ({{active}} active, {{completed}} completed, {{failed}} failed)</dd>
        <dt>Checkpoints</dt><dd>{{checkpoints}}</dd>
        <dt>Steps per workflow</dt><dd>{{avgSteps}} on average</dd>
        <dt>Workflow duration</dt><dd>{{avgDuration}} on average</dd>
        <dt>Failures</dt><dd>{{failures}}</dd>
        </dl>
        {{/totals}}
        <p class="hint">Workflows last active in the last {{days}} days; failures are saves reporting an error in that time.</p>
        {{#charts}}{{> checkpoint-chart}}{{/charts}}
        <section aria-labelledby="recent-h">
        <h2 id="recent-h">Recent failures</h2>
        {{#hasRecent}}
        <div class="scroll"><table id="recent-failures">
        <thead><tr><th scope="col">Workflow</th><th scope="col">Step</th><th scope="col">Agent</th><th scope="col">Error</th><th scope="col">When</th></tr></thead>
        <tbody>{{#recent}}<tr><td><a href="{{href}}"><code>{{workflow}}</code></a></td><td>{{step}}</td><td>{{agent}}</td><td>{{type}}{{#message}}: {{message}}{{/message}}</td><td><time datetime="{{created}}">{{created}}</time></td></tr>{{/recent}}</tbody>
        </table></div>
        {{/hasRecent}}
        {{^hasRecent}}<p class="empty">No failures in this period. A save records one when its metadata has an <code>error</code>.</p>{{/hasRecent}}
        </section>
        {{/content}}{{/layout}}
        """

    private static let checkpointAgents = """
        {{<layout}}{{$content}}
        <h1>Agents</h1>
        {{> checkpoint-nav}}
        <p class="hint">Activity counts workflows last active in the last {{days}} days.</p>
        {{#chart}}{{> checkpoint-chart}}{{/chart}}
        <section aria-labelledby="registered-h">
        <h2 id="registered-h">Registered agents</h2>
        {{#hasRegistered}}
        <div class="scroll"><table id="agents">
        <thead><tr><th scope="col">Agent</th><th scope="col">Name</th><th scope="col">Capabilities</th><th scope="col">Workflows</th>
        <th scope="col">Checkpoints</th><th scope="col">Error rate</th><th scope="col">Last seen</th><th scope="col"><span class="hint">Actions</span></th></tr></thead>
        <tbody>
        {{#registered}}
        <tr data-agent-id="{{id}}">
        <td><code>{{id}}</code>{{#description}}<br><span class="hint">{{description}}</span>{{/description}}
        {{#metadataText}}<details><summary>Metadata</summary><pre class="json">{{metadataText}}</pre></details>{{/metadataText}}</td>
        <td>{{name}}</td><td>{{capabilities}}</td><td>{{workflows}} ({{activeWorkflows}} active)</td><td>{{checkpoints}}</td><td>{{errorRate}}</td>
        <td>{{#seen}}<time datetime="{{lastSeen}}">{{lastSeen}}</time>{{/seen}}{{^seen}}never{{/seen}}</td>
        <td>{{#canDelete}}<form class="delete-agent inline" method="post" action="{{deletePath}}">
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger" aria-label="Delete agent {{id}}">Delete</button></form>{{/canDelete}}</td>
        </tr>
        {{/registered}}
        </tbody>
        </table></div>
        {{/hasRegistered}}
        {{^hasRegistered}}<p class="empty">No registered agents. Register one with <code>POST /agents</code> (<code>client.register_agent(...)</code> in snapstate-sdk); saves that name an <code>agent_id</code> count here either way.</p>{{/hasRegistered}}
        </section>
        {{#hasUnregistered}}
        <section aria-labelledby="unregistered-h">
        <h2 id="unregistered-h">Agents seen in saves, not registered</h2>
        <div class="scroll"><table id="unregistered">
        <thead><tr><th scope="col">Agent</th><th scope="col">Workflows</th><th scope="col">Checkpoints</th><th scope="col">Error rate</th></tr></thead>
        <tbody>{{#unregistered}}<tr><td><code>{{id}}</code></td><td>{{workflows}} ({{activeWorkflows}} active)</td><td>{{checkpoints}}</td><td>{{errorRate}}</td></tr>{{/unregistered}}</tbody>
        </table></div>
        </section>
        {{/hasUnregistered}}
        {{/content}}{{/layout}}
        """

    private static let checkpointWebhooks = """
        {{<layout}}{{$content}}
        <h1>Webhooks</h1>
        {{> checkpoint-nav}}
        {{#hasWebhooks}}
        <div class="scroll"><table id="webhooks">
        <thead><tr><th scope="col">Webhook</th><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Signed</th><th scope="col">Created</th><th scope="col"><span class="hint">Actions</span></th></tr></thead>
        <tbody>
        {{#webhooks}}
        <tr data-webhook-id="{{id}}">
        <td><a href="{{href}}"><code>{{id}}</code></a></td><td><code>{{url}}</code></td><td>{{events}}</td>
        <td>{{#signed}}yes{{/signed}}{{^signed}}no{{/signed}}</td><td><time datetime="{{created}}">{{created}}</time></td>
        <td>{{#canDelete}}<form class="delete-webhook inline" method="post" action="{{deletePath}}">
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger" aria-label="Delete webhook {{id}}">Delete</button></form>{{/canDelete}}</td>
        </tr>
        {{/webhooks}}
        </tbody>
        </table></div>
        {{#capped}}<p class="hint">{{capped}}</p>{{/capped}}
        {{/hasWebhooks}}
        {{^hasWebhooks}}<p class="empty">No webhooks. Register one with <code>POST /webhooks</code> and <code>{"url": …, "events": ["checkpoint.saved"]}</code>; each event it wants is then delivered, retried, and logged here.</p>{{/hasWebhooks}}
        {{/content}}{{/layout}}
        """

    private static let checkpointWebhook = """
        {{<layout}}{{$content}}
        <p><a href="/studio/checkpoints/webhooks">← Webhooks</a></p>
        {{#hook}}
        <h1>Webhook <code>{{id}}</code></h1>
        {{> checkpoint-nav}}
        <dl class="facts">
        <dt>URL</dt><dd><code>{{url}}</code></dd>
        <dt>Events</dt><dd>{{events}}</dd>
        <dt>Signed</dt><dd>{{#signed}}yes (X-Checkpoint-Signature){{/signed}}{{^signed}}no{{/signed}}</dd>
        <dt>Created</dt><dd><time datetime="{{created}}">{{created}}</time></dd>
        </dl>
        {{#canDelete}}<form id="delete-webhook" class="inline" method="post" action="{{deletePath}}">
        <input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger">Delete webhook</button></form>{{/canDelete}}
        {{/hook}}
        <section aria-labelledby="deliveries-h">
        <h2 id="deliveries-h">Delivery log</h2>
        {{#hasDeliveries}}
        <p class="hint">Newest first{{#full}}; the newest {{limit}} are shown{{/full}}.</p>
        <div class="scroll"><table id="deliveries">
        <thead><tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Response</th><th scope="col">Recorded</th><th scope="col">Done</th></tr></thead>
        <tbody>
        {{#deliveries}}
        <tr data-delivery-id="{{id}}">
        <td>{{event}}<details><summary>Body</summary><pre class="json">{{payloadText}}</pre></details></td>
        <td><span class="badge {{status}}">{{status}}</span>{{#nextAttempt}}<br><span class="hint">next try <time datetime="{{nextAttempt}}">{{nextAttempt}}</time></span>{{/nextAttempt}}</td>
        <td>{{attempts}}</td>
        <td>{{#httpStatus}}HTTP {{httpStatus}}{{/httpStatus}}{{#errorText}} <span class="failed">{{errorText}}</span>{{/errorText}}
        {{#responseText}}<details><summary>Response body</summary><pre class="json">{{responseText}}</pre></details>{{/responseText}}</td>
        <td><time datetime="{{created}}">{{created}}</time></td>
        <td>{{#completed}}<time datetime="{{completed}}">{{completed}}</time>{{/completed}}</td>
        </tr>
        {{/deliveries}}
        </tbody>
        </table></div>
        {{/hasDeliveries}}
        {{^hasDeliveries}}<p class="empty">Nothing delivered yet. A delivery is recorded with each save (or resume, or expiry) whose event this webhook wants.</p>{{/hasDeliveries}}
        </section>
        {{/content}}{{/layout}}
        """
}
