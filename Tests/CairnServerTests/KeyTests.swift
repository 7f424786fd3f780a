import CairnCore
import CairnServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Tenants and scoped API keys over HTTP: isolation, scopes, revocation, key management.
@Suite struct KeyTests {
    static let root = "root-key-0123456789abcdef"

    func key(_ http: HTTP, tenant: String, scopes: [String]) async throws -> String {
        let admin = http.authorized(Self.root)
        let scopesJSON = "[" + scopes.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        let reply = try await admin.post("/admin/keys", #"{"tenant":"\#(tenant)","name":"t","scopes":\#(scopesJSON)}"#)
        #expect(reply.status == .created)
        #expect(reply.json["key"]?["tenant"] == .string(tenant))
        #expect(!reply.text.contains("secretHash"))
        return try #require(reply.json["secret"]?.stringValue)
    }

    @Test(arguments: ServerEngine.available) func tenantsSeeOnlyTheirOwnRunsQueuesAndSchedules(engine: ServerEngine)
        async throws
    {
        try await TestServer(engine: engine, apiKey: Self.root).test { http in
            let a = http.authorized(try await key(http, tenant: "acme", scopes: ["write"]))
            let b = http.authorized(try await key(http, tenant: "globex", scopes: ["write"]))
            let runA = try await a.newRun("acme-wf")
            #expect(try await a.get("/runs/\(runA)").status == .ok)
            // Another tenant's ids are unknown (404, not 403) for every kind of access.
            #expect(try await b.get("/runs/\(runA)").status == .notFound)
            #expect(try await b.post("/runs/\(runA)/begin", nil).status == .notFound)
            #expect(try await b.call(.put, "/runs/\(runA)/state", #"{"value":1}"#).status == .notFound)
            #expect(try await b.post("/runs/\(runA)/cancel", nil).status == .notFound)
            #expect(try await b.get("/runs").json["runs"]?.arrayValue?.isEmpty == true)
            let events = try await b.get("/runs/\(runA)/state/versions")
            #expect(events.json["stateVersions"]?.arrayValue?.isEmpty == true)
            // Queues and schedules are per tenant too.
            _ = try await a.post("/queues/jobs/enqueue", #"{"workflowName":"w"}"#)
            #expect(
                try await b.post("/queues/claim", #"{"queues":["jobs"],"limit":10}"#).json["runs"]?.arrayValue?.isEmpty
                    == true)
            #expect(try await b.get("/queues").json["queues"]?.arrayValue?.isEmpty == true)
            _ = try await a.call(.put, "/schedules/nightly", #"{"cron":"0 3 * * *","workflowName":"w"}"#)
            #expect(try await b.get("/schedules").json["schedules"]?.arrayValue?.isEmpty == true)
            #expect(try await b.call(.delete, "/schedules/nightly").status == .notFound)
            #expect(
                try await a.post("/queues/claim", #"{"queues":["jobs"],"limit":10}"#).json["runs"]?.arrayValue?.count
                    == 1)
        }
    }

    @Test(arguments: ServerEngine.available) func scopesAreEnforcedAndRevokedKeysStopWorking(engine: ServerEngine)
        async throws
    {
        try await TestServer(engine: engine, apiKey: Self.root).test { http in
            let readerSecret = try await key(http, tenant: "acme", scopes: ["read"])
            let reader = http.authorized(readerSecret)
            #expect(try await reader.get("/runs").status == .ok)
            let refused = try await reader.post("/runs/wf", "{}")
            #expect(refused.status == .forbidden && refused.json["code"] == .string("insufficient_scope"))
            #expect(try await reader.get("/admin/keys").status == .forbidden)
            // A tenant admin manages its own tenant's keys only.
            let admin = http.authorized(try await key(http, tenant: "acme", scopes: ["admin"]))
            let listed = try await admin.get("/admin/keys")
            #expect(listed.json["keys"]?.arrayValue?.allSatisfy { $0["tenant"] == .string("acme") } == true)
            #expect(try await admin.post("/admin/keys", #"{"tenant":"globex"}"#).status == .forbidden)
            let readerId = try #require(
                listed.json["keys"]?.arrayValue?.first { $0["scopes"] == .array([.string("read")]) }?["id"]?.stringValue
            )
            #expect(try await admin.call(.delete, "/admin/keys/\(readerId)").status == .ok)
            #expect(try await reader.get("/runs").status == .unauthorized)
            #expect(try await admin.call(.delete, "/admin/keys/\(readerId)").status == .notFound)
        }
    }

    @Test(arguments: ServerEngine.available) func onceKeysExistAnonymousRequestsAreRefused(engine: ServerEngine)
        async throws
    {
        try await TestServer(engine: engine).test { (http: HTTP) async throws -> Void in
            #expect(try await http.get("/runs").status == .ok)
            // With no configured key, an open server can still issue keys (it is open: loopback only).
            let created = try await http.post("/admin/keys", #"{"tenant":"acme","scopes":["read","write"]}"#)
            let secret = try #require(created.json["secret"]?.stringValue)
            #expect(secret.hasPrefix("cairn_") && secret.count == 70)
            #expect(try await http.get("/runs").status == .unauthorized)
            #expect(try await http.authorized(secret).get("/runs").status == .ok)
            #expect(try await http.get("/health").status == .ok)
            let bad = try await http.post("/admin/keys", #"{"tenant":"no spaces allowed"}"#)
            #expect(bad.status == .unauthorized)
        }
    }

    @Test(arguments: ServerEngine.available) func badKeyRequestsGet400(engine: ServerEngine) async throws {
        try await TestServer(engine: engine, apiKey: Self.root).test { (http: HTTP) async throws -> Void in
            var admin = http
            admin.headers[.authorization] = "Bearer \(Self.root)"
            #expect(try await admin.post("/admin/keys", #"{"tenant":"no spaces"}"#).status == .badRequest)
            #expect(try await admin.post("/admin/keys", #"{"tenant":"a","scopes":["root"]}"#).status == .badRequest)
            #expect(try await admin.post("/admin/keys", #"{"tenant":"a","scopes":[]}"#).status == .badRequest)
            #expect(try await admin.call(.delete, "/admin/keys/key_missing").status == .notFound)
            #expect(try await admin.get("/admin/keys").json["keys"]?.arrayValue?.isEmpty == true)
        }
    }
}
