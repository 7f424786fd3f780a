import AsyncHTTPClient
import CairnCore
import CairnStore
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Workspaces over S3 (a Cairn server's S3 listener, with Tigris' headers and the IAM Query
/// API on the same port), signed by the SigV4 code the server verifies with.
struct S3WorkspaceTransport: WorkspaceTransport {
    let client: S3Client

    /// One HTTP client for every workspace client of the process, as long as the process lives.
    /// Transfers may take long: no overall deadline on streams, but a silent connection fails.
    static let http = S3Client.makeHTTPClient(requestTimeout: .seconds(300))

    /// Bodies up to this size go in one PutObject; larger files are uploaded in parts.
    static let singlePutLimit: Int64 = 16 << 20
    static let partSize: Int64 = 8 << 20
    static let maxParts: Int64 = 10_000
    /// Parts uploaded at once.
    static let partConcurrency = 4

    init(endpoint: String, credentials: SigV4.Credentials) throws {
        guard let url = URL(string: endpoint) else { throw WorkspaceError.invalid("\(endpoint) is not a URL") }
        do {
            client = try S3Client(
                configuration: .init(endpoint: url, credentials: credentials, requestTimeout: .seconds(300)),
                httpClient: Self.http)
        } catch {
            throw WorkspaceError.invalid("\(error)")
        }
    }

    /// S3's and the transport's failures as `WorkspaceError`s.
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as S3ErrorResponse {
            throw WorkspaceError.refused(status: error.status, code: error.code, message: error.message)
        } catch let error as S3RequestFailed {
            throw WorkspaceError.unavailable(error.description)
        }
    }

    private func call(
        _ operation: String, _ method: HTTPMethod, bucket: String = "", key: String? = nil,
        query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
        body: ByteBuffer = ByteBuffer(), idempotent: Bool = false, maxBodyBytes: Int = S3Client.maxXMLBytes
    ) async throws -> S3Client.Answer {
        try await mapped {
            try await client.call(
                operation, method, bucket: bucket, key: key, query: query, headers: headers, body: body,
                idempotent: idempotent, maxBodyBytes: maxBodyBytes)
        }
    }

    private static func xml(_ answer: S3Client.Answer, _ operation: String) throws -> S3XMLElement {
        guard let root = try? S3XML.parse(Array(answer.body.readableBytesView)) else {
            throw WorkspaceError.malformed("\(operation): the answer is not XML")
        }
        return root
    }

    /// A streamed request's non-2xx answer as a refusal, with S3's code and message when its
    /// (bounded) body has them.
    private static func refusal(_ response: HTTPClientResponse) async -> WorkspaceError {
        let body = try? await response.body.collect(upTo: 64 << 10)
        let root = body.flatMap { try? S3XML.parse(Array($0.readableBytesView)) }
        return WorkspaceError.refused(
            status: Int(response.status.code), code: root?.childText("Code") ?? "HTTP\(response.status.code)",
            message: root?.childText("Message") ?? "")
    }

    private static func snapshotHeader(_ snapshot: String?) -> [(name: String, value: String)] {
        snapshot.map { [("x-tigris-snapshot-version", $0)] } ?? []
    }

    private static func unquoted(_ eTag: String) -> String {
        eTag.count >= 2 && eTag.hasPrefix("\"") && eTag.hasSuffix("\"") ? String(eTag.dropFirst().dropLast()) : eTag
    }

    // MARK: Buckets

    func createBucket(_ name: String, snapshots: Bool) async throws {
        _ = try await call(
            "CreateBucket", .PUT, bucket: name, headers: snapshots ? [("x-tigris-enable-snapshot", "true")] : [])
    }

    func setLifecycle(_ name: String, xml: String) async throws {
        var digest = ObjectDigest(.md5)
        digest.update(Array(xml.utf8))
        _ = try await call(
            "PutBucketLifecycleConfiguration", .PUT, bucket: name, query: [("lifecycle", "")],
            headers: [("content-type", "application/xml"), ("content-md5", digest.finalize().md5Base64 ?? "")],
            body: ByteBuffer(string: xml), idempotent: true)
    }

    func deleteBucket(_ name: String, force: Bool) async throws {
        _ = try await call(
            "DeleteBucket", .DELETE, bucket: name, headers: force ? [("x-tigris-force-delete", "true")] : [],
            idempotent: true)
    }

    func buckets() async throws -> [String] {
        let root = try Self.xml(try await call("ListBuckets", .GET, idempotent: true), "ListBuckets")
        return root.child("Buckets")?.children("Bucket").compactMap { $0.childText("Name") } ?? []
    }

    func snapshot(_ bucket: String, name: String?) async throws -> WorkspaceCheckpoint {
        let answer = try await call(
            "CreateSnapshot", .PUT, bucket: bucket,
            headers: [("x-tigris-snapshot", name.map { "true; name=\($0)" } ?? "true")])
        guard let version = answer.headers.first(name: "x-tigris-snapshot-version"), !version.isEmpty else {
            throw WorkspaceError.malformed("CreateSnapshot: no X-Tigris-Snapshot-Version in the answer")
        }
        return WorkspaceCheckpoint(version: version, name: name, createdAt: nil)
    }

    func snapshots(_ bucket: String) async throws -> [WorkspaceCheckpoint] {
        let answer = try await call("ListSnapshots", .GET, headers: [("x-tigris-snapshot", bucket)], idempotent: true)
        let root = try Self.xml(answer, "ListSnapshots")
        return (root.child("Buckets")?.children("Bucket") ?? []).compactMap { entry in
            // `<version>` or `<version>; name=<name>`.
            guard let text = entry.childText("Name") else { return nil }
            let parts = text.split(separator: ";", maxSplits: 1)
            let name = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            return WorkspaceCheckpoint(
                version: String(parts[0]).trimmingCharacters(in: .whitespaces),
                name: name.hasPrefix("name=") ? String(name.dropFirst(5)) : nil,
                createdAt: entry.childText("CreationDate").flatMap(Timestamp.init(iso8601:)))
        }
    }

    func fork(_ name: String, source: String, snapshot: String?) async throws -> String? {
        var headers = [(name: "x-tigris-fork-source-bucket", value: source)]
        if let snapshot { headers.append(("x-tigris-fork-source-bucket-snapshot", snapshot)) }
        let answer = try await call("CreateFork", .PUT, bucket: name, headers: headers)
        return answer.headers.first(name: "x-tigris-fork-source-bucket-snapshot") ?? snapshot
    }

    func setNotifications(_ bucket: String, _ settings: ObjectNotificationSettings?) async throws {
        let body = "{\"object_notifications\":" + (settings?.storedJSON ?? "{}") + "}"
        _ = try await call(
            "SetObjectNotifications", .PATCH, bucket: bucket,
            headers: [("content-type", "application/json"), ("accept", "application/json")],
            body: ByteBuffer(string: body), idempotent: true)
    }

    // MARK: Objects

    func putBytes(_ bucket: String, key: String, bytes: [UInt8], contentType: String?) async throws -> String {
        try await putBody(bucket, key: key, body: ByteBuffer(bytes: bytes), contentType: contentType)
    }

    private func putBody(_ bucket: String, key: String, body: ByteBuffer, contentType: String?) async throws -> String {
        let answer = try await call(
            "PutObject", .PUT, bucket: bucket, key: key,
            headers: [("content-type", contentType ?? "application/octet-stream")], body: body, idempotent: true)
        return Self.unquoted(answer.headers.first(name: "etag") ?? "")
    }

    func putFile(
        _ bucket: String, key: String, path: String, contentType: String?, resume: Bool, progress: TransferProgress?
    ) async throws -> String {
        let size = try FileIO.regularFileSize(path)
        let fd = try FileIO.openForReading(path)
        defer { close(fd) }
        if size <= Self.singlePutLimit {
            let bytes = try FileIO.read(fd, at: 0, count: Int(size), describedAs: path)
            guard Int64(bytes.count) == size else {
                throw WorkspaceError.file("\(path) changed size while it was read")
            }
            let eTag = try await putBytes(bucket, key: key, bytes: bytes, contentType: contentType)
            progress?(size, size)
            return eTag
        }
        // Parts of 8 MiB, larger when the file needs more than S3's 10,000 parts.
        let partSize = max(Self.partSize, (size + Self.maxParts - 1) / Self.maxParts)
        let partCount = Int((size + partSize - 1) / partSize)
        let id: String
        let stored: [Int: (eTag: String, size: Int64)]
        if resume, let unfinished = try await unfinishedUpload(bucket, key: key) {
            id = unfinished
            stored = try await storedParts(bucket, key: key, uploadId: unfinished)
        } else {
            id = try await createUpload(bucket, key: key, contentType: contentType)
            stored = [:]
        }
        let sent = ProgressCounter(total: size, progress: progress)
        do {
            var eTags = [String](repeating: "", count: partCount)
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var next = 1
                func addPart(_ number: Int) {
                    group.addTask {
                        let offset = Int64(number - 1) * partSize
                        let count = Int(min(partSize, size - offset))
                        let bytes = try FileIO.read(fd, at: offset, count: count, describedAs: path)
                        guard bytes.count == count else {
                            throw WorkspaceError.file("\(path) changed size while it was uploaded")
                        }
                        var digest = ObjectDigest(.md5)
                        digest.update(bytes)
                        let md5 = digest.finalize().md5Hex ?? ""
                        // A part stored by an earlier attempt with the same bytes is kept.
                        if let previous = stored[number], previous.size == Int64(count), previous.eTag == md5 {
                            sent.add(Int64(count))
                            return (number, md5)
                        }
                        let answer = try await call(
                            "UploadPart", .PUT, bucket: bucket, key: key,
                            query: [("partNumber", String(number)), ("uploadId", id)], body: ByteBuffer(bytes: bytes),
                            idempotent: true)
                        sent.add(Int64(count))
                        return (number, Self.unquoted(answer.headers.first(name: "etag") ?? md5))
                    }
                }
                while next <= min(partCount, Self.partConcurrency) {
                    addPart(next)
                    next += 1
                }
                while let (number, eTag) = try await group.next() {
                    eTags[number - 1] = eTag
                    if next <= partCount {
                        addPart(next)
                        next += 1
                    }
                }
            }
            var body = "<CompleteMultipartUpload>"
            for (index, eTag) in eTags.enumerated() {
                body += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\"\(eTag)\"</ETag></Part>"
            }
            body += "</CompleteMultipartUpload>"
            let answer = try await call(
                "CompleteMultipartUpload", .POST, bucket: bucket, key: key, query: [("uploadId", id)],
                headers: [("content-type", "application/xml")], body: ByteBuffer(string: body))
            let root = try Self.xml(answer, "CompleteMultipartUpload")
            if root.name == "Error" {
                throw WorkspaceError.refused(
                    status: 200, code: root.childText("Code") ?? "InternalError",
                    message: root.childText("Message") ?? "")
            }
            return Self.unquoted(root.childText("ETag") ?? "")
        } catch {
            // Without resume, an unfinished upload is nobody's: abort it. With resume it is kept
            // for the next attempt.
            if !resume {
                _ = try? await call(
                    "AbortMultipartUpload", .DELETE, bucket: bucket, key: key, query: [("uploadId", id)],
                    idempotent: true)
            }
            throw error
        }
    }

    private func createUpload(_ bucket: String, key: String, contentType: String?) async throws -> String {
        let answer = try await call(
            "CreateMultipartUpload", .POST, bucket: bucket, key: key, query: [("uploads", "")],
            headers: [("content-type", contentType ?? "application/octet-stream")])
        guard let id = try Self.xml(answer, "CreateMultipartUpload").childText("UploadId"), !id.isEmpty else {
            throw WorkspaceError.malformed("CreateMultipartUpload: no UploadId in the answer")
        }
        return id
    }

    /// The newest unfinished upload of exactly `key`, if any.
    private func unfinishedUpload(_ bucket: String, key: String) async throws -> String? {
        let page = try await mapped { try await client.listMultipartUploads(bucket: bucket, prefix: key) }
        return page.uploads.filter { $0.key == key }.max {
            ($0.initiated ?? .distantPast) < ($1.initiated ?? .distantPast)
        }?
        .uploadId
    }

    /// The parts an unfinished upload holds: number → (ETag without quotes, size).
    private func storedParts(_ bucket: String, key: String, uploadId: String) async throws
        -> [Int: (eTag: String, size: Int64)]
    {
        var parts: [Int: (eTag: String, size: Int64)] = [:]
        var marker: String?
        for _ in 0..<Int(Self.maxParts / 1000 + 1) {
            var query = [(name: "uploadId", value: uploadId)]
            if let marker { query.append(("part-number-marker", marker)) }
            let root = try Self.xml(
                try await call("ListParts", .GET, bucket: bucket, key: key, query: query, idempotent: true), "ListParts"
            )
            for part in root.children("Part") {
                guard let number = part.childText("PartNumber").flatMap(Int.init),
                    let size = part.childText("Size").flatMap(Int64.init), let eTag = part.childText("ETag")
                else { continue }
                parts[number] = (Self.unquoted(eTag), size)
            }
            guard root.childText("IsTruncated") == "true", let next = root.childText("NextPartNumberMarker"),
                next != marker
            else { break }
            marker = next
        }
        return parts
    }

    func getBytes(_ bucket: String, key: String, snapshot: String?, limit: Int) async throws -> [UInt8] {
        let answer = try await call(
            "GetObject", .GET, bucket: bucket, key: key, headers: Self.snapshotHeader(snapshot), idempotent: true,
            maxBodyBytes: limit)
        return Array(answer.body.readableBytesView)
    }

    func head(_ bucket: String, key: String, snapshot: String?) async throws -> WorkspaceObject {
        let answer = try await call(
            "HeadObject", .HEAD, bucket: bucket, key: key, headers: Self.snapshotHeader(snapshot), idempotent: true)
        guard let size = answer.headers.first(name: "content-length").flatMap(Int64.init) else {
            throw WorkspaceError.malformed("HeadObject: no Content-Length in the answer")
        }
        return WorkspaceObject(
            key: key, size: size, eTag: Self.unquoted(answer.headers.first(name: "etag") ?? ""),
            lastModified: answer.headers.first(name: "last-modified").flatMap(Timestamp.init(httpDate:)))
    }

    func getFile(
        _ bucket: String, key: String, snapshot: String?, fd: Int32, describedAs description: String,
        progress: TransferProgress?
    ) async throws {
        let request = client.signedRequest(.GET, path: "/\(bucket)/\(key)", headers: Self.snapshotHeader(snapshot))
        let response = try await Self.http.execute(request, deadline: .distantFuture)
        guard response.status == .ok else { throw await Self.refusal(response) }
        let expected = response.headers.first(name: "content-length").flatMap(Int64.init)
        let eTag = Self.unquoted(response.headers.first(name: "etag") ?? "")
        var digest = ObjectDigest(.md5)
        for try await buffer in response.body {
            try buffer.withUnsafeReadableBytes { raw in
                try FileIO.writeAll(fd, raw, describedAs: description)
                digest.update(raw)
            }
            progress?(digest.byteCount, expected ?? digest.byteCount)
        }
        let result = digest.finalize()
        // A multipart ETag (`<md5 of md5s>-<parts>`) is not the bytes' MD5; the length still is checked.
        guard expected.map({ $0 == result.byteCount }) ?? true,
            eTag.contains("-") || eTag.isEmpty || eTag == result.md5Hex
        else {
            throw WorkspaceError.integrity(
                "received \(result.byteCount) bytes with MD5 \(result.md5Hex ?? ""); expected \(expected ?? -1) with ETag \(eTag)"
            )
        }
    }

    func list(_ bucket: String, prefix: String, snapshot: String?, after: String?) async throws -> WorkspaceObjectPage {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", prefix), ("max-keys", "1000")]
        if let after { query.append(("continuation-token", after)) }
        let root = try Self.xml(
            try await call(
                "ListObjectsV2", .GET, bucket: bucket, query: query, headers: Self.snapshotHeader(snapshot),
                idempotent: true), "ListObjectsV2")
        let objects = root.children("Contents").compactMap { entry -> WorkspaceObject? in
            guard let key = entry.childText("Key"), let size = entry.childText("Size").flatMap(Int64.init) else {
                return nil
            }
            return WorkspaceObject(
                key: key, size: size, eTag: Self.unquoted(entry.childText("ETag") ?? ""),
                lastModified: entry.childText("LastModified").flatMap(Timestamp.init(iso8601:)))
        }
        var next: String?
        if root.childText("IsTruncated") == "true" {
            guard let token = root.childText("NextContinuationToken"), !token.isEmpty, token != after else {
                throw WorkspaceError.malformed("ListObjectsV2: a truncated page without a new continuation token")
            }
            next = token
        }
        return WorkspaceObjectPage(objects: objects, next: next)
    }

    func deleteObject(_ bucket: String, key: String) async throws {
        _ = try await call("DeleteObject", .DELETE, bucket: bucket, key: key, idempotent: true)
    }

    // MARK: Change events

    func changes(_ bucket: String, after: Int64) -> AsyncThrowingStream<WorkspaceChange, any Error> {
        let (stream, continuation) = AsyncThrowingStream<WorkspaceChange, any Error>.makeStream()
        let client = self.client
        let task = Task {
            do {
                let request = client.signedRequest(
                    .GET, path: "/\(bucket)", query: [("after", String(after)), ("notification-events", "")])
                let response = try await Self.http.execute(request, deadline: .distantFuture)
                guard response.status == .ok else { throw await Self.refusal(response) }
                var parser = ServerSentEventParser()
                for try await buffer in response.body {
                    for event in try parser.feed(buffer.readableBytesView) {
                        guard let id = event.id.flatMap(Int64.init) else { continue }
                        continuation.yield(try WorkspaceChange(seq: id, payload: event.data))
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

    // MARK: IAM (the Query API on the same listener, signed for service `iam`)

    private func iam(_ action: String, _ parameters: [(String, String)] = []) async throws -> S3XMLElement {
        let form = ([("Action", action), ("Version", "2010-05-08")] + parameters)
            .map { SigV4.percentEncode($0.0) + "=" + SigV4.percentEncode($0.1) }.joined(separator: "&")
        let answer = try await mapped {
            try await client.call(
                action, .POST, headers: [("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
                body: ByteBuffer(string: form), service: "iam")
        }
        return try Self.xml(answer, action)
    }

    /// The `…Result` element of an IAM answer.
    private static func result(_ root: S3XMLElement, _ action: String) throws -> S3XMLElement {
        guard let result = root.child(action + "Result") else {
            throw WorkspaceError.malformed("\(action): no \(action)Result in the answer")
        }
        return result
    }

    func createAccessKey() async throws -> CreatedKey {
        let key = try Self.result(try await iam("CreateAccessKey"), "CreateAccessKey").child("AccessKey")
        guard let id = key?.childText("AccessKeyId"), let secret = key?.childText("SecretAccessKey") else {
            throw WorkspaceError.malformed("CreateAccessKey: no AccessKey in the answer")
        }
        return CreatedKey(accessKeyId: id, secretAccessKey: secret)
    }

    func deleteAccessKey(_ id: String) async throws {
        _ = try await iam("DeleteAccessKey", [("AccessKeyId", id)])
    }

    func createPolicy(name: String, document: String, description: String) async throws -> String {
        let root = try await iam(
            "CreatePolicy", [("PolicyName", name), ("PolicyDocument", document), ("Description", description)])
        guard let arn = try Self.result(root, "CreatePolicy").child("Policy")?.childText("Arn") else {
            throw WorkspaceError.malformed("CreatePolicy: no Policy.Arn in the answer")
        }
        return arn
    }

    func policy(name: String) async throws -> FoundPolicy? {
        // The ARN names the tenant, which this side does not know: find it in the listing.
        var marker: String?
        var arn: String?
        listing: for _ in 0..<100 {
            var parameters = [("Scope", "Local"), ("MaxItems", "1000")]
            if let marker { parameters.append(("Marker", marker)) }
            let result = try Self.result(try await iam("ListPolicies", parameters), "ListPolicies")
            for entry in result.child("Policies")?.children("member") ?? [] where entry.childText("PolicyName") == name
            {
                arn = entry.childText("Arn")
                break listing
            }
            guard result.childText("IsTruncated") == "true", let next = result.childText("Marker"), next != marker
            else { break }
            marker = next
        }
        guard let arn else { return nil }
        let policy = try Self.result(try await iam("GetPolicy", [("PolicyArn", arn)]), "GetPolicy").child("Policy")
        return FoundPolicy(arn: arn, description: policy?.childText("Description"))
    }

    func deletePolicy(arn: String) async throws {
        _ = try await iam("DeletePolicy", [("PolicyArn", arn)])
    }

    func attachPolicy(user: String, arn: String) async throws {
        _ = try await iam("AttachUserPolicy", [("UserName", user), ("PolicyArn", arn)])
    }

    func detachPolicy(user: String, arn: String) async throws {
        _ = try await iam("DetachUserPolicy", [("UserName", user), ("PolicyArn", arn)])
    }
}

/// Counts transferred bytes across concurrent parts and reports the total.
final class ProgressCounter: Sendable {
    private let state = Mutex<Int64>(0)
    let total: Int64
    let progress: TransferProgress?

    init(total: Int64, progress: TransferProgress?) {
        self.total = total
        self.progress = progress
    }

    func add(_ bytes: Int64) {
        let now = state.withLock { value in
            value += bytes
            return value
        }
        progress?(now, total)
    }
}
