import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import CairnServer

/// A browser against Studio: keeps the cookies the server sets, sends them back, and reads the
/// forms' CSRF tokens from the pages.
struct StudioBrowser {
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]

    struct Page {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let html: String

        var location: String? { headers[.location] }

        /// The value of the first hidden `csrf` input.
        var csrf: String? { attribute(after: #"name="csrf" value=""#) }

        /// The first `data-gate` attribute's value.
        var gateId: String? { attribute(after: #"data-gate=""#) }

        func attribute(after prefix: String) -> String? {
            guard let start = html.range(of: prefix) else { return nil }
            return String(html[start.upperBound...].prefix { $0 != "\"" })
        }
    }

    init(_ http: HTTP) { client = http.client }

    mutating func get(_ uri: String) async throws -> Page { try await send(.get, uri, nil) }

    mutating func post(_ uri: String, _ form: [(String, String)]) async throws -> Page {
        try await send(.post, uri, StudioPage.query(form))
    }

    mutating func send(_ method: HTTPRequest.Method, _ uri: String, _ body: String?) async throws -> Page {
        var headers: HTTPFields = [:]
        if !cookies.isEmpty {
            headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ")
        }
        if body != nil { headers[.contentType] = "application/x-www-form-urlencoded" }
        let page = try await client.execute(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
        ) { Page(status: $0.status, headers: $0.headers, html: String(buffer: $0.body)) }
        for line in page.headers[values: .setCookie] {
            let pair = line.prefix { $0 != ";" }
            guard let eq = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<eq]), value = String(pair[pair.index(after: eq)...])
            if value.isEmpty || line.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = value }
        }
        return page
    }

    /// Signs in with `key`; the landing page's status (a 303 to the runs list on success).
    mutating func signIn(_ key: String) async throws -> Page {
        let form = try await get("/studio/sign-in")
        let csrf = try #require(form.csrf)
        return try await post("/studio/sign-in", [("csrf", csrf), ("key", key)])
    }
}

@Suite struct StudioRoutesTests {
    static let root = "studio-root-key-0123456789"

    /// A run of `http`'s tenant waiting on a gate; returns the run and gate ids.
    static func gatedRun(_ http: HTTP) async throws -> (run: String, gate: String) {
        let run = try await http.newRun("review")
        let begun = try await http.post("/runs/\(run)/gates/begin", #"{"name":"approve","prompt":"Ship <it>?"}"#)
        return (run, try #require(begun.json["gate"]?["id"]?.stringValue))
    }

    @Test func signingInExchangesTheKeyForAStrictHttpOnlySessionAndSigningOutEndsIt() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            var browser = StudioBrowser(http)
            let first = try await browser.get("/studio/runs")
            #expect(first.status == .seeOther && first.location == "/studio/sign-in")

            let signInForm = try await browser.get("/studio/sign-in")
            #expect(signInForm.status == .ok && signInForm.html.contains(#"<form id="sign-in""#))
            let landed = try await browser.post("/studio/sign-in", [("csrf", signInForm.csrf ?? ""), ("key", key)])
            #expect(landed.status == .seeOther && landed.location == "/studio/runs")
            let setCookie = landed.headers[values: .setCookie].first { $0.hasPrefix("cairn_studio=") } ?? ""
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"))
            #expect(!setCookie.contains("Secure"), "no TLS here")
            #expect(!setCookie.contains(key) && !landed.html.contains(key))

            let list = try await browser.get("/studio/runs")
            #expect(list.status == .ok && list.html.contains(#"<p class="empty">"#))
            #expect(list.html.contains("tenant <b>acme</b>"))

            // Sign-out needs the session's CSRF token; then the same cookie opens nothing.
            let session = try #require(browser.cookies["cairn_studio"])
            let forged = try await browser.post("/studio/sign-out", [("csrf", "0123")])
            #expect(forged.status == .forbidden)
            #expect(try await browser.get("/studio/runs").status == .ok)
            let out = try await browser.post("/studio/sign-out", [("csrf", list.csrf ?? "")])
            #expect(out.status == .seeOther && out.location == "/studio/sign-in")
            browser.cookies["cairn_studio"] = session
            #expect(try await browser.get("/studio/runs").location == "/studio/sign-in")
        }
    }

    @Test func behindTLSTheSessionCookieIsSecure() async throws {
        try await TestServer(apiKey: Self.root, configure: { $0.publicURL = "https://cairn.example" }).test { http in
            var browser = StudioBrowser(http)
            let landed = try await browser.signIn(Self.root)
            #expect(landed.status == .seeOther)
            #expect(
                landed.headers[values: .setCookie].contains { $0.hasPrefix("cairn_studio=") && $0.contains("Secure") })
        }
    }

    @Test func badSignInsSayWhyAndSetNoSession() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            var browser = StudioBrowser(http)
            let wrong = try await browser.signIn("cairn_" + String(repeating: "0", count: 64))
            #expect(wrong.status == .unauthorized && wrong.html.contains(#"class="error" role="alert""#))
            #expect(browser.cookies["cairn_studio"] == nil)
            let empty = try await browser.signIn("")
            #expect(empty.status == .badRequest && browser.cookies["cairn_studio"] == nil)
            // Without the sign-in form's token (a cross-site post): refused.
            var stranger = StudioBrowser(http)
            let forged = try await stranger.post(
                "/studio/sign-in", [("csrf", "0" + String(repeating: "a", count: 31)), ("key", Self.root)])
            #expect(forged.status == .forbidden && stranger.cookies["cairn_studio"] == nil)
            // A form that is not a form.
            let garbage = try await browser.send(.post, "/studio/sign-in", "%zz=%")
            #expect(garbage.status == .badRequest)
            let huge = try await browser.send(.post, "/studio/sign-in", "key=" + String(repeating: "a", count: 70_000))
            #expect(huge.status == .contentTooLarge)
        }
    }

    @Test func aGateIsApprovedOnceWithItsCommentAndTheRunPageShowsIt() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let (run, gate) = try await Self.gatedRun(http.authorized(key))
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let page = try await browser.get("/studio/runs/\(run)")
            #expect(page.status == .ok && page.gateId == gate)
            #expect(page.html.contains("Ship &lt;it&gt;?"), "the prompt is escaped")
            #expect(page.html.contains(#"<form id="cancel""#))
            let csrf = try #require(page.csrf)

            let approved = try await browser.post(
                "/studio/runs/\(run)/gates/\(gate)", [("csrf", csrf), ("decision", "approve"), ("comment", "ok <b>")])
            #expect(approved.status == .seeOther && approved.location == "/studio/runs/\(run)")
            let resolved = try await http.authorized(key).get("/runs/\(run)/gates/\(gate)")
            #expect(resolved.json["gate"]?["status"] == .string("approved"))
            #expect(resolved.json["gate"]?["decisionPayload"]?["comment"] == .string("ok <b>"))
            #expect(resolved.json["gate"]?["actor"]?.stringValue?.hasPrefix("studio:key_") == true)

            // A second decision: the first stands, and the page says so.
            let again = try await browser.post(
                "/studio/runs/\(run)/gates/\(gate)", [("csrf", csrf), ("decision", "reject")])
            #expect(again.status == .conflict && again.html.contains("the first decision stands"))
            #expect(
                try await http.authorized(key).get("/runs/\(run)/gates/\(gate)").json["gate"]?["status"]
                    == .string("approved"))
            let after = try await browser.get("/studio/runs/\(run)")
            #expect(after.html.contains("ok &lt;b&gt;") && after.gateId == nil)
        }
    }

    @Test func formsWithoutTheSessionsTokenOrFromAReadOnlyKeyChangeNothing() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let writer = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let reader = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"])
            let (run, gate) = try await Self.gatedRun(http.authorized(writer))
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(writer)
            for csrf in ["", "wrong", String(repeating: "f", count: 32)] {
                let forged = try await browser.post(
                    "/studio/runs/\(run)/gates/\(gate)", [("csrf", csrf), ("decision", "approve")])
                #expect(forged.status == .forbidden && forged.html.contains("nothing was changed"))
                #expect(try await browser.post("/studio/runs/\(run)/cancel", [("csrf", csrf)]).status == .forbidden)
            }
            let csrf = try #require(try await browser.get("/studio/runs/\(run)").csrf)
            let badDecision = try await browser.post(
                "/studio/runs/\(run)/gates/\(gate)", [("csrf", csrf), ("decision", "maybe")])
            #expect(badDecision.status == .badRequest)
            let longComment = try await browser.post(
                "/studio/runs/\(run)/gates/\(gate)",
                [("csrf", csrf), ("decision", "approve"), ("comment", String(repeating: "x", count: 2001))])
            #expect(longComment.status == .badRequest)

            var readOnly = StudioBrowser(http)
            _ = try await readOnly.signIn(reader)
            let page = try await readOnly.get("/studio/runs/\(run)")
            #expect(page.status == .ok && page.html.contains("approve"))
            #expect(!page.html.contains(#"name="decision""#) && !page.html.contains(#"id="cancel""#))
            let readerCSRF = try #require(page.csrf)
            let refused = try await readOnly.post(
                "/studio/runs/\(run)/gates/\(gate)", [("csrf", readerCSRF), ("decision", "approve")])
            #expect(refused.status == .forbidden && refused.html.contains("write scope"))
            #expect(try await readOnly.post("/studio/runs/\(run)/cancel", [("csrf", readerCSRF)]).status == .forbidden)

            let state = try await http.authorized(writer).get("/runs/\(run)")
            #expect(state.json["run"]?["status"] == .string("pending"))
            #expect(
                try await http.authorized(writer).get("/runs/\(run)/gates/\(gate)").json["gate"]?["status"]
                    == .string("pending"))
        }
    }

    @Test func anotherTenantsRunsCannotBeSeenOrTouchedByGuessingTheirURLs() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let acme = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let globex = try await http.newKey(root: Self.root, tenant: "globex", scopes: ["admin"])
            let (run, gate) = try await Self.gatedRun(http.authorized(acme))
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(globex)
            let list = try await browser.get("/studio/runs")
            #expect(list.status == .ok && !list.html.contains(run))
            let page = try await browser.get("/studio/runs/\(run)")
            #expect(page.status == .notFound && !page.html.contains("Ship"))
            #expect(try await browser.get("/studio/runs/\(run)?part=live").status == .notFound)
            let csrf = try #require(list.csrf)
            let approve = try await browser.post(
                "/studio/runs/\(run)/gates/\(gate)", [("csrf", csrf), ("decision", "approve")])
            #expect(approve.status == .notFound)
            #expect(try await browser.post("/studio/runs/\(run)/cancel", [("csrf", csrf)]).status == .notFound)
            #expect(try await http.authorized(acme).get("/runs/\(run)").json["run"]?["status"] == .string("pending"))
            #expect(
                try await http.authorized(acme).get("/runs/\(run)/gates/\(gate)").json["gate"]?["status"]
                    == .string("pending"))
        }
    }

    @Test func revokingTheKeyEndsItsSessions() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            #expect(try await browser.get("/studio/runs").status == .ok)
            let keyId = try #require(
                try await http.authorized(Self.root).get("/admin/keys").json["keys"]?.arrayValue?.first?["id"]?
                    .stringValue)
            #expect(try await http.authorized(Self.root).call(.delete, "/admin/keys/\(keyId)").status == .ok)
            #expect(try await browser.get("/studio/runs").location == "/studio/sign-in")
            let post = try await browser.post("/studio/sign-out", [("csrf", "x")])
            #expect(post.status == .unauthorized)
        }
    }

    @Test func cancellingARunAndListingFilteringAndPaging() async throws {
        let clock = ManualClock()
        try await TestServer(apiKey: Self.root, clock: clock).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let api = http.authorized(key)
            var ids: [String] = []
            for i in 0..<(StudioRunPages<CairnRequestContext>.pageSize + 3) {
                clock.advance(milliseconds: 1)  // ids are random: creation times order the runs
                ids.append(try await api.newRun(i % 2 == 0 ? "even" : "odd"))
            }
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let first = try await browser.get("/studio/runs")
            #expect(
                first.html.components(separatedBy: "<tr data-run-id=").count - 1
                    == StudioRunPages<CairnRequestContext>.pageSize)
            let next = try #require(first.attribute(after: #"<a rel="next" href=""#))
            let second = try await browser.get(next.replacingOccurrences(of: "&amp;", with: "&"))
            #expect(second.html.components(separatedBy: "<tr data-run-id=").count - 1 == 3)
            #expect(second.html.contains(ids[0]) && !first.html.contains(ids[0]))

            let odd = try await browser.get("/studio/runs?workflow=odd&status=pending")
            #expect(odd.status == .ok && odd.html.contains(ids[1]) && !odd.html.contains(ids[0]))
            let oldest = try await browser.get("/studio/runs?order=asc")
            #expect(oldest.html.contains(#"<option value="asc" selected>"#))
            let oldestRows = oldest.html.components(separatedBy: "<tr data-run-id=\"").dropFirst().map {
                String($0.prefix { $0 != "\"" })
            }
            #expect(oldestRows == Array(ids.prefix(StudioRunPages<CairnRequestContext>.pageSize)))
            let newer = try #require(oldest.attribute(after: #"<a rel="next" href=""#))
            #expect(newer.contains("order=asc") && oldest.html.contains("Newer runs →"))
            let tail = try await browser.get(newer.replacingOccurrences(of: "&amp;", with: "&"))
            #expect(tail.html.contains(ids.last!) && !tail.html.contains(ids[0]) && !tail.html.contains(#"rel="next""#))
            let none = try await browser.get("/studio/runs?workflow=nothing")
            #expect(none.html.contains(#"<p class="empty">"#) && none.html.contains("match this filter"))
            for bad in [
                "status=sleeping", "after=garbage", "order=sideways", "workflow=" + String(repeating: "w", count: 201),
            ] {
                let page = try await browser.get("/studio/runs?\(bad)")
                #expect(page.status == .badRequest && page.html.contains(#"role="alert""#), "\(bad)")
            }
            #expect(try await browser.get("/studio/runs/\(ids[0])?before=-1").status == .badRequest)

            let csrf = try #require(first.csrf)
            let cancelled = try await browser.post(
                "/studio/runs/\(ids[0])/cancel", [("csrf", csrf), ("reason", "not needed")])
            #expect(cancelled.status == .seeOther)
            let page = try await browser.get("/studio/runs/\(ids[0])")
            #expect(page.html.contains(#"id="run-status" class="badge cancelled""#) && page.html.contains("not needed"))
            #expect(!page.html.contains(#"id="cancel""#))
        }
    }

    @Test func anOpenServerIsEnteredWithoutAKeyUntilOneExists() async throws {
        try await TestServer().test { http in
            var browser = StudioBrowser(http)
            let form = try await browser.get("/studio/sign-in")
            #expect(form.html.contains(#"name="open""#))
            let landed = try await browser.post("/studio/sign-in", [("csrf", form.csrf ?? ""), ("open", "1")])
            #expect(landed.status == .seeOther)
            #expect(try await browser.get("/studio/runs").status == .ok)
            // The first key closes the server, and the open session with it.
            _ = try await http.post("/admin/keys", #"{"tenant":"acme","scopes":["read"]}"#)
            #expect(try await browser.get("/studio/runs").location == "/studio/sign-in")
            var late = StudioBrowser(http)
            let closedForm = try await late.get("/studio/sign-in")
            #expect(!closedForm.html.contains(#"name="open""#))
            let refused = try await late.post("/studio/sign-in", [("csrf", closedForm.csrf ?? ""), ("open", "1")])
            #expect(refused.status == .badRequest && late.cookies["cairn_studio"] == nil)
        }
    }

    @Test func aRunPageShowsANewestPageOfALongHistory() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let api = http.authorized(key)
            let run = try await api.newRun()
            for i in 0..<120 {
                _ = try await api.post(
                    "/runs/\(run)/usage",
                    #"{"kind":"llm","model":"m","inputTokens":\#(i),"outputTokens":1,"costUsd":0.001}"#)
            }
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let page = try await browser.get("/studio/runs/\(run)")
            let shown = page.html.components(separatedBy: "<li data-seq=").count - 1
            #expect(shown == StudioRunPages<CairnRequestContext>.eventPageSize)
            let older = try #require(page.attribute(after: #"<a rel="next" href=""#))
            let rest = try await browser.get(older)
            #expect(rest.status == .ok && rest.html.contains(#"data-live="0""#))
            #expect(rest.html.contains(#"<li data-seq="1">"#))
            // 120 entries: input 0…119 plus one output token each, $0.001 each; the newest 50 listed.
            let totals = #"<p id="usage-total">7260 tokens · $0.1200 · 120 entries, the newest 50 below</p>"#
            #expect(page.html.contains(totals))
            #expect(page.html.components(separatedBy: "<td>llm</td>").count - 1 == RunOverview.maxUsage)
        }
    }

    @Test func stateVersionsAreComparedChildrenDrawnAsATreeAndARunRetriedAfterAStep() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let api = http.authorized(key)
            let run = try await api.newRun("pipeline")
            let owner = try #require(try await api.post("/runs/\(run)/begin", nil).json["leaseOwner"]?.stringValue)
            let begun = try await api.post(
                "/runs/\(run)/steps/begin", #"{"name":"plan","inputHash":"h","leaseOwner":"\#(owner)"}"#)
            let stepId = try #require(begun.json["step"]?["id"]?.stringValue)
            _ = try await api.post("/runs/\(run)/steps/\(stepId)/complete", #"{"leaseOwner":"\#(owner)","output":1}"#)
            _ = try await api.call(.put, "/runs/\(run)/state", #"{"value":{"a":1,"b":2}}"#)
            _ = try await api.call(.put, "/runs/\(run)/state", #"{"value":{"a":5,"c":3}}"#)
            let child = try await api.post("/runs/\(run)/children", #"{"name":"fan-1","workflowName":"leaf"}"#)
            let childId = try #require(child.json["run"]?["id"]?.stringValue, "\(child.text)")
            let grand = try await api.post("/runs/\(childId)/children", #"{"name":"deep","workflowName":"leaf2"}"#)
            let grandId = try #require(grand.json["run"]?["id"]?.stringValue)

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let page = try await browser.get("/studio/runs/\(run)")
            #expect(page.html.contains(childId) && page.html.contains(grandId))
            #expect(page.html.contains(#"style="margin-left:1.50rem"><span class="name">deep</span>"#))
            let versions = try await api.get("/runs/\(run)/state/versions")
            let ids = (versions.json["stateVersions"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
            #expect(ids.count == 2, "\(versions.text)")
            let diff = try await browser.get("/studio/runs/\(run)?from=\(ids[0])&to=\(ids[1])")
            #expect(diff.status == .ok && diff.html.contains(#"id="diff""#))
            #expect(diff.html.contains("+ c") && diff.html.contains("− b") && diff.html.contains("~ a"))
            #expect(try await browser.get("/studio/runs/\(run)?from=\(ids[0])&to=nope").status == .badRequest)

            let csrf = try #require(page.csrf)
            #expect(
                try await browser.post("/studio/runs/\(run)/fork", [("csrf", csrf), ("step", "nope")]).status
                    == .badRequest)
            let forked = try await browser.post("/studio/runs/\(run)/fork", [("csrf", csrf), ("step", "plan")])
            let location = try #require(forked.location)
            #expect(forked.status == .seeOther && location.hasPrefix("/studio/runs/run_") && !location.hasSuffix(run))
            let forkPage = try await browser.get(location)
            #expect(forkPage.html.contains("Forked from") && forkPage.html.contains(run))
            // The parent lists its forks, newest first, a page at a time.
            let forkId = String(location.dropFirst("/studio/runs/".count))
            var forkIds = [forkId]
            for _ in 0..<StudioRunPages<CairnRequestContext>.forkPageSize {
                let reply = try await api.post("/runs/\(run)/fork", #"{"step":"plan"}"#)
                forkIds.append(try #require(reply.json["run"]?["id"]?.stringValue))
            }
            let parentPage = try await browser.get("/studio/runs/\(run)")
            let shown = parentPage.html.components(separatedBy: "<li data-fork=").count - 1
            #expect(
                shown == StudioRunPages<CairnRequestContext>.forkPageSize
                    && parentPage.html.contains("Forks of this run"))
            let older = try #require(parentPage.attribute(after: #"<p class="pager"><a rel="next" href=""#))
            let rest = try await browser.get(older.replacingOccurrences(of: "&amp;", with: "&"))
            #expect(rest.status == .ok && rest.html.components(separatedBy: "<li data-fork=").count - 1 == 1)
            #expect(rest.html.contains(#"data-live="0""#))
            let all = parentPage.html + rest.html
            #expect(forkIds.allSatisfy { all.contains(#"<li data-fork="\#($0)""#) })
            #expect(try await browser.get("/studio/runs/\(run)?forks_after=bad").status == .badRequest)
        }
    }

    @Test func aRunWithManyStepsShowsTheNewestPageAndPagesBack() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let api = http.authorized(key)
            let run = try await api.newRun("long")
            let owner = try #require(try await api.post("/runs/\(run)/begin", nil).json["leaseOwner"]?.stringValue)
            let total = StudioRunPages<CairnRequestContext>.stepPageSize + 5
            for i in 0..<total {
                let begun = try await api.post(
                    "/runs/\(run)/steps/begin", #"{"name":"s\#(i)","inputHash":"h","leaseOwner":"\#(owner)"}"#)
                let stepId = try #require(begun.json["step"]?["id"]?.stringValue)
                _ = try await api.post("/runs/\(run)/steps/\(stepId)/complete", #"{"leaseOwner":"\#(owner)"}"#)
            }
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let page = try await browser.get("/studio/runs/\(run)")
            let shown = page.html.components(separatedBy: "<li data-step=").count - 1
            #expect(shown == StudioRunPages<CairnRequestContext>.stepPageSize)
            #expect(page.html.contains(#"data-step="s\#(total - 1)""#) && !page.html.contains(#"data-step="s0""#))
            let older = try #require(page.attribute(after: #"<a rel="prev" href=""#))
            let rest = try await browser.get(older.replacingOccurrences(of: "&amp;", with: "&"))
            #expect(rest.status == .ok && rest.html.components(separatedBy: "<li data-step=").count - 1 == 5)
            #expect(rest.html.contains(#"data-step="s0""#) && rest.html.contains(#"data-live="0""#))
            #expect(try await browser.get("/studio/runs/\(run)?steps_before=nonsense").status == .badRequest)
        }
    }
}
