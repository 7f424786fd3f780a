import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore

extension S3Listener {
    // MARK: ListBuckets (and Tigris' snapshot listing)

    /// The most buckets one ListBuckets page holds (S3's `max-buckets` range), and its default.
    static let maxBucketsPage = 10_000

    /// `max-buckets` (1…`max`, default `max`) and the name a `continuation-token` resumes after.
    static func bucketPage(_ x: S3Exchange, max: Int) throws -> (limit: Int, after: String?) {
        var limit = max
        if let text = x.call["max-buckets"] {
            guard let n = Int(S3Text.trimmed(text)), (1...max).contains(n) else {
                throw S3Error.invalidArgument("max-buckets must be an integer from 1 to \(max).")
            }
            limit = n
        }
        var after: String?
        if let token = x.call["continuation-token"], !token.isEmpty {
            guard let bytes = Base64.decode(token), let name = String(validating: bytes, as: UTF8.self) else {
                throw S3Error.invalidArgument("The continuation token is not valid.")
            }
            after = name
        }
        return (limit, after)
    }

    func listBuckets(_ x: S3Exchange) async throws -> Response {
        var entries: [(name: String, created: Timestamp)] = []
        var next: String?
        var prefix = ""
        if let source = x.header("x-tigris-snapshot") {
            let snapshots = try await workspaces.snapshots(tenant: x.tenant, bucket: S3Text.trimmed(source))
            for s in snapshots {
                entries.append((s.name.map { s.version + "; name=" + $0 } ?? s.version, s.createdAt))
            }
        } else {
            prefix = x.call["prefix"] ?? ""
            let (limit, after) = try Self.bucketPage(x, max: Self.maxBucketsPage)
            let found = try await workspaces.buckets(tenant: x.tenant, prefix: prefix, after: after, limit: limit + 1)
            entries = found.prefix(limit).map { ($0.name, $0.createdAt) }
            if found.count > limit, let last = entries.last { next = Base64.encode(Array(last.name.utf8)) }
        }
        var xml = S3XMLWriter()
        xml.element("ListAllMyBucketsResult", xmlns: S3XML.namespace) { x1 in
            Self.owner(&x1, x.tenant)
            x1.element("Buckets") { x2 in
                for entry in entries {
                    x2.element("Bucket") { x3 in
                        x3.element("Name", entry.name)
                        x3.element("CreationDate", entry.created.iso8601)
                    }
                }
            }
            if let next { x1.element("ContinuationToken", next) }
            if !prefix.isEmpty { x1.element("Prefix", prefix) }
        }
        return Self.xml(xml.document)
    }

    static func owner(_ xml: inout S3XMLWriter, _ tenant: TenantID, element: String = "Owner") {
        xml.element(element) { o in
            o.element("ID", tenant.rawValue)
            o.element("DisplayName", tenant.rawValue)
        }
    }

    // MARK: CreateBucket (and Tigris' snapshot and fork)

    func createBucket(_ name: String, _ x: S3Exchange) async throws -> Response {
        if let acl = x.header("x-amz-acl"), S3Text.trimmed(acl) != "private" {
            throw S3Error.notImplemented("Only the private canned ACL is supported.")
        }
        if x.request.headers.contains(where: { $0.name.canonicalName.hasPrefix("x-amz-grant-") }) {
            throw S3Error.notImplemented("ACL grants are not supported.")
        }
        if let lock = x.header("x-amz-bucket-object-lock-enabled"), S3Text.trimmed(lock).lowercased() == "true" {
            throw S3Error.notImplemented("Object Lock is not supported.")
        }
        // A CreateBucketConfiguration may come along; its region is ignored, but it must be XML.
        if let config = try await readXML(x), config.name != "CreateBucketConfiguration" {
            throw S3Error.malformedXML()
        }
        var headers = HTTPFields()
        if let snapshot = x.header("x-tigris-snapshot"), let request = Self.snapshotRequest(snapshot) {
            let snap = try await workspaces.snapshot(tenant: x.tenant, bucket: name, snapshotName: request.name)
            headers.set("x-tigris-snapshot-version", snap.version)
            return Self.empty(.ok, headers: headers)
        }
        if let source = x.header("x-tigris-fork-source-bucket") {
            let version = x.header("x-tigris-fork-source-bucket-snapshot").map { S3Text.trimmed($0) }
            let fork = try await workspaces.fork(
                tenant: x.tenant, name: name, source: S3Text.trimmed(source),
                snapshotVersion: version?.isEmpty == true ? nil : version)
            headers[.location] = "/" + name
            if let parent = fork.parent {
                headers.set("x-tigris-fork-source-bucket", parent.name)
                headers.set("x-tigris-fork-source-bucket-snapshot", String(parent.point))
            }
            return Self.empty(.ok, headers: headers)
        }
        let enable = x.header("x-tigris-enable-snapshot").map { S3Text.trimmed($0).lowercased() == "true" } ?? false
        _ = try await workspaces.createBucket(tenant: x.tenant, name: name, snapshotsEnabled: enable)
        headers[.location] = "/" + name
        return Self.empty(.ok, headers: headers)
    }

    /// `true` or `true; name=<name>`: a snapshot of an existing bucket; nil for anything else.
    static func snapshotRequest(_ value: String) -> SnapshotRequest? {
        let trimmed = S3Text.trimmed(value)
        let first = trimmed.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
        guard S3Text.trimmed(first[0]).lowercased() == "true" else { return nil }
        guard first.count > 1 else { return SnapshotRequest(name: nil) }
        let rest = first[1]
        guard let range = rest.firstRange(of: "name=") else { return SnapshotRequest(name: nil) }
        let name = S3Text.trimmed(rest[range.upperBound...])
        return SnapshotRequest(name: name.isEmpty ? nil : name)
    }

    struct SnapshotRequest {
        var name: String?
    }

    // MARK: HeadBucket, DeleteBucket

    func headBucket(_ name: String, _ x: S3Exchange) async throws -> Response {
        let bucket = try await workspaces.bucket(tenant: x.tenant, name: name)
        var headers = HTTPFields()
        headers.set("x-amz-bucket-region", "us-east-1")
        if bucket.snapshotsEnabled { headers.set("x-tigris-enable-snapshot", "true") }
        if let parent = bucket.parent {
            headers.set("x-tigris-fork-source-bucket", parent.name)
            headers.set("x-tigris-fork-source-bucket-snapshot", String(parent.point))
        }
        return Self.empty(.ok, headers: headers)
    }

    func deleteBucket(_ name: String, _ x: S3Exchange) async throws -> Response {
        if let version = x.header("x-tigris-snapshot-version") {
            try await workspaces.deleteSnapshot(tenant: x.tenant, bucket: name, version: S3Text.trimmed(version))
            return Response(status: .noContent)
        }
        let force = [x.header("x-tigris-force-delete"), x.header("tigris-force-delete")].contains {
            $0.map { S3Text.trimmed($0).lowercased() == "true" } ?? false
        }
        try await workspaces.deleteBucket(tenant: x.tenant, name: name, force: force)
        return Response(status: .noContent)
    }

    // MARK: Versioning

    func putVersioning(_ name: String, _ x: S3Exchange) async throws -> Response {
        guard let config = try await readXML(x), config.name == "VersioningConfiguration" else {
            throw S3Error.malformedXML()
        }
        if let mfa = config.childText("MfaDelete"), S3Text.trimmed(mfa) == "Enabled" {
            throw S3Error.notImplemented("MFA delete is not supported.")
        }
        switch config.childText("Status").map({ S3Text.trimmed($0) }) {
        case "Enabled": try await workspaces.setVersioning(tenant: x.tenant, bucket: name, enabled: true)
        case "Suspended": try await workspaces.setVersioning(tenant: x.tenant, bucket: name, enabled: false)
        default: throw S3Error.malformedXML("The versioning Status must be Enabled or Suspended.")
        }
        return Self.empty()
    }

    func getVersioning(_ name: String, _ x: S3Exchange) async throws -> Response {
        let bucket = try await workspaces.bucket(tenant: x.tenant, name: name)
        var xml = S3XMLWriter()
        xml.element("VersioningConfiguration", xmlns: S3XML.namespace) { v in
            switch bucket.versioning {
            case .unversioned: if bucket.snapshotsEnabled { v.element("Status", "Enabled") }
            case .enabled: v.element("Status", "Enabled")
            case .suspended: v.element("Status", "Suspended")
            }
        }
        return Self.xml(xml.document)
    }

    // MARK: Lifecycle

    func putLifecycle(_ name: String, _ x: S3Exchange) async throws -> Response {
        let (config, text) = try await readXMLText(x)
        _ = try LifecycleConfiguration(config)
        var stored = text
        if let named = LifecycleConfiguration.namingRules(config, newID: { Identifier.randomHex() }) {
            var xml = S3XMLWriter()
            xml.element(named, xmlns: S3XML.namespace)
            stored = xml.document
        }
        try await workspaces.setLifecycle(tenant: x.tenant, bucket: name, xml: stored)
        return Self.empty()
    }

    func getLifecycle(_ name: String, _ x: S3Exchange) async throws -> Response {
        let bucket = try await workspaces.bucket(tenant: x.tenant, name: name)
        guard let text = bucket.lifecycleXML else {
            throw S3Error(
                code: "NoSuchLifecycleConfiguration", message: "The lifecycle configuration does not exist.",
                status: 404)
        }
        return Self.xml(text)
    }
}
