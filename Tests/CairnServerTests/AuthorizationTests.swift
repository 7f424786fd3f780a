import CairnCore
import CairnStore
import CairnTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import CairnServer

/// What a request may reach follows the matched route, never how its path is spelled; open
/// mode ends for good with the first key; `/metrics` is the root key's.
@Suite struct AuthorizationTests {
    static let root = "root-key-0123456789abcdef"

    /// Spellings of `/admin/keys` (and of other routes) that the router would otherwise match
    /// while a raw-path check would not see `/admin`.
    static let nonCanonical = [
        "//admin/keys", "///admin///keys", "/admin//keys", "/admin/keys/", "/admin/./keys", "/x/../admin/keys",
        "/admin/%2e/keys", "/x/%2E%2E/admin/keys", "admin/keys", "//runs",
        "/runs/", "/./health",
    ]

    @Test func nonCanonicalPathsAreRefusedBeforeRoutingWhateverTheKey() async throws {
        try await TestServer(apiKey: Self.root).test { (http: HTTP) async throws -> Void in
            let writer = http.authorized(try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"]))
            let reader = http.authorized(try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"]))
            let root = http.authorized(Self.root)
            for path in Self.nonCanonical {
                for client in [writer, reader, root, http] {
                    let listed = try await client.get(path)
                    #expect(listed.status == .badRequest, "GET \(path): \(listed.status) \(listed.text)")
                    #expect(listed.json["code"] == .string("non_canonical_path"))
                    let minted = try await client.post(path, #"{"tenant":"acme","scopes":["admin"]}"#)
                    #expect(minted.status == .badRequest, "POST \(path): \(minted.status) \(minted.text)")
                }
            }
            // SnapState's clients read their own error shape.
            let checkpoint = try await writer.get("/workflows/a/../b")
            #expect(
                checkpoint.status == .badRequest && checkpoint.json["error"]?["code"] == .string("VALIDATION_ERROR"))
            // Nothing was minted: the two keys made above are all there is.
            #expect(try await root.get("/admin/keys").json["keys"]?.arrayValue?.count == 2)
        }
    }

    @Test func adminRoutesNeedTheAdminScopeHoweverTheyAreReached() async throws {
        try await TestServer(apiKey: Self.root).test { (http: HTTP) async throws -> Void in
            let writer = http.authorized(try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"]))
            let keyId = try #require(
                try await http.authorized(Self.root).get("/admin/keys").json["keys"]?.arrayValue?.first?["id"]?
                    .stringValue)
            let minted = try await writer.post("/admin/keys", #"{"tenant":"acme","scopes":["admin"]}"#)
            #expect(minted.status == .forbidden && minted.json["required"] == .string("admin"))
            #expect(try await writer.get("/admin/keys").status == .forbidden)
            #expect(try await writer.call(.delete, "/admin/keys/\(keyId)").status == .forbidden)
            // The router never decodes: a percent-encoded letter or '/' makes another path, which no
            // route has.
            for path in ["/%61dmin/keys", "/admin%2Fkeys", "/admin%2fkeys"] {
                #expect(
                    try await writer.post(path, #"{"tenant":"acme","scopes":["admin"]}"#).status == .notFound, "\(path)"
                )
                #expect(try await writer.get(path).status == .notFound, "\(path)")
            }
            #expect(try await http.authorized(Self.root).get("/admin/keys").json["keys"]?.arrayValue?.count == 1)
        }
    }

    @Test func unknownRoutesAre404WithAnyValidKeyAnd401WithoutOne() async throws {
        try await TestServer(apiKey: Self.root).test { (http: HTTP) async throws -> Void in
            let reader = http.authorized(try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"]))
            #expect(try await reader.get("/nowhere").status == .notFound)
            #expect(try await reader.post("/nowhere").status == .notFound)
            #expect(try await http.get("/nowhere").status == .unauthorized)
            #expect(try await http.authorized("cairn_wrong").get("/nowhere").status == .unauthorized)
            #expect(try await http.get("/health").status == .ok)
            #expect(try await http.get("/openapi.json").status == .ok)
        }
    }

    @Test func metricsAreTheRootKeysUnlessMadePublic() async throws {
        try await TestServer(apiKey: Self.root).test { (http: HTTP) async throws -> Void in
            let tenantAdmin = http.authorized(
                try await http.newKey(root: Self.root, tenant: "acme", scopes: ["admin"]))
            let refused = try await tenantAdmin.get("/metrics")
            #expect(refused.status == .forbidden && refused.json["required"] == .string("root"))
            #expect(try await http.get("/metrics").status == .unauthorized)
            #expect(try await http.authorized(Self.root).get("/metrics").status == .ok)
        }
        // Open (loopback, no key): everything, metrics included.
        try await TestServer().test { (http: HTTP) async throws -> Void in
            #expect(try await http.get("/metrics").status == .ok)
        }
        try await TestServer(apiKey: Self.root, configure: { $0.metricsPublic = true }).test {
            (http: HTTP) async throws -> Void in
            #expect(try await http.get("/metrics").status == .ok)
            #expect(try await http.get("/runs").status == .unauthorized)
        }
    }

    @Test func openModeEndsForGoodWithTheFirstKey() async throws {
        let directory = ScratchDirectory.path("cairn-open")
        let server = try TestServer(configure: { $0.dataDirectory = directory })
        try await server.test { (http: HTTP) async throws -> Void in
            #expect(try await http.get("/runs").status == .ok)
            let created = try await http.post("/admin/keys", #"{"tenant":"acme","scopes":["admin"]}"#)
            let admin = http.authorized(try #require(created.json["secret"]?.stringValue))
            let id = try #require(created.json["key"]?["id"]?.stringValue)
            #expect(try await admin.call(.delete, "/admin/keys/\(id)").status == .ok)
            // No active key remains, and the server stays closed.
            #expect(try await http.get("/runs").status == .unauthorized)
            #expect(
                try await http.post("/admin/keys", #"{"tenant":"acme","scopes":["admin"]}"#).status == .unauthorized)
            #expect(try await http.get("/metrics").status == .unauthorized)
        }
        // After a restart on the same store too.
        try await TestServer(configure: { $0.dataDirectory = directory }).test { (http: HTTP) async throws -> Void in
            #expect(try await http.get("/runs").status == .unauthorized)
            #expect(
                try await http.post("/admin/keys", #"{"tenant":"acme","scopes":["admin"]}"#).status == .unauthorized)
        }
    }

    @Test func aKeyCreatedByAnotherProcessClosesOpenModeAndItIsLogged() async throws {
        let directory = ScratchDirectory.path("cairn-open")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/cairn.sqlite"
        let served = try SQLiteStore(configuration: .init(path: path), broker: nil)
        let log = LogRecorder()
        let openMode = OpenMode(
            configuredKey: false, store: served, logger: Logger(label: "test") { _ in log }, maxAge: .zero)
        #expect(try await openMode.isOpen())
        // `cairn keys create` and `revoke` in another process: their own connection to the file.
        let other = KeyService(store: try SQLiteStore(configuration: .init(path: path), broker: nil))
        let (key, _) = try await other.create(tenant: "acme", name: nil, scopes: [.read])
        try await other.revoke(id: key.id, tenant: nil)
        #expect(try await !openMode.isOpen())
        #expect(try await !openMode.isOpen())
        #expect(
            log.messages == [
                "the first API key was created: this server now requires an API key on every request"
            ])
        // A server started on that store was never open: nothing to announce.
        let quiet = LogRecorder()
        let later = OpenMode(configuredKey: false, store: served, logger: Logger(label: "test") { _ in quiet })
        #expect(try await !later.isOpen())
        #expect(quiet.messages.isEmpty)
    }

    @Test func startUpSaysWhoMayCallAndWarnsWhenAPublicAddressIsOpen() {
        var c = ServerConfiguration()
        #expect(c.accessSummary(open: true) == "open until the first API key is created")
        #expect(c.accessSummary(open: false) == "requires an API key (keys exist in the store)")
        #expect(c.openAccessWarning(open: true) == nil)
        c.host = "0.0.0.0"
        c.port = 8080
        c.allowUnauthenticated = true
        let warning = c.openAccessWarning(open: true) ?? ""
        #expect(
            warning.contains("0.0.0.0:8080") && warning.contains("anyone who can reach this address has full access"))
        // Keys exist: the server is not open, whatever the address.
        #expect(c.openAccessWarning(open: false) == nil)
        c.apiKey = Self.root
        #expect(c.accessSummary(open: false) == "requires the configured key or an API key")
        #expect(c.openAccessWarning(open: false) == nil)
        #expect(!c.summary.contains { $0.1.contains("open") })
    }
}
