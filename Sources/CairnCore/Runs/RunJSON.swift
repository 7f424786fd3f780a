/// The canonical JSON of run records. The event log stores these shapes and the run protocol
/// serves them, so their key order is part of the wire contract (Tidebase §1.4).
extension JSONWriter {
    public mutating func run(_ run: Run) {
        beginObjectValue()
        field("id", run.id)
        field("workflowName", run.workflowName)
        field("input", raw: run.input)
        field("metadata", raw: run.metadata)
        field("status", run.status.rawValue)
        field("result", raw: run.result)
        field("error", raw: run.error)
        field("recoveryWebhook", run.recoveryWebhook)
        field("leaseOwner", run.leaseOwner)
        field("leaseExpiresAt", timestamp: run.leaseExpiresAt)
        field("attempt", run.attempt)
        field("queue", run.queue)
        field("dedupeKey", run.dedupeKey)
        field("priority", run.priority)
        field("runAt", timestamp: run.runAt)
        field("maxAttempts", run.maxAttempts)
        field("deadlineAt", timestamp: run.deadlineAt)
        field("cancelRequestedAt", timestamp: run.cancelRequestedAt)
        field("cancelledAt", timestamp: run.cancelledAt)
        field("cancelReason", run.cancelReason)
        field("cancelActor", run.cancelActor)
        field("failureClass", run.failureClass)
        field("createdAt", timestamp: run.createdAt)
        field("updatedAt", timestamp: run.updatedAt)
        field("completedAt", timestamp: run.completedAt)
        endObject()
    }

    public mutating func step(_ step: Step) {
        beginObjectValue()
        field("id", step.id)
        field("runId", step.runId)
        field("name", step.name)
        field("inputHash", step.inputHash)
        field("input", raw: step.input)
        field("options", raw: step.options)
        field("resumeContract", raw: step.resumeContract)
        field("status", step.status.rawValue)
        field("output", raw: step.output)
        field("error", raw: step.error)
        field("leaseOwner", step.leaseOwner)
        field("leaseExpiresAt", timestamp: step.leaseExpiresAt)
        field("attempt", step.attempt)
        field("startedAt", timestamp: step.startedAt)
        field("completedAt", timestamp: step.completedAt)
        field("createdAt", timestamp: step.createdAt)
        field("updatedAt", timestamp: step.updatedAt)
        endObject()
    }

    public mutating func gate(_ gate: Gate) {
        beginObjectValue()
        field("id", gate.id)
        field("runId", gate.runId)
        field("name", gate.name)
        field("prompt", gate.prompt)
        field("data", raw: gate.data)
        field("status", gate.status.rawValue)
        field("decision", gate.decision)
        field("actor", gate.actor)
        field("decisionPayload", raw: gate.decisionPayload)
        field("capability", raw: gate.capability)
        field("channels", raw: Self.channelsWithoutSecrets(gate.channels))
        field("resolveToken", gate.resolveToken)
        field("createdAt", timestamp: gate.createdAt)
        field("updatedAt", timestamp: gate.updatedAt)
        field("resolvedAt", timestamp: gate.resolvedAt)
        endObject()
    }

    /// The gate as events and notifications show it, with the URL a person resolves it at.
    public mutating func publicGate(_ gate: Gate, publicURL: String) {
        beginObjectValue()
        field("id", gate.id)
        field("runId", gate.runId)
        field("name", gate.name)
        field("prompt", gate.prompt)
        field("data", raw: gate.data)
        field("status", gate.status.rawValue)
        field("decision", gate.decision)
        field("actor", gate.actor)
        field("capability", raw: gate.capability)
        field("resolveUrl", "\(publicURL)/runs/\(gate.runId)/gates/\(gate.id)/resolve")
        field("resolveToken", gate.resolveToken)
        endObject()
    }

    public mutating func state(_ state: RunState) {
        beginObjectValue()
        field("runId", state.runId)
        field("value", raw: state.value)
        field("version", state.version)
        field("updatedAt", timestamp: state.updatedAt)
        endObject()
    }

    public mutating func stateStream(_ s: StateStream) {
        beginObjectValue()
        field("id", s.id)
        field("runId", s.runId)
        field("name", s.name)
        field("targetType", s.targetType)
        field("targetId", s.targetId)
        field("currentVersion", s.currentVersion)
        field("currentValue", raw: s.currentValue)
        field("metadata", raw: s.metadata)
        field("createdAt", timestamp: s.createdAt)
        field("updatedAt", timestamp: s.updatedAt)
        endObject()
    }

    public mutating func stateVersion(_ v: StateVersion) {
        beginObjectValue()
        field("id", v.id)
        field("streamId", v.streamId)
        field("runId", v.runId)
        field("stepId", v.stepId)
        field("version", v.version)
        field("value", raw: v.value)
        field("patch", raw: v.patch)
        field("label", v.label)
        field("reason", v.reason)
        field("importance", v.importance.rawValue)
        field("metadata", raw: v.metadata)
        field("createdBy", v.createdBy)
        field("createdAt", timestamp: v.createdAt)
        endObject()
    }

    public mutating func publicStateVersion(_ v: StateVersion) {
        beginObjectValue()
        field("id", v.id)
        field("streamId", v.streamId)
        field("runId", v.runId)
        field("version", v.version)
        field("label", v.label)
        field("reason", v.reason)
        field("importance", v.importance.rawValue)
        field("createdAt", timestamp: v.createdAt)
        endObject()
    }

    public mutating func edge(_ e: RunEdge) {
        beginObjectValue()
        field("id", e.id)
        field("parentRunId", e.parentRunId)
        field("childRunId", e.childRunId)
        field("name", e.name)
        field("edgeType", e.edgeType)
        field("metadata", raw: e.metadata)
        field("createdAt", timestamp: e.createdAt)
        endObject()
    }

    public mutating func usage(_ u: UsageRecord) {
        beginObjectValue()
        field("id", u.id)
        field("runId", u.runId)
        field("stepId", u.stepId)
        field("kind", u.kind)
        field("provider", u.provider)
        field("model", u.model)
        field("label", u.label)
        key("quantity"); if let q = u.quantity { double(q) } else { null() }
        field("unit", u.unit)
        field("inputTokens", u.inputTokens)
        field("outputTokens", u.outputTokens)
        field("totalTokens", u.totalTokens)
        key("costUsd"); if let c = u.costUsd { double(c) } else { null() }
        field("metadata", raw: u.metadata)
        field("createdAt", timestamp: u.createdAt)
        endObject()
    }

    /// A channel as run detail shows it: the signing secret is never echoed back.
    public mutating func channel(_ c: Channel) {
        beginObjectValue()
        field("id", c.id)
        field("runId", c.runId)
        field("type", c.type)
        object("config") { w in
            w.field("url", c.url)
        }
        key("events"); stringArray(c.events)
        field("createdAt", timestamp: c.createdAt)
        endObject()
    }

    public mutating func event(_ e: RunEvent) {
        beginObjectValue()
        key("id"); int(Int(e.id))
        field("runId", e.runId)
        key("seq"); int(Int(e.seq))
        field("type", e.type)
        field("payload", raw: e.payload)
        field("createdAt", timestamp: e.createdAt)
        endObject()
    }

    /// A delivery as the log shows it (without the signing key).
    public mutating func channelDelivery(_ d: ChannelDelivery) {
        beginObjectValue()
        field("id", d.id)
        field("runId", d.runId)
        field("channelId", d.channelId)
        field("gateId", d.gateId)
        field("eventType", d.eventType)
        field("payload", raw: d.payload)
        field("status", d.status)
        field("httpStatus", d.httpStatus)
        field("responseBody", d.responseBody)
        field("errorText", d.errorText)
        field("createdAt", timestamp: d.createdAt)
        field("completedAt", timestamp: d.completedAt)
        endObject()
    }

    public mutating func recoveryAttempt(_ r: RecoveryAttempt) {
        beginObjectValue()
        field("id", r.id)
        field("runId", r.runId)
        field("reason", r.reason)
        field("webhookUrl", r.webhookURL)
        field("status", r.status)
        field("httpStatus", r.httpStatus)
        field("responseBody", r.responseBody)
        field("errorText", r.errorText)
        field("createdAt", timestamp: r.createdAt)
        field("completedAt", timestamp: r.completedAt)
        endObject()
    }

    public mutating func stringArray(_ items: [String]) {
        beginArrayValue()
        for s in items { string(s) }
        endArray()
    }

    public mutating func array<T>(_ key: String, _ items: [T], _ each: (inout JSONWriter, T) -> Void) {
        self.key(key)
        beginArrayValue()
        for item in items { each(&self, item) }
        endArray()
    }

    /// Inline gate channels as stored include secrets; shown without them.
    static func channelsWithoutSecrets(_ raw: RawJSON) -> RawJSON {
        guard raw.contains("secret"), case .array(let items)? = try? JSONParser.parse(raw) else { return raw }
        let cleaned = items.map { item -> JSONValue in
            guard case .object(var o) = item else { return item }
            o["secret"] = nil
            return .object(o)
        }
        return JSONValue.array(cleaned).jsonText
    }
}

/// Builds the JSON text of one object whose fields `body` writes.
public func jsonObject(capacity: Int = 256, _ body: (inout JSONWriter) -> Void) -> RawJSON {
    makeJSON(capacity: capacity) { w in
        w.beginObject()
        body(&w)
        w.endObject()
    }
}

extension Optional where Wrapped == JSONValue {
    /// The value, treating JSON `null` like an absent field.
    public var nonNull: JSONValue? { flatMap { $0.isNull ? nil : $0 } }
    /// The value's JSON text, or `{}` when absent or null (the protocol's default for payloads).
    public var textOrEmptyObject: RawJSON { (nonNull ?? .emptyObject).jsonText }
}

/// Builds a JSON text with a writer.
public func makeJSON(capacity: Int = 256, _ body: (inout JSONWriter) -> Void) -> RawJSON {
    var w = JSONWriter(capacity: capacity)
    body(&w)
    return w.string
}
