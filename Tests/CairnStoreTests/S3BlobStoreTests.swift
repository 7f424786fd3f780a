import CairnCore
import CairnTestSupport
import Foundation
import Synchronization
import Testing

@testable import CairnStore

#if canImport(Glibc)
    import Glibc
#endif

/// The S3 server the store tests run against: `eval "$(scripts/s3-server.sh start DIR)"` starts
/// one (moto) and sets these variables. Without `CAIRN_TEST_S3_ENDPOINT` the tests are skipped.
enum S3TestServer {
    static let environment = ProcessInfo.processInfo.environment
    static let endpoint: URL? = environment["CAIRN_TEST_S3_ENDPOINT"].flatMap { $0.isEmpty ? nil : URL(string: $0) }
    static var accessKeyId: String { environment["AWS_ACCESS_KEY_ID"] ?? "test" }
    static var secretAccessKey: String { environment["AWS_SECRET_ACCESS_KEY"] ?? "test" }
    /// Set by `s3-server.sh start DIR --verify-signatures` (moto checks signatures only in that
    /// mode; a real S3 or MinIO always does).
    static let verifiesSignatures = environment["CAIRN_TEST_S3_VERIFIES_SIGNATURES"] == "1"

    /// One HTTP client for every test (it lives as long as the process, so it is never shut
    /// down; a store given a client does not shut it down either). Its own read timeout is long,
    /// so the stores' request timeouts are what ends a silent request.
    static let httpClient = S3Client.makeHTTPClient(requestTimeout: .seconds(300))

    static func directory() throws -> String {
        let path = ScratchDirectory.path("cairn-s3")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A store on a new bucket of its own (tests run in parallel and count what is stored).
    static func makeStore(
        prefix: String = "blobs/sha256", partSize: Int = 8 << 20, listPageSize: Int = 1000,
        secretAccessKey: String = secretAccessKey
    ) async throws -> (store: S3BlobStore, bucket: String, spool: String) {
        let bucket = "cairn-test-" + String(Identifier.randomHex().prefix(16))
        let spool = try directory()
        let configuration = try S3BlobStore.Configuration(
            bucket: bucket, prefix: prefix, endpoint: endpoint!, accessKeyId: accessKeyId,
            secretAccessKey: secretAccessKey, spoolDirectory: spool, requestTimeout: .seconds(30),
            partSize: partSize, listPageSize: listPageSize)
        let store = try S3BlobStore(configuration: configuration, httpClient: httpClient)
        if secretAccessKey == self.secretAccessKey { try await store.client.createBucket(bucket) }
        return (store, bucket, spool)
    }

    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// Writes `bytes` through a new write in chunks of `chunk` bytes and finishes it.
    static func write(_ bytes: [UInt8], to store: S3BlobStore, chunk: Int = 64 << 10) async throws
        -> (write: any BlobWrite, digest: String, size: Int64)
    {
        let write = try store.beginWrite()
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            try bytes[offset..<end].withUnsafeBytes { try write.write($0) }
            offset = end
        }
        let (digest, size) = try await write.finish()
        return (write, digest, size)
    }

    /// Reads `count` bytes at `offset` through `read`, in reads of at most `chunk` bytes.
    static func read(_ read: any BlobRead, at offset: Int64, count: Int, chunk: Int = 1 << 20) async throws -> [UInt8] {
        var out: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        while out.count < count {
            let want = min(chunk, count - out.count)
            let n = try await read.read(
                at: offset + Int64(out.count), into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want]))
            if n == 0 { break }
            out += UnsafeRawBufferPointer(rebasing: buffer[..<n])
        }
        return out
    }

    static func spoolFiles(_ spool: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: spool + "/tmp")
    }
}

@Suite(.enabled(if: S3TestServer.endpoint != nil, "needs CAIRN_TEST_S3_ENDPOINT (scripts/s3-server.sh start DIR)"))
struct S3BlobStoreTests {
    @Test func publishesUnderItsDigestAndReadsBackWholeAndRanged() async throws {
        let (store, bucket, spool) = try await S3TestServer.makeStore()
        let content = S3TestServer.bytes(300_000, seed: 1)
        let (write, digest, size) = try await S3TestServer.write(content, to: store)
        #expect(digest == S3TestServer.sha256(content))
        #expect(size == Int64(content.count))
        #expect(try await write.publish())
        #expect(try S3TestServer.spoolFiles(spool).isEmpty, "the spool file is removed once uploaded")
        // The object is at <prefix>/<digest>, and is what the store reports.
        #expect(try await store.client.headObject(bucket: bucket, key: "blobs/sha256/" + digest)?.size == size)
        #expect(try await store.size(of: digest) == size)
        #expect(try await store.digests() == [digest])

        let read = try #require(try await store.open(digest))
        #expect(read.size == size)
        #expect(try await S3TestServer.read(read, at: 0, count: content.count, chunk: 70_000) == content)
        #expect(try await S3TestServer.read(read, at: 123_457, count: 5_000) == Array(content[123_457..<128_457]))
        #expect(try await S3TestServer.read(read, at: size - 10, count: 100) == Array(content.suffix(10)))
        let end = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
        defer { end.deallocate() }
        #expect(try await read.read(at: size, into: end) == 0)
        read.close()

        try await store.remove(digest)
        #expect(try await store.size(of: digest) == nil)
        #expect(try await store.open(digest) == nil)
        #expect(try await store.digests().isEmpty)
    }

    @Test func anEmptyBlobRoundTrips() async throws {
        let (store, _, _) = try await S3TestServer.makeStore()
        let (write, digest, size) = try await S3TestServer.write([], to: store)
        #expect(size == 0 && digest == S3TestServer.sha256([]))
        #expect(try await write.publish())
        #expect(try await store.size(of: digest) == 0)
        let read = try #require(try await store.open(digest))
        #expect(try await S3TestServer.read(read, at: 0, count: 10).isEmpty)
    }

    /// A missing bucket is an error, never "no such blob" (which would make the sweeper delete
    /// the rows of every blob it looks for).
    @Test func aMissingBucketIsAnErrorNotAMissingBlob() async throws {
        let (store, bucket, _) = try await S3TestServer.makeStore()
        try await store.checkBucket()
        var configuration = store.configuration
        configuration.bucket = bucket + "-missing"
        let elsewhere = try S3BlobStore(configuration: configuration, httpClient: S3TestServer.httpClient)
        let digest = S3TestServer.sha256([1])
        let error = await #expect(throws: S3ErrorResponse.self) { try await elsewhere.size(of: digest) }
        #expect(error?.code == "NoSuchBucket")
        await #expect(throws: S3ErrorResponse.self) { try await elsewhere.open(digest) }
        await #expect(throws: S3ErrorResponse.self) { try await elsewhere.digests() }
        await #expect(throws: S3ErrorResponse.self) { try await elsewhere.checkBucket() }
        #expect(try await store.size(of: digest) == nil, "in the bucket that exists, the blob is just missing")
    }

    @Test func publishingAStoredDigestAgainKeepsOneObject() async throws {
        let (store, bucket, spool) = try await S3TestServer.makeStore()
        let content = S3TestServer.bytes(10_000, seed: 2)
        let first = try await S3TestServer.write(content, to: store)
        #expect(try await first.write.publish())
        let second = try await S3TestServer.write(content, to: store)
        #expect(second.digest == first.digest)
        #expect(try await second.write.publish() == false)
        #expect(try S3TestServer.spoolFiles(spool).isEmpty)
        let page = try await store.client.listObjects(bucket: bucket, prefix: "")
        #expect(page.objects.map(\.key) == ["blobs/sha256/" + first.digest])
    }

    @Test func abortLeavesNothing() async throws {
        let (store, bucket, spool) = try await S3TestServer.makeStore()
        let unfinished = try store.beginWrite()
        try S3TestServer.bytes(1000, seed: 3).withUnsafeBytes { try unfinished.write($0) }
        #expect(try S3TestServer.spoolFiles(spool).count == 1)
        unfinished.abort()
        let finished = try await S3TestServer.write(S3TestServer.bytes(2000, seed: 4), to: store)
        finished.write.abort()
        finished.write.abort()  // safe twice
        #expect(try S3TestServer.spoolFiles(spool).isEmpty)
        #expect(try await store.digests().isEmpty)
        #expect(try await store.client.listObjects(bucket: bucket, prefix: "").objects.isEmpty)
        #expect(try await store.client.listMultipartUploads(bucket: bucket, prefix: "").uploads.isEmpty)
    }

    /// 20 MiB with 8 MiB parts: three parts (the multipart ETag says how many), read back exactly.
    @Test func aLargeBlobGoesMultipartAndReadsBackByteExact() async throws {
        let (store, bucket, spool) = try await S3TestServer.makeStore(prefix: "")
        let content = S3TestServer.bytes(20 << 20, seed: 5)
        let (write, digest, size) = try await S3TestServer.write(content, to: store, chunk: 1 << 20)
        #expect(try await write.publish())
        let info = try #require(try await store.client.headObject(bucket: bucket, key: digest))
        #expect(info.size == size)
        #expect(info.eTag?.hasSuffix("-3\"") == true, "a multipart upload of three parts, ETag \(info.eTag ?? "none")")
        #expect(try await store.client.listMultipartUploads(bucket: bucket, prefix: "").uploads.isEmpty)
        #expect(try S3TestServer.spoolFiles(spool).isEmpty)
        let read = try #require(try await store.open(digest))
        let back = try await S3TestServer.read(read, at: 0, count: content.count)
        #expect(back.count == content.count)
        #expect(back == content)
        // A read across the boundary of the first two parts.
        #expect(
            try await S3TestServer.read(read, at: (8 << 20) - 7, count: 20)
                == Array(content[(8 << 20) - 7..<(8 << 20) + 13]))
    }

    /// Listing pages through the prefix (two keys a page here) and keeps only blob keys directly
    /// under it.
    @Test func digestsPageThroughThePrefix() async throws {
        let (store, bucket, _) = try await S3TestServer.makeStore(prefix: "p", listPageSize: 2)
        var digests: [String] = []
        for seed in 10..<15 {
            let blob = try await S3TestServer.write(S3TestServer.bytes(100 + seed, seed: UInt64(seed)), to: store)
            #expect(try await blob.write.publish())
            digests.append(blob.digest)
        }
        // Keys that are not blobs of this store: another name, a deeper folder, another prefix.
        var other = S3TestServer.bytes(10, seed: 99)
        for key in ["p/notes.txt", "p/sub/" + digests[0], "q/" + digests[1]] {
            try await store.client.putObject(bucket: bucket, key: key, bytes: other)
            other.append(1)
        }
        let firstPage = try await store.client.listObjects(bucket: bucket, prefix: "p/", delimiter: "/", maxKeys: 2)
        #expect(firstPage.objects.count == 2 && firstPage.nextContinuationToken != nil, "the listing is paged")
        #expect(try await store.digests().sorted() == digests.sorted())
    }

    /// Moto reports every upload as initiated at a fixed time in 2010, so here any age counts as
    /// stale; the age cut-off itself is tested on `staleUploads` (S3BlobStoreConfigurationTests).
    @Test func staleWritesAndUploadsAreRemovedButLiveOnesAreKept() async throws {
        let (store, bucket, spool) = try await S3TestServer.makeStore()
        let digest = S3TestServer.sha256([1, 2, 3])
        let stale = try await store.client.createMultipartUpload(bucket: bucket, key: "blobs/sha256/" + digest)
        let foreign = try await store.client.createMultipartUpload(bucket: bucket, key: "blobs/sha256/not-a-blob")
        #expect(
            FileManager.default.createFile(
                atPath: spool + "/tmp/" + Identifier.randomHex() + ".part", contents: Data([1])))
        let live = try store.beginWrite()
        defer { live.abort() }
        #expect(try S3TestServer.spoolFiles(spool).count == 2)

        // The stray spool file and the upload of a blob key go; the live write and the upload of
        // a key that is not a blob stay.
        #expect(try await store.removeStaleWrites(olderThanSeconds: 0) == 2)
        let uploads = try await store.client.listMultipartUploads(bucket: bucket, prefix: "").uploads
        #expect(uploads.map(\.uploadId) == [foreign])
        #expect(!uploads.contains { $0.uploadId == stale })
        #expect(try S3TestServer.spoolFiles(spool).count == 1, "the live write's spool file")
        try await store.client.abortMultipartUpload(bucket: bucket, key: "blobs/sha256/not-a-blob", uploadId: foreign)
    }

    /// Artifacts on the S3 store: identical uploads share one object, reads stream it back, the
    /// object goes with its last reference, and the sweeper removes an unreferenced one.
    @Test func artifactsKeepTheirBytesInTheBucket() async throws {
        let (blobs, _, _) = try await S3TestServer.makeStore()
        let database = try await TestStore()
        let artifacts = ArtifactService(store: database.store, blobs: blobs)
        let content = S3TestServer.bytes(50_000, seed: 42)
        func upload(_ name: String) async throws -> Artifact {
            let upload = try await artifacts.beginUpload(
                ArtifactUploadRequest(name: name, declaredLength: Int64(content.count)), tenant: .default)
            try content.withUnsafeBytes { try upload.append($0) }
            return try await upload.commit().artifact
        }
        let first = try await upload("a.bin")
        let second = try await upload("b.bin")
        #expect(first.sha256 == second.sha256)
        #expect(try await blobs.digests() == [first.sha256])
        let (_, read) = try await artifacts.open(id: first.id, tenant: .default)
        #expect(try await S3TestServer.read(read, at: 0, count: content.count) == content)

        _ = try await artifacts.delete(id: first.id, tenant: .default)
        #expect(try await blobs.size(of: first.sha256) == Int64(content.count), "the second still references it")
        _ = try await artifacts.delete(id: second.id, tenant: .default)
        #expect(try await blobs.size(of: first.sha256) == nil)

        let orphan = try await S3TestServer.write(S3TestServer.bytes(10, seed: 43), to: blobs)
        #expect(try await orphan.write.publish())
        let report = try await artifacts.sweep(staleAfterSeconds: 3600)
        #expect(report.orphanBlobs == 1 && report.missingBlobs == 0)
        #expect(try await blobs.digests().isEmpty)
    }

    /// A wrong secret is refused by the server and reported as such: never taken for a missing
    /// blob (the sweeper would delete the rows of blobs it thinks are gone). Moto checks
    /// signatures only when started with `--verify-signatures` (INITIAL_NO_AUTH_ACTION_COUNT
    /// and an IAM user); by default it accepts any, so this test runs only where they are checked.
    @Test(.enabled(if: S3TestServer.verifiesSignatures, "the S3 server does not verify signatures"))
    func aWrongSecretIsAClearError() async throws {
        let (good, bucket, _) = try await S3TestServer.makeStore()
        let blob = try await S3TestServer.write([1, 2, 3], to: good)
        #expect(try await blob.write.publish())
        var configuration = good.configuration
        configuration.secretAccessKey = "wrong" + S3TestServer.secretAccessKey
        let wrong = try S3BlobStore(configuration: configuration, httpClient: S3TestServer.httpClient)
        let listing = await #expect(throws: S3ErrorResponse.self) { try await wrong.digests() }
        #expect(listing?.code == "SignatureDoesNotMatch")
        #expect(listing?.status == 403)
        let head = await #expect(throws: S3ErrorResponse.self) { try await wrong.size(of: blob.digest) }
        #expect(head?.status == 403)
        #expect(try await good.size(of: blob.digest) == 3)
        _ = bucket
    }
}

/// Behaviour that needs no S3 server: configuration parsing, and failures of the network.
@Suite struct S3BlobStoreConfigurationTests {
    @Test func parsesS3Locations() throws {
        #expect(try S3BlobStore.Configuration.parseLocation("s3://my-bucket/a/b/") == ("my-bucket", "a/b"))
        #expect(try S3BlobStore.Configuration.parseLocation("s3://my.bucket.1") == ("my.bucket.1", ""))
        #expect(try S3BlobStore.Configuration.parseLocation("s3://my-bucket/") == ("my-bucket", ""))
        for bad in [
            "http://bucket/x", "bucket/x", "s3://", "s3:///prefix", "s3://ab/x", "s3://Bucket/x", "s3://my_bucket",
            "s3://-bucket", "s3://bucket-", "s3://my..bucket", "s3://192.168.1.1", "s3://xn--bucket",
            "s3://bucket-s3alias", "s3://bucket/a//b", "s3://bucket/a/../b", "s3://bucket/a b", "s3://bucket/x?y",
            "s3://" + String(repeating: "b", count: 64),
        ] {
            #expect(throws: S3ConfigurationError.self, "\(bad)") { try S3BlobStore.Configuration.parseLocation(bad) }
        }
    }

    @Test func readsCredentialsRegionAndEndpointFromTheEnvironment() throws {
        let base = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"]
        let plain = try S3BlobStore.Configuration.fromEnvironment(
            location: "s3://bucket/pre", spoolDirectory: "/tmp/spool", environment: base)
        #expect(plain.bucket == "bucket" && plain.prefix == "pre")
        #expect(plain.region == "us-east-1" && plain.sessionToken == nil)
        #expect(plain.endpoint.absoluteString == "https://s3.us-east-1.amazonaws.com")
        var full = base
        full["AWS_SESSION_TOKEN"] = "TOKEN"
        full["AWS_REGION"] = "eu-west-1"
        full["AWS_ENDPOINT_URL"] = "http://aws-endpoint:9000"
        full["CAIRN_S3_ENDPOINT"] = "http://127.0.0.1:9000"
        let configured = try S3BlobStore.Configuration.fromEnvironment(
            location: "s3://bucket", spoolDirectory: "/tmp/spool", environment: full)
        #expect(configured.region == "eu-west-1" && configured.sessionToken == "TOKEN")
        #expect(configured.endpoint.absoluteString == "http://127.0.0.1:9000")
        full["CAIRN_S3_ENDPOINT"] = nil
        #expect(
            try S3BlobStore.Configuration.fromEnvironment(
                location: "s3://bucket", spoolDirectory: "/tmp/spool", environment: full
            ).endpoint.absoluteString == "http://aws-endpoint:9000")
        #expect(!"\(configured)".contains("SECRET") && !"\(configured)".contains("TOKEN"), "\(configured)")
        #expect(
            !"\(SigV4.Credentials(accessKeyId: "a", secretAccessKey: "SECRET", sessionToken: "TOKEN"))".contains(
                "SECRET"))
        #expect(throws: S3ConfigurationError.self) {
            try S3BlobStore.Configuration.fromEnvironment(
                location: "s3://bucket", spoolDirectory: "/tmp/spool", environment: ["AWS_ACCESS_KEY_ID": "AKID"])
        }
    }

    @Test func staleUploadsAreOldUploadsOfBlobKeysThatNoLiveWriteOwns() {
        let digest = String(repeating: "ab", count: 32)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let hourAgo = now.addingTimeInterval(-3600)
        let uploads: [(key: String, uploadId: String, initiated: Date?)] = [
            ("pre/" + digest, "old", now.addingTimeInterval(-7200)),
            ("pre/" + digest, "exactly-at-cutoff", hourAgo),
            ("pre/" + digest, "recent", now.addingTimeInterval(-60)),
            ("pre/" + digest, "undated", nil),
            ("pre/" + digest, "old-but-live", now.addingTimeInterval(-7200)),
            ("pre/notes.txt", "old-not-a-blob", now.addingTimeInterval(-7200)),
            ("other/" + digest, "old-other-prefix", now.addingTimeInterval(-7200)),
            ("pre/sub/" + digest, "old-deeper", now.addingTimeInterval(-7200)),
        ]
        let stale = S3BlobStore.staleUploads(uploads, keyPrefix: "pre/", startedBefore: hourAgo, live: ["old-but-live"])
        #expect(stale.map(\.uploadId) == ["old", "exactly-at-cutoff"])
        let unprefixed = S3BlobStore.staleUploads(uploads, keyPrefix: "", startedBefore: hourAgo, live: [])
        #expect(unprefixed.isEmpty, "no key is a bare digest")
    }

    func configuration(endpoint: String, timeout: Duration, attempts: Int) throws -> S3BlobStore.Configuration {
        try S3BlobStore.Configuration(
            bucket: "bucket", endpoint: URL(string: endpoint)!, accessKeyId: "a", secretAccessKey: "b",
            spoolDirectory: try S3TestServer.directory(), requestTimeout: timeout, maxAttempts: attempts)
    }

    /// A refused connection is retried, then reported with the number of attempts.
    @Test func aRefusedConnectionIsRetriedThenReported() async throws {
        let listener = try Listener()
        let port = listener.port
        listener.close()  // nothing listens there now
        let store = try S3BlobStore(
            configuration: try configuration(endpoint: "http://127.0.0.1:\(port)", timeout: .seconds(5), attempts: 3),
            httpClient: S3TestServer.httpClient)
        let error = await #expect(throws: S3RequestFailed.self) {
            try await store.size(of: String(repeating: "a", count: 64))
        }
        #expect(error?.attempts == 3)
        #expect(error?.operation == "HeadObject")
    }

    /// A server that accepts the connection and never answers runs into the request timeout.
    @Test func aSilentServerTimesOut() async throws {
        let listener = try Listener()
        defer { listener.close() }
        let store = try S3BlobStore(
            configuration: try configuration(
                endpoint: "http://127.0.0.1:\(listener.port)", timeout: .milliseconds(500), attempts: 1),
            httpClient: S3TestServer.httpClient)
        let started = ContinuousClock.now
        let error = await #expect(throws: S3RequestFailed.self) { try await store.digests() }
        #expect(error?.reason.contains("no complete answer within") == true, "\(String(describing: error))")
        // Far below the shared client's 300 s read timeout; loose because the full suite on two
        // cores can starve every task for seconds.
        #expect(ContinuousClock.now - started < .seconds(60))
    }

    /// A loopback TCP socket that listens and never accepts: connections complete (the kernel's
    /// backlog) and then hear nothing.
    final class Listener: Sendable {
        let fd: Int32
        let port: Int

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
                }
            }
            guard fd >= 0, bound else { throw Boom() }
            self.fd = fd
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        func close() { _ = Glibc.close(fd) }
    }
}
