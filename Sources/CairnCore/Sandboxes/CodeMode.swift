import Foundation
import Synchronization

/// py-code-mode's session-server state, on Cairn: sessions are sandboxes, skills and artifacts
/// are the tenant's Cairn artifacts (so they live on either store engine and in the blob store,
/// with quotas), named under `codemode/skills/` and `codemode/artifacts/`.
public final class CodeMode: Sendable {
    public let sandboxes: SandboxService
    public let artifacts: ArtifactService
    /// (tenant, X-Session-ID) → sandbox id.
    private let sessions = Mutex<[SessionKey: String]>([:])
    /// py-code-mode drops a session after an hour without use.
    public static let sessionIdleSeconds: Int64 = 3600
    static let skillPrefix = "codemode/skills/"
    static let artifactPrefix = "codemode/artifacts/"
    static let owner = "codemode"

    struct SessionKey: Hashable, Sendable {
        var tenant: TenantID
        var session: String
    }

    public init(sandboxes: SandboxService, artifacts: ArtifactService) {
        self.sandboxes = sandboxes
        self.artifacts = artifacts
    }

    // MARK: Sessions

    /// The session's sandbox, made on first use (and again after it expired or was removed).
    public func sandbox(tenant: TenantID, session: String) async throws -> String {
        let key = SessionKey(tenant: tenant, session: session)
        if let id = sessions.withLock({ $0[key] }), (try? sandboxes.sandbox(id, tenant: tenant)) != nil { return id }
        let info = try await sandboxes.create(
            SandboxSpec(language: .python, idleTTLSeconds: Self.sessionIdleSeconds), tenant: tenant)
        let winner = sessions.withLock { all -> String in
            if let id = all[key], (try? sandboxes.sandbox(id, tenant: tenant)) != nil { return id }
            all[key] = info.id
            return info.id
        }
        if winner != info.id { try? await sandboxes.delete(info.id, tenant: tenant) }
        return winner
    }

    /// The session's sandbox if it has one.
    public func existingSandbox(tenant: TenantID, session: String) -> String? {
        let key = SessionKey(tenant: tenant, session: session)
        guard let id = sessions.withLock({ $0[key] }), (try? sandboxes.sandbox(id, tenant: tenant)) != nil else {
            return nil
        }
        return id
    }

    // MARK: Skills

    public struct Skill: Sendable, Equatable {
        public var name: String
        public var description: String
        public var parameters: [SkillParameter]
        public var source: String
    }

    public struct SkillParameter: Sendable, Equatable {
        public var name: String
        public var type: String
        public var description: String
        public var required: Bool
        /// The default as JSON text, or nil.
        public var defaultJSON: String?
    }

    public enum Refusal: Error, Sendable, Equatable {
        case invalid(String)
        case notFound(String)
    }

    static let reservedSkillNames: Set<String> = ["list", "search", "get", "invoke", "create", "delete"]

    /// Checks a skill as py-code-mode does (an identifier, not reserved, an `async def run`)
    /// and reads its parameters and description from the source.
    public static func skill(name: String, source: String, description: String) throws -> Skill {
        guard isIdentifier(name), name.utf8.count <= 128 else {
            throw Refusal.invalid("Invalid skill name: \(name) (must be a Python identifier of at most 128 characters)")
        }
        guard !reservedSkillNames.contains(name) else { throw Refusal.invalid("Skill name '\(name)' is reserved") }
        guard source.utf8.count <= 256 * 1024 else { throw Refusal.invalid("Skill source is larger than 256 KiB") }
        guard let signature = runSignature(source) else {
            if source.contains("def run(") {
                throw Refusal.invalid("Skill '\(name)' must define an async function: async def run(...)")
            }
            throw Refusal.invalid("Skill '\(name)' must define async def run(...)")
        }
        let parameters = parseParameters(signature)
        var summary = description
        if summary.isEmpty, let docstring = moduleDocstring(source) { summary = docstring }
        return Skill(name: name, description: summary, parameters: parameters, source: source)
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first.properties.isXIDStart else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isXIDContinue }
    }

    /// The text between the parentheses of `async def run(...)` at the top level, or nil.
    static func runSignature(_ source: String) -> String? {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where line.hasPrefix("async def run(") {
            var text = String(lines[index...].joined(separator: "\n").dropFirst("async def run(".count))
            var depth = 1
            var quote: Character?
            var end = text.startIndex
            for i in text.indices {
                let c = text[i]
                if let q = quote {
                    if c == q { quote = nil }
                    continue
                }
                if c == "\"" || c == "'" {
                    quote = c
                } else if "([{".contains(c) {
                    depth += 1
                } else if ")]}".contains(c) {
                    depth -= 1
                    if depth == 0 {
                        end = i
                        break
                    }
                }
            }
            guard depth == 0 else { return nil }
            text = String(text[..<end])
            return text
        }
        return nil
    }

    /// `a: int, b: str = "x", *, c=1` → parameters, skipping the injected namespaces.
    static func parseParameters(_ signature: String) -> [SkillParameter] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        var quote: Character?
        for c in signature {
            if let q = quote {
                current.append(c)
                if c == q { quote = nil }
                continue
            }
            switch c {
            case "\"", "'":
                quote = c
                current.append(c)
            case "(", "[", "{":
                depth += 1
                current.append(c)
            case ")", "]", "}":
                depth -= 1
                current.append(c)
            case "," where depth == 0:
                parts.append(current)
                current = ""
            default: current.append(c)
            }
        }
        parts.append(current)
        var parameters: [SkillParameter] = []
        for raw in parts {
            let part = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if part.isEmpty || part == "*" || part == "/" || part.hasPrefix("*") { continue }
            var head = part
            var defaultText: String?
            if let eq = part.firstIndex(of: "=") {
                head = String(part[..<eq]).trimmingCharacters(in: .whitespaces)
                defaultText = String(part[part.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            }
            var name = head
            var annotation = ""
            if let colon = head.firstIndex(of: ":") {
                name = String(head[..<colon]).trimmingCharacters(in: .whitespaces)
                annotation = String(head[head.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            }
            if ["tools", "skills", "artifacts", "deps", "self"].contains(name) { continue }
            let type: String
            switch annotation {
            case "str": type = "string"
            case "int": type = "integer"
            case "float": type = "number"
            case "bool": type = "boolean"
            case "list": type = "array"
            case "dict": type = "object"
            default:
                type = annotation.hasPrefix("list[") ? "array" : annotation.hasPrefix("dict[") ? "object" : "string"
            }
            parameters.append(
                SkillParameter(
                    name: name, type: type, description: "", required: defaultText == nil,
                    defaultJSON: defaultText.map(pythonLiteralAsJSON)))
        }
        return parameters
    }

    /// A Python literal default as JSON: numbers and strings as they are, True/False/None as
    /// JSON's; anything else as its source text in a string.
    static func pythonLiteralAsJSON(_ text: String) -> String {
        switch text {
        case "True": return "true"
        case "False": return "false"
        case "None": return "null"
        default: break
        }
        if Double(text) != nil, (try? JSONParser.parse(bytes: Array(text.utf8))) != nil { return text }
        if text.count >= 2, let first = text.first, first == "\"" || first == "'", text.last == first {
            return makeJSON { $0.string(String(text.dropFirst().dropLast())) }
        }
        return makeJSON { $0.string(text) }
    }

    /// The first line of a module docstring at the top of the source.
    static func moduleDocstring(_ source: String) -> String? {
        let trimmed = source.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        for quote in ["\"\"\"", "'''"] where trimmed.hasPrefix(quote) {
            let body = trimmed.dropFirst(3)
            guard let end = body.range(of: quote) else { return nil }
            return body[..<end.lowerBound].split(separator: "\n").first.map {
                $0.trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// Newest first among several artifacts of one name (a save replaces: the older ones are
    /// removed after it commits, but a reader may see both for a moment).
    private func newest(_ prefix: String, tenant: TenantID) async throws -> [String: Artifact] {
        var latest: [String: Artifact] = [:]
        var after: (name: String, id: String)?
        while true {
            let page = try await artifacts.list(
                tenant: tenant,
                query: ArtifactListQuery(owner: Self.owner, namePrefix: prefix, limit: 1000, after: after))
            for artifact in page.artifacts {
                let name = String(artifact.name.dropFirst(prefix.count))
                if let seen = latest[name], !(seen.createdAt < artifact.createdAt) { continue }
                latest[name] = artifact
            }
            guard let next = page.artifacts.last, page.artifacts.count == 1000 else { break }
            after = (next.name, next.id)
        }
        return latest
    }

    private func store(
        _ name: String, prefix: String, bytes: [UInt8], metadata: [String: String], contentType: String,
        tenant: TenantID
    ) async throws -> Artifact {
        var request = ArtifactUploadRequest(
            name: prefix + name, contentType: contentType, owner: Self.owner, metadata: metadata)
        request.declaredLength = Int64(bytes.count)
        let upload = try await artifacts.beginUpload(request, tenant: tenant)
        do {
            try bytes.withUnsafeBytes { try upload.append($0) }
            let saved = try await upload.commit().artifact
            // Older versions of the name go once the new one is visible.
            for artifact in try await all(prefix + name, tenant: tenant) where artifact.id != saved.id {
                _ = try? await artifacts.delete(id: artifact.id, tenant: tenant)
            }
            return saved
        } catch {
            upload.abort()
            throw error
        }
    }

    private func all(_ exactName: String, tenant: TenantID) async throws -> [Artifact] {
        let page = try await artifacts.list(
            tenant: tenant, query: ArtifactListQuery(owner: Self.owner, namePrefix: exactName, limit: 1000))
        return page.artifacts.filter { $0.name == exactName }
    }

    private func bytes(of artifact: Artifact, tenant: TenantID) async throws -> [UInt8] {
        let (_, read) = try await artifacts.open(id: artifact.id, tenant: tenant)
        defer { read.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, Int(artifact.size)), alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < Int(artifact.size) {
            let n = try await read.read(
                at: Int64(offset), into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<Int(artifact.size)]))
            guard n > 0 else { break }
            offset += n
        }
        let out = Array(UnsafeRawBufferPointer(rebasing: buffer[..<offset]))
        return out
    }

    public func saveSkill(_ skill: Skill, tenant: TenantID) async throws {
        _ = try await store(
            skill.name, prefix: Self.skillPrefix, bytes: Array(skill.source.utf8),
            metadata: ["description": String(skill.description.prefix(2048))], contentType: "text/x-python",
            tenant: tenant)
    }

    public func skills(tenant: TenantID) async throws -> [Skill] {
        var skills: [Skill] = []
        for (name, artifact) in try await newest(Self.skillPrefix, tenant: tenant).sorted(by: { $0.key < $1.key }) {
            let source = String(decoding: try await bytes(of: artifact, tenant: tenant), as: UTF8.self)
            if let skill = try? Self.skill(
                name: name, source: source, description: artifact.metadata["description"] ?? "")
            {
                skills.append(skill)
            }
        }
        return skills
    }

    /// One skill: only its own artifact is read.
    public func skill(_ name: String, tenant: TenantID) async throws -> Skill? {
        guard
            let artifact = try await all(Self.skillPrefix + name, tenant: tenant).max(by: {
                $0.createdAt < $1.createdAt
            })
        else { return nil }
        let source = String(decoding: try await bytes(of: artifact, tenant: tenant), as: UTF8.self)
        return try? Self.skill(name: name, source: source, description: artifact.metadata["description"] ?? "")
    }

    /// Whether a skill of that name existed.
    public func deleteSkill(_ name: String, tenant: TenantID) async throws -> Bool {
        let existing = try await all(Self.skillPrefix + name, tenant: tenant)
        for artifact in existing { _ = try? await artifacts.delete(id: artifact.id, tenant: tenant) }
        return !existing.isEmpty
    }

    // MARK: Package specs

    /// Why a package spec is refused, as py-code-mode's deps store refuses it (a name with
    /// optional extras and a version specifier; no URLs, markers, options or shell
    /// characters), or nil.
    public static func packageProblem(_ spec: String) -> String? {
        if spec.isEmpty { return "the package spec is empty" }
        if spec.utf8.count > 256 { return "the package spec is longer than 256 characters" }
        if spec.hasPrefix("-") { return "options are not package specs" }
        if spec.unicodeScalars.contains(where: {
            $0.value < 0x20 || $0.value == 0x7F || "@;()|&`$\\".unicodeScalars.contains($0)
        }) {
            return "the package spec has a character packages never have (URLs, markers and shell syntax are refused)"
        }
        var rest = Substring(spec)
        let name = rest.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
        guard let first = name.first, first.isLetter || first.isNumber else { return "the package name is not valid" }
        rest = rest.dropFirst(name.count)
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return "the extras are not closed" }
            let extras = rest[rest.index(after: rest.startIndex)..<close]
            guard extras.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-, ".contains($0)) }) else {
                return "the extras are not valid"
            }
            rest = rest[rest.index(after: close)...]
        }
        guard rest.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".*,<>=!~ ".contains($0)) }) else {
            return "the version specifier is not valid"
        }
        return nil
    }

    // MARK: Artifacts (name-addressed, as py-code-mode's store is)

    public struct NamedArtifact: Sendable {
        public var name: String
        public var artifact: Artifact
        public var description: String { artifact.metadata["description"] ?? "" }
        /// The caller's metadata object as JSON text.
        public var metadataJSON: String { artifact.metadata["metadata"] ?? "{}" }
    }

    /// Saves `data` (JSON): a string is kept as text, anything else as JSON.
    public func saveArtifact(
        name: String, data: JSONValue, description: String, metadataJSON: String?, tenant: TenantID
    ) async throws -> NamedArtifact {
        if let problem = ArtifactNames.problem(name: Self.artifactPrefix + name) {
            throw Refusal.invalid("name \(problem)")
        }
        let bytes: [UInt8]
        var metadata = ["description": description]
        if let text = data.stringValue {
            bytes = Array(text.utf8)
            metadata["data-type"] = "text"
        } else {
            bytes = Array(makeJSON { $0.value(data) }.utf8)
            metadata["data-type"] = "json"
        }
        if let metadataJSON { metadata["metadata"] = metadataJSON }
        let saved = try await store(
            name, prefix: Self.artifactPrefix, bytes: bytes, metadata: metadata,
            contentType: metadata["data-type"] == "text" ? "text/plain; charset=utf-8" : "application/json",
            tenant: tenant)
        return NamedArtifact(name: name, artifact: saved)
    }

    public func namedArtifacts(tenant: TenantID) async throws -> [NamedArtifact] {
        try await newest(Self.artifactPrefix, tenant: tenant).sorted { $0.key < $1.key }.map {
            NamedArtifact(name: $0.key, artifact: $0.value)
        }
    }

    /// The artifact's data as JSON (text comes back as a JSON string).
    public func loadArtifact(_ name: String, tenant: TenantID) async throws -> JSONValue {
        guard
            let artifact = try await all(Self.artifactPrefix + name, tenant: tenant).max(by: {
                $0.createdAt < $1.createdAt
            })
        else { throw Refusal.notFound("Artifact not found: \(name)") }
        let bytes = try await bytes(of: artifact, tenant: tenant)
        if artifact.metadata["data-type"] == "text" { return .string(String(decoding: bytes, as: UTF8.self)) }
        return (try? JSONParser.parse(bytes: bytes)) ?? .string(String(decoding: bytes, as: UTF8.self))
    }

    public func deleteArtifact(_ name: String, tenant: TenantID) async throws {
        let existing = try await all(Self.artifactPrefix + name, tenant: tenant)
        guard !existing.isEmpty else { throw Refusal.notFound("Artifact not found: \(name)") }
        for artifact in existing { _ = try? await artifacts.delete(id: artifact.id, tenant: tenant) }
    }
}
