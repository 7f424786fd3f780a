import CairnCore

/// What each S3 operation asks of IAM: the actions and resources a key's policies must allow
/// before the operation runs. A request that touches two things (a copy reads its source and
/// writes its target) needs every one allowed. The table is in docs/compat/s3.md.
extension S3Operation {
    func iamRequests(header: (String) -> String?) throws -> [IAMRequest] {
        func on(_ action: String, bucket b: String) -> IAMRequest {
            IAMRequest(action: action, resource: IAMRequest.bucketARN(b))
        }
        func on(_ action: String, _ b: String, _ k: String) -> IAMRequest {
            IAMRequest(action: action, resource: IAMRequest.objectARN(b, k))
        }
        /// A copy's source is read; a rename also deletes it.
        func copySource(rename: Bool) throws -> [IAMRequest] {
            guard let value = header("x-amz-copy-source") else { return [] }
            let source = try S3Listener.parseCopySource(value)
            var requests = [on("s3:GetObject", source.bucket, source.key)]
            if rename { requests.append(on("s3:DeleteObject", source.bucket, source.key)) }
            return requests
        }
        let renames = header("x-tigris-rename").map { S3Text.trimmed($0).lowercased() == "true" } ?? false
        switch self {
        case .listBuckets:
            // Tigris' snapshot listing lists one bucket's snapshots, not the buckets.
            if let snapshotsOf = header("x-tigris-snapshot") {
                return [on("s3:ListBucket", bucket: S3Text.trimmed(snapshotsOf))]
            }
            return [IAMRequest(action: "s3:ListAllMyBuckets", resource: "*")]
        case .createBucket(let b):
            // A fork reads everything its source holds.
            if let source = header("x-tigris-fork-source-bucket").map({ S3Text.trimmed($0) }) {
                return [
                    on("s3:CreateBucket", bucket: b), on("s3:ListBucket", bucket: source),
                    on("s3:GetObject", source, "*"),
                ]
            }
            return [on("s3:CreateBucket", bucket: b)]
        case .headBucket(let b), .listObjects(let b), .listObjectsV2(let b), .bucketMetadata(let b):
            return [on("s3:ListBucket", bucket: b)]
        case .deleteBucket(let b): return [on("s3:DeleteBucket", bucket: b)]
        case .putVersioning(let b): return [on("s3:PutBucketVersioning", bucket: b)]
        // What a settings PATCH asks for depends on the settings it carries: checked once the
        // body is read (`patchBucketRequests`).
        case .patchBucket: return []
        case .getVersioning(let b): return [on("s3:GetBucketVersioning", bucket: b)]
        case .putLifecycle(let b), .deleteLifecycle(let b): return [on("s3:PutLifecycleConfiguration", bucket: b)]
        case .getLifecycle(let b): return [on("s3:GetLifecycleConfiguration", bucket: b)]
        case .getLocation(let b): return [on("s3:GetBucketLocation", bucket: b)]
        case .notificationDeliveries(let b), .notificationEvents(let b):
            return [on("s3:GetBucketNotification", bucket: b)]
        case .listVersions(let b): return [on("s3:ListBucketVersions", bucket: b)]
        case .listUploads(let b): return [on("s3:ListBucketMultipartUploads", bucket: b)]
        // Their keys are in the body: each is checked once read (`s3:DeleteObject` on each key of
        // a DeleteObjects, `s3:GetObject` on each key of a bundle).
        case .deleteObjects, .bundle: return []
        case .putObject(let b, let k), .copyObject(let b, let k):
            return [on("s3:PutObject", b, k)] + (try copySource(rename: renames))
        case .createUpload(let b, let k), .completeUpload(let b, let k):
            return [on("s3:PutObject", b, k)]
        case .uploadPart(let b, let k): return [on("s3:PutObject", b, k)] + (try copySource(rename: false))
        case .getObject(let b, let k), .headObject(let b, let k): return [on("s3:GetObject", b, k)]
        case .deleteObject(let b, let k): return [on("s3:DeleteObject", b, k)]
        case .abortUpload(let b, let k): return [on("s3:AbortMultipartUpload", b, k)]
        case .listParts(let b, let k): return [on("s3:ListMultipartUploadParts", b, k)]
        case .getAcl(let b, nil): return [on("s3:GetBucketAcl", bucket: b)]
        case .getAcl(let b, let k?): return [on("s3:GetObjectAcl", b, k)]
        case .putAcl(let b, nil): return [on("s3:PutBucketAcl", bucket: b)]
        case .putAcl(let b, let k?): return [on("s3:PutObjectAcl", b, k)]
        }
    }
}

extension S3Listener {
    /// The IAM action each bucket setting of a `PATCH /{bucket}` body needs.
    static let patchSettingActions = [
        "object_notifications": "s3:PutBucketNotification", "type": "s3:PutBucketVersioning",
    ]
}
