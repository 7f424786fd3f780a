import AsyncHTTPClient
import CairnCore
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Cairn {
    /// The server's artifact store: streamed uploads and downloads, checksummed end to end.
    /// Available on HTTP clients (`Cairn.http`); an embedded client throws
    /// `ArtifactClientError.unsupported`.
    public var artifacts: Artifacts { Artifacts(http: transport as? HTTPTransport) }
}

/// Why an artifact call failed on the client side (the server's refusals are
/// `CairnError.server(status:body:)`).
public enum ArtifactClientError: Error, Equatable, Sendable {
    /// Artifacts need a server: the embedded mode does not keep them.
    case unsupported
    /// The downloaded bytes do not match the artifact's size or SHA-256: nothing was written.
    case integrity(String)
    /// A local file could not be read or written.
    case file(String)
}

/// Progress of a transfer: bytes so far and, when known, in all.
public typealias TransferProgress = @Sendable (_ bytes: Int64, _ total: Int64?) -> Void

public struct Artifacts: Sendable {
    let http: HTTPTransport?

    /// Transfers may take long: no overall deadline, but a connection that stays silent this
    /// long fails.
    static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(300))))

    static let chunkSize = 1 << 20

    public struct UploadOptions: Sendable {
        public var contentType = "application/octet-stream"
        public var owner: String?
        /// Seconds until the artifact expires.
        public var ttlSeconds: Int64?
        public var expiresAt: Timestamp?
        public var metadata: [String: String] = [:]
        /// The SHA-256 the server must find. When nil, `upload(file:)` hashes the file first
        /// (one extra read) so the server verifies the bytes end to end; set `verify` to false
        /// to skip that.
        public var sha256: String?
        public var verify = true
        /// Sent as `Idempotency-Key` (1–255 printable ASCII characters). Retrying an upload with
        /// the same key returns the artifact the first attempt created instead of storing a
        /// second one; the server answers a reuse of the key for other bytes with 409
        /// `idempotency_key_reused`. Use a fresh key (e.g. a UUID) per logical upload.
        public var idempotencyKey: String?
        public init() {}
    }

    private func transport() throws -> HTTPTransport {
        guard let http else { throw ArtifactClientError.unsupported }
        return http
    }

    private func request(_ method: HTTPMethod, _ path: String) throws -> HTTPClientRequest {
        let http = try transport()
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
        let response = try await Self.client.execute(request, timeout: try transport().timeout)
        let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw CairnError.server(status: Int(response.status.code), body: String(buffer: body))
        }
        return (try? JSONParser.parse(bytes: Array(body.readableBytesView))) ?? .null
    }

    private static func artifact(_ wire: JSONValue?) throws -> Artifact {
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

    private func uploadRequest(name: String, size: Int64, sha256: String?, _ o: UploadOptions) throws
        -> HTTPClientRequest
    {
        var path = "/artifacts?name=" + Self.query(name)
        if let owner = o.owner { path += "&owner=" + Self.query(owner) }
        if let ttl = o.ttlSeconds { path += "&ttl=\(ttl)" }
        if let at = o.expiresAt { path += "&expiresAt=" + Self.query(at.iso8601) }
        if let sha256 { path += "&sha256=" + sha256 }
        var request = try self.request(.POST, path)
        request.headers.add(name: "content-type", value: o.contentType)
        if let key = o.idempotencyKey { request.headers.add(name: "idempotency-key", value: key) }
        for (key, value) in o.metadata.sorted(by: { $0.key < $1.key }) {
            request.headers.add(name: "x-cairn-meta-" + key, value: value)
        }
        return request
    }

    /// Uploads a file, streamed in 1 MiB chunks with its length declared; returns the stored
    /// artifact once the server has made it durable. `name` defaults to the file's name. With
    /// `options.idempotencyKey`, a retry returns the artifact an earlier attempt stored (the
    /// server answers 200 with it and stores nothing new).
    public func upload(
        file path: String, name: String? = nil, options: UploadOptions = UploadOptions(),
        progress: TransferProgress? = nil
    ) async throws -> Artifact {
        let size = try Self.fileSize(path)
        let sha256 = try options.sha256 ?? (options.verify ? Self.sha256(file: path) : nil)
        var request = try uploadRequest(
            name: name ?? LocalPath.lastComponent(path), size: size, sha256: sha256, options)
        request.body = .stream(FileChunks(path: path, size: size, progress: progress), length: .known(size))
        let response = try await Self.client.execute(request, deadline: .distantFuture)
        let body = try await response.body.collect(upTo: 1024 * 1024)
        // 201: stored now; 200: an earlier attempt with the same idempotency key stored it.
        guard response.status == .created || response.status == .ok else {
            throw CairnError.server(status: Int(response.status.code), body: String(buffer: body))
        }
        return try Self.artifact((try? JSONParser.parse(bytes: Array(body.readableBytesView)))?["artifact"])
    }

    /// Uploads bytes held in memory (small artifacts); the server checks their SHA-256.
    public func upload(bytes: [UInt8], name: String, options: UploadOptions = UploadOptions()) async throws
        -> Artifact
    {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        var request = try uploadRequest(
            name: name, size: Int64(bytes.count), sha256: options.sha256 ?? hasher.finalize(), options)
        request.body = .bytes(ByteBuffer(bytes: bytes))
        return try Self.artifact(try await json(request)["artifact"])
    }

    /// Downloads an artifact into `path`: streamed to a temporary file beside it, checked
    /// against the artifact's size and SHA-256, synced, then renamed into place. On any failure
    /// nothing is left at `path` or beside it.
    @discardableResult
    public func download(_ id: String, to path: String, progress: TransferProgress? = nil) async throws -> Artifact {
        let name = LocalPath.lastComponent(path)
        guard !name.isEmpty, name != "/", name != ".", name != ".." else {
            throw ArtifactClientError.file("\(path) names a directory, not a file")
        }
        let temporary = LocalPath.join(
            LocalPath.directory(path), "." + name + "." + UUID().uuidString.lowercased() + ".part")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ArtifactClientError.file("cannot create \(temporary)") }
        var renamed = false
        defer {
            if !renamed { unlink(temporary) }
        }
        let artifact: Artifact
        do {
            defer { close(fd) }
            artifact = try await download(id, into: fd, describedAs: temporary, progress: progress)
            guard fsync(fd) == 0 else { throw ArtifactClientError.file("cannot sync \(temporary)") }
        }
        guard rename(temporary, path) == 0 else { throw ArtifactClientError.file("cannot rename to \(path)") }
        renamed = true
        return artifact
    }

    /// Streams an artifact into an open file descriptor (standard output, a pipe), then checks
    /// its size and SHA-256. The bytes are written as they arrive, so a failed check throws
    /// after the descriptor has received them: callers that need all-or-nothing use
    /// `download(_:to:progress:)`.
    @discardableResult
    public func download(
        _ id: String, into fd: Int32, describedAs description: String = "output", progress: TransferProgress? = nil
    ) async throws -> Artifact {
        let artifact = try await info(id)
        let response = try await Self.client.execute(
            try request(.GET, "/artifacts/\(Self.query(id))"), deadline: .distantFuture)
        guard response.status == .ok else {
            let body = try await response.body.collect(upTo: 1024 * 1024)
            throw CairnError.server(status: Int(response.status.code), body: String(buffer: body))
        }
        var hasher = SHA256Hasher()
        var received: Int64 = 0
        for try await buffer in response.body {
            try buffer.withUnsafeReadableBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0, errno == EINTR { continue }
                    guard n > 0 else { throw ArtifactClientError.file("cannot write \(description)") }
                    offset += n
                }
                hasher.update(raw)
            }
            received += Int64(buffer.readableBytes)
            progress?(received, artifact.size)
        }
        let digest = hasher.finalize()
        guard received == artifact.size, digest == artifact.sha256,
            response.headers.first(name: "x-cairn-sha256").map({ $0 == digest }) ?? true
        else {
            throw ArtifactClientError.integrity(
                "received \(received) bytes with SHA-256 \(digest); expected \(artifact.size) with \(artifact.sha256)"
            )
        }
        return artifact
    }

    /// The bytes of a (small) artifact, checked against the SHA-256 the server sends.
    public func bytes(_ id: String, limit: Int = 64 * 1024 * 1024) async throws -> [UInt8] {
        let response = try await Self.client.execute(
            try request(.GET, "/artifacts/\(Self.query(id))"), timeout: try transport().timeout)
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

    public func info(_ id: String) async throws -> Artifact {
        try Self.artifact(try await json(try request(.GET, "/artifacts/\(Self.query(id))/metadata"))["artifact"])
    }

    /// A page of the tenant's artifacts, by name then id; pass `nextCursor` back for the next.
    public func list(owner: String? = nil, prefix: String? = nil, limit: Int = 100, cursor: String? = nil)
        async throws -> ArtifactPage
    {
        var path = "/artifacts?limit=\(limit)"
        if let owner { path += "&owner=" + Self.query(owner) }
        if let prefix { path += "&prefix=" + Self.query(prefix) }
        if let cursor { path += "&cursor=" + Self.query(cursor) }
        let page = try await json(try request(.GET, path))
        return ArtifactPage(
            artifacts: try (page["artifacts"]?.arrayValue ?? []).map { try Self.artifact($0) },
            nextCursor: page["nextCursor"]?.stringValue)
    }

    public func delete(_ id: String) async throws {
        _ = try await json(try request(.DELETE, "/artifacts/\(Self.query(id))"))
    }

    static func fileSize(_ path: String) throws -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw ArtifactClientError.file("\(path) is not a readable regular file")
        }
        return Int64(st.st_size)
    }

    /// The SHA-256 of a file, read in 1 MiB chunks.
    public static func sha256(file path: String) throws -> String {
        var hasher = SHA256Hasher()
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArtifactClientError.file("cannot open \(path)") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw ArtifactClientError.file("cannot read \(path)") }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return hasher.finalize()
    }
}

/// A file's bytes as 1 MiB buffers, for a streamed request body.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let size: Int64
    let progress: TransferProgress?

    final class AsyncIterator: AsyncIteratorProtocol {
        let fd: Int32
        let size: Int64
        let progress: TransferProgress?
        var sent: Int64 = 0
        let allocator = ByteBufferAllocator()

        init(path: String, size: Int64, progress: TransferProgress?) {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            self.size = size
            self.progress = progress
        }

        deinit { if fd >= 0 { close(fd) } }

        func next() async throws -> ByteBuffer? {
            guard fd >= 0 else { throw ArtifactClientError.file("cannot open the file to upload") }
            guard sent < size else { return nil }
            let want = Int(Swift.min(Int64(Artifacts.chunkSize), size - sent))
            var buffer = allocator.buffer(capacity: want)
            let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                let n = read(fd, raw.baseAddress, want)
                guard n >= 0 else { throw ArtifactClientError.file("cannot read the file to upload") }
                return n
            }
            // The file shrank while it was being sent: fail rather than send a short body.
            guard n > 0 else { throw ArtifactClientError.file("the file changed size during the upload") }
            sent += Int64(n)
            progress?(sent, size)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(path: path, size: size, progress: progress) }
}
