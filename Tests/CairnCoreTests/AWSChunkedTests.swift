import CairnTestSupport
import Foundation
import Testing

@testable import CairnCore

/// `aws-chunked` bodies: AWS's published signed streaming example, fed whole and byte by byte, and
/// the ways a body is refused; then the unsigned-trailer mode modern SDKs use.
@Suite struct AWSChunkedTests {
    static let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    static let chunkSignatures = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]

    static let signing = AWSChunkedDecoder.Signing.signed(
        signingKey: SigV4.signingKey(
            secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", date: "20130524", region: "us-east-1",
            service: "s3"),
        timestamp: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request", seedSignature: seed)

    /// The example body: 65536 and 1024 bytes of "a", then the empty last chunk.
    static func exampleBody(corrupt: Bool = false, trailer: String = "\r\n") -> [UInt8] {
        var body: [UInt8] = []
        for (size, signature) in zip([65536, 1024, 0], chunkSignatures) {
            body += Array((String(size, radix: 16) + ";chunk-signature=" + signature + "\r\n").utf8)
            var data = [UInt8](repeating: UInt8(ascii: "a"), count: size)
            if corrupt && size == 1024 { data[10] = UInt8(ascii: "b") }
            body += data
            body += size > 0 ? Array("\r\n".utf8) : []
        }
        return body + Array(trailer.utf8)
    }

    /// Feeds `body` in slices of `sliceSize` and returns the decoded bytes and the decoder.
    static func decode(
        _ body: [UInt8], _ decoder: AWSChunkedDecoder, sliceSize: Int = .max, finish: Bool = true
    ) throws -> ([UInt8], AWSChunkedDecoder) {
        var decoder = decoder
        var out: [UInt8] = []
        var start = 0
        try body.withUnsafeBytes { all in
            while start < all.count {
                let end = start + min(sliceSize, all.count - start)
                try decoder.feed(UnsafeRawBufferPointer(rebasing: all[start..<end])) { out += Array($0) }
                start = end
            }
        }
        if finish { try decoder.finish() }
        return (out, decoder)
    }

    static func code(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as S3Error {
            return error.code
        } catch {
            return "\(error)"
        }
    }

    let signed = AWSChunkedDecoder(signing: signing, allowsTrailer: false, decodedLength: 66560)

    @Test func awsStreamingExampleDecodesWholeAndInSlices() throws {
        let expected = [UInt8](repeating: UInt8(ascii: "a"), count: 66560)
        for size in [Int.max, 1, 7, 4096, 65_600] {
            let (out, decoder) = try Self.decode(Self.exampleBody(), signed, sliceSize: size)
            #expect(out == expected)
            #expect(decoder.decodedCount == 66560 && decoder.trailers.isEmpty)
        }
    }

    /// The request that carries the example body: its seed signature verifies, and the decoder
    /// built from the verifier's answer decodes the body.
    @Test func awsStreamingExampleSeedVerifies() async throws {
        let request = S3SignedRequest(
            method: "PUT", rawPath: "/examplebucket/chunkObject.txt", rawQuery: "",
            headers: [
                ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                        + "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                        + "x-amz-decoded-content-length;x-amz-storage-class,Signature=\(Self.seed)"
                ),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("Content-Encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "66560"), ("Content-Length", "66824"),
            ], now: 1_369_353_600)
        let verifier = SigV4Verifier { _ in "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" }
        let auth = try await verifier.verify(request)
        #expect(auth.payload == .streamingSigned(decodedLength: 66560) && auth.seedSignature == Self.seed)
        #expect(Self.exampleBody().count == 66824)
        let (out, _) = try Self.decode(Self.exampleBody(), try AWSChunkedDecoder(authentication: auth), sliceSize: 1000)
        #expect(out.count == 66560)
    }

    @Test func badChunkSignatureTruncationAndGarbageAreRefused() {
        #expect(Self.code { _ = try Self.decode(Self.exampleBody(corrupt: true), signed) } == "SignatureDoesNotMatch")
        let body = Self.exampleBody()
        for cut in [1, 2, 100, 2000] {
            #expect(Self.code { _ = try Self.decode(Array(body.dropLast(cut)), signed) } == "IncompleteBody")
        }
        #expect(Self.code { _ = try Self.decode(body + Array("x".utf8), signed) } == "InvalidArgument")
        // A trailer where none is allowed, an unsigned chunk in signed mode, the wrong length.
        #expect(
            Self.code { _ = try Self.decode(Self.exampleBody(trailer: "a:b\r\n\r\n"), signed) } == "InvalidArgument")
        #expect(Self.code { _ = try Self.decode(Array("0\r\n\r\n".utf8), signed) } == "InvalidArgument")
        let shorter = AWSChunkedDecoder(signing: Self.signing, allowsTrailer: false, decodedLength: 66561)
        #expect(Self.code { _ = try Self.decode(body, shorter) } == "IncompleteBody")
        let longer = AWSChunkedDecoder(signing: Self.signing, allowsTrailer: false, decodedLength: 1000)
        #expect(Self.code { _ = try Self.decode(body, longer) } == "IncompleteBody")
    }

    @Test func oversizeLinesAndChunksAreRefused() {
        let unsigned = AWSChunkedDecoder(signing: .unsigned, allowsTrailer: true, decodedLength: 1 << 30)
        let longLine = Array((String(repeating: "1", count: 300) + "\r\n").utf8)
        #expect(Self.code { _ = try Self.decode(longLine, unsigned) } == "InvalidArgument")
        #expect(Self.code { _ = try Self.decode(Array("1000001\r\n".utf8), unsigned) } == "InvalidArgument")
        #expect(Self.code { _ = try Self.decode(Array("fffffffff\r\n".utf8), unsigned) } == "InvalidArgument")
        #expect(Self.code { _ = try Self.decode(Array("zz\r\n".utf8), unsigned) } == "InvalidArgument")
        #expect(Self.code { _ = try Self.decode(Array("5\nhello".utf8), unsigned) } == "InvalidArgument")
        #expect(Self.code { _ = try Self.decode(Array("2\r\nhello\r\n".utf8), unsigned) } == "InvalidArgument")
        // A line that is still within bounds and unfinished only fails at the end.
        #expect(Self.code { _ = try Self.decode(Array("100".utf8), unsigned) } == "IncompleteBody")
    }

    @Test func unsignedTrailerCarriesTheChecksum() throws {
        let body = Array("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n".utf8)
        for size in [Int.max, 1, 3] {
            let decoder = AWSChunkedDecoder(signing: .unsigned, allowsTrailer: true, decodedLength: 5)
            let (out, done) = try Self.decode(body, decoder, sliceSize: size)
            #expect(out == Array("hello".utf8))
            #expect(done.trailer("X-Amz-Checksum-CRC32") == "NhCmhg==")
            var crc = CRC32()
            crc.update(out)
            #expect(crc.base64 == done.trailer("x-amz-checksum-crc32"))
        }
        // Without a trailer, and with a malformed one.
        let bare = AWSChunkedDecoder(signing: .unsigned, allowsTrailer: true, decodedLength: 5)
        #expect(try Self.decode(Array("5\r\nhello\r\n0\r\n\r\n".utf8), bare).1.trailers.isEmpty)
        #expect(
            Self.code { _ = try Self.decode(Array("5\r\nhello\r\n0\r\nno-colon\r\n\r\n".utf8), bare) }
                == "MalformedTrailerError")
        #expect(Self.code { _ = try Self.decode(Array("5\r\nhello\r\n0\r\nx:y\r\n".utf8), bare) } == "IncompleteBody")
    }

    /// The AWS CRT's signed-trailer vector: the example's chunks, then a trailer of three headers
    /// signed from the final chunk's signature.
    @Test func signedTrailerVerifies() throws {
        let trailer =
            "first:1st\r\nsecond:2nd\r\nthird:3rd\r\n"
            + "x-amz-trailer-signature:df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c\r\n\r\n"
        let decoder = AWSChunkedDecoder(signing: Self.signing, allowsTrailer: true, decodedLength: 66560)
        let (_, done) = try Self.decode(Self.exampleBody(trailer: trailer), decoder, sliceSize: 333)
        #expect(done.trailers.map(\.name) == ["first", "second", "third"] && done.trailer("second") == "2nd")
        let tampered = trailer.replacingOccurrences(of: "2nd", with: "2ND")
        #expect(
            Self.code { _ = try Self.decode(Self.exampleBody(trailer: tampered), decoder) } == "SignatureDoesNotMatch")
        let unsignedTrailer = "first:1st\r\n\r\n"
        #expect(
            Self.code { _ = try Self.decode(Self.exampleBody(trailer: unsignedTrailer), decoder) }
                == "SignatureDoesNotMatch")
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// CRC-32, CRC-32C, the one-pass object digest and base64, against known vectors.
@Suite struct ChecksumTests {
    @Test func crcVectors() {
        #expect(CRC32.checksum(Array("hello".utf8)) == 0x3610_A686)
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32.checksum([]) == 0 && CRC32C.checksum([]) == 0)
        var hello = CRC32()
        hello.update(Array("hello".utf8))
        #expect(hello.base64 == "NhCmhg==")
        // 32 zero bytes (RFC 3720's CRC-32C example) and the same over 0xFF bytes.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    /// Slicing-by-8 agrees with itself however the input is split (so the bytewise tail and the
    /// 8-byte body of each update compose).
    @Test func incrementalUpdatesMatchOneShot() {
        var generator = SystemRandomNumberGenerator()
        let data = (0..<10_007).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let crc32 = CRC32.checksum(data)
        let crc32c = CRC32C.checksum(data)
        for split in [1, 3, 8, 13, 4096] {
            var a = CRC32()
            var c = CRC32C()
            var start = 0
            while start < data.count {
                let end = min(start + split, data.count)
                a.update(Array(data[start..<end]))
                c.update(Array(data[start..<end]))
                start = end
            }
            #expect(a.value == crc32 && c.value == crc32c)
        }
    }

    /// zlib's CRC-32 and the CPU's CRC-32C agree with the Swift tables at every length up to
    /// 300 bytes and at unaligned starts, continuing a running value.
    @Test func theFastCRCsAgreeWithTheTables() {
        var generator = SeededGenerator(seed: 0xC3C)
        let data = (0..<4_500).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #if arch(x86_64) && os(Linux)
            // The instruction is used exactly when the CPU lists it.
            let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            #expect(CRC32C.hardware == flags.contains(" sse4_2"))
        #endif
        data.withUnsafeBytes { all in
            for length in Array(0...300) + [1_000, 4_096, 4_400] {
                let start = Int.random(in: 0...(all.count - length), using: &generator)
                let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                let head = UnsafeRawBufferPointer(rebasing: all[0..<(start % 13)])
                var crc32 = CRC32()
                var crc32c = CRC32C()
                for part in [head, slice] {
                    crc32.update(part)
                    crc32c.update(part)
                }
                let reference32 = CRC32Tables.ieee.update(CRC32Tables.ieee.update(0xFFFF_FFFF, head), slice)
                let reference32c = CRC32Tables.castagnoli.update(
                    CRC32Tables.castagnoli.update(0xFFFF_FFFF, head), slice)
                #expect(crc32.value == ~reference32, "CRC-32 of \(length) bytes at \(start)")
                #expect(crc32c.value == ~reference32c, "CRC-32C of \(length) bytes at \(start)")
            }
        }
    }

    @Test func objectDigestComputesEverythingInOnePass() {
        var digest = ObjectDigest()
        digest.update(Array("hel".utf8))
        digest.update(Array("lo".utf8))
        let result = digest.finalize()
        #expect(result.byteCount == 5)
        #expect(result.md5Hex == "5d41402abc4b2a76b9719d911017c592")
        #expect(result.md5Base64 == "XUFAKrxLKna5cZ2REBfFkg==")
        #expect(result.sha256Hex == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        #expect(result.crc32 == 0x3610_A686 && result.crc32Base64 == "NhCmhg==")
        #expect(result.crc32c == CRC32C.checksum(Array("hello".utf8)))
        let md5Only = ObjectDigest(.md5)
        #expect(md5Only.finalize().sha256 == nil && md5Only.finalize().crc32 == nil)
        #expect(md5Only.finalize().md5Hex == "d41d8cd98f00b204e9800998ecf8427e")
    }

    @Test func base64RoundTripsAndDecodesStrictly() {
        for text in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let encoded = Base64.encode(Array(text.utf8))
            #expect(Base64.decode(encoded) == Array(text.utf8))
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy" && Base64.encode(Array("fo".utf8)) == "Zm8=")
        for bad in ["Zm8", "Zm9=v", "Zm8==", "Z===", "Zm9v YmFy", "Zm9!", "Zm9="] {
            #expect(Base64.decode(bad) == nil)
        }
    }
}
