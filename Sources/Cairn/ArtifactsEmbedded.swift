import CairnCore
import NIOCore

/// Artifacts in-process: the server's `ArtifactService` on the embedded store and a local
/// blob directory, with no HTTP in between.
struct EmbeddedArtifactTransport: ArtifactTransport {
    let artifacts: ArtifactService
    let tenant = TenantID.default

    /// What the server reads from an upload's query and headers; refuses what it refuses.
    private func request(name: String, size: Int64, sha256: String?, _ o: Artifacts.UploadOptions) throws
        -> ArtifactUploadRequest
    {
        var expiresAt = o.expiresAt
        if let ttl = o.ttlSeconds {
            // The bounds the server puts on `ttl`, so both modes refuse the same options.
            guard o.expiresAt == nil else {
                throw Self.refusal(.invalid(field: "expiresAt", message: "give expiresAt or ttl, not both"))
            }
            guard ttl > 0, ttl <= 100 * 365 * 86_400 else {
                throw Self.refusal(.invalid(field: "ttl", message: "ttl must be a positive number of seconds"))
            }
            expiresAt = artifacts.clock.now().adding(milliseconds: ttl * 1000)
        }
        return ArtifactUploadRequest(
            name: name, contentType: o.contentType, owner: o.owner, metadata: o.metadata, expiresAt: expiresAt,
            expectedSHA256: sha256, declaredLength: size, idempotencyKey: o.idempotencyKey)
    }

    /// Stores what `chunks` yields as one upload, or returns the artifact an earlier upload
    /// under the same idempotency key stored.
    private func store(_ request: ArtifactUploadRequest, _ chunks: (ArtifactUpload) async throws -> Void)
        async throws -> Artifact
    {
        try await mapped {
            if let existing = try await artifacts.replay(request, tenant: tenant) { return existing }
            let upload = try await artifacts.beginUpload(request, tenant: tenant)
            do {
                try await chunks(upload)
                return try await upload.commit().artifact
            } catch {
                upload.abort()
                throw error
            }
        }
    }

    func upload(
        file path: String, size: Int64, name: String, sha256: String?, options: Artifacts.UploadOptions,
        progress: TransferProgress?
    ) async throws -> Artifact {
        try await store(try request(name: name, size: size, sha256: sha256, options)) { upload in
            for try await buffer in FileChunks(path: path, size: size, progress: progress) {
                try buffer.withUnsafeReadableBytes { try upload.append($0) }
            }
        }
    }

    func upload(bytes: [UInt8], name: String, sha256: String, options: Artifacts.UploadOptions) async throws
        -> Artifact
    {
        try await store(try request(name: name, size: Int64(bytes.count), sha256: sha256, options)) { upload in
            try bytes.withUnsafeBytes { try upload.append($0) }
        }
    }

    /// Opens the artifact and hands its bytes to `consume`, 1 MiB at a time; a blob shorter
    /// than its record ends early (the callers' checks catch it).
    private func read(_ id: String, _ consume: (Artifact, UnsafeRawBufferPointer) throws -> Void) async throws
        -> Artifact
    {
        let (artifact, blob) = try await mapped { try await artifacts.open(id: id, tenant: tenant) }
        defer { blob.close() }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Artifacts.chunkSize, alignment: 16)
        defer { scratch.deallocate() }
        var offset: Int64 = 0
        while offset < artifact.size {
            let n = try await blob.read(at: offset, into: scratch)
            if n == 0 { break }
            try consume(artifact, UnsafeRawBufferPointer(rebasing: scratch[..<n]))
            offset += Int64(n)
        }
        return artifact
    }

    func download(_ id: String, into fd: Int32, describedAs description: String, progress: TransferProgress?)
        async throws -> Artifact
    {
        var sink: DownloadSink?
        let artifact = try await read(id) { artifact, chunk in
            if sink == nil {
                sink = DownloadSink(fd: fd, description: description, artifact: artifact, progress: progress)
            }
            try sink?.append(chunk)
        }
        try (sink ?? DownloadSink(fd: fd, description: description, artifact: artifact, progress: progress)).finish()
        return artifact
    }

    func bytes(_ id: String, limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        var hasher = SHA256Hasher()
        let artifact = try await read(id) { artifact, chunk in
            guard artifact.size <= Int64(limit) else {
                throw ArtifactClientError.file("artifact \(id) is \(artifact.size) bytes, over the limit of \(limit)")
            }
            bytes.append(contentsOf: chunk)
            hasher.update(chunk)
        }
        guard Int64(bytes.count) == artifact.size, hasher.finalize() == artifact.sha256 else {
            throw ArtifactClientError.integrity("the bytes do not match their SHA-256 \(artifact.sha256)")
        }
        return bytes
    }

    func info(_ id: String) async throws -> Artifact {
        try await mapped { try await artifacts.artifact(id: id, tenant: tenant) }
    }

    func list(owner: String?, prefix: String?, limit: Int, cursor: String?) async throws -> ArtifactPage {
        var query = ArtifactListQuery(owner: owner, namePrefix: prefix, limit: limit)
        if let cursor {
            guard let after = ArtifactCursor.decode(cursor) else {
                throw Self.refusal(ArtifactError.invalid(field: "cursor", message: "cursor is not one this store gave"))
            }
            query.after = after
        }
        return try await mapped { try await artifacts.list(tenant: tenant, query: query) }
    }

    func delete(_ id: String) async throws {
        _ = try await mapped { try await artifacts.delete(id: id, tenant: tenant) }
    }

    /// Refusals of the artifact service become what the server would answer: its status and
    /// a JSON body with `error` (the message) and `code`, in `CairnError.server`.
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ArtifactError {
            throw Self.refusal(error)
        }
    }

    static func refusal(_ error: ArtifactError) -> CairnError {
        let (status, code): (Int, String)
        switch error {
        case .tooLarge: (status, code) = (413, "artifact_too_large")
        case .quotaExceeded: (status, code) = (413, "quota_exceeded")
        case .checksumMismatch: (status, code) = (400, "checksum_mismatch")
        case .lengthMismatch: (status, code) = (400, "length_mismatch")
        case .incompleteBody: (status, code) = (400, "incomplete_body")
        case .invalid: (status, code) = (400, "invalid_request")
        case .notFound: (status, code) = (404, "not_found")
        case .idempotencyKeyReused: (status, code) = (409, "idempotency_key_reused")
        case .blobRemovedMeanwhile: (status, code) = (503, "retry")
        }
        let body = jsonObject { w in
            w.field("error", String(describing: error))
            w.field("code", code)
        }
        return CairnError.server(status: status, body: body)
    }
}
