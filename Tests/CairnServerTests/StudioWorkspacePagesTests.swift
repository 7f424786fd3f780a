import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import CairnServer

/// Studio's workspace and artifact pages.
@Suite struct StudioWorkspacePagesTests {
    static let root = "studio-root-key-0123456789"
    static let acme = TenantID(rawValue: "acme")

    /// Writes `text` as `key` through the workspace service, as the S3 listener would.
    static func put(
        _ workspaces: WorkspaceService, _ bucket: String, _ key: String, _ text: String,
        type: String = "text/plain", tenant: TenantID = acme
    ) async throws {
        let write = try workspaces.beginWrite()
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBytes { try write.write($0) }
        var digest = ObjectDigest(.md5)
        digest.update(bytes)
        _ = try await workspaces.putObject(
            tenant: tenant, bucket: bucket, key: key, write: write, md5: try #require(digest.finalize().md5),
            headers: ObjectHeaders([("content-type", type)]))
    }

    /// The unescaped value of the first `href` after `marker`.
    static func href(_ page: StudioBrowser.Page, after marker: String) -> String? {
        guard let start = page.html.range(of: marker) else { return nil }
        let rest = page.html[start.lowerBound...]
        guard let h = rest.range(of: #"href=""#) else { return nil }
        return String(rest[h.upperBound...].prefix { $0 != "\"" }).replacingOccurrences(of: "&amp;", with: "&")
    }

    // MARK: Workspaces

    @Test func bucketsTheTreeAndObjectsAtASnapshotRenderEscapedAndDownloadAsOfThatSnapshot() async throws {
        let s = try TestServer(apiKey: Self.root)
        let workspaces = s.server.workspaces
        try await s.test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"])
            _ = try await workspaces.createBucket(tenant: Self.acme, name: "work", snapshotsEnabled: true)
            try await Self.put(workspaces, "work", "a.txt", "version one")
            try await Self.put(workspaces, "work", "dir/<b>.txt", "bold", type: "text/html")
            let snap = try await workspaces.snapshot(tenant: Self.acme, bucket: "work", snapshotName: "before <x>")
            try await Self.put(workspaces, "work", "a.txt", "version two")
            _ = try await workspaces.fork(
                tenant: Self.acme, name: "work-try", source: "work", snapshotVersion: snap.version)
            _ = try await workspaces.createBucket(tenant: Self.acme, name: "scratch", snapshotsEnabled: false)
            try await workspaces.setLifecycle(
                tenant: Self.acme, bucket: "scratch",
                xml: "<LifecycleConfiguration><Rule><ID>tmp</ID><Filter><Prefix>tmp/</Prefix></Filter>"
                    + "<Status>Enabled</Status><Expiration><Days>7</Days></Expiration></Rule></LifecycleConfiguration>"
            )

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let list = try await browser.get("/studio/workspaces")
            #expect(list.status == .ok)
            #expect(list.html.contains(#"<a href="/studio/workspaces" aria-current="page">Workspaces</a>"#))
            for name in ["work", "work-try", "scratch"] { #expect(list.html.contains(#"data-bucket="\#(name)""#)) }
            #expect(list.html.contains("at snapshot <code>\(snap.version)</code>"), "the fork's source")
            #expect(list.html.contains("expire 7 days after written"))

            let page = try await browser.get("/studio/workspaces/work")
            #expect(page.status == .ok)
            #expect(page.html.contains(#"<svg id="tree" class="tree" role="img" aria-label="Snapshot and fork tree"#))
            #expect(page.html.contains("<title>Snapshot and fork tree of work: 1 snapshot, 1 fork</title>"))
            #expect(page.html.contains(#"<a href="/studio/workspaces/work-try">"#), "the fork is a node and a link")
            #expect(page.html.contains(#"<li data-snapshot="\#(snap.version)">"#))
            #expect(page.html.contains("“before &lt;x&gt;”") && !page.html.contains("before <x>"))
            #expect(page.html.contains(#"<tr data-key="a.txt">"#))
            #expect(page.html.contains(#"<a href="/studio/workspaces/work?prefix=dir%2F">dir/</a>"#))
            #expect(!page.html.contains("<b>.txt"))

            let folder = try await browser.get("/studio/workspaces/work?prefix=dir%2F")
            #expect(folder.status == .ok && folder.html.contains("<code>&lt;b&gt;.txt</code>"))
            #expect(!folder.html.contains(#"data-key="a.txt""#))
            let bold = try await browser.get(try #require(Self.href(folder, after: #"<a class="download""#)))
            #expect(bold.status == .ok && bold.html == "bold")
            #expect(bold.headers[.contentType] == "text/html")
            #expect(bold.headers[.contentSecurityPolicy]?.hasPrefix("sandbox") == true)

            // Live: v2. At the snapshot: v1, with the snapshot in the download link.
            let live = try await browser.get(try #require(Self.href(page, after: #"<a class="download""#)))
            #expect(live.status == .ok && live.html == "version two")
            #expect(live.headers[.contentType] == "text/plain")
            #expect(live.headers[.contentDisposition]?.hasPrefix(#"attachment; filename="a.txt""#) == true)
            #expect(live.headers[.contentLength] == "11")
            let atSnapshot = try await browser.get("/studio/workspaces/work?snapshot=\(snap.version)")
            #expect(atSnapshot.status == .ok && atSnapshot.html.contains(#"role="status">As of snapshot"#))
            let old = try #require(Self.href(atSnapshot, after: #"<a class="download""#))
            #expect(old.contains("snapshot=\(snap.version)"))
            let v1 = try await browser.get(old)
            #expect(v1.status == .ok && v1.html == "version one")

            // The fork reads through its source as of the snapshot, and links back to it.
            let fork = try await browser.get("/studio/workspaces/work-try")
            #expect(fork.status == .ok && fork.html.contains("<dt>Fork of</dt>"))
            #expect(fork.html.contains(#"href="/studio/workspaces/work?snapshot=\#(snap.version)""#))
            let forked = try await browser.get("/studio/workspaces/work-try/object?key=a.txt")
            #expect(forked.html == "version one")

            let missing = try await browser.get("/studio/workspaces/work/object?key=nothing")
            #expect(missing.status == .notFound && missing.html.contains("Object not found"))
            let scratch = try await browser.get("/studio/workspaces/scratch")
            #expect(scratch.status == .ok && scratch.html.contains(#"id="no-objects""#))
            #expect(scratch.html.contains("No snapshots or forks") && scratch.html.contains(#"<ul id="lifecycle">"#))
        }
    }

    @Test func objectsAreListedInPagesAndNotificationsShowWithoutTheirSecret() async throws {
        let s = try TestServer(apiKey: Self.root)
        let workspaces = s.server.workspaces
        try await s.test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"])
            _ = try await workspaces.createBucket(tenant: Self.acme, name: "many", snapshotsEnabled: false)
            try await workspaces.setNotifications(
                tenant: Self.acme, bucket: "many",
                settings: ObjectNotificationSettings(
                    enabled: true, webHook: "https://hooks.example/in", filter: "`key` LIKE 'k%'",
                    auth: .token("sekret-token")))
            let count = StudioWorkspacePages<CairnRequestContext>.objectPageSize + 2
            for i in 0..<count { try await Self.put(workspaces, "many", "k\(1000 + i)", "x") }

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let first = try await browser.get("/studio/workspaces/many")
            #expect(first.status == .ok)
            #expect(
                first.html.components(separatedBy: "<tr data-key=").count - 1
                    == StudioWorkspacePages<CairnRequestContext>.objectPageSize)
            let next = try #require(Self.href(first, after: #"<a rel="next""#))
            let second = try await browser.get(next)
            #expect(second.html.components(separatedBy: "<tr data-key=").count - 1 == 2)
            #expect(second.html.contains(#"data-key="k\#(1000 + count - 1)""#))

            #expect(first.html.contains("<code>https://hooks.example/in</code>"))
            #expect(first.html.contains("<code>`key` LIKE &#39;k%&#39;</code>"))
            #expect(first.html.contains("bearer token ****") && !first.html.contains("sekret"))
            #expect(first.html.contains(#"<table id="deliveries">"#) && first.html.contains("OBJECT_CREATED_PUT"))
            let shown = first.html.components(separatedBy: "<tr data-delivery=").count - 1
            #expect(shown == StudioWorkspacePages<CairnRequestContext>.deliveryCount)
        }
    }

    @Test func anotherTenantsBucketIsNotFoundLikeAMissingOneAndBadQueriesAre400() async throws {
        let s = try TestServer(apiKey: Self.root)
        let workspaces = s.server.workspaces
        try await s.test { http in
            let acme = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"])
            let globex = try await http.newKey(root: Self.root, tenant: "globex", scopes: ["admin"])
            _ = try await workspaces.createBucket(tenant: Self.acme, name: "secret", snapshotsEnabled: true)
            try await Self.put(workspaces, "secret", "plans.txt", "classified")

            var stranger = StudioBrowser(http)
            _ = try await stranger.signIn(globex)
            let list = try await stranger.get("/studio/workspaces")
            #expect(list.status == .ok && !list.html.contains("secret"))
            #expect(list.html.contains(#"id="no-buckets""#) && list.html.contains("s3 mb s3://work"))
            #expect(list.html.contains("port <b>7374</b>"))
            let theirs = try await stranger.get("/studio/workspaces/secret")
            let nowhere = try await stranger.get("/studio/workspaces/nowhere")
            #expect(theirs.status == .notFound && nowhere.status == .notFound)
            #expect(
                theirs.html.replacingOccurrences(of: "secret", with: "X")
                    == nowhere.html.replacingOccurrences(of: "nowhere", with: "X"))
            let download = try await stranger.get("/studio/workspaces/secret/object?key=plans.txt")
            #expect(download.status == .notFound && !download.html.contains("classified"))
            #expect(try await stranger.get("/studio/workspaces/NOT_A_BUCKET").status == .notFound)

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(acme)
            let long = String(repeating: "p", count: 1025)
            for bad in [
                "/studio/workspaces/secret?snapshot=abc", "/studio/workspaces/secret?snapshot=-1",
                "/studio/workspaces/secret?snapshot=99999999999999999999", "/studio/workspaces/secret?prefix=\(long)",
                "/studio/workspaces/secret?after=\(long)", "/studio/workspaces/secret?prefix=%zz",
                "/studio/workspaces/secret?prefix=a&prefix=b", "/studio/workspaces?after=Not_A_Bucket",
                "/studio/workspaces/secret/object", "/studio/workspaces/secret/object?key=",
                "/studio/workspaces/secret/object?key=\(long)", "/studio/workspaces/secret/object?key=a&snapshot=x",
            ] {
                let page = try await browser.get(bad)
                #expect(page.status == .badRequest && page.html.contains(#"role="alert""#), "\(bad)")
            }
            let noSnapshot = try await browser.get("/studio/workspaces/secret?snapshot=12345")
            #expect(noSnapshot.status == .notFound && noSnapshot.html.contains("Snapshot not found"))
            let page = try await browser.get("/studio/workspaces/secret")
            #expect(page.status == .ok && page.html.contains(#"data-key="plans.txt""#))
            #expect(page.html.contains("No snapshots or forks") && page.html.contains("create_snapshot"))
            let empty = try await browser.get("/studio/workspaces/secret?prefix=nothing%2F")
            #expect(empty.status == .ok && empty.html.contains("Nothing here."))
        }
    }

    // MARK: Artifacts

    @Test func artifactsListShowDownloadAndDeleteWithTheRefusalsChangingNothing() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let writer = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["write"])
            let reader = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read"])
            let globex = try await http.newKey(root: Self.root, tenant: "globex", scopes: ["admin"])
            let api = http.authorized(writer)
            let bytes = Array("<script>alert(1)</script>".utf8)
            let uploaded = try await api.upload(
                bytes, query: "name=reports%2F%3Cr%3E.html&owner=agent-7",
                headers: [.contentType: "text/html", HTTPField.Name("x-cairn-meta-stage")!: "<final>"])
            #expect(uploaded.status == .created, "\(uploaded.text)")
            let id = try #require(uploaded.json["artifact"]?["id"]?.stringValue)

            var browser = StudioBrowser(http)
            _ = try await browser.signIn(writer)
            let list = try await browser.get("/studio/artifacts")
            #expect(list.status == .ok && list.html.contains(#"<tr data-artifact-id="\#(id)">"#))
            #expect(list.html.contains("reports/&lt;r&gt;.html") && !list.html.contains("<r>"))
            #expect(list.html.contains(#"<a href="/studio/artifacts" aria-current="page">Artifacts</a>"#))
            let filtered = try await browser.get("/studio/artifacts?prefix=other")
            #expect(filtered.html.contains(#"id="no-artifacts""#) && filtered.html.contains("match this filter"))
            #expect(try await browser.get("/studio/artifacts?owner=agent-7").html.contains(id))

            let page = try await browser.get("/studio/artifacts/\(id)")
            #expect(page.status == .ok && page.html.contains(sha256Hex(bytes)))
            #expect(page.html.contains("<dd>&lt;final&gt;</dd>") || page.html.contains("<td>&lt;final&gt;</td>"))
            #expect(page.html.contains(#"<form id="delete""#) && page.html.contains("<code>text/html</code>"))
            let download = try await browser.get(try #require(Self.href(page, after: #"<a id="download""#)))
            #expect(download.status == .ok && Array(download.html.utf8) == bytes)
            #expect(download.headers[.contentDisposition]?.hasPrefix("attachment;") == true)
            #expect(download.headers[.contentType] == "text/html")
            #expect(download.headers[.contentSecurityPolicy]?.hasPrefix("sandbox") == true)

            // Refusals: a forged token, a read-only key (no button), another tenant (404).
            for csrf in ["", "wrong", String(repeating: "f", count: 32)] {
                let forged = try await browser.post("/studio/artifacts/\(id)/delete", [("csrf", csrf)])
                #expect(forged.status == .forbidden && forged.html.contains("nothing was changed"))
            }
            var readOnly = StudioBrowser(http)
            _ = try await readOnly.signIn(reader)
            let seen = try await readOnly.get("/studio/artifacts/\(id)")
            #expect(seen.status == .ok && !seen.html.contains(#"<form id="delete""#))
            let refused = try await readOnly.post("/studio/artifacts/\(id)/delete", [("csrf", try #require(seen.csrf))])
            #expect(refused.status == .forbidden && refused.html.contains("write scope"))
            var stranger = StudioBrowser(http)
            _ = try await stranger.signIn(globex)
            let strangerList = try await stranger.get("/studio/artifacts")
            #expect(!strangerList.html.contains(id) && strangerList.html.contains("curl -X POST"))
            #expect(try await stranger.get("/studio/artifacts/\(id)").status == .notFound)
            #expect(try await stranger.get("/studio/artifacts/\(id)/download").status == .notFound)
            let theirs = try await stranger.post(
                "/studio/artifacts/\(id)/delete", [("csrf", try #require(strangerList.csrf))])
            #expect(theirs.status == .notFound)
            #expect(try await api.get("/artifacts/\(id)/metadata").status == .ok, "nothing was deleted")

            let deleted = try await browser.post("/studio/artifacts/\(id)/delete", [("csrf", try #require(page.csrf))])
            #expect(deleted.status == .seeOther && deleted.location == "/studio/artifacts?deleted=\(id)")
            #expect(try await api.get("/artifacts/\(id)/metadata").status == .notFound)
            let after = try await browser.get(try #require(deleted.location))
            #expect(after.html.contains("Artifact \(id) was deleted.") && after.html.contains(#"id="no-artifacts""#))
            #expect(try await browser.get("/studio/artifacts/\(id)").status == .notFound)
            let again = try await browser.post("/studio/artifacts/\(id)/delete", [("csrf", try #require(page.csrf))])
            #expect(again.status == .notFound)

            for bad in ["after=garbage", "deleted=nope", "prefix=%zz", "owner=" + String(repeating: "o", count: 257)] {
                let reply = try await browser.get("/studio/artifacts?\(bad)")
                #expect(reply.status == .badRequest && reply.html.contains(#"role="alert""#), "\(bad)")
            }
        }
    }

    @Test func artifactsArePagedByCursor() async throws {
        try await TestServer(apiKey: Self.root).test { http in
            let key = try await http.newKey(root: Self.root, tenant: "acme", scopes: ["read", "write"])
            let api = http.authorized(key)
            let size = StudioArtifactPages<CairnRequestContext>.pageSize
            for i in 0..<(size + 1) {
                _ = try await api.uploadedId([UInt8(i & 0xFF)], query: "name=a\(1000 + i).bin")
            }
            var browser = StudioBrowser(http)
            _ = try await browser.signIn(key)
            let first = try await browser.get("/studio/artifacts")
            #expect(first.html.components(separatedBy: "<tr data-artifact-id=").count - 1 == size)
            let next = try #require(Self.href(first, after: #"<a rel="next""#))
            let second = try await browser.get(next)
            #expect(second.status == .ok)
            #expect(second.html.components(separatedBy: "<tr data-artifact-id=").count - 1 == 1)
            #expect(second.html.contains("a\(1000 + size).bin"))
        }
    }
}
