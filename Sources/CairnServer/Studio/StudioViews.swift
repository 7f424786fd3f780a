import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What every Studio page shares: the HTML response, the layout's values, and the pages that
/// say something went wrong.
enum StudioPage {
    /// Thrown by a handler to send the browser elsewhere (to sign in).
    struct Redirect: Error {
        let location: String
        init(to location: String) { self.location = location }
    }

    /// Thrown by a handler to answer with a message page; nothing was changed.
    struct Refusal: Error {
        let status: HTTPResponse.Status
        let title: String
        let message: String
        let session: StudioSession?
    }

    /// Runs a page's handler, turning a redirect or a refusal into its response.
    static func run(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let redirect as Redirect {
            return Self.redirect(redirect.location)
        } catch let refusal as Refusal {
            return message(refusal.status, refusal.title, refusal.message, session: refusal.session)
        }
    }

    /// After an action: 303 to where the result shows.
    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// A 404 that says the same whether the record is missing or another tenant's.
    static func notFound(_ what: String, session: StudioSession) -> Response {
        message(
            .notFound, "\(what) not found",
            "There is no such \(what.lowercased()) in tenant \(session.tenant.rawValue).", session: session)
    }

    static func html(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                // Nothing but Studio's own script and stylesheet; no framing (clickjacking).
                .contentSecurityPolicy:
                    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                HTTPField.Name("referrer-policy")!: "same-origin",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The sections in the header, each shown to keys with its scope.
    static let sections: [(path: String, label: String, needs: Scope)] = [
        ("/studio/runs", "Runs", .read),
        ("/studio/queues", "Queues", .read),
        ("/studio/schedules", "Schedules", .read),
        ("/studio/sandboxes", "Sandboxes", .read),
        ("/studio/workspaces", "Workspaces", .read),
        ("/studio/artifacts", "Artifacts", .read),
        ("/studio/checkpoints", "Checkpoints", .read),
        ("/studio/keys", "Keys", .admin),
        ("/studio/health", "Health", .read),
    ]

    /// The layout's values: the signed-in tenant, what the key may do, the CSRF token, and the
    /// sections, `section` (a path of `sections`) marked current.
    static func base(_ title: String, session: StudioSession?, section: String? = nil) -> [String: Any] {
        var view: [String: Any] = ["title": title]
        if let session {
            view["nav"] = sections.filter { session.principal.allows($0.needs) }.map { s -> [String: Any] in
                ["path": s.path, "label": s.label, "current": s.path == section]
            }
            let access =
                session.isRoot && session.keyId == nil
                ? "open server" : session.isRoot ? "root key" : session.scopes.map(\.rawValue).joined(separator: ", ")
            view["session"] = ["tenant": session.tenant.rawValue, "access": access, "csrf": session.csrfToken]
            view["csrf"] = session.csrfToken
            view["canWrite"] = session.principal.allows(.write)
        }
        return view
    }

    static func message(
        _ status: HTTPResponse.Status, _ title: String, _ message: String, session: StudioSession?,
        back: String? = nil, backLabel: String? = nil
    ) -> Response {
        var view = base(title, session: session)
        view["message"] = message
        view["back"] = back ?? (session == nil ? "/studio/sign-in" : "/studio/runs")
        view["backLabel"] = backLabel ?? (session == nil ? "Sign in" : "Runs")
        return html(status, StudioTemplates.render("message", view))
    }

    /// `a=b&c=d`, each part percent-encoded.
    static func query(_ items: [(String, String)]) -> String {
        items.map { pathSegment($0.0) + "=" + pathSegment($0.1) }.joined(separator: "&")
    }

    /// Percent-encodes everything but unreserved characters.
    static func pathSegment(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// A run's page values: the facts, the gates with their forms, the steps as a timeline (each
/// step's bar placed on the span from the first step's start to the last one's end), children,
/// usage, state versions and a page of events.
enum StudioRunView {
    /// `diff`: two of the overview's state versions to compare.
    static func make(
        _ o: RunOverview, session: StudioSession, before: Int64, diff: (from: StateVersion, to: StateVersion)? = nil
    ) -> [String: Any] {
        let run = o.run
        var view: [String: Any] = [
            "id": run.id, "workflow": run.workflowName, "status": run.status.rawValue, "attempt": run.attempt,
            "created": run.createdAt.iso8601,
        ]
        let terminal = [.completed, .failed, .cancelled].contains(run.status)
        view["canCancel"] = !terminal && session.principal.allows(.write)
        view["waiting"] = run.status == .running && o.gates.contains { $0.status == .pending }
        if let completed = run.completedAt ?? run.cancelledAt { view["completed"] = completed.iso8601 }
        if let queue = run.queue { view["queue"] = queue }
        if let reason = run.cancelReason { view["cancelReason"] = reason }
        if let fork = o.fork { view["fork"] = ["parent": fork.parentRunId, "step": fork.stepName] }
        if let error = run.error { view["errorText"] = pretty(error) }
        if let result = run.result, run.status == .completed { view["resultText"] = pretty(result) }

        view["gates"] = o.gates.map { gate -> [String: Any] in
            var g: [String: Any] = [
                "id": gate.id, "runId": run.id, "name": gate.name, "status": gate.status.rawValue,
                "pending": gate.status == .pending,
            ]
            if !gate.prompt.isEmpty { g["prompt"] = gate.prompt }
            if gate.data != "{}" && gate.data != "null" && !gate.data.isEmpty { g["dataText"] = pretty(gate.data) }
            if let actor = gate.actor { g["actor"] = actor }
            if let resolved = gate.resolvedAt { g["resolved"] = resolved.iso8601 }
            if let payload = gate.decisionPayload,
                let comment = (try? JSONParser.parse(payload))?.objectValue?["comment"]?.stringValue
            {
                g["comment"] = comment
            }
            return g
        }

        let steps = Array(o.newestSteps.reversed())
        let starts = steps.compactMap { $0.startedAt ?? $0.createdAt }
        let ends = steps.map { $0.completedAt ?? $0.updatedAt }
        let origin = starts.min()?.milliseconds ?? 0
        let span = max(1, (ends.max()?.milliseconds ?? origin) - origin)
        view["hasSteps"] = !steps.isEmpty
        view["steps"] = steps.map { step -> [String: Any] in
            let start = (step.startedAt ?? step.createdAt).milliseconds
            let end = (step.completedAt ?? step.updatedAt).milliseconds
            var s: [String: Any] = [
                "name": step.name, "status": step.status.rawValue, "attempt": step.attempt,
                "retried": step.attempt > 1,
                "offset": percent(start - origin, of: span), "width": percent(max(0, end - start), of: span),
                "duration": step.completedAt == nil ? "…" : duration(end - start),
                "forkable": step.status == .completed,
            ]
            if let error = step.error { s["errorText"] = pretty(error) }
            return s
        }

        if o.newestSteps.count == StudioRunPages<CairnRequestContext>.stepPageSize, let oldest = o.newestSteps.last {
            let cursor = ListCursor(createdAt: oldest.createdAt, id: oldest.id).text
            view["olderSteps"] =
                "/studio/runs/\(StudioPage.pathSegment(run.id))?" + StudioPage.query([("steps_before", cursor)])
        }
        view["hasChildren"] = !o.descendants.isEmpty
        view["children"] = o.descendants.map { child -> [String: Any] in
            [
                "edge": child.edge.name, "id": child.run.id, "status": child.run.status.rawValue,
                "workflow": child.run.workflowName, "indent": String(format: "%.2f", Double(child.depth - 1) * 1.5),
            ]
        }
        view["childrenCapped"] = o.descendants.count >= RunOverview.maxDescendants
        view["hasForks"] = !o.forks.forks.isEmpty
        view["forks"] = o.forks.forks.map { forked -> [String: Any] in
            [
                "id": forked.run.id, "step": forked.fork.stepName, "status": forked.run.status.rawValue,
                "created": forked.fork.createdAt.iso8601,
            ]
        }
        if let next = o.forks.next {
            view["olderForks"] =
                "/studio/runs/\(StudioPage.pathSegment(run.id))?" + StudioPage.query([("forks_after", next.text)])
        }

        view["hasUsage"] = o.usageTotals.records > 0
        view["usageRecords"] = o.usageTotals.records
        view["totalTokens"] = o.usageTotals.tokens
        view["totalCost"] = money(o.usageTotals.costUsd)
        view["usageShown"] = o.newestUsage.count
        view["usage"] = o.newestUsage.map { u -> [String: Any] in
            [
                "kind": u.kind, "model": u.model ?? "",
                "tokens": u.totalTokens ?? (u.inputTokens ?? 0) + (u.outputTokens ?? 0),
                "cost": u.costUsd.map(money) ?? "", "created": u.createdAt.iso8601,
            ]
        }

        view["hasVersions"] = !o.stateVersions.isEmpty
        view["versions"] = o.stateVersions.map { v -> [String: Any] in
            var item: [String: Any] = [
                "id": v.id, "version": v.version, "created": v.createdAt.iso8601,
                "fromSelected": v.id == diff?.from.id, "toSelected": v.id == diff?.to.id,
            ]
            if let label = v.label { item["label"] = label }
            return item
        }
        if let diff {
            let change = StateDiff(
                previous: try? JSONParser.parse(diff.from.value), next: (try? JSONParser.parse(diff.to.value)) ?? .null,
                budgetBytes: StateDiff.budget(stateBytes: diff.from.value.utf8.count + diff.to.value.utf8.count))
            view["diff"] = [
                "from": diff.from.version, "to": diff.to.version,
                "added": change.added.map { ["path": $0.isEmpty ? "(the whole state)" : $0] },
                "removed": change.removed.map { ["path": $0.isEmpty ? "(the whole state)" : $0] },
                "changed": change.changed.map { ["path": $0.isEmpty ? "(the whole state)" : $0] },
                "same": change.added.isEmpty && change.removed.isEmpty && change.changed.isEmpty,
            ]
        }

        view["events"] = o.newestEvents.map { e -> [String: Any] in
            ["seq": e.seq, "type": e.type, "created": e.createdAt.iso8601]
        }
        if o.newestEvents.count == StudioRunPages<CairnRequestContext>.eventPageSize, let oldest = o.newestEvents.last,
            oldest.seq > 1
        {
            view["olderEvents"] = "/studio/runs/\(StudioPage.pathSegment(run.id))?before=\(oldest.seq)"
        }
        return view
    }

    /// Stored JSON as it was stored (the page wraps long lines).
    static func pretty(_ raw: RawJSON) -> String { raw }

    static func percent(_ part: Int64, of whole: Int64) -> String {
        String(format: "%.1f", min(100, max(0, Double(part) * 100 / Double(whole))))
    }

    static func duration(_ ms: Int64) -> String {
        if ms < 1000 { return "\(ms) ms" }
        if ms < 60_000 { return String(format: "%.1f s", Double(ms) / 1000) }
        return "\(ms / 60_000) min \(ms % 60_000 / 1000) s"
    }

    static func money(_ usd: Double) -> String { String(format: "%.4f", usd) }
}

/// A page's query string read as a form: `+` is a space, each name at most once, at most 8 KiB;
/// one that does not read is a 400 page.
enum StudioQuery {
    static func form(_ request: Request, session: StudioSession, title: String) throws -> URLEncodedForm {
        let text = request.uri.query ?? ""
        guard text.utf8.count <= 8 * 1024, let form = try? URLEncodedForm(Array(text.utf8)) else {
            throw refuse(
                "The query string could not be read (a repeated, badly encoded or too long parameter).",
                title: title, session: session)
        }
        return form
    }

    static func refuse(_ message: String, title: String, session: StudioSession) -> StudioPage.Refusal {
        StudioPage.Refusal(status: .badRequest, title: title, message: message, session: session)
    }
}

/// A byte count for people: `1.5 MiB`, exact below a KiB.
enum StudioByteCount {
    static func text(_ bytes: Int64) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return String(format: value < 10 ? "%.1f" : "%.0f", value) + " " + units[unit]
    }
}
