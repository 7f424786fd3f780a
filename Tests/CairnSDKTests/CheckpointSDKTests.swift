import Cairn
import CairnCore
import CairnTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import CairnServer

struct Tally: Codable, Sendable, Equatable {
    var done: Int
    var items: [String]
}

@Suite struct CheckpointSDKTests {
    @Test(arguments: TransportKind.allCases)
    func savesResumesAndReplays(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let checkpoints = cairn.checkpoints
            for step in 1...5 {
                let saved = try await checkpoints.save(
                    workflowId: "wf_1", step: step, state: Tally(done: step, items: ["s\(step)"]),
                    label: "step \(step)", metadata: ["phase": "fetch"], agentId: "bot")
                #expect(saved.id == Checkpoint.id(workflowId: "wf_1", step: step))
                if step == 2 { #expect(saved.diff.changed.sorted() == ["done", "items[0]"]) }
            }
            let point = try await checkpoints.resume(workflowId: "wf_1")
            #expect(point.latest.step == 5 && point.totalCheckpoints == 5)
            #expect(try point.latest.state(as: Tally.self) == Tally(done: 5, items: ["s5"]))
            let metadata = try point.latest.metadata(as: [String: String].self)
            #expect(metadata == ["phase": "fetch", "agent_id": "bot"])

            let third = try await checkpoints.get(Checkpoint.id(workflowId: "wf_1", step: 3))
            #expect(third.label == "step 3" && third.expiresAt != nil)
            #expect(third.diff?.changed.sorted() == ["done", "items[0]"])

            // One page, then every page.
            let page = try await checkpoints.replayPage(workflowId: "wf_1", fromStep: 2, limit: 2)
            #expect(page.checkpoints.map(\.step) == [2, 3] && page.hasMore)
            var walked: [Int] = []
            for try await checkpoint in checkpoints.replay(workflowId: "wf_1", toStep: 4, pageSize: 2) {
                walked.append(checkpoint.step)
            }
            #expect(walked == [1, 2, 3, 4])
            #expect(try await checkpoints.replayPage(workflowId: "unknown").checkpoints.isEmpty)

            await #expect(throws: CairnError.notFound("unknown")) {
                _ = try await checkpoints.resume(workflowId: "unknown")
            }
            await #expect(throws: CairnError.notFound("cp_wf_1_009")) { _ = try await checkpoints.get("cp_wf_1_009") }
        }
    }

    @Test(arguments: TransportKind.allCases)
    func aForkInheritsTheHistoryUpToItsStepAndGoesOnAlone(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let checkpoints = cairn.checkpoints
            var etags: [Int: String] = [:]
            for step in 1...5 {
                etags[step] = try await checkpoints.save(
                    workflowId: "parent", step: step, state: Tally(done: step, items: [])
                ).etag
            }
            let fork = try await checkpoints.fork(workflowId: "parent", atStep: 3, into: "attempt-2")
            #expect(fork.workflowId == "attempt-2" && fork.latest.step == 3 && fork.totalCheckpoints == 3)
            #expect(fork.etag == etags[3] && fork.latest.workflowId == "attempt-2")
            #expect(try fork.latest.state(as: Tally.self) == Tally(done: 3, items: []))
            #expect(try await checkpoints.replayPage(workflowId: "attempt-2").checkpoints.map(\.step) == [1, 2, 3])

            // The fork saves after its step with the inherited head's etag; the parent is untouched.
            let next = try await checkpoints.save(
                workflowId: "attempt-2", step: 4, state: Tally(done: 40, items: ["other path"]), ifMatch: fork.etag)
            #expect(next.workflowId == "attempt-2")
            #expect(try await checkpoints.resume(workflowId: "attempt-2").latest.step == 4)
            #expect(try await checkpoints.resume(workflowId: "parent").etag == etags[5])
            let generated = try await checkpoints.fork(workflowId: "attempt-2", atStep: 4)
            #expect(generated.workflowId.hasPrefix("wf_") && generated.totalCheckpoints == 4)

            await #expect(throws: CairnError.workflowExists("attempt-2")) {
                _ = try await checkpoints.fork(workflowId: "parent", atStep: 2, into: "attempt-2")
            }
            await #expect(throws: CairnError.self) { _ = try await checkpoints.fork(workflowId: "parent", atStep: 9) }
            await #expect(throws: CairnError.self) { _ = try await checkpoints.fork(workflowId: "nobody", atStep: 1) }
        }
    }

    @Test(arguments: TransportKind.allCases)
    func aSavedStepConflictsUnlessItsETagMatches(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let checkpoints = cairn.checkpoints
            let first = try await checkpoints.save(workflowId: "wf_2", step: 1, state: ["a": 1])
            let id = first.id
            await #expect(throws: CairnError.checkpointConflict(checkpointId: id, currentETag: first.etag)) {
                try await checkpoints.save(workflowId: "wf_2", step: 1, state: ["a": 2])
            }
            await #expect(throws: CairnError.checkpointConflict(checkpointId: id, currentETag: nil)) {
                try await checkpoints.save(workflowId: "wf_2", step: 1, state: ["a": 2], ifMatch: "\"0000\"")
            }
            // The stored etag makes the retry an idempotent replay of the first save.
            let again = try await checkpoints.save(workflowId: "wf_2", step: 1, state: ["a": 2], ifMatch: first.etag)
            #expect(again.id == id && again.etag == first.etag)
            #expect(try await checkpoints.resume(workflowId: "wf_2").etag == first.etag)
        }
    }

    @Test(arguments: TransportKind.allCases)
    func refusalsAreTyped(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let checkpoints = cairn.checkpoints
            await #expect(throws: CairnError.self) { try await checkpoints.save(workflowId: "w", step: 1, state: [1]) }
            do {
                try await checkpoints.save(workflowId: "w", step: 1, state: ["a": 1], ttlSeconds: 0)
                Issue.record("a TTL of 0 was accepted")
            } catch CairnError.invalidRequest(let code, let message) {
                #expect(code == "VALIDATION_ERROR" && message.contains("X-Checkpoint-TTL"))
            }
            do {
                _ = try await checkpoints.replayPage(workflowId: "w", limit: 0)
                Issue.record("a limit of 0 was accepted")
            } catch CairnError.invalidRequest(let code, _) {
                #expect(code == "VALIDATION_ERROR")
            }
            do {
                _ = try await checkpoints.updateAgent("nobody")
                Issue.record("an empty update was accepted")
            } catch CairnError.invalidRequest(let code, _) {
                #expect(code == "VALIDATION_ERROR")
            }
        }
    }

    @Test(arguments: TransportKind.allCases)
    func workflowsAreListedPageByPage(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            for id in ["a", "b", "c"] { try await cairn.checkpoints.save(workflowId: id, step: 0, state: ["x": id]) }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await cairn.checkpoints.workflows(limit: 2, cursor: cursor)
                #expect(page.workflows.count <= 2)
                seen += page.workflows.map(\.workflowId)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen.sorted() == ["a", "b", "c"])
        }
    }

    @Test(arguments: TransportKind.allCases)
    func agentsAreRegisteredUpdatedAndDeleted(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let checkpoints = cairn.checkpoints
            let agent = try await checkpoints.registerAgent(
                "scout", name: "Scout", description: "finds things", capabilities: ["search"], metadata: ["v": 1])
            #expect(agent.agentId == "scout" && agent.capabilities == #"["search"]"#)
            _ = try await checkpoints.registerAgent("writer")
            #expect(try await checkpoints.agents().map(\.agentId).sorted() == ["scout", "writer"])
            let updated = try await checkpoints.updateAgent("scout", name: .set("Scout 2"), description: .clear)
            #expect(updated.name == "Scout 2" && updated.description == nil && updated.metadata == #"{"v":1}"#)
            #expect(try await checkpoints.agent("scout") == updated)
            try await checkpoints.deleteAgent("scout")
            await #expect(throws: CairnError.notFound("scout")) { _ = try await checkpoints.agent("scout") }
            await #expect(throws: CairnError.notFound("scout")) { try await checkpoints.deleteAgent("scout") }
        }
    }

    @Test func webhooksAreRegisteredListedAndDeleted() async throws {
        try await withCairn(.http) { cairn in
            let checkpoints = cairn.checkpoints
            let hook = try await checkpoints.registerWebhook(
                url: "https://example.com/hook", events: [.checkpointSaved, .workflowExpired], secret: "s3cret")
            #expect(hook.events == ["checkpoint.saved", "workflow.expired"])
            let listed = try await checkpoints.webhooks()
            #expect(listed.map(\.id) == [hook.id] && listed.allSatisfy { $0.secret == nil })
            try await checkpoints.deleteWebhook(hook.id)
            #expect(try await checkpoints.webhooks().isEmpty)
            await #expect(throws: CairnError.notFound(hook.id)) { try await checkpoints.deleteWebhook(hook.id) }
        }
    }

    /// Embedded mode sends nothing, so it registers no webhook that would never fire.
    @Test func embeddedModeRefusesWebhooks() async throws {
        try await withCairn(.embedded) { cairn in
            await #expect(
                throws: CairnError.server(status: 501, body: "webhooks need a server; embedded mode sends none")
            ) {
                try await cairn.checkpoints.registerWebhook(url: "https://example.com/h", events: [.checkpointSaved])
            }
            let hooks = try await cairn.checkpoints.webhooks()
            #expect(hooks.isEmpty)
        }
    }

    /// A real delivery: the server posts `checkpoint.saved` to a receiver on loopback, and the
    /// SDK verifies the signature it arrives with.
    @Test(.timeLimit(.minutes(5))) func aDeliveredWebhookVerifies() async throws {
        let (received, receive) = AsyncStream<(body: String, signature: String?)>.makeStream()
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 20)
            receive.yield((String(buffer: body), request.headers[HTTPField.Name("X-Checkpoint-Signature")!]))
            return .ok
        }
        let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await receiver.test(.live) { client in
            let hookURL = "http://127.0.0.1:\(try #require(client.port))/hook"
            let directory = ScratchDirectory.path("cairn-sdk")
            var configuration = ServerConfiguration()
            configuration.dataDirectory = directory
            configuration.allowLoopbackOutbound = true
            let server = try CairnServer(configuration: configuration, registry: nil, logger: .init(label: "sdk-test"))
            let sender = Task { try await server.deliveries.run() }
            defer { sender.cancel() }
            let app = Application(
                router: server.makeRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { serverClient in
                let cairn = Cairn.http(url: "http://127.0.0.1:\(try #require(serverClient.port))")
                _ = try await cairn.checkpoints.registerWebhook(
                    url: hookURL, events: [.checkpointSaved], secret: "s3cret")
                try await cairn.checkpoints.save(workflowId: "hooked", step: 1, state: ["a": 1])
                var deliveries = received.makeAsyncIterator()
                let delivery = try #require(await deliveries.next())
                #expect(delivery.body.contains(#""event":"checkpoint.saved""#))
                #expect(
                    Checkpoints.verifyWebhookSignature(
                        body: Array(delivery.body.utf8), header: delivery.signature, secret: "s3cret"))
                #expect(
                    !Checkpoints.verifyWebhookSignature(
                        body: Array(delivery.body.utf8), header: delivery.signature, secret: "other"))
            }
        }
    }

    /// Signed by the server's own signer, checked by the SDK's.
    @Test func webhookSignaturesFromTheServerVerify() {
        let body = #"{"event":"checkpoint.saved","webhook_id":"wh_1","timestamp":"2026-06-01T00:00:00.000Z","data":{}}"#
        let header = RecoveryDispatcher.signature(body: body, secret: "s3cret")
        #expect(Checkpoints.verifyWebhookSignature(body: Array(body.utf8), header: header, secret: "s3cret"))
        #expect(!Checkpoints.verifyWebhookSignature(body: Array(body.utf8), header: header, secret: "other"))
        #expect(!Checkpoints.verifyWebhookSignature(body: Array((body + " ").utf8), header: header, secret: "s3cret"))
        #expect(!Checkpoints.verifyWebhookSignature(body: Array(body.utf8), header: nil, secret: "s3cret"))
    }

    /// The server allows two requests a minute; the client waits out each 429 for the
    /// `Retry-After` the server names, with a sleep that moves the server's clock instead of
    /// sleeping, so nothing here depends on real time passing.
    @Test func a429IsRetriedAfterItsRetryAfter() async throws {
        let clock = ManualClock()
        let key = "sdk-test-key-0123456789"
        try await withLiveServer(
            configure: { c in
                c.apiKey = key
                c.rateLimit = 2
                c.rateLimitWindowMilliseconds = 60_000
            }, clock: clock
        ) { url in
            let waits = Mutex<[Duration]>([])
            let retrying = Cairn.http(
                url: url, apiKey: key,
                rateLimitRetry: RateLimitRetry(maxAttempts: 3, maxWait: .seconds(60)) { wait in
                    waits.withLock { $0.append(wait) }
                    clock.advance(milliseconds: Int64(wait.components.seconds) * 1000)
                })
            for step in 1...3 {
                try await retrying.checkpoints.save(workflowId: "limited", step: step, state: ["n": step])
            }
            // The third request was refused once and sent again after the window's 60 seconds.
            #expect(waits.withLock { $0 } == [.seconds(60)])
            #expect(try await retrying.checkpoints.resume(workflowId: "limited").latest.step == 3)

            // Without retries the refusal is typed and carries the server's Retry-After.
            let impatient = Cairn.http(url: url, apiKey: key, rateLimitRetry: .never)
            await #expect(throws: CairnError.rateLimited(retryAfterSeconds: 60)) {
                _ = try await impatient.checkpoints.resume(workflowId: "limited")
            }
            // A wait longer than `maxWait` is not waited.
            let hasty = Cairn.http(
                url: url, apiKey: key,
                rateLimitRetry: RateLimitRetry(maxWait: .seconds(5)) { _ in Issue.record("slept past maxWait") })
            await #expect(throws: CairnError.rateLimited(retryAfterSeconds: 60)) {
                _ = try await hasty.checkpoints.resume(workflowId: "limited")
            }
            #expect(waits.withLock { $0.count } == 1)
        }
    }
}
