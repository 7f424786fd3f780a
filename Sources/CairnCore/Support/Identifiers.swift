/// Server-issued identifiers: a type prefix and 32 lowercase hex characters (128 random bits),
/// the same shape the Tidebase server gives its ids.
public enum Identifier {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    public static func make(_ prefix: String) -> String { prefix + randomHex() }

    /// 32 hex characters of cryptographically secure randomness.
    public static func randomHex() -> String {
        var rng = SystemRandomNumberGenerator()
        var out = [UInt8]()
        out.reserveCapacity(32)
        for _ in 0..<2 {
            var v = rng.next() as UInt64
            for _ in 0..<16 {
                out.append(hex[Int(v & 0xF)])
                v >>= 4
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A dashed, lowercase UUID v4 string (lease owners the server makes up).
    public static func uuidString() -> String {
        var rng = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        var out = [UInt8]()
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
