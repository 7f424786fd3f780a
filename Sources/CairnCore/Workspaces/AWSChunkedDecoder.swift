import Crypto

/// An incremental decoder of `Content-Encoding: aws-chunked` bodies (S3's streaming uploads):
///
///     <hex-size>[;chunk-signature=<64 hex>]\r\n<data>\r\n   … repeated …
///     0[;chunk-signature=<64 hex>]\r\n
///     [name:value\r\n …]                                    the trailer, if any
///     \r\n
///
/// Feed it the body's bytes as they arrive, in slices of any size; it passes the payload bytes
/// straight through to `emit` (no copy, no buffering of data) and keeps only the current chunk's
/// header line (at most `maxLineLength` bytes) and the trailer (at most `maxTrailerLines` lines of
/// `maxLineLength`). In signed mode each chunk's SHA-256 is computed as its bytes pass and its
/// signature checked when it ends; the chain starts from the request's seed signature.
///
/// Payload bytes are emitted before their chunk's signature is checked (streaming cannot do
/// otherwise), so a caller must treat everything emitted as provisional until `finish()` returns:
/// on any error, discard what was written.
public struct AWSChunkedDecoder: Sendable {
    /// The longest chunk-header or trailer line (without its CRLF). A signed header is ~90 bytes.
    public static let maxLineLength = 256
    /// The largest chunk: 16 MiB. SDKs send 64 KiB to 8 MiB; a bound keeps a size line from
    /// announcing more than any client sends.
    public static let maxChunkSize: Int64 = 16 * 1024 * 1024
    /// The most trailer lines (the checksum, the trailer signature and a little slack).
    public static let maxTrailerLines = 8

    /// How the chunks are authenticated.
    public enum Signing: Sendable, Equatable {
        /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: no chunk signatures.
        case unsigned
        /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)`: every chunk (and the trailer) signed.
        case signed(signingKey: [UInt8], timestamp: String, scope: String, seedSignature: String)
    }

    private enum State: Sendable {
        case header
        case data(remaining: Int64)
        case dataCR
        case dataLF
        case trailer
        case done
    }

    public let signing: Signing
    /// Whether a trailer may follow the last chunk (the `…-TRAILER` modes).
    public let allowsTrailer: Bool
    /// The payload length the request announced (`x-amz-decoded-content-length`).
    public let decodedLength: Int64
    /// The payload bytes emitted so far.
    public private(set) var decodedCount: Int64 = 0
    /// The trailer's headers (names lower-cased, values trimmed), without `x-amz-trailer-signature`.
    public private(set) var trailers: [(name: String, value: String)] = []

    private var state: State = .header
    private var line: [UInt8] = []
    private var pendingCR = false
    private var chunkHash = SHA256()
    private var chunkSignature = ""
    private var previousSignature: String
    private var trailerSignature: String?

    public init(signing: Signing, allowsTrailer: Bool, decodedLength: Int64) {
        self.signing = signing
        self.allowsTrailer = allowsTrailer
        self.decodedLength = decodedLength
        if case .signed(_, _, _, let seed) = signing {
            previousSignature = seed
        } else {
            previousSignature = ""
        }
        line.reserveCapacity(Self.maxLineLength)
    }

    /// The decoder for a verified streaming request; throws for a request whose body is not aws-chunked.
    public init(authentication: S3Authentication) throws {
        let signed = Signing.signed(
            signingKey: authentication.signingKey, timestamp: authentication.timestamp, scope: authentication.scope,
            seedSignature: authentication.seedSignature)
        switch authentication.payload {
        case .streamingSigned(let length): self.init(signing: signed, allowsTrailer: false, decodedLength: length)
        case .streamingSignedTrailer(let length, _):
            self.init(signing: signed, allowsTrailer: true, decodedLength: length)
        case .streamingUnsignedTrailer(let length, _):
            self.init(signing: .unsigned, allowsTrailer: true, decodedLength: length)
        case .sha256, .unsigned:
            throw S3Error.invalidArgument("The request's x-amz-content-sha256 is not a STREAMING-… mode.")
        }
    }

    /// The value of a trailer header (name compared case-insensitively).
    public func trailer(_ name: String) -> String? {
        let lower = name.lowercased()
        return trailers.first { $0.name == lower }?.value
    }

    /// Decodes the next bytes of the body, handing payload bytes to `emit` as they are found.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var index = 0
        let count = bytes.count
        while index < count {
            switch state {
            case .header, .trailer:
                index = try consumeLine(bytes, from: index)
            case .data(let remaining):
                let take = Int(min(remaining, Int64(count - index)))
                let slice = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)])
                if case .signed = signing { chunkHash.update(bufferPointer: slice) }
                decodedCount += Int64(take)
                try emit(slice)
                index += take
                state = remaining == Int64(take) ? .dataCR : .data(remaining: remaining - Int64(take))
            case .dataCR:
                guard bytes[index] == UInt8(ascii: "\r") else {
                    throw Self.malformed("A chunk is longer than its size.")
                }
                index += 1
                state = .dataLF
            case .dataLF:
                guard bytes[index] == UInt8(ascii: "\n") else {
                    throw Self.malformed("A chunk is longer than its size.")
                }
                index += 1
                try verifyChunk()
                state = .header
            case .done:
                throw Self.malformed("The body continues after its last chunk.")
            }
        }
    }

    /// Checks that the body ended where it should: after the last chunk and its trailer, with as many
    /// payload bytes as announced.
    public func finish() throws {
        guard case .done = state else {
            throw S3Error.incompleteBody("The aws-chunked body ended before its last chunk.")
        }
    }

    // MARK: Lines

    /// Reads up to the end of the current line (header or trailer), then handles it.
    private mutating func consumeLine(_ bytes: UnsafeRawBufferPointer, from start: Int) throws -> Int {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if pendingCR {
                guard byte == UInt8(ascii: "\n") else { throw Self.malformed("A line has a bare CR.") }
                pendingCR = false
                let text = line
                line.removeAll(keepingCapacity: true)
                if case .header = state { try handleHeader(text) } else { try handleTrailerLine(text) }
                return index
            }
            if byte == UInt8(ascii: "\r") {
                pendingCR = true
            } else {
                guard byte != UInt8(ascii: "\n") else { throw Self.malformed("A line ends without CR.") }
                guard line.count < Self.maxLineLength else {
                    throw Self.malformed("A chunk header or trailer line is longer than \(Self.maxLineLength) bytes.")
                }
                line.append(byte)
            }
        }
        return index
    }

    /// `<hex-size>[;chunk-signature=<sig>]`.
    private mutating func handleHeader(_ text: [UInt8]) throws {
        let semicolon = text.firstIndex(of: UInt8(ascii: ";")) ?? text.endIndex
        let sizeDigits = text[..<semicolon]
        guard !sizeDigits.isEmpty, sizeDigits.count <= 8 else { throw Self.malformed("A chunk size is malformed.") }
        var size: Int64 = 0
        for digit in sizeDigits {
            guard let value = SigV4Verifier.hexValue(digit) else { throw Self.malformed("A chunk size is not hex.") }
            size = size << 4 | Int64(value)
        }
        guard size <= Self.maxChunkSize else {
            throw Self.malformed("A chunk of \(size) bytes is larger than \(Self.maxChunkSize).")
        }
        guard decodedCount + size <= decodedLength else {
            throw S3Error.incompleteBody(
                "The chunks hold more than the x-amz-decoded-content-length of \(decodedLength).")
        }
        if case .signed = signing {
            let prefix = Array(";chunk-signature=".utf8)
            let extensions = text[semicolon...]
            guard extensions.count == prefix.count + 64, extensions.starts(with: prefix) else {
                throw Self.malformed("A signed chunk has no chunk-signature.")
            }
            chunkSignature = String(decoding: extensions.dropFirst(prefix.count), as: UTF8.self)
            chunkHash = SHA256()
        }
        if size > 0 {
            state = .data(remaining: size)
            return
        }
        // The last chunk: empty, signed like the others, then the trailer.
        try verifyChunk()
        guard decodedCount == decodedLength else {
            throw S3Error.incompleteBody(
                "The chunks hold \(decodedCount) bytes, not the x-amz-decoded-content-length of \(decodedLength).")
        }
        state = .trailer
    }

    private mutating func verifyChunk() throws {
        guard case .signed(let key, let timestamp, let scope, _) = signing else { return }
        let toSign = SigV4.chunkStringToSign(
            timestamp: timestamp, scope: scope, previousSignature: previousSignature,
            chunkHash: Array(chunkHash.finalize()).hexString)
        guard SigV4Verifier.constantTimeEqual(SigV4.signature(signingKey: key, stringToSign: toSign), chunkSignature)
        else { throw S3Error.signatureDoesNotMatch("A chunk's signature does not match.") }
        previousSignature = chunkSignature
    }

    /// A trailer line, or the empty line that ends the body.
    private mutating func handleTrailerLine(_ text: [UInt8]) throws {
        if text.isEmpty {
            try verifyTrailer()
            state = .done
            return
        }
        guard allowsTrailer else { throw Self.malformed("The last chunk must be followed by an empty line.") }
        guard trailerSignature == nil else { throw Self.malformedTrailer("x-amz-trailer-signature must come last.") }
        guard trailers.count < Self.maxTrailerLines, let colon = text.firstIndex(of: UInt8(ascii: ":")) else {
            throw Self.malformedTrailer("A trailer line is not name:value.")
        }
        guard let name = String(validating: text[..<colon], as: UTF8.self)?.lowercased(), !name.isEmpty,
            let rawValue = String(validating: text[(colon + 1)...], as: UTF8.self)
        else { throw Self.malformedTrailer("A trailer line is not UTF-8 name:value.") }
        let value = SigV4.normalizedHeaderValue(rawValue)
        if name == "x-amz-trailer-signature" {
            guard case .signed = signing, SigV4Verifier.isSignature(value) else {
                throw Self.malformedTrailer("An x-amz-trailer-signature is unexpected or malformed.")
            }
            trailerSignature = value
        } else {
            trailers.append((name, value))
        }
    }

    /// In signed mode, a trailer must carry its signature; an empty trailer carries none.
    private func verifyTrailer() throws {
        guard case .signed(let key, let timestamp, let scope, _) = signing, allowsTrailer else { return }
        guard let signature = trailerSignature else {
            if trailers.isEmpty { return }
            throw S3Error.signatureDoesNotMatch("The trailer has no x-amz-trailer-signature.")
        }
        var hash = SHA256()
        for (name, value) in trailers { hash.update(data: Array((name + ":" + value + "\n").utf8)) }
        let toSign = SigV4.trailerStringToSign(
            timestamp: timestamp, scope: scope, previousSignature: previousSignature,
            trailerHash: Array(hash.finalize()).hexString)
        guard SigV4Verifier.constantTimeEqual(SigV4.signature(signingKey: key, stringToSign: toSign), signature)
        else { throw S3Error.signatureDoesNotMatch("The trailer's signature does not match.") }
    }

    private static func malformed(_ message: String) -> S3Error {
        S3Error.invalidArgument("Malformed aws-chunked body: " + message)
    }

    private static func malformedTrailer(_ message: String) -> S3Error {
        S3Error.malformedTrailerError(message)
    }
}
