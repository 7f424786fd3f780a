import AsyncHTTPClient
import CairnCore
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// An error answer from S3: the operation, the HTTP status and S3's error code and message
/// (`NoSuchKey`, `SignatureDoesNotMatch`, …). Answers without an XML body (HEAD) get a code
/// made from the status, such as `NotFound`.
public struct S3ErrorResponse: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let status: Int
    public let code: String
    public let message: String
    public let requestId: String?

    public var description: String {
        "S3 \(operation) failed: HTTP \(status) \(code)" + (message.isEmpty ? "" : ": \(message)")
            + (requestId.map { " (request id \($0))" } ?? "")
    }
}

/// A request that got no usable answer: the connection failed, it timed out, or the answer was
/// malformed or larger than allowed. Retries (for idempotent calls) are already spent.
public struct S3RequestFailed: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let attempts: Int
    public let reason: String

    public var description: String {
        "S3 \(operation) failed" + (attempts > 1 ? " after \(attempts) attempts" : "") + ": \(reason)"
    }
}

/// A minimal S3 client over AsyncHTTPClient: path-style addressing (`<endpoint>/<bucket>/<key>`)
/// against one endpoint, SigV4-signed with the body's SHA-256 (so the server checks the bytes
/// it stores), a timeout on every request (answer and body), and bounded retries with backoff on
/// 5xx answers and connection failures for the calls that are safe to repeat.
public final class S3Client: Sendable {
    public struct Configuration: Sendable {
        /// `http(s)://host[:port]`, without a path.
        public var endpoint: URL
        public var region: String
        public var credentials: SigV4.Credentials
        /// The longest one attempt may take, from sending to the last byte of the answer.
        public var requestTimeout: Duration
        /// Attempts of an idempotent call before it fails (1 means no retry).
        public var maxAttempts: Int

        public init(
            endpoint: URL, region: String = "us-east-1", credentials: SigV4.Credentials,
            requestTimeout: Duration = .seconds(60), maxAttempts: Int = 3
        ) {
            self.endpoint = endpoint
            self.region = region
            self.credentials = credentials
            self.requestTimeout = requestTimeout
            self.maxAttempts = maxAttempts
        }
    }

    /// What HEAD tells about an object.
    public struct ObjectInfo: Sendable, Equatable {
        public var size: Int64
        public var eTag: String?
    }

    /// One page of ListObjectsV2.
    public struct ObjectPage: Sendable {
        public var objects: [(key: String, size: Int64)]
        /// Set when there are more keys: pass it to the next call.
        public var nextContinuationToken: String?
    }

    /// One page of ListMultipartUploads.
    public struct UploadPage: Sendable {
        public var uploads: [(key: String, uploadId: String, initiated: Date?)]
        /// Set when there are more uploads: pass both to the next call.
        public var nextKeyMarker: String?
        public var nextUploadIdMarker: String?
    }

    /// The largest object S3 stores (5 TiB); sizes from the wire beyond it are refused.
    static let maxObjectBytes: Int64 = 5 << 40
    /// The largest XML answer read (a full listing page of 1000 long keys is far below it).
    public static let maxXMLBytes = 8 << 20
    /// The most of an error answer read.
    static let maxErrorBytes = 64 << 10

    public let configuration: Configuration
    let httpClient: HTTPClient
    let ownsHTTPClient: Bool
    let logger: Logger
    /// The `Host` header, signed and sent as is: host, plus the port when it is not the default.
    let host: String
    let origin: String
    /// The time requests are signed with (tests pass a fixed one).
    let now: @Sendable () -> Date

    /// `httpClient`: a client to share (its owner shuts it down); nil makes one, with redirects
    /// off (a signed request must not be replayed elsewhere), that `shutdown()` ends.
    public init(
        configuration: Configuration, httpClient: HTTPClient? = nil,
        logger: Logger = Logger(label: "cairn.s3"), now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        guard let scheme = configuration.endpoint.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let hostName = configuration.endpoint.host, !hostName.isEmpty
        else {
            throw S3ConfigurationError("the S3 endpoint must be an http:// or https:// URL with a host")
        }
        guard configuration.endpoint.path.isEmpty || configuration.endpoint.path == "/",
            configuration.endpoint.query == nil
        else {
            throw S3ConfigurationError(
                "the S3 endpoint must not have a path or query (path-style addressing adds them)")
        }
        guard configuration.maxAttempts >= 1 else { throw S3ConfigurationError("maxAttempts must be at least 1") }
        self.configuration = configuration
        let bracketed = hostName.contains(":") && !hostName.hasPrefix("[") ? "[\(hostName)]" : hostName
        let defaultPort = scheme == "https" ? 443 : 80
        host = configuration.endpoint.port.map { $0 == defaultPort ? bracketed : "\(bracketed):\($0)" } ?? bracketed
        origin = "\(scheme)://\(host)"
        if let httpClient {
            self.httpClient = httpClient
            ownsHTTPClient = false
        } else {
            self.httpClient = Self.makeHTTPClient(requestTimeout: configuration.requestTimeout)
            ownsHTTPClient = true
        }
        self.logger = logger
        self.now = now
    }

    /// An HTTP client for S3: redirects off (a signed request must not be replayed elsewhere), a
    /// connect timeout, a read timeout for stalled answers, and a failed connection reported at
    /// once (this client retries with backoff itself, rather than the pool until the deadline).
    /// Its owner must shut it down.
    public static func makeHTTPClient(requestTimeout: Duration) -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: timeAmount(requestTimeout)))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Shuts down the HTTP client if this client made it.
    public func shutdown() async throws {
        if ownsHTTPClient { try await httpClient.shutdown() }
    }

    // MARK: Operations

    /// CreateBucket (tests and set-up; the blob store never creates its bucket).
    public func createBucket(_ bucket: String) async throws {
        var body = ByteBuffer()
        if configuration.region != "us-east-1" {
            body = ByteBuffer(
                string: "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                    + "<LocationConstraint>\(configuration.region)</LocationConstraint></CreateBucketConfiguration>")
        }
        _ = try await send(Request("CreateBucket", .PUT, bucket: bucket, body: body, idempotent: true))
    }

    /// HeadBucket: whether the bucket exists (and these credentials may use it: a 403 throws).
    public func headBucket(_ bucket: String) async throws -> Bool {
        do {
            _ = try await send(Request("HeadBucket", .HEAD, bucket: bucket, idempotent: true))
            return true
        } catch let error as S3ErrorResponse where error.status == 404 {
            return false
        }
    }

    /// HeadObject: the object's size, or nil if there is no such object.
    public func headObject(bucket: String, key: String) async throws -> ObjectInfo? {
        let response: Response
        do {
            response = try await send(Request("HeadObject", .HEAD, bucket: bucket, key: key, idempotent: true))
        } catch let error as S3ErrorResponse where error.status == 404 {
            return nil
        }
        guard let text = response.headers.first(name: "content-length"), let size = Int64(text), size >= 0,
            size <= Self.maxObjectBytes
        else {
            throw S3RequestFailed(operation: "HeadObject", attempts: 1, reason: "no valid Content-Length in the answer")
        }
        return ObjectInfo(size: size, eTag: response.headers.first(name: "etag"))
    }

    /// GetObject for the bytes in `range` (which must not be empty): exactly those bytes, or
    /// fewer if the object ends first. Throws `S3ErrorResponse` (`NoSuchKey`, 404) if there is no object.
    public func getObject(bucket: String, key: String, range: Range<Int64>) async throws -> ByteBuffer {
        precondition(!range.isEmpty && range.lowerBound >= 0, "an empty or negative range")
        let limit = Int(range.upperBound - range.lowerBound)
        let response = try await send(
            Request(
                "GetObject", .GET, bucket: bucket, key: key,
                headers: [("range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")], idempotent: true),
            maxBodyBytes: limit)
        switch response.status {
        case 206:
            // The answer must be the range asked for, from its first byte.
            guard let contentRange = response.headers.first(name: "content-range"),
                let (first, last) = Self.parseContentRange(contentRange), first == range.lowerBound, last >= first,
                last - first + 1 == Int64(response.body.readableBytes)
            else {
                throw S3RequestFailed(
                    operation: "GetObject", attempts: 1,
                    reason: "the answer's Content-Range does not match the range asked for")
            }
            return response.body
        case 200 where range.lowerBound == 0:
            // The server ignored Range (allowed): the whole object, which fit in the limit.
            return response.body
        default:
            throw S3RequestFailed(
                operation: "GetObject", attempts: 1, reason: "unexpected HTTP \(response.status) to a ranged GET")
        }
    }

    /// PutObject of a small body.
    @discardableResult
    public func putObject(bucket: String, key: String, body: ByteBuffer) async throws -> String? {
        let response = try await send(
            Request("PutObject", .PUT, bucket: bucket, key: key, body: body, idempotent: true))
        return response.headers.first(name: "etag")
    }

    /// PutObject of a small body.
    @discardableResult
    public func putObject(bucket: String, key: String, bytes: [UInt8]) async throws -> String? {
        try await putObject(bucket: bucket, key: key, body: ByteBuffer(bytes: bytes))
    }

    /// CreateMultipartUpload: the new upload's id. (Not retried: a retry could leave an upload
    /// behind, which the stale-upload sweep would abort, but a failure is simpler to report.)
    public func createMultipartUpload(bucket: String, key: String) async throws -> String {
        let response = try await send(
            Request("CreateMultipartUpload", .POST, bucket: bucket, key: key, query: [("uploads", "")]),
        )
        let root = try xml(response, "CreateMultipartUpload")
        guard let uploadId = root.text(of: "UploadId"), !uploadId.isEmpty else {
            throw S3RequestFailed(operation: "CreateMultipartUpload", attempts: 1, reason: "no UploadId in the answer")
        }
        return uploadId
    }

    /// UploadPart: the part's ETag (needed to complete the upload).
    public func uploadPart(bucket: String, key: String, uploadId: String, partNumber: Int, body: ByteBuffer)
        async throws -> String
    {
        let response = try await send(
            Request(
                "UploadPart", .PUT, bucket: bucket, key: key,
                query: [("partNumber", String(partNumber)), ("uploadId", uploadId)], body: body, idempotent: true))
        guard let eTag = response.headers.first(name: "etag"), !eTag.isEmpty else {
            throw S3RequestFailed(operation: "UploadPart", attempts: 1, reason: "no ETag in the answer")
        }
        return eTag
    }

    /// CompleteMultipartUpload: the object becomes visible, whole, under its key. S3 may answer
    /// 200 and still fail (the error is in the body), which is checked. Not retried: a retry of
    /// a completion that did succeed finds no upload; the caller checks the object instead.
    public func completeMultipartUpload(
        bucket: String, key: String, uploadId: String, parts: [(number: Int, eTag: String)]
    )
        async throws
    {
        var body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts {
            body += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(Self.xmlEscaped(part.eTag))</ETag></Part>"
        }
        body += "</CompleteMultipartUpload>"
        let response = try await send(
            Request(
                "CompleteMultipartUpload", .POST, bucket: bucket, key: key, query: [("uploadId", uploadId)],
                headers: [("content-type", "application/xml")], body: ByteBuffer(string: body)),
        )
        _ = try xml(response, "CompleteMultipartUpload")
    }

    /// AbortMultipartUpload; an upload that is already gone counts as aborted.
    public func abortMultipartUpload(bucket: String, key: String, uploadId: String) async throws {
        do {
            _ = try await send(
                Request(
                    "AbortMultipartUpload", .DELETE, bucket: bucket, key: key, query: [("uploadId", uploadId)],
                    idempotent: true))
        } catch let error as S3ErrorResponse where error.status == 404 {
            return
        }
    }

    /// DeleteObject; S3 answers the same whether or not the object existed.
    public func deleteObject(bucket: String, key: String) async throws {
        do {
            _ = try await send(Request("DeleteObject", .DELETE, bucket: bucket, key: key, idempotent: true))
        } catch let error as S3ErrorResponse where error.status == 404 && error.code != "NoSuchBucket" {
            return
        }
    }

    /// ListObjectsV2: one page of the keys under `prefix` (with `delimiter` "/", only those not
    /// in a deeper "folder").
    public func listObjects(
        bucket: String, prefix: String, delimiter: String? = nil, continuationToken: String? = nil,
        maxKeys: Int = 1000
    ) async throws -> ObjectPage {
        var query: [(name: String, value: String)] = [
            ("list-type", "2"), ("prefix", prefix), ("max-keys", String(min(max(maxKeys, 1), 1000))),
        ]
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let response = try await send(
            Request("ListObjectsV2", .GET, bucket: bucket, query: query, idempotent: true),
            maxBodyBytes: Self.maxXMLBytes)
        let root = try xml(response, "ListObjectsV2")
        var objects: [(key: String, size: Int64)] = []
        for entry in root.children("Contents") {
            guard let key = entry.text(of: "Key"), let size = entry.text(of: "Size").flatMap({ Int64($0) }),
                size >= 0, size <= Self.maxObjectBytes
            else {
                throw S3RequestFailed(operation: "ListObjectsV2", attempts: 1, reason: "an entry without key or size")
            }
            objects.append((key, size))
        }
        var next: String?
        if root.text(of: "IsTruncated") == "true" {
            // A truncated page must say where to go on, else the listing would loop.
            guard let token = root.text(of: "NextContinuationToken"), !token.isEmpty, token != continuationToken else {
                throw S3RequestFailed(
                    operation: "ListObjectsV2", attempts: 1, reason: "a truncated page without a new continuation token"
                )
            }
            next = token
        }
        return ObjectPage(objects: objects, nextContinuationToken: next)
    }

    /// ListMultipartUploads: one page of the unfinished uploads under `prefix`.
    public func listMultipartUploads(
        bucket: String, prefix: String, keyMarker: String? = nil, uploadIdMarker: String? = nil, maxUploads: Int = 1000
    ) async throws -> UploadPage {
        var query: [(name: String, value: String)] = [
            ("uploads", ""), ("prefix", prefix), ("max-uploads", String(min(max(maxUploads, 1), 1000))),
        ]
        if let keyMarker { query.append(("key-marker", keyMarker)) }
        if let uploadIdMarker { query.append(("upload-id-marker", uploadIdMarker)) }
        let response = try await send(
            Request("ListMultipartUploads", .GET, bucket: bucket, query: query, idempotent: true),
            maxBodyBytes: Self.maxXMLBytes)
        let root = try xml(response, "ListMultipartUploads")
        var page = UploadPage(uploads: [])
        for upload in root.children("Upload") {
            guard let key = upload.text(of: "Key"), let uploadId = upload.text(of: "UploadId") else {
                throw S3RequestFailed(
                    operation: "ListMultipartUploads", attempts: 1, reason: "an upload without key or id")
            }
            page.uploads.append((key, uploadId, upload.text(of: "Initiated").flatMap(Self.parseTimestamp)))
        }
        if root.text(of: "IsTruncated") == "true" {
            let nextKey = root.text(of: "NextKeyMarker").flatMap { $0.isEmpty ? nil : $0 }
            let nextId = root.text(of: "NextUploadIdMarker").flatMap { $0.isEmpty ? nil : $0 }
            guard nextKey != nil, nextKey != keyMarker || nextId != uploadIdMarker else {
                throw S3RequestFailed(
                    operation: "ListMultipartUploads", attempts: 1, reason: "a truncated page without new markers")
            }
            page.nextKeyMarker = nextKey
            page.nextUploadIdMarker = nextId
        }
        return page
    }

    /// An answer to `call`: its 2xx status, headers and body.
    public struct Answer: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: ByteBuffer
    }

    /// Any other S3 call (bucket settings, Tigris' headers, the IAM Query API with `service`
    /// `iam`), with this client's signing, timeout and retries: `bucket` empty for `/`. A non-2xx
    /// answer throws `S3ErrorResponse`; at most `maxBodyBytes` of a 2xx body are read.
    public func call(
        _ operation: String, _ method: HTTPMethod, bucket: String = "", key: String? = nil,
        query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
        body: ByteBuffer = ByteBuffer(), service: String = "s3", idempotent: Bool = false,
        maxBodyBytes: Int = S3Client.maxXMLBytes
    ) async throws -> Answer {
        var request = Request(
            operation, method, bucket: bucket, key: key, query: query, headers: headers, body: body,
            idempotent: idempotent)
        request.service = service
        let response = try await send(request, maxBodyBytes: maxBodyBytes)
        return Answer(status: response.status, headers: response.headers, body: response.body)
    }

    // MARK: Sending

    struct Request: Sendable {
        var operation: String
        var method: HTTPMethod
        var bucket: String
        var key: String?
        var query: [(name: String, value: String)]
        var headers: [(name: String, value: String)]
        var body: ByteBuffer
        /// Whether a repeat after a failure has the same effect (so it may be retried).
        var idempotent: Bool
        /// The SigV4 service the request is signed for (`s3`, or `iam` for the IAM Query API).
        var service = "s3"

        init(
            _ operation: String, _ method: HTTPMethod, bucket: String, key: String? = nil,
            query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
            body: ByteBuffer = ByteBuffer(), idempotent: Bool = false
        ) {
            self.operation = operation
            self.method = method
            self.bucket = bucket
            self.key = key
            self.query = query
            self.headers = headers
            self.body = body
            self.idempotent = idempotent
        }

        /// The path, decoded: `/bucket` or `/bucket/key` (`/` without a bucket).
        var path: String { "/" + bucket + (key.map { "/" + $0 } ?? "") }
    }

    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    /// The answer did not arrive within the request timeout.
    struct Timeout: Error, CustomStringConvertible {
        let after: Duration
        var description: String { "no complete answer within \(after)" }
    }

    /// Sends a request and returns its 2xx answer (with at most `maxBodyBytes` of body), retrying
    /// idempotent requests on 5xx answers, timeouts and connection failures; a non-2xx answer
    /// becomes `S3ErrorResponse`.
    func send(_ request: Request, maxBodyBytes: Int = S3Client.maxErrorBytes) async throws -> Response {
        var hasher = SHA256Hasher()
        request.body.withUnsafeReadableBytes { hasher.update($0) }
        let payloadHash = hasher.finalize()
        let attempts = request.idempotent ? configuration.maxAttempts : 1
        var attempt = 0
        while true {
            attempt += 1
            let outcome: Result<Response, any Error>
            do {
                outcome = .success(
                    try await withTimeout(configuration.requestTimeout) {
                        try await self.attempt(request, payloadHash: payloadHash, maxBodyBytes: maxBodyBytes)
                    })
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
                // The client's own deadline or read timeout fired first: the same timeout.
                outcome = .failure(Timeout(after: configuration.requestTimeout))
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let response) where (200..<300).contains(response.status):
                return response
            case .success(let response):
                let error = Self.s3Error(request.operation, response)
                guard response.status >= 500, attempt < attempts else { throw error }
                logger.debug("S3 request failed, retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
            case .failure(let error):
                guard attempt < attempts, Self.isTransient(error) else {
                    throw S3RequestFailed(operation: request.operation, attempts: attempt, reason: "\(error)")
                }
                logger.debug("S3 request failed, retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
            }
            // Exponential backoff with jitter: 100 ms, 200 ms, 400 ms … (at most 2 s).
            let base = min(100 << min(attempt - 1, 5), 2000)
            try await Task.sleep(for: .milliseconds(base + Int.random(in: 0...(base / 2))))
        }
    }

    /// Failures another attempt may cure: the connection, a timeout. Answers that were too
    /// large or malformed would be the same next time.
    static func isTransient(_ error: any Error) -> Bool {
        !(error is NIOTooManyBytesError) && !(error is S3XML.Malformed)
    }

    /// A request to `path` (decoded: `/bucket/key`) signed with this client's credentials, for
    /// the caller to send; its body, if any, must hash to `payloadHash`.
    public func signedRequest(
        _ method: HTTPMethod, path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], payloadHash: String = SigV4.emptyPayloadHash,
        service: String = "s3"
    ) -> HTTPClientRequest {
        var signed = [(name: "host", value: host)] + headers
        signed += SigV4.sign(
            method: method.rawValue, path: path, query: query, headers: signed, payloadHash: payloadHash,
            credentials: configuration.credentials, region: configuration.region, service: service, time: now())
        let canonicalQuery = SigV4.canonicalQuery(query)
        var httpRequest = HTTPClientRequest(
            url: origin + SigV4.canonicalURI(path: path) + (canonicalQuery.isEmpty ? "" : "?" + canonicalQuery))
        httpRequest.method = method
        for (name, value) in signed { httpRequest.headers.add(name: name, value: value) }
        return httpRequest
    }

    private func attempt(_ request: Request, payloadHash: String, maxBodyBytes: Int) async throws -> Response {
        var httpRequest = signedRequest(
            request.method, path: request.path, query: request.query, headers: request.headers,
            payloadHash: payloadHash, service: request.service)
        if request.body.readableBytes > 0 || request.method == .PUT || request.method == .POST {
            httpRequest.body = .bytes(request.body)
        }
        let response = try await httpClient.execute(
            httpRequest, deadline: .now() + Self.timeAmount(configuration.requestTimeout), logger: logger)
        let status = Int(response.status.code)
        var body = ByteBuffer()
        if request.method != .HEAD {
            if (200..<300).contains(status) {
                body = try await response.body.collect(upTo: maxBodyBytes)
            } else {
                // An error answer is read only as far as its first bytes: the code is near the start.
                for try await chunk in response.body {
                    var chunk = chunk
                    body.writeBuffer(&chunk)
                    if body.readableBytes >= Self.maxErrorBytes { break }
                }
            }
        }
        return Response(status: status, headers: response.headers, body: body)
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(
            seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue + attoseconds / 1_000_000_000)
    }

    /// Runs `operation`, cancelling it and throwing `Timeout` if it takes longer than `limit`.
    func withTimeout<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T)
        async throws -> T
    {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: limit)
                throw Timeout(after: limit)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// The root element of a 2xx XML answer; an `<Error>` root (S3 sends those with 200 too)
    /// becomes `S3ErrorResponse`.
    func xml(_ response: Response, _ operation: String) throws -> S3XMLElement {
        let root: S3XMLElement
        do {
            root = try S3XML.parse(Array(buffer: response.body))
        } catch {
            throw S3RequestFailed(operation: operation, attempts: 1, reason: "\(error)")
        }
        if root.name == "Error" { throw Self.s3Error(operation, response, root: root) }
        return root
    }

    static func s3Error(_ operation: String, _ response: Response, root: S3XMLElement? = nil) -> S3ErrorResponse {
        let parsed = root ?? (try? S3XML.parse(Array(buffer: response.body)))
        // S3 answers `<Error>`; the IAM Query API wraps it: `<ErrorResponse><Error>`.
        let error = parsed?.name == "Error" ? parsed : parsed?.name == "ErrorResponse" ? parsed?.child("Error") : nil
        let code = error?.text(of: "Code") ?? Self.codeFromStatus(response.status)
        return S3ErrorResponse(
            operation: operation, status: response.status, code: code, message: error?.text(of: "Message") ?? "",
            requestId: error?.text(of: "RequestId") ?? response.headers.first(name: "x-amz-request-id"))
    }

    static func codeFromStatus(_ status: Int) -> String {
        switch status {
        case 400: "BadRequest"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 409: "Conflict"
        case 412: "PreconditionFailed"
        case 500: "InternalError"
        case 503: "ServiceUnavailable"
        default: "HTTP\(status)"
        }
    }

    /// `bytes first-last/total` → (first, last).
    static func parseContentRange(_ value: String) -> (Int64, Int64)? {
        guard value.hasPrefix("bytes ") else { return nil }
        let spec = value.dropFirst(6).split(separator: "/", maxSplits: 1)
        guard let bounds = spec.first?.split(separator: "-", maxSplits: 1), bounds.count == 2,
            let first = Int64(bounds[0]), let last = Int64(bounds[1]), first >= 0, last <= maxObjectBytes
        else { return nil }
        return (first, last)
    }

    /// S3's ISO 8601 timestamps, with or without fractional seconds.
    static func parseTimestamp(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    static func xmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// A malformed S3 configuration (URL, bucket, endpoint, credentials).
public struct S3ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
