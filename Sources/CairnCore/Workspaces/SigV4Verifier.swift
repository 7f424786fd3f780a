/// An incoming S3 (or IAM) request as the verifier needs it: no HTTP types, no body.
public struct S3SignedRequest: Sendable {
    /// The HTTP method, upper case as sent.
    public var method: String
    /// The path exactly as received, still percent-encoded (without the `?query`).
    public var rawPath: String
    /// The query string exactly as received, without the `?` (empty when there is none).
    public var rawQuery: String
    /// Every header as received; names in any case, repeated names kept as separate entries.
    public var headers: [(name: String, value: String)]
    /// The server's time in seconds since 1970 (injected: the verifier never reads the clock).
    public var now: Int64
    /// The hex SHA-256 of the body, when the caller has already read it. Only used when the request
    /// carries no `x-amz-content-sha256` (IAM's form posts do not send it; S3 requests must).
    public var bodySHA256: String?

    public init(
        method: String, rawPath: String, rawQuery: String, headers: [(name: String, value: String)], now: Int64,
        bodySHA256: String? = nil
    ) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
        self.now = now
        self.bodySHA256 = bodySHA256
    }

    /// The values of a header (name compared case-insensitively), in order.
    public func headerValues(_ name: String) -> [String] {
        let lower = name.lowercased()
        return headers.compactMap { $0.name.lowercased() == lower ? $0.value : nil }
    }

    /// Whether the request carries SigV4 credentials at all (header or query); a request without them
    /// is anonymous, which the server may refuse or allow before calling the verifier.
    public var carriesCredentials: Bool {
        !headerValues("authorization").isEmpty || rawQuery.contains("X-Amz-Algorithm=")
            || rawQuery.contains("X-Amz-Signature=") || rawQuery.contains("AWSAccessKeyId=")
            || rawQuery.contains("Signature=")
    }
}

/// How the body of a verified request is protected, and what the server must still check.
public enum S3PayloadMode: Sendable, Equatable {
    /// The body's SHA-256 (lower-case hex) was signed: hash the body as it is read and refuse it with
    /// `XAmzContentSHA256Mismatch` when it differs.
    case sha256(String)
    /// `UNSIGNED-PAYLOAD` (and presigned URLs): the body is not covered by the signature.
    case unsigned
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: an `aws-chunked` body whose chunks are signed, decoding
    /// to `decodedLength` bytes (`AWSChunkedDecoder` in `.signed` mode).
    case streamingSigned(decodedLength: Int64)
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks, then a signed trailer whose header
    /// is named by `x-amz-trailer` (lower-cased; nil when the request named none).
    case streamingSignedTrailer(decodedLength: Int64, trailer: String?)
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: unsigned chunks, then an unsigned trailer (typically the
    /// `x-amz-checksum-*` named by `x-amz-trailer`), which the server must check against the body.
    case streamingUnsignedTrailer(decodedLength: Int64, trailer: String?)

    /// The decoded length of a streaming body, nil for the others.
    public var decodedLength: Int64? {
        switch self {
        case .sha256, .unsigned: nil
        case .streamingSigned(let length), .streamingSignedTrailer(let length, _),
            .streamingUnsignedTrailer(let length, _):
            length
        }
    }
}

/// A request the verifier accepted: who signed it and what is needed to check the body.
public struct S3Authentication: Sendable, Equatable {
    public var accessKeyId: String
    /// The SigV4 signing key of the credential scope (for the chunk and trailer signatures).
    public var signingKey: [UInt8]
    /// `date/region/service/aws4_request`.
    public var scope: String
    public var region: String
    public var service: String
    /// The request time, `yyyyMMdd'T'HHmmss'Z'` as signed, and in seconds since 1970.
    public var timestamp: String
    public var time: Int64
    /// The request's signature: the first "previous signature" of a signed streaming body.
    public var seedSignature: String
    public var payload: S3PayloadMode
    /// Whether the credentials came in the query (a presigned URL) rather than `Authorization`.
    public var presigned: Bool
    /// `x-amz-security-token` / `X-Amz-Security-Token`, passed through for the caller to judge.
    public var securityToken: String?
}

/// Verifies AWS Signature Version 4 on incoming requests, for service `s3` (and `iam`), in any
/// region: the `Authorization: AWS4-HMAC-SHA256 …` header form and the presigned-URL query form;
/// also Version 2 presigned URLs (`SigV2PresignedURL`), which boto3 still makes by default.
///
/// Every step of the signature comes from `SigV4`, the same code that signs the blob store's
/// outgoing requests, so there is one implementation of the algorithm.
///
/// The canonical URI: S3 signs the path as the client sent it (no normalisation, no double encoding).
/// Clients encode keys with RFC 3986 rules (`SigV4.percentEncode(keepSlashes: true)`, as botocore and
/// the AWS SDKs do), so the verifier percent-decodes the received path and re-encodes it with
/// `SigV4.canonicalURI`. That accepts any client that follows the SigV4 encoding, whatever it left
/// unencoded on the wire, and refuses one whose signed path differs from the RFC 3986 encoding of its
/// key (such a client would be refused by AWS too). The query is treated the same way: names and
/// values are percent-decoded (`+` stays a literal plus; clients send a space as `%20`) and re-encoded
/// by `SigV4.canonicalQuery`; a bare flag (`?uploads`) is the parameter `uploads=`.
///
/// Like S3, the verifier refuses `x-amz-*` headers that are not signed: an unsigned one could
/// otherwise change what a signed request does (`x-amz-copy-source` on a presigned `PUT`).
public struct SigV4Verifier: Sendable {
    /// The largest difference between the request time and `now` (AWS's 15 minutes).
    public static let maxSkewSeconds: Int64 = 15 * 60
    /// The longest a presigned URL may live (AWS's seven days).
    public static let maxPresignedExpiry: Int64 = 604_800
    /// The largest `x-amz-decoded-content-length` accepted: S3's largest object, 5 TiB.
    public static let maxDecodedContentLength: Int64 = 5 * 1024 * 1024 * 1024 * 1024
    /// Bounds on what is parsed from the wire before any allocation proportional to it.
    static let maxAuthorizationLength = 8 * 1024
    static let maxSignedHeaders = 64
    static let maxQueryLength = 64 * 1024

    /// The services whose requests are verified.
    public static let services: Set<String> = ["s3", "iam"]

    /// Looks up the secret of an access key id; nil when the key is unknown.
    public typealias SecretLookup = @Sendable (_ accessKeyId: String) async throws -> String?

    public let secret: SecretLookup

    public init(secret: @escaping SecretLookup) {
        self.secret = secret
    }

    /// Verifies the request's signature; throws an `S3Error` saying why when it is refused.
    public func verify(_ request: S3SignedRequest) async throws -> S3Authentication {
        let query = try Self.parseQuery(request.rawQuery)
        let authorization = request.headerValues("authorization")
        let presigned = query.contains { $0.name == "X-Amz-Algorithm" }
        if !authorization.isEmpty && presigned {
            throw S3Error.invalidArgument(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                    + "Signature query string parameter or the Authorization header should be specified")
        }
        if !presigned, SigV2PresignedURL.isPresent(query) {
            guard authorization.isEmpty else {
                throw S3Error.invalidArgument(
                    "Only one auth mechanism allowed; only the Signature query parameters or the Authorization "
                        + "header should be specified")
            }
            return try await SigV2PresignedURL.verify(request, query: query, secret: secret)
        }
        let claim: Claim
        if presigned {
            claim = try Self.presignedClaim(request, query: query)
        } else if authorization.count == 1 {
            claim = try Self.headerClaim(request, authorization: authorization[0])
        } else if authorization.isEmpty {
            throw S3Error.accessDenied("The request carries no credentials.")
        } else {
            throw S3Error.invalidArgument("The request has more than one Authorization header.")
        }
        return try await check(claim, request: request, query: query)
    }

    // MARK: The claim

    /// What the request says about its signature, before any secret is involved.
    struct Claim {
        var accessKeyId: String
        var date: String
        var region: String
        var service: String
        var timestamp: String
        var time: Int64
        var signedHeaders: [String]
        var signedHeadersText: String
        var signature: String
        var presigned: Bool
        var securityToken: String?
    }

    static func headerClaim(_ request: S3SignedRequest, authorization: String) throws -> Claim {
        guard authorization.utf8.count <= maxAuthorizationLength else {
            throw S3Error.authorizationHeaderMalformed("The Authorization header is too long.")
        }
        let prefix = SigV4.algorithm + " "
        guard authorization.hasPrefix(prefix) else {
            if authorization.hasPrefix("AWS4-ECDSA-P256-SHA256") {
                throw S3Error.notImplemented("SigV4a (AWS4-ECDSA-P256-SHA256) is not supported.")
            }
            if authorization.hasPrefix("AWS ") {
                throw S3Error.invalidArgument("Signature Version 2 is not supported; sign with AWS4-HMAC-SHA256.")
            }
            throw S3Error.authorizationHeaderMalformed("Unsupported Authorization type.")
        }
        var fields: [String: String] = [:]
        for part in authorization.dropFirst(prefix.count).split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.drop { $0 == " " }
            guard let equals = item.firstIndex(of: "=") else {
                throw S3Error.authorizationHeaderMalformed("The Authorization header component '\(item)' is malformed.")
            }
            let key = String(item[..<equals])
            let value = String(item[item.index(after: equals)...]).trimmingSpaces()
            guard ["Credential", "SignedHeaders", "Signature"].contains(key), fields[key] == nil else {
                throw S3Error.authorizationHeaderMalformed("The Authorization header component '\(key)' is unexpected.")
            }
            fields[key] = value
        }
        guard let credential = fields["Credential"], let signedText = fields["SignedHeaders"],
            let signature = fields["Signature"]
        else {
            throw S3Error.authorizationHeaderMalformed(
                "The Authorization header requires Credential, SignedHeaders and Signature.")
        }
        let malformed = S3Error.authorizationHeaderMalformed
        let (accessKeyId, date, region, service) = try parseCredential(credential, error: malformed)
        let signedHeaders = try parseSignedHeaders(signedText, error: malformed)
        guard isSignature(signature) else { throw malformed("The Signature is not 64 lower-case hex digits.") }
        guard let amzDate = request.headerValues("x-amz-date").first else {
            throw S3Error.accessDenied("AWS authentication requires a valid Date or x-amz-date header.")
        }
        guard let time = epochSeconds(amzDate: amzDate) else {
            throw S3Error.accessDenied("The x-amz-date header '\(amzDate)' is not yyyyMMdd'T'HHmmss'Z'.")
        }
        guard amzDate.hasPrefix(date) else {
            throw malformed("The credential date '\(date)' does not match the x-amz-date '\(amzDate)'.")
        }
        guard abs(time - request.now) <= maxSkewSeconds else { throw S3Error.requestTimeTooSkewed() }
        return Claim(
            accessKeyId: accessKeyId, date: date, region: region, service: service, timestamp: amzDate, time: time,
            signedHeaders: signedHeaders, signedHeadersText: signedText, signature: signature, presigned: false,
            securityToken: request.headerValues("x-amz-security-token").first)
    }

    static func presignedClaim(_ request: S3SignedRequest, query: [(name: String, value: String)]) throws -> Claim {
        let malformed = S3Error.authorizationQueryParametersError
        func parameter(_ name: String) throws -> String {
            let values = query.filter { $0.name == name }
            guard values.count == 1 else {
                throw malformed(
                    values.isEmpty
                        ? "Query-string authentication requires the \(name) parameter."
                        : "The \(name) parameter is repeated.")
            }
            return values[0].value
        }
        let algorithm = try parameter("X-Amz-Algorithm")
        guard algorithm == SigV4.algorithm else {
            if algorithm == "AWS4-ECDSA-P256-SHA256" {
                throw S3Error.notImplemented("SigV4a (AWS4-ECDSA-P256-SHA256) is not supported.")
            }
            throw malformed("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\".")
        }
        let (accessKeyId, date, region, service) = try parseCredential(
            try parameter("X-Amz-Credential"), error: malformed)
        let signedText = try parameter("X-Amz-SignedHeaders")
        let signedHeaders = try parseSignedHeaders(signedText, error: malformed)
        let signature = try parameter("X-Amz-Signature")
        guard isSignature(signature) else { throw malformed("X-Amz-Signature is not 64 lower-case hex digits.") }
        let amzDate = try parameter("X-Amz-Date")
        guard let time = epochSeconds(amzDate: amzDate) else {
            throw malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".")
        }
        guard amzDate.hasPrefix(date) else {
            throw malformed("The credential date '\(date)' does not match X-Amz-Date '\(amzDate)'.")
        }
        let expiresText = try parameter("X-Amz-Expires")
        guard let expires = decimal(expiresText, maxDigits: 7), expires >= 1, expires <= maxPresignedExpiry else {
            throw malformed("X-Amz-Expires must be a whole number of seconds from 1 to \(maxPresignedExpiry).")
        }
        guard time - request.now <= maxSkewSeconds else {
            throw S3Error.requestTimeTooSkewed("X-Amz-Date is too far in the future.")
        }
        guard request.now <= time + expires else { throw S3Error.accessDenied("Request has expired") }
        let tokens = query.filter { $0.name == "X-Amz-Security-Token" }
        guard tokens.count <= 1 else { throw malformed("The X-Amz-Security-Token parameter is repeated.") }
        return Claim(
            accessKeyId: accessKeyId, date: date, region: region, service: service, timestamp: amzDate, time: time,
            signedHeaders: signedHeaders, signedHeadersText: signedText, signature: signature, presigned: true,
            securityToken: tokens.first?.value)
    }

    /// `AKID/yyyyMMdd/region/service/aws4_request`.
    static func parseCredential(_ text: String, error: (String) -> S3Error) throws -> (
        String, String, String, String
    ) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, !parts[0].isEmpty, parts[0].utf8.count <= 128, !parts[2].isEmpty,
            parts[2].utf8.count <= 64, parts[4] == "aws4_request"
        else {
            throw error("The Credential '\(text.prefix(200))' is not AKID/yyyyMMdd/region/service/aws4_request.")
        }
        guard parts[1].utf8.count == 8, parts[1].utf8.allSatisfy(isDigit) else {
            throw error("The credential date '\(parts[1].prefix(20))' is not yyyyMMdd.")
        }
        guard services.contains(parts[3]) else {
            throw error("The credential service '\(parts[3].prefix(20))' is not s3.")
        }
        return (parts[0], parts[1], parts[2], parts[3])
    }

    /// `a;b;c`: lower-case names, at least one, at most `maxSignedHeaders`, and `host` among them.
    static func parseSignedHeaders(_ text: String, error: (String) -> S3Error) throws -> [String] {
        let names = text.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        guard names.count <= maxSignedHeaders,
            names.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 128 && $0 == $0.lowercased() })
        else {
            throw error("SignedHeaders must be lower-case header names separated by ';'.")
        }
        guard names.contains("host") else { throw error("SignedHeaders must include host.") }
        return names
    }

    // MARK: The check

    func check(_ claim: Claim, request: S3SignedRequest, query: [(name: String, value: String)]) async throws
        -> S3Authentication
    {
        // Signed headers: each must be present; x-amz-* headers must all be signed.
        let signed = Set(claim.signedHeaders)
        var headers: [(name: String, value: String)] = []
        var present: Set<String> = []
        for (name, value) in request.headers {
            let lower = name.lowercased()
            if signed.contains(lower) {
                headers.append((lower, value))
                present.insert(lower)
            } else if lower.hasPrefix("x-amz-") {
                throw S3Error.accessDenied("There were headers present in the request which were not signed: \(lower)")
            }
        }
        if let missing = claim.signedHeaders.first(where: { !present.contains($0) }) {
            throw S3Error.signatureDoesNotMatch("The signed header '\(missing)' is not in the request.")
        }

        let contentSHA256 = headers.filter { $0.name == "x-amz-content-sha256" }.map(\.value)
        guard contentSHA256.count <= 1 else {
            throw S3Error.invalidArgument("The x-amz-content-sha256 header is repeated.")
        }
        let payloadHash: String
        if let value = contentSHA256.first {
            payloadHash = value
        } else if claim.presigned {
            payloadHash = SigV4.unsignedPayload
        } else if claim.service == "s3" {
            throw S3Error.missingSecurityHeader("Your request was missing a required header: x-amz-content-sha256.")
        } else if let body = request.bodySHA256 {
            payloadHash = body
        } else {
            throw S3Error.invalidArgument("The request has no x-amz-content-sha256 and the body was not hashed.")
        }
        let payload = try Self.payloadMode(payloadHash, request: request)

        let canonicalQuery = SigV4.canonicalQuery(query.filter { !(claim.presigned && $0.name == "X-Amz-Signature") })
        let canonicalRequest = SigV4.canonicalRequest(
            method: request.method, canonicalURI: try Self.canonicalURI(rawPath: request.rawPath),
            canonicalQuery: canonicalQuery, headerBlock: SigV4.canonicalHeaders(headers).block,
            signedHeaders: claim.signedHeadersText, payloadHash: payloadHash)
        let scope = SigV4.scope(date: claim.date, region: claim.region, service: claim.service)
        let stringToSign = SigV4.stringToSign(
            timestamp: claim.timestamp, scope: scope, canonicalRequest: canonicalRequest)

        guard let secret = try await secret(claim.accessKeyId) else { throw S3Error.invalidAccessKeyId() }
        let key = SigV4.signingKey(
            secretAccessKey: secret, date: claim.date, region: claim.region, service: claim.service)
        guard Self.constantTimeEqual(SigV4.signature(signingKey: key, stringToSign: stringToSign), claim.signature)
        else { throw S3Error.signatureDoesNotMatch() }
        return S3Authentication(
            accessKeyId: claim.accessKeyId, signingKey: key, scope: scope, region: claim.region,
            service: claim.service, timestamp: claim.timestamp, time: claim.time, seedSignature: claim.signature,
            payload: payload, presigned: claim.presigned, securityToken: claim.securityToken)
    }

    static func payloadMode(_ hash: String, request: S3SignedRequest) throws -> S3PayloadMode {
        func decodedLength() throws -> Int64 {
            let values = request.headerValues("x-amz-decoded-content-length")
            guard values.count == 1, let length = decimal(values[0], maxDigits: 16),
                length <= maxDecodedContentLength
            else {
                throw S3Error.invalidArgument(
                    "A streaming upload needs one x-amz-decoded-content-length from 0 to \(maxDecodedContentLength).")
            }
            return length
        }
        func trailer() throws -> String? {
            let values = request.headerValues("x-amz-trailer")
            guard let value = values.first else { return nil }
            let name = value.trimmingSpaces().lowercased()
            guard values.count == 1, !name.isEmpty, name.utf8.count <= 64, !name.contains(",") else {
                throw S3Error.invalidArgument("x-amz-trailer must name one trailing header.")
            }
            return name
        }
        switch hash {
        case SigV4.unsignedPayload: return .unsigned
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": return .streamingSigned(decodedLength: try decodedLength())
        case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
            return .streamingSignedTrailer(decodedLength: try decodedLength(), trailer: try trailer())
        case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
            return .streamingUnsignedTrailer(decodedLength: try decodedLength(), trailer: try trailer())
        case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
            throw S3Error.notImplemented("SigV4a streaming payloads are not supported.")
        default:
            guard hash.utf8.count == 64, hash.utf8.allSatisfy(isHexDigit) else {
                throw S3Error.invalidArgument(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-… or a SHA-256 in hex.")
            }
            return .sha256(hash.lowercased())
        }
    }

    // MARK: Wire parsing

    /// `a=b&c&d=` into decoded pairs, in order (`c` is `("c", "")`).
    static func parseQuery(_ raw: String) throws -> [(name: String, value: String)] {
        guard raw.utf8.count <= maxQueryLength else { throw S3Error.invalidArgument("The query string is too long.") }
        var pairs: [(name: String, value: String)] = []
        for item in raw.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = item.firstIndex(of: UInt8(ascii: "="))
            let name = equals.map { item[item.startIndex..<$0] } ?? item[...]
            let value = equals.map { item[item.index(after: $0)...] } ?? item[item.endIndex...]
            guard let decodedName = percentDecode(name), let decodedValue = percentDecode(value) else {
                throw S3Error.invalidArgument("The query string has an invalid percent-encoding or is not UTF-8.")
            }
            pairs.append((decodedName, decodedValue))
        }
        return pairs
    }

    /// The canonical URI of the received path: decoded, then encoded by `SigV4.canonicalURI`.
    static func canonicalURI(rawPath: String) throws -> String {
        guard let path = percentDecode(rawPath.utf8) else {
            throw S3Error.invalidArgument("The request path has an invalid percent-encoding or is not UTF-8.")
        }
        return SigV4.canonicalURI(path: path)
    }

    /// Percent-decodes (a `+` stays a plus); nil on a bad escape or bytes that are not UTF-8.
    public static func percentDecode(_ encoded: some Collection<UInt8>) -> String? {
        let bytes = Array(encoded)
        guard bytes.contains(UInt8(ascii: "%")) else { return String(validating: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]),
                    let low = hexValue(bytes[index + 2])
                else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` to seconds since 1970 (UTC), nil when malformed or out of range.
    public static func epochSeconds(amzDate: String) -> Int64? {
        let bytes = Array(amzDate.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard isDigit(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
            let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        // Days since 1970-01-01 of a civil date (H. Hinnant's algorithm, the inverse of `RequestTime`'s).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86_400 + hour * 3600 + minute * 60 + second
    }

    // MARK: Small helpers

    /// Whether two strings are equal, in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }

    static func isSignature(_ text: String) -> Bool {
        text.utf8.count == 64
            && text.utf8.allSatisfy { isDigit($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    /// A non-negative decimal of at most `maxDigits` digits (so it cannot overflow), nil otherwise.
    static func decimal(_ text: String, maxDigits: Int) -> Int64? {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= maxDigits, maxDigits <= 18, bytes.allSatisfy(isDigit) else { return nil }
        return bytes.reduce(0) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static func isHexDigit(_ byte: UInt8) -> Bool { hexValue(byte) != nil }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    fileprivate func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
