import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CairnServer

@Suite struct StudioCheckpointPagesTests {
    static let root = "studio-root-key-0123456789"
    typealias Pages = StudioCheckpointPages<CairnRequestContext>

    /// Saves a checkpoint through the SnapState API; returns the reply's etag.
    @discardableResult
    static func save(
        _ api: HTTP, _ workflow: String, step: Int, state: String, extra: String = ""
    ) async throws -> String {
        let workflowJSON = JSONValue.string(workflow).jsonText
        let reply = try await api.post(
            "/checkpoints", #"{"workflow_id":\#(workflowJSON),"step":\#(step),"state":\#(state)\#(extra)}"#)
        #expect(reply.status == .created, "\(reply.text)")
        return try #require(reply.json["etag"]?.stringValue)
    }

    static func count(_ html: String, _ marker: String) -> Int { html.components(separatedBy: marker).count - 1 }

    @Test func theListAndAWorkflowShowSavesWithTheirDiffsForksAndEscapedData() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let api = http.authorized(key)
            let workflow = "wf <b>&1"
            let first = try await Self.save(
                api, workflow, step: 1, state: #"{"x":1,"<k>":"v"}"#,
                extra: #","label":"<script>","agent_id":"bot-1""#)
            try await Self.save(
                api, workflow, step: 2, state: #"{"x":2,"y":[1]}"#,
                extra: #","metadata":{"error":{"type":"Timeout","message":"slow <down>"}}"#)
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)

            let list = try await browser.get("/studio/checkpoints")
            #expect(list.status == .ok)
            #expect(list.html.contains(#"<a href="/studio/checkpoints" aria-current="page">Checkpoints</a>"#))
            #expect(list.html.contains("wf &lt;b&gt;&amp;1") && !list.html.contains("wf <b>"))
            let href = "/studio/checkpoints/" + StudioPage.pathSegment(workflow)
            #expect(list.html.contains(#"href="\#(href)""#))
            #expect(list.html.contains(#"<span class="badge failed">failed</span>"#))

            let page = try await browser.get(href)
            #expect(page.status == .ok)
            #expect(page.html.contains(#"data-step="1""#) && page.html.contains(#"data-step="2""#))
            #expect(page.html.contains("&lt;script&gt;") && !page.html.contains("<script>"))
            #expect(page.html.contains(first.replacingOccurrences(of: "\"", with: "&quot;")), "the etag")
            #expect(page.html.contains("bot-1") && page.html.contains("Timeout: slow &lt;down&gt;"))
            // Step 1 set x and <k>; step 2 changed x, added y[0] and removed <k>.
            #expect(page.html.contains("First save: what it set"))
            #expect(page.html.contains(#"<li class="changed"><b aria-hidden="true">~</b> changed <code>x</code>"#))
            #expect(page.html.contains(#"<li class="added"><b aria-hidden="true">+</b> added <code>y[0]</code>"#))
            #expect(
                page.html.contains(#"<li class="removed"><b aria-hidden="true">−</b> removed <code>&lt;k&gt;</code>"#))
            #expect(page.html.contains(#"<svg role="img" aria-label="Size of each save on this page, in bytes""#))
            #expect(page.html.contains("<title>Size of each save on this page, in bytes</title>"))
            #expect(page.html.contains("TTL 7 d 0 h"))

            // A fork links to its parent, and the parent lists it.
            let fork = try await api.post(
                "/workflows/\(StudioPage.pathSegment(workflow))/fork", #"{"step":1,"workflow_id":"child"}"#)
            #expect(fork.status == .created, "\(fork.text)")
            let child = try await browser.get("/studio/checkpoints/child")
            #expect(child.status == .ok && child.html.contains(#"id="forked-from""#))
            #expect(child.html.contains(#"<a href="\#(href)"><code>wf &lt;b&gt;&amp;1</code></a> at step 1"#))
            #expect(try await browser.get(href).html.contains(#"<a href="/studio/checkpoints/child">"#))

            // An id that names one of the group's pages is reached by query.
            try await Self.save(api, "agents", step: 0, state: "{}")
            let withReserved = try await browser.get("/studio/checkpoints")
            #expect(withReserved.html.contains(#"href="/studio/checkpoints/workflow?id=agents""#))
            let reserved = try await browser.get("/studio/checkpoints/workflow?id=agents")
            #expect(reserved.status == .ok && reserved.html.contains("Workflow <code>agents</code>"))
        }
    }

    @Test func emptyPagesSayWhatToDoNext() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"])
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let list = try await browser.get("/studio/checkpoints")
            #expect(list.status == .ok && list.html.contains("snapstate-sdk") && list.html.contains("client.save("))
            #expect(!list.html.contains(#"rel="next""#))
            let analytics = try await browser.get("/studio/checkpoints/analytics")
            #expect(analytics.status == .ok && analytics.html.contains("No workflows were active in this period."))
            #expect(!analytics.html.contains("<svg") && analytics.html.contains("No failures in this period."))
            let agents = try await browser.get("/studio/checkpoints/agents")
            #expect(agents.status == .ok && agents.html.contains("No registered agents."))
            let hooks = try await browser.get("/studio/checkpoints/webhooks")
            #expect(hooks.status == .ok && hooks.html.contains("No webhooks."))
            let missing = try await browser.get("/studio/checkpoints/nothing-here")
            #expect(missing.status == .notFound)
        }
    }

    @Test func workflowsAndSavesComeInPages() async throws {
        try await TestServer(apiKey: Self.root, configure: { $0.rateLimit = 0 }).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let api = http.authorized(key)
            for i in 0..<(Pages.pageSize + 3) {
                // Ids the API's own cursor could not carry (spaces, non-ASCII) page fine here.
                try await Self.save(api, "wf \(i) é", step: 1, state: #"{"i":\#(i)}"#)
            }
            for step in 0..<(Pages.stepPageSize + 3) {
                try await Self.save(api, "long", step: step, state: #"{"n":\#(step)}"#)
            }
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let first = try await browser.get("/studio/checkpoints")
            #expect(Self.count(first.html, "<tr data-workflow-id=") == Pages.pageSize)
            #expect(first.html.contains(#"data-workflow-id="long""#), "most recently active first")
            let next = try #require(first.attribute(after: #"<a rel="next" href=""#))
            let second = try await browser.get(next.replacingOccurrences(of: "&amp;", with: "&"))
            #expect(second.status == .ok)
            #expect(Self.count(second.html, "<tr data-workflow-id=") == 4)
            #expect(second.html.contains("wf 0 é") && !first.html.contains("wf 0 é"))
            #expect(!second.html.contains(#"rel="next""#))

            let steps = try await browser.get("/studio/checkpoints/long")
            #expect(Self.count(steps.html, #"<li class="card" data-step="#) == Pages.stepPageSize)
            let later = try #require(steps.attribute(after: #"<a rel="next" href=""#))
            #expect(later == "/studio/checkpoints/long?from_step=\(Pages.stepPageSize)")
            let rest = try await browser.get(later)
            #expect(Self.count(rest.html, #"<li class="card" data-step="#) == 3)
            #expect(
                rest.html.contains(#"data-step="\#(Pages.stepPageSize + 2)""#) && !rest.html.contains(#"rel="next""#))
        }
    }

    @Test func anotherTenantsRecordsAnswerLikeMissingOnes() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let acme = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let globex = try await http.newKey(root: Self.root, tenant: "globex", scopes: ["admin"])
            let api = http.authorized(acme)
            try await Self.save(api, "secret-wf", step: 1, state: #"{"password":"hunter2"}"#)
            let hook = try await api.post(
                "/webhooks", #"{"url":"http://127.0.0.1:9/hook","events":["checkpoint.saved"]}"#)
            let hookId = try #require(hook.json["webhook_id"]?.stringValue)
            #expect(try await api.post("/agents", #"{"agent_id":"acme-bot"}"#).status == .created)

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(globex)
            let list = try await browser.get("/studio/checkpoints")
            #expect(list.status == .ok && !list.html.contains("secret-wf"))
            let theirs = try await browser.get("/studio/checkpoints/secret-wf")
            let missing = try await browser.get("/studio/checkpoints/no-such-wf")
            #expect(theirs.status == .notFound && !theirs.html.contains("hunter2"))
            #expect(theirs.html == missing.html, "the same page for another tenant's and a missing workflow")
            #expect(try await browser.get("/studio/checkpoints/workflow?id=secret-wf").html == missing.html)
            #expect(try await browser.get("/studio/checkpoints/webhooks/\(hookId)").status == .notFound)
            #expect(!(try await browser.get("/studio/checkpoints/webhooks").html.contains(hookId)))
            #expect(!(try await browser.get("/studio/checkpoints/agents").html.contains("acme-bot")))
            let csrf = try #require(list.csrf)
            let deleteHook = try await browser.post("/studio/checkpoints/webhooks/\(hookId)/delete", [("csrf", csrf)])
            #expect(deleteHook.status == .notFound)
            let deleteAgent = try await browser.post("/studio/checkpoints/agents/acme-bot/delete", [("csrf", csrf)])
            #expect(deleteAgent.status == .notFound)
            #expect(try await api.get("/webhooks").text.contains(hookId))
            #expect(try await api.get("/agents/acme-bot").status == .ok)
        }
    }

    @Test func badQueryInputIsA400() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            try await Self.save(http.authorized(key), "w", step: 1, state: "{}")
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let bad = [
                "/studio/checkpoints?after=garbage", "/studio/checkpoints?after=1.zz",
                "/studio/checkpoints?after=-1.77",
                "/studio/checkpoints?after=1.7", "/studio/checkpoints?after=1.ff",
                "/studio/checkpoints?after=99999999999999999999.77",
                "/studio/checkpoints/w?from_step=-1", "/studio/checkpoints/w?from_step=abc",
                "/studio/checkpoints/w?from_step=99999999999999999999", "/studio/checkpoints/analytics?days=0",
                "/studio/checkpoints/analytics?days=91", "/studio/checkpoints/analytics?days=x",
                "/studio/checkpoints/agents?days=1000", "/studio/checkpoints/workflow",
                "/studio/checkpoints/workflow?id=",
            ]
            for uri in bad {
                let page = try await browser.get(uri)
                #expect(page.status == .badRequest && page.html.contains(#"role="alert""#), "\(uri)")
                #expect(page.html.contains("Nothing was changed."), "\(uri)")
            }
            #expect(
                try await browser.get("/studio/checkpoints/w?from_step=2").html.contains("No saves from this step on"))
            let custom = try await browser.get("/studio/checkpoints/analytics?days=14")
            #expect(custom.status == .ok && custom.html.contains(#"<option value="14" selected>last 14 days</option>"#))
        }
    }

    @Test func readOnlyKeysSeeNoDeleteButtonsAndFormsNeedTheSessionsToken() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let writer = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let reader = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"])
            let api = http.authorized(writer)
            let hook = try await api.post(
                "/webhooks", #"{"url":"http://127.0.0.1:9/hook","events":["checkpoint.saved"],"secret":"s3cret"}"#)
            let hookId = try #require(hook.json["webhook_id"]?.stringValue)
            #expect(try await api.post("/agents", #"{"agent_id":"bot-1","name":"<Bot>"}"#).status == .created)

            var readOnly = StudioBrowser(http)
            _ = try await readOnly.signIn(reader)
            let hooks = try await readOnly.get("/studio/checkpoints/webhooks")
            #expect(hooks.status == .ok && hooks.html.contains(hookId) && !hooks.html.contains("s3cret"))
            #expect(!hooks.html.contains("delete-webhook"))
            #expect(!(try await readOnly.get("/studio/checkpoints/webhooks/\(hookId)").html.contains("delete-webhook")))
            let agents = try await readOnly.get("/studio/checkpoints/agents")
            #expect(agents.html.contains("&lt;Bot&gt;") && !agents.html.contains("delete-agent"))
            let readerCSRF = try #require(hooks.csrf)
            let refused = try await readOnly.post(
                "/studio/checkpoints/webhooks/\(hookId)/delete", [("csrf", readerCSRF)])
            #expect(refused.status == .forbidden && refused.html.contains("write scope"))
            let refusedAgent = try await readOnly.post(
                "/studio/checkpoints/agents/bot-1/delete", [("csrf", readerCSRF)])
            #expect(refusedAgent.status == .forbidden)

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(writer)
            for csrf in ["", "wrong", String(repeating: "f", count: 32)] {
                let forged = try await browser.post("/studio/checkpoints/webhooks/\(hookId)/delete", [("csrf", csrf)])
                #expect(forged.status == .forbidden && forged.html.contains("nothing was changed"))
                let forgedAgent = try await browser.post("/studio/checkpoints/agents/bot-1/delete", [("csrf", csrf)])
                #expect(forgedAgent.status == .forbidden)
            }
            #expect(try await api.get("/webhooks").text.contains(hookId))
            #expect(try await api.get("/agents/bot-1").status == .ok)

            let page = try await browser.get("/studio/checkpoints/webhooks/\(hookId)")
            #expect(page.html.contains(#"<form id="delete-webhook""#))
            let csrf = try #require(page.csrf)
            let deleted = try await browser.post("/studio/checkpoints/webhooks/\(hookId)/delete", [("csrf", csrf)])
            #expect(deleted.status == .seeOther && deleted.location == "/studio/checkpoints/webhooks")
            #expect(!(try await api.get("/webhooks").text.contains(hookId)))
            let again = try await browser.post("/studio/checkpoints/webhooks/\(hookId)/delete", [("csrf", csrf)])
            #expect(again.status == .notFound)
            let agentDeleted = try await browser.post("/studio/checkpoints/agents/bot-1/delete", [("csrf", csrf)])
            #expect(agentDeleted.status == .seeOther)
            #expect(try await api.get("/agents/bot-1").status == .notFound)
        }
    }

    @Test func analyticsAreChartsWithTheirNumbersAndWebhooksShowTheirDeliveries() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let api = http.authorized(key)
            #expect(
                try await api.post("/agents", #"{"agent_id":"bot-1","name":"Bot","capabilities":["search"]}"#).status
                    == .created)
            let hook = try await api.post(
                "/webhooks", #"{"url":"http://127.0.0.1:9/hook","events":["checkpoint.saved"]}"#)
            let hookId = try #require(hook.json["webhook_id"]?.stringValue)
            try await Self.save(api, "ok-wf", step: 1, state: #"{"a":1}"#, extra: #","agent_id":"bot-1""#)
            try await Self.save(
                api, "bad-wf", step: 3, state: #"{"a":1}"#,
                extra: #","agent_id":"<evil>","metadata":{"error":"boom <x>"}"#)

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let analytics = try await browser.get("/studio/checkpoints/analytics?days=7")
            #expect(analytics.status == .ok)
            #expect(analytics.html.contains(#"<svg role="img" aria-label="Workflows by status"#))
            #expect(analytics.html.contains("<title>Workflows by status"))
            #expect(analytics.html.contains(#"<th scope="row">failed</th><td>1</td>"#))
            #expect(analytics.html.contains(#"<th scope="row">&lt;evil&gt;</th><td>1</td>"#))
            #expect(analytics.html.contains(#"<th scope="row">step 3</th><td>1</td>"#))
            #expect(analytics.html.contains(#"<option value="7" selected>"#))
            #expect(analytics.html.contains("error: boom &lt;x&gt;") && !analytics.html.contains("<evil>"))
            #expect(analytics.html.contains(#"href="/studio/checkpoints/bad-wf?from_step=3""#))

            let agents = try await browser.get("/studio/checkpoints/agents")
            #expect(agents.html.contains(#"<tr data-agent-id="bot-1">"#) && agents.html.contains("search"))
            #expect(agents.html.contains(#"id="unregistered""#) && agents.html.contains("<code>&lt;evil&gt;</code>"))
            #expect(agents.html.contains(#"<svg role="img" aria-label="Checkpoints saved per agent"#))

            let hooks = try await browser.get("/studio/checkpoints/webhooks")
            #expect(hooks.html.contains(#"<tr data-webhook-id="\#(hookId)">"#))
            let log = try await browser.get("/studio/checkpoints/webhooks/\(hookId)")
            #expect(log.status == .ok && Self.count(log.html, "<tr data-delivery-id=") == 2)
            #expect(
                log.html.contains("checkpoint.saved") && log.html.contains("&quot;workflow_id&quot;:&quot;ok-wf&quot;"))
        }
    }
}
