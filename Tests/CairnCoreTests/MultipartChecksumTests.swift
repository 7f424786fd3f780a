import Testing

@testable import CairnCore

/// CRC-64/NVME, SHA-1 in the one-pass digest, and a multipart object's checksum made from its
/// parts' without their bytes.
struct MultipartChecksumTests {
    static let check = Array("123456789".utf8)

    @Test func crc64nvmeMatchesItsCheckValue() {
        #expect(CRC64NVME.checksum(Self.check) == 0xAE8B_1486_0A79_9888)
        #expect(CRC64NVME.checksum([]) == 0)
        var split = CRC64NVME()
        split.update(Array(Self.check[..<4]))
        split.update(Array(Self.check[4...]))
        #expect(split.value == 0xAE8B_1486_0A79_9888)
    }

    @Test func theDigestComputesEveryAlgorithmS3Names() throws {
        var digest = ObjectDigest(.all)
        digest.update(Self.check)
        let result = digest.finalize()
        #expect(ChecksumAlgorithm.crc32.bytes(in: result) == [0xCB, 0xF4, 0x39, 0x26])
        #expect(ChecksumAlgorithm.crc32c.bytes(in: result) == [0xE3, 0x06, 0x92, 0x83])
        #expect(ChecksumAlgorithm.crc64nvme.bytes(in: result) == [0xAE, 0x8B, 0x14, 0x86, 0x0A, 0x79, 0x98, 0x88])
        // SHA-1("123456789") = f7c3bc1d808e04732adf679965ccc34ca7ae3441
        #expect(ChecksumAlgorithm.sha1.bytes(in: result)?.hexString == "f7c3bc1d808e04732adf679965ccc34ca7ae3441")
        #expect(ChecksumAlgorithm.sha256.base64(in: result) == "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=")
    }

    /// Every CRC, split at every point of a 300-byte input and across three uneven runs, joins
    /// into the CRC of the whole.
    @Test func crcsOfRunsCombineIntoTheWhole() throws {
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        for algorithm in [ChecksumAlgorithm.crc32, .crc32c, .crc64nvme] {
            let combiner = try #require(algorithm.combiner)
            func value(_ slice: ArraySlice<UInt8>) -> UInt64 {
                algorithm.bytes(of: Array(slice)).reduce(0) { $0 << 8 | UInt64($1) }
            }
            let whole = value(bytes[...])
            for cut in [0, 1, 7, 8, 64, 150, 299, 300] {
                let joined = combiner.combine(
                    value(bytes[..<cut]), value(bytes[cut...]), secondLength: Int64(bytes.count - cut))
                #expect(joined == whole, "\(algorithm) cut at \(cut)")
            }
            let runs = [bytes[..<10], bytes[10..<200], bytes[200...]]
            let checksum = MultipartChecksum(algorithm: algorithm, type: .fullObject)
            let parts = runs.map { (checksum: algorithm.bytes(of: Array($0)), size: Int64($0.count)) }
            #expect(checksum.objectChecksum(parts: parts) == Base64.encode(algorithm.bytes(of: bytes)))
        }
    }

    @Test func aCompositeChecksumIsTheChecksumOfThePartsChecksums() {
        let parts: [[UInt8]] = [Array("abc".utf8), Array("defg".utf8)]
        for algorithm in ChecksumAlgorithm.allCases where algorithm.types.contains(.composite) {
            let raw = parts.map { algorithm.bytes(of: $0) }
            let checksum = MultipartChecksum(algorithm: algorithm, type: .composite)
            #expect(
                checksum.objectChecksum(parts: raw.map { ($0, 3) })
                    == Base64.encode(algorithm.bytes(of: raw.flatMap { $0 })) + "-2")
        }
    }

    @Test func aMalformedPartChecksumGivesNoFullObjectChecksum() {
        let checksum = MultipartChecksum(algorithm: .crc32, type: .fullObject)
        #expect(checksum.objectChecksum(parts: [([1, 2, 3], 3)]) == nil)
        #expect(checksum.objectChecksum(parts: []) == nil)
    }
}

extension MultipartChecksumTests {
    /// Runs of megabytes: the shifts reach far into the table of powers.
    @Test func largeRunsCombine() throws {
        let sizes = [5 << 20, (5 << 20) + 17, 10]
        let runs = sizes.enumerated().map { i, n in
            [UInt8](unsafeUninitializedCapacity: n) { buffer, count in
                var state = UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
                for j in 0..<n {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    buffer[j] = UInt8(truncatingIfNeeded: state >> 56)
                }
                count = n
            }
        }
        let whole = runs.flatMap { $0 }
        for algorithm in [ChecksumAlgorithm.crc32, .crc32c, .crc64nvme] {
            let checksum = MultipartChecksum(algorithm: algorithm, type: .fullObject)
            let parts = runs.map { (checksum: algorithm.bytes(of: $0), size: Int64($0.count)) }
            #expect(checksum.objectChecksum(parts: parts) == Base64.encode(algorithm.bytes(of: whole)), "\(algorithm)")
        }
    }
}
