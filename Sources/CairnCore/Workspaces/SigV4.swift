import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// AWS Signature Version 4, header-based (`Authorization: AWS4-HMAC-SHA256 …`).
///
/// Pure functions for each step (canonical request, string to sign, signing key, signature) so
/// the same code signs outgoing requests (the S3 blob store) and verifies incoming ones
/// (`SigV4Verifier` recomputes the signature from the request it received, and
/// `AWSChunkedDecoder` the chunk and trailer signatures of a streaming body). Nothing here reads
/// the clock or touches the network: the caller passes the time and the request's parts.
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    /// The algorithm line of a streaming body's chunk string to sign.
    public static let chunkAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD"
    /// The algorithm line of a streaming body's trailer string to sign.
    public static let trailerAlgorithm = "AWS4-HMAC-SHA256-TRAILER"
    /// The `x-amz-content-sha256` value for a body that is not hashed into the signature.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// The SHA-256 of no bytes, the payload hash of a request without a body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Printed without the secret and the token, so a logged configuration leaks neither.
    public struct Credentials: Sendable, Equatable, CustomStringConvertible {
        public var accessKeyId: String
        public var secretAccessKey: String
        /// The token of temporary credentials, sent as `x-amz-security-token` and signed.
        public var sessionToken: String?

        public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
            self.accessKeyId = accessKeyId
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
        }

        public var description: String {
            "Credentials(accessKeyId: \(accessKeyId), secretAccessKey: <redacted>"
                + (sessionToken == nil ? ")" : ", sessionToken: <redacted>)")
        }
    }

    /// The two forms of the request time SigV4 uses: `yyyyMMdd` (in the scope) and
    /// `yyyyMMdd'T'HHmmss'Z'` (the `x-amz-date` header), both UTC.
    public struct RequestTime: Sendable, Equatable {
        public let date: String
        public let timestamp: String

        public init(_ time: Date) {
            let seconds = Int64(time.timeIntervalSince1970.rounded(.down))
            let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
            let secondOfDay = seconds - days * 86_400
            let (year, month, day) = Timestamp.civil(fromDays: days)
            date = Self.digits(year, 4) + Self.digits(Int64(month), 2) + Self.digits(Int64(day), 2)
            timestamp =
                date + "T" + Self.digits(secondOfDay / 3600, 2) + Self.digits(secondOfDay % 3600 / 60, 2)
                + Self.digits(secondOfDay % 60, 2) + "Z"
        }

        static func digits(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
    }

    // MARK: Encoding

    /// RFC 3986 percent-encoding as SigV4 wants it: everything but `A-Z a-z 0-9 - . _ ~` is
    /// encoded as `%XX` (upper-case hex), and `/` too unless `keepSlashes`.
    public static func percentEncode(_ text: String, keepSlashes: Bool = false) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlashes:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical URI of an S3 request: the object path (decoded), each segment encoded once
    /// (S3 does not normalize or double-encode paths, unlike other services).
    public static func canonicalURI(path: String) -> String {
        let encoded = percentEncode(path, keepSlashes: true)
        return encoded.isEmpty ? "/" : encoded
    }

    /// The canonical query string: each name and value encoded, sorted by name then value,
    /// joined with `&`; a parameter without a value gets an empty one (`uploads=`).
    public static func canonicalQuery(_ parameters: [(name: String, value: String)]) -> String {
        let encoded: [(name: String, value: String)] = parameters.map {
            (percentEncode($0.name), percentEncode($0.value))
        }
        let sorted = encoded.sorted { a, b in a.name != b.name ? a.name < b.name : a.value < b.value }
        return sorted.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    /// The canonical headers block and the signed-headers list: names lower-cased and sorted,
    /// values trimmed with inner runs of spaces collapsed, repeated names joined with commas.
    public static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (block: String, signed: String) {
        var byName: [String: [String]] = [:]
        for (name, value) in headers {
            byName[name.lowercased(), default: []].append(normalizedHeaderValue(value))
        }
        let names = byName.keys.sorted()
        let block = names.map { $0 + ":" + byName[$0]!.joined(separator: ",") + "\n" }.joined()
        return (block, names.joined(separator: ";"))
    }

    static func normalizedHeaderValue(_ value: String) -> String {
        var out = ""
        var pendingSpace = false
        for scalar in value.unicodeScalars {
            if scalar == " " || scalar == "\t" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    // MARK: The steps

    /// Step 1: the canonical request. `headers` are the headers to sign (at least `host` and
    /// `x-amz-date`); `payloadHash` is the body's hex SHA-256 or `UNSIGNED-PAYLOAD`.
    public static func canonicalRequest(
        method: String, path: String, query: [(name: String, value: String)],
        headers: [(name: String, value: String)], payloadHash: String
    ) -> String {
        let (block, signed) = canonicalHeaders(headers)
        return canonicalRequest(
            method: method, canonicalURI: canonicalURI(path: path), canonicalQuery: canonicalQuery(query),
            headerBlock: block, signedHeaders: signed, payloadHash: payloadHash)
    }

    /// Step 1 from parts already in canonical form (a verifier has them that way: the signed-headers
    /// list as the client sent it, the header block from `canonicalHeaders`).
    public static func canonicalRequest(
        method: String, canonicalURI: String, canonicalQuery: String, headerBlock: String, signedHeaders: String,
        payloadHash: String
    ) -> String {
        [method, canonicalURI, canonicalQuery, headerBlock, signedHeaders, payloadHash].joined(separator: "\n")
    }

    /// The credential scope: `date/region/service/aws4_request`.
    public static func scope(date: String, region: String, service: String) -> String {
        "\(date)/\(region)/\(service)/aws4_request"
    }

    /// Step 2: the string to sign.
    public static func stringToSign(timestamp: String, scope: String, canonicalRequest: String) -> String {
        let hash = Array(SHA256.hash(data: Array(canonicalRequest.utf8))).hexString
        return [algorithm, timestamp, scope, hash].joined(separator: "\n")
    }

    /// The string to sign of one chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body: chained to the
    /// previous chunk's signature (the first chunk to the request's seed signature).
    public static func chunkStringToSign(
        timestamp: String, scope: String, previousSignature: String, chunkHash: String
    ) -> String {
        [chunkAlgorithm, timestamp, scope, previousSignature, emptyPayloadHash, chunkHash].joined(separator: "\n")
    }

    /// The string to sign of a signed body's trailer: `trailerHash` is the hex SHA-256 of the trailer
    /// headers, each as `name:value\n`; `previousSignature` is the final (empty) chunk's.
    public static func trailerStringToSign(
        timestamp: String, scope: String, previousSignature: String, trailerHash: String
    ) -> String {
        [trailerAlgorithm, timestamp, scope, previousSignature, trailerHash].joined(separator: "\n")
    }

    /// Step 3: the signing key, HMAC-chained from the secret through date, region and service.
    /// It only changes daily, so a verifier may cache it.
    public static func signingKey(secretAccessKey: String, date: String, region: String, service: String)
        -> [UInt8]
    {
        var key = Array(("AWS4" + secretAccessKey).utf8)
        for part in [date, region, service, "aws4_request"] {
            key = Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: SymmetricKey(data: key)))
        }
        return key
    }

    /// Step 4: the signature, lower-case hex.
    public static func signature(signingKey: [UInt8], stringToSign: String) -> String {
        Array(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: SymmetricKey(data: signingKey)))
            .hexString
    }

    /// Signs a request: returns the headers to add to it (`x-amz-date`, `x-amz-content-sha256`,
    /// `x-amz-security-token` with temporary credentials, and `authorization`). `headers` are the
    /// request's other headers to sign, and must include `host` exactly as it is sent.
    public static func sign(
        method: String, path: String, query: [(name: String, value: String)],
        headers: [(name: String, value: String)], payloadHash: String,
        credentials: Credentials, region: String, service: String, time: Date
    ) -> [(name: String, value: String)] {
        let requestTime = RequestTime(time)
        var added: [(name: String, value: String)] = [
            ("x-amz-date", requestTime.timestamp), ("x-amz-content-sha256", payloadHash),
        ]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        let signedHeaders = headers + added
        let canonical = canonicalRequest(
            method: method, path: path, query: query, headers: signedHeaders, payloadHash: payloadHash)
        let credentialScope = scope(date: requestTime.date, region: region, service: service)
        let toSign = stringToSign(timestamp: requestTime.timestamp, scope: credentialScope, canonicalRequest: canonical)
        let key = signingKey(
            secretAccessKey: credentials.secretAccessKey, date: requestTime.date, region: region, service: service)
        let authorization =
            "\(algorithm) Credential=\(credentials.accessKeyId)/\(credentialScope),"
            + "SignedHeaders=\(canonicalHeaders(signedHeaders).signed),"
            + "Signature=\(signature(signingKey: key, stringToSign: toSign))"
        added.append(("authorization", authorization))
        return added
    }
}
