import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// py-code-mode's container session server (0.10.0), under `/codemode`, so its
/// `ContainerExecutor(ContainerConfig(remote_url=...))` runs code in Cairn sandboxes: one
/// sandbox per `X-Session-ID`, skills and artifacts kept as the tenant's Cairn artifacts.
/// Differences from the reference server: docs/compat/codemode.md.
struct CodeModeRoutes<Context: PrincipalContext>: Sendable {
    let codeMode: CodeMode
    let startedAt = ContinuousClock.now
    static var sessionHeader: HTTPField.Name { HTTPField.Name("x-session-id")! }

    /// `GET /codemode/health`: public, and says nothing about sessions.
    func registerPublic(on router: Router<Context>) {
        let startedAt = self.startedAt
        router.get("/codemode/health") { _, _ -> Response in
            let up = ContinuousClock.now - startedAt
            return JSONResponse.object { w in
                w.field("status", "healthy")
                w.key("uptime_seconds")
                w.double(Double(up.components.seconds) + Double(up.components.attoseconds) / 1e18)
            }
        }
    }

    func register(on router: Router<Context>) {
        let group = router.group("/codemode").add(middleware: CodeModeErrorMiddleware<Context>())
        group.post("execute", use: execute)
        group.get("info", use: info)
        group.post("reset", use: reset)
        group.post("install_deps", use: installDeps)
        group.post("uninstall_deps", use: uninstallDeps)
        group.get("api/tools") { _, _ in JSONResponse.make(.ok, "[]") }
        group.get("api/tools/search") { _, _ in JSONResponse.make(.ok, "[]") }
        group.get("api/skills", use: listSkills)
        group.get("api/skills/search", use: searchSkills)
        group.get("api/skills/:name", use: getSkill)
        group.post("api/skills", use: createSkill)
        group.delete("api/skills/:name", use: deleteSkill)
        group.get("api/artifacts", use: listArtifacts)
        group.get("api/artifacts/:name", use: loadArtifact)
        group.post("api/artifacts", use: saveArtifact)
        group.delete("api/artifacts/:name", use: deleteArtifact)
        group.get("api/deps") { _, _ in JSONResponse.make(.ok, "[]") }
        group.post("api/deps/add", use: addDep)
        group.post("api/deps/remove", use: removeDep)
        group.post("api/deps/sync") { _, _ in
            JSONResponse.make(.ok, #"{"installed":[],"already_present":[],"failed":[]}"#)
        }
    }

    static func session(_ request: Request) throws -> String? {
        guard let id = request.headers[sessionHeader] else { return nil }
        guard !id.isEmpty, id.utf8.count <= 256 else {
            throw CodeModeRefusal(.badRequest, "X-Session-ID must be 1 to 256 characters")
        }
        return id
    }

    static func body(_ request: inout Request, limit: Int = 64 * 1024) async throws -> BodyReader {
        do {
            return try await BodyReader.read(&request, limit: limit)
        } catch let error as APIError {
            throw CodeModeRefusal(error.status, error.detailedMessage)
        }
    }

    // MARK: Execution

    @Sendable func execute(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.principal.tenant
        let session = try Self.session(request) ?? Identifier.uuidString().lowercased()
        var request = request
        var body = try await Self.body(&request, limit: SandboxRoutes<Context>.maxCodeBytes + 64 * 1024)
        let code = body.requiredString("code", minLength: 0, maxLength: SandboxRoutes<Context>.maxCodeBytes)
        let timeout = body.number("timeout", min: 0.001, max: Double(SandboxLimits.maxTimeoutMilliseconds) / 1000)
        if body.issues.isEmpty, code.utf8.contains(0) { body.fail("code", "the code contains a NUL byte") }
        guard body.issues.isEmpty else {
            throw CodeModeRefusal(.unprocessableContent, APIError.invalidBody(body.issues).detailedMessage)
        }
        let id = try await codeMode.sandbox(tenant: tenant, session: session)
        let limit = try await codeMode.sandboxes.sandbox(id, tenant: tenant).info.limits.timeoutMilliseconds
        var milliseconds = timeout.map { Int(($0 * 1000).rounded(.up)) }
        if let limit, let asked = milliseconds { milliseconds = min(asked, limit) }
        let result = try await codeMode.sandboxes.exec(
            id, tenant: tenant, command: .code(code), timeoutMilliseconds: milliseconds)
        var error = result.error
        if result.exit.reason == .timeout {
            let seconds = Double(milliseconds ?? limit ?? 0) / 1000
            error =
                "Execution timeout after \(JSONValue.format(double: seconds)) seconds: the code was stopped, "
                + "and the session's variables with it"
        }
        var stdout = result.stdout
        stdout += result.stderr
        return JSONResponse.object(capacity: stdout.count + 512) { w in
            w.key("value")
            if let json = result.valueJSON { w.raw(json) } else { w.string(result.value) }
            w.field("stdout", String(decoding: stdout, as: UTF8.self))
            w.field("error", error)
            w.key("execution_time_ms")
            w.double((result.exit.durationMilliseconds * 1000).rounded() / 1000)
            w.field("session_id", session)
        }
    }

    @Sendable func reset(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.principal.tenant
        let session = try Self.session(request) ?? Identifier.uuidString().lowercased()
        if let id = codeMode.existingSandbox(tenant: tenant, session: session) {
            _ = try await codeMode.sandboxes.reset(id, tenant: tenant)
        }
        return JSONResponse.object { w in
            w.field("status", "reset")
            w.field("session_id", session)
        }
    }

    @Sendable func info(_ request: Request, context: Context) async throws -> Response {
        let skills = try await codeMode.skills(tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("tools")
            w.stringArray([])
            w.array("skills", skills) { w, skill in
                w.beginObjectValue()
                w.field("name", skill.name)
                w.field("description", skill.description)
                w.endObject()
            }
            w.field("artifacts_path", "cairn:artifacts/codemode")
        }
    }

    // MARK: Deps: sandboxes have no network, so nothing can be installed; said so, per package.

    static func packages(_ body: inout BodyReader) throws -> [String] {
        guard let items = body.object["packages"]?.arrayValue, items.count <= 100,
            items.allSatisfy({ (1...256).contains($0.stringValue?.utf8.count ?? 0) })
        else { throw CodeModeRefusal(.unprocessableContent, "packages: expected a list of at most 100 package names") }
        return items.compactMap(\.stringValue)
    }

    static func noNetwork(_ package: String) -> String {
        "\(package): sandboxes have no network, so packages cannot be installed; use what the image has"
    }

    @Sendable func installDeps(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await Self.body(&request)
        let packages = try Self.packages(&body)
        let failed = packages.map { package in
            CodeMode.packageProblem(package).map { "\(package): \($0)" } ?? Self.noNetwork(package)
        }
        return Self.depsOutcome(notFound: [], failed: failed)
    }

    /// The deps routes' answer: nothing is ever installed or removed here.
    static func depsOutcome(notFound: [String], failed: [String]) -> Response {
        JSONResponse.object { w in
            for (key, list) in [
                ("installed", []), ("already_present", []), ("removed", []), ("not_found", notFound),
                ("failed", failed),
            ] {
                w.key(key)
                w.stringArray(list)
            }
        }
    }

    @Sendable func uninstallDeps(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await Self.body(&request)
        let packages = try Self.packages(&body)
        return Self.depsOutcome(notFound: packages, failed: [])
    }

    @Sendable func addDep(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await Self.body(&request)
        let package = body.requiredString("package", minLength: 0, maxLength: 256)
        guard body.issues.isEmpty else { throw CodeModeRefusal(.badRequest, "package: expected a package name") }
        if let problem = CodeMode.packageProblem(package) { throw CodeModeRefusal(.badRequest, "package: \(problem)") }
        return JSONResponse.object { w in
            w.key("installed")
            w.stringArray([])
            w.key("already_present")
            w.stringArray([])
            w.key("failed")
            w.stringArray([Self.noNetwork(package)])
        }
    }

    @Sendable func removeDep(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await Self.body(&request)
        _ = body.requiredString("package", maxLength: 256)
        guard body.issues.isEmpty else { throw CodeModeRefusal(.badRequest, "package: expected a package name") }
        return JSONResponse.make(.ok, #"{"removed":false}"#)
    }

    // MARK: Skills

    @Sendable func listSkills(_ request: Request, context: Context) async throws -> Response {
        Self.skills(try await codeMode.skills(tenant: context.principal.tenant), source: false)
    }

    /// Substring-ranked, as the reference server's tool search is: an exact name first, then
    /// names that contain the query, then descriptions that do.
    @Sendable func searchSkills(_ request: Request, context: Context) async throws -> Response {
        // Form-style, as Starlette reads it: `+` is a space.
        guard let form = try? URLEncodedForm(Array((request.uri.query ?? "").utf8)) else {
            throw CodeModeRefusal(.unprocessableContent, "the query string is malformed")
        }
        let query = (form["query"] ?? "").lowercased()
        let limit = form["limit"].flatMap { Int($0) } ?? 5
        guard (1...1000).contains(limit) else { throw CodeModeRefusal(.unprocessableContent, "limit must be 1...1000") }
        let all = try await codeMode.skills(tenant: context.principal.tenant)
        let scored = all.compactMap { skill -> (Int, CodeMode.Skill)? in
            let name = skill.name.lowercased()
            if name == query { return (100, skill) }
            if name.contains(query) { return (50, skill) }
            if skill.description.lowercased().contains(query) { return (25, skill) }
            return nil
        }
        let ranked = scored.sorted { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1.name < $1.1.name) }.prefix(limit).map(\.1)
        return Self.skills(Array(ranked), source: false)
    }

    @Sendable func getSkill(_ request: Request, context: Context) async throws -> Response {
        let name = try request.pathParameter("name", context)
        guard let skill = try await codeMode.skill(name, tenant: context.principal.tenant) else {
            return JSONResponse.make(.ok, "null")
        }
        return JSONResponse.make(.ok, makeJSON { w in Self.write(skill, source: true, into: &w) })
    }

    @Sendable func createSkill(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await Self.body(&request, limit: 512 * 1024)
        let name = body.requiredString("name", maxLength: 128)
        let source = body.requiredString("source", minLength: 0, maxLength: 256 * 1024)
        let description = body.string("description", maxLength: 2048) ?? ""
        guard body.issues.isEmpty else {
            throw CodeModeRefusal(.unprocessableContent, APIError.invalidBody(body.issues).detailedMessage)
        }
        let skill = try CodeMode.skill(name: name, source: source, description: description)
        try await codeMode.saveSkill(skill, tenant: context.principal.tenant)
        return JSONResponse.make(.ok, makeJSON { w in Self.write(skill, source: true, into: &w) })
    }

    @Sendable func deleteSkill(_ request: Request, context: Context) async throws -> Response {
        let name = try request.pathParameter("name", context)
        let existed = try await codeMode.deleteSkill(name, tenant: context.principal.tenant)
        return JSONResponse.make(.ok, existed ? "true" : "false")
    }

    static func skills(_ skills: [CodeMode.Skill], source: Bool) -> Response {
        JSONResponse.make(
            .ok,
            makeJSON { w in
                w.beginArray()
                for skill in skills { write(skill, source: source, into: &w) }
                w.endArray()
            })
    }

    static func write(_ skill: CodeMode.Skill, source: Bool, into w: inout JSONWriter) {
        w.beginObjectValue()
        w.field("name", skill.name)
        w.field("description", skill.description)
        w.array("parameters", skill.parameters) { w, p in
            w.beginObjectValue()
            w.field("name", p.name)
            w.field("type", p.type)
            w.field("description", p.description)
            w.field("required", p.required)
            w.field("default", raw: p.defaultJSON ?? "null")
            w.endObject()
        }
        if source { w.field("source", skill.source) }
        w.endObject()
    }

    // MARK: Artifacts

    @Sendable func listArtifacts(_ request: Request, context: Context) async throws -> Response {
        let all = try await codeMode.namedArtifacts(tenant: context.principal.tenant)
        return JSONResponse.make(
            .ok,
            makeJSON { w in
                w.beginArray()
                for item in all { Self.write(item, into: &w) }
                w.endArray()
            })
    }

    static func write(_ item: CodeMode.NamedArtifact, into w: inout JSONWriter) {
        w.beginObjectValue()
        w.field("name", item.name)
        w.field("path", "cairn:artifacts/\(item.artifact.id)")
        w.field("description", item.description)
        w.field("metadata", raw: item.metadataJSON)
        w.field("created_at", timestamp: item.artifact.createdAt)
        w.endObject()
    }

    @Sendable func loadArtifact(_ request: Request, context: Context) async throws -> Response {
        let name = try request.pathParameter("name", context)
        let data = try await codeMode.loadArtifact(name, tenant: context.principal.tenant)
        return JSONResponse.make(.ok, makeJSON { $0.value(data) })
    }

    @Sendable func saveArtifact(_ request: Request, context: Context) async throws -> Response {
        var request = request
        var body = try await Self.body(&request, limit: 16 << 20)
        let name = body.requiredString("name", maxLength: 512)
        let description = body.string("description", maxLength: 2048) ?? ""
        guard let data = body.object["data"] else { throw CodeModeRefusal(.unprocessableContent, "data: required") }
        var metadataJSON: String?
        if let metadata = body.object["metadata"], !metadata.isNull {
            guard metadata.objectValue != nil else {
                throw CodeModeRefusal(.unprocessableContent, "metadata: expected an object")
            }
            metadataJSON = makeJSON { $0.value(metadata) }
            guard metadataJSON!.utf8.count <= 4096 else {
                throw CodeModeRefusal(.unprocessableContent, "metadata: at most 4096 bytes of JSON")
            }
        }
        guard body.issues.isEmpty else {
            throw CodeModeRefusal(.unprocessableContent, APIError.invalidBody(body.issues).detailedMessage)
        }
        let saved = try await codeMode.saveArtifact(
            name: name, data: data, description: description, metadataJSON: metadataJSON,
            tenant: context.principal.tenant)
        return JSONResponse.make(.ok, makeJSON { Self.write(saved, into: &$0) })
    }

    @Sendable func deleteArtifact(_ request: Request, context: Context) async throws -> Response {
        let name = try request.pathParameter("name", context)
        try await codeMode.deleteArtifact(name, tenant: context.principal.tenant)
        return JSONResponse.make(.ok, "null")
    }
}

/// A refusal in the reference server's (FastAPI's) shape: `{"detail": "..."}`.
struct CodeModeRefusal: Error, Sendable {
    let status: HTTPResponse.Status
    let detail: String
    init(_ status: HTTPResponse.Status, _ detail: String) {
        self.status = status
        self.detail = detail
    }

    var response: Response {
        JSONResponse.make(
            status,
            makeJSON { w in
                w.beginObject()
                w.field("detail", detail)
                w.endObject()
            })
    }
}

/// Answers every refusal under /codemode in FastAPI's `{"detail"}` shape.
struct CodeModeErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let refusal as CodeModeRefusal {
            return refusal.response
        } catch let error as CodeMode.Refusal {
            switch error {
            case .invalid(let message): return CodeModeRefusal(.badRequest, message).response
            case .notFound(let message): return CodeModeRefusal(.notFound, message).response
            }
        } catch let error as any APIErrorConvertible {
            let api = error.apiError
            return CodeModeRefusal(api.status, api.detailedMessage).response
        } catch let error as APIError {
            return CodeModeRefusal(error.status, error.detailedMessage).response
        } catch let error as HTTPError {
            throw error
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return CodeModeRefusal(.internalServerError, "internal server error").response
        }
    }
}
