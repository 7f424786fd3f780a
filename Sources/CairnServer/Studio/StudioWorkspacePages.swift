import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Workspaces: the tenant's S3 buckets (in pages by name), and a bucket's page: its facts and
/// lifecycle rules, its snapshots and forks drawn as a tree (inline SVG, and the same as a list),
/// its objects as of any snapshot (a folder at a time, in pages of the listing), each downloadable,
/// and its object notifications with their newest deliveries.
struct StudioWorkspacePages<Context: PrincipalContext>: Sendable {
    let auth: StudioAuth
    let workspaces: WorkspaceService
    /// The S3 listener's port, for the empty page's instructions (0: the listener is off).
    let s3Port: Int

    init(auth: StudioAuth, workspaces: WorkspaceService, s3Port: Int = 7374) {
        self.auth = auth
        self.workspaces = workspaces
        self.s3Port = s3Port
    }

    init(auth: StudioAuth, server: CairnServer) {
        self.init(auth: auth, workspaces: server.workspaces, s3Port: server.configuration.s3Port)
    }

    static var pageSize: Int { 50 }
    static var objectPageSize: Int { 100 }
    /// The newest snapshots drawn in the tree (and offered in the snapshot picker).
    static var treeSnapshots: Int { 30 }
    /// The forks drawn in the tree.
    static var treeForks: Int { 30 }
    static var deliveryCount: Int { 20 }
    static var maxKeyBytes: Int { 1024 }

    func register(on router: some RouterMethods<Context>) {
        router.get("/studio/workspaces") { request, _ in try await StudioPage.run { try await bucketList(request) } }
        router.get("/studio/workspaces/:bucket") { request, context in
            try await StudioPage.run { try await bucketPage(request, context) }
        }
        router.get("/studio/workspaces/:bucket/object") { request, context in
            try await StudioPage.run { try await download(request, context) }
        }
    }

    // MARK: Query strings

    static func query(_ request: Request, session: StudioSession, title: String, back: String) throws
        -> URLEncodedForm
    { try StudioQuery.form(request, session: session, title: title) }

    static func refuse(_ message: String, title: String, session: StudioSession) -> StudioPage.Refusal {
        StudioQuery.refuse(message, title: title, session: session)
    }

    /// A snapshot version as the pages pass it: 1 to 19 digits, positive; nil when empty.
    static func snapshotVersion(_ text: String?, session: StudioSession, title: String) throws -> Int64? {
        guard let text, !text.isEmpty else { return nil }
        guard text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int64(text),
            value > 0
        else { throw refuse("snapshot must be a snapshot version (a number).", title: title, session: session) }
        return value
    }

    // MARK: The list

    func bucketList(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request, needs: .read)
        let form = try Self.query(request, session: session, title: "Workspaces", back: "/studio/workspaces")
        var after: String?
        if let text = form["after"], !text.isEmpty {
            guard WorkspaceService.isValidBucketName(text) else {
                throw Self.refuse("after must be a bucket name.", title: "Workspaces", session: session)
            }
            after = text
        }
        // The service reads the tenant's buckets in one query (by name); a page of them is shown.
        let all = try await workspaces.buckets(tenant: session.tenant).sorted { $0.name < $1.name }
        let byId = Dictionary(all.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let rest = after.map { a in all.filter { $0.name > a } } ?? all
        let page = Array(rest.prefix(Self.pageSize))
        var view = StudioPage.base("Workspaces", session: session, section: "/studio/workspaces")
        view["hasBuckets"] = !page.isEmpty
        view["paged"] = after != nil
        view["s3Port"] = String(s3Port == 0 ? 7374 : s3Port)
        view["s3Off"] = s3Port == 0
        view["buckets"] = page.map { b -> [String: Any] in
            var item: [String: Any] = [
                "name": b.name, "href": "/studio/workspaces/" + StudioPage.pathSegment(b.name),
                "created": b.createdAt.iso8601, "snapshots": b.snapshotsEnabled ? "yes" : "no",
                "versioning": b.versioning.rawValue,
            ]
            if let parent = b.parent {
                var p: [String: Any] = ["name": parent.name, "version": String(parent.point), "linked": false]
                if let live = byId[parent.bucketId], live.name == parent.name {
                    p["linked"] = true
                    p["href"] =
                        "/studio/workspaces/" + StudioPage.pathSegment(live.name) + "?"
                        + StudioPage.query([("snapshot", String(parent.point))])
                }
                item["fork"] = p
            }
            let rules = Self.lifecycle(b.lifecycleXML)
            item["hasLifecycle"] = !rules.isEmpty
            item["lifecycle"] = rules.prefix(2).joined(separator: "; ") + (rules.count > 2 ? "; …" : "")
            return item
        }
        if rest.count > page.count, let last = page.last {
            view["next"] = "/studio/workspaces?" + StudioPage.query([("after", last.name)])
        }
        return StudioPage.html(.ok, StudioTemplates.render("workspaces", view))
    }

    /// The lifecycle rules in words, one line each (at most 20).
    static func lifecycle(_ xml: String?) -> [String] {
        guard let xml else { return [] }
        guard let config = try? LifecycleConfiguration(text: xml) else {
            return ["a lifecycle configuration that no longer parses (nothing expires)"]
        }
        var lines: [String] = config.rules.prefix(20).map { rule in
            var parts: [String] = []
            if let id = rule.id { parts.append("rule \(id)") }
            if !rule.enabled { parts.append("disabled") }
            var scope: [String] = []
            if !rule.filter.prefix.isEmpty { scope.append("under \(rule.filter.prefix)") }
            if let n = rule.filter.sizeGreaterThan { scope.append("larger than \(StudioByteCount.text(n))") }
            if let n = rule.filter.sizeLessThan { scope.append("smaller than \(StudioByteCount.text(n))") }
            parts.append("objects " + (scope.isEmpty ? "all" : scope.joined(separator: ", ")))
            switch rule.expiration {
            case .days(let days)?: parts.append("expire \(days) day\(days == 1 ? "" : "s") after written")
            case .date(let date)?: parts.append("expire on \(date.iso8601.prefix(10))")
            case nil: break
            }
            if let days = rule.noncurrentDays {
                parts.append("replaced versions go after \(days) day\(days == 1 ? "" : "s")")
            }
            if let keep = rule.newerNoncurrentVersions { parts.append("keeping \(keep) newer") }
            if rule.expiredObjectDeleteMarker { parts.append("lone delete markers removed") }
            if let days = rule.abortIncompleteUploadDays {
                parts.append("unfinished uploads aborted after \(days) day\(days == 1 ? "" : "s")")
            }
            return parts.joined(separator: ": ")
        }
        if config.rules.count > 20 { lines.append("and \(config.rules.count - 20) more rules") }
        return lines
    }

    // MARK: A bucket

    /// The tenant's live bucket, or nil: a name that is not a bucket name, a missing bucket and
    /// another tenant's are the same.
    func findBucket(_ name: String, session: StudioSession) async throws -> WorkspaceBucket? {
        guard WorkspaceService.isValidBucketName(name) else { return nil }
        do {
            return try await workspaces.bucket(tenant: session.tenant, name: name)
        } catch let error as S3Error where error.code == "NoSuchBucket" {
            return nil
        }
    }

    func bucketPage(_ request: Request, _ context: Context) async throws -> Response {
        let session = try await auth.viewer(request, needs: .read)
        let name = try request.pathParameter("bucket", context)
        let home = "/studio/workspaces/" + StudioPage.pathSegment(name)
        let title = "Workspace \(name)"
        let form = try Self.query(request, session: session, title: title, back: home)
        let selected = try Self.snapshotVersion(form["snapshot"], session: session, title: title)
        let prefix = form["prefix"] ?? ""
        guard prefix.utf8.count <= Self.maxKeyBytes else {
            throw Self.refuse("prefix is longer than \(Self.maxKeyBytes) bytes.", title: title, session: session)
        }
        var after: String?
        if let text = form["after"], !text.isEmpty {
            guard text.utf8.count <= Self.maxKeyBytes else {
                throw Self.refuse("after is longer than \(Self.maxKeyBytes) bytes.", title: title, session: session)
            }
            after = text
        }
        guard let bucket = try await findBucket(name, session: session) else {
            return StudioPage.notFound("Workspace", session: session)
        }
        do {
            return try await bucketPage(
                bucket, session: session, selected: selected, prefix: prefix, after: after)
        } catch let error as S3Error where error.code == "NoSuchBucket" {
            return StudioPage.notFound("Workspace", session: session)
        }
    }

    func bucketPage(
        _ bucket: WorkspaceBucket, session: StudioSession, selected: Int64?, prefix: String, after: String?
    ) async throws -> Response {
        let base = "/studio/workspaces/" + StudioPage.pathSegment(bucket.name)
        let snapshots = try await workspaces.snapshots(tenant: session.tenant, bucket: bucket.name)
            .sorted { $0.seq < $1.seq }
        if let selected, !snapshots.contains(where: { $0.seq == selected }) {
            return StudioPage.message(
                .notFound, "Snapshot not found", "Workspace \(bucket.name) has no snapshot \(selected).",
                session: session, back: base, backLabel: "The workspace")
        }
        let forks = try await workspaces.forks(of: bucket)
        var parentLive = false
        if let parent = bucket.parent, let found = try await findBucket(parent.name, session: session) {
            parentLive = found.id == parent.bucketId
        }

        var view = StudioPage.base("Workspace \(bucket.name)", session: session, section: "/studio/workspaces")
        view["name"] = bucket.name
        view["base"] = base
        view["created"] = bucket.createdAt.iso8601
        view["snapshotsEnabled"] = bucket.snapshotsEnabled
        view["versioning"] = bucket.versioning.rawValue
        view["snapshotCount"] = snapshots.count
        view["forkCount"] = forks.count
        if let parent = bucket.parent {
            var p: [String: Any] = ["name": parent.name, "version": String(parent.point), "linked": parentLive]
            if parentLive {
                p["href"] =
                    "/studio/workspaces/" + StudioPage.pathSegment(parent.name) + "?"
                    + StudioPage.query([("snapshot", String(parent.point))])
            }
            view["fork"] = p
        }
        let rules = Self.lifecycle(bucket.lifecycleXML)
        view["hasLifecycle"] = !rules.isEmpty
        view["lifecycle"] = rules

        // The tree.
        let tree = StudioWorkspaceTree(
            bucket: bucket, parentLive: parentLive, snapshots: snapshots, forks: forks, selected: selected,
            maxSnapshots: Self.treeSnapshots, maxForks: Self.treeForks)
        view.merge(tree.view) { _, new in new }

        // The snapshot picker and what is browsed.
        view["snapshotOptions"] = snapshots.suffix(Self.treeSnapshots).reversed().map { s -> [String: Any] in
            [
                "version": s.version, "label": (s.name.map { $0 + " · " } ?? "") + s.createdAt.iso8601,
                "selected": s.seq == selected,
            ]
        }
        view["hasSnapshotOptions"] = !snapshots.isEmpty
        view["olderSnapshotNotOffered"] =
            selected.map { v in !snapshots.suffix(Self.treeSnapshots).contains { $0.seq == v } } ?? false
        if let selected, let s = snapshots.first(where: { $0.seq == selected }) {
            view["at"] = [
                "version": s.version, "name": s.name ?? "", "named": s.name != nil, "created": s.createdAt.iso8601,
                "live": base + (prefix.isEmpty ? "" : "?" + StudioPage.query([("prefix", prefix)])),
            ]
        }
        view["prefix"] = prefix
        view["hasPrefix"] = !prefix.isEmpty
        view["selectedVersion"] = selected.map(String.init) ?? ""
        view["live"] = selected == nil

        func link(prefix: String, after: String? = nil) -> String {
            var items: [(String, String)] = []
            if let selected { items.append(("snapshot", String(selected))) }
            if !prefix.isEmpty { items.append(("prefix", prefix)) }
            if let after { items.append(("after", after)) }
            return items.isEmpty ? base : base + "?" + StudioPage.query(items)
        }
        var crumbs: [[String: Any]] = [["label": bucket.name, "href": link(prefix: "")]]
        var walked = ""
        for part in prefix.split(separator: "/", omittingEmptySubsequences: false).dropLast() {
            walked += part + "/"
            crumbs.append(["label": String(part) + "/", "href": link(prefix: walked)])
        }
        if !prefix.hasSuffix("/"), !prefix.isEmpty {
            crumbs.append(["label": String(prefix.split(separator: "/").last ?? ""), "href": link(prefix: prefix)])
        }
        view["crumbs"] = crumbs

        var query = ObjectListQuery()
        query.prefix = prefix
        query.delimiter = "/"
        query.after = after
        query.maxKeys = Self.objectPageSize
        let page = try await workspaces.list(
            tenant: session.tenant, bucket: bucket.name, query: query, snapshotVersion: selected.map(String.init))
        view["folders"] = page.commonPrefixes.map { p -> [String: Any] in
            ["label": String(p.dropFirst(prefix.count)), "href": link(prefix: p)]
        }
        view["objects"] = page.objects.map { o -> [String: Any] in
            var items = [("key", o.key)]
            if let selected { items.append(("snapshot", String(selected))) }
            return [
                "label": String(o.key.dropFirst(prefix.count)), "key": o.key, "size": StudioByteCount.text(o.size),
                "bytes": o.size, "etag": o.etag, "modified": o.createdAt.iso8601,
                "download": base + "/object?" + StudioPage.query(items),
            ]
        }
        view["hasEntries"] = !page.objects.isEmpty || !page.commonPrefixes.isEmpty
        view["browsingFolder"] = !prefix.isEmpty || after != nil
        if page.isTruncated, let last = page.last { view["nextObjects"] = link(prefix: prefix, after: last) }
        if after != nil { view["firstObjects"] = link(prefix: prefix) }

        // Notifications and their deliveries.
        if let text = bucket.notificationsJSON {
            if let settings = ObjectNotificationSettings(storedJSON: text) {
                var n: [String: Any] = [
                    "enabled": settings.enabled, "filter": settings.filter, "hasFilter": !settings.filter.isEmpty,
                    "webHook": settings.webHook ?? "", "hasWebHook": settings.webHook != nil,
                ]
                switch settings.auth {
                case .none: n["auth"] = "none"
                case .token: n["auth"] = "bearer token ****"
                case .basic(let user, _): n["auth"] = "basic, user \(user), password ****"
                }
                view["notifications"] = n
            } else {
                view["notificationsBroken"] = true
            }
        }
        let deliveries = try await workspaces.notificationDeliveries(
            tenant: session.tenant, bucket: bucket.name, limit: Self.deliveryCount)
        view["hasDeliveries"] = !deliveries.isEmpty
        view["deliveries"] = deliveries.map { d -> [String: Any] in
            var item: [String: Any] = [
                "id": d.id, "event": d.eventType, "status": d.status, "attempts": d.attempts,
                "created": d.createdAt.iso8601, "url": d.url, "key": "", "httpStatus": "", "error": "",
            ]
            if let key = (try? JSONParser.parse(d.payload))?["object"]?["key"]?.stringValue { item["key"] = key }
            if let status = d.httpStatus { item["httpStatus"] = status }
            if let error = d.errorText { item["error"] = String(error.prefix(300)) }
            return item
        }
        return StudioPage.html(.ok, StudioTemplates.render("workspace", view))
    }

    // MARK: Download

    func download(_ request: Request, _ context: Context) async throws -> Response {
        let session = try await auth.viewer(request, needs: .read)
        let name = try request.pathParameter("bucket", context)
        let title = "Download"
        let form = try Self.query(request, session: session, title: title, back: "/studio/workspaces")
        let selected = try Self.snapshotVersion(form["snapshot"], session: session, title: title)
        guard let key = form["key"], !key.isEmpty, key.utf8.count <= Self.maxKeyBytes else {
            throw Self.refuse(
                "key must be an object key of 1 to \(Self.maxKeyBytes) bytes.", title: title, session: session)
        }
        guard let bucket = try await findBucket(name, session: session) else {
            return StudioPage.notFound("Workspace", session: session)
        }
        let lookup: WorkspaceService.Lookup
        do {
            (_, lookup) = try await workspaces.lookup(
                tenant: session.tenant, bucket: bucket.name, key: key, snapshotVersion: selected.map(String.init))
        } catch let error as S3Error where error.code == "NoSuchBucket" {
            return StudioPage.notFound("Workspace", session: session)
        } catch let error as S3Error where error.code == "NoSuchSnapshot" {
            return StudioPage.message(
                .notFound, "Snapshot not found", "Workspace \(bucket.name) has no snapshot \(selected ?? 0).",
                session: session, back: "/studio/workspaces/" + StudioPage.pathSegment(bucket.name),
                backLabel: "The workspace")
        }
        guard case .found(let version) = lookup else {
            return StudioPage.message(
                .notFound, "Object not found",
                "Workspace \(bucket.name) has no object \(key)" + (selected.map { " at snapshot \($0)" } ?? "") + ".",
                session: session, back: "/studio/workspaces/" + StudioPage.pathSegment(bucket.name),
                backLabel: "The workspace")
        }
        var headers = HTTPFields()
        let type = version.headers["content-type"] ?? ""
        headers[.contentType] =
            ArtifactNames.problem(contentType: type) == nil ? type : "application/octet-stream"
        headers[.contentDisposition] = ArtifactRoutes<Context>.contentDisposition(name: key)
        // A file to save, never a page of this origin.
        headers[.contentSecurityPolicy] = "sandbox; default-src 'none'"
        headers[HTTPField.Name("x-content-type-options")!] = "nosniff"
        headers[.cacheControl] = "private, no-store"
        headers[.eTag] = version.etag
        headers[.lastModified] = version.createdAt.httpDate
        headers[.contentLength] = String(version.size)
        if version.size == 0 { return Response(status: .ok, headers: headers) }
        let reader = try await workspaces.open(version)
        let body = reader.responseBody(from: 0, to: version.size)
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// A bucket's snapshots and forks laid out for the page: the bucket (after its parent, when it is
/// a fork) and its newest snapshots on one line in time order, and each fork on a line of its own
/// below, branching from the snapshot it was made at. Coordinates are computed here; the template
/// only places them, so every label goes through Mustache's escaping.
struct StudioWorkspaceTree {
    var view: [String: Any] = [:]

    static let column = 132
    static let row = 60
    static let nodeWidth = 116
    static let nodeHeight = 40
    static let margin = 8

    init(
        bucket: WorkspaceBucket, parentLive: Bool, snapshots: [WorkspaceSnapshot], forks: [WorkspaceBucket],
        selected: Int64?, maxSnapshots: Int, maxForks: Int
    ) {
        let base = "/studio/workspaces/" + StudioPage.pathSegment(bucket.name)
        let shown = Array(snapshots.suffix(maxSnapshots))
        let shownForks = Array(
            forks.sorted { ($0.parent?.point ?? 0, $0.name) < ($1.parent?.point ?? 0, $1.name) }.prefix(maxForks))
        var nodes: [[String: Any]] = []
        var edges: [[String: Any]] = []
        var column = 0

        func center(_ col: Int, _ row: Int) -> (x: Int, y: Int) {
            (Self.margin + col * Self.column + Self.nodeWidth / 2, Self.margin + row * Self.row + Self.nodeHeight / 2)
        }
        func node(
            _ col: Int, _ row: Int, kind: String, label: String, sub: String, title: String, href: String?,
            current: Bool
        ) {
            let c = center(col, row)
            var n: [String: Any] = [
                "kind": kind, "label": Self.short(label), "sub": sub, "title": title, "current": current,
                "x": c.x - Self.nodeWidth / 2, "y": c.y - Self.nodeHeight / 2, "w": Self.nodeWidth,
                "h": Self.nodeHeight, "tx": c.x, "ty": c.y - 3, "sy": c.y + 13,
            ]
            n["href"] = href ?? ""
            n["linked"] = href != nil
            nodes.append(n)
        }
        func straight(_ from: Int, _ to: Int, dashed: Bool = false) {
            let a = center(from, 0), b = center(to, 0)
            edges.append(["d": "M\(a.x + Self.nodeWidth / 2) \(a.y)H\(b.x - Self.nodeWidth / 2)", "dashed": dashed])
        }

        if let parent = bucket.parent {
            node(
                0, 0, kind: "parent", label: parent.name, sub: "fork source",
                title: "Forked from \(parent.name) at snapshot \(parent.point)" + (parentLive ? "" : " (deleted)"),
                href: parentLive
                    ? "/studio/workspaces/" + StudioPage.pathSegment(parent.name) + "?"
                        + StudioPage.query([("snapshot", String(parent.point))]) : nil,
                current: false)
            column = 1
            straight(0, 1, dashed: true)
        }
        let bucketColumn = column
        node(
            bucketColumn, 0, kind: "bucket", label: bucket.name, sub: "live",
            title: "\(bucket.name): the live bucket", href: base, current: selected == nil)
        var snapshotColumns: [(seq: Int64, col: Int)] = []
        for s in shown {
            column += 1
            straight(column - 1, column)
            let created = s.createdAt.iso8601
            node(
                column, 0, kind: "snapshot", label: s.name ?? "snapshot", sub: Self.shortTime(created),
                title: "Snapshot \(s.version)" + (s.name.map { " “\($0)”" } ?? "") + ", taken \(created)",
                href: base + "?" + StudioPage.query([("snapshot", s.version)]), current: s.seq == selected)
            snapshotColumns.append((s.seq, column))
        }
        var maxColumn = column

        // Each fork branches from the newest drawn snapshot at or before its point (its own
        // snapshot unless that was deleted or is too old to be drawn; then the bucket).
        var forksAt: [Int: [[String: Any]]] = [:]
        for (i, fork) in shownForks.enumerated() {
            let point = fork.parent?.point ?? 0
            let from = snapshotColumns.last { $0.seq <= point }?.col ?? bucketColumn
            let row = i + 1
            let a = center(from, 0)
            let b = center(from, row)
            let fx = b.x + Self.column / 2
            edges.append([
                "d": "M\(a.x) \(a.y + Self.nodeHeight / 2)V\(b.y)H\(fx - Self.nodeWidth / 2)", "dashed": false,
            ])
            let href = "/studio/workspaces/" + StudioPage.pathSegment(fork.name)
            var n: [String: Any] = [
                "kind": "fork", "label": Self.short(fork.name),
                "sub": "fork at \(Self.shortTime(fork.createdAt.iso8601))",
                "title": "Fork \(fork.name), made at snapshot \(point)", "current": false,
                "x": fx - Self.nodeWidth / 2, "y": b.y - Self.nodeHeight / 2, "w": Self.nodeWidth,
                "h": Self.nodeHeight, "tx": fx, "ty": b.y - 3, "sy": b.y + 13, "href": href, "linked": true,
            ]
            nodes.append(n)
            n["name"] = fork.name
            n["version"] = String(point)
            forksAt[from, default: []].append(n)
            maxColumn = max(maxColumn, from + 1)
        }
        let rows = 1 + shownForks.count
        view["treeWidth"] = 2 * Self.margin + maxColumn * Self.column + Self.nodeWidth + Self.column / 2
        view["treeHeight"] = 2 * Self.margin + (rows - 1) * Self.row + Self.nodeHeight
        view["nodes"] = nodes
        view["edges"] = edges
        view["treeLabel"] =
            "Snapshot and fork tree of \(bucket.name): "
            + (bucket.parent.map { "a fork of \($0.name); " } ?? "")
            + "\(snapshots.count) snapshot\(snapshots.count == 1 ? "" : "s"), \(forks.count) fork\(forks.count == 1 ? "" : "s")"

        // The same as a list: the live bucket with the forks made before any drawn snapshot, then
        // each snapshot with the forks made at it.
        view["bucketForks"] = forksAt[bucketColumn] ?? []
        view["hasBucketForks"] = forksAt[bucketColumn] != nil
        view["hasTreeList"] = !shown.isEmpty
        view["treeList"] = zip(shown, snapshotColumns).map { s, c -> [String: Any] in
            [
                "version": s.version, "name": s.name ?? "", "named": s.name != nil, "created": s.createdAt.iso8601,
                "href": base + "?" + StudioPage.query([("snapshot", s.version)]), "current": s.seq == selected,
                "forks": forksAt[c.col] ?? [], "hasForks": forksAt[c.col] != nil,
            ]
        }
        if snapshots.count > shown.count { view["olderSnapshots"] = snapshots.count - shown.count }
        if forks.count > shownForks.count { view["moreForks"] = forks.count - shownForks.count }
        view["hasTree"] = !snapshots.isEmpty || !forks.isEmpty || bucket.parent != nil
    }

    static func short(_ text: String) -> String { text.count <= 16 ? text : String(text.prefix(15)) + "…" }

    /// `MM-DD HH:MM:SS` of an ISO 8601 time.
    static func shortTime(_ iso: String) -> String {
        let chars = Array(iso)
        guard chars.count >= 19 else { return iso }
        return String(chars[5..<10]) + " " + String(chars[11..<19])
    }
}

extension StudioTemplates {
    static var workspaceTemplates: [(String, String)] {
        [("workspaces", workspaces), ("workspace", workspace)]
    }

    private static let workspaces = """
        {{<layout}}{{$content}}
        <h1>Workspaces</h1>
        {{#hasBuckets}}
        <div class="scroll">
        <table id="buckets">
        <thead><tr><th scope="col">Bucket</th><th scope="col">Created</th><th scope="col">Snapshots</th>
        <th scope="col">Fork of</th><th scope="col">Lifecycle</th></tr></thead>
        <tbody>
        {{#buckets}}
        <tr data-bucket="{{name}}">
        <td><a href="{{href}}"><code>{{name}}</code></a></td>
        <td><time datetime="{{created}}">{{created}}</time></td>
        <td>{{snapshots}}</td>
        <td>{{#fork}}{{#linked}}<a href="{{href}}">{{/linked}}<code>{{name}}</code>{{#linked}}</a>{{/linked}} at snapshot <code>{{version}}</code>{{/fork}}{{^fork}}—{{/fork}}</td>
        <td>{{#hasLifecycle}}{{lifecycle}}{{/hasLifecycle}}{{^hasLifecycle}}—{{/hasLifecycle}}</td>
        </tr>
        {{/buckets}}
        </tbody>
        </table>
        </div>
        {{/hasBuckets}}
        {{^hasBuckets}}
        <div class="empty" id="no-buckets">
        {{#paged}}<p>No more workspaces.</p>{{/paged}}
        {{^paged}}
        <p>No workspaces yet. A workspace is an S3 bucket on Cairn's S3 listener{{^s3Off}} (port <b>{{s3Port}}</b>){{/s3Off}}{{#s3Off}} (turned off on this server: start it with <code>--s3-port</code>){{/s3Off}}.
        Create an S3 key with <code>cairn keys create --tenant {{session.tenant}} --s3 --scope write</code>, then a bucket:</p>
        <pre class="json">aws --endpoint-url http://HOST:{{s3Port}} s3 mb s3://work

        # or with boto3 (tigris-boto3-ext for snapshots and forks)
        s3 = boto3.client("s3", endpoint_url="http://HOST:{{s3Port}}")
        s3.create_bucket(Bucket="work")</pre>
        {{/paged}}
        </div>
        {{/hasBuckets}}
        <p class="pager">{{#paged}}<a href="/studio/workspaces">First page</a> {{/paged}}
        {{#next}}<a rel="next" href="{{next}}">More workspaces →</a>{{/next}}</p>
        {{/content}}{{/layout}}
        """

    private static let workspace = """
        {{<layout}}{{$content}}
        <p><a href="/studio/workspaces">← Workspaces</a></p>
        <h1>Workspace <code>{{name}}</code></h1>
        <dl class="facts">
        <dt>Created</dt><dd><time datetime="{{created}}">{{created}}</time></dd>
        <dt>Snapshots</dt><dd>{{#snapshotsEnabled}}enabled · {{snapshotCount}} taken{{/snapshotsEnabled}}{{^snapshotsEnabled}}not enabled{{/snapshotsEnabled}}</dd>
        <dt>Versioning</dt><dd>{{versioning}}</dd>
        {{#fork}}<dt>Fork of</dt><dd>{{#linked}}<a href="{{href}}">{{/linked}}<code>{{name}}</code>{{#linked}}</a>{{/linked}} at snapshot <code>{{version}}</code></dd>{{/fork}}
        <dt>Forks</dt><dd>{{forkCount}}</dd>
        {{#hasLifecycle}}<dt>Lifecycle</dt><dd><ul id="lifecycle">{{#lifecycle}}<li>{{.}}</li>{{/lifecycle}}</ul></dd>{{/hasLifecycle}}
        </dl>

        <section aria-labelledby="tree-h">
        <h2 id="tree-h">Snapshots and forks</h2>
        {{#hasTree}}
        <div class="scroll">
        <svg id="tree" class="tree" role="img" aria-label="{{treeLabel}}" width="{{treeWidth}}" height="{{treeHeight}}" viewBox="0 0 {{treeWidth}} {{treeHeight}}" xmlns="http://www.w3.org/2000/svg">
        <title>{{treeLabel}}</title>
        {{#edges}}<path class="edge{{#dashed}} dashed{{/dashed}}" d="{{d}}"/>{{/edges}}
        {{#nodes}}{{#linked}}<a href="{{href}}">{{/linked}}<g class="node {{kind}}{{#current}} current{{/current}}"><title>{{title}}</title><rect x="{{x}}" y="{{y}}" width="{{w}}" height="{{h}}" rx="6"/><text x="{{tx}}" y="{{ty}}">{{label}}</text><text class="sub" x="{{tx}}" y="{{sy}}">{{sub}}</text></g>{{#linked}}</a>{{/linked}}
        {{/nodes}}
        </svg>
        </div>
        <ul id="tree-list" class="tree-list">
        <li><a href="{{base}}"{{#live}} aria-current="true"{{/live}}><code>{{name}}</code></a> (live){{#fork}}, a fork of <code>{{name}}</code> at snapshot <code>{{version}}</code>{{/fork}}
        {{#hasBucketForks}}<ul>{{#bucketForks}}<li>fork <a href="{{href}}"><code>{{name}}</code></a> at <code>{{version}}</code></li>{{/bucketForks}}</ul>{{/hasBucketForks}}
        {{#hasTreeList}}<ol class="snapshots">{{#treeList}}<li data-snapshot="{{version}}"><a href="{{href}}"{{#current}} aria-current="true"{{/current}}>snapshot <code>{{version}}</code></a>{{#named}} “{{name}}”{{/named}} <time datetime="{{created}}">{{created}}</time>
        {{#hasForks}}<ul>{{#forks}}<li>fork <a href="{{href}}"><code>{{name}}</code></a></li>{{/forks}}</ul>{{/hasForks}}</li>{{/treeList}}</ol>{{/hasTreeList}}
        </li>
        </ul>
        {{#olderSnapshots}}<p class="hint">{{olderSnapshots}} older snapshots are not drawn.</p>{{/olderSnapshots}}
        {{#moreForks}}<p class="hint">{{moreForks}} more forks are not drawn.</p>{{/moreForks}}
        {{/hasTree}}
        {{^hasTree}}<p class="empty">No snapshots or forks.{{#snapshotsEnabled}} Take one with <code>create_snapshot(s3, "{{name}}")</code> (tigris-boto3-ext) or <code>X-Tigris-Snapshot: true</code> on CreateBucket.{{/snapshotsEnabled}}{{^snapshotsEnabled}} Snapshots are not enabled on this bucket.{{/snapshotsEnabled}}</p>{{/hasTree}}
        </section>

        <section aria-labelledby="objects-h">
        <h2 id="objects-h">Objects{{#at}} at snapshot <code>{{version}}</code>{{/at}}</h2>
        {{#at}}<p class="notice" role="status">As of snapshot <code>{{version}}</code>{{#named}} “{{name}}”{{/named}}, taken <time datetime="{{created}}">{{created}}</time>. <a href="{{live}}">Show the live bucket</a></p>{{/at}}
        {{#hasSnapshotOptions}}
        <form id="pick-snapshot" method="get" action="{{base}}" class="filters">
        <label>Browse at <select name="snapshot">
        <option value="">live</option>
        {{#snapshotOptions}}<option value="{{version}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/snapshotOptions}}
        {{#olderSnapshotNotOffered}}<option value="{{selectedVersion}}" selected>{{selectedVersion}}</option>{{/olderSnapshotNotOffered}}
        </select></label>
        {{#hasPrefix}}<input type="hidden" name="prefix" value="{{prefix}}">{{/hasPrefix}}
        <button type="submit">Browse</button>
        </form>
        {{/hasSnapshotOptions}}
        <nav aria-label="Folder" class="crumbs">{{#crumbs}}<a href="{{href}}">{{label}}</a> {{/crumbs}}</nav>
        {{#hasEntries}}
        <div class="scroll">
        <table id="objects">
        <thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">ETag</th>
        <th scope="col">Last modified</th><th scope="col"><span class="visually-hidden">Download</span></th></tr></thead>
        <tbody>
        {{#folders}}<tr class="folder"><td><a href="{{href}}">{{label}}</a></td><td>—</td><td></td><td></td><td></td></tr>{{/folders}}
        {{#objects}}<tr data-key="{{key}}"><td><code>{{label}}</code></td><td title="{{bytes}} bytes">{{size}}</td>
        <td><code>{{etag}}</code></td><td><time datetime="{{modified}}">{{modified}}</time></td>
        <td><a class="download" href="{{download}}" download>Download<span class="visually-hidden"> {{key}}</span></a></td></tr>{{/objects}}
        </tbody>
        </table>
        </div>
        {{/hasEntries}}
        {{^hasEntries}}<p class="empty" id="no-objects">{{#browsingFolder}}Nothing here.{{/browsingFolder}}{{^browsingFolder}}No objects{{#at}} at this snapshot{{/at}}. Upload with <code>aws s3 cp FILE s3://{{name}}/</code> or boto3's <code>put_object</code>.{{/browsingFolder}}</p>{{/hasEntries}}
        <p class="pager">{{#firstObjects}}<a href="{{firstObjects}}">First page</a> {{/firstObjects}}
        {{#nextObjects}}<a rel="next" href="{{nextObjects}}">More objects →</a>{{/nextObjects}}</p>
        </section>

        <section aria-labelledby="notify-h">
        <h2 id="notify-h">Object notifications</h2>
        {{#notifications}}
        <dl class="facts" id="notifications">
        <dt>State</dt><dd>{{#enabled}}enabled{{/enabled}}{{^enabled}}disabled (events are not recorded){{/enabled}}</dd>
        <dt>Web hook</dt><dd>{{#hasWebHook}}<code>{{webHook}}</code>{{/hasWebHook}}{{^hasWebHook}}none (events go to the event stream only){{/hasWebHook}}</dd>
        <dt>Filter</dt><dd>{{#hasFilter}}<code>{{filter}}</code>{{/hasFilter}}{{^hasFilter}}every event{{/hasFilter}}</dd>
        <dt>Auth</dt><dd>{{auth}}</dd>
        </dl>
        {{/notifications}}
        {{#notificationsBroken}}<p class="error">The stored notification setting does not parse; nothing is delivered.</p>{{/notificationsBroken}}
        {{^notifications}}{{^notificationsBroken}}<p class="empty">Not set. Set them with <code>PATCH /{{name}}</code> and <code>{"object_notifications": {"web_hook": "https://…"}}</code> on the S3 port.</p>{{/notificationsBroken}}{{/notifications}}
        <h3>Recent deliveries</h3>
        {{#hasDeliveries}}
        <div class="scroll"><table id="deliveries">
        <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Object</th><th scope="col">Status</th>
        <th scope="col">Attempts</th><th scope="col">HTTP</th><th scope="col">Error</th></tr></thead>
        <tbody>{{#deliveries}}<tr data-delivery="{{id}}"><td><time datetime="{{created}}">{{created}}</time></td><td>{{event}}</td>
        <td><code>{{key}}</code></td><td><span class="badge {{status}}">{{status}}</span></td><td>{{attempts}}</td>
        <td>{{httpStatus}}</td><td>{{error}}</td></tr>{{/deliveries}}</tbody>
        </table></div>
        {{/hasDeliveries}}
        {{^hasDeliveries}}<p class="empty">No deliveries.</p>{{/hasDeliveries}}
        </section>
        {{/content}}{{/layout}}
        """
}
