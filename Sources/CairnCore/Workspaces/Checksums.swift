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
        public static let all: Algorithms = [.md5, .sha256, .crc32, .crc32c]
    }

    /// The finished digests; nil for an algorithm that was not enabled.
    public struct Result: Sendable, Equatable {
        public var byteCount: Int64
        public var md5: [UInt8]?
        public var sha256: [UInt8]?
        public var crc32: UInt32?
        public var crc32c: UInt32?

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

    public init(_ algorithms: Algorithms = .all) {
        self.algorithms = algorithms
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        byteCount += Int64(bytes.count)
        if algorithms.contains(.md5) { md5.update(bufferPointer: bytes) }
        if algorithms.contains(.sha256) { sha256.update(bufferPointer: bytes) }
        if algorithms.contains(.crc32) { crc32.update(bytes) }
        if algorithms.contains(.crc32c) { crc32c.update(bytes) }
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
            crc32c: algorithms.contains(.crc32c) ? crc32c.value : nil)
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
