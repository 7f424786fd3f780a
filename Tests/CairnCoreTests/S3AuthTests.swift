import Foundation
import Testing

@testable import CairnCore

/// SigV4 verification of incoming S3 requests: AWS's published examples, requests signed by the
/// blob store's own signer, and every way a request is refused.
@Suite struct S3AuthTests {
    static let accessKey = "AKIAIOSFODNN7EXAMPLE"
    static let secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    /// 2013-05-24T00:00:00Z, the time of AWS's S3 examples.
    static let exampleTime: Int64 = 1_369_353_600

    let verifier = SigV4Verifier { key in key == S3AuthTests.accessKey ? S3AuthTests.secretKey : nil }

    func code(_ body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let error as S3Error {
            return error.code
        } catch {
            return "\(error)"
        }
    }

    func code(_ request: S3SignedRequest) async -> String? {
        await code { _ = try await verifier.verify(request) }
    }

    /// AWS's "GET Object" example (header authentication, a Range header signed).
    func awsGetObject(now: Int64 = exampleTime, range: String = "bytes=0-9") -> S3SignedRequest {
        S3SignedRequest(
            method: "GET", rawPath: "/test.txt", rawQuery: "",
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Range", range),
                ("x-amz-content-sha256", SigV4.emptyPayloadHash), ("x-amz-date", "20130524T000000Z"),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                        + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                        + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
                ),
            ], now: now)
    }

    @Test func awsGetObjectExampleVerifies() async throws {
        let auth = try await verifier.verify(awsGetObject())
        #expect(auth.accessKeyId == Self.accessKey)
        #expect(auth.scope == "20130524/us-east-1/s3/aws4_request")
        #expect(auth.timestamp == "20130524T000000Z" && auth.time == Self.exampleTime)
        #expect(auth.payload == .sha256(SigV4.emptyPayloadHash))
        #expect(auth.seedSignature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(!auth.presigned)
        #expect(
            auth.signingKey
                == SigV4.signingKey(
                    secretAccessKey: Self.secretKey, date: "20130524", region: "us-east-1", service: "s3"))
    }

    @Test func tamperedSignedHeaderWrongSignatureAndUnknownKeyAreRefused() async {
        #expect(await code(awsGetObject(range: "bytes=0-10")) == "SignatureDoesNotMatch")
        var wrong = awsGetObject()
        wrong.headers[4].value = wrong.headers[4].value.replacingOccurrences(of: "bdb41", with: "bdb42")
        #expect(await code(wrong) == "SignatureDoesNotMatch")
        let stranger = SigV4Verifier { _ in nil }
        #expect(await code { _ = try await stranger.verify(awsGetObject()) } == "InvalidAccessKeyId")
        let otherSecret = SigV4Verifier { _ in "not the secret" }
        #expect(await code { _ = try await otherSecret.verify(awsGetObject()) } == "SignatureDoesNotMatch")
        // A signed header missing from the request, and an unsigned x-amz-* header added to it.
        var missing = awsGetObject()
        missing.headers.remove(at: 1)
        #expect(await code(missing) == "SignatureDoesNotMatch")
        var smuggled = awsGetObject()
        smuggled.headers.append(("X-Amz-Copy-Source", "/other/secret"))
        #expect(await code(smuggled) == "AccessDenied")
        // Unsigned ordinary headers are allowed.
        var extra = awsGetObject()
        extra.headers.append(("User-Agent", "curl"))
        #expect(await code(extra) == nil)
    }

    @Test func clockSkewIsFifteenMinutesEitherWay() async {
        #expect(await code(awsGetObject(now: Self.exampleTime + 900)) == nil)
        #expect(await code(awsGetObject(now: Self.exampleTime - 900)) == nil)
        #expect(await code(awsGetObject(now: Self.exampleTime + 901)) == "RequestTimeTooSkewed")
        #expect(await code(awsGetObject(now: Self.exampleTime - 901)) == "RequestTimeTooSkewed")
    }

    @Test func malformedAuthorizationHeadersAreRefused() async {
        func with(_ authorization: String) -> S3SignedRequest {
            var request = awsGetObject()
            request.headers[4].value = authorization
            return request
        }
        let good = awsGetObject().headers[4].value
        #expect(
            await code(with("AWS4-HMAC-SHA256 Credential=AKIA/20130524/us-east-1/s3")) == "AuthorizationHeaderMalformed"
        )
        #expect(
            await code(with(good.replacingOccurrences(of: "/s3/", with: "/ec2/"))) == "AuthorizationHeaderMalformed")
        #expect(
            await code(with(good.replacingOccurrences(of: "20130524/", with: "20130525/")))
                == "AuthorizationHeaderMalformed")
        #expect(
            await code(with(good.replacingOccurrences(of: "host;", with: ""))) == "AuthorizationHeaderMalformed")
        #expect(await code(with(good + ", Signature=00")) == "AuthorizationHeaderMalformed")
        #expect(await code(with(String(good.dropLast()))) == "AuthorizationHeaderMalformed")
        #expect(await code(with("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")) == "InvalidArgument")
        #expect(await code(with("AWS4-ECDSA-P256-SHA256 Credential=x")) == "NotImplemented")
        #expect(await code(with(String(repeating: "A", count: 10_000))) == "AuthorizationHeaderMalformed")
        // No spaces after the commas is fine too.
        #expect(await code(with(good.replacingOccurrences(of: ", ", with: ","))) == nil)
        var noDate = awsGetObject()
        noDate.headers.remove(at: 3)
        #expect(await code(noDate) == "AccessDenied")
        var noCredentials = awsGetObject()
        noCredentials.headers.remove(at: 4)
        #expect(!noCredentials.carriesCredentials && awsGetObject().carriesCredentials)
        #expect(await code(noCredentials) == "AccessDenied")
    }

    // MARK: Requests signed by the blob store's signer

    /// Signs like a client: the path and query encoded as botocore does, the Authorization from `SigV4.sign`.
    func signed(
        method: String = "PUT", key: String = "/bucket/my key+(1)/é.txt",
        query: [(name: String, value: String)] = [], rawQuery: String? = nil,
        headers: [(name: String, value: String)] = [],
        payloadHash: String = SigV4.unsignedPayload, region: String = "garage", service: String = "s3",
        time: Int64 = exampleTime
    ) -> S3SignedRequest {
        let host = ("host", "localhost:9000")
        let added = SigV4.sign(
            method: method, path: key, query: query, headers: [host] + headers, payloadHash: payloadHash,
            credentials: SigV4.Credentials(accessKeyId: Self.accessKey, secretAccessKey: Self.secretKey),
            region: region, service: service, time: Date(timeIntervalSince1970: TimeInterval(time)))
        return S3SignedRequest(
            method: method, rawPath: SigV4.canonicalURI(path: key), rawQuery: rawQuery ?? SigV4.canonicalQuery(query),
            headers: [("Host", "localhost:9000")] + headers + added, now: time + 5)
    }

    @Test func requestsFromTheSignerVerifyInAnyRegion() async throws {
        let auth = try await verifier.verify(
            signed(query: [("uploadId", "a b+c/d"), ("partNumber", "3")], region: "some-odd-region-1"))
        #expect(auth.region == "some-odd-region-1" && auth.service == "s3" && auth.payload == .unsigned)
        // A bare flag on the wire (`?uploads`) is the parameter `uploads=`.
        #expect(await code(signed(method: "POST", query: [("uploads", "")], rawQuery: "uploads")) == nil)
        // A path sent with fewer characters encoded still has the same canonical form.
        var loose = signed(key: "/bucket/a!b")
        #expect(loose.rawPath == "/bucket/a%21b")
        loose.rawPath = "/bucket/a!b"
        #expect(await code(loose) == nil)
        // A tampered query or path is refused.
        #expect(await code(signed(query: [("partNumber", "3")], rawQuery: "partNumber=4")) == "SignatureDoesNotMatch")
        var moved = signed()
        moved.rawPath = "/bucket/other.txt"
        #expect(await code(moved) == "SignatureDoesNotMatch")
        var badEscape = signed()
        badEscape.rawPath = "/bucket/%zz"
        #expect(await code(badEscape) == "InvalidArgument")
    }

    @Test func payloadModesComeFromContentSHA256() async throws {
        let hash = String(repeating: "ab", count: 32)
        #expect(try await verifier.verify(signed(payloadHash: hash)).payload == .sha256(hash))
        let streaming = signed(
            headers: [("x-amz-decoded-content-length", "66560")], payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        #expect(try await verifier.verify(streaming).payload == .streamingSigned(decodedLength: 66560))
        let trailer = signed(
            headers: [("x-amz-decoded-content-length", "5"), ("x-amz-trailer", "X-Amz-Checksum-CRC32")],
            payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        #expect(
            try await verifier.verify(trailer).payload
                == .streamingUnsignedTrailer(decodedLength: 5, trailer: "x-amz-checksum-crc32"))
        let signedTrailer = signed(
            headers: [("x-amz-decoded-content-length", "0")], payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
        #expect(
            try await verifier.verify(signedTrailer).payload == .streamingSignedTrailer(decodedLength: 0, trailer: nil))
        for length in ["-1", "", "1e3", "99999999999999999999", "5497558138881"] {
            let bad = signed(
                headers: [("x-amz-decoded-content-length", length)], payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
            #expect(await code(bad) == "InvalidArgument")
        }
        #expect(await code(signed(payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")) == "InvalidArgument")
        #expect(await code(signed(payloadHash: "not-a-hash")) == "InvalidArgument")
        #expect(await code(signed(payloadHash: "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")) == "NotImplemented")
    }

    /// A signature whose signed headers leave out x-amz-content-sha256 (built from the SigV4 steps).
    @Test func s3RequiresContentSHA256AndIAMDoesNot() async throws {
        func request(service: String, bodySHA256: String?) -> S3SignedRequest {
            let headers: [(name: String, value: String)] = [("host", "localhost"), ("x-amz-date", "20130524T000000Z")]
            let canonical = SigV4.canonicalRequest(
                method: "POST", path: "/", query: [], headers: headers, payloadHash: SigV4.emptyPayloadHash)
            let scope = SigV4.scope(date: "20130524", region: "us-east-1", service: service)
            let key = SigV4.signingKey(
                secretAccessKey: Self.secretKey, date: "20130524", region: "us-east-1", service: service)
            let signature = SigV4.signature(
                signingKey: key,
                stringToSign: SigV4.stringToSign(
                    timestamp: "20130524T000000Z", scope: scope, canonicalRequest: canonical))
            let authorization =
                "AWS4-HMAC-SHA256 Credential=\(Self.accessKey)/\(scope), SignedHeaders=host;x-amz-date, Signature=\(signature)"
            return S3SignedRequest(
                method: "POST", rawPath: "/", rawQuery: "", headers: headers + [("Authorization", authorization)],
                now: Self.exampleTime, bodySHA256: bodySHA256)
        }
        #expect(await code(request(service: "s3", bodySHA256: nil)) == "MissingSecurityHeader")
        #expect(await code(request(service: "iam", bodySHA256: nil)) == "InvalidArgument")
        let iam = try await verifier.verify(request(service: "iam", bodySHA256: SigV4.emptyPayloadHash))
        #expect(iam.service == "iam" && iam.payload == .sha256(SigV4.emptyPayloadHash))
        #expect(
            await code(request(service: "iam", bodySHA256: String(repeating: "0", count: 64)))
                == "SignatureDoesNotMatch")
    }

    // MARK: Presigned URLs

    /// AWS's presigned-URL example (GET examplebucket/test.txt, 86400 seconds).
    func awsPresigned(now: Int64 = exampleTime + 60, expires: String = "86400") -> S3SignedRequest {
        S3SignedRequest(
            method: "GET", rawPath: "/test.txt",
            rawQuery: "X-Amz-Algorithm=AWS4-HMAC-SHA256"
                + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                + "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=\(expires)&X-Amz-SignedHeaders=host"
                + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
            headers: [("Host", "examplebucket.s3.amazonaws.com")], now: now)
    }

    @Test func awsPresignedExampleVerifiesUntilItExpires() async throws {
        let auth = try await verifier.verify(awsPresigned())
        #expect(auth.presigned && auth.payload == .unsigned && auth.accessKeyId == Self.accessKey)
        #expect(awsPresigned().carriesCredentials)
        #expect(await code(awsPresigned(now: Self.exampleTime + 86_400)) == nil)
        #expect(await code(awsPresigned(now: Self.exampleTime + 86_401)) == "AccessDenied")
        #expect(await code(awsPresigned(now: Self.exampleTime - 901)) == "RequestTimeTooSkewed")
        // Before its date but within the skew, it is accepted.
        #expect(await code(awsPresigned(now: Self.exampleTime - 600)) == nil)
    }

    @Test func presignedExpiresMustBeOneSecondToSevenDays() async {
        for expires in ["0", "604801", "-5", "abc", "", "1.5", "99999999999999999999"] {
            #expect(await code(awsPresigned(expires: expires)) == "AuthorizationQueryParametersError")
        }
        // In range but not what was signed.
        #expect(await code(awsPresigned(expires: "604800")) == "SignatureDoesNotMatch")
    }

    @Test func presignedTamperingAndMixingIsRefused() async {
        var tampered = awsPresigned()
        tampered.rawQuery += "&response-content-type=text%2Fhtml"
        #expect(await code(tampered) == "SignatureDoesNotMatch")
        var both = awsGetObject()
        both.rawQuery = awsPresigned().rawQuery
        #expect(await code(both) == "InvalidArgument")
        var noSignature = awsPresigned()
        noSignature.rawQuery = noSignature.rawQuery.replacingOccurrences(of: "&X-Amz-Signature=", with: "&X=")
        #expect(await code(noSignature) == "AuthorizationQueryParametersError")
        var repeated = awsPresigned()
        repeated.rawQuery += "&X-Amz-Expires=60"
        #expect(await code(repeated) == "AuthorizationQueryParametersError")
        var unsignedHeader = awsPresigned()
        unsignedHeader.headers.append(("x-amz-copy-source", "/b/k"))
        #expect(await code(unsignedHeader) == "AccessDenied")
    }

    @Test func amzDatesParseStrictly() {
        #expect(SigV4Verifier.epochSeconds(amzDate: "20130524T000000Z") == Self.exampleTime)
        #expect(SigV4Verifier.epochSeconds(amzDate: "20000229T235959Z") == 951_868_799)
        #expect(SigV4Verifier.epochSeconds(amzDate: "19691231T235959Z") == -1)
        for bad in ["20130524T000000", "2013052T000000Z", "20131324T000000Z", "20130524T240000Z", "2013O524T000000Z"] {
            #expect(SigV4Verifier.epochSeconds(amzDate: bad) == nil)
        }
        #expect(SigV4Verifier.constantTimeEqual("abc", "abc") && !SigV4Verifier.constantTimeEqual("abc", "abd"))
        #expect(!SigV4Verifier.constantTimeEqual("abc", "abcd"))
    }
}
