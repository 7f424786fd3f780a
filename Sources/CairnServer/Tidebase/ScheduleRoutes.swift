import CairnCore
import Hummingbird

/// Cron schedules of the run protocol (Tidebase §1.15).
extension TidebaseRoutes {
    func registerSchedules(on group: RouterGroup<Context>) {
        group.put("/schedules/:name", use: putSchedule)
        group.get("/schedules", use: listSchedules)
        group.delete("/schedules/:name", use: deleteSchedule)
    }

    @Sendable func putSchedule(_ request: Request, context: Context) async throws -> Response {
        var request = request
        let name = try request.pathParameter("name", context)
        var body = try await BodyReader.read(&request, limit: bodyLimit)
        let put = ScheduleRequest(
            cron: body.requiredString("cron"), workflowName: body.requiredString("workflowName"),
            input: body.any("input"),
            queue: body.string("queue", minLength: 1) ?? "default",
            maxAttempts: body.int("maxAttempts", min: 1, max: 1_000) ?? 1,
            enabled: body.bool("enabled") ?? true)
        try body.validate()
        let schedule = try await runs.putSchedule(name: name, put, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("schedule"); w.schedule(schedule)
        }
    }

    @Sendable func listSchedules(_ request: Request, context: Context) async throws -> Response {
        let list = try await runs.schedules(tenant: context.principal.tenant)
        return JSONResponse.object { w in w.array("schedules", list) { $0.schedule($1) } }
    }

    @Sendable func deleteSchedule(_ request: Request, context: Context) async throws -> Response {
        let name = try request.pathParameter("name", context)
        try await runs.deleteSchedule(name: name, tenant: context.principal.tenant)
        return JSONResponse.object { w in w.field("deleted", name) }
    }
}

extension JSONWriter {
    mutating func schedule(_ s: Schedule) {
        beginObjectValue()
        field("name", s.name)
        field("cron", s.cron)
        field("workflowName", s.workflowName)
        field("input", raw: s.input)
        field("queue", s.queue)
        field("maxAttempts", s.maxAttempts)
        field("enabled", s.enabled)
        field("nextRunAt", timestamp: s.nextRunAt)
        field("lastEnqueuedAt", timestamp: s.lastEnqueuedAt)
        field("createdAt", timestamp: s.createdAt)
        field("updatedAt", timestamp: s.updatedAt)
        endObject()
    }
}
