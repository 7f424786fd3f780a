import CairnCore

/// Reads the run protocol's JSON shapes back into the core's records.
struct WireObject {
    let object: JSONObject

    init(_ value: JSONValue?) throws {
        guard let object = value?.objectValue else { throw CairnError.encoding("expected a JSON object") }
        self.object = object
    }

    func string(_ key: String) throws -> String {
        guard let s = object[key]?.stringValue else { throw CairnError.encoding("missing string \(key)") }
        return s
    }
    func optionalString(_ key: String) -> String? { object[key]?.stringValue }
    func int(_ key: String) -> Int { object[key]?.intValue ?? 0 }
    func optionalInt(_ key: String) -> Int? { object[key]?.intValue }
    func optionalDouble(_ key: String) -> Double? { object[key]?.doubleValue }
    /// JSON text of a field; nil when absent or null.
    func raw(_ key: String) -> RawJSON? {
        guard let v = object[key], !v.isNull else { return nil }
        return v.jsonText
    }
    func rawOrEmpty(_ key: String) -> RawJSON { raw(key) ?? "{}" }
    func timestamp(_ key: String) -> Timestamp? { object[key]?.stringValue.flatMap(Timestamp.init(iso8601:)) }
    func requiredTimestamp(_ key: String) -> Timestamp { timestamp(key) ?? Timestamp(milliseconds: 0) }
    func list(_ key: String) -> [JSONValue] { object[key]?.arrayValue ?? [] }
}

extension Run {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            id: try o.string("id"), tenant: .default, workflowName: try o.string("workflowName"),
            input: o.rawOrEmpty("input"),
            metadata: o.rawOrEmpty("metadata"), status: RunStatus(rawValue: try o.string("status")) ?? .pending,
            recoveryWebhook: o.optionalString("recoveryWebhook"), now: o.requiredTimestamp("createdAt"))
        result = o.raw("result")
        error = o.raw("error")
        leaseOwner = o.optionalString("leaseOwner")
        leaseExpiresAt = o.timestamp("leaseExpiresAt")
        attempt = o.int("attempt")
        queue = o.optionalString("queue")
        dedupeKey = o.optionalString("dedupeKey")
        priority = o.int("priority")
        runAt = o.timestamp("runAt")
        maxAttempts = o.int("maxAttempts")
        deadlineAt = o.timestamp("deadlineAt")
        cancelRequestedAt = o.timestamp("cancelRequestedAt")
        cancelledAt = o.timestamp("cancelledAt")
        cancelReason = o.optionalString("cancelReason")
        cancelActor = o.optionalString("cancelActor")
        failureClass = o.optionalString("failureClass")
        updatedAt = o.requiredTimestamp("updatedAt")
        completedAt = o.timestamp("completedAt")
    }
}

extension Step {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            id: try o.string("id"), runId: try o.string("runId"), name: try o.string("name"),
            inputHash: try o.string("inputHash"), input: o.rawOrEmpty("input"), options: o.rawOrEmpty("options"),
            resumeContract: o.rawOrEmpty("resumeContract"),
            status: StepStatus(rawValue: try o.string("status")) ?? .pending, output: o.raw("output"),
            error: o.raw("error"),
            leaseOwner: o.optionalString("leaseOwner"), leaseExpiresAt: o.timestamp("leaseExpiresAt"),
            attempt: o.int("attempt"), startedAt: o.timestamp("startedAt"), completedAt: o.timestamp("completedAt"),
            createdAt: o.requiredTimestamp("createdAt"), updatedAt: o.requiredTimestamp("updatedAt"))
    }
}

extension Gate {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            id: try o.string("id"), runId: try o.string("runId"), name: try o.string("name"),
            prompt: try o.string("prompt"),
            data: o.rawOrEmpty("data"), status: GateStatus(rawValue: try o.string("status")) ?? .pending,
            decision: o.optionalString("decision"), actor: o.optionalString("actor"),
            decisionPayload: o.raw("decisionPayload"), capability: o.raw("capability"),
            channels: o.raw("channels") ?? "[]",
            resolveToken: o.optionalString("resolveToken") ?? "", createdAt: o.requiredTimestamp("createdAt"),
            updatedAt: o.requiredTimestamp("updatedAt"), resolvedAt: o.timestamp("resolvedAt"))
    }
}

extension RunState {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            runId: try o.string("runId"), value: o.rawOrEmpty("value"), version: o.int("version"),
            updatedAt: o.requiredTimestamp("updatedAt"))
    }
}

extension StateStream {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            id: try o.string("id"), runId: try o.string("runId"), name: try o.string("name"),
            targetType: o.optionalString("targetType") ?? "run", targetId: o.optionalString("targetId"),
            currentVersion: o.int("currentVersion"), currentValue: o.raw("currentValue") ?? "null",
            metadata: o.rawOrEmpty("metadata"), createdAt: o.requiredTimestamp("createdAt"),
            updatedAt: o.requiredTimestamp("updatedAt"))
    }
}

extension StateVersion {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            id: try o.string("id"), streamId: try o.string("streamId"), runId: try o.string("runId"),
            stepId: o.optionalString("stepId"), version: o.int("version"), value: o.rawOrEmpty("value"),
            patch: o.raw("patch"),
            label: o.optionalString("label"), reason: o.optionalString("reason"),
            importance: StateImportance(rawValue: o.optionalString("importance") ?? "normal") ?? .normal,
            metadata: o.rawOrEmpty("metadata"), createdBy: o.optionalString("createdBy"),
            createdAt: o.requiredTimestamp("createdAt"))
    }
}

extension UsageRecord {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            id: try o.string("id"), runId: try o.string("runId"), stepId: o.optionalString("stepId"),
            kind: try o.string("kind"),
            provider: o.optionalString("provider"), model: o.optionalString("model"), label: o.optionalString("label"),
            quantity: o.optionalDouble("quantity"), unit: o.optionalString("unit"),
            inputTokens: o.optionalInt("inputTokens"),
            outputTokens: o.optionalInt("outputTokens"), totalTokens: o.optionalInt("totalTokens"),
            costUsd: o.optionalDouble("costUsd"), metadata: o.rawOrEmpty("metadata"),
            createdAt: o.requiredTimestamp("createdAt"))
    }
}

extension RunEvent {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            id: Int64(o.int("id")), runId: try o.string("runId"), seq: Int64(o.int("seq")), type: try o.string("type"),
            payload: o.rawOrEmpty("payload"), createdAt: o.requiredTimestamp("createdAt"))
    }
}

extension RunDetail {
    init(wire value: JSONValue) throws {
        let o = try WireObject(value)
        self.init(
            run: try Run(wire: value["run"]), steps: try o.list("steps").map { try Step(wire: $0) },
            state: try value["state"].flatMap { $0.isNull ? nil : try RunState(wire: $0) },
            stateStreams: try o.list("stateStreams").map { try StateStream(wire: $0) },
            stateVersions: try o.list("stateVersions").map { try StateVersion(wire: $0) }, runEdges: [],
            childRuns: try o.list("childRuns").map { try Run(wire: $0) }, recoveryAttempts: [], channels: [],
            channelDeliveries: [], gates: try o.list("gates").map { try Gate(wire: $0) },
            usage: try o.list("usage").map { try UsageRecord(wire: $0) },
            events: try o.list("events").map { try RunEvent(wire: $0) })
        // Cairn's extension: `forkedFrom {runId, step, at}` names the parent of a fork.
        if let from = value["forkedFrom"], !from.isNull {
            let f = try WireObject(from)
            fork = RunFork(
                runId: run.id, parentRunId: try f.string("runId"), stepName: try f.string("step"),
                point: f.requiredTimestamp("at"), createdAt: run.createdAt)
        }
    }
}

extension QueueConfig {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            name: try o.string("name"), concurrency: o.optionalInt("concurrency"),
            ratePerMinute: o.optionalInt("ratePerMinute"),
            invokeURL: o.optionalString("invokeUrl"), createdAt: Timestamp(milliseconds: 0),
            updatedAt: Timestamp(milliseconds: 0))
    }
}

extension QueueStat {
    /// A queue of `GET /queues`, or of `GET /queues/:queue` with Cairn's fields (pause, activity).
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(name: try o.string("name"))
        queued = o.int("queued")
        running = o.int("running")
        failed = o.int("failed")
        completed = o.int("completed")
        cancelled = o.int("cancelled")
        config = try o.object["config"].flatMap { $0.isNull ? nil : try QueueConfig(wire: $0) }
        config?.pausedAt = o.timestamp("pausedAt")
        activity = try (o.object["activity"]?.arrayValue ?? []).map { item in
            let a = try WireObject(item)
            return QueueActivity(
                windowMilliseconds: Int64(a.int("windowSeconds")) * 1000, claimed: a.int("claimed"),
                completed: a.int("completed"), failed: a.int("failed"))
        }
    }
}

extension Schedule {
    init(wire value: JSONValue?) throws {
        let o = try WireObject(value)
        self.init(
            name: try o.string("name"), cron: try o.string("cron"), workflowName: try o.string("workflowName"),
            input: o.rawOrEmpty("input"), queue: try o.string("queue"), maxAttempts: o.int("maxAttempts"),
            enabled: o.object["enabled"]?.boolValue ?? true, nextRunAt: o.timestamp("nextRunAt"),
            lastEnqueuedAt: o.timestamp("lastEnqueuedAt"), createdAt: o.requiredTimestamp("createdAt"),
            updatedAt: o.requiredTimestamp("updatedAt"))
    }
}
