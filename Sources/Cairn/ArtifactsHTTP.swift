import AsyncHTTPClient
import CairnCore
import Foundation
import NIOCore
import NIOHTTP1

/// Artifacts over HTTP: the server's `/artifacts` routes, bodies streamed both ways.
struct HTTPArtifactTransport: ArtifactTransport {
    let http: HTTPTransport

    /// Transfers may take long: no overall deadline, but a connection that stays silent this
    /// long fails.
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(300))))

    private func request(_ method: HTTPMethod, _ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: http.baseURL + path)
        request.method = method
        if let apiKey = http.apiKey { request.headers.add(name: "authorization", value: "Bearer \(apiKey)") }
        return request
    }

    private static func query(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? value
    }

    /// Sends a request and returns its JSON body, or throws the server's refusal.
    private func json(_ request: HTTPClientRequest) async throws -> JSONValue {
        let response = try await Self.client.execute(request, timeout: http.timeout)
        let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw CairnError.server(status: Int(response.status.code), body: String(buffer: body))
        }
        return (try? JSONParser.parse(bytes: Array(body.readableBytesView))) ?? .null
    }

    static func artifact(_ wire: JSONValue?) throws -> Artifact {
        guard let w = wire, let id = w["id"]?.stringValue, let sha = w["sha256"]?.stringValue,
            let size = w["size"]?.intValue
        else { throw CairnError.encoding("malformed artifact: \(wire?.jsonText ?? "nothing")") }
        var metadata: [String: String] = [:]
        for (key, value) in w["metadata"]?.objectValue?.pairs.map({ ($0, $1) }) ?? [] {
            metadata[key] = value.stringValue
        }
        return Artifact(
            id: id, tenant: TenantID(rawValue: w["tenant"]?.stringValue ?? "default"),
            name: w["name"]?.stringValue ?? "",
            contentType: w["contentType"]?.stringValue ?? "application/octet-stream",
            size: Int64(size), sha256: sha, owner: w["owner"]?.stringValue, metadata: metadata,
            createdAt: w["createdAt"]?.stringValue.flatMap(Timestamp.init(iso8601:)) ?? Timestamp(milliseconds: 0),
            expiresAt: w["expiresAt"]?.stringValue.flatMap(Timestamp.init(iso8601:)))
    }

    private func uploadRequest(name: String, sha256: String?, _ o: Artifacts.UploadOptions) -> HTTPClientRequest {
        var path = "/artifacts?name=" + Self.query(name)
        if let owner = o.owner { path += "&owner=" + Self.query(owner) }
        if let ttl = o.ttlSeconds { path += "&ttl=\(ttl)" }
        if let at = o.expiresAt { path += "&expiresAt=" + Self.query(at.iso8601) }
        if let sha256 { path += "&sha256=" + sha256 }
        var request = self.request(.POST, path)
        request.headers.add(name: "content-type", value: o.contentType)
        if let key = o.idempotencyKey { request.headers.add(name: "idempotency-key", value: key) }
        for (key, value) in o.metadata.sorted(by: { $0.key < $1.key }) {
            request.headers.add(name: "x-cairn-meta-" + key, value: value)
        }
        return request
    }

    func upload(
        file path: String, size: Int64, name: String, sha256: String?, options: Artifacts.UploadOptions,
        progress: TransferProgress?
    ) async throws -> Artifact {
        var request = uploadRequest(name: name, sha256: sha256, options)
        request.body = .stream(FileChunks(path: path, size: size, progress: progress), length: .known(size))
        let response = try await Self.client.execute(request, deadline: .distantFuture)
        let body = try await response.body.collect(upTo: 1024 * 1024)
        // 201: stored now; 200: an earlier attempt with the same idempotency key stored it.
        guard response.status == .created || response.status == .ok else {
            throw CairnError.server(status: Int(response.status.code), body: String(buffer: body))
        }
        return try Self.artifact((try? JSONParser.parse(bytes: Array(body.readableBytesView)))?["artifact"])
    }

    func upload(bytes: [UInt8], name: String, sha256: String, options: Artifacts.UploadOptions) async throws
        -> Artifact
    {
        var request = uploadRequest(name: name, sha256: sha256, options)
        request.body = .bytes(ByteBuffer(bytes: bytes))
        return try Self.artifact(try await json(request)["artifact"])
    }

    func download(_ id: String, into fd: Int32, describedAs description: String, progress: TransferProgress?)
        async throws -> Artifact
    {
        let artifact = try await info(id)
        let response = try await Self.client.execute(
            request(.GET, "/artifacts/\(Self.query(id))"), deadline: .distantFuture)
        guard response.status == .ok else {
            let body = try await response.body.collect(upTo: 1024 * 1024)
            throw CairnError.server(status: Int(response.status.code), body: String(buffer: body))
        }
        var sink = DownloadSink(fd: fd, description: description, artifact: artifact, progress: progress)
        for try await buffer in response.body {
            try buffer.withUnsafeReadableBytes { try sink.append($0) }
        }
        try sink.finish(sentDigest: response.headers.first(name: "x-cairn-sha256"))
        return artifact
    }

    func bytes(_ id: String, limit: Int) async throws -> [UInt8] {
        let response = try await Self.client.execute(
            request(.GET, "/artifacts/\(Self.query(id))"), timeout: http.timeout)
        let body = try await response.body.collect(upTo: limit)
        guard response.status == .ok else {
            throw CairnError.server(status: Int(response.status.code), body: String(buffer: body))
        }
        let bytes = Array(body.readableBytesView)
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        if let expected = response.headers.first(name: "x-cairn-sha256"), expected != hasher.finalize() {
            throw ArtifactClientError.integrity("the bytes do not match their SHA-256 \(expected)")
        }
        return bytes
    }

    func info(_ id: String) async throws -> Artifact {
        try Self.artifact(try await json(request(.GET, "/artifacts/\(Self.query(id))/metadata"))["artifact"])
    }

    func list(owner: String?, prefix: String?, limit: Int, cursor: String?) async throws -> ArtifactPage {
        var path = "/artifacts?limit=\(limit)"
        if let owner { path += "&owner=" + Self.query(owner) }
        if let prefix { path += "&prefix=" + Self.query(prefix) }
        if let cursor { path += "&cursor=" + Self.query(cursor) }
        let page = try await json(request(.GET, path))
        return ArtifactPage(
            artifacts: try (page["artifacts"]?.arrayValue ?? []).map { try Self.artifact($0) },
            nextCursor: page["nextCursor"]?.stringValue)
    }

    func delete(_ id: String) async throws {
        _ = try await json(request(.DELETE, "/artifacts/\(Self.query(id))"))
    }
}
