import CairnCore
import Foundation

extension Cairn {
    /// Workspaces: buckets of files with checkpoints (snapshots), copy-on-write forks, TTL,
    /// scoped credentials and change events, for agents that work on files.
    ///
    /// Over HTTP this speaks S3 to the server's S3 listener, signed with an S3 key: `endpoint`
    /// (else `CAIRN_S3_URL`, else `AWS_ENDPOINT_URL_S3`, else `http://127.0.0.1:7374`) and
    /// `credentials` (else `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`). Embedded, it works
    /// on the same store and blob directory as the rest of the embedded client, with no server;
    /// `endpoint` and `credentials` are then ignored.
    public func workspaces(endpoint: String? = nil, credentials: SigV4.Credentials? = nil) throws -> Workspaces {
        if let embedded = transport as? EmbeddedTransport {
            return Workspaces(transport: EmbeddedWorkspaceTransport(services: embedded.services))
        }
        let environment = ProcessInfo.processInfo.environment
        func setting(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let url = endpoint ?? setting("CAIRN_S3_URL") ?? setting("AWS_ENDPOINT_URL_S3") ?? "http://127.0.0.1:7374"
        guard
            let credentials = credentials
                ?? setting("AWS_ACCESS_KEY_ID").flatMap({ id in
                    setting("AWS_SECRET_ACCESS_KEY").map { SigV4.Credentials(accessKeyId: id, secretAccessKey: $0) }
                })
        else {
            throw WorkspaceError.noCredentials
        }
        return Workspaces(transport: try S3WorkspaceTransport(endpoint: url, credentials: credentials))
    }
}

/// Why a workspace call failed.
public enum WorkspaceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The server (or the embedded store) refused: S3's status, error code and message
    /// (`NoSuchBucket`, `BucketAlreadyExists`, `AccessDenied`, IAM's `NoSuchEntity`, …).
    case refused(status: Int, code: String, message: String)
    /// No S3 credentials were given and the environment has none.
    case noCredentials
    /// A local file could not be read or written.
    case file(String)
    /// Downloaded bytes do not match the object's size or ETag: nothing was written.
    case integrity(String)
    /// The answer could not be understood.
    case malformed(String)
    /// A request that cannot be made (bad argument), caught before anything was sent.
    case invalid(String)
    /// The server could not be reached or gave no usable answer (retries are spent).
    case unavailable(String)

    public var description: String {
        switch self {
        case .refused(let status, let code, let message): "\(code) (HTTP \(status)): \(message)"
        case .noCredentials:
            "no S3 credentials: pass credentials, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        case .file(let message), .integrity(let message), .malformed(let message), .invalid(let message),
            .unavailable(let message):
            message
        }
    }
}

/// What scoped credentials may do, as the Tigris agent kit names the roles.
public enum WorkspaceRole: String, Sendable, CaseIterable {
    /// Everything on the workspace's bucket, nothing elsewhere.
    case editor = "Editor"
    /// `GetObject`, `ListBucket` and `GetBucketLocation` on the workspace's bucket.
    case readOnly = "ReadOnly"

    /// The IAM policy document that grants the role on `bucket` and nothing else.
    public func policyDocument(bucket: String) -> String {
        let actions: JSONValue =
            switch self {
            case .editor: .string("s3:*")
            case .readOnly: .array(["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"].map(JSONValue.string))
            }
        let statement = JSONValue.object(
            JSONObject([
                ("Effect", .string("Allow")), ("Action", actions),
                ("Resource", .array([.string("arn:aws:s3:::\(bucket)"), .string("arn:aws:s3:::\(bucket)/*")])),
            ]))
        return JSONValue.object(JSONObject([("Version", .string("2012-10-17")), ("Statement", .array([statement]))]))
            .jsonText
    }
}

/// An access key that may use one workspace only, with the policy that scopes it.
public struct ScopedCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var role: WorkspaceRole
    public var policyArn: String

    /// The key as SigV4 credentials, to pass to `Cairn.workspaces(credentials:)` or any S3 client.
    public var credentials: SigV4.Credentials {
        SigV4.Credentials(accessKeyId: accessKeyId, secretAccessKey: secretAccessKey)
    }

    public var description: String {
        "ScopedCredentials(accessKeyId: \(accessKeyId), role: \(role.rawValue), secretAccessKey: <redacted>)"
    }
}

/// A workspace (a bucket) and, when it was created with a role, its scoped credentials.
public struct Workspace: Sendable, Equatable {
    public var name: String
    public var credentials: ScopedCredentials?
    /// The checkpoint (snapshot version) of the source a fork was made from.
    public var forkedAt: String?
}

/// One object of a listing.
public struct WorkspaceObject: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// S3's ETag, without quotes: the hex MD5 of a single-part object.
    public var eTag: String
    public var lastModified: Timestamp?
}

/// A checkpoint of a workspace: a snapshot every later read or fork can name.
public struct WorkspaceCheckpoint: Sendable, Equatable {
    /// The snapshot version (`X-Tigris-Snapshot-Version`).
    public var version: String
    public var name: String?
    public var createdAt: Timestamp?
}

/// One change event of a workspace (the notification event shape, docs/compat/s3.md).
public struct WorkspaceChange: Sendable, Equatable {
    /// The event's number in its bucket: 1, 2, 3, … without gaps; resume after it.
    public var seq: Int64
    /// `OBJECT_CREATED_PUT`, `OBJECT_CREATED_COPY`, `OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD`,
    /// `OBJECT_RENAMED`, `OBJECT_DELETED` or `OBJECT_EXPIRED`.
    public var eventName: String
    public var eventTime: Timestamp?
    public var bucket: String
    public var key: String
    public var size: Int64
    public var eTag: String
    public var versionId: String?
    /// A rename's old key.
    public var sourceKey: String?

    init(seq: Int64, payload: String) throws {
        guard let event = try? JSONParser.parse(payload), let object = event["object"],
            let name = event["eventName"]?.stringValue, let key = object["key"]?.stringValue
        else {
            throw WorkspaceError.malformed("a change event that is not the documented shape: \(payload.prefix(200))")
        }
        self.seq = seq
        eventName = name
        eventTime = event["eventTime"]?.stringValue.flatMap(Timestamp.init(iso8601:))
        bucket = event["bucket"]?.stringValue ?? ""
        self.key = key
        size = Int64(object["size"]?.intValue ?? 0)
        eTag = object["eTag"]?.stringValue ?? ""
        versionId = object["versionId"]?.stringValue
        sourceKey = object["sourceKey"]?.stringValue
    }
}

/// Workspaces, over HTTP (S3) or embedded. Every call names its workspace (bucket).
public struct Workspaces: Sendable {
    let transport: any WorkspaceTransport

    /// The agent kit's lifecycle rule id for a workspace's TTL.
    static let ttlRuleId = "workspace-ttl"

    /// Creates a workspace: a bucket with snapshots on (unless `snapshots` is false), that
    /// expires every object `ttlDays` days after it is written (a lifecycle rule the server
    /// enforces), and, with `credentials`, an access key that may use this bucket only in that
    /// role. If a later step fails, what was created is removed again.
    public func create(_ name: String, ttlDays: Int? = nil, snapshots: Bool = true, credentials: WorkspaceRole? = nil)
        async throws -> Workspace
    {
        if let ttlDays, !(1...36_500).contains(ttlDays) {
            throw WorkspaceError.invalid("ttlDays must be 1...36500, got \(ttlDays)")
        }
        try await transport.createBucket(name, snapshots: snapshots)
        do {
            if let ttlDays { try await transport.setLifecycle(name, xml: Self.ttlLifecycle(days: ttlDays)) }
            let scoped = try await credentials.asyncMap { try await scopedCredentials(name, role: $0) }
            return Workspace(name: name, credentials: scoped)
        } catch {
            try? await transport.deleteBucket(name, force: true)
            throw error
        }
    }

    /// The lifecycle configuration of a TTL'd workspace: every object expires `days` after it was written.
    static func ttlLifecycle(days: Int) -> String {
        "<LifecycleConfiguration><Rule><ID>\(ttlRuleId)</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter>"
            + "<Expiration><Days>\(days)</Days></Expiration></Rule></LifecycleConfiguration>"
    }

    /// The policy that scopes a workspace's credentials (one per workspace, as the agent kit names it).
    static func policyName(bucket: String) -> String { bucket + "-key-policy" }

    /// Creates an access key that may use `bucket` only, in `role`. The policy's description
    /// names the key, so `teardown` finds and revokes it without any state on this side.
    public func scopedCredentials(_ bucket: String, role: WorkspaceRole) async throws -> ScopedCredentials {
        let key = try await transport.createAccessKey()
        do {
            let arn = try await transport.createPolicy(
                name: Self.policyName(bucket: bucket), document: role.policyDocument(bucket: bucket),
                description: Self.policyDescription(key: key.accessKeyId, role: role))
            do {
                try await transport.attachPolicy(user: key.accessKeyId, arn: arn)
            } catch {
                try? await transport.deletePolicy(arn: arn)
                throw error
            }
            return ScopedCredentials(
                accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, role: role, policyArn: arn)
        } catch {
            try? await transport.deleteAccessKey(key.accessKeyId)
            throw error
        }
    }

    static let keyMarker = "cairn-workspace-key="

    static func policyDescription(key: String, role: WorkspaceRole) -> String {
        "\(role.rawValue) credentials of one workspace; \(keyMarker)\(key)"
    }

    /// Revokes the workspace's scoped credentials (if any): detaches and deletes the policy and
    /// deletes the key. Returns the revoked key's id.
    @discardableResult
    public func revokeCredentials(_ bucket: String) async throws -> String? {
        guard let policy = try await transport.policy(name: Self.policyName(bucket: bucket)) else { return nil }
        let key = policy.description.flatMap { text in
            text.range(of: Self.keyMarker).map { String(text[$0.upperBound...]) }
        }
        if let key {
            try? await transport.detachPolicy(user: key, arn: policy.arn)
            try? await transport.deleteAccessKey(key)
        }
        try await transport.deletePolicy(arn: policy.arn)
        return key
    }

    /// Removes a workspace: its credentials are revoked first (the next request with them is
    /// refused), then the bucket is deleted; `force` deletes it with its objects.
    public func teardown(_ name: String, force: Bool = true) async throws {
        try await revokeCredentials(name)
        try await transport.deleteBucket(name, force: force)
    }

    /// The tenant's workspaces (bucket names).
    public func list() async throws -> [String] { try await transport.buckets() }

    // MARK: Objects

    /// Stores a file as `key`, streamed from disk: in one request up to 16 MiB, else as a
    /// multipart upload of 8 MiB parts. With `resume`, an unfinished upload of the same key is
    /// continued: parts already stored with the same bytes are not sent again. Returns the ETag.
    @discardableResult
    public func put(
        _ bucket: String, key: String, file path: String, contentType: String? = nil, resume: Bool = false,
        progress: TransferProgress? = nil
    ) async throws -> String {
        try await transport.putFile(
            bucket, key: key, path: path, contentType: contentType, resume: resume, progress: progress)
    }

    /// Stores bytes held in memory as `key`. Returns the ETag.
    @discardableResult
    public func put(_ bucket: String, key: String, bytes: [UInt8], contentType: String? = nil) async throws -> String {
        try await transport.putBytes(bucket, key: key, bytes: bytes, contentType: contentType)
    }

    /// The bytes of `key` (as of checkpoint `at` when given), at most `limit` of them.
    public func get(_ bucket: String, key: String, at checkpoint: String? = nil, limit: Int = 64 << 20) async throws
        -> [UInt8]
    {
        try await transport.getBytes(bucket, key: key, snapshot: checkpoint, limit: limit)
    }

    /// Writes `key` (as of checkpoint `at`) to the file `path`: streamed to a temporary file
    /// beside it, checked against the object's size (and MD5 where the ETag is one), synced, then
    /// renamed into place. On failure nothing is left at `path`.
    public func download(
        _ bucket: String, key: String, to path: String, at checkpoint: String? = nil,
        progress: TransferProgress? = nil
    ) async throws {
        try await AtomicFile.write(path) { fd, temporary in
            try await transport.getFile(
                bucket, key: key, snapshot: checkpoint, fd: fd, describedAs: temporary, progress: progress)
        }
    }

    /// What `key` is (as of checkpoint `at`): its size, ETag and modification time.
    public func info(_ bucket: String, key: String, at checkpoint: String? = nil) async throws -> WorkspaceObject {
        try await transport.head(bucket, key: key, snapshot: checkpoint)
    }

    /// Every object under `prefix` (as of checkpoint `at`), in key order.
    public func objects(_ bucket: String, prefix: String = "", at checkpoint: String? = nil) async throws
        -> [WorkspaceObject]
    {
        var all: [WorkspaceObject] = []
        var after: String?
        repeat {
            let page = try await transport.list(bucket, prefix: prefix, snapshot: checkpoint, after: after)
            all += page.objects
            after = page.next
        } while after != nil
        return all
    }

    /// Deletes `key` (a delete marker where the workspace keeps history: checkpoints still see it).
    public func delete(_ bucket: String, key: String) async throws {
        try await transport.deleteObject(bucket, key: key)
    }

    // MARK: Checkpoints and forks

    /// Takes a checkpoint (snapshot) of the workspace, optionally named: O(1), whatever it holds.
    public func checkpoint(_ bucket: String, name: String? = nil) async throws -> WorkspaceCheckpoint {
        if let name, name.isEmpty || name.contains(";") || name.utf8.count > 256 {
            throw WorkspaceError.invalid("a checkpoint name is 1–256 bytes without ';'")
        }
        return try await transport.snapshot(bucket, name: name)
    }

    /// The workspace's checkpoints, oldest first.
    public func checkpoints(_ bucket: String) async throws -> [WorkspaceCheckpoint] {
        try await transport.snapshots(bucket)
    }

    /// Creates workspace `name` as a copy-on-write fork of `bucket` (as of checkpoint `at`, else
    /// as of now), in O(1); with `credentials`, scoped to the fork only.
    public func fork(
        _ bucket: String, into name: String, at checkpoint: String? = nil, credentials: WorkspaceRole? = nil
    )
        async throws -> Workspace
    {
        let point = try await transport.fork(name, source: bucket, snapshot: checkpoint)
        do {
            let scoped = try await credentials.asyncMap { try await scopedCredentials(name, role: $0) }
            return Workspace(name: name, credentials: scoped, forkedAt: point)
        } catch {
            try? await transport.deleteBucket(name, force: true)
            throw error
        }
    }

    /// Restores a checkpoint (named by its version or its name) as a new workspace `name`: a
    /// fork of `bucket` as of that checkpoint. The source is unchanged.
    public func restore(_ bucket: String, checkpoint: String, into name: String, credentials: WorkspaceRole? = nil)
        async throws -> Workspace
    {
        let all = try await checkpoints(bucket)
        guard let found = all.first(where: { $0.version == checkpoint }) ?? all.last(where: { $0.name == checkpoint })
        else {
            throw WorkspaceError.refused(
                status: 404, code: "NoSuchSnapshot", message: "\(bucket) has no checkpoint \(checkpoint)")
        }
        return try await fork(bucket, into: name, at: found.version, credentials: credentials)
    }

    /// Creates `count` forks of `bucket`, all as of one new checkpoint, named
    /// `<prefix>-1` … `<prefix>-<count>` (prefix default: `<bucket>-fork-<random>`), each with
    /// its own scoped credentials when `credentials` is given. If one fails, the others are
    /// torn down again.
    public func createForks(_ bucket: String, count: Int, prefix: String? = nil, credentials: WorkspaceRole? = nil)
        async throws -> [Workspace]
    {
        guard (1...100).contains(count) else { throw WorkspaceError.invalid("count must be 1...100, got \(count)") }
        let base = prefix ?? "\(bucket.prefix(40))-fork-\(Identifier.randomHex().prefix(6))"
        let point = try await transport.snapshot(bucket, name: nil)
        var made: [Workspace] = []
        do {
            for index in 1...count {
                made.append(
                    try await fork(bucket, into: "\(base)-\(index)", at: point.version, credentials: credentials))
            }
            return made
        } catch {
            try? await teardownForks(made.map(\.name))
            throw error
        }
    }

    /// Tears down forks (credentials revoked, objects removed); the source is unchanged.
    public func teardownForks(_ names: [String]) async throws {
        for name in names { try await teardown(name, force: true) }
    }

    // MARK: Change notifications

    /// Sets the workspace's change notifications: POSTed to `settings.webHook` (with its auth
    /// and filter), and kept for `changes(_:)` in any case.
    public func setNotifications(_ bucket: String, _ settings: ObjectNotificationSettings) async throws {
        try await transport.setNotifications(bucket, settings)
    }

    /// Turns change notifications off.
    public func clearNotifications(_ bucket: String) async throws {
        try await transport.setNotifications(bucket, nil)
    }

    /// The workspace's change events after number `after` (stored ones first, then live ones as
    /// they commit), until the consumer stops iterating. Needs notifications set (a web hook is
    /// optional): events are recorded only then.
    public func changes(_ bucket: String, after: Int64 = 0) -> AsyncThrowingStream<WorkspaceChange, any Error> {
        transport.changes(bucket, after: after)
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

/// One page of a listing.
struct WorkspaceObjectPage: Sendable {
    var objects: [WorkspaceObject]
    /// The last key of this page when there are more.
    var next: String?
}

/// A created access key.
struct CreatedKey: Sendable {
    var accessKeyId: String
    var secretAccessKey: String
}

/// An IAM policy as the workspaces need it.
struct FoundPolicy: Sendable {
    var arn: String
    var description: String?
}

/// The workspace operations, over S3 or in-process.
protocol WorkspaceTransport: Sendable {
    func createBucket(_ name: String, snapshots: Bool) async throws
    func setLifecycle(_ name: String, xml: String) async throws
    func deleteBucket(_ name: String, force: Bool) async throws
    func buckets() async throws -> [String]
    func putFile(
        _ bucket: String, key: String, path: String, contentType: String?, resume: Bool, progress: TransferProgress?
    ) async throws -> String
    func putBytes(_ bucket: String, key: String, bytes: [UInt8], contentType: String?) async throws -> String
    func getBytes(_ bucket: String, key: String, snapshot: String?, limit: Int) async throws -> [UInt8]
    func head(_ bucket: String, key: String, snapshot: String?) async throws -> WorkspaceObject
    func getFile(
        _ bucket: String, key: String, snapshot: String?, fd: Int32, describedAs: String, progress: TransferProgress?
    ) async throws
    func list(_ bucket: String, prefix: String, snapshot: String?, after: String?) async throws -> WorkspaceObjectPage
    func deleteObject(_ bucket: String, key: String) async throws
    func snapshot(_ bucket: String, name: String?) async throws -> WorkspaceCheckpoint
    func snapshots(_ bucket: String) async throws -> [WorkspaceCheckpoint]
    /// Creates fork `name`; returns the snapshot version it was made at.
    func fork(_ name: String, source: String, snapshot: String?) async throws -> String?
    func setNotifications(_ bucket: String, _ settings: ObjectNotificationSettings?) async throws
    func changes(_ bucket: String, after: Int64) -> AsyncThrowingStream<WorkspaceChange, any Error>
    func createAccessKey() async throws -> CreatedKey
    func deleteAccessKey(_ id: String) async throws
    func createPolicy(name: String, document: String, description: String) async throws -> String
    /// The tenant's policy called `name`, or nil.
    func policy(name: String) async throws -> FoundPolicy?
    func deletePolicy(arn: String) async throws
    func attachPolicy(user: String, arn: String) async throws
    func detachPolicy(user: String, arn: String) async throws
}
