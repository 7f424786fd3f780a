import CairnCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CairnServer

/// The checkpoint protocol over HTTP: its error envelope, header handling, closed bodies and
/// per-key rate limits. (The unmodified SDK is exercised by Tests/compat/snapstate.)
@Suite struct SnapStateRoutesTests {
    static let root = "root-key-0123456789abcdef"

    func envelope(_ reply: Reply) -> (code: String?, message: String?) {
        (reply.json["error"]?["code"]?.stringValue, reply.json["error"]?["message"]?.stringValue)
    }

    @Test func refusalsUseTheProtocolsEnvelopeWithARequestId() async throws {
        try await TestServer(apiKey: Self.root).test { (http: HTTP) async throws -> Void in
            let anonymous = try await http.call(.post, "/checkpoints", #"{"workflow_id":"w","step":1,"state":{}}"#)
            #expect(anonymous.status == .unauthorized && envelope(anonymous).code == "UNAUTHORIZED")
            let wrong = try await http.authorized("cairn_" + String(repeating: "0", count: 64)).get("/agents")
            #expect(wrong.status == .unauthorized && envelope(wrong).message == "Invalid API key")
            // The run protocol keeps its own shape.
            #expect(try await http.get("/runs").json["error"] == .string("unauthorized"))
            let reader = http.authorized(try await http.newKey(root: Self.root, tenant: "t", scopes: ["read"]))
            let forbidden = try await reader.post("/checkpoints", #"{"workflow_id":"w","step":1,"state":{}}"#)
            #expect(forbidden.status == .forbidden && envelope(forbidden).code == "FORBIDDEN")
            #expect(try await reader.get("/workflows/w/replay").status == .ok)
            let missing = try await http.authorized(Self.root).get("/checkpoints/cp_w_001")
            #expect(missing.status == .notFound && envelope(missing).code == "NOT_FOUND")
        }
    }

    @Test func everyResponseCarriesARequestId() async throws {
        try await TestServer().test { (http: HTTP) async throws -> Void in
            var ids: [String?] = []
            for uri in ["/workflows/w/resume", "/agents"] {
                ids.append(try await http.client.execute(uri: uri, method: .get) { $0.headers[.requestID] })
            }
            #expect(ids.allSatisfy { $0?.count == 36 })
            #expect(Set(ids.compactMap { $0 }).count == 2)
        }
    }

    @Test func aForkAnswersTheResumeShapeAndRefusesBadInputInTheEnvelope() async throws {
        try await TestServer().test { (http: HTTP) async throws -> Void in
            for step in 1...3 {
                let saved = try await http.post(
                    "/checkpoints", #"{"workflow_id":"p","step":\#(step),"state":{"n":\#(step)}}"#)
                #expect(saved.status == .created)
            }
            let etag = try await http.get("/checkpoints/cp_p_002").json["etag"]
            let fork = try await http.post("/workflows/p/fork", #"{"step":2,"workflow_id":"f"}"#)
            #expect(fork.status == .created)
            #expect(fork.json["workflow_id"] == .string("f") && fork.json["etag"] == etag)
            #expect(
                fork.json["forked_from"]
                    == .object(JSONObject([("workflow_id", .string("p")), ("step", .number("2"))])))
            #expect(fork.json["latest_checkpoint"]?["checkpoint_id"] == .string("cp_f_002"))
            #expect(try await http.get("/workflows/f/resume").json["total_checkpoints"] == .number("2"))
            let cases: [(String, String, HTTPResponse.Status, String)] = [
                ("p", #"{"step":2,"workflow_id":"f"}"#, .conflict, "CONFLICT"),
                ("p", #"{"step":9}"#, .notFound, "NOT_FOUND"),
                ("nope", #"{"step":1}"#, .notFound, "NOT_FOUND"),
                ("p", #"{"step":-1}"#, .badRequest, "VALIDATION_ERROR"),
                ("p", #"{"step":"2"}"#, .badRequest, "VALIDATION_ERROR"),
                ("p", #"{"step":99999999999999999999}"#, .badRequest, "VALIDATION_ERROR"),
                ("p", #"{"workflow_id":"g"}"#, .badRequest, "VALIDATION_ERROR"),
                ("p", #"{"step":2,"workflow_id":""}"#, .badRequest, "VALIDATION_ERROR"),
                ("p", #"{"step":2,"workflowId":"g"}"#, .badRequest, "VALIDATION_ERROR"),
                ("p", #"{"step":2"#, .badRequest, "VALIDATION_ERROR"),
                ("p", "", .badRequest, "VALIDATION_ERROR"),
            ]
            for (parent, body, status, code) in cases {
                let reply = try await http.post("/workflows/\(parent)/fork", body)
                #expect(reply.status == status && envelope(reply).code == code, "\(body): \(reply.text)")
            }
            #expect(try await http.get("/workflows/g/resume").status == .notFound)
        }
    }

    @Test func badInputIsRefusedWithItsReasonAndStoresNothing() async throws {
        try await TestServer().test { (http: HTTP) async throws -> Void in
            let cases: [(String, HTTPResponse.Status, String)] = [
                (#"{"workflow_id":"w","step":1,"state":{},"extra":1}"#, .badRequest, "extra: unknown field"),
                (#"{"workflow_id":"w","step":"1","state":{}}"#, .badRequest, "step: expected an integer"),
                (#"{"workflow_id":"w","step":-1,"state":{}}"#, .badRequest, "step: must be >= 0"),
                (#"{"workflow_id":"w","step":1,"state":[1]}"#, .badRequest, "state: expected an object"),
                (#"{"workflow_id":"","step":1,"state":{}}"#, .badRequest, "workflow_id: must be at least"),
                (#"{"step":1,"state":{}}"#, .badRequest, "workflow_id: required"),
                (#"{"workflow_id":"w","step":1,"state":{},"metadata":3}"#, .badRequest, "metadata: expected an object"),
                (#"{"workflow_id":"w","step":1"#, .badRequest, "malformed JSON"),
                ("", .badRequest, "empty"),
            ]
            for (body, status, message) in cases {
                let reply = try await http.post("/checkpoints", body)
                #expect(reply.status == status, "\(body)")
                #expect(envelope(reply).code == "VALIDATION_ERROR", "\(body)")
                #expect(envelope(reply).message?.contains(message) == true, "\(body): \(reply.text)")
            }
            let big =
                #"{"workflow_id":"w","step":1,"state":{"x":""# + String(repeating: "y", count: 1_048_576) + #""}}"#
            let tooLarge = try await http.post("/checkpoints", big)
            #expect(tooLarge.status == .contentTooLarge && envelope(tooLarge).code == "PAYLOAD_TOO_LARGE")
            for ttl in ["0", "-5", "3600abc", "1.5", "99999999999999"] {
                var h = http
                h.headers[.checkpointTTL] = ttl
                let reply = try await h.post("/checkpoints", #"{"workflow_id":"w","step":1,"state":{}}"#)
                #expect(reply.status == .badRequest, "ttl \(ttl)")
            }
            for query in ["limit=0", "limit=1001", "from_step=-1", "to_step=x", "page=2"] {
                #expect(try await http.get("/workflows/w/replay?\(query)").status == .badRequest, "\(query)")
            }
            #expect(try await http.get("/workflows/w/resume").status == .notFound)
            let webhook = try await http.post("/webhooks", #"{"url":"ftp://x","events":["workflow.archived"]}"#)
            #expect(webhook.status == .badRequest)
            #expect(try await http.get("/webhooks").json["webhooks"]?.arrayValue?.isEmpty == true)
            #expect(try await http.post("/agents", #"{"agent_id":"bad id!"}"#).status == .badRequest)
            #expect(try await http.post("/agents", #"{"agent_id":"ok","capabilities":[1]}"#).status == .badRequest)
            #expect(try await http.get("/agents").json["agents"]?.arrayValue?.isEmpty == true)
        }
    }

    @Test func rateLimitsCountPerKeyOnlyOnTheLimitedRoutes() async throws {
        let server = try TestServer(apiKey: Self.root) {
            $0.rateLimit = 3
            $0.rateLimitWindowMilliseconds = 60_000
        }
        try await server.test { (http: HTTP) async throws -> Void in
            let a = http.authorized(try await http.newKey(root: Self.root, tenant: "t"))
            let b = http.authorized(try await http.newKey(root: Self.root, tenant: "t"))
            for _ in 0..<3 { #expect(try await a.get("/workflows/w/replay").status == .ok) }
            let limited = try await a.client.execute(uri: "/workflows/w/replay", method: .get, headers: a.headers) {
                ($0.status, $0.headers[.retryAfter], String(buffer: $0.body))
            }
            #expect(limited.0 == .tooManyRequests)
            let seconds = try #require(limited.1.flatMap { Int($0) })
            #expect((1...60).contains(seconds))
            #expect(limited.2.contains("RATE_LIMITED"))
            // Another key has its own window; unlimited routes stay open.
            #expect(try await b.get("/workflows/w/replay").status == .ok)
            #expect(try await a.get("/agents").status == .ok)
            #expect(try await a.get("/analytics/overview").status == .ok)
        }
    }

    @Test func anOpenServerHasNoCredentialToLimit() async throws {
        let server = try TestServer { $0.rateLimit = 2 }
        try await server.test { (http: HTTP) async throws -> Void in
            for _ in 0..<5 { #expect(try await http.get("/workflows/w/replay").status == .ok) }
        }
    }

    @Test func slidingWindowAdmitsAgainAsOldRequestsLeaveAndDoesNotCountRefusals() {
        let clock = ManualClock(Timestamp(milliseconds: 0))
        let limiter = SlidingWindowRateLimiter(limit: 2, windowMilliseconds: 10_000, clock: clock)
        func admit(_ key: String, at milliseconds: Int64) -> SlidingWindowRateLimiter.Decision {
            clock.set(Timestamp(milliseconds: milliseconds))
            return limiter.admit(key: key)
        }
        #expect(admit("k", at: 0) == .allowed)
        #expect(admit("k", at: 4_000) == .allowed)
        #expect(admit("k", at: 5_000) == .limited(retryAfterSeconds: 5))
        #expect(admit("k", at: 9_999) == .limited(retryAfterSeconds: 1))
        #expect(admit("k", at: 10_001) == .allowed)
        #expect(admit("k", at: 10_002) == .limited(retryAfterSeconds: 4))
        #expect(admit("other", at: 10_002) == .allowed)
    }
}
