import CairnCore
import Foundation
import HTTPTypes
import Testing

@testable import CairnServer

/// Studio's keys, queues, schedules, health and sandbox pages: what each key sees, what it may
/// do, and that refused actions change nothing.
@Suite struct StudioOperationPagesTests {
    static let root = StudioRoutesTests.root

    @Test func adminsCreateKeysSeenOnceAndRevokeThem() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let admin = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["admin"])
            let writer = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            _ = try await http.newKey(root: Self.root, tenant: "globex", scopes: ["read"])

            var writing = StudioBrowser(http)
            _ = try await writing.signIn(writer)
            #expect(try await writing.get("/studio/keys").status == .forbidden)
            #expect(!(try await writing.get("/studio/runs").html.contains(#"href="/studio/keys""#)))

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(admin)
            let page = try await browser.get("/studio/keys")
            #expect(page.status == .ok && page.html.contains(#"href="/studio/keys""#))
            #expect(page.html.components(separatedBy: "<tr data-key-id=").count - 1 == 2, "acme's keys only")
            let csrf = try #require(page.csrf)

            let made = try await browser.post(
                "/studio/keys", [("csrf", csrf), ("name", "ci <bot>"), ("scope-read", "on"), ("scope-write", "on")])
            #expect(made.status == .created)
            let secret = try #require(
                made.attribute(after: #"<code id="new-secret">"#).map { String($0.prefix { $0 != "<" }) })
            #expect(secret.hasPrefix("cairn_") && made.html.contains("ci &lt;bot&gt;"))
            #expect(try await http.authorized(secret).get("/runs").status == .ok)
            #expect(!(try await browser.get("/studio/keys").html.contains(secret)), "shown once")

            // An admin of acme cannot make keys elsewhere; bad forms say why and make nothing.
            for form in [
                [("csrf", csrf), ("tenant", "globex"), ("scope-read", "on")],
                [("csrf", csrf), ("name", "none")],
                [("csrf", csrf), ("tenant", "bad tenant!"), ("scope-read", "on")],
            ] {
                let refused = try await browser.post("/studio/keys", form)
                #expect(refused.status == .badRequest && refused.html.contains("No key was created"))
            }
            #expect(try await browser.get("/studio/keys?tenant=globex").status == .forbidden)
            let rootKeys = try await http.authorized(Self.root).get("/admin/keys").json["keys"]?.arrayValue ?? []
            #expect(rootKeys.count == 4)

            // Revoking: not another tenant's key; a missing one is a 404; one's own ends the session.
            let globexId = try #require(rootKeys.first { $0["tenant"] == .string("globex") }?["id"]?.stringValue)
            #expect(try await browser.post("/studio/keys/\(globexId)/revoke", [("csrf", csrf)]).status == .notFound)
            #expect(try await browser.post("/studio/keys/key_missing/revoke", [("csrf", csrf)]).status == .notFound)
            #expect(try await browser.post("/studio/keys/\(globexId)/revoke", [("csrf", "x")]).status == .forbidden)
            let newId = try #require(
                rootKeys.first { $0["name"] == .string("ci <bot>") }?["id"]?.stringValue)
            let revoked = try await browser.post("/studio/keys/\(newId)/revoke", [("csrf", csrf)])
            #expect(revoked.status == .seeOther && revoked.location == "/studio/keys")
            #expect(try await http.authorized(secret).get("/runs").status == .unauthorized)
            let adminId = try #require(
                rootKeys.first { $0["tenant"] == .string("acme") && $0["scopes"]?.arrayValue == [.string("admin")] }?[
                    "id"]?
                    .stringValue)
            let own = try await browser.post("/studio/keys/\(adminId)/revoke", [("csrf", csrf)])
            #expect(own.location == "/studio/sign-in")
            #expect(try await browser.get("/studio/keys").location == "/studio/sign-in")
            let after = try await http.authorized(Self.root).get("/admin/keys").json["keys"]?.arrayValue ?? []
            #expect(after.first { $0["tenant"] == .string("globex") }?["revokedAt"] == .null)
        }
    }

    @Test func schedulesPauseAndResumeAndQueuesShowTheirCounts() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let writer = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let reader = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"])
            let api = http.authorized(writer)
            let put = try await api.call(
                .put, "/schedules/nightly%20report", #"{"cron":"0 3 * * *","workflowName":"report","queue":"batch"}"#)
            #expect(put.status == .ok || put.status == .created, "\(put.text)")
            _ = try await api.post("/queues/batch/enqueue", #"{"workflowName":"report","input":{}}"#)

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(writer)
            let queues = try await browser.get("/studio/queues")
            #expect(
                queues.status == .ok
                    && queues.html.contains(#"<tr data-queue="batch"><td>batch</td><td class="num">1</td>"#))
            let schedules = try await browser.get("/studio/schedules")
            #expect(schedules.html.contains(#"data-schedule="nightly report""#) && schedules.html.contains("03:00:00"))
            let csrf = try #require(schedules.csrf)
            let path = "/studio/schedules/nightly%20report/enabled"
            #expect(try await browser.post(path, [("csrf", csrf), ("enabled", "maybe")]).status == .badRequest)
            #expect(try await browser.post(path, [("csrf", "nope"), ("enabled", "0")]).status == .forbidden)
            #expect(
                try await browser.post("/studio/schedules/other/enabled", [("csrf", csrf), ("enabled", "0")]).status
                    == .notFound)

            var reading = StudioBrowser(http)
            _ = try await reading.signIn(reader)
            let readerPage = try await reading.get("/studio/schedules")
            #expect(readerPage.html.contains("active") && !readerPage.html.contains("Pause"))
            #expect(
                try await reading.post(path, [("csrf", readerPage.csrf ?? ""), ("enabled", "0")]).status == .forbidden)
            #expect(try await api.get("/schedules").json["schedules"]?.arrayValue?.first?["enabled"] == .bool(true))

            #expect(try await browser.post(path, [("csrf", csrf), ("enabled", "0")]).status == .seeOther)
            #expect(try await api.get("/schedules").json["schedules"]?.arrayValue?.first?["enabled"] == .bool(false))
            let paused = try await browser.get("/studio/schedules")
            #expect(paused.html.contains("paused") && paused.html.contains("Resume"))
            #expect(try await browser.post(path, [("csrf", csrf), ("enabled", "1")]).status == .seeOther)
            #expect(try await api.get("/schedules").json["schedules"]?.arrayValue?.first?["enabled"] == .bool(true))

            // Another tenant sees none of it.
            let other = try await http.newKey(root: Self.root, tenant: "globex", scopes: ["admin"])
            var stranger = StudioBrowser(http)
            _ = try await stranger.signIn(other)
            #expect(try await stranger.get("/studio/queues").html.contains(#"<p class="empty">"#))
            #expect(try await stranger.get("/studio/schedules").html.contains(#"<p class="empty">"#))
            #expect(
                try await stranger.post(
                    path, [("csrf", try await stranger.get("/studio/schedules").csrf ?? ""), ("enabled", "0")]
                )
                .status == .notFound)
        }
    }

    @Test func queuesPauseAndResumeFromTheirPageAndShowTheirActivity() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let writer = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let reader = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"])
            let api = http.authorized(writer)
            for _ in 0..<3 { _ = try await api.post("/queues/mail%20out/enqueue", #"{"workflowName":"send"}"#) }
            _ = try await api.post("/queues/claim", #"{"queues":["mail out"],"limit":2}"#)

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(writer)
            let page = try await browser.get("/studio/queues")
            #expect(page.html.contains("2 claimed · 0 completed · 0 failed"), "\(page.html)")
            #expect(page.html.contains(#"<td class="num claim-rate">0.1</td>"#))
            #expect(page.html.contains(#"action="/studio/queues/mail%20out/paused""#))
            let csrf = try #require(page.csrf)
            let path = "/studio/queues/mail%20out/paused"
            #expect(try await browser.post(path, [("csrf", csrf), ("paused", "perhaps")]).status == .badRequest)
            #expect(try await browser.post(path, [("csrf", "forged"), ("paused", "1")]).status == .forbidden)
            #expect(
                try await browser.post("/studio/queues/nope/paused", [("csrf", csrf), ("paused", "1")]).status
                    == .notFound)
            #expect(try await api.get("/queues/mail%20out").json["queue"]?["paused"] == .bool(false))

            var reading = StudioBrowser(http)
            _ = try await reading.signIn(reader)
            let readerPage = try await reading.get("/studio/queues")
            #expect(readerPage.html.contains("active") && !readerPage.html.contains("Pause</button>"))
            #expect(
                try await reading.post(path, [("csrf", readerPage.csrf ?? ""), ("paused", "1")]).status == .forbidden)

            #expect(try await browser.post(path, [("csrf", csrf), ("paused", "1")]).status == .seeOther)
            #expect(try await api.get("/queues/mail%20out").json["queue"]?["paused"] == .bool(true))
            #expect(
                try await api.post("/queues/claim", #"{"queues":["mail out"]}"#).json["runs"]?.arrayValue?.isEmpty
                    == true)
            let paused = try await browser.get("/studio/queues")
            #expect(paused.html.contains("paused</span> since") && paused.html.contains("Resume</button>"))
            #expect(try await browser.post(path, [("csrf", csrf), ("paused", "0")]).status == .seeOther)
            #expect(try await api.get("/queues/mail%20out").json["queue"]?["paused"] == .bool(false))

            // Another tenant can neither see nor pause it.
            var stranger = StudioBrowser(http)
            _ = try await stranger.signIn(try await http.newKey(root: Self.root, tenant: "globex", scopes: ["write"]))
            let strangerCSRF = try await stranger.get("/studio/queues").csrf ?? ""
            #expect(try await stranger.post(path, [("csrf", strangerCSRF), ("paused", "1")]).status == .notFound)
            #expect(try await api.get("/queues/mail%20out").json["queue"]?["paused"] == .bool(false))
        }
    }

    @Test func healthShowsServerWideFiguresToTheRootKeyOnly() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let admin = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["admin"])
            var tenant = StudioBrowser(http)
            _ = try await tenant.signIn(admin)
            let page = try await tenant.get("/studio/health")
            #expect(page.status == .ok && page.html.contains("answering"))
            #expect(page.html.contains(#"<table id="services">"#) && page.html.contains("Reconciler"))
            #expect(!page.html.contains(#"id="backlog""#) && !page.html.contains(#"id="metrics""#))
            var root = StudioBrowser(http)
            _ = try await root.signIn(Self.root)
            let rootPage = try await root.get("/studio/health")
            #expect(rootPage.html.contains(#"id="backlog""#))
        }
    }

    @Test func metricTotalsSumLabelsAndSkipBuckets() {
        let text = """
            # TYPE x counter
            x{a="1"} 2
            x{a="2"} 3
            h_bucket{le="1"} 9
            h_sum 0.5
            h_count 4
            """
        let totals = StudioOperationPages<CairnRequestContext>.metricTotals(text)
        #expect(totals.map(\.name) == ["x", "h_sum", "h_count"])
        #expect(totals.map(\.value) == ["5", "0.5000", "4"])
    }

    @Test func sandboxesShowTheirExecutionsAndAreKilledByWritersOnly() async throws {
        let server = try TestServer(apiKey: Self.root) { $0.sandboxBackend = "process" }
        defer { Task { await server.server.sandboxes.shutdown() } }
        try await server.test { http in
            let writer = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let reader = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"])
            let api = http.authorized(writer)
            let created = try await api.post("/sandboxes", "{}")
            let id = try #require(created.json["id"]?.stringValue, "\(created.text)")
            let ran = try await api.post("/sandboxes/\(id)/exec", #"{"code":"print('<hello>')\n6*7"}"#)
            #expect(ran.status == .ok, "\(ran.text)")

            var reading = StudioBrowser(http)
            _ = try await reading.signIn(reader)
            #expect(try await reading.get("/studio/sandboxes").html.contains(#"data-sandbox-id="\#(id)""#))
            let page = try await reading.get("/studio/sandboxes/\(id)")
            #expect(page.status == .ok && page.html.contains("&lt;hello&gt;") && page.html.contains("42"))
            #expect(!page.html.contains(#"id="kill""#))
            #expect(
                try await reading.post("/studio/sandboxes/\(id)/kill", [("csrf", page.csrf ?? "")]).status == .forbidden
            )

            let other = try await http.newKey(root: Self.root, tenant: "globex", scopes: ["admin"])
            var stranger = StudioBrowser(http)
            _ = try await stranger.signIn(other)
            #expect(try await stranger.get("/studio/sandboxes/\(id)").status == .notFound)
            let strangerCSRF = try await stranger.get("/studio/sandboxes").csrf ?? ""
            #expect(
                try await stranger.post("/studio/sandboxes/\(id)/kill", [("csrf", strangerCSRF)]).status == .notFound)
            #expect(try await api.get("/sandboxes").json["sandboxes"]?.arrayValue?.count == 1)

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(writer)
            let mine = try await browser.get("/studio/sandboxes/\(id)")
            #expect(mine.html.contains(#"id="kill""#))
            let csrf = try #require(mine.csrf)
            #expect(try await browser.post("/studio/sandboxes/\(id)/reset", [("csrf", csrf)]).status == .seeOther)
            #expect(try await browser.post("/studio/sandboxes/\(id)/kill", [("csrf", csrf)]).status == .seeOther)
            #expect(try await api.get("/sandboxes").json["sandboxes"]?.arrayValue?.count == 0)
            #expect(try await browser.get("/studio/sandboxes").html.contains(#"<p class="empty">"#))
        }
    }
}
