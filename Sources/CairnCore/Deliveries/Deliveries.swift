/// Which protocol a delivery speaks: it decides the body's shape and the signature header.
public enum DeliveryKind: String, Sendable {
    /// A run's channel (Tidebase): `{type, runId, gateId, deliveryId, payload}`,
    /// signed in `x-tidebase-signature`.
    case runChannel = "run_channel"
    /// A checkpoint webhook (SnapState): the payload is the whole body,
    /// `{event, webhook_id, timestamp, data}`, signed in `X-Checkpoint-Signature`.
    case checkpointWebhook = "checkpoint_webhook"
    /// A workspace's object change (Tigris' object notifications): the payload is one event;
    /// bodies are `{"events": [...]}` of one or more of them, `secret` holds the receiver's
    /// `Authorization` header value.
    case objectNotification = "object_notification"
}

/// One notification to one channel: recorded in the transaction of the change it reports,
/// sent after commit by the delivery service, retried with backoff, its outcome logged.
public struct ChannelDelivery: Sendable, Equatable {
    public var id: String
    public var kind: DeliveryKind
    /// The run it reports on; nil for checkpoint webhooks.
    public var runId: String?
    /// Nil for a gate's inline channel.
    public var channelId: String?
    public var gateId: String?
    public var url: String
    /// Signing key of the channel, if it has one. Never shown.
    public var secret: String?
    public var eventType: String
    public var payload: RawJSON
    /// `pending`, `delivered` or `failed`.
    public var status: String
    public var attempts: Int
    public var nextAttemptAt: Timestamp?
    public var httpStatus: Int?
    public var responseBody: String?
    public var errorText: String?
    public var createdAt: Timestamp
    public var completedAt: Timestamp?

    public init(
        id: String, kind: DeliveryKind = .runChannel, runId: String?, channelId: String?, gateId: String?, url: String,
        secret: String?, eventType: String,
        payload: RawJSON, status: String, attempts: Int, nextAttemptAt: Timestamp?, httpStatus: Int? = nil,
        responseBody: String? = nil, errorText: String? = nil, createdAt: Timestamp, completedAt: Timestamp? = nil
    ) {
        self.id = id
        self.kind = kind
        self.runId = runId
        self.channelId = channelId
        self.gateId = gateId
        self.url = url
        self.secret = secret
        self.eventType = eventType
        self.payload = payload
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.httpStatus = httpStatus
        self.responseBody = responseBody
        self.errorText = errorText
        self.createdAt = createdAt
        self.completedAt = completedAt
    }

    /// The exact bytes sent (and signed).
    public var body: RawJSON {
        if kind == .checkpointWebhook { return payload }
        if kind == .objectNotification { return Self.eventsBody([self]) }
        return jsonObject { w in
            w.field("type", eventType)
            w.field("runId", runId)
            w.field("gateId", gateId)
            w.field("deliveryId", id)
            w.field("payload", raw: payload)
        }
    }
}

extension ChannelDelivery {
    /// Object notifications sent together: `{"events": [each delivery's event]}`.
    public static func eventsBody(_ deliveries: [ChannelDelivery]) -> RawJSON {
        jsonObject { w in
            w.key("events")
            w.beginArrayValue()
            for d in deliveries { w.raw(d.payload) }
            w.endArray()
        }
    }
}

public protocol DeliveryReadTransaction: Sendable {
    /// A channel's deliveries (a workspace's object notifications: the bucket id), newest first.
    func deliveries(channelId: String, limit: Int) async throws -> [ChannelDelivery]
    /// Newest first.
    func deliveries(runId: String, limit: Int) async throws -> [ChannelDelivery]
    /// Pending deliveries due at `now`, oldest first.
    func dueDeliveries(now: Timestamp, limit: Int) async throws -> [ChannelDelivery]
}

public protocol DeliveryWriteTransaction: DeliveryReadTransaction {
    /// Due deliveries, locked until commit; rows another transaction holds are skipped (a
    /// claim's primitive: `FOR UPDATE SKIP LOCKED` on Postgres, the single writer on SQLite).
    func lockDueDeliveries(now: Timestamp, limit: Int) async throws -> [ChannelDelivery]
    func insertDelivery(_ delivery: ChannelDelivery) async throws
    func updateDelivery(_ delivery: ChannelDelivery) async throws
}

/// What came of one attempt to send something to another server.
public enum DeliveryOutcome: Sendable {
    case responded(status: Int, body: String)
    /// The address was refused before any connection (not retried).
    case blocked(String)
    case unreachable(String)
}

/// How deliveries are retried.
public enum DeliveryPolicy {
    public static let maxAttempts = 5
    /// 1 s, 2 s, 4 s, 8 s between attempts.
    public static func backoffMilliseconds(afterAttempt attempt: Int) -> Int64 {
        1_000 << Int64(min(max(attempt - 1, 0), 10))
    }
    /// Response bodies kept in the log.
    public static let responseBodyLimit = 8_000
}

extension RunService {
    /// Records deliveries of a run event to the run's channels (and a gate's inline channels)
    /// whose filter wants it. Called inside the transaction that made the change.
    static func recordDeliveries(
        tx: any RunWriteTransaction, runId: String, eventType: String, payload: RawJSON, gate: Gate? = nil,
        at now: Timestamp
    ) async throws {
        var targets: [(channelId: String?, url: String, secret: String?)] = []
        for channel in try await tx.channels(runId: runId)
        where channel.events.isEmpty || channel.events.contains(eventType) {
            targets.append((channel.id, channel.url, channel.secret))
        }
        if let gate, case .array(let inline)? = try? JSONParser.parse(gate.channels) {
            for item in inline {
                guard let url = item["url"]?.stringValue else { continue }
                let events = item["events"]?.arrayValue?.compactMap(\.stringValue) ?? []
                guard events.isEmpty || events.contains(eventType) else { continue }
                targets.append((nil, url, item["secret"]?.stringValue))
            }
        }
        for target in targets {
            try await tx.insertDelivery(
                ChannelDelivery(
                    id: Identifier.make("del_"), runId: runId, channelId: target.channelId, gateId: gate?.id,
                    url: target.url, secret: target.secret, eventType: eventType, payload: payload, status: "pending",
                    attempts: 0, nextAttemptAt: now, createdAt: now))
        }
    }

    /// Notifications of a run's terminal change: `{run}`, plus `error` for a failure (§1.12).
    static func recordRunDeliveries(
        tx: any RunWriteTransaction, run: Run, eventType: String, error: RawJSON? = nil, at now: Timestamp
    ) async throws {
        let payload = jsonObject { w in
            w.key("run"); w.run(run)
            if let error { w.field("error", raw: error) }
        }
        try await recordDeliveries(tx: tx, runId: run.id, eventType: eventType, payload: payload, at: now)
    }

    public func dueDeliveries(limit: Int) async throws -> [ChannelDelivery] {
        try await store.read { tx in try await tx.dueDeliveries(now: clock.now(), limit: limit) }
    }

    /// Claims due deliveries for sending. Each is leased to the caller by moving its next attempt
    /// `leaseMilliseconds` ahead, so no other replica sends it while the lease holds; if the
    /// caller dies mid-send, the delivery comes due again when the lease runs out.
    public func claimDueDeliveries(limit: Int, leaseMilliseconds: Int64) async throws -> [ChannelDelivery] {
        try await store.write { tx in
            let now = clock.now()
            var claimed = try await tx.lockDueDeliveries(now: now, limit: limit)
            for i in claimed.indices {
                claimed[i].nextAttemptAt = now.adding(milliseconds: leaseMilliseconds)
                try await tx.updateDelivery(claimed[i])
            }
            return claimed
        }
    }

    /// Logs an attempt: delivered on 2xx; otherwise retried with backoff until the attempts
    /// run out, except a blocked address, which is final.
    public func recordDeliveryAttempt(_ delivery: ChannelDelivery, outcome: DeliveryOutcome) async throws
        -> ChannelDelivery
    {
        try await store.write { tx in
            let now = clock.now()
            var d = delivery
            d.attempts += 1
            var final = false
            switch outcome {
            case .responded(let status, let body):
                d.httpStatus = status
                d.responseBody = String(body.prefix(DeliveryPolicy.responseBodyLimit))
                d.errorText = nil
                if (200..<300).contains(status) {
                    d.status = "delivered"
                    final = true
                }
            case .blocked(let reason):
                d.errorText = reason
                d.status = "failed"
                final = true
            case .unreachable(let reason):
                d.errorText = reason
            }
            if !final, d.attempts >= DeliveryPolicy.maxAttempts {
                d.status = "failed"
                final = true
            }
            if final {
                d.completedAt = now
                d.nextAttemptAt = nil
            } else {
                d.nextAttemptAt = now.adding(milliseconds: DeliveryPolicy.backoffMilliseconds(afterAttempt: d.attempts))
            }
            try await tx.updateDelivery(d)
            return d
        }
    }
}
