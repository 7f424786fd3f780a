import CairnCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

extension S3Listener {
    /// `encoding-type`: absent, or `url` (keys and prefixes percent-encoded, slashes kept).
    static func urlEncoding(_ x: S3Exchange) throws -> Bool {
        guard let type = x.call["encoding-type"] else { return false }
        guard type == "url" else { throw S3Error.invalidArgument("Invalid Encoding Method specified in Request") }
        return true
    }

    // MARK: ListObjects, ListObjectsV2

    func listObjects(_ bucket: String, _ x: S3Exchange, v2: Bool) async throws -> Response {
        let url = try Self.urlEncoding(x)
        func enc(_ text: String) -> String { url ? SigV4.percentEncode(text, keepSlashes: true) : text }
        var query = ObjectListQuery()
        query.prefix = x.call["prefix"] ?? ""
        if let delimiter = x.call["delimiter"], !delimiter.isEmpty { query.delimiter = delimiter }
        query.maxKeys = try Self.intParameter(x, "max-keys", default: 1000, max: 1000)
        let token = v2 ? x.call["continuation-token"] : nil
        let startAfter = v2 ? x.call["start-after"] : nil
        if let token {
            guard let bytes = Base64.decode(token), let after = String(validating: bytes, as: UTF8.self) else {
                throw S3Error.invalidArgument("The continuation token provided is incorrect")
            }
            query.after = after
        } else if v2 {
            query.after = startAfter.flatMap { $0.isEmpty ? nil : $0 }
        } else {
            query.after = x.call["marker"].flatMap { $0.isEmpty ? nil : $0 }
        }
        let snapshot = x.header("x-tigris-snapshot-version").map { S3Text.trimmed($0) }
        let page = try await workspaces.list(
            tenant: x.tenant, bucket: bucket, query: query, snapshotVersion: snapshot)
        let fetchOwner = !v2 || x.call["fetch-owner"] == "true"

        var xml = S3XMLWriter()
        xml.element("ListBucketResult", xmlns: S3XML.namespace) { l in
            l.element("Name", bucket)
            // ListObjects (v1) returns its prefix as sent, whatever the encoding type (botocore
            // decodes it for v2 only).
            l.element("Prefix", v2 ? enc(query.prefix) : query.prefix)
            if v2 {
                if let token { l.element("ContinuationToken", token) }
                if let startAfter { l.element("StartAfter", enc(startAfter)) }
                l.element("KeyCount", page.objects.count + page.commonPrefixes.count)
            } else {
                l.element("Marker", enc(x.call["marker"] ?? ""))
            }
            l.element("MaxKeys", query.maxKeys)
            if let delimiter = query.delimiter { l.element("Delimiter", enc(delimiter)) }
            if url { l.element("EncodingType", "url") }
            l.element("IsTruncated", page.isTruncated)
            if page.isTruncated, let last = page.last {
                if v2 {
                    l.element("NextContinuationToken", Base64.encode(Array(last.utf8)))
                } else if query.delimiter != nil {
                    l.element("NextMarker", enc(last))
                }
            }
            for object in page.objects {
                l.element("Contents") { c in
                    c.element("Key", enc(object.key))
                    c.element("LastModified", object.createdAt.iso8601)
                    c.element("ETag", object.etag)
                    c.element("Size", object.size)
                    if fetchOwner { Self.owner(&c, x.tenant) }
                    c.element("StorageClass", "STANDARD")
                }
            }
            for prefix in page.commonPrefixes {
                l.element("CommonPrefixes") { p in p.element("Prefix", enc(prefix)) }
            }
        }
        return Self.xml(xml.document)
    }

    // MARK: ListObjectVersions

    func listVersions(_ bucket: String, _ x: S3Exchange) async throws -> Response {
        let url = try Self.urlEncoding(x)
        func enc(_ text: String) -> String { url ? SigV4.percentEncode(text, keepSlashes: true) : text }
        var query = VersionListQuery()
        query.prefix = x.call["prefix"] ?? ""
        if let delimiter = x.call["delimiter"], !delimiter.isEmpty { query.delimiter = delimiter }
        query.maxKeys = try Self.intParameter(x, "max-keys", default: 1000, max: 1000)
        let keyMarker = x.call["key-marker"].flatMap { $0.isEmpty ? nil : $0 }
        let versionMarker = x.call["version-id-marker"].flatMap { $0.isEmpty ? nil : $0 }
        query.keyMarker = keyMarker
        if let versionMarker {
            guard keyMarker != nil else {
                throw S3Error.invalidArgument("A version-id marker cannot be specified without a key marker.")
            }
            if versionMarker != "null" {
                guard versionMarker.utf8.count <= 19, versionMarker.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                    let seq = Int64(versionMarker)
                else { throw S3Error.invalidArgument("Invalid version id specified") }
                query.versionMarker = seq
            }
        }
        let page = try await workspaces.listVersions(tenant: x.tenant, bucket: bucket, query: query)
        var xml = S3XMLWriter()
        xml.element("ListVersionsResult", xmlns: S3XML.namespace) { l in
            l.element("Name", bucket)
            l.element("Prefix", enc(query.prefix))
            l.element("KeyMarker", enc(keyMarker ?? ""))
            l.element("VersionIdMarker", versionMarker ?? "")
            if page.isTruncated {
                if let next = page.nextKeyMarker { l.element("NextKeyMarker", enc(next)) }
                if let next = page.nextVersionMarker { l.element("NextVersionIdMarker", next) }
            }
            l.element("MaxKeys", query.maxKeys)
            if let delimiter = query.delimiter { l.element("Delimiter", enc(delimiter)) }
            if url { l.element("EncodingType", "url") }
            l.element("IsTruncated", page.isTruncated)
            for (version, isLatest) in page.versions {
                l.element(version.isDeleteMarker ? "DeleteMarker" : "Version") { v in
                    v.element("Key", enc(version.key))
                    v.element("VersionId", version.versionId)
                    v.element("IsLatest", isLatest)
                    v.element("LastModified", version.createdAt.iso8601)
                    if !version.isDeleteMarker {
                        v.element("ETag", version.etag)
                        v.element("Size", version.size)
                        v.element("StorageClass", "STANDARD")
                    }
                    Self.owner(&v, x.tenant)
                }
            }
            for prefix in page.commonPrefixes {
                l.element("CommonPrefixes") { p in p.element("Prefix", enc(prefix)) }
            }
        }
        return Self.xml(xml.document)
    }

    // MARK: ListMultipartUploads

    func listUploads(_ bucket: String, _ x: S3Exchange) async throws -> Response {
        let url = try Self.urlEncoding(x)
        func enc(_ text: String) -> String { url ? SigV4.percentEncode(text, keepSlashes: true) : text }
        let prefix = x.call["prefix"] ?? ""
        let keyMarker = x.call["key-marker"].flatMap { $0.isEmpty ? nil : $0 }
        let uploadIdMarker = keyMarker == nil ? nil : x.call["upload-id-marker"].flatMap { $0.isEmpty ? nil : $0 }
        let maxUploads = try Self.intParameter(x, "max-uploads", default: 1000, max: 1000)
        let found = try await workspaces.uploads(
            tenant: x.tenant, bucket: bucket, prefix: prefix, keyMarker: keyMarker, uploadIdMarker: uploadIdMarker,
            limit: maxUploads + 1)
        let page = Array(found.prefix(maxUploads))
        let truncated = maxUploads > 0 && found.count > page.count
        var xml = S3XMLWriter()
        xml.element("ListMultipartUploadsResult", xmlns: S3XML.namespace) { l in
            l.element("Bucket", bucket)
            l.element("KeyMarker", enc(keyMarker ?? ""))
            l.element("UploadIdMarker", uploadIdMarker ?? "")
            if truncated, let last = page.last {
                l.element("NextKeyMarker", enc(last.key))
                l.element("NextUploadIdMarker", last.id)
            }
            l.element("Prefix", enc(prefix))
            l.element("MaxUploads", maxUploads)
            if url { l.element("EncodingType", "url") }
            l.element("IsTruncated", truncated)
            for upload in page {
                l.element("Upload") { u in
                    u.element("Key", enc(upload.key))
                    u.element("UploadId", upload.id)
                    Self.owner(&u, x.tenant, element: "Initiator")
                    Self.owner(&u, x.tenant)
                    u.element("StorageClass", "STANDARD")
                    u.element("Initiated", upload.createdAt.iso8601)
                    if let checksum = MultipartChecksum(upload.headers) {
                        u.element("ChecksumAlgorithm", checksum.algorithm.rawValue)
                        u.element("ChecksumType", checksum.type.rawValue)
                    }
                }
            }
        }
        return Self.xml(xml.document)
    }

    // MARK: DeleteObjects

    func deleteObjects(_ bucket: String, _ x: S3Exchange) async throws -> Response {
        _ = try await workspaces.bucket(tenant: x.tenant, name: bucket)
        guard let document = try await readXML(x), document.name == "Delete" else { throw S3Error.malformedXML() }
        let objects = document.children("Object")
        guard (1...1000).contains(objects.count) else {
            throw S3Error.malformedXML("A Delete request names 1 to 1000 objects.")
        }
        var targets: [(key: String, versionId: String?)] = []
        for object in objects {
            guard let key = object.childText("Key") else { throw S3Error.malformedXML("An Object has no Key.") }
            let versionId = object.childText("VersionId").map { S3Text.trimmed($0) }
            targets.append((key, versionId?.isEmpty == true ? nil : versionId))
        }
        let quiet = document.childText("Quiet").map { S3Text.trimmed($0).lowercased() == "true" } ?? false

        var xml = S3XMLWriter()
        xml.open("DeleteResult", xmlns: S3XML.namespace)
        for target in targets {
            do {
                try x.authorize(
                    IAMRequest(action: "s3:DeleteObject", resource: IAMRequest.objectARN(bucket, target.key)))
                let result = try await workspaces.deleteObject(
                    tenant: x.tenant, bucket: bucket, key: target.key, versionId: target.versionId)
                if quiet { continue }
                xml.element("Deleted") { d in
                    d.element("Key", target.key)
                    if let versionId = target.versionId {
                        d.element("VersionId", versionId)
                        if result.isDeleteMarker {
                            d.element("DeleteMarker", true)
                            d.element("DeleteMarkerVersionId", versionId)
                        }
                    } else if result.isDeleteMarker, let markerId = result.versionId {
                        d.element("DeleteMarker", true)
                        d.element("DeleteMarkerVersionId", markerId)
                    }
                }
            } catch {
                let s3: S3Error
                if let error = error as? S3Error {
                    s3 = error
                } else {
                    logger.error(
                        "S3 DeleteObjects entry failed",
                        metadata: ["bucket": "\(bucket)", "error": "\(String(reflecting: error))"])
                    s3 = S3Error(
                        code: "InternalError", message: "We encountered an internal error. Please try again.",
                        status: 500)
                }
                xml.element("Error") { e in
                    e.element("Key", target.key)
                    if let versionId = target.versionId { e.element("VersionId", versionId) }
                    e.element("Code", s3.code)
                    e.element("Message", s3.message)
                }
            }
        }
        xml.close("DeleteResult")
        return Self.xml(xml.document)
    }
}
