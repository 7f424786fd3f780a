import AsyncHTTPClient
import CairnCore
import Foundation
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Blobs as objects in an S3-compatible bucket, named by their SHA-256:
///
///     <prefix>/<64 hex digits>                           published blobs (prefix may be empty)
///     <spool directory>/tmp/<32 hex digits>.part         writes in progress, on local disk
///
/// A write spools to a local file while it is hashed (the same code as `LocalBlobStore`'s
/// writes), is fsynced by `finish`, and `publish` uploads it under its digest: one PUT when it
/// fits in a part, else a multipart upload read part by part from the spool (never the whole
/// blob in memory), so the object appears under its key only when complete. The payload of
/// every request is signed with its SHA-256, so the server refuses bytes damaged on the way.
/// Reads are ranged GETs.
public final class S3BlobStore: BlobStore {
    /// Printed without the secret and the token, so a logged configuration leaks neither.
    public struct Configuration: Sendable, CustomStringConvertible {
        public var bucket: String
        /// Where the blobs live in the bucket, without leading or trailing `/`; may be empty.
        public var prefix: String
        /// `http(s)://host[:port]` of the S3 service; requests use path-style addressing.
        public var endpoint: URL
        public var region: String
        public var accessKeyId: String
        public var secretAccessKey: String
        public var sessionToken: String?
        /// A local directory for writes in progress (for example under the data directory).
        public var spoolDirectory: String
        /// The longest one S3 request may take, answer included.
        public var requestTimeout: Duration
        /// The size of the parts of a multipart upload, and the largest blob sent in one PUT.
        public var partSize: Int
        /// The least a read fetches per GET (sequential reads of smaller chunks are served from
        /// it): fewer round trips, at most this much memory per open read.
        public var readAheadBytes: Int
        /// Keys asked for per listing page (S3's maximum is 1000; tests page with fewer).
        public var listPageSize: Int
        /// Attempts of an idempotent request before it fails.
        public var maxAttempts: Int

        /// S3's smallest part (except the last) and largest part.
        public static let minPartSize = 5 << 20
        public static let maxPartSize = 5 << 30

        public init(
            bucket: String, prefix: String = "", endpoint: URL, region: String = "us-east-1", accessKeyId: String,
            secretAccessKey: String, sessionToken: String? = nil, spoolDirectory: String,
            requestTimeout: Duration = .seconds(60), partSize: Int = 8 << 20, readAheadBytes: Int = 4 << 20,
            listPageSize: Int = 1000, maxAttempts: Int = 3
        ) throws {
            if let problem = Self.problem(bucket: bucket) { throw S3ConfigurationError("bucket name \(problem)") }
            let prefix = try Self.normalized(prefix: prefix)
            guard (Self.minPartSize...Self.maxPartSize).contains(partSize) else {
                throw S3ConfigurationError("the part size must be between 5 MiB and 5 GiB")
            }
            guard readAheadBytes >= 0, readAheadBytes <= 64 << 20 else {
                throw S3ConfigurationError("the read-ahead must be between 0 and 64 MiB")
            }
            guard (1...1000).contains(listPageSize) else {
                throw S3ConfigurationError("the listing page size must be between 1 and 1000")
            }
            guard !accessKeyId.isEmpty, !secretAccessKey.isEmpty else {
                throw S3ConfigurationError("an access key id and a secret access key are required")
            }
            guard !region.isEmpty,
                region.utf8.allSatisfy({ $0 == 0x2D || (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) })
            else { throw S3ConfigurationError("region \(region) is not a region name (like us-east-1)") }
            guard !spoolDirectory.isEmpty else { throw S3ConfigurationError("a spool directory is required") }
            self.bucket = bucket
            self.prefix = prefix
            self.endpoint = endpoint
            self.region = region
            self.accessKeyId = accessKeyId
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
            self.spoolDirectory = spoolDirectory
            self.requestTimeout = requestTimeout
            self.partSize = partSize
            self.readAheadBytes = readAheadBytes
            self.listPageSize = listPageSize
            self.maxAttempts = maxAttempts
        }

        public var description: String {
            "S3BlobStore.Configuration(s3://\(bucket)/\(prefix) at \(endpoint), region \(region), "
                + "accessKeyId \(accessKeyId), spool \(spoolDirectory), part size \(partSize))"
        }

        /// The bucket and prefix of an `s3://bucket/prefix` location (the prefix may be empty:
        /// `s3://bucket`); a clear error for anything else.
        public static func parseLocation(_ location: String) throws -> (bucket: String, prefix: String) {
            guard location.hasPrefix("s3://") else {
                throw S3ConfigurationError("\(location) is not an s3:// location (expected s3://bucket/prefix)")
            }
            let rest = location.dropFirst(5)
            guard !rest.contains("?"), !rest.contains("#") else {
                throw S3ConfigurationError("\(location): an s3:// location has no query or fragment")
            }
            let bucket = String(rest.prefix { $0 != "/" })
            guard !bucket.isEmpty else {
                throw S3ConfigurationError("\(location) names no bucket (expected s3://bucket/prefix)")
            }
            if let problem = problem(bucket: bucket) {
                throw S3ConfigurationError("\(location): bucket name \(problem)")
            }
            return (bucket, try normalized(prefix: String(rest.dropFirst(bucket.count))))
        }

        /// A configuration for `location` (`s3://bucket/prefix`) from the standard variables:
        /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (optional),
        /// `AWS_REGION` (or `AWS_DEFAULT_REGION`, else us-east-1), and the endpoint from
        /// `CAIRN_S3_ENDPOINT` or `AWS_ENDPOINT_URL` (else AWS's regional endpoint).
        public static func fromEnvironment(
            location: String, spoolDirectory: String,
            environment: [String: String] = ProcessInfo.processInfo.environment
        ) throws -> Configuration {
            let (bucket, prefix) = try parseLocation(location)
            func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
            guard let accessKeyId = value("AWS_ACCESS_KEY_ID"), let secretAccessKey = value("AWS_SECRET_ACCESS_KEY")
            else {
                throw S3ConfigurationError(
                    "S3 blobs need AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
            }
            let region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? "us-east-1"
            let endpointText =
                value("CAIRN_S3_ENDPOINT") ?? value("AWS_ENDPOINT_URL") ?? "https://s3.\(region).amazonaws.com"
            guard let endpoint = URL(string: endpointText) else {
                throw S3ConfigurationError("the S3 endpoint \(endpointText) is not a URL")
            }
            return try Configuration(
                bucket: bucket, prefix: prefix, endpoint: endpoint, region: region, accessKeyId: accessKeyId,
                secretAccessKey: secretAccessKey, sessionToken: value("AWS_SESSION_TOKEN"),
                spoolDirectory: spoolDirectory)
        }

        /// Why `bucket` is not a valid S3 bucket name (3–63 lower-case letters, digits, `-` and
        /// `.`, starting and ending with a letter or digit, no `..`, not an IP address, none of
        /// the reserved prefixes and suffixes), or nil.
        public static func problem(bucket: String) -> String? {
            let b = Array(bucket.utf8)
            func isLetterOrDigit(_ c: UInt8) -> Bool { (0x61...0x7A).contains(c) || (0x30...0x39).contains(c) }
            guard (3...63).contains(b.count) else { return "\(bucket) must be 3 to 63 characters long" }
            guard b.allSatisfy({ isLetterOrDigit($0) || $0 == 0x2D || $0 == 0x2E }) else {
                return "\(bucket) may only contain lower-case letters, digits, '-' and '.'"
            }
            guard isLetterOrDigit(b.first!), isLetterOrDigit(b.last!) else {
                return "\(bucket) must start and end with a letter or digit"
            }
            if bucket.contains("..") { return "\(bucket) must not contain two adjacent periods" }
            let labels = bucket.split(separator: ".")
            if labels.count == 4, labels.allSatisfy({ $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }) {
                return "\(bucket) must not look like an IP address"
            }
            for reserved in ["xn--", "sthree-", "amzn-s3-demo-"] where bucket.hasPrefix(reserved) {
                return "\(bucket) must not start with \(reserved)"
            }
            for reserved in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] where bucket.hasSuffix(reserved) {
                return "\(bucket) must not end with \(reserved)"
            }
            return nil
        }

        /// The prefix without leading or trailing `/`. Only letters, digits, `-`, `_`, `.` and
        /// `/` are allowed (characters that need no encoding in a URL or a signature), with no
        /// empty, `.` or `..` segments, at most 512 bytes.
        static func normalized(prefix: String) throws -> String {
            var p = Substring(prefix)
            while p.hasPrefix("/") { p = p.dropFirst() }
            while p.hasSuffix("/") { p = p.dropLast() }
            guard p.utf8.count <= 512 else { throw S3ConfigurationError("the prefix must be at most 512 bytes") }
            guard
                p.utf8.allSatisfy({
                    (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0)
                        || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E || $0 == 0x2F
                })
            else {
                throw S3ConfigurationError(
                    "the prefix \(prefix) may only contain letters, digits, '-', '_', '.' and '/'")
            }
            if !p.isEmpty,
                p.split(separator: "/", omittingEmptySubsequences: false).contains(where: {
                    $0.isEmpty || $0 == "." || $0 == ".."
                })
            {
                throw S3ConfigurationError("the prefix \(prefix) must not have empty, '.' or '..' segments")
            }
            return String(p)
        }
    }

    public let configuration: Configuration
    let client: S3Client
    /// The writes in progress, spooled with the local store's code (hashing, fsync, live set).
    let spool: LocalBlobStore
    /// `prefix/` (or nothing): what every blob key starts with.
    let keyPrefix: String
    /// Multipart uploads of live writes (the stale-upload sweep never aborts them).
    private let liveUploads = Mutex<Set<String>>([])
    let logger: Logger

    /// `httpClient`: a client to share (its owner shuts it down); nil makes one that
    /// `shutdown()` ends. `reserve` is told when the spool's disk is full, as for the local store.
    public init(
        configuration: Configuration, httpClient: HTTPClient? = nil, reserve: StorageReserve? = nil,
        logger: Logger = Logger(label: "cairn.blobs.s3")
    ) throws {
        self.configuration = configuration
        client = try S3Client(
            configuration: .init(
                endpoint: configuration.endpoint, region: configuration.region,
                credentials: .init(
                    accessKeyId: configuration.accessKeyId, secretAccessKey: configuration.secretAccessKey,
                    sessionToken: configuration.sessionToken),
                requestTimeout: configuration.requestTimeout, maxAttempts: configuration.maxAttempts),
            httpClient: httpClient, logger: logger)
        spool = try LocalBlobStore(root: configuration.spoolDirectory, reserve: reserve, publishes: false)
        keyPrefix = configuration.prefix.isEmpty ? "" : configuration.prefix + "/"
        self.logger = logger
    }

    /// Shuts down the HTTP client if the store made it.
    public func shutdown() async throws { try await client.shutdown() }

    func key(of digest: String) -> String { keyPrefix + digest }

    public func beginWrite() throws -> any BlobWrite { S3BlobWrite(store: self, spool: try spool.beginLocalWrite()) }

    /// Checks that the bucket exists and the credentials may use it (for start-up: a mistake in
    /// the configuration is reported before the server takes requests).
    public func checkBucket() async throws {
        guard try await client.headBucket(configuration.bucket) else { throw noSuchBucket() }
    }

    private func noSuchBucket() -> S3ErrorResponse {
        S3ErrorResponse(
            operation: "HeadBucket", status: 404, code: "NoSuchBucket",
            message: "bucket \(configuration.bucket) does not exist at \(configuration.endpoint)", requestId: nil)
    }

    /// HEAD of a blob's object. A 404 to a HEAD has no body, so it cannot tell a missing object
    /// from a missing bucket: before a blob is reported missing (the sweeper then deletes the
    /// rows that reference it), the bucket is checked, and a missing bucket is an error.
    private func head(_ digest: String) async throws -> S3Client.ObjectInfo? {
        if let info = try await client.headObject(bucket: configuration.bucket, key: key(of: digest)) { return info }
        try await checkBucket()
        return nil
    }

    public func size(of digest: String) async throws -> Int64? {
        guard ArtifactNames.isValidDigest(digest) else { return nil }
        return try await head(digest)?.size
    }

    public func open(_ digest: String) async throws -> (any BlobRead)? {
        guard ArtifactNames.isValidDigest(digest), let info = try await head(digest) else { return nil }
        return S3BlobRead(
            client: client, bucket: configuration.bucket, key: key(of: digest), size: info.size,
            readAheadBytes: configuration.readAheadBytes)
    }

    public func remove(_ digest: String) async throws {
        guard ArtifactNames.isValidDigest(digest) else { return }
        try await client.deleteObject(bucket: configuration.bucket, key: key(of: digest))
    }

    public func digests() async throws -> [String] {
        var result: [String] = []
        var token: String?
        repeat {
            let page = try await client.listObjects(
                bucket: configuration.bucket, prefix: keyPrefix, delimiter: "/", continuationToken: token,
                maxKeys: configuration.listPageSize)
            for object in page.objects where object.key.hasPrefix(keyPrefix) {
                let name = String(object.key.dropFirst(keyPrefix.count))
                if ArtifactNames.isValidDigest(name) { result.append(name) }
            }
            token = page.nextContinuationToken
        } while token != nil
        return result
    }

    /// Removes spool files older than `age` seconds that no live write owns, and aborts the
    /// multipart uploads of blobs under the prefix started more than `age` seconds ago that no
    /// live write owns (uploads that a crash or a failed abort left behind still cost storage).
    public func removeStaleWrites(olderThanSeconds age: Int64) async throws -> Int {
        var removed = try await spool.removeStaleWrites(olderThanSeconds: age)
        let cutoff = Date(timeIntervalSinceNow: -Double(age))
        var keyMarker: String?
        var uploadIdMarker: String?
        repeat {
            let page = try await client.listMultipartUploads(
                bucket: configuration.bucket, prefix: keyPrefix, keyMarker: keyMarker, uploadIdMarker: uploadIdMarker,
                maxUploads: configuration.listPageSize)
            let live = liveUploads.withLock { $0 }
            for upload in Self.staleUploads(page.uploads, keyPrefix: keyPrefix, startedBefore: cutoff, live: live) {
                try await client.abortMultipartUpload(
                    bucket: configuration.bucket, key: upload.key, uploadId: upload.uploadId)
                removed += 1
            }
            keyMarker = page.nextKeyMarker
            uploadIdMarker = page.nextUploadIdMarker
        } while keyMarker != nil
        return removed
    }

    /// Of a listing of multipart uploads, those to abort: uploads of blob keys of this store
    /// (`keyPrefix` and a digest), started at or before `cutoff`, that no live write owns. An
    /// upload the server does not date is left alone rather than guessed stale.
    static func staleUploads(
        _ uploads: [(key: String, uploadId: String, initiated: Date?)], keyPrefix: String, startedBefore cutoff: Date,
        live: Set<String>
    ) -> [(key: String, uploadId: String)] {
        uploads.compactMap { upload in
            guard upload.key.hasPrefix(keyPrefix),
                ArtifactNames.isValidDigest(String(upload.key.dropFirst(keyPrefix.count))),
                !live.contains(upload.uploadId), let initiated = upload.initiated, initiated <= cutoff
            else { return nil }
            return (upload.key, upload.uploadId)
        }
    }

    /// Removes every spool file no live write owns, whatever its age: for start-up, when no
    /// upload can be running. (Multipart uploads are left to `removeStaleWrites`: other
    /// servers may share the bucket, and theirs can be live.) Returns how many were removed.
    public func removeUnfinishedWrites() throws -> Int { try spool.removeUnfinishedWrites() }

    // MARK: Uploading

    /// Uploads the spool file at `path` (`size` bytes) under `key`: one PUT if it fits in a part,
    /// else a multipart upload, aborted if any step fails.
    func upload(path: String, size: Int64, key: String) async throws {
        let fd = openFile(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobIOError.failure("open", path) }
        defer { closeFile(fd) }
        let bucket = configuration.bucket
        if size <= Int64(configuration.partSize) {
            let body = try await Self.readPart(fd: fd, path: path, offset: 0, count: Int(size))
            try await client.putObject(bucket: bucket, key: key, body: body)
            return
        }
        // S3 allows 10,000 parts: a blob past 10,000 parts of the configured size gets larger ones.
        let partSize = max(Int64(configuration.partSize), (size + 9_999) / 10_000)
        guard partSize <= Int64(Configuration.maxPartSize) else {
            throw S3RequestFailed(
                operation: "CreateMultipartUpload", attempts: 0, reason: "a blob of \(size) bytes is too large for S3")
        }
        let uploadId = try await client.createMultipartUpload(bucket: bucket, key: key)
        liveUploads.withLock { _ = $0.insert(uploadId) }
        defer { liveUploads.withLock { _ = $0.remove(uploadId) } }
        var parts: [(number: Int, eTag: String)] = []
        do {
            var offset: Int64 = 0
            while offset < size {
                let count = Int(min(partSize, size - offset))
                let body = try await Self.readPart(fd: fd, path: path, offset: offset, count: count)
                let eTag = try await client.uploadPart(
                    bucket: bucket, key: key, uploadId: uploadId, partNumber: parts.count + 1, body: body)
                parts.append((parts.count + 1, eTag))
                offset += Int64(count)
            }
        } catch {
            await abandon(uploadId: uploadId, key: key)
            throw error
        }
        do {
            try await client.completeMultipartUpload(bucket: bucket, key: key, uploadId: uploadId, parts: parts)
        } catch {
            // A completion whose answer was lost may have happened: the object is then there,
            // whole (S3 never shows a partial one), and its content is its key's.
            if let info = try? await client.headObject(bucket: bucket, key: key), info.size == size { return }
            await abandon(uploadId: uploadId, key: key)
            throw error
        }
    }

    /// Aborts a multipart upload after a failure, even when the failing task was cancelled; if
    /// that fails too, the stale-upload sweep aborts it later.
    private func abandon(uploadId: String, key: String) async {
        let client = client
        let bucket = configuration.bucket
        let logger = logger
        await Task {
            do {
                try await client.abortMultipartUpload(bucket: bucket, key: key, uploadId: uploadId)
            } catch {
                logger.warning(
                    "could not abort a failed multipart upload; the sweep will",
                    metadata: ["key": "\(key)", "uploadId": "\(uploadId)", "error": "\(error)"])
            }
        }.value
    }

    /// Reads `count` bytes at `offset` of the spool file, off Swift's cooperative pool.
    static func readPart(fd: Int32, path: String, offset: Int64, count: Int) async throws -> ByteBuffer {
        try await LocalBlobStore.blocking {
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
                var done = 0
                while done < count {
                    let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + Int64(done)))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else {
                        if n == 0 { throw BlobIOError("pread", path + " (shorter than written)") }
                        throw BlobIOError.failure("pread", path)
                    }
                    done += n
                }
                return count
            }
            return buffer
        }
    }
}

final class S3BlobWrite: BlobWrite {
    let store: S3BlobStore
    let spool: LocalBlobWrite
    private let finished = Mutex<(sha256: String, size: Int64)?>(nil)

    init(store: S3BlobStore, spool: LocalBlobWrite) {
        self.store = store
        self.spool = spool
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws { try spool.write(bytes) }

    var bytesWritten: Int64 { spool.bytesWritten }

    func finish() async throws -> (sha256: String, size: Int64) {
        let result = try await spool.finish()
        finished.withLock { $0 = result }
        return result
    }

    func publish() async throws -> Bool {
        guard let (digest, size) = finished.withLock({ $0 }) else {
            throw BlobIOError("publish", spool.path + " (not finished)")
        }
        let key = store.key(of: digest)
        if let existing = try await store.client.headObject(bucket: store.configuration.bucket, key: key),
            existing.size == size
        {
            // Identical content is stored once: keep the existing object, drop this copy.
            spool.abort()
            return false
        }
        try await store.upload(path: spool.path, size: size, key: key)
        spool.abort()  // the spool file is no longer needed
        return true
    }

    func abort() { spool.abort() }
}

/// Ranged GETs of one object. A GET fetches at least `readAheadBytes`, so a sequential reader of
/// small chunks makes few requests; memory is that window, per open read.
final class S3BlobRead: BlobRead {
    let client: S3Client
    let bucket: String
    let key: String
    let size: Int64
    let readAheadBytes: Int
    private let window = Mutex<(offset: Int64, bytes: ByteBuffer)?>(nil)

    init(client: S3Client, bucket: String, key: String, size: Int64, readAheadBytes: Int) {
        self.client = client
        self.bucket = bucket
        self.key = key
        self.size = size
        self.readAheadBytes = readAheadBytes
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        guard offset >= 0 else { throw BlobIOError("read", key + " (negative offset)") }
        guard offset < size, buffer.count > 0 else { return 0 }
        if let n = copyFromWindow(at: offset, into: buffer) { return n }
        let length = min(Int64(max(buffer.count, readAheadBytes)), size - offset)
        let bytes = try await client.getObject(bucket: bucket, key: key, range: offset..<(offset + length))
        window.withLock { $0 = (offset, bytes) }
        // An empty answer means the object ended early: the caller sees the end.
        return copyFromWindow(at: offset, into: buffer) ?? 0
    }

    /// Copies from the fetched window if it holds `offset`; nil if it does not.
    private func copyFromWindow(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        window.withLock { window -> Int? in
            guard let window, offset >= window.offset, offset < window.offset + Int64(window.bytes.readableBytes)
            else { return nil }
            let start = Int(offset - window.offset)
            let count = min(buffer.count, window.bytes.readableBytes - start)
            window.bytes.withUnsafeReadableBytes { raw in
                buffer.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: count)
            }
            return count
        }
    }

    func close() { window.withLock { $0 = nil } }
}

// The C calls under names the types above do not shadow with their own methods.
private func openFile(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }
@discardableResult private func closeFile(_ fd: Int32) -> Int32 { close(fd) }
