import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore

/// One S3 operation a request was routed to, with the scope it needs.
enum S3Operation: Sendable, Equatable {
    case listBuckets
    case createBucket(String)
    case headBucket(String)
    case deleteBucket(String)
    case putVersioning(String)
    case getVersioning(String)
    case putLifecycle(String)
    case getLifecycle(String)
    case deleteLifecycle(String)
    case getLocation(String)
    case listObjects(String)
    case listObjectsV2(String)
    case listVersions(String)
    case listUploads(String)
    case deleteObjects(String)
    case putObject(String, String)
    case copyObject(String, String)
    case getObject(String, String)
    case headObject(String, String)
    case deleteObject(String, String)
    case createUpload(String, String)
    case uploadPart(String, String)
    case completeUpload(String, String)
    case abortUpload(String, String)
    case listParts(String, String)
    case bucketMetadata(String)
    /// `GET /{bucket}?notification-deliveries`: the object notifications' delivery log (Cairn's own).
    case notificationDeliveries(String)
    /// `GET /{bucket}?notification-events`: the change events as server-sent events (Cairn's own).
    case notificationEvents(String)
    case patchBucket(String)
    case bundle(String)
    /// `?acl` of a bucket or an object (key non-nil): read, or set to what it already is.
    case getAcl(String, String?)
    case putAcl(String, String?)

    /// The operation's name without its bucket and key (a metric label: bounded).
    var name: String { String(String(describing: self).prefix(while: { $0 != "(" })) }

    var scope: Scope {
        switch self {
        case .listBuckets, .headBucket, .getVersioning, .getLifecycle, .getLocation, .listObjects, .listObjectsV2,
            .listVersions, .listUploads, .getObject, .headObject, .listParts, .bundle, .bucketMetadata,
            .notificationDeliveries, .notificationEvents, .getAcl:
            .read
        case .createBucket, .deleteBucket, .putVersioning, .putLifecycle, .deleteLifecycle, .deleteObjects,
            .putObject, .copyObject, .deleteObject, .createUpload, .uploadPart, .completeUpload, .abortUpload,
            .patchBucket, .putAcl:
            .write
        }
    }

    /// S3 sub-resources this server does not implement: answered 501, never a silent success.
    static let unsupported: Set<String> = [
        "policy", "cors", "tagging", "website", "encryption", "replication", "object-lock", "logging",
        "notification", "requestPayment", "accelerate", "analytics", "inventory", "metrics", "intelligent-tiering",
        "ownershipControls", "publicAccessBlock", "policyStatus", "legal-hold", "retention", "torrent", "restore",
        "select", "attributes", "renameObject", "session",
    ]

    /// S3 storage classes; every object here is STANDARD, so the others are refused, not ignored.
    static let storageClasses: Set<String> = [
        "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
        "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE",
    ]

    /// Request headers that ask for features this server does not have (Tigris' soft delete,
    /// regions, public listing and shadow-bucket listings; storage classes): answered 501 on any
    /// operation, so a client never believes a setting took effect. (`X-Tigris-Schedule-Migration`
    /// is not among them: no bucket here has a shadow source, and Tigris answers such a HEAD as
    /// a plain one.)
    static func refuseUnimplementedHeaders(_ header: (String) -> String?) throws {
        func value(_ name: String) -> String? { header(name).map { S3Text.trimmed($0) } }
        if let softDelete = value("x-tigris-soft-delete"), softDelete.lowercased() != "false" {
            throw S3Error.notImplemented("Soft delete (X-Tigris-Soft-Delete) is not implemented.")
        }
        if let regions = value("x-tigris-regions"), !regions.isEmpty {
            throw S3Error.notImplemented("Bucket regions (X-Tigris-Regions) are not implemented.")
        }
        if let list = value("x-amz-acl-public-list-objects-enabled"), list.lowercased() != "false" {
            throw S3Error.notImplemented("Public object listing is not supported.")
        }
        if let source = value("x-tigris-list-source"), !["", "tigris"].contains(source.lowercased()) {
            throw S3Error.notImplemented("Listing a shadow bucket (X-Tigris-List-Source) is not implemented.")
        }
        if let storageClass = value("x-amz-storage-class"), storageClass != "STANDARD" {
            guard storageClasses.contains(storageClass) else {
                throw S3Error(
                    code: "InvalidStorageClass", message: "The storage class you specified is not valid.", status: 400)
            }
            throw S3Error.notImplemented("Only the STANDARD storage class is supported.")
        }
    }

    static func methodNotAllowed() -> S3Error {
        S3Error(
            code: "MethodNotAllowed", message: "The specified method is not allowed against this resource.",
            status: 405)
    }

    static func route(_ call: S3Call, method: HTTPRequest.Method) throws -> S3Operation {
        if let name = call.query.first(where: { unsupported.contains($0.name) })?.name {
            throw S3Error.notImplemented("The ?\(name) sub-resource is not implemented.")
        }
        if call.has("metadata") {
            guard let bucket = call.bucket, call.key == nil else {
                throw S3Error.notImplemented("The ?metadata sub-resource is not implemented.")
            }
            guard method == .get else { throw methodNotAllowed() }
            return .bucketMetadata(bucket)
        }
        if call.has("notification-events") {
            guard let bucket = call.bucket, call.key == nil else {
                throw S3Error.invalidArgument("?notification-events is a bucket's sub-resource.")
            }
            guard method == .get else { throw methodNotAllowed() }
            return .notificationEvents(bucket)
        }
        if call.has("notification-deliveries") {
            guard let bucket = call.bucket, call.key == nil else {
                throw S3Error.invalidArgument("?notification-deliveries is a bucket's sub-resource.")
            }
            guard method == .get else { throw methodNotAllowed() }
            return .notificationDeliveries(bucket)
        }
        guard let bucket = call.bucket else {
            guard method == .get else { throw methodNotAllowed() }
            return .listBuckets
        }
        if call.has("acl") {
            switch method {
            case .get: return .getAcl(bucket, call.key)
            case .put: return .putAcl(bucket, call.key)
            default: throw methodNotAllowed()
            }
        }
        guard let key = call.key else {
            switch method {
            case .get:
                if call.has("versioning") { return .getVersioning(bucket) }
                if call.has("lifecycle") { return .getLifecycle(bucket) }
                if call.has("location") { return .getLocation(bucket) }
                if call.has("versions") { return .listVersions(bucket) }
                if call.has("uploads") { return .listUploads(bucket) }
                if let type = call["list-type"] {
                    guard type == "2" else { throw S3Error.invalidArgument("Invalid list-type: \(type)") }
                    return .listObjectsV2(bucket)
                }
                return .listObjects(bucket)
            case .head: return .headBucket(bucket)
            case .put:
                if call.has("versioning") { return .putVersioning(bucket) }
                if call.has("lifecycle") { return .putLifecycle(bucket) }
                return .createBucket(bucket)
            case .delete:
                if call.has("lifecycle") { return .deleteLifecycle(bucket) }
                return .deleteBucket(bucket)
            case .post:
                if call.has("delete") { return .deleteObjects(bucket) }
                if call.has("bundle") { return .bundle(bucket) }
                throw methodNotAllowed()
            case .patch: return .patchBucket(bucket)
            default: throw methodNotAllowed()
            }
        }
        switch method {
        case .get: return call.has("uploadId") ? .listParts(bucket, key) : .getObject(bucket, key)
        case .head: return .headObject(bucket, key)
        case .put:
            if call.has("uploadId") || call.has("partNumber") { return .uploadPart(bucket, key) }
            return .putObject(bucket, key)
        case .delete: return call.has("uploadId") ? .abortUpload(bucket, key) : .deleteObject(bucket, key)
        case .post:
            if call.has("uploads") { return .createUpload(bucket, key) }
            if call.has("uploadId") { return .completeUpload(bucket, key) }
            throw methodNotAllowed()
        default: throw methodNotAllowed()
        }
    }
}

/// What an operation works with: the parsed call, the request (headers and body), the tenant
/// and how the request was signed.
struct S3Exchange: Sendable {
    var call: S3Call
    var request: Request
    var tenant: TenantID
    var auth: S3Authentication
    /// The policies attached to the request's key; none means only its scopes apply.
    var policies: [IAMPolicyDocument] = []

    /// Refuses what the key's policies (when it has any) do not allow: an explicit deny in any of
    /// them wins, otherwise one must allow it.
    func authorize(_ wanted: IAMRequest) throws {
        guard !policies.isEmpty else { return }
        switch IAMPolicyDocument.decision(for: wanted, under: policies) {
        case .allowed: return
        case .denied: throw S3Error.accessDenied("A policy attached to the key denies \(wanted).")
        case .notAllowed: throw S3Error.accessDenied("No policy attached to the key allows \(wanted).")
        }
    }

    /// A request header (name compared case-insensitively).
    func header(_ name: String) -> String? { request.headers.value(name) }

    func headerValues(_ name: String) -> [String] {
        guard let field = HTTPField.Name(name) else { return [] }
        return request.headers[values: field]
    }
}

extension S3Listener {
    func perform(_ operation: S3Operation, _ x: S3Exchange) async throws -> Response {
        switch operation {
        case .listBuckets: return Self.wantsJSONListing(x) ? try await listBucketsJSON(x) : try await listBuckets(x)
        case .createBucket(let b): return try await createBucket(b, x)
        case .headBucket(let b): return try await headBucket(b, x)
        case .deleteBucket(let b): return try await deleteBucket(b, x)
        case .putVersioning(let b): return try await putVersioning(b, x)
        case .getVersioning(let b): return try await getVersioning(b, x)
        case .putLifecycle(let b): return try await putLifecycle(b, x)
        case .getLifecycle(let b): return try await getLifecycle(b, x)
        case .deleteLifecycle(let b):
            try await workspaces.setLifecycle(tenant: x.tenant, bucket: b, xml: nil)
            return Response(status: .noContent)
        case .getLocation(let b):
            _ = try await workspaces.bucket(tenant: x.tenant, name: b)
            return Self.xml(S3XML.declaration + #"<LocationConstraint xmlns="\#(S3XML.namespace)"/>"#)
        case .listObjects(let b): return try await listObjects(b, x, v2: false)
        case .listObjectsV2(let b): return try await listObjects(b, x, v2: true)
        case .listVersions(let b): return try await listVersions(b, x)
        case .listUploads(let b): return try await listUploads(b, x)
        case .deleteObjects(let b): return try await deleteObjects(b, x)
        case .putObject(let b, let k):
            if x.header("x-amz-copy-source") != nil { return try await copyObject(b, k, x) }
            return try await putObject(b, k, x)
        case .copyObject(let b, let k): return try await copyObject(b, k, x)
        case .getObject(let b, let k): return try await getObject(b, k, x, head: false)
        case .headObject(let b, let k): return try await getObject(b, k, x, head: true)
        case .deleteObject(let b, let k): return try await deleteObject(b, k, x)
        case .createUpload(let b, let k): return try await createUpload(b, k, x)
        case .uploadPart(let b, let k): return try await uploadPart(b, k, x)
        case .completeUpload(let b, let k): return try await completeUpload(b, k, x)
        case .abortUpload(let b, let k):
            let uploadId = x.call["uploadId"] ?? ""
            _ = try await workspaces.upload(tenant: x.tenant, bucket: b, uploadId: uploadId, key: k)
            try await workspaces.abortUpload(tenant: x.tenant, bucket: b, uploadId: uploadId)
            return Response(status: .noContent)
        case .listParts(let b, let k): return try await listParts(b, k, x)
        case .bundle(let b): return try await bundle(b, x)
        case .getAcl(let b, let k): return try await getAcl(b, key: k, x)
        case .putAcl(let b, let k): return try await putAcl(b, key: k, x)
        case .bucketMetadata(let b): return try await bucketMetadata(b, x)
        case .notificationDeliveries(let b): return try await notificationDeliveries(b, x)
        case .notificationEvents(let b): return try await notificationEvents(b, x)
        case .patchBucket(let b): return try await patchBucket(b, x)
        }
    }

    // MARK: Response helpers

    static func xml(_ document: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/xml"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: document)))
    }

    static func empty(_ status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentLength] = "0"
        return Response(status: status, headers: headers)
    }
}
