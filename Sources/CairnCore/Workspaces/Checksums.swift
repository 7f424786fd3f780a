import CCairnChecksums
import Crypto

/// Table-driven CRC-32 (slicing-by-8), reflected, initial value and final xor all ones: with the
/// IEEE polynomial it is zlib's `crc32`, with Castagnoli's it is CRC-32C (iSCSI, `x-amz-checksum-crc32c`).
/// `CRC32` uses zlib and `CRC32C` the CPU's instruction where there is one (each about twice and
/// several times this code's speed); these tables are CRC-32C's fallback and the tests' reference.
struct CRC32Tables: Sendable {
    /// Eight tables of 256 entries, back to back: table `k` advances a byte that is `k` bytes ahead.
    let entries: [UInt32]

    init(reflectedPolynomial polynomial: UInt32) {
        var entries = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
            entries[index] = crc
        }
        for table in 1..<8 {
            for index in 0..<256 {
                let previous = entries[(table - 1) * 256 + index]
                entries[table * 256 + index] = (previous >> 8) ^ entries[Int(previous & 0xFF)]
            }
        }
        self.entries = entries
    }

    static let ieee = CRC32Tables(reflectedPolynomial: 0xEDB8_8320)
    static let castagnoli = CRC32Tables(reflectedPolynomial: 0x82F6_3B78)

    /// Advances the running (pre-inverted) `crc` over `bytes`.
    func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        entries.withUnsafeBufferPointer { t in
            var crc = crc
            var index = 0
            let count = bytes.count
            while count - index >= 8 {
                let low =
                    crc
                    ^ (UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16
                        | UInt32(bytes[index + 3]) << 24)
                crc =
                    t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(bytes[index + 4])] ^ t[2 * 256 + Int(bytes[index + 5])]
                    ^ t[256 + Int(bytes[index + 6])] ^ t[Int(bytes[index + 7])]
                index += 8
            }
            while index < count {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(bytes[index])) & 0xFF)]
                index += 1
            }
            return crc
        }
    }
}

/// Incremental CRC-32 (IEEE 802.3, as zlib): `x-amz-checksum-crc32`.
public struct CRC32: Sendable, Equatable {
    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        // zlib takes and returns the finished value; the state is kept inverted.
        state = ~ccairn_crc32(~state, base, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The CRC of the bytes so far (the accumulator can keep going).
    public var value: UInt32 { ~state }

    /// The value as S3 sends it: the four big-endian bytes, base64.
    public var base64: String { Base64.encode(bigEndianBytes(value)) }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}

/// Incremental CRC-32C (Castagnoli): `x-amz-checksum-crc32c`.
public struct CRC32C: Sendable, Equatable {
    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        state =
            Self.hardware ? ccairn_crc32c_update(state, base, bytes.count) : CRC32Tables.castagnoli.update(state, bytes)
    }

    /// Whether this CPU has the CRC-32C instruction (SSE 4.2 on x86-64).
    static let hardware = ccairn_crc32c_hardware() != 0

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public var value: UInt32 { ~state }

    public var base64: String { Base64.encode(bigEndianBytes(value)) }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }
}

/// Incremental CRC-64/NVME (reflected, initial value and final xor all ones):
/// `x-amz-checksum-crc64nvme`. Byte-wise through one table: clients send it rarely.
public struct CRC64NVME: Sendable, Equatable {
    private var state: UInt64 = ~0

    static let reflectedPolynomial: UInt64 = 0x9A6C_9329_AC4B_C9B5
    static let table: [UInt64] = (0..<256).map { index in
        var crc = UInt64(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ reflectedPolynomial : crc >> 1 }
        return crc
    }

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        Self.table.withUnsafeBufferPointer { t in
            var crc = state
            for byte in bytes { crc = (crc >> 8) ^ t[Int((crc ^ UInt64(byte)) & 0xFF)] }
            state = crc
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public var value: UInt64 { ~state }

    public static func checksum(_ bytes: [UInt8]) -> UInt64 {
        var crc = CRC64NVME()
        crc.update(bytes)
        return crc.value
    }
}

/// Joins the CRCs of consecutive byte runs into the CRC of the whole, without the bytes: CRC(A)
/// advanced over |B| zero bytes is a multiplication by x^(8|B|) modulo the polynomial (as zlib's
/// `crc32_combine`). Holds for any reflected CRC whose initial value and final xor are all ones,
/// so for CRC-32, CRC-32C and CRC-64/NVME alike. Values and arithmetic live in the low `width` bits.
public struct CRCCombiner: Sendable {
    let polynomial: UInt64
    /// x^0 in the reflected representation.
    let one: UInt64
    /// x^(2^k) modulo the polynomial, k = 0..<64.
    let powers: [UInt64]
    /// How many bytes a value has on the wire (big-endian).
    let byteCount: Int

    init(width: Int, reflectedPolynomial: UInt64) {
        polynomial = reflectedPolynomial
        byteCount = width / 8
        let one: UInt64 = 1 << UInt64(width - 1)
        self.one = one
        var powers: [UInt64] = [one >> 1]  // x^1
        for _ in 1..<64 {
            let last = powers[powers.count - 1]
            powers.append(Self.multiply(last, last, reflectedPolynomial, one: one))
        }
        self.powers = powers
    }

    static let crc32 = CRCCombiner(width: 32, reflectedPolynomial: 0xEDB8_8320)
    static let crc32c = CRCCombiner(width: 32, reflectedPolynomial: 0x82F6_3B78)
    static let crc64nvme = CRCCombiner(width: 64, reflectedPolynomial: CRC64NVME.reflectedPolynomial)

    /// a · b modulo the polynomial, in the reflected representation (bit `one` is x^0).
    static func multiply(_ a: UInt64, _ b: UInt64, _ polynomial: UInt64, one: UInt64) -> UInt64 {
        guard a != 0 else { return 0 }
        var mask = one
        var product: UInt64 = 0
        var b = b
        while true {
            if a & mask != 0 {
                product ^= b
                if a & (mask &- 1) == 0 { break }
            }
            mask >>= 1
            b = b & 1 == 1 ? (b >> 1) ^ polynomial : b >> 1
        }
        return product
    }

    func multiply(_ a: UInt64, _ b: UInt64) -> UInt64 { Self.multiply(a, b, polynomial, one: one) }

    /// x^(8 · count) modulo the polynomial.
    func shift(bytes count: Int64) -> UInt64 {
        var result = one
        var n = UInt64(count)
        var k = 3
        while n != 0 {
            if n & 1 == 1 { result = multiply(powers[k], result) }
            n >>= 1
            k += 1
        }
        return result
    }

    /// The CRC of A followed by B, from CRC(A), CRC(B) and B's length.
    public func combine(_ first: UInt64, _ second: UInt64, secondLength: Int64) -> UInt64 {
        multiply(shift(bytes: secondLength), first) ^ second
    }
}

/// The checksum algorithms S3 names (`x-amz-checksum-algorithm`, `x-amz-checksum-<name>`).
public enum ChecksumAlgorithm: String, Sendable, CaseIterable {
    case crc32 = "CRC32"
    case crc32c = "CRC32C"
    case crc64nvme = "CRC64NVME"
    case sha1 = "SHA1"
    case sha256 = "SHA256"

    /// The request and response header that carries a value: `x-amz-checksum-crc32`.
    public var headerName: String { "x-amz-checksum-" + rawValue.lowercased() }
    /// The XML element that carries a value: `ChecksumCRC32`.
    public var elementName: String { "Checksum" + rawValue }
    public var digest: ObjectDigest.Algorithms {
        switch self {
        case .crc32: .crc32
        case .crc32c: .crc32c
        case .crc64nvme: .crc64nvme
        case .sha1: .sha1
        case .sha256: .sha256
        }
    }
    /// A CRC can be joined part by part into the whole object's (`FULL_OBJECT`); a hash cannot.
    public var combiner: CRCCombiner? {
        switch self {
        case .crc32: .crc32
        case .crc32c: .crc32c
        case .crc64nvme: .crc64nvme
        case .sha1, .sha256: nil
        }
    }
    /// The types S3 allows with it; the first is the default.
    public var types: [ChecksumType] {
        switch self {
        case .crc32, .crc32c: [.composite, .fullObject]
        case .crc64nvme: [.fullObject]
        case .sha1, .sha256: [.composite]
        }
    }

    public init?(headerName: String) {
        guard let match = Self.allCases.first(where: { $0.headerName == headerName }) else { return nil }
        self = match
    }

    /// The value's bytes (a CRC big-endian), from a digest that computed it.
    public func bytes(in result: ObjectDigest.Result) -> [UInt8]? {
        switch self {
        case .crc32: result.crc32.map(bigEndianBytes)
        case .crc32c: result.crc32c.map(bigEndianBytes)
        case .crc64nvme: result.crc64nvme.map(bigEndianBytes)
        case .sha1: result.sha1
        case .sha256: result.sha256
        }
    }

    public func base64(in result: ObjectDigest.Result) -> String? { bytes(in: result).map(Base64.encode) }

    /// The checksum of `bytes` (a composite checksum is this over the parts' checksums).
    public func bytes(of input: [UInt8]) -> [UInt8] {
        var digest = ObjectDigest(self.digest)
        digest.update(input)
        return bytes(in: digest.finalize()) ?? []
    }
}

/// How a multipart object's checksum covers it: a checksum of the parts' checksums (`-N` after
/// it), or the checksum of the whole object's bytes.
public enum ChecksumType: String, Sendable {
    case composite = "COMPOSITE"
    case fullObject = "FULL_OBJECT"
}

/// What a multipart upload was created to checksum, and how the object's checksum is made.
public struct MultipartChecksum: Sendable, Equatable {
    public var algorithm: ChecksumAlgorithm
    public var type: ChecksumType

    public init(algorithm: ChecksumAlgorithm, type: ChecksumType) {
        self.algorithm = algorithm
        self.type = type
    }

    /// Where an upload keeps it: beside its headers, never sent back as object metadata.
    public static let algorithmHeader = "x-amz-checksum-algorithm"
    public static let typeHeader = "x-amz-checksum-type"

    /// What an upload keeps, and CreateMultipartUpload answers: the inverse of `init?(_:)`.
    public var uploadHeaders: [(name: String, value: String)] {
        [(Self.algorithmHeader, algorithm.rawValue), (Self.typeHeader, type.rawValue)]
    }

    public init?(_ headers: ObjectHeaders) {
        guard let name = headers[Self.algorithmHeader], let algorithm = ChecksumAlgorithm(rawValue: name),
            let type = headers[Self.typeHeader].flatMap(ChecksumType.init(rawValue:))
        else { return nil }
        self.init(algorithm: algorithm, type: type)
    }

    /// The object's checksum from its parts' (each the raw value, with the part's size), as S3
    /// writes it: base64, and `-N` after a composite one. nil when a part's is malformed.
    public func objectChecksum(parts: [(checksum: [UInt8], size: Int64)]) -> String? {
        switch type {
        case .composite:
            return Base64.encode(algorithm.bytes(of: parts.flatMap(\.checksum))) + "-\(parts.count)"
        case .fullObject:
            guard let combiner = algorithm.combiner else { return nil }
            var whole: UInt64?
            for part in parts {
                guard part.checksum.count == combiner.byteCount else { return nil }
                let value = part.checksum.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                whole = whole.map { combiner.combine($0, value, secondLength: part.size) } ?? value
            }
            guard let whole else { return nil }
            return Base64.encode(Array(bigEndianBytes(whole).suffix(combiner.byteCount)))
        }
    }
}

func bigEndianBytes(_ value: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
}

func bigEndianBytes(_ value: UInt32) -> [UInt8] {
    [
        UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
        UInt8(truncatingIfNeeded: value),
    ]
}

/// The digests of an object's bytes, computed in one pass: each buffer is fed to every enabled
/// algorithm while it is hot in cache. MD5 makes the ETag and checks `Content-MD5`; SHA-256 checks
/// `x-amz-content-sha256` and `x-amz-checksum-sha256`; the CRCs check `x-amz-checksum-crc32(c)`.
public struct ObjectDigest: Sendable {
    public struct Algorithms: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let md5 = Algorithms(rawValue: 1)
        public static let sha256 = Algorithms(rawValue: 2)
        public static let crc32 = Algorithms(rawValue: 4)
        public static let crc32c = Algorithms(rawValue: 8)
        public static let sha1 = Algorithms(rawValue: 16)
        public static let crc64nvme = Algorithms(rawValue: 32)
        public static let all: Algorithms = [.md5, .sha256, .crc32, .crc32c, .sha1, .crc64nvme]
    }

    /// The finished digests; nil for an algorithm that was not enabled.
    public struct Result: Sendable, Equatable {
        public var byteCount: Int64
        public var md5: [UInt8]?
        public var sha256: [UInt8]?
        public var crc32: UInt32?
        public var crc32c: UInt32?
        public var sha1: [UInt8]? = nil
        public var crc64nvme: UInt64? = nil

        /// Lower-case hex MD5: the ETag of a single-part object (without quotes).
        public var md5Hex: String? { md5?.hexString }
        /// Base64 MD5, as `Content-MD5` carries it.
        public var md5Base64: String? { md5.map(Base64.encode) }
        public var sha256Hex: String? { sha256?.hexString }
        /// Base64 SHA-256, as `x-amz-checksum-sha256` carries it.
        public var sha256Base64: String? { sha256.map(Base64.encode) }
        public var crc32Base64: String? { crc32.map { Base64.encode(bigEndianBytes($0)) } }
        public var crc32cBase64: String? { crc32c.map { Base64.encode(bigEndianBytes($0)) } }
    }

    public let algorithms: Algorithms
    public private(set) var byteCount: Int64 = 0
    private var md5 = Insecure.MD5()
    private var sha256 = SHA256()
    private var crc32 = CRC32()
    private var crc32c = CRC32C()
    private var sha1 = Insecure.SHA1()
    private var crc64nvme = CRC64NVME()

    public init(_ algorithms: Algorithms = .all) {
        self.algorithms = algorithms
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        byteCount += Int64(bytes.count)
        if algorithms.contains(.md5) { md5.update(bufferPointer: bytes) }
        if algorithms.contains(.sha256) { sha256.update(bufferPointer: bytes) }
        if algorithms.contains(.crc32) { crc32.update(bytes) }
        if algorithms.contains(.crc32c) { crc32c.update(bytes) }
        if algorithms.contains(.sha1) { sha1.update(bufferPointer: bytes) }
        if algorithms.contains(.crc64nvme) { crc64nvme.update(bytes) }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digests of the bytes so far (the accumulator itself is unchanged).
    public func finalize() -> Result {
        Result(
            byteCount: byteCount,
            md5: algorithms.contains(.md5) ? Array(md5.finalize()) : nil,
            sha256: algorithms.contains(.sha256) ? Array(sha256.finalize()) : nil,
            crc32: algorithms.contains(.crc32) ? crc32.value : nil,
            crc32c: algorithms.contains(.crc32c) ? crc32c.value : nil,
            sha1: algorithms.contains(.sha1) ? Array(sha1.finalize()) : nil,
            crc64nvme: algorithms.contains(.crc64nvme) ? crc64nvme.value : nil)
    }
}

/// Standard base64 (RFC 4648, with padding), without Foundation.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let group = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(group >> 18)])
            out.append(alphabet[Int((group >> 12) & 63)])
            out.append(index + 1 < bytes.count ? alphabet[Int((group >> 6) & 63)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(group & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict decoding: padded, no whitespace, no bits left over; nil otherwise.
    public static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let last = index + 4 == input.count
            var group: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let byte = input[index + offset]
                if byte == UInt8(ascii: "=") {
                    guard last, offset >= 2 else { return nil }
                    padding += 1
                    group <<= 6
                } else {
                    guard padding == 0, let value = value(of: byte) else { return nil }
                    group = group << 6 | UInt32(value)
                }
            }
            out.append(UInt8(group >> 16))
            if padding < 2 { out.append(UInt8(truncatingIfNeeded: group >> 8)) }
            if padding < 1 { out.append(UInt8(truncatingIfNeeded: group)) }
            // Canonical form: the bits the padding hides must be zero.
            if padding == 1, group & 0xFF != 0 { return nil }
            if padding == 2, group & 0xFFFF != 0 { return nil }
            index += 4
        }
        return out
    }

    private static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
