import AsyncHTTPClient
import CairnCore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Sends channel notifications recorded by committed transactions: woken when such a commit
/// happens (and every half second, for retries), never inside a transaction, each attempt
/// timed out, signed with the channel's key, and logged; failures are retried with backoff.
struct DeliveryService: Service {
    /// Milliseconds between passes when no commit wakes it.
    static let interval: Int64 = 500
    let runs: RunService
    let guardrail: OutboundGuard
    let timeout: TimeAmount
    let wakeups: AsyncStream<Void>
    let logger: Logger
    var concurrency = 16
    let failures = FailureStreaks()

    static let deliverableEvents: Set<String> = [
        "run.completed", "run.failed", "run.cancelled", "gate.created", "gate.resolved", "step.failed", "state.updated",
        "usage.recorded",
    ]

    /// A wake-up stream fed by commits that produced deliverable run events, and the function
    /// that wakes it for deliveries recorded elsewhere (checkpoint webhooks).
    static func wakeups(from broker: EventBroker) -> (AsyncStream<Void>, @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        broker.addCommitListener { events in
            if events.contains(where: { deliverableEvents.contains($0.type) }) { continuation.yield() }
        }
        return (stream, { continuation.yield() })
    }

    func run() async throws {
        // Retries come due without a commit to wake the loop, hence the short interval.
        await PeriodicService(interval: .milliseconds(Self.interval), wakeups: wakeups) { await drain() }.run()
    }

    /// Sends everything due until nothing is.
    func drain() async {
        while !Task.isCancelled {
            let due: [ChannelDelivery]
            do {
                // Leased for longer than an attempt can take, so with several replicas each
                // delivery is sent by one of them at a time.
                due = try await runs.claimDueDeliveries(
                    limit: 64, leaseMilliseconds: 2 * timeout.nanoseconds / 1_000_000 + 5_000)
            } catch {
                logger.error("cannot read due deliveries", metadata: ["error": "\(error)"])
                return
            }
            if due.isEmpty { return }
            await withTaskGroup(of: Void.self) { group in
                var inFlight = 0
                for batch in Self.batches(due) {
                    if inFlight >= concurrency {
                        await group.next()
                        inFlight -= 1
                    }
                    group.addTask { await self.attempt(batch) }
                    inFlight += 1
                }
            }
        }
    }

    /// The most object notifications one POST carries.
    static let maxEventsPerPost = 100

    /// What one POST sends: object notifications due for the same bucket and receiver go together
    /// (`{"events": [...]}`, in the order they were recorded), everything else alone.
    static func batches(_ due: [ChannelDelivery]) -> [[ChannelDelivery]] {
        var batches: [[ChannelDelivery]] = []
        var open: [String: Int] = [:]
        for delivery in due {
            guard delivery.kind == .objectNotification else {
                batches.append([delivery])
                continue
            }
            let receiver = "\(delivery.channelId ?? "")\u{0}\(delivery.url)\u{0}\(delivery.secret ?? "")"
            if let i = open[receiver], batches[i].count < maxEventsPerPost {
                batches[i].append(delivery)
            } else {
                open[receiver] = batches.count
                batches.append([delivery])
            }
        }
        return batches
    }

    /// Sends one batch (see `batches`) in one POST and records the outcome for each of its deliveries.
    func attempt(_ batch: [ChannelDelivery]) async {
        let delivery = batch[0]
        let outcome: DeliveryOutcome
        switch guardrail.decision(for: delivery.url) {
        case .refused(let refusal):
            outcome = .blocked("ssrf_blocked: \(refusal)")
        case .allowed(let target):
            var request = HTTPClientRequest(url: delivery.url)
            request.method = .POST
            let body = delivery.kind == .objectNotification ? ChannelDelivery.eventsBody(batch) : delivery.body
            request.headers.add(name: "content-type", value: "application/json")
            // Each protocol's receivers know their own agent string and signature header.
            switch delivery.kind {
            case .runChannel:
                request.headers.add(name: "user-agent", value: "cairn-channel/\(CairnVersion.string)")
                if let secret = delivery.secret {
                    request.headers.add(
                        name: "x-tidebase-signature", value: RecoveryDispatcher.signature(body: body, secret: secret))
                }
            case .checkpointWebhook:
                request.headers.add(name: "user-agent", value: "CheckpointService/1.0")
                if let secret = delivery.secret {
                    request.headers.add(
                        name: "X-Checkpoint-Signature", value: RecoveryDispatcher.signature(body: body, secret: secret))
                }
            case .objectNotification:
                request.headers.add(name: "user-agent", value: "cairn-notifications/\(CairnVersion.string)")
                if let authorization = delivery.secret {
                    request.headers.add(name: "authorization", value: authorization)
                }
            }
            request.body = .bytes(ByteBuffer(string: body))
            do {
                let reply = try await OutboundHTTP.post(request, to: target, timeout: timeout)
                outcome = .responded(status: reply.status, body: reply.body)
            } catch {
                outcome = .unreachable(String(describing: error))
            }
        }
        for delivery in batch { await record(delivery, outcome: outcome) }
    }

    func record(_ delivery: ChannelDelivery, outcome: DeliveryOutcome) async {
        do {
            let logged = try await runs.recordDeliveryAttempt(delivery, outcome: outcome)
            logger.debug(
                "delivery",
                metadata: ["id": "\(logged.id)", "status": "\(logged.status)", "attempts": "\(logged.attempts)"])
            let result = logged.status == "pending" ? "retry" : logged.status
            Counter(
                label: "cairn_deliveries_total", dimensions: [("kind", delivery.kind.rawValue), ("result", result)]
            )
            .increment()
            if logged.status == "failed" {
                let streak = failures.record(failureOf: delivery.url)
                var metadata: Logger.Metadata = [
                    "id": "\(logged.id)", "kind": "\(delivery.kind.rawValue)", "url": "\(delivery.url)",
                    "attempts": "\(logged.attempts)", "httpStatus": "\(logged.httpStatus.map(String.init) ?? "none")",
                    "error": "\(logged.errorText ?? "-")",
                ]
                logger.warning("a delivery failed for good", metadata: metadata)
                if FailureStreaks.isWorthSaying(streak) {
                    metadata["failedInARow"] = "\(streak)"
                    logger.warning("a webhook keeps failing: check the receiver or remove it", metadata: metadata)
                }
            } else if logged.status == "delivered" {
                failures.record(successOf: delivery.url)
            }
        } catch {
            logger.error("cannot record delivery attempt", metadata: ["id": "\(delivery.id)", "error": "\(error)"])
        }
    }
}

/// Deliveries to each URL that failed for good in a row, to say when a webhook keeps failing.
final class FailureStreaks: Sendable {
    private let streaks = Mutex<[String: Int]>([:])

    /// The streak after this failure.
    func record(failureOf url: String) -> Int {
        streaks.withLock { s in
            if s.count > 10_000, s[url] == nil { s.removeAll() }  // bounded: forget rather than grow
            s[url, default: 0] += 1
            return s[url]!
        }
    }

    func record(successOf url: String) { _ = streaks.withLock { $0.removeValue(forKey: url) } }

    /// 3, 10, 100, 1000…: often enough to be seen, rarely enough not to flood the log.
    static func isWorthSaying(_ streak: Int) -> Bool {
        streak == 3 || streak == 10 || (streak >= 100 && String(streak).dropFirst().allSatisfy { $0 == "0" })
    }
}
