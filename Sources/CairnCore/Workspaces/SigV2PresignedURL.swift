import Crypto

/// Presigned URLs of AWS Signature Version 2 (`?AWSAccessKeyId=…&Expires=…&Signature=…`):
/// boto3 still makes these for S3 in `us-east-1` unless told `signature_version="s3v4"`, so a
/// server that refused them would break `generate_presigned_url` with default settings. Only
/// the query form is accepted; requests signed with a Version 2 `Authorization` header are not
/// (the SDKs sign those with Version 4).
///
/// The string to sign is S3's: the method, `Content-MD5`, `Content-Type`, the expiry, every
/// `x-amz-*` header, and the resource: the path as sent plus the sub-resources S3 signs.
enum SigV2PresignedURL {
    /// The query parameters S3 includes in the signed resource (the list the SDKs sign).
    static let signedSubresources: Set<String> = [
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
        "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
        "response-content-type", "response-content-language", "response-expires", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging", "restore",
        "storageClass", "notification", "replication", "analytics", "metrics", "inventory", "select", "select-type",
        "object-lock",
    ]

    /// Whether the query carries Version 2 credentials.
    static func isPresent(_ query: [(name: String, value: String)]) -> Bool {
        query.contains { $0.name == "AWSAccessKeyId" || $0.name == "Signature" }
    }

    static func verify(
        _ request: S3SignedRequest, query: [(name: String, value: String)], secret: SigV4Verifier.SecretLookup
    ) async throws -> S3Authentication {
        func single(_ name: String) throws -> String {
            let values = query.filter { $0.name == name }.map(\.value)
            guard values.count == 1, !values[0].isEmpty else {
                throw S3Error.authorizationQueryParametersError(
                    "Query-string authentication requires the AWSAccessKeyId, Expires and Signature parameters, "
                        + "each once; \(name) is missing or repeated.")
            }
            return values[0]
        }
        let accessKeyId = try single("AWSAccessKeyId"), signature = try single("Signature")
        let expiresText = try single("Expires")
        guard expiresText.utf8.count <= 12, expiresText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let expires = Int64(expiresText)
        else { throw S3Error.authorizationQueryParametersError("Expires must be a number of seconds since 1970.") }
        guard request.now <= expires else { throw S3Error.accessDenied("Request has expired") }
        guard expires - request.now <= SigV4Verifier.maxPresignedExpiry else {
            throw S3Error.authorizationQueryParametersError(
                "A presigned URL may expire at most \(SigV4Verifier.maxPresignedExpiry) seconds (7 days) from now.")
        }
        guard accessKeyId.utf8.count <= 128, let key = try await secret(accessKeyId) else {
            throw S3Error.invalidAccessKeyId()
        }
        let expected = sign(stringToSign(request, expires: expiresText), secret: key)
        guard SigV4Verifier.constantTimeEqual(expected, signature) else { throw S3Error.signatureDoesNotMatch() }
        return S3Authentication(
            accessKeyId: accessKeyId, signingKey: [], scope: "", region: "us-east-1", service: "s3", timestamp: "",
            time: request.now, seedSignature: "", payload: .unsigned, presigned: true,
            securityToken: query.first { $0.name == "x-amz-security-token" }?.value)
    }

    static func stringToSign(_ request: S3SignedRequest, expires: String) -> String {
        func header(_ name: String) -> String {
            request.headerValues(name).first.map { SigV4.normalizedHeaderValue($0) } ?? ""
        }
        var amz: [String: [String]] = [:]
        for (name, value) in request.headers where name.lowercased().hasPrefix("x-amz-") {
            amz[name.lowercased(), default: []].append(SigV4.normalizedHeaderValue(value))
        }
        var text = request.method.uppercased() + "\n" + header("content-md5") + "\n" + header("content-type") + "\n"
        text += expires + "\n"
        for name in amz.keys.sorted() { text += name + ":" + amz[name]!.joined(separator: ",") + "\n" }
        return text + resource(request)
    }

    /// The path as sent, then the signed sub-resources in name order with their decoded values.
    static func resource(_ request: S3SignedRequest) -> String {
        var items: [(name: String, value: String?)] = []
        for item in request.rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            guard signedSubresources.contains(name) else { continue }
            let value = parts.count > 1 ? (SigV4Verifier.percentDecode(parts[1].utf8) ?? String(parts[1])) : nil
            items.append((name, value))
        }
        guard !items.isEmpty else { return request.rawPath }
        let sorted = items.enumerated().sorted { a, b in
            a.element.name != b.element.name ? a.element.name < b.element.name : a.offset < b.offset
        }.map(\.element)
        let signed: [String] = sorted.map { item in
            guard let value = item.value else { return item.name }
            return item.name + "=" + value
        }
        return request.rawPath + "?" + signed.joined(separator: "&")
    }

    static func sign(_ text: String, secret: String) -> String {
        let mac = HMAC<Insecure.SHA1>.authenticationCode(
            for: Array(text.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return Base64.encode(Array(mac))
    }
}
