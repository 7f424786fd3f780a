import AsyncHTTPClient
import CairnCore
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Sends recovery calls (`run.resume`) to an application's webhook: after the recording
/// transaction has committed, holding no lock, with a timeout, signed with HMAC-SHA256 when a
/// webhook secret is configured (`x-tidebase-signature: sha256=<hex>`).
struct RecoveryDispatcher: Sendable {
    let runs: RunService
    let secret: String?
    let timeout: TimeAmount
    let guardrail: OutboundGuard
    let logger: Logger

    static func signature(body: String, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + Array(mac).hexString
    }

    /// Records, sends and records the outcome; never throws for the remote side's failures.
    func recover(runId: String, reason: String, tenant: TenantID) async throws -> RecoveryAttempt {
        let call = try await runs.beginRecovery(runId: runId, reason: reason, tenant: tenant)
        return try await send(call)
    }

    func send(_ call: RecoveryCall) async throws -> RecoveryAttempt {
        let outcome = await post(call)
        logger.info(
            "recovery call", metadata: ["run": "\(call.attempt.runId)", "url": "\(call.url)", "outcome": "\(outcome)"])
        return try await runs.finishRecovery(call, outcome: outcome)
    }

    private func post(_ call: RecoveryCall) async -> RecoveryOutcome {
        if let refusal = guardrail.refusal(for: call.url) { return .unreachable("ssrf_blocked: \(refusal)") }
        var request = HTTPClientRequest(url: call.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "cairn-recovery/\(CairnVersion.string)")
        if let secret {
            request.headers.add(name: "x-tidebase-signature", value: Self.signature(body: call.body, secret: secret))
        }
        request.body = .bytes(ByteBuffer(string: call.body))
        do {
            let response = try await OutboundHTTP.client.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 64 * 1024)
            return .responded(status: Int(response.status.code), body: String(buffer: body))
        } catch {
            return .unreachable(String(describing: error))
        }
    }
}

/// The client for calls to other people's servers: a refused or unreachable endpoint fails at
/// once instead of being retried until the deadline, and redirects are not followed.
enum OutboundHTTP {
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()
}
