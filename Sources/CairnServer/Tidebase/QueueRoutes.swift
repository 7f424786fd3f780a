import CairnCore
import Hummingbird

/// Queues of the run protocol (Tidebase §1.14).
extension TidebaseRoutes {
    func registerQueues(on group: RouterGroup<Context>) {
        group.post("/queues/claim", use: claim)
        group.post("/queues/:queue/enqueue", use: enqueue)
        group.get("/queues", use: queueStats)
        group.put("/queues/:queue/config", use: configureQueue)
        // Cairn's extensions: one queue with its recent activity, and pausing it.
        group.get("/queues/:queue", use: queueDetail)
        group.post("/queues/:queue/pause") { request, context in try await setPaused(true, request, context) }
        group.post("/queues/:queue/resume") { request, context in try await setPaused(false, request, context) }
    }

    @Sendable func queueDetail(_ request: Request, context: Context) async throws -> Response {
        let stat = try await runs.queueStat(
            name: try request.pathParameter("queue", context), tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("queue"); w.queueDetail(stat)
        }
    }

    /// No body is read: the path says everything, so any body is ignored.
    @Sendable func setPaused(_ paused: Bool, _ request: Request, _ context: Context) async throws -> Response {
        let name = try request.pathParameter("queue", context)
        let tenant = context.principal.tenant
        _ = try await runs.setQueuePaused(name: name, paused: paused, tenant: tenant)
        let stat = try await runs.queueStat(name: name, tenant: tenant)
        return JSONResponse.object { w in
            w.key("queue"); w.queueDetail(stat)
        }
    }

    @Sendable func enqueue(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let queue = try request.pathParameter("queue", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let workflowName = body.requiredString("workflowName")
        let maxOffset = Int(EnqueueRequest.maxOffsetMilliseconds)
        var runAt: Timestamp?
        if let text = body.string("runAt") {
            runAt = Timestamp(iso8601: text)
            if runAt == nil { body.fail("runAt", "expected an ISO 8601 date-time such as 2026-06-12T10:31:00.000Z") }
        }
        let enqueue = EnqueueRequest(
            run: Self.createRunRequest(workflowName: workflowName, &body),
            dedupeKey: body.string("dedupeKey", minLength: 1),
            delayMilliseconds: body.int("delayMs", min: 0, max: maxOffset).map(Int64.init), runAt: runAt,
            maxAttempts: body.int("maxAttempts", min: 1, max: 1_000) ?? 1, priority: body.int("priority") ?? 0,
            deadlineMilliseconds: body.int("deadlineMs", min: 1, max: maxOffset).map(Int64.init))
        try body.validate()
        let (run, deduplicated) = try await runs.enqueue(queue: queue, enqueue, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("run"); w.run(run)
            w.field("deduplicated", deduplicated)
        }
    }

    @Sendable func claim(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        var queues: [String] = []
        if body.object["queues"] == nil || body.object["queues"]?.isNull == true {
            body.fail("queues", "required")
        } else if let items = body.array("queues") {
            queues = items.compactMap(\.stringValue).filter { !$0.isEmpty }
            if queues.count != items.count { body.fail("queues", "expected non-empty strings") }
            if items.isEmpty { body.fail("queues", "at least one queue is required") }
        }
        let owner = body.string("leaseOwner", minLength: 1) ?? Identifier.uuidString()
        let limit = body.int("limit", min: 1, max: 100) ?? 1
        try body.validate()
        let claimed = try await runs.claim(queues: queues, owner: owner, limit: limit, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.array("runs", claimed) { $0.run($1) }
            w.field("leaseOwner", owner)
        }
    }

    @Sendable func queueStats(_ request: Request, context: Context) async throws -> Response {
        let stats = try await runs.queueStats(tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.array("queues", stats) { w, s in
                w.beginObjectValue()
                w.queueStatFields(s)
                w.endObject()
            }
        }
    }

    @Sendable func configureQueue(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let queue = try request.pathParameter("queue", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        func update<T>(_ key: String, _ read: (inout BodyReader) -> T?) -> FieldUpdate<T> {
            guard let raw = body.object[key] else { return .keep }
            if raw.isNull { return .clear }
            return read(&body).map { .set($0) } ?? .keep
        }
        let change = QueueConfigUpdate(
            concurrency: update("concurrency") { $0.int("concurrency", min: 1) },
            ratePerMinute: update("ratePerMinute") { $0.int("ratePerMinute", min: 1) },
            invokeURL: update("invokeUrl") { $0.url("invokeUrl") })
        try body.validate()
        let config = try await runs.configureQueue(name: queue, change, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("config"); w.queueConfig(config)
        }
    }
}

extension JSONWriter {
    /// A queue as `GET /queues/:queue` shows it: Tidebase's QueueStat fields, then Cairn's.
    mutating func queueDetail(_ s: QueueStat) {
        beginObjectValue()
        queueStatFields(s)
        field("paused", s.config?.pausedAt != nil)
        field("pausedAt", timestamp: s.config?.pausedAt)
        array("activity", s.activity) { w, a in
            w.beginObjectValue()
            w.field("windowSeconds", Int(a.windowMilliseconds / 1000))
            w.field("claimed", a.claimed)
            w.field("completed", a.completed)
            w.field("failed", a.failed)
            w.endObject()
        }
        endObject()
    }

    /// Tidebase's QueueStat keys, in its order.
    mutating func queueStatFields(_ s: QueueStat) {
        field("name", s.name)
        field("queued", s.queued)
        field("running", s.running)
        field("failed", s.failed)
        field("completed", s.completed)
        field("cancelled", s.cancelled)
        key("config")
        if let config = s.config { queueConfig(config) } else { null() }
    }

    mutating func queueConfig(_ c: QueueConfig) {
        beginObjectValue()
        field("name", c.name)
        field("concurrency", c.concurrency)
        field("ratePerMinute", c.ratePerMinute)
        field("invokeUrl", c.invokeURL)
        endObject()
    }
}
