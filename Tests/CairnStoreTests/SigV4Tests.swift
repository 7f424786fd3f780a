import CairnCore
import Foundation
import Testing

@testable import CairnStore

/// SigV4 against AWS's published examples: the example credentials, dates, requests and the
/// signatures AWS documents for them (the signing-key example, the SigV4 test suite's
/// `get-vanilla`, and the S3 header-authentication examples for examplebucket).
@Suite struct SigV4Tests {
    /// The S3 examples' credentials and time (2013-05-24T00:00:00Z).
    let s3Credentials = SigV4.Credentials(
        accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    let s3Time = Date(timeIntervalSince1970: 1_369_353_600)
    let s3Host = ("host", "examplebucket.s3.amazonaws.com")

    func sha256(_ text: String) -> String {
        var hasher = SHA256Hasher()
        hasher.update(Array(text.utf8))
        return hasher.finalize()
    }

    @Test func signingKeyAndSignatureMatchTheDerivationExample() {
        let key = SigV4.signingKey(
            secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", date: "20150830", region: "us-east-1",
            service: "iam")
        #expect(key.hexString == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
        let toSign = [
            "AWS4-HMAC-SHA256", "20150830T123600Z", "20150830/us-east-1/iam/aws4_request",
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59",
        ].joined(separator: "\n")
        #expect(
            SigV4.signature(signingKey: key, stringToSign: toSign)
                == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
    }

    /// The test suite's `get-vanilla`: only `host` and `x-amz-date` signed, service "service".
    @Test func getVanillaFromTheTestSuite() {
        let canonical = SigV4.canonicalRequest(
            method: "GET", path: "/", query: [],
            headers: [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")],
            payloadHash: SigV4.emptyPayloadHash)
        #expect(
            canonical
                == "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                + SigV4.emptyPayloadHash)
        let scope = SigV4.scope(date: "20150830", region: "us-east-1", service: "service")
        let toSign = SigV4.stringToSign(timestamp: "20150830T123600Z", scope: scope, canonicalRequest: canonical)
        let key = SigV4.signingKey(
            secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", date: "20150830", region: "us-east-1",
            service: "service")
        #expect(
            SigV4.signature(signingKey: key, stringToSign: toSign)
                == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    func authorization(_ headers: [(name: String, value: String)]) -> String? {
        headers.first { $0.name == "authorization" }?.value
    }

    @Test func s3GetObjectWithRange() {
        let headers = SigV4.sign(
            method: "GET", path: "/test.txt", query: [], headers: [s3Host, ("Range", "bytes=0-9")],
            payloadHash: SigV4.emptyPayloadHash, credentials: s3Credentials, region: "us-east-1", service: "s3",
            time: s3Time)
        #expect(
            authorization(headers)
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.contains { $0 == ("x-amz-date", "20130524T000000Z") })
        #expect(headers.contains { $0 == ("x-amz-content-sha256", SigV4.emptyPayloadHash) })
        // The intermediate step AWS documents: the hash of the canonical request.
        let canonical = SigV4.canonicalRequest(
            method: "GET", path: "/test.txt", query: [],
            headers: [
                s3Host, ("range", "bytes=0-9"), ("x-amz-content-sha256", SigV4.emptyPayloadHash),
                ("x-amz-date", "20130524T000000Z"),
            ], payloadHash: SigV4.emptyPayloadHash)
        #expect(sha256(canonical) == "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    }

    /// A `$` in the key is encoded in the canonical URI; the body's SHA-256 is signed.
    @Test func s3PutObjectWithSignedPayload() {
        let payloadHash = sha256("Welcome to Amazon S3.")
        #expect(payloadHash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        #expect(SigV4.canonicalURI(path: "/test$file.text") == "/test%24file.text")
        let headers = SigV4.sign(
            method: "PUT", path: "/test$file.text", query: [],
            headers: [
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"), s3Host, ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ], payloadHash: payloadHash, credentials: s3Credentials, region: "us-east-1", service: "s3", time: s3Time)
        #expect(
            authorization(headers)
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                + "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
                + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    /// Query parameters are sorted (given here out of order) and a bare one gets `=`.
    @Test func s3ListObjectsAndLifecycleQueries() {
        let list = SigV4.sign(
            method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [s3Host],
            payloadHash: SigV4.emptyPayloadHash, credentials: s3Credentials, region: "us-east-1", service: "s3",
            time: s3Time)
        #expect(
            authorization(list)?.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
                == true)
        let lifecycle = SigV4.sign(
            method: "GET", path: "/", query: [("lifecycle", "")], headers: [s3Host],
            payloadHash: SigV4.emptyPayloadHash, credentials: s3Credentials, region: "us-east-1", service: "s3",
            time: s3Time)
        #expect(
            authorization(lifecycle)?.hasSuffix(
                "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") == true)
    }

    @Test func sessionTokenIsSentAndSigned() {
        var temporary = s3Credentials
        temporary.sessionToken = "token/with+chars="
        let headers = SigV4.sign(
            method: "GET", path: "/test.txt", query: [], headers: [s3Host], payloadHash: SigV4.unsignedPayload,
            credentials: temporary, region: "us-east-1", service: "s3", time: s3Time)
        #expect(headers.contains { $0 == ("x-amz-security-token", "token/with+chars=") })
        #expect(headers.contains { $0 == ("x-amz-content-sha256", "UNSIGNED-PAYLOAD") })
        #expect(
            authorization(headers)?.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,")
                == true)
        let withoutToken = SigV4.sign(
            method: "GET", path: "/test.txt", query: [], headers: [s3Host], payloadHash: SigV4.unsignedPayload,
            credentials: s3Credentials, region: "us-east-1", service: "s3", time: s3Time)
        #expect(authorization(headers) != authorization(withoutToken))
    }

    @Test func requestTimeIsUTCWithoutACalendar() {
        let may = SigV4.RequestTime(Date(timeIntervalSince1970: 1_369_353_600))
        #expect(may.date == "20130524" && may.timestamp == "20130524T000000Z")
        let leapDay = SigV4.RequestTime(Date(timeIntervalSince1970: 951_868_799.75))
        #expect(leapDay.timestamp == "20000229T235959Z")
        let beforeEpoch = SigV4.RequestTime(Date(timeIntervalSince1970: -1))
        #expect(beforeEpoch.timestamp == "19691231T235959Z")
        let vanilla = SigV4.RequestTime(Date(timeIntervalSince1970: 1_440_938_160))
        #expect(vanilla.timestamp == "20150830T123600Z")
    }

    @Test func encodingAndHeaderNormalization() {
        #expect(SigV4.percentEncode("a b/c~_-.é+=") == "a%20b%2Fc~_-.%C3%A9%2B%3D")
        #expect(SigV4.percentEncode("a b/c", keepSlashes: true) == "a%20b/c")
        #expect(
            SigV4.canonicalQuery([("b", "2"), ("a", "x y"), ("a", "1"), ("uploads", "")]) == "a=1&a=x%20y&b=2&uploads=")
        let (block, signed) = SigV4.canonicalHeaders([("X-B", "  two   spaced\twords "), ("x-a", "1"), ("X-A", "2")])
        #expect(block == "x-a:1,2\nx-b:two spaced words\n")
        #expect(signed == "x-a;x-b")
    }
}
