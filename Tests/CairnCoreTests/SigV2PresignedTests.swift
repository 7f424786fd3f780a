import Testing

@testable import CairnCore

/// Version 2 presigned URLs, checked against the example of AWS's S3 documentation
/// ("Query string request authentication": johnsmith's puppy.jpg, expiring at 1175139620).
@Suite struct SigV2PresignedTests {
    let verifier = SigV4Verifier { key in
        key == S3AuthTests.accessKey ? S3AuthTests.secretKey : nil
    }

    func request(
        path: String = "/johnsmith/photos/puppy.jpg", signature: String, expires: String = "1175139620",
        now: Int64 = 1_175_139_000
    ) -> S3SignedRequest {
        S3SignedRequest(
            method: "GET", rawPath: path,
            rawQuery: "AWSAccessKeyId=\(S3AuthTests.accessKey)&Expires=\(expires)&Signature=\(signature)",
            headers: [("host", "johnsmith.s3.amazonaws.com")], now: now)
    }

    static let documented = "NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"

    @Test func theDocumentedExampleVerifies() async throws {
        let auth = try await verifier.verify(request(signature: Self.documented))
        #expect(auth.accessKeyId == S3AuthTests.accessKey)
        #expect(auth.presigned)
        #expect(auth.payload == .unsigned)
    }

    @Test func anotherPathOrExpiryOrATimeAfterItIsRefused() async throws {
        let codes = [
            await code(request(path: "/johnsmith/photos/kitten.jpg", signature: Self.documented)),
            await code(request(signature: Self.documented, expires: "1175139621")),
            await code(request(signature: Self.documented, now: 1_175_139_621)),
            await code(request(signature: Self.documented, expires: "11751396200000000")),
        ]
        #expect(
            codes == [
                "SignatureDoesNotMatch", "SignatureDoesNotMatch", "AccessDenied",
                "AuthorizationQueryParametersError",
            ])
    }

    func code(_ request: S3SignedRequest) async -> String? {
        do {
            _ = try await verifier.verify(request)
            return nil
        } catch let error as S3Error {
            return error.code
        } catch {
            return "\(error)"
        }
    }
}
