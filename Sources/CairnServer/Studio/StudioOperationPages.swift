import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import Prometheus

/// Queues (depth, in flight, outcomes, limits), schedules (the next fire times; pause and
/// resume) and the server's health (the store answering, its backlog, key figures of
/// `/metrics` for the root key).
struct StudioOperationPages<Context: PrincipalContext>: Sendable {
    let auth: StudioAuth
    let runs: RunService
    let registry: PrometheusCollectorRegistry?
    let engine: String
    let clock: any WallClock
    /// The background services this replica runs, with how often each wakes.
    let services: [(name: String, everyMilliseconds: Int64)]

    /// How many coming fire times a schedule shows.
    static var upcomingFires: Int { 3 }

    func register(on router: some RouterMethods<Context>) {
        router.get("/studio/queues") { request, _ in try await StudioPage.run { try await queues(request) } }
        router.post("/studio/queues/:name/paused") { request, context in
            try await StudioPage.run { try await setPaused(request, context) }
        }
        router.get("/studio/schedules") { request, _ in try await StudioPage.run { try await schedules(request) } }
        router.post("/studio/schedules/:name/enabled") { request, context in
            try await StudioPage.run { try await setEnabled(request, context) }
        }
        router.get("/studio/health") { request, _ in try await StudioPage.run { try await health(request) } }
    }

    private func queues(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request)
        let stats = try await runs.queueStats(tenant: session.tenant, activity: true)
        var view = StudioPage.base("Queues", session: session, section: "/studio/queues")
        view["hasQueues"] = !stats.isEmpty
        view["queues"] = stats.map { q -> [String: Any] in
            var item: [String: Any] = [
                "name": q.name, "path": StudioPage.pathSegment(q.name), "queued": q.queued, "running": q.running,
                "completed": q.completed, "failed": q.failed, "cancelled": q.cancelled,
                "concurrency": q.config?.concurrency.map(String.init) ?? "no limit",
                "rate": q.config?.ratePerMinute.map { "\($0)/min" } ?? "no limit",
                "mode": q.config?.invokeURL == nil ? "pull" : "push",
                "paused": q.config?.pausedAt != nil,
            ]
            if let pausedAt = q.config?.pausedAt { item["pausedAt"] = pausedAt.iso8601 }
            // The last minute's counts, and the quarter hour's as a rate per minute.
            if let minute = q.activity.first, let quarter = q.activity.last {
                item["claimedMinute"] = minute.claimed
                item["completedMinute"] = minute.completed
                item["failedMinute"] = minute.failed
                item["claimRate"] = String(format: "%.1f", quarter.claimsPerMinute)
            }
            return item
        }
        return StudioPage.html(.ok, StudioTemplates.render("queues", view))
    }

    /// Pause (`paused=1`) or resume (`paused=0`) a queue: a paused queue takes enqueues but
    /// gives no run out.
    private func setPaused(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, form) = try await auth.actor(&request, needs: .write)
        let name = try request.pathParameter("name", context).removingPercentEncoding ?? ""
        let paused: Bool
        switch form["paused"] {
        case "1": paused = true
        case "0": paused = false
        default:
            return StudioPage.message(
                .badRequest, "Queue", "paused must be 0 or 1; nothing was changed.", session: session,
                back: "/studio/queues", backLabel: "Queues")
        }
        guard !name.isEmpty, !(try await runs.queueStats(tenant: session.tenant, queue: name).isEmpty)
        else {
            return StudioPage.notFound("Queue", session: session)
        }
        _ = try await runs.setQueuePaused(name: name, paused: paused, tenant: session.tenant)
        return StudioPage.redirect("/studio/queues")
    }

    private func schedules(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request)
        let list = try await runs.schedules(tenant: session.tenant)
        let now = clock.now().milliseconds
        var view = StudioPage.base("Schedules", session: session, section: "/studio/schedules")
        view["hasSchedules"] = !list.isEmpty
        view["schedules"] = list.map { s -> [String: Any] in
            var fires: [String] = []
            if s.enabled, let cron = try? CronExpression(parsing: s.cron) {
                var after = now
                while fires.count < Self.upcomingFires, let next = cron.nextFire(afterMilliseconds: after) {
                    fires.append(Timestamp(milliseconds: next).iso8601)
                    after = next
                }
            }
            var item: [String: Any] = [
                "name": s.name, "path": StudioPage.pathSegment(s.name), "cron": s.cron, "workflow": s.workflowName,
                "queue": s.queue, "enabled": s.enabled, "fires": fires.map { ["at": $0] },
            ]
            if let last = s.lastEnqueuedAt { item["last"] = last.iso8601 }
            return item
        }
        return StudioPage.html(.ok, StudioTemplates.render("schedules", view))
    }

    /// Pause (`enabled=0`) or resume (`enabled=1`) a schedule; resuming fires from now on.
    private func setEnabled(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, form) = try await auth.actor(&request, needs: .write)
        let name = try request.pathParameter("name", context).removingPercentEncoding ?? ""
        let enabled: Bool
        switch form["enabled"] {
        case "1": enabled = true
        case "0": enabled = false
        default:
            return StudioPage.message(
                .badRequest, "Schedule", "enabled must be 0 or 1; nothing was changed.", session: session,
                back: "/studio/schedules", backLabel: "Schedules")
        }
        guard let schedule = try await runs.schedules(tenant: session.tenant).first(where: { $0.name == name }) else {
            return StudioPage.notFound("Schedule", session: session)
        }
        if schedule.enabled != enabled {
            _ = try await runs.putSchedule(
                name: schedule.name,
                ScheduleRequest(
                    cron: schedule.cron, workflowName: schedule.workflowName,
                    input: try? JSONParser.parse(schedule.input), queue: schedule.queue,
                    maxAttempts: schedule.maxAttempts, enabled: enabled),
                tenant: session.tenant)
        }
        return StudioPage.redirect("/studio/schedules")
    }

    private func health(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request)
        var view = StudioPage.base("Health", session: session, section: "/studio/health")
        view["engine"] = engine
        view["version"] = CairnVersion.string
        let started = ContinuousClock.now
        do {
            let figures = try await runs.storeFigures()
            view["storeOK"] = true
            view["storeMs"] = String(
                format: "%.1f", Double((ContinuousClock.now - started).components.attoseconds) / 1e15)
            // Server-wide figures are the root key's, as `/metrics` is.
            if session.isRoot {
                view["hasFigures"] = true
                view["figures"] = [
                    ["name": "Runs queued (all tenants)", "value": figures.queuedRuns],
                    ["name": "Runs running (all tenants)", "value": figures.runningRuns],
                    ["name": "Deliveries waiting to be sent", "value": figures.pendingDeliveries],
                ]
            }
        } catch {
            view["storeError"] = "The store did not answer: \(error)"
        }
        if session.isRoot, let registry {
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            view["hasMetrics"] = true
            view["metrics"] = Self.metricTotals(String(decoding: bytes, as: UTF8.self)).map {
                ["name": $0.name, "value": $0.value]
            }
        }
        view["isRoot"] = session.isRoot
        view["services"] = services.map { s -> [String: Any] in
            ["name": s.name, "every": StudioRunView.duration(s.everyMilliseconds)]
        }
        return StudioPage.html(.ok, StudioTemplates.render("health", view))
    }

    /// Each metric's samples summed over their labels (histogram buckets left out: their sum
    /// and count stay), in the order the registry emits them.
    static func metricTotals(_ text: String) -> [(name: String, value: String)] {
        var order: [String] = []
        var totals: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            let series = line[..<space]
            let name = String(series.prefix { $0 != "{" })
            guard !name.hasSuffix("_bucket") else { continue }
            if totals[name] == nil { order.append(name) }
            totals[name, default: 0] += value
        }
        return order.map { name in
            let v = totals[name] ?? 0
            return (name, v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(format: "%.4f", v))
        }
    }
}

extension StudioTemplates {
    static var operationTemplates: [(String, String)] {
        [
            (
                "queues",
                """
                {{<layout}}{{$content}}
                <h1>Queues</h1>
                {{#hasQueues}}
                <div class="scroll"><table id="queues">
                <thead><tr><th scope="col">Queue</th><th scope="col">Waiting</th><th scope="col">In flight</th>
                <th scope="col">Completed</th><th scope="col">Failed</th><th scope="col">Cancelled</th>
                <th scope="col">Last minute</th><th scope="col">Claims/min (15 min)</th>
                <th scope="col">Concurrency</th><th scope="col">Rate limit</th><th scope="col">Mode</th><th scope="col">State</th></tr></thead>
                <tbody>
                {{#queues}}<tr data-queue="{{name}}"><td>{{name}}</td><td class="num">{{queued}}</td><td class="num">{{running}}</td>
                <td class="num">{{completed}}</td><td class="num">{{failed}}</td><td class="num">{{cancelled}}</td>
                <td class="activity">{{claimedMinute}} claimed · {{completedMinute}} completed · {{failedMinute}} failed</td>
                <td class="num claim-rate">{{claimRate}}</td>
                <td>{{concurrency}}</td><td>{{rate}}</td><td>{{mode}}</td>
                <td class="state">{{#paused}}<span class="badge cancelled">paused</span> since <time datetime="{{pausedAt}}">{{pausedAt}}</time>{{/paused}}{{^paused}}active{{/paused}}
                {{#canWrite}}<form method="post" action="/studio/queues/{{path}}/paused" class="toggle">
                <input type="hidden" name="csrf" value="{{csrf}}">
                {{#paused}}<input type="hidden" name="paused" value="0"><button type="submit">Resume</button>{{/paused}}
                {{^paused}}<input type="hidden" name="paused" value="1"><button type="submit">Pause</button>{{/paused}}
                </form>{{/canWrite}}</td></tr>{{/queues}}
                </tbody></table></div>
                <p class="hint">Waiting counts every queued run, due or not. The last minute and the claim rate
                count runs by their latest claim, completion or failure. A paused queue still takes enqueues
                and schedule fires; its runs wait until it is resumed (also <code>cairn queues pause NAME</code>).
                Limits are set with <code>PUT /queues/NAME/config</code>.</p>
                {{/hasQueues}}
                {{^hasQueues}}<p class="empty">No queues yet. Enqueue a run (the <code>tidebase</code> SDK's
                <code>enqueue</code>, or <code>POST /queues/NAME/enqueue</code>) and its queue appears here.</p>{{/hasQueues}}
                {{/content}}{{/layout}}
                """
            ),
            (
                "schedules",
                """
                {{<layout}}{{$content}}
                <h1>Schedules</h1>
                {{#hasSchedules}}
                <div class="scroll"><table id="schedules">
                <thead><tr><th scope="col">Schedule</th><th scope="col">Cron (UTC)</th><th scope="col">Workflow</th>
                <th scope="col">Queue</th><th scope="col">Next fires</th><th scope="col">Last enqueued</th><th scope="col">State</th></tr></thead>
                <tbody>
                {{#schedules}}<tr data-schedule="{{name}}"><td>{{name}}</td><td><code>{{cron}}</code></td><td>{{workflow}}</td><td>{{queue}}</td>
                <td>{{#fires}}<time datetime="{{at}}">{{at}}</time><br>{{/fires}}{{^fires}}—{{/fires}}</td>
                <td>{{#last}}<time datetime="{{last}}">{{last}}</time>{{/last}}{{^last}}never{{/last}}</td>
                <td>{{#enabled}}active{{/enabled}}{{^enabled}}paused{{/enabled}}
                {{#canWrite}}<form method="post" action="/studio/schedules/{{path}}/enabled" class="toggle">
                <input type="hidden" name="csrf" value="{{csrf}}">
                {{#enabled}}<input type="hidden" name="enabled" value="0"><button type="submit">Pause</button>{{/enabled}}
                {{^enabled}}<input type="hidden" name="enabled" value="1"><button type="submit">Resume</button>{{/enabled}}
                </form>{{/canWrite}}</td></tr>{{/schedules}}
                </tbody></table></div>
                {{/hasSchedules}}
                {{^hasSchedules}}<p class="empty">No schedules. Create one with <code>PUT /schedules/NAME</code> (the
                <code>tidebase</code> SDK's <code>schedules.set</code>); it enqueues a run each time its cron expression fires.</p>{{/hasSchedules}}
                {{/content}}{{/layout}}
                """
            ),
            (
                "health",
                """
                {{<layout}}{{$content}}
                <h1>Health</h1>
                <dl class="facts">
                <dt>Store</dt><dd id="store-health">{{#storeOK}}<span class="badge completed">answering</span> ({{engine}}, a read took {{storeMs}} ms){{/storeOK}}{{#storeError}}<span class="error" role="alert">{{storeError}}</span>{{/storeError}}</dd>
                <dt>Version</dt><dd>{{version}}</dd>
                </dl>
                <h2>Background services</h2>
                <table id="services"><tbody>{{#services}}<tr><th scope="row">{{name}}</th><td>every {{every}}</td></tr>{{/services}}</tbody></table>
                <p class="hint">Each runs on every replica; work is claimed in the store, so a replica that stops leaves its share to the others.</p>
                {{#hasFigures}}
                <h2>Backlog</h2>
                <table id="backlog"><tbody>{{#figures}}<tr><th scope="row">{{name}}</th><td class="num">{{value}}</td></tr>{{/figures}}</tbody></table>
                {{/hasFigures}}
                {{#hasMetrics}}
                <h2>Figures from <code>/metrics</code></h2>
                <div class="scroll"><table id="metrics"><tbody>{{#metrics}}<tr><th scope="row"><code>{{name}}</code></th><td class="num">{{value}}</td></tr>{{/metrics}}</tbody></table></div>
                {{/hasMetrics}}
                {{^isRoot}}<p class="hint">Server-wide figures (backlog, <code>/metrics</code>) are shown to the root key.</p>{{/isRoot}}
                {{/content}}{{/layout}}
                """
            ),
        ]
    }
}
