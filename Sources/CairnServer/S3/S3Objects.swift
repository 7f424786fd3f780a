import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore

extension S3Listener {
    static func preconditionFailed() -> S3Error {
        S3Error(
            code: "PreconditionFailed", message: "At least one of the preconditions you specified did not hold.",
            status: 412)
    }

    // MARK: Request headers an object keeps

    /// The standard headers an object keeps and every `x-amz-meta-*`, names lower-cased;
    /// `aws-chunked` is dropped from `Content-Encoding` (it describes the upload, not the object).
    static func objectHeaders(_ x: S3Exchange) throws -> ObjectHeaders {
        var pairs: [(name: String, value: String)] = []
        var metadataBytes = 0
        for field in x.request.headers {
            let name = field.name.canonicalName.lowercased()
            guard ObjectHeaders.stored.contains(name) || name.hasPrefix("x-amz-meta-") else { continue }
            guard !pairs.contains(where: { $0.name == name }) else { continue }
            var value = field.value
            if name == "content-encoding" {
                let codings = value.split(separator: ",").map { S3Text.trimmed($0) }
                let kept = codings.filter { !$0.isEmpty && $0.lowercased() != "aws-chunked" }
                if kept.isEmpty { continue }
                // Kept as sent unless aws-chunked had to come out.
                if kept.count != codings.count { value = kept.joined(separator: ", ") }
            }
            if name.hasPrefix("x-amz-meta-") { metadataBytes += name.utf8.count - 11 + value.utf8.count }
            pairs.append((name, value))
        }
        if metadataBytes > 2048 {
            throw S3Error(
                code: "MetadataTooLarge", message: "Your metadata headers exceed the maximum allowed metadata size.",
                status: 400)
        }
        return ObjectHeaders(pairs)
    }

    /// Refuses object-write headers that ask for features this server does not have.
    static func refuseUnsupportedWriteHeaders(_ x: S3Exchange) throws {
        if let acl = x.header("x-amz-acl"), S3Text.trimmed(acl) != "private" {
            throw S3Error.notImplemented("Only the private canned ACL is supported.")
        }
        for field in x.request.headers {
            let name = field.name.canonicalName.lowercased()
            if name.hasPrefix("x-amz-grant-") || name.hasPrefix("x-amz-object-lock-") || name == "x-amz-tagging"
                || name.hasPrefix("x-amz-server-side-encryption-customer-") || name == "x-amz-website-redirect-location"
            {
                throw S3Error.notImplemented("The \(name) header is not supported.")
            }
        }
        if let sse = x.header("x-amz-server-side-encryption"), S3Text.trimmed(sse) != "AES256" {
            throw S3Error.notImplemented("Only AES256 server-side encryption is supported.")
        }
    }

    /// `If-None-Match: *` and `If-Match` on a write.
    static func writeConditions(_ x: S3Exchange) throws -> WriteConditions {
        var conditions = WriteConditions()
        if let none = x.header("if-none-match") {
            guard S3Text.trimmed(none) == "*" else {
                throw S3Error.notImplemented("If-None-Match on a write only supports *.")
            }
            conditions.mustNotExist = true
        }
        if let match = x.header("if-match") { conditions.ifMatch = etagList(match) }
        return conditions
    }

    static func etagList(_ text: String) -> [String] {
        text.split(separator: ",").map { S3Text.trimmed($0) }.filter { !$0.isEmpty }
    }

    static func etagListMatches(_ text: String, _ etag: String) -> Bool {
        etagList(text).contains { $0 == "*" || WorkspaceService.etagsMatch($0, etag) }
    }

    // MARK: PutObject

    func putObject(_ bucket: String, _ key: String, _ x: S3Exchange) async throws -> Response {
        try WorkspaceService.checkKey(key)
        try Self.refuseUnsupportedWriteHeaders(x)
        let conditions = try Self.writeConditions(x)
        var headers = try Self.objectHeaders(x)
        // A missing bucket is refused before the body is read (and before any 100 Continue).
        _ = try await workspaces.bucket(tenant: x.tenant, name: bucket)
        let write = try workspaces.beginWrite()
        let body: S3Body
        let result: WorkspaceService.WriteResult
        do {
            body = try await readBody(
                x, limit: maxObjectBytes, tooLarge: Self.entityTooLarge(maxObjectBytes), blobHashesPayload: true
            ) { try write.write($0) }
            headers.pairs += body.checksums.filter { ObjectHeaders.checksums.contains($0.name) }
            result = try await workspaces.putObject(
                tenant: x.tenant, bucket: bucket, key: key, write: write, md5: body.md5, headers: headers,
                conditions: conditions, expectedSHA256: body.payloadSHA256)
        } catch {
            write.abort()
            throw error
        }
        var out = HTTPFields()
        out[.eTag] = result.version.etag
        if let versionId = result.versionId { out.set("x-amz-version-id", versionId) }
        for (name, value) in body.checksums { out.set(name, value) }
        return Self.empty(.ok, headers: out)
    }

    // MARK: CopyObject (and Tigris' rename)

    struct CopySource {
        var bucket: String
        var key: String
        var versionId: String?
    }

    static func parseCopySource(_ header: String) throws -> CopySource {
        let invalid = S3Error.invalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
        let text = S3Text.trimmed(header)
        var pathPart = Substring(text)
        var versionId: String?
        if let mark = text.firstIndex(of: "?") {
            pathPart = text[..<mark]
            for item in text[text.index(after: mark)...].split(separator: "&") {
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts[0] == "versionId", parts.count == 2 { versionId = S3Text.percentDecode(parts[1]) }
            }
        }
        guard var decoded = S3Text.percentDecode(pathPart) else { throw invalid }
        while decoded.hasPrefix("/") { decoded.removeFirst() }
        guard let slash = decoded.firstIndex(of: "/") else { throw invalid }
        let bucket = String(decoded[..<slash])
        let key = String(decoded[decoded.index(after: slash)...])
        guard !bucket.isEmpty, !key.isEmpty else { throw invalid }
        return CopySource(bucket: bucket, key: key, versionId: versionId)
    }

    func copyObject(_ bucket: String, _ key: String, _ x: S3Exchange) async throws -> Response {
        try WorkspaceService.checkKey(key)
        try Self.refuseUnsupportedWriteHeaders(x)
        let source = try Self.parseCopySource(x.header("x-amz-copy-source") ?? "")
        let directive = x.header("x-amz-metadata-directive").map { S3Text.trimmed($0).uppercased() } ?? "COPY"
        guard directive == "COPY" || directive == "REPLACE" else {
            throw S3Error.invalidArgument("Unknown metadata directive: \(directive)")
        }
        let rename = x.header("x-tigris-rename").map { S3Text.trimmed($0).lowercased() == "true" } ?? false
        if !rename, directive == "COPY", source.versionId == nil, source.bucket == bucket, source.key == key {
            throw S3Error(
                code: "InvalidRequest",
                message: "This copy request is illegal because it is trying to copy an object to itself without "
                    + "changing the object's metadata, storage class, website redirect location or encryption "
                    + "attributes.", status: 400)
        }
        let (sourceBucket, version) = try await copySource(source, x)
        let headers = directive == "REPLACE" ? try Self.objectHeaders(x) : version.headers
        let result = try await workspaces.copyObject(
            tenant: x.tenant, source: version, sourceBucket: sourceBucket, bucket: bucket, key: key, headers: headers,
            conditions: try Self.writeConditions(x), rename: rename)
        var out = HTTPFields()
        if let versionId = result.versionId { out.set("x-amz-version-id", versionId) }
        if sourceBucket.keepsVersions || sourceBucket.versioning != .unversioned || !version.isNullVersion {
            out.set("x-amz-copy-source-version-id", version.versionId)
        }
        var xml = S3XMLWriter()
        xml.element("CopyObjectResult", xmlns: S3XML.namespace) { c in
            c.element("LastModified", result.version.createdAt.iso8601)
            c.element("ETag", result.version.etag)
            Self.checksumElements(&c, result.version.headers)
        }
        return Self.xml(xml.document, headers: out)
    }

    static func noSuchVersion() -> S3Error {
        S3Error(code: "NoSuchVersion", message: "The specified version does not exist.", status: 404)
    }

    /// The version a copy reads, after the `x-amz-copy-source-if-*` conditions.
    func copySource(_ source: CopySource, _ x: S3Exchange) async throws -> (WorkspaceBucket, ObjectVersion) {
        let (sourceBucket, lookup) = try await workspaces.lookup(
            tenant: x.tenant, bucket: source.bucket, key: source.key, versionId: source.versionId)
        let version: ObjectVersion
        switch lookup {
        case .found(let found): version = found
        case .deleteMarker where source.versionId != nil:
            throw S3Error(
                code: "InvalidRequest",
                message: "The source of a copy request may not specifically refer to a delete marker by version id.",
                status: 400)
        case .missing where source.versionId != nil: throw Self.noSuchVersion()
        default: throw WorkspaceService.noSuchKey
        }
        let modified = version.createdAt.milliseconds / 1000
        if let match = x.header("x-amz-copy-source-if-match") {
            if !Self.etagListMatches(match, version.etag) { throw Self.preconditionFailed() }
        } else if let since = x.header("x-amz-copy-source-if-unmodified-since").flatMap(S3HTTPDate.parse),
            modified > since
        {
            throw Self.preconditionFailed()
        }
        if let none = x.header("x-amz-copy-source-if-none-match") {
            if Self.etagListMatches(none, version.etag) { throw Self.preconditionFailed() }
        } else if let since = x.header("x-amz-copy-source-if-modified-since").flatMap(S3HTTPDate.parse),
            modified <= since
        {
            throw Self.preconditionFailed()
        }
        return (sourceBucket, version)
    }

    /// `x-amz-copy-source-range`: exactly `bytes=first-last`, both within the source. Unlike a
    /// GET's Range, a last byte past the end is refused, not clamped: the part would be shorter
    /// than asked.
    static func copySourceRange(_ text: String, size: Int64) throws -> (start: Int64, length: Int64) {
        let value = S3Text.trimmed(text)
        let bounds =
            value.hasPrefix("bytes=") ? value.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false) : []
        func offset(_ digits: Substring) -> Int64? {
            guard (1...19).contains(digits.utf8.count), digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                return nil
            }
            return Int64(digits)
        }
        guard bounds.count == 2, let first = offset(bounds[0]), let last = offset(bounds[1]), first <= last else {
            throw S3Error.invalidArgument(
                "The x-amz-copy-source-range must be bytes=first-last, zero-based offsets with first <= last.")
        }
        guard last < size else {
            throw S3Failure(
                error: S3Error(
                    code: "InvalidRange",
                    message: "The x-amz-copy-source-range ends past the source's \(size) bytes.", status: 416),
                headers: [("content-range", "bytes */\(size)")])
        }
        return (first, last - first + 1)
    }

    /// UploadPartCopy: the part's bytes are read from the source (or a range of it) into a new blob.
    func uploadPartCopy(
        _ bucket: String, uploadId: String, number: Int, algorithm: ChecksumAlgorithm?, _ x: S3Exchange
    ) async throws -> Response {
        let source = try Self.parseCopySource(x.header("x-amz-copy-source") ?? "")
        let (_, version) = try await copySource(source, x)
        var start: Int64 = 0
        var length = version.size
        if let range = x.header("x-amz-copy-source-range") {
            (start, length) = try Self.copySourceRange(range, size: version.size)
        }
        guard length <= maxObjectBytes else { throw Self.entityTooLarge(maxObjectBytes) }
        let write = try workspaces.beginWrite()
        let part: UploadedPart
        do {
            var digest = ObjectDigest(algorithm.map { [.md5, $0.digest] } ?? [.md5])
            let reader = try await workspaces.open(version)
            defer { reader.close() }
            let chunk = 256 * 1024
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
            defer { buffer.deallocate() }
            var offset = start
            while offset < start + length {
                let want = Int(min(Int64(chunk), start + length - offset))
                let count = try await reader.read(
                    at: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
                guard count > 0 else {
                    throw S3Error(code: "InternalError", message: "The source's bytes ended early.", status: 500)
                }
                let slice = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                digest.update(slice)
                try write.write(slice)
                offset += Int64(count)
            }
            let digests = digest.finalize()
            part = try await workspaces.putPart(
                tenant: x.tenant, bucket: bucket, uploadId: uploadId, number: number, write: write,
                md5: digests.md5 ?? [], checksum: algorithm?.base64(in: digests))
        } catch {
            write.abort()
            throw error
        }
        var out = HTTPFields()
        if source.versionId != nil { out.set("x-amz-copy-source-version-id", version.versionId) }
        var xml = S3XMLWriter()
        xml.element("CopyPartResult", xmlns: S3XML.namespace) { c in
            c.element("LastModified", part.createdAt.iso8601)
            c.element("ETag", part.etag)
            if let algorithm, let value = part.checksum { c.element(algorithm.elementName, value) }
        }
        return Self.xml(xml.document, headers: out)
    }

    // MARK: GetObject, HeadObject

    func getObject(_ bucket: String, _ key: String, _ x: S3Exchange, head: Bool) async throws -> Response {
        let versionId = x.call["versionId"]
        let snapshot = x.header("x-tigris-snapshot-version").map { S3Text.trimmed($0) }
        let (b, lookup) = try await workspaces.lookup(
            tenant: x.tenant, bucket: bucket, key: key, versionId: versionId, snapshotVersion: snapshot)
        let version: ObjectVersion
        switch lookup {
        case .missing:
            if versionId != nil { throw Self.noSuchVersion() }
            throw WorkspaceService.noSuchKey
        case .deleteMarker(let marker):
            var headers: [(String, String)] = [
                ("x-amz-delete-marker", "true"), ("x-amz-version-id", marker.versionId),
                ("last-modified", S3HTTPDate.format(marker.createdAt)),
            ]
            if versionId != nil {
                headers.append(("allow", "DELETE"))
                throw S3Failure(error: Self.methodNotAllowedOnMarker(), headers: headers)
            }
            throw S3Failure(
                error: WorkspaceService.noSuchKey,
                headers: headers)
        case .found(let found): version = found
        }

        var headers = HTTPFields()
        headers[.eTag] = version.etag
        headers[.lastModified] = S3HTTPDate.format(version.createdAt)
        headers[.acceptRanges] = "bytes"
        if b.keepsVersions || b.versioning != .unversioned || !version.isNullVersion || snapshot != nil {
            headers.set("x-amz-version-id", version.versionId)
        }
        var checksums: [(name: String, value: String)] = []
        var checksumType = ChecksumType.fullObject.rawValue
        for (name, value) in version.headers.pairs {
            if name == MultipartChecksum.typeHeader {
                checksumType = value
            } else if ObjectHeaders.checksums.contains(name) {
                checksums.append((name, value))
            } else {
                headers.set(name, value)
            }
        }
        if headers[.contentType] == nil { headers[.contentType] = "binary/octet-stream" }

        // Conditions, RFC 7232 §6: If-Match, else If-Unmodified-Since; If-None-Match, else If-Modified-Since.
        let modified = version.createdAt.milliseconds / 1000
        if let match = x.header("if-match") {
            if !Self.etagListMatches(match, version.etag) { throw Self.preconditionFailed() }
        } else if let since = x.header("if-unmodified-since").flatMap(S3HTTPDate.parse), modified > since {
            throw Self.preconditionFailed()
        }
        var notModified = false
        if let none = x.header("if-none-match") {
            notModified = Self.etagListMatches(none, version.etag)
        } else if let since = x.header("if-modified-since").flatMap(S3HTTPDate.parse), modified <= since {
            notModified = true
        }
        if notModified {
            var kept = HTTPFields()
            kept[.eTag] = headers[.eTag]
            kept[.lastModified] = headers[.lastModified]
            if let id = headers.value("x-amz-version-id") { kept.set("x-amz-version-id", id) }
            return Response(status: .notModified, headers: kept)
        }

        if !head {
            let overrides = [
                ("response-content-type", "content-type"), ("response-content-language", "content-language"),
                ("response-expires", "expires"), ("response-cache-control", "cache-control"),
                ("response-content-disposition", "content-disposition"),
                ("response-content-encoding", "content-encoding"),
            ]
            for (parameter, name) in overrides { if let value = x.call[parameter] { headers.set(name, value) } }
        }

        var start: Int64 = 0
        var length = version.size
        var status = HTTPResponse.Status.ok
        if let part = try requestedPart(x, of: version) {
            start = part.start
            length = part.length
            if let count = part.count {
                headers.set("x-amz-mp-parts-count", String(count))
                if length > 0 {
                    status = .partialContent
                    headers[.contentRange] = "bytes \(start)-\(start + length - 1)/\(version.size)"
                }
            }
        } else {
            try Self.applyRange(
                x, size: version.size, start: &start, length: &length, status: &status, headers: &headers)
        }
        // A whole object's stored checksums, for a reader that asks (as S3 answers them).
        if status == .ok, !checksums.isEmpty,
            x.header("x-amz-checksum-mode").map({ S3Text.trimmed($0).uppercased() == "ENABLED" }) == true
        {
            for (name, value) in checksums { headers.set(name, value) }
            headers.set(MultipartChecksum.typeHeader, checksumType)
        }
        headers[.contentLength] = String(length)
        if head || length == 0 { return Response(status: status, headers: headers) }

        let reader = try await workspaces.open(version)
        let body = reader.responseBody(from: start, to: start + length)
        return Response(status: status, headers: headers, body: body)
    }

    /// A GET's or HEAD's `Range`: the bytes to send, and the 206 headers.
    static func applyRange(
        _ x: S3Exchange, size: Int64, start: inout Int64, length: inout Int64, status: inout HTTPResponse.Status,
        headers: inout HTTPFields
    ) throws {
        switch parseRange(x.header("range"), size: size) {
        case .none: break
        case .unsatisfiable:
            throw S3Failure(
                error: S3Error(code: "InvalidRange", message: "The requested range is not satisfiable", status: 416),
                headers: [("content-range", "bytes */\(size)")])
        case .range(let first, let last):
            start = first
            length = last - first + 1
            status = .partialContent
            headers[.contentRange] = "bytes \(first)-\(last)/\(size)"
        }
    }

    /// `?partNumber=N` on a GET or HEAD: the bytes of that part of a multipart object (each part is
    /// one of its segments), with the object's part count; part 1 of any other object is all of
    /// it (`count` nil). Nil without the parameter.
    func requestedPart(_ x: S3Exchange, of version: ObjectVersion) throws
        -> (start: Int64, length: Int64, count: Int?)?
    {
        guard let text = x.call["partNumber"] else { return nil }
        let number = try workspaces.partNumber(text)
        guard x.header("range") == nil else {
            throw S3Error(
                code: "InvalidRequest", message: "Cannot specify both Range header and partNumber query parameter.",
                status: 400)
        }
        let notSatisfiable = S3Error(
            code: "InvalidPartNumber", message: "The requested partnumber is not satisfiable.", status: 416)
        // A multipart object's ETag ends in its part count, one segment a part.
        let suffix = version.etag.split(separator: "-").last.map { $0.filter { $0 != "\"" } }
        guard version.etag.contains("-"), let count = suffix.flatMap({ Int($0) }), count == version.segments.count
        else {
            guard number == 1 else { throw notSatisfiable }
            return (0, version.size, nil)
        }
        guard number <= count else { throw notSatisfiable }
        let start = version.segments.prefix(number - 1).reduce(Int64(0)) { $0 + $1.size }
        return (start, version.segments[number - 1].size, count)
    }

    static func methodNotAllowedOnMarker() -> S3Error {
        S3Error(
            code: "MethodNotAllowed", message: "The specified method is not allowed against this resource.",
            status: 405)
    }

    enum RangeRequest: Equatable {
        case none
        /// First and last byte, inclusive.
        case range(Int64, Int64)
        case unsatisfiable
    }

    /// One `bytes=` range; several ranges, or a malformed one, are ignored (the whole object).
    static func parseRange(_ header: String?, size: Int64) -> RangeRequest {
        guard let header else { return .none }
        let text = S3Text.trimmed(header)
        guard text.hasPrefix("bytes="), !text.contains(",") else { return .none }
        let spec = text.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-") else { return .none }
        let firstText = spec[..<dash]
        let lastText = spec[spec.index(after: dash)...]
        func number(_ s: Substring) -> Int64? {
            guard !s.isEmpty, s.count <= 18, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int64(s)
        }
        if firstText.isEmpty {
            guard let suffix = number(lastText) else { return .none }
            if suffix == 0 || size == 0 { return .unsatisfiable }
            return .range(max(0, size - suffix), size - 1)
        }
        guard let first = number(firstText) else { return .none }
        if lastText.isEmpty {
            return first >= size ? .unsatisfiable : .range(first, size - 1)
        }
        guard let last = number(lastText), last >= first else { return .none }
        if first >= size { return .unsatisfiable }
        return .range(first, min(last, size - 1))
    }

    // MARK: DeleteObject

    func deleteObject(_ bucket: String, _ key: String, _ x: S3Exchange) async throws -> Response {
        let result = try await workspaces.deleteObject(
            tenant: x.tenant, bucket: bucket, key: key, versionId: x.call["versionId"])
        var headers = HTTPFields()
        if result.isDeleteMarker { headers.set("x-amz-delete-marker", "true") }
        if let versionId = result.versionId { headers.set("x-amz-version-id", versionId) }
        return Response(status: .noContent, headers: headers)
    }

    // MARK: Multipart uploads

    func createUpload(_ bucket: String, _ key: String, _ x: S3Exchange) async throws -> Response {
        try Self.refuseUnsupportedWriteHeaders(x)
        var headers = try Self.objectHeaders(x)
        let checksum = try Self.multipartChecksum(x)
        var out = HTTPFields()
        for (name, value) in checksum?.uploadHeaders ?? [] {
            headers.pairs.append((name, value))
            out.set(name, value)
        }
        let upload = try await workspaces.createUpload(tenant: x.tenant, bucket: bucket, key: key, headers: headers)
        var xml = S3XMLWriter()
        xml.element("InitiateMultipartUploadResult", xmlns: S3XML.namespace) { u in
            u.element("Bucket", bucket)
            u.element("Key", key)
            u.element("UploadId", upload.id)
        }
        return Self.xml(xml.document, headers: out)
    }

    /// The checksum a CreateMultipartUpload asks the object to get (`x-amz-checksum-algorithm`,
    /// `x-amz-checksum-type`), checked against what S3 allows together.
    static func multipartChecksum(_ x: S3Exchange) throws -> MultipartChecksum? {
        let typeText = x.header(MultipartChecksum.typeHeader).map { S3Text.trimmed($0).uppercased() }
        guard let algorithmText = x.header(MultipartChecksum.algorithmHeader).map({ S3Text.trimmed($0).uppercased() })
        else {
            if typeText != nil {
                throw S3Error.invalidRequest("The x-amz-checksum-type header needs an x-amz-checksum-algorithm header.")
            }
            return nil
        }
        guard let algorithm = ChecksumAlgorithm(rawValue: algorithmText) else {
            throw S3Error.invalidRequest(
                "Checksum algorithm provided is unsupported. Use one of: "
                    + ChecksumAlgorithm.allCases.map(\.rawValue).joined(separator: ", ") + ".")
        }
        guard let typeText else { return MultipartChecksum(algorithm: algorithm, type: algorithm.types[0]) }
        guard let type = ChecksumType(rawValue: typeText), algorithm.types.contains(type) else {
            throw S3Error.invalidRequest(
                "The \(typeText) checksum type cannot be used with the \(algorithm.rawValue) checksum algorithm.")
        }
        return MultipartChecksum(algorithm: algorithm, type: type)
    }

    func uploadPart(_ bucket: String, _ key: String, _ x: S3Exchange) async throws -> Response {
        guard let uploadId = x.call["uploadId"], let numberText = x.call["partNumber"] else {
            throw S3Error.invalidArgument("UploadPart needs both partNumber and uploadId.")
        }
        let number = try workspaces.partNumber(numberText)
        let (_, upload) = try await workspaces.upload(tenant: x.tenant, bucket: bucket, uploadId: uploadId, key: key)
        // An upload created with a checksum algorithm keeps each part's, computed here whether
        // or not the client sent it.
        let algorithm = MultipartChecksum(upload.headers)?.algorithm
        if x.header("x-amz-copy-source") != nil {
            return try await uploadPartCopy(bucket, uploadId: uploadId, number: number, algorithm: algorithm, x)
        }
        let write = try workspaces.beginWrite()
        let body: S3Body
        let part: UploadedPart
        do {
            body = try await readBody(
                x, limit: maxObjectBytes, tooLarge: Self.entityTooLarge(maxObjectBytes), blobHashesPayload: true,
                alsoCompute: algorithm
            ) { try write.write($0) }
            part = try await workspaces.putPart(
                tenant: x.tenant, bucket: bucket, uploadId: uploadId, number: number, write: write, md5: body.md5,
                checksum: algorithm?.base64(in: body.digest), expectedSHA256: body.payloadSHA256)
        } catch {
            write.abort()
            throw error
        }
        var out = HTTPFields()
        out[.eTag] = part.etag
        for (name, value) in body.checksums { out.set(name, value) }
        if let algorithm, let checksum = part.checksum { out.set(algorithm.headerName, checksum) }
        return Self.empty(.ok, headers: out)
    }

    func completeUpload(_ bucket: String, _ key: String, _ x: S3Exchange) async throws -> Response {
        // On Complete, a checksum header states the whole object's (composite or full), not
        // the XML body's.
        var stated = WorkspaceService.StatedChecksums()
        for algorithm in ChecksumAlgorithm.allCases {
            if let value = x.header(algorithm.headerName) {
                guard stated.object == nil else {
                    throw S3Error.invalidRequest("Expecting a single x-amz-checksum- header.")
                }
                stated.object = (algorithm, S3Text.trimmed(value))
            }
        }
        if let type = x.header(MultipartChecksum.typeHeader).map({ S3Text.trimmed($0).uppercased() }) {
            guard let known = ChecksumType(rawValue: type) else {
                throw S3Error.invalidRequest("The checksum type \(type) is not one of COMPOSITE, FULL_OBJECT.")
            }
            stated.type = known
        }
        let uploadId = x.call["uploadId"] ?? ""
        var bodyRead = false
        func readParts() async throws -> [(number: Int, etag: String)] {
            bodyRead = true
            guard let document = try await readXML(x, checksumHeadersOfBody: false),
                document.name == "CompleteMultipartUpload"
            else {
                throw S3Error.malformedXML()
            }
            let items = document.children("Part")
            guard items.count <= workspaces.limits.maxPartNumber else { throw S3Error.malformedXML() }
            var parts: [(number: Int, etag: String)] = []
            for item in items {
                guard let numberText = item.childText("PartNumber"), let number = Int(S3Text.trimmed(numberText)),
                    let etag = item.childText("ETag")
                else { throw S3Error.malformedXML() }
                parts.append((number, S3Text.trimmed(etag)))
                for algorithm in ChecksumAlgorithm.allCases {
                    if let value = item.childText(algorithm.elementName) {
                        stated.parts[number] = (algorithm, S3Text.trimmed(value))
                    }
                }
            }
            return parts
        }
        do {
            _ = try await workspaces.upload(tenant: x.tenant, bucket: bucket, uploadId: uploadId, key: key)
            let parts = try await readParts()  // also fills in the parts' stated checksums
            let result = try await workspaces.completeUpload(
                tenant: x.tenant, bucket: bucket, uploadId: uploadId, parts: parts, checksums: stated,
                conditions: try Self.writeConditions(x))
            return Self.completed(bucket, key, result)
        } catch let error as S3Error where error.code == WorkspaceService.noSuchUpload.code {
            // A repeated Complete (a retry whose answer was lost, or one that lost a race to
            // another) answers what the upload made.
            guard
                let done = try await workspaces.completedUpload(
                    tenant: x.tenant, bucket: bucket, uploadId: uploadId, key: key)
            else { throw error }
            if !bodyRead { _ = try await readParts() }
            return Self.completed(bucket, key, done)
        }
    }

    /// CompleteMultipartUpload's answer for the object an upload made.
    static func completed(_ bucket: String, _ key: String, _ result: WorkspaceService.WriteResult) -> Response {
        var out = HTTPFields()
        if let versionId = result.versionId { out.set("x-amz-version-id", versionId) }
        var xml = S3XMLWriter()
        xml.element("CompleteMultipartUploadResult", xmlns: S3XML.namespace) { c in
            c.element("Location", "/" + bucket + "/" + SigV4.percentEncode(key, keepSlashes: true))
            c.element("Bucket", bucket)
            c.element("Key", key)
            c.element("ETag", result.version.etag)
            Self.checksumElements(&c, result.version.headers)
        }
        return Self.xml(xml.document, headers: out)
    }

    /// An object's checksum and its type, as CopyObject and CompleteMultipartUpload answer them.
    static func checksumElements(_ w: inout S3XMLWriter, _ headers: ObjectHeaders) {
        for algorithm in ChecksumAlgorithm.allCases {
            if let value = headers[algorithm.headerName] { w.element(algorithm.elementName, value) }
        }
        if let type = headers[MultipartChecksum.typeHeader] { w.element("ChecksumType", type) }
    }

    func listParts(_ bucket: String, _ key: String, _ x: S3Exchange) async throws -> Response {
        let uploadId = x.call["uploadId"] ?? ""
        let marker = try Self.intParameter(x, "part-number-marker", default: 0, max: Int.max)
        let maxParts = try Self.intParameter(x, "max-parts", default: 1000, max: 1000)
        let (upload, all) = try await workspaces.parts(
            tenant: x.tenant, bucket: bucket, uploadId: uploadId, key: key)
        let after = all.filter { $0.number > marker }.sorted { $0.number < $1.number }
        let page = Array(after.prefix(maxParts))
        let truncated = after.count > page.count
        var xml = S3XMLWriter()
        xml.element("ListPartsResult", xmlns: S3XML.namespace) { l in
            l.element("Bucket", bucket)
            l.element("Key", key)
            l.element("UploadId", upload.id)
            l.element("PartNumberMarker", marker)
            if let last = page.last { l.element("NextPartNumberMarker", last.number) }
            l.element("MaxParts", maxParts)
            l.element("IsTruncated", truncated)
            let checksum = MultipartChecksum(upload.headers)
            if let checksum {
                l.element("ChecksumAlgorithm", checksum.algorithm.rawValue)
                l.element("ChecksumType", checksum.type.rawValue)
            }
            for part in page {
                l.element("Part") { p in
                    p.element("PartNumber", part.number)
                    p.element("LastModified", part.createdAt.iso8601)
                    p.element("ETag", part.etag)
                    p.element("Size", part.size)
                    if let checksum, let value = part.checksum { p.element(checksum.algorithm.elementName, value) }
                }
            }
            Self.owner(&l, x.tenant, element: "Initiator")
            Self.owner(&l, x.tenant)
            l.element("StorageClass", "STANDARD")
        }
        return Self.xml(xml.document)
    }

    /// A non-negative integer query parameter, capped at `max`; InvalidArgument when malformed.
    static func intParameter(_ x: S3Exchange, _ name: String, default value: Int, max: Int) throws -> Int {
        guard let text = x.call[name] else { return value }
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let number = Int(text)
        else { throw S3Error.invalidArgument("Provided \(name) not an integer or within integer range: \(text)") }
        return Swift.min(number, max)
    }
}

/// HTTP dates in S3 headers: an IMF-fixdate, or an ISO 8601 date-time (which S3 also takes).
enum S3HTTPDate {
    static func format(_ time: Timestamp) -> String { time.httpDate }

    /// Seconds since 1970; nil when malformed.
    static func parse(_ text: String) -> Int64? {
        let trimmed = S3Text.trimmed(text)
        guard let time = Timestamp(httpDate: trimmed) ?? Timestamp(iso8601: trimmed) else { return nil }
        return time.milliseconds / 1000
    }
}

extension ObjectReader {
    /// Bytes `first..<end` of the object as a response body, read a chunk at a time; the
    /// reader is closed when the body is done (or abandoned).
    func responseBody(from first: Int64, to end: Int64) -> ResponseBody {
        ResponseBody(contentLength: Int(end - first)) { writer in
            defer { self.close() }
            let chunk = 256 * 1024
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
            defer { buffer.deallocate() }
            var offset = first
            while offset < end {
                let want = Int(min(Int64(chunk), end - offset))
                let count = try await self.read(
                    at: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
                guard count > 0 else {
                    throw S3Error(code: "InternalError", message: "The object's bytes ended early.", status: 500)
                }
                try await writer.write(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<count])))
                offset += Int64(count)
            }
            try await writer.finish(nil)
        }
    }
}
