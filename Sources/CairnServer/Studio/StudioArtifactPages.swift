import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Artifacts: the tenant's list (by name, in cursor pages, filtered by name prefix and owner), an
/// artifact's page (digest, size, type, owner, expiry, labels), its download (streamed, as an
/// attachment, through the artifacts API's own handler) and, for keys with the write scope, delete.
struct StudioArtifactPages<Context: PrincipalContext>: Sendable {
    let auth: StudioAuth
    let artifacts: ArtifactService

    static var pageSize: Int { 50 }

    func register(on router: some RouterMethods<Context>) {
        router.get("/studio/artifacts") { request, _ in try await StudioPage.run { try await list(request) } }
        router.get("/studio/artifacts/:artifactId") { request, context in
            try await StudioPage.run { try await page(request, context) }
        }
        router.get("/studio/artifacts/:artifactId/download") { request, context in
            try await StudioPage.run { try await download(request, context) }
        }
        router.post("/studio/artifacts/:artifactId/delete") { request, context in
            try await StudioPage.run { try await delete(request, context) }
        }
    }

    func list(_ request: Request) async throws -> Response {
        let session = try await auth.viewer(request, needs: .read)
        let title = "Artifacts"
        let form = try StudioQuery.form(request, session: session, title: title)
        var query = ArtifactListQuery(limit: Self.pageSize)
        let prefix = form["prefix"] ?? ""
        if !prefix.isEmpty {
            guard prefix.utf8.count <= ArtifactNames.maxNameBytes else {
                throw StudioQuery.refuse(
                    "prefix is longer than \(ArtifactNames.maxNameBytes) bytes.", title: title, session: session)
            }
            query.namePrefix = prefix
        }
        let owner = form["owner"] ?? ""
        if !owner.isEmpty {
            guard ArtifactNames.problem(label: owner, maxBytes: ArtifactNames.maxOwnerBytes) == nil else {
                throw StudioQuery.refuse(
                    "owner must be at most \(ArtifactNames.maxOwnerBytes) bytes without control characters.",
                    title: title, session: session)
            }
            query.owner = owner
        }
        if let cursor = form["after"], !cursor.isEmpty {
            guard cursor.utf8.count <= 4 * 1024, let after = ArtifactCursor.decode(cursor) else {
                throw StudioQuery.refuse("the page cursor is not valid.", title: title, session: session)
            }
            query.after = after
        }
        var deleted: String?
        if let id = form["deleted"], !id.isEmpty {
            guard ArtifactNames.isValidID(id) else {
                throw StudioQuery.refuse("deleted must be an artifact id.", title: title, session: session)
            }
            deleted = id
        }
        let page = try await artifacts.list(tenant: session.tenant, query: query)
        var view = StudioPage.base(title, session: session, section: "/studio/artifacts")
        view["prefix"] = prefix
        view["owner"] = owner
        view["filtered"] = query.namePrefix != nil || query.owner != nil || query.after != nil
        if let deleted { view["notice"] = "Artifact \(deleted) was deleted." }
        view["hasArtifacts"] = !page.artifacts.isEmpty
        view["artifacts"] = page.artifacts.map { a -> [String: Any] in
            [
                "id": a.id, "href": "/studio/artifacts/" + StudioPage.pathSegment(a.id), "name": a.name,
                "size": StudioByteCount.text(a.size), "bytes": a.size, "type": a.contentType,
                "owner": a.owner ?? "", "created": a.createdAt.iso8601,
                "expires": a.expiresAt?.iso8601 ?? "", "expiring": a.expiresAt != nil,
            ]
        }
        if let next = page.nextCursor {
            var items = [("after", next)]
            if let p = query.namePrefix { items.append(("prefix", p)) }
            if let o = query.owner { items.append(("owner", o)) }
            view["next"] = "/studio/artifacts?" + StudioPage.query(items)
        }
        return StudioPage.html(.ok, StudioTemplates.render("artifacts", view))
    }

    /// The tenant's artifact, or nil: unknown, expired and another tenant's ids are the same.
    func find(_ id: String, session: StudioSession) async throws -> Artifact? {
        do {
            return try await artifacts.artifact(id: id, tenant: session.tenant)
        } catch ArtifactError.notFound {
            return nil
        }
    }

    func page(_ request: Request, _ context: Context) async throws -> Response {
        let session = try await auth.viewer(request, needs: .read)
        let id = try request.pathParameter("artifactId", context)
        guard let a = try await find(id, session: session) else {
            return StudioPage.notFound("Artifact", session: session)
        }
        let home = "/studio/artifacts/" + StudioPage.pathSegment(a.id)
        var view = StudioPage.base("Artifact \(a.name)", session: session, section: "/studio/artifacts")
        view["id"] = a.id
        view["name"] = a.name
        view["sha256"] = a.sha256
        view["size"] = StudioByteCount.text(a.size)
        view["bytes"] = a.size
        view["type"] = a.contentType
        view["hasOwner"] = a.owner != nil
        view["owner"] = a.owner ?? ""
        view["created"] = a.createdAt.iso8601
        view["expiring"] = a.expiresAt != nil
        view["expires"] = a.expiresAt?.iso8601 ?? ""
        view["download"] = home + "/download"
        view["deleteAction"] = home + "/delete"
        let labels = a.metadata.sorted { $0.key < $1.key }
        view["hasMetadata"] = !labels.isEmpty
        view["metadata"] = labels.map { ["key": $0.key, "value": $0.value] }
        return StudioPage.html(.ok, StudioTemplates.render("artifact", view))
    }

    /// The artifacts API's download (Range, conditional requests, the digest checked as it
    /// streams, `Content-Disposition: attachment`), as the session's principal.
    func download(_ request: Request, _ context: Context) async throws -> Response {
        let session = try await auth.viewer(request, needs: .read)
        let id = try request.pathParameter("artifactId", context)
        guard try await find(id, session: session) != nil else {
            return StudioPage.notFound("Artifact", session: session)
        }
        var context = context
        context.principal = session.principal
        do {
            var response = try await ArtifactRoutes<Context>(artifacts: artifacts).download(request, context: context)
            response.headers[.cacheControl] = "private, no-store"
            response.headers[HTTPField.Name("x-content-type-options")!] = "nosniff"
            return response
        } catch ArtifactError.notFound {
            return StudioPage.notFound("Artifact", session: session)
        }
    }

    func delete(_ request: Request, _ context: Context) async throws -> Response {
        var request = request
        let (session, _) = try await auth.actor(&request, needs: .write)
        let id = try request.pathParameter("artifactId", context)
        do {
            _ = try await artifacts.delete(id: id, tenant: session.tenant)
        } catch ArtifactError.notFound {
            return StudioPage.notFound("Artifact", session: session)
        }
        return StudioPage.redirect("/studio/artifacts?" + StudioPage.query([("deleted", id)]))
    }
}

extension StudioTemplates {
    static var artifactTemplates: [(String, String)] {
        [("artifacts", artifacts), ("artifact", artifact)]
    }

    private static let artifacts = """
        {{<layout}}{{$content}}
        <h1>Artifacts</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        <form id="artifact-filter" method="get" action="/studio/artifacts" class="filters">
        <label>Name prefix <input name="prefix" value="{{prefix}}" maxlength="1024"></label>
        <label>Owner <input name="owner" value="{{owner}}" maxlength="256"></label>
        <button type="submit">Filter</button>
        </form>
        {{#hasArtifacts}}
        <div class="scroll">
        <table id="artifacts">
        <thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Type</th>
        <th scope="col">Owner</th><th scope="col">Created</th><th scope="col">Expires</th></tr></thead>
        <tbody>
        {{#artifacts}}
        <tr data-artifact-id="{{id}}">
        <td><a href="{{href}}">{{name}}</a></td>
        <td title="{{bytes}} bytes">{{size}}</td>
        <td><code>{{type}}</code></td>
        <td>{{owner}}</td>
        <td><time datetime="{{created}}">{{created}}</time></td>
        <td>{{#expiring}}<time datetime="{{expires}}">{{expires}}</time>{{/expiring}}{{^expiring}}never{{/expiring}}</td>
        </tr>
        {{/artifacts}}
        </tbody>
        </table>
        </div>
        {{/hasArtifacts}}
        {{^hasArtifacts}}
        <div class="empty" id="no-artifacts">
        <p>No artifacts{{#filtered}} match this filter{{/filtered}}. An artifact is a file a run or agent keeps: upload one with</p>
        <pre class="json">curl -X POST --data-binary @report.pdf -H "Authorization: Bearer $KEY" \\
          "$CAIRN_URL/artifacts?name=report.pdf"</pre>
        </div>
        {{/hasArtifacts}}
        <p class="pager">{{#filtered}}<a href="/studio/artifacts">All artifacts</a> {{/filtered}}
        {{#next}}<a rel="next" href="{{next}}">More artifacts →</a>{{/next}}</p>
        {{/content}}{{/layout}}
        """

    private static let artifact = """
        {{<layout}}{{$content}}
        <p><a href="/studio/artifacts">← Artifacts</a></p>
        <h1>Artifact {{name}}</h1>
        <dl class="facts" id="artifact">
        <dt>Id</dt><dd><code>{{id}}</code></dd>
        <dt>Name</dt><dd>{{name}}</dd>
        <dt>SHA-256</dt><dd><code class="digest">{{sha256}}</code></dd>
        <dt>Size</dt><dd>{{size}} ({{bytes}} bytes)</dd>
        <dt>Content type</dt><dd><code>{{type}}</code></dd>
        {{#hasOwner}}<dt>Owner</dt><dd>{{owner}}</dd>{{/hasOwner}}
        <dt>Created</dt><dd><time datetime="{{created}}">{{created}}</time></dd>
        <dt>Expires</dt><dd>{{#expiring}}<time datetime="{{expires}}">{{expires}}</time>{{/expiring}}{{^expiring}}never{{/expiring}}</dd>
        </dl>
        {{#hasMetadata}}
        <h2>Labels</h2>
        <div class="scroll"><table id="labels">
        <thead><tr><th scope="col">Key</th><th scope="col">Value</th></tr></thead>
        <tbody>{{#metadata}}<tr><td><code>{{key}}</code></td><td>{{value}}</td></tr>{{/metadata}}</tbody>
        </table></div>
        {{/hasMetadata}}
        <p><a id="download" class="download" href="{{download}}" download>Download</a></p>
        {{#canWrite}}
        <form id="delete" method="post" action="{{deleteAction}}" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" class="danger">Delete artifact</button>
        </form>
        {{/canWrite}}
        {{/content}}{{/layout}}
        """
}
