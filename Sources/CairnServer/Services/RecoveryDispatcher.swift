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
        let target: OutboundGuard.Target
        switch guardrail.decision(for: call.url) {
        case .refused(let reason): return .unreachable("ssrf_blocked: \(reason)")
        case .allowed(let allowed): target = allowed
        }
        var request = HTTPClientRequest(url: call.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "cairn-recovery/\(CairnVersion.string)")
        if let secret {
            request.headers.add(name: "x-tidebase-signature", value: Self.signature(body: call.body, secret: secret))
        }
        request.body = .bytes(ByteBuffer(string: call.body))
        do {
            let (status, body) = try await OutboundHTTP.post(request, to: target, timeout: timeout)
            return .responded(status: status, body: body)
        } catch {
            return .unreachable(String(describing: error))
        }
    }
}

/// The client for calls to other people's servers: a refused or unreachable endpoint fails at
/// once instead of being retried until the deadline, and redirects are not followed.
enum OutboundHTTP {
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration())

    static func configuration(dnsOverride: [String: String] = [:]) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.dnsOverride = dnsOverride
        return configuration
    }

    /// How much of a receiver's reply is read (the delivery log keeps at most 8000 characters).
    static let responseBodyLimit = 16 * 1024

    /// Sends the request to the address the guard checked, never to a fresh DNS answer for its
    /// host (which could point somewhere the guard refuses); TLS still verifies the host name.
    /// Returns the status and the start of the reply body; a longer reply is cut, not an error.
    static func post(_ request: HTTPClientRequest, to target: OutboundGuard.Target, timeout: TimeAmount)
        async throws -> (status: Int, body: String)
    {
        let isLiteral = OutboundGuard.numericAddress(target.host).map { $0.text == target.host } ?? false
        if isLiteral { return try await send(request, with: client, timeout: timeout) }
        let pinned = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: configuration(dnsOverride: [target.host: target.address])
        )
        do {
            let result = try await send(request, with: pinned, timeout: timeout)
            try? await pinned.shutdown()
            return result
        } catch {
            try? await pinned.shutdown()
            throw error
        }
    }

    private static func send(_ request: HTTPClientRequest, with client: HTTPClient, timeout: TimeAmount)
        async throws -> (status: Int, body: String)
    {
        let response = try await client.execute(request, timeout: timeout)
        var body = ByteBuffer()
        for try await var chunk in response.body {
            let room = responseBodyLimit - body.readableBytes
            if chunk.readableBytes >= room {
                if let head = chunk.readSlice(length: room) { body.writeImmutableBuffer(head) }
                break
            }
            body.writeBuffer(&chunk)
        }
        return (Int(response.status.code), String(decoding: body.readableBytesView, as: UTF8.self))
    }
}
