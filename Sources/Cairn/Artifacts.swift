import CairnCore
import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Cairn {
    /// The artifact store: streamed uploads and downloads, checksummed end to end. Over HTTP,
    /// the server's; embedded, the same service on the embedded store, with the bytes under
    /// the data directory.
    public var artifacts: Artifacts { Artifacts(transport: artifactTransport) }
}

/// Why an artifact call failed on the client side (refusals of the artifact service are
/// `CairnError.server(status:body:)`, with the server's status and JSON body, in both modes).
public enum ArtifactClientError: Error, Equatable, Sendable {
    /// No longer thrown: the embedded mode keeps artifacts too. Kept so that exhaustive
    /// switches over this type still compile.
    case unsupported
    /// The downloaded bytes do not match the artifact's size or SHA-256: nothing was written.
    case integrity(String)
    /// A local file could not be read or written.
    case file(String)
}

/// Progress of a transfer: bytes so far and, when known, in all.
public typealias TransferProgress = @Sendable (_ bytes: Int64, _ total: Int64?) -> Void

/// Artifacts: immutable, content-addressed files with a name, labels and an optional expiry,
/// uploaded and downloaded with their SHA-256 checked end to end.
public struct Artifacts: Sendable {
    let transport: any ArtifactTransport

    static let chunkSize = 1 << 20

    /// What an upload says about the artifact beyond its bytes and name.
    public struct UploadOptions: Sendable {
        /// The `Content-Type` the artifact is served with.
        public var contentType = "application/octet-stream"
        /// The agent the artifact belongs to: a label to filter listings by.
        public var owner: String?
        /// Seconds until the artifact expires.
        public var ttlSeconds: Int64?
        /// When the artifact expires (give this or `ttlSeconds`, not both).
        public var expiresAt: Timestamp?
        /// String labels, shown with the artifact (`X-Cairn-Meta-*` headers over HTTP).
        public var metadata: [String: String] = [:]
        /// The SHA-256 the server must find. When nil, `upload(file:)` hashes the file first
        /// (one extra read) so the server verifies the bytes end to end; set `verify` to false
        /// to skip that.
        public var sha256: String?
        /// Whether `upload(file:)` hashes the file first when `sha256` is nil.
        public var verify = true
        /// Sent as `Idempotency-Key` (1–255 printable ASCII characters). Retrying an upload with
        /// the same key returns the artifact the first attempt created instead of storing a
        /// second one; the server answers a reuse of the key for other bytes with 409
        /// `idempotency_key_reused`. Use a fresh key (e.g. a UUID) per logical upload.
        public var idempotencyKey: String?
        /// The defaults: `application/octet-stream`, no owner, labels or expiry, verified.
        public init() {}
    }

    /// Uploads a file, streamed in 1 MiB chunks with its length declared; returns the stored
    /// artifact once it is durable. `name` defaults to the file's name. With
    /// `options.idempotencyKey`, a retry returns the artifact an earlier attempt stored (and
    /// stores nothing new).
    public func upload(
        file path: String, name: String? = nil, options: UploadOptions = UploadOptions(),
        progress: TransferProgress? = nil
    ) async throws -> Artifact {
        let size = try FileIO.regularFileSize(path, failure: ArtifactClientError.file)
        let sha256 = try options.sha256 ?? (options.verify ? Self.sha256(file: path) : nil)
        return try await transport.upload(
            file: path, size: size, name: name ?? LocalPath.lastComponent(path), sha256: sha256, options: options,
            progress: progress)
    }

    /// Uploads bytes held in memory (small artifacts); their SHA-256 is checked on arrival.
    public func upload(bytes: [UInt8], name: String, options: UploadOptions = UploadOptions()) async throws
        -> Artifact
    {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        return try await transport.upload(
            bytes: bytes, name: name, sha256: options.sha256 ?? hasher.finalize(), options: options)
    }

    /// Downloads an artifact into `path`: streamed to a temporary file beside it, checked
    /// against the artifact's size and SHA-256, synced, then renamed into place. On any failure
    /// nothing is left at `path` or beside it.
    @discardableResult
    public func download(_ id: String, to path: String, progress: TransferProgress? = nil) async throws -> Artifact {
        try await AtomicFile.write(path, failure: ArtifactClientError.file) { fd, temporary in
            try await download(id, into: fd, describedAs: temporary, progress: progress)
        }
    }

    /// Streams an artifact into an open file descriptor (standard output, a pipe), then checks
    /// its size and SHA-256. The bytes are written as they arrive, so a failed check throws
    /// after the descriptor has received them: callers that need all-or-nothing use
    /// `download(_:to:progress:)`.
    @discardableResult
    public func download(
        _ id: String, into fd: Int32, describedAs description: String = "output", progress: TransferProgress? = nil
    ) async throws -> Artifact {
        try await transport.download(id, into: fd, describedAs: description, progress: progress)
    }

    /// The bytes of a (small) artifact, at most `limit`, checked against its SHA-256.
    public func bytes(_ id: String, limit: Int = 64 * 1024 * 1024) async throws -> [UInt8] {
        try await transport.bytes(id, limit: limit)
    }

    /// The artifact's record (name, size, SHA-256, labels, expiry).
    public func info(_ id: String) async throws -> Artifact { try await transport.info(id) }

    /// A page of the tenant's artifacts, by name then id; pass `nextCursor` back for the next.
    public func list(owner: String? = nil, prefix: String? = nil, limit: Int = 100, cursor: String? = nil)
        async throws -> ArtifactPage
    {
        try await transport.list(owner: owner, prefix: prefix, limit: limit, cursor: cursor)
    }

    /// Deletes an artifact; its bytes go once nothing else refers to them.
    public func delete(_ id: String) async throws { try await transport.delete(id) }

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

/// The artifact operations the SDK needs; implemented over HTTP and in-process. Uploads get
/// the SHA-256 to insist on (nil: not checked) and, for files, the size read beforehand.
protocol ArtifactTransport: Sendable {
    func upload(
        file path: String, size: Int64, name: String, sha256: String?, options: Artifacts.UploadOptions,
        progress: TransferProgress?
    ) async throws -> Artifact
    func upload(bytes: [UInt8], name: String, sha256: String, options: Artifacts.UploadOptions) async throws
        -> Artifact
    func download(_ id: String, into fd: Int32, describedAs description: String, progress: TransferProgress?)
        async throws -> Artifact
    func bytes(_ id: String, limit: Int) async throws -> [UInt8]
    func info(_ id: String) async throws -> Artifact
    func list(owner: String?, prefix: String?, limit: Int, cursor: String?) async throws -> ArtifactPage
    func delete(_ id: String) async throws
}

/// Where a download goes: written to a file descriptor as it arrives, hashed, and checked
/// against the artifact's record at the end.
struct DownloadSink {
    let fd: Int32
    let description: String
    let artifact: Artifact
    let progress: TransferProgress?
    private var hasher = SHA256Hasher()
    private(set) var received: Int64 = 0

    init(fd: Int32, description: String, artifact: Artifact, progress: TransferProgress?) {
        self.fd = fd
        self.description = description
        self.artifact = artifact
        self.progress = progress
    }

    mutating func append(_ raw: UnsafeRawBufferPointer) throws {
        try FileIO.writeAll(fd, raw, describedAs: description, failure: ArtifactClientError.file)
        hasher.update(raw)
        received += Int64(raw.count)
        progress?(received, artifact.size)
    }

    /// Checks the bytes received against the record's size and SHA-256 and, when the sender
    /// named one, the digest it sent them under.
    func finish(sentDigest: String? = nil) throws {
        let digest = hasher.finalize()
        guard received == artifact.size, digest == artifact.sha256, sentDigest.map({ $0 == digest }) ?? true else {
            throw ArtifactClientError.integrity(
                "received \(received) bytes with SHA-256 \(digest); expected \(artifact.size) with \(artifact.sha256)"
            )
        }
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
