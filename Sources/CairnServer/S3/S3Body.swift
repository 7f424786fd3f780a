import CairnCore
import HTTPTypes
import Hummingbird
import NIOCore

/// What reading a request body found: its digests, and the checksum headers to answer with.
struct S3Body: Sendable {
    var digest: ObjectDigest.Result
    /// `x-amz-checksum-*` headers the client asked for (by header or trailer), with their values.
    var checksums: [(name: String, value: String)]
    /// The signed payload SHA-256 still to be checked against the blob's own digest (see
    /// `readBody`'s `blobHashesPayload`); nil when it was checked here or none was signed.
    var payloadSHA256: String? = nil

    var md5: [UInt8] { digest.md5 ?? [] }
}

extension S3Listener {
    static func entityTooLarge(_ limit: Int64) -> S3Error {
        S3Error(
            code: "EntityTooLarge", message: "Your proposed upload exceeds the maximum allowed size of \(limit) bytes.",
            status: 400)
    }

    /// Reads the request body once, as it arrives: decodes `aws-chunked` for the STREAMING-… payload
    /// modes, hands the payload bytes to `sink`, and computes MD5 plus whatever digests the request's
    /// integrity headers and trailer need; then checks them all (`XAmzContentSHA256Mismatch`,
    /// `BadDigest`, `XAmzContentChecksumMismatch`). The caller discards what `sink` got on any error.
    ///
    /// `blobHashesPayload`: the sink is a blob write, which computes the SHA-256 of exactly these
    /// bytes anyway; a signed payload hash is then left in `payloadSHA256` for the write's digest
    /// to be compared with (before anything is committed), so no byte is hashed twice.
    /// `alsoCompute`: a checksum wanted whether or not the client sent one (a part's, for the
    /// checksum its upload was created with); read it from `digest`. `checksumHeadersOfBody`:
    /// false where `x-amz-checksum-*` headers describe something else (CompleteMultipartUpload's,
    /// the object's), so only a trailer is checked against the body.
    func readBody(
        _ x: S3Exchange, limit: Int64, tooLarge: S3Error, blobHashesPayload: Bool = false,
        alsoCompute: ChecksumAlgorithm? = nil, checksumHeadersOfBody: Bool = true,
        sink: (UnsafeRawBufferPointer) throws -> Void
    ) async throws -> S3Body {
        var algorithms: ObjectDigest.Algorithms = [.md5]
        if let alsoCompute { algorithms.insert(alsoCompute.digest) }
        var expected: [(algorithm: ChecksumAlgorithm, value: String)] = []
        for algorithm in ChecksumAlgorithm.allCases where checksumHeadersOfBody {
            if let value = x.header(algorithm.headerName) {
                algorithms.insert(algorithm.digest)
                expected.append((algorithm, S3Text.trimmed(value)))
            }
        }
        var trailerAlgorithm: ChecksumAlgorithm?
        var decoder: AWSChunkedDecoder?
        var deferredPayloadHash: String?
        switch x.auth.payload {
        case .sha256(let hex):
            if blobHashesPayload { deferredPayloadHash = hex } else { algorithms.insert(.sha256) }
        case .unsigned: break
        case .streamingSigned, .streamingSignedTrailer, .streamingUnsignedTrailer:
            decoder = try AWSChunkedDecoder(authentication: x.auth)
        }
        switch x.auth.payload {
        case .streamingSignedTrailer(_, let trailer), .streamingUnsignedTrailer(_, let trailer):
            if let trailer, let match = ChecksumAlgorithm(headerName: trailer) {
                trailerAlgorithm = match
                algorithms.insert(match.digest)
            }
        default: break
        }
        var contentMD5: [UInt8]?
        if let text = x.header("content-md5") {
            guard let bytes = Base64.decode(S3Text.trimmed(text)), bytes.count == 16 else {
                throw S3Error.invalidDigest()
            }
            contentMD5 = bytes
        }
        let contentLength = x.request.headers[.contentLength].flatMap { Int64($0) }
        if let decoded = x.auth.payload.decodedLength {
            if decoded > limit { throw tooLarge }
        } else if let contentLength, contentLength > limit {
            throw tooLarge
        }

        var digest = ObjectDigest(algorithms)
        var received: Int64 = 0
        for try await buffer in x.request.body {
            received += Int64(buffer.readableBytes)
            if decoder == nil, received > limit { throw tooLarge }
            try buffer.withUnsafeReadableBytes { bytes in
                if decoder != nil {
                    try decoder!.feed(bytes) { slice in
                        digest.update(slice)
                        try sink(slice)
                    }
                } else {
                    digest.update(bytes)
                    try sink(bytes)
                }
            }
        }
        if let decoder {
            try decoder.finish()
        } else if let contentLength, received != contentLength {
            throw S3Error.incompleteBody()
        }
        let result = digest.finalize()

        if case .sha256(let hex) = x.auth.payload, deferredPayloadHash == nil, result.sha256Hex != hex {
            throw S3Error.xAmzContentSHA256Mismatch()
        }
        if let contentMD5, contentMD5 != result.md5 { throw S3Error.badDigest() }
        var checksums: [(name: String, value: String)] = []
        for (algorithm, value) in expected {
            guard let actual = algorithm.base64(in: result), actual == value else {
                throw S3Error.badDigest(
                    "The \(algorithm.headerName) you specified did not match the calculated checksum.")
            }
            checksums.append((algorithm.headerName, actual))
        }
        if let algorithm = trailerAlgorithm, let decoder {
            let name = algorithm.headerName
            guard let value = decoder.trailer(name) else {
                throw S3Error.malformedTrailerError("The trailer \(name) named by x-amz-trailer is missing.")
            }
            guard let actual = algorithm.base64(in: result), actual == value else {
                throw S3Error.xAmzContentChecksumMismatch()
            }
            if !checksums.contains(where: { $0.name == name }) { checksums.append((name, actual)) }
        }
        return S3Body(digest: result, checksums: checksums, payloadSHA256: deferredPayloadHash)
    }

    /// Reads a small body whole (an XML or JSON document), checked like any body.
    func readSmallBody(_ x: S3Exchange, limit: Int64, tooLarge: S3Error, checksumHeadersOfBody: Bool = true)
        async throws -> [UInt8]
    {
        var bytes: [UInt8] = []
        _ = try await readBody(x, limit: limit, tooLarge: tooLarge, checksumHeadersOfBody: checksumHeadersOfBody) {
            slice in bytes.append(contentsOf: slice)
        }
        return bytes
    }

    static var xmlTooLarge: S3Error {
        S3Error.malformedXML("The XML document is larger than \(maxXMLBodyBytes) bytes.")
    }

    /// Reads a small XML body (at most 2 MiB, checked like any body); nil when it is empty.
    func readXML(_ x: S3Exchange, checksumHeadersOfBody: Bool = true) async throws -> S3XMLElement? {
        let bytes = try await readSmallBody(
            x, limit: Self.maxXMLBodyBytes, tooLarge: Self.xmlTooLarge, checksumHeadersOfBody: checksumHeadersOfBody)
        guard bytes.contains(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else { return nil }
        return try S3XML.parse(bytes)
    }

    /// Like `readXML`, but the raw text too (a lifecycle configuration is stored as received).
    func readXMLText(_ x: S3Exchange) async throws -> (S3XMLElement, String) {
        let bytes = try await readSmallBody(x, limit: Self.maxXMLBodyBytes, tooLarge: Self.xmlTooLarge)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw S3Error.malformedXML() }
        return (try S3XML.parse(bytes), text)
    }
}
