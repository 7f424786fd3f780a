import CairnCore
import CairnStore
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the embedded client keeps besides runs: the blob directory a server on the same data
/// directory uses (`<data-dir>/blobs`), and the services over it, which share its per-digest
/// locks as the server's do, plus the client's sandboxes. Opened once per client.
final class EmbeddedServices: Sendable {
    let store: any RecordStore
    let blobs: any BlobStore
    let locks = BlobLocks()
    let artifacts: ArtifactService
    let workspaces: WorkspaceService
    let iam: IAMService
    /// Sandboxes of this process: probed on first use; every one is removed when the client
    /// is released.
    let sandboxes: SandboxService
    let tenant = TenantID.default

    init(store: any RecordStore, dataDirectory: String, clock: any WallClock, logger: Logger) throws {
        self.store = store
        let blobs = try LocalBlobStore(root: dataDirectory + "/blobs")
        // Nothing is writing yet: whatever is unfinished was left by a process that ended.
        _ = try blobs.removeUnfinishedWrites()
        self.blobs = blobs
        artifacts = ArtifactService(store: store, blobs: blobs, locks: locks, logger: logger, clock: clock)
        workspaces = WorkspaceService(store: store, blobs: blobs, locks: locks, clock: clock)
        iam = IAMService(store: store, clock: clock)
        sandboxes = SandboxService(
            configuration: .forDataDirectory(dataDirectory), clock: clock, workspaces: workspaces)
    }

    deinit {
        let sandboxes = self.sandboxes
        Task { await sandboxes.shutdown() }
    }
}

/// Workspaces in-process: the same service the S3 listener calls, with no HTTP in between.
/// Scoped credentials are created in the store; they take effect on a server that serves this
/// data directory (nothing here checks them).
struct EmbeddedWorkspaceTransport: WorkspaceTransport {
    let services: EmbeddedServices
    var workspaces: WorkspaceService { services.workspaces }
    var tenant: TenantID { services.tenant }

    static let readChunk = 1 << 20

    /// Core refusals as `WorkspaceError`s, as the S3 transport reports the server's.
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as S3Error {
            throw WorkspaceError.refused(status: error.status, code: error.code, message: error.message)
        } catch let error as IAMError {
            throw WorkspaceError.refused(status: error.status, code: error.code, message: error.message)
        }
    }

    func createBucket(_ name: String, snapshots: Bool) async throws {
        _ = try await mapped {
            try await workspaces.createBucket(tenant: tenant, name: name, snapshotsEnabled: snapshots)
        }
    }

    func setLifecycle(_ name: String, xml: String) async throws {
        try await mapped { try await workspaces.setLifecycle(tenant: tenant, bucket: name, xml: xml) }
    }

    func deleteBucket(_ name: String, force: Bool) async throws {
        try await mapped { try await workspaces.deleteBucket(tenant: tenant, name: name, force: force) }
    }

    func buckets() async throws -> [String] {
        try await mapped { try await workspaces.buckets(tenant: tenant).map(\.name) }
    }

    func snapshot(_ bucket: String, name: String?) async throws -> WorkspaceCheckpoint {
        let snap = try await mapped {
            try await workspaces.snapshot(tenant: tenant, bucket: bucket, snapshotName: name)
        }
        return WorkspaceCheckpoint(version: snap.version, name: snap.name, createdAt: snap.createdAt)
    }

    func snapshots(_ bucket: String) async throws -> [WorkspaceCheckpoint] {
        try await mapped {
            try await workspaces.snapshots(tenant: tenant, bucket: bucket).map {
                WorkspaceCheckpoint(version: $0.version, name: $0.name, createdAt: $0.createdAt)
            }
        }
    }

    func fork(_ name: String, source: String, snapshot: String?) async throws -> String? {
        let fork = try await mapped {
            try await workspaces.fork(tenant: tenant, name: name, source: source, snapshotVersion: snapshot)
        }
        return fork.parent.map { String($0.point) }
    }

    func setNotifications(_ bucket: String, _ settings: ObjectNotificationSettings?) async throws {
        _ = try await mapped {
            // Checked as the S3 listener checks a PATCH: the setting's wire form, parsed.
            if let settings { _ = try ObjectNotificationSettings.parse(try JSONParser.parse(settings.storedJSON)) }
            try await workspaces.setNotifications(tenant: tenant, bucket: bucket, settings: settings)
        }
    }

    // MARK: Objects

    /// Streams `fill`'s bytes into a blob write and commits it as `key`'s new version.
    private func put(
        _ bucket: String, key: String, contentType: String?,
        fill: (any BlobWrite, inout ObjectDigest) async throws -> Void
    ) async throws -> String {
        let write = try workspaces.beginWrite()
        var digest = ObjectDigest(.md5)
        do {
            try await fill(write, &digest)
        } catch {
            write.abort()
            throw error
        }
        let result = try await mapped {
            try await workspaces.putObject(
                tenant: tenant, bucket: bucket, key: key, write: write, md5: digest.finalize().md5 ?? [],
                headers: ObjectHeaders([("content-type", contentType ?? "application/octet-stream")]))
        }
        return String(result.version.etag.filter { $0 != "\"" })
    }

    func putBytes(_ bucket: String, key: String, bytes: [UInt8], contentType: String?) async throws -> String {
        try await put(bucket, key: key, contentType: contentType) { write, digest in
            try bytes.withUnsafeBytes { raw in
                try write.write(raw)
                digest.update(raw)
            }
        }
    }

    /// Streamed in 1 MiB reads; `resume` has nothing to continue here (a write is one commit).
    func putFile(
        _ bucket: String, key: String, path: String, contentType: String?, resume: Bool, progress: TransferProgress?
    ) async throws -> String {
        let size = try FileIO.regularFileSize(path)
        let fd = try FileIO.openForReading(path)
        defer { close(fd) }
        return try await put(bucket, key: key, contentType: contentType) { write, digest in
            var offset: Int64 = 0
            while offset < size {
                let chunk = try FileIO.read(
                    fd, at: offset, count: Int(min(Int64(Self.readChunk), size - offset)), describedAs: path)
                guard !chunk.isEmpty else { throw WorkspaceError.file("\(path) changed size while it was read") }
                try chunk.withUnsafeBytes { raw in
                    try write.write(raw)
                    digest.update(raw)
                }
                offset += Int64(chunk.count)
                progress?(offset, size)
            }
        }
    }

    /// The version `key` has (as of `snapshot`), or a refusal as S3 would answer.
    private func current(_ bucket: String, key: String, snapshot: String?) async throws -> ObjectVersion {
        let (_, lookup) = try await mapped {
            try await workspaces.lookup(tenant: tenant, bucket: bucket, key: key, snapshotVersion: snapshot)
        }
        guard case .found(let version) = lookup else {
            throw WorkspaceError.refused(status: 404, code: "NoSuchKey", message: "The specified key does not exist.")
        }
        return version
    }

    /// Reads the version's bytes in 1 MiB pieces, handing each to `sink`.
    private func read(_ version: ObjectVersion, _ sink: (UnsafeRawBufferPointer) throws -> Void) async throws {
        let reader = try await mapped { try await workspaces.open(version) }
        defer { reader.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readChunk, alignment: 16)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while offset < version.size {
            let n = try await reader.read(at: offset, into: buffer)
            guard n > 0 else { throw WorkspaceError.integrity("the object's bytes end before its size") }
            try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += Int64(n)
        }
    }

    func getBytes(_ bucket: String, key: String, snapshot: String?, limit: Int) async throws -> [UInt8] {
        let version = try await current(bucket, key: key, snapshot: snapshot)
        guard version.size <= Int64(limit) else {
            throw WorkspaceError.invalid("\(key) has \(version.size) bytes, more than the limit of \(limit)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(version.size))
        try await read(version) { bytes.append(contentsOf: $0) }
        return bytes
    }

    func head(_ bucket: String, key: String, snapshot: String?) async throws -> WorkspaceObject {
        let version = try await current(bucket, key: key, snapshot: snapshot)
        return WorkspaceObject(
            key: key, size: version.size, eTag: String(version.etag.filter { $0 != "\"" }),
            lastModified: version.createdAt)
    }

    func getFile(
        _ bucket: String, key: String, snapshot: String?, fd: Int32, describedAs description: String,
        progress: TransferProgress?
    ) async throws {
        let version = try await current(bucket, key: key, snapshot: snapshot)
        var written: Int64 = 0
        try await read(version) { raw in
            try FileIO.writeAll(fd, raw, describedAs: description)
            written += Int64(raw.count)
            progress?(written, version.size)
        }
    }

    func list(_ bucket: String, prefix: String, snapshot: String?, after: String?) async throws -> WorkspaceObjectPage {
        var query = ObjectListQuery()
        query.prefix = prefix
        query.after = after
        let page = try await mapped {
            try await workspaces.list(tenant: tenant, bucket: bucket, query: query, snapshotVersion: snapshot)
        }
        return WorkspaceObjectPage(
            objects: page.objects.map {
                WorkspaceObject(
                    key: $0.key, size: $0.size, eTag: String($0.etag.filter { $0 != "\"" }), lastModified: $0.createdAt)
            },
            next: page.isTruncated ? page.last : nil)
    }

    func deleteObject(_ bucket: String, key: String) async throws {
        _ = try await mapped {
            try await workspaces.deleteObject(tenant: tenant, bucket: bucket, key: key, versionId: nil)
        }
    }

    // MARK: Change events

    func changes(_ bucket: String, after: Int64) -> AsyncThrowingStream<WorkspaceChange, any Error> {
        let (stream, continuation) = AsyncThrowingStream<WorkspaceChange, any Error>.makeStream()
        let workspaces = self.workspaces, tenant = self.tenant
        let task = Task {
            do {
                let found = try await mapped { try await workspaces.bucket(tenant: tenant, name: bucket) }
                let subscription = workspaces.changes.subscribe(bucketId: found.id)
                var last = after
                // Once at the start, then after each commit: everything stored after `last`.
                subscription.wake()
                for await _ in subscription.wakeups {
                    while true {
                        let page = try await workspaces.events(of: found, after: last, limit: 500)
                        for event in page {
                            continuation.yield(try WorkspaceChange(seq: event.seq, payload: event.payload))
                            last = event.seq
                        }
                        if page.count < 500 { break }
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: Credentials

    func createAccessKey() async throws -> CreatedKey {
        let key = try await mapped { try await services.iam.createAccessKey(tenant: tenant) }
        return CreatedKey(accessKeyId: key.accessKeyId, secretAccessKey: key.secret)
    }

    func deleteAccessKey(_ id: String) async throws {
        try await mapped { try await services.iam.deleteAccessKey(tenant: tenant, accessKeyId: id) }
    }

    func createPolicy(name: String, document: String, description: String) async throws -> String {
        try await mapped {
            try await services.iam.createPolicy(
                tenant: tenant, name: name, document: document, description: description
            )
            .arn
        }
    }

    func policy(name: String) async throws -> FoundPolicy? {
        do {
            let policy = try await services.iam.policy(
                tenant: tenant, arn: IAMService.policyARN(tenant: tenant, name: name))
            return FoundPolicy(arn: policy.arn, description: policy.description)
        } catch let error as IAMError where error.status == 404 {
            return nil
        }
    }

    func deletePolicy(arn: String) async throws {
        try await mapped { try await services.iam.deletePolicy(tenant: tenant, arn: arn) }
    }

    func attachPolicy(user: String, arn: String) async throws {
        try await mapped { try await services.iam.attachPolicy(tenant: tenant, userName: user, arn: arn) }
    }

    func detachPolicy(user: String, arn: String) async throws {
        try await mapped { try await services.iam.detachPolicy(tenant: tenant, userName: user, arn: arn) }
    }
}
