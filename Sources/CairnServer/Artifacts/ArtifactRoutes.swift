import CairnCore
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore

/// The artifacts API (docs/api/artifacts.md): `POST /artifacts` (streamed raw body),
/// `GET|HEAD /artifacts/:id` (streamed, with Range), `GET /artifacts/:id/metadata`,
/// `GET /artifacts` (list) and `DELETE /artifacts/:id`. Everything is scoped to the caller's
/// tenant: another tenant's id is unknown (404).
struct ArtifactRoutes<Context: PrincipalContext>: Sendable {
    let artifacts: ArtifactService
    /// Bytes per read of a blob and per write to the response.
    static var chunkSize: Int { 1024 * 1024 }
    static var metaPrefix: String { "x-cairn-meta-" }

    func register(on router: Router<Context>) {
        let group = router.group("/artifacts").add(middleware: TidebaseErrorMiddleware<Context>())
        group.post(use: upload)
        group.get(use: list)
        group.get(":artifactId", use: download)
        group.head(":artifactId", use: head)
        group.get(":artifactId/metadata", use: metadata)
        group.delete(":artifactId", use: delete)
    }

    // MARK: Upload

    @Sendable func upload(_ request: Request, context: Context) async throws -> Response {
        let tenant = context.principal.tenant
        do {
            let parameters = try Self.uploadRequest(request, now: artifacts.clock.now())
            // A retry of an upload that already succeeded. A client that waits for
            // `100 Continue` is answered before it sends the body (and the connection closes,
            // since the body never comes); any other client is already sending it, and closing
            // under it would fail its request before it reads the answer, so the body is read
            // and dropped first (bounded by the size limit and the body timeout).
            if let existing = try await artifacts.replay(parameters, tenant: tenant) {
                var response = Self.created(existing, replayed: true)
                if request.headers[.expect]?.lowercased() == "100-continue" {
                    response.headers[.connection] = "close"
                } else {
                    do {
                        for try await _ in request.body {}
                    } catch {
                        response.headers[.connection] = "close"
                    }
                }
                return response
            }
            let upload = try await artifacts.beginUpload(parameters, tenant: tenant)
            do {
                var body = request.body.makeAsyncIterator()
                while true {
                    let next: ByteBuffer?
                    do {
                        next = try await body.next()
                    } catch {
                        throw ArtifactError.incompleteBody(received: upload.bytesReceived)
                    }
                    guard let buffer = next else { break }
                    try buffer.withUnsafeReadableBytes { try upload.append($0) }
                }
                let outcome = try await upload.commit()
                Counter(label: "cairn_artifact_uploaded_bytes_total").increment(by: Int(outcome.artifact.size))
                return Self.created(outcome.artifact, replayed: outcome.replayed)
            } catch {
                upload.abort()
                throw error
            }
        } catch let error as any APIErrorConvertible where error is ArtifactError || error is StorageFullError {
            // The client may still be sending a body nobody will read: end the connection.
            var response = error.apiError.response
            response.headers[.connection] = "close"
            return response
        }
    }

    static var idempotencyKey: HTTPField.Name { HTTPField.Name("idempotency-key")! }
    static var idempotentReplayed: HTTPField.Name { HTTPField.Name("idempotent-replayed")! }

    /// The answer to an upload: 201 with the new artifact, or 200 with the artifact an earlier
    /// attempt under the same `Idempotency-Key` created (and `Idempotent-Replayed: true`).
    static func created(_ artifact: Artifact, replayed: Bool) -> Response {
        var response = JSONResponse.object(replayed ? .ok : .created) { w in
            w.key("artifact")
            w.artifact(artifact)
        }
        response.headers[.location] = "/artifacts/\(artifact.id)"
        response.headers[.eTag] = eTag(artifact)
        if replayed { response.headers[idempotentReplayed] = "true" }
        return response
    }

    /// The upload's parameters: the query (`name`, `owner`, `sha256`, `expiresAt` or `ttl`),
    /// `Content-Type`, `Content-Length`, `Idempotency-Key` and `X-Cairn-Meta-*` headers.
    static func uploadRequest(_ request: Request, now: Timestamp) throws -> ArtifactUploadRequest {
        let q = request.uri.queryParameters
        guard let name = q["name"].map(String.init) else {
            throw ArtifactError.invalid(field: "name", message: "the name query parameter is required")
        }
        var upload = ArtifactUploadRequest(name: name)
        upload.owner = q["owner"].map(String.init)
        upload.expectedSHA256 = q["sha256"].map(String.init)
        if let contentType = request.headers[.contentType] { upload.contentType = contentType }
        // One key per upload: the field given twice is refused rather than one copy picked.
        if let key = request.headers[values: idempotencyKey].first {
            guard request.headers[values: idempotencyKey].count == 1 else {
                throw ArtifactError.invalid(
                    field: "Idempotency-Key", message: "Idempotency-Key must be given once")
            }
            upload.idempotencyKey = key
        }
        switch (q["expiresAt"], q["ttl"]) {
        case (.some, .some):
            throw ArtifactError.invalid(field: "expiresAt", message: "give expiresAt or ttl, not both")
        case (.some(let text), nil):
            guard let at = Timestamp(iso8601: String(text)) else {
                throw ArtifactError.invalid(field: "expiresAt", message: "expiresAt must be an ISO 8601 date-time")
            }
            upload.expiresAt = at
        case (nil, .some(let text)):
            guard let seconds = Int64(text), seconds > 0, seconds <= 100 * 365 * 86_400 else {
                throw ArtifactError.invalid(field: "ttl", message: "ttl must be a positive number of seconds")
            }
            upload.expiresAt = now.adding(milliseconds: seconds * 1000)
        case (nil, nil): break
        }
        if let length = request.headers[.contentLength] {
            guard let declared = Int64(length), declared >= 0 else {
                throw ArtifactError.invalid(field: "Content-Length", message: "Content-Length must be a byte count")
            }
            upload.declaredLength = declared
        }
        for field in request.headers where field.name.canonicalName.hasPrefix(metaPrefix) {
            let key = String(field.name.canonicalName.dropFirst(metaPrefix.count))
            guard !key.isEmpty else { continue }
            upload.metadata[key] = field.value
        }
        return upload
    }

    // MARK: Download

    @Sendable func download(_ request: Request, context: Context) async throws -> Response {
        let id = try request.pathParameter("artifactId", context)
        let (artifact, read) = try await artifacts.open(id: id, tenant: context.principal.tenant)
        var response = try Self.head(artifact, request)
        guard response.status == .ok || response.status == .partialContent, let range = Self.range(of: response)
        else {
            read.close()
            return response
        }
        let verify = range == 0..<artifact.size
        let expected = artifact.sha256
        response.body = ResponseBody(contentLength: Int(range.count)) { writer in
            // One scratch buffer per download: the read is async (a remote store awaits the
            // network), so it cannot fill a ByteBuffer's storage in place; each chunk is copied.
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
            defer {
                scratch.deallocate()
                read.close()
            }
            var hasher = SHA256Hasher()
            var offset = range.lowerBound
            let allocator = ByteBufferAllocator()
            while offset < range.upperBound {
                let want = Int(min(Int64(Self.chunkSize), range.upperBound - offset))
                let n = try await read.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: scratch[..<want]))
                // The blob shrank under us: end the response short rather than send bad bytes.
                guard n > 0 else { throw ArtifactIntegrityError(id: id, detail: "blob is shorter than recorded") }
                let chunk = UnsafeRawBufferPointer(rebasing: scratch[..<n])
                if verify { hasher.update(chunk) }
                offset += Int64(n)
                try await writer.write(allocator.buffer(bytes: chunk))
            }
            // A full read is verified: if the bytes on disk no longer match their digest, the
            // response ends without its last step and the client sees a failed transfer.
            if verify, hasher.finalize() != expected {
                throw ArtifactIntegrityError(id: id, detail: "bytes do not match their SHA-256")
            }
            try await writer.finish(nil)
        }
        return response
    }

    @Sendable func head(_ request: Request, context: Context) async throws -> Response {
        let id = try request.pathParameter("artifactId", context)
        return try Self.head(try await artifacts.artifact(id: id, tenant: context.principal.tenant), request)
    }

    /// The status and headers a GET answers with, given the request's conditional and Range
    /// headers (the body, if any, is added by the caller). One range per request; a request for
    /// several gets the whole artifact, which RFC 9110 allows.
    static func head(_ artifact: Artifact, _ request: Request) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] =
            ArtifactNames.problem(contentType: artifact.contentType) == nil
            ? artifact.contentType : "application/octet-stream"
        // Artifacts are files to save, never pages of this origin: a browser that opens one
        // downloads it, and if it renders it anyway (HTML, SVG, XML, script) no script runs
        // and nothing is loaded, in a sandbox with an origin of its own.
        headers[.contentDisposition] = contentDisposition(name: artifact.name)
        headers[.contentSecurityPolicy] = "sandbox; default-src 'none'"
        headers[.eTag] = eTag(artifact)
        headers[.acceptRanges] = "bytes"
        headers[HTTPField.Name("x-cairn-sha256")!] = artifact.sha256
        headers[HTTPField.Name("repr-digest")!] = "sha-256=:\(base64(hex: artifact.sha256)):"
        headers[.lastModified] = artifact.createdAt.httpDate
        for (key, value) in artifact.metadata.sorted(by: { $0.key < $1.key }) {
            if let name = HTTPField.Name(metaPrefix + key) { headers[name] = value }
        }
        if let inm = request.headers[.ifNoneMatch],
            inm == "*"
                || inm.split(separator: ",").contains(where: {
                    $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "W/", with: "") == eTag(artifact)
                })
        {
            return Response(status: .notModified, headers: headers)
        }
        var range: Range<Int64> = 0..<artifact.size
        var status = HTTPResponse.Status.ok
        if let header = request.headers[.range], request.headers[.ifRange].map({ $0 == eTag(artifact) }) ?? true {
            switch ByteRange.parse(header, size: artifact.size) {
            case .whole: break
            case .invalid:
                throw APIError(
                    .badRequest, "invalid Range header: expected bytes=first-last, bytes=first- or bytes=-suffix"
                ) { $0.field("code", "invalid_range") }
            case .unsatisfiable:
                var error = APIError(.rangeNotSatisfiable, "range not satisfiable") { w in
                    w.field("code", "range_not_satisfiable")
                    w.field("size", Int(artifact.size))
                }.response
                error.headers[.contentRange] = "bytes */\(artifact.size)"
                return error
            case .range(let r):
                range = r
                status = .partialContent
                headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(artifact.size)"
            }
        }
        headers[.contentLength] = String(range.count)
        return Response(status: status, headers: headers)
    }

    /// The byte range a response from `head` covers.
    static func range(of response: Response) -> Range<Int64>? {
        guard let length = response.headers[.contentLength].flatMap({ Int64($0) }) else { return nil }
        guard let contentRange = response.headers[.contentRange] else { return 0..<length }
        let first = contentRange.dropFirst("bytes ".count).prefix { $0 != "-" }
        return Int64(first).map { $0..<($0 + length) }
    }

    static func eTag(_ artifact: Artifact) -> String { "\"\(artifact.sha256)\"" }

    /// `attachment` with the name's last segment as the file name: an ASCII fallback with
    /// anything outside `[A-Za-z0-9._ -]` replaced by `_`, and the exact name in RFC 8187 form.
    static func contentDisposition(name: String) -> String {
        let base = name.split(separator: "/").last.map(String.init) ?? "artifact"
        let safe: (UInt8) -> Bool = { c in
            (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
        let kept = base.utf8.prefix(200).map { safe($0) || $0 == 0x20 ? $0 : UInt8(ascii: "_") }
        var fallback = String(decoding: kept, as: UTF8.self)
        if fallback.allSatisfy({ $0 == "." || $0 == "_" || $0 == " " }) { fallback = "artifact" }
        var encoded = ""
        for c in base.utf8 {
            if safe(c) {
                encoded.append(Character(Unicode.Scalar(c)))
            } else {
                encoded += "%" + String(c, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return "attachment; filename=\"\(fallback)\"; filename*=UTF-8''\(encoded)"
    }

    // MARK: Metadata, list, delete

    @Sendable func metadata(_ request: Request, context: Context) async throws -> Response {
        let id = try request.pathParameter("artifactId", context)
        let artifact = try await artifacts.artifact(id: id, tenant: context.principal.tenant)
        return JSONResponse.object { w in
            w.key("artifact")
            w.artifact(artifact)
        }
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        let q = request.uri.queryParameters
        var query = ArtifactListQuery()
        query.owner = q["owner"].map(String.init)
        query.namePrefix = q["prefix"].map(String.init)
        if let limit = q["limit"] {
            guard let n = Int(limit), (1...1000).contains(n) else {
                throw ArtifactError.invalid(field: "limit", message: "limit must be 1...1000")
            }
            query.limit = n
        }
        if let cursor = q["cursor"] {
            guard let after = ArtifactCursor.decode(String(cursor)) else {
                throw ArtifactError.invalid(field: "cursor", message: "malformed cursor")
            }
            query.after = after
        }
        let page = try await artifacts.list(tenant: context.principal.tenant, query: query)
        return JSONResponse.object { w in
            w.array("artifacts", page.artifacts) { w, a in w.artifact(a) }
            w.field("nextCursor", page.nextCursor)
        }
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        let id = try request.pathParameter("artifactId", context)
        let deleted = try await artifacts.delete(id: id, tenant: context.principal.tenant)
        return JSONResponse.object { w in w.field("deleted", deleted.id) }
    }
}

/// A stored blob that no longer matches its record (found while streaming it).
struct ArtifactIntegrityError: Error, CustomStringConvertible {
    let id: String
    let detail: String
    var description: String { "artifact \(id): \(detail)" }
}

/// One `Range: bytes=...` header, resolved against a size (RFC 9110 §14).
enum ByteRange: Equatable {
    /// Absent in effect: serve everything (several ranges, or another unit).
    case whole
    case invalid
    case unsatisfiable
    case range(Range<Int64>)

    static func parse(_ header: String, size: Int64) -> ByteRange {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = trimmed.dropFirst(6).trimmingCharacters(in: .whitespaces)
        if spec.contains(",") { return .whole }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .invalid }
        let digits: (Substring) -> Int64? = { s in
            guard !s.isEmpty, s.count <= 18, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int64(s)
        }
        if parts[0].isEmpty {
            guard let suffix = digits(parts[1]) else { return .invalid }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .range(max(0, size - suffix)..<size)
        }
        guard let first = digits(parts[0]) else { return .invalid }
        var last = size - 1
        if !parts[1].isEmpty {
            guard let l = digits(parts[1]) else { return .invalid }
            guard l >= first else { return .invalid }
            last = min(l, size - 1)
        }
        guard first < size else { return .unsatisfiable }
        return .range(first..<(last + 1))
    }
}

/// Artifact refusals as responses: their status and JSON body.
extension ArtifactError: APIErrorConvertible {
    public var apiError: APIError {
        switch self {
        case .tooLarge(let limit):
            return APIError(.contentTooLarge, "artifact exceeds the maximum size of \(limit) bytes") { w in
                w.field("code", "artifact_too_large")
                w.field("limit", Int(limit))
            }
        case .quotaExceeded(let quota, let used):
            return APIError(.contentTooLarge, "the tenant's artifact quota of \(quota) bytes would be exceeded") { w in
                w.field("code", "quota_exceeded")
                w.field("quota", Int(quota))
                w.field("used", Int(used))
            }
        case .blobRemovedMeanwhile:
            return APIError(.serviceUnavailable, "the upload raced a cleanup of the same bytes; send it again") { w in
                w.field("code", "retry")
            }
        case .checksumMismatch(let expected, let actual):
            return APIError(.badRequest, "the body's SHA-256 does not match the expected one") { w in
                w.field("code", "checksum_mismatch")
                w.field("expected", expected)
                w.field("actual", actual)
            }
        case .lengthMismatch(let declared, let received):
            return APIError(.badRequest, "the body's length does not match its Content-Length") { w in
                w.field("code", "length_mismatch")
                w.field("declared", Int(declared))
                w.field("received", Int(received))
            }
        case .incompleteBody(let received):
            return APIError(.badRequest, "the request body ended before it was complete") { w in
                w.field("code", "incomplete_body")
                w.field("received", Int(received))
            }
        case .invalid(let field, let message):
            return APIError(.badRequest, message) { w in
                w.field("code", "invalid_request")
                w.field("field", field)
            }
        case .notFound:
            return APIError(.notFound, "artifact not found") { $0.field("code", "not_found") }
        case .idempotencyKeyReused(_, let existing):
            return APIError(
                .conflict,
                "the Idempotency-Key is already used by an artifact with other content (its sha256 differs)"
            ) { w in
                w.field("code", "idempotency_key_reused")
                w.field("artifactId", existing.id)
                w.field("sha256", existing.sha256)
            }
        }
    }
}

extension JSONWriter {
    /// An artifact as the API shows it.
    mutating func artifact(_ a: Artifact) {
        beginObjectValue()
        field("id", a.id)
        field("name", a.name)
        field("contentType", a.contentType)
        field("size", Int(a.size))
        field("sha256", a.sha256)
        field("owner", a.owner)
        field("tenant", a.tenant.rawValue)
        object("metadata") { w in
            for (key, value) in a.metadata.sorted(by: { $0.key < $1.key }) { w.field(key, value) }
        }
        field("createdAt", timestamp: a.createdAt)
        field("expiresAt", timestamp: a.expiresAt)
        endObject()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Base64 of the bytes a hex string spells.
func base64(hex: String) -> String {
    var bytes: [UInt8] = []
    var it = hex.utf8.makeIterator()
    while let h = it.next(), let l = it.next() {
        func v(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
        bytes.append(v(h) << 4 | v(l))
    }
    let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    var i = 0
    while i < bytes.count {
        let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
        out.append(table[Int(b0 >> 2)])
        out.append(table[Int((b0 & 3) << 4 | b1 >> 4)])
        out.append(i + 1 < bytes.count ? table[Int((b1 & 0xF) << 2 | b2 >> 6)] : UInt8(ascii: "="))
        out.append(i + 2 < bytes.count ? table[Int(b2 & 0x3F)] : UInt8(ascii: "="))
        i += 3
    }
    return String(decoding: out, as: UTF8.self)
}
