import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Tigris' JSON endpoints (tigris-boto3-ext 0.8): bucket metadata (`GET /{bucket}?metadata`),
/// JSON bucket listings (`GET /` with `Accept: application/json`, or `X-Tigris-Fork`) and bucket
/// settings (`PATCH /{bucket}`).
///
/// Only what Cairn has is reported: no storage class, regions, visibility, ACLs or website
/// (Tigris' client reads those as absent); object notifications with their credentials masked. Sizes and stats are exact counts of a
/// bucket's own versions, not of the versions a fork reads through its parents.
extension S3Listener {
    /// The largest settings document a PATCH may carry.
    static let maxSettingsBytes: Int64 = 64 * 1024
    /// The largest page of a JSON bucket listing (and its default).
    static let maxListedBuckets = 1000

    /// Settings Tigris' PATCH knows that Cairn does not implement: refused, never stored.
    static let unsupportedSettings: [String: String] = [
        "soft_delete": "Soft delete is not supported.",
        "storage_class": "Storage classes are not supported.",
        "object_regions": "Object placement regions are not supported.",
        "cache_control": "A bucket Cache-Control setting is not supported.",
        "website": "Custom domains are not supported.",
        "acl_settings": "Object ACLs are not supported.",
        "additional_http_headers": "Additional HTTP headers are not supported.",
        "shadow_bucket": "Migration from a shadow bucket is not supported.",
    ]

    /// Whether `GET /` is a JSON listing: `Accept: application/json` or `X-Tigris-Fork`, but not a
    /// snapshot listing (`X-Tigris-Snapshot`, XML).
    static func wantsJSONListing(_ x: S3Exchange) -> Bool {
        guard x.header("x-tigris-snapshot") == nil else { return false }
        if x.header("x-tigris-fork") != nil { return true }
        return x.headerValues("accept").contains { $0.lowercased().contains("application/json") }
    }

    static func json(_ writer: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: writer.bytes)))
    }

    static func flag(_ x: S3Exchange, _ name: String) -> Bool {
        x.call[name].map { S3Text.trimmed($0).lowercased() == "true" } ?? false
    }

    // MARK: Fork provenance

    /// One level of a fork's ancestry: the parent as recorded at the fork, and the snapshot read.
    struct ForkParent {
        var name: String
        var version: String
        var snapshotName: String?
        var forkedAt: Timestamp
        var snapshotCreatedAt: Timestamp?
    }

    /// The fork chains of `buckets` (nearest parent first), read in one transaction. A parent
    /// that was deleted shows the name it had when the fork was made.
    func forkParents(_ buckets: [WorkspaceBucket]) async throws -> [String: [ForkParent]] {
        let forks = buckets.filter { $0.parent != nil }
        guard !forks.isEmpty else { return [:] }
        let maxDepth = workspaces.limits.maxForkDepth
        return try await workspaces.store.read { tx in
            var result: [String: [ForkParent]] = [:]
            for fork in forks {
                var chain: [ForkParent] = []
                var child = fork
                while let parent = child.parent, chain.count <= maxDepth {
                    let snapshot = try await tx.workspaceSnapshot(bucketId: parent.bucketId, seq: parent.point)
                    chain.append(
                        ForkParent(
                            name: parent.name, version: String(parent.point), snapshotName: snapshot?.name,
                            forkedAt: child.createdAt, snapshotCreatedAt: snapshot?.createdAt))
                    guard let next = try await tx.workspaceBucket(id: parent.bucketId) else { break }
                    child = next
                }
                result[fork.id] = chain
            }
            return result
        }
    }

    static func writeForkInfo(_ w: inout JSONWriter, hasChildren: Bool, parents: [ForkParent]?) {
        w.object("ForkInfo") { f in
            f.field("HasChildren", hasChildren)
            f.key("Parents")
            guard let parents, !parents.isEmpty else { return f.null() }
            f.beginArrayValue()
            for p in parents {
                f.beginObject()
                f.field("BucketName", p.name)
                f.field("Snapshot", p.snapshotName.map { p.version + "; name=" + $0 } ?? p.version)
                f.field("ForkCreatedAt", timestamp: p.forkedAt)
                f.field("SnapshotCreatedAt", timestamp: p.snapshotCreatedAt)
                f.endObject()
            }
            f.endArray()
        }
    }

    /// The buckets' own usage (see `WorkspaceUsage`), read in one transaction.
    func usage(_ buckets: [WorkspaceBucket]) async throws -> [WorkspaceUsage] {
        guard !buckets.isEmpty else { return [] }
        return try await workspaces.store.read { tx in
            var result: [WorkspaceUsage] = []
            for b in buckets { result.append(try await tx.workspaceUsage(bucketId: b.id)) }
            return result
        }
    }

    // MARK: GET /{bucket}?metadata

    func bucketMetadata(_ name: String, _ x: S3Exchange) async throws -> Response {
        let bucket = try await workspaces.bucket(tenant: x.tenant, name: name)
        let hasChildren = try await !workspaces.forks(of: bucket).isEmpty
        let parents = try await forkParents([bucket])[bucket.id]
        let withSize = Self.flag(x, "with-size")
        let size = withSize ? try await usage([bucket]).first : nil
        var w = JSONWriter()
        w.beginObject()
        w.field("name", bucket.name)
        w.field("created_at", timestamp: bucket.createdAt)
        w.field("type", bucket.snapshotsEnabled ? 1 : 0)
        Self.writeForkInfo(&w, hasChildren: hasChildren, parents: parents)
        w.object("soft_delete") { $0.field("enabled", false) }
        if let text = bucket.notificationsJSON, let notifications = ObjectNotificationSettings(storedJSON: text) {
            w.key("object_notifications")
            notifications.write(to: &w, masked: true)
        }
        if let size {
            // Exact counts of the bucket's own versions (a fork's inherited objects are not counted).
            w.field("estimated_rows", Int(size.versions))
            w.field("estimated_unique_rows", Int(size.currentObjects))
            w.field("estimated_size", Int(size.versionBytes))
        }
        w.endObject()
        return Self.json(w)
    }

    // MARK: GET /{bucket}?notification-deliveries

    static let maxListedDeliveries = 1000

    /// The delivery log of the bucket's object notifications, newest first: each POST attempt's
    /// outcome per event (`max-deliveries`, 1–1000, default 100).
    func notificationDeliveries(_ name: String, _ x: S3Exchange) async throws -> Response {
        var limit = 100
        if let text = x.call["max-deliveries"] {
            guard let n = Int(S3Text.trimmed(text)), (1...Self.maxListedDeliveries).contains(n) else {
                throw S3Error.invalidArgument(
                    "max-deliveries must be an integer from 1 to \(Self.maxListedDeliveries).")
            }
            limit = n
        }
        let deliveries = try await workspaces.notificationDeliveries(tenant: x.tenant, bucket: name, limit: limit)
        var w = JSONWriter()
        w.beginObject()
        w.field("Bucket", name)
        w.key("Deliveries")
        w.beginArrayValue()
        for d in deliveries {
            w.beginObject()
            w.field("id", d.id)
            w.field("url", d.url)
            w.field("eventName", d.eventType)
            w.field("status", d.status)
            w.field("attempts", d.attempts)
            w.field("httpStatus", d.httpStatus)
            w.field("error", d.errorText)
            w.field("createdAt", timestamp: d.createdAt)
            w.field("nextAttemptAt", timestamp: d.status == "pending" ? d.nextAttemptAt : nil)
            w.field("completedAt", timestamp: d.completedAt)
            w.field("event", raw: d.payload)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return Self.json(w)
    }

    // MARK: GET / (JSON)

    func listBucketsJSON(_ x: S3Exchange) async throws -> Response {
        let (limit, after) = try Self.bucketPage(x, max: Self.maxListedBuckets)
        if x.call["OwnedBy"] != nil {
            throw S3Error.notImplemented("Buckets have no per-user owners here; OwnedBy is not supported.")
        }

        let all = try await workspaces.buckets(tenant: x.tenant)
        var candidates: [WorkspaceBucket]
        let forkListing: Bool
        if let sourceHeader = x.header("x-tigris-fork") {
            let sourceName = S3Text.trimmed(sourceHeader)
            let source: WorkspaceBucket
            do {
                source = try await workspaces.bucket(tenant: x.tenant, name: sourceName)
            } catch let error as S3Error where error.code == "NoSuchBucket" {
                throw S3Error.accessDenied("The fork source bucket does not exist or is not yours: \(sourceName)")
            }
            candidates = try await workspaces.forks(of: source)
            forkListing = true
        } else if Self.flag(x, "OnlyDeleted") {
            // Soft delete is never enabled here, so there are no soft-deleted buckets to list.
            candidates = []
            forkListing = false
        } else {
            candidates = all
            if Self.flag(x, "OnlyForked") { candidates.removeAll { $0.parent == nil } }
            forkListing = false
        }
        if let after { candidates.removeAll { $0.name <= after } }
        let page = Array(candidates.prefix(limit))
        let more = candidates.count > page.count

        let includeType = Self.flag(x, "IncludeTypeInfo")
        let includeForks = forkListing || Self.flag(x, "IncludeForkInfo")
        let includeStats = Self.flag(x, "IncludeStats")
        let parents = includeForks ? try await forkParents(page) : [:]
        // Forks live in their source's tenant, so the tenant's live buckets say who has children.
        let parentIds = Set(all.compactMap { $0.parent?.bucketId })
        let usages = includeStats ? try await usage(page) : []

        var w = JSONWriter(capacity: 256 + page.count * 128)
        w.beginObject()
        w.object("Owner") { o in
            o.field("ID", x.tenant.rawValue)
            o.field("DisplayName", x.tenant.rawValue)
        }
        w.object("Buckets") { bs in
            bs.key("Bucket")
            bs.beginArrayValue()
            for b in page {
                bs.beginObject()
                bs.field("Name", b.name)
                bs.field("CreationDate", timestamp: b.createdAt)
                if includeType { bs.field("Type", b.snapshotsEnabled ? "Snapshot" : "Regular") }
                if includeForks {
                    Self.writeForkInfo(&bs, hasChildren: parentIds.contains(b.id), parents: parents[b.id])
                }
                bs.endObject()
            }
            bs.endArray()
        }
        if more, let last = page.last { w.field("ContinuationToken", Base64.encode(Array(last.name.utf8))) }
        if includeStats {
            w.object("Stats") { s in
                s.field("ActiveBuckets", page.count)
                s.field("TotalObjects", Int(usages.reduce(0) { $0 + $1.versions }))
                s.field("TotalStorageBytes", Int(usages.reduce(0) { $0 + $1.versionBytes }))
                s.field("TotalUniqueObjects", Int(usages.reduce(0) { $0 + $1.currentObjects }))
            }
        }
        w.endObject()
        return Self.json(w)
    }

    // MARK: PATCH /{bucket}

    func patchBucket(_ name: String, _ x: S3Exchange) async throws -> Response {
        if let acl = x.header("x-amz-acl"), S3Text.trimmed(acl).lowercased() != "private" {
            throw S3Error.notImplemented("Only private buckets are supported.")
        }
        let bytes = try await readSmallBody(
            x, limit: Self.maxSettingsBytes,
            tooLarge: S3Error(
                code: "MaxMessageLengthExceeded",
                message: "The settings document is larger than \(Self.maxSettingsBytes) bytes.", status: 400))
        let malformed = S3Error(
            code: "MalformedJSON", message: "The request body must be a JSON object of bucket settings.", status: 400)
        guard let document = try? JSONParser.parse(bytes: bytes), let settings = document.objectValue else {
            throw malformed
        }
        var snapshots: Bool?
        // Double optional: absent, or set (to settings, or to nil: cleared).
        var notifications: ObjectNotificationSettings??
        for (key, value) in settings.pairs {
            if key == "object_notifications" {
                notifications = .some(try ObjectNotificationSettings.parse(value))
            } else if key == "type" {
                switch value.intValue {
                case 1: snapshots = true
                case 0: snapshots = false
                default: throw S3Error.invalidArgument("type must be 1 (snapshots enabled) or 0 (regular).")
                }
            } else if let reason = Self.unsupportedSettings[key] {
                throw S3Error.notImplemented("The bucket setting \(key) is not implemented: \(reason)")
            } else {
                throw S3Error.invalidArgument("Unknown bucket setting: \(key)")
            }
        }
        // Everything was validated above; the key's policies must allow each setting it changes.
        for key in settings.pairs.map(\.0) {
            if let action = Self.patchSettingActions[key] {
                try x.authorize(IAMRequest(action: action, resource: IAMRequest.bucketARN(name)))
            }
        }
        _ = try await workspaces.bucket(tenant: x.tenant, name: name)
        if let snapshots {
            try await workspaces.setSnapshotsEnabled(tenant: x.tenant, bucket: name, enabled: snapshots)
        }
        if let notifications {
            try await workspaces.setNotifications(tenant: x.tenant, bucket: name, settings: notifications)
        }
        var w = JSONWriter()
        w.beginObject()
        w.field("Bucket", name)
        w.field("Update", "success")
        w.endObject()
        return Self.json(w)
    }
}
