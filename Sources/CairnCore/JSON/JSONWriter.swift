/// Appends compact JSON to a byte array. Wire shapes are written field by field, so their key
/// order is exactly the order of the calls.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func separate() {
        if let last = needsComma.last {
            if last { bytes.append(UInt8(ascii: ",")) } else { needsComma[needsComma.count - 1] = true }
        }
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes a key; the next value call writes its value.
    public mutating func key(_ key: String) {
        separate()
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
        pendingKey = true
    }

    private var pendingKey = false

    private mutating func beforeValue() {
        if pendingKey {
            pendingKey = false
        } else {
            separate()
        }
    }

    public mutating func null() { beforeValue(); bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C]) }
    public mutating func bool(_ b: Bool) {
        beforeValue()
        if b { bytes.append(contentsOf: Array("true".utf8)) } else { bytes.append(contentsOf: Array("false".utf8)) }
    }
    public mutating func int(_ i: Int) {
        beforeValue()
        // Digits straight into the output, least significant first, then reversed in place.
        if i < 0 { bytes.append(UInt8(ascii: "-")) }
        let start = bytes.count
        var rest = i.magnitude
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        bytes[start...].reverse()
    }
    public mutating func int(_ i: Int?) { if let i { int(i) } else { null() } }
    public mutating func double(_ d: Double) {
        beforeValue(); bytes.append(contentsOf: Array(JSONValue.format(double: d).utf8))
    }
    public mutating func string(_ s: String) { beforeValue(); writeString(s) }
    public mutating func string(_ s: String?) { if let s { string(s) } else { null() } }
    /// Writes already-serialized JSON text verbatim (stored payloads).
    public mutating func raw(_ json: String) { beforeValue(); bytes.append(contentsOf: json.utf8) }
    public mutating func raw(_ json: String?) { if let json { raw(json) } else { null() } }

    public mutating func beginObjectValue() {
        beforeValue()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    public mutating func beginArrayValue() {
        beforeValue()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    /// Writes `key: { ... }` with the body's fields.
    public mutating func object(_ key: String, _ body: (inout JSONWriter) -> Void) {
        self.key(key)
        beginObjectValue()
        body(&self)
        endObject()
    }

    public mutating func field(_ key: String, _ value: String?) { self.key(key); string(value) }
    public mutating func field(_ key: String, _ value: Int?) { self.key(key); int(value) }
    public mutating func field(_ key: String, _ value: Bool) { self.key(key); bool(value) }
    public mutating func field(_ key: String, raw value: String?) { self.key(key); raw(value) }
    public mutating func field(_ key: String, json value: JSONValue?) {
        self.key(key)
        if let value { self.value(value) } else { null() }
    }
    public mutating func field(_ key: String, timestamp value: Timestamp?) {
        self.key(key)
        if let value { string(value.iso8601) } else { null() }
    }

    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n): beforeValue(); bytes.append(contentsOf: n.utf8)
        case .string(let s): string(s)
        case .array(let items):
            beginArrayValue()
            for item in items { self.value(item) }
            endArray()
        case .object(let object):
            beginObjectValue()
            for (k, v) in object.pairs {
                key(k)
                self.value(v)
            }
            endObject()
        }
    }

    mutating func stableValue(_ value: JSONValue) {
        switch value {
        case .array(let items):
            beginArrayValue()
            for item in items { stableValue(item) }
            endArray()
        case .object(let object):
            beginObjectValue()
            let sorted = object.pairs.sorted { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) }
            for (k, v) in sorted {
                key(k)
                stableValue(v)
            }
            endObject()
        case .number(let n):
            // Python's json.dumps prints integers as written and floats via repr.
            beforeValue()
            bytes.append(contentsOf: JSONWriter.canonicalNumber(n).utf8)
        default:
            self.value(value)
        }
    }

    /// The number as Python's `json.dumps` would print the value `json.loads` made of it.
    static func canonicalNumber(_ literal: String) -> String {
        let isInteger = !literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        if isInteger { return literal.hasPrefix("-0") && literal == "-0" ? "0" : literal }
        guard let d = Double(literal) else { return literal }
        return pythonFloatRepr(d)
    }

    /// Python's repr of a float: shortest round-trip digits, with ".0" on integral values and
    /// exponent notation outside 1e-4 ..< 1e16.
    static func pythonFloatRepr(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        var s = "\(d)"  // Swift prints the shortest round-trip form, e.g. 1.0, 0.1, 1e-05, 1e+16
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            var mantissa = String(s[..<e])
            var exponent = String(s[s.index(after: e)...])
            if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
            var sign = "+"
            if exponent.hasPrefix("-") {
                sign = "-"; exponent.removeFirst()
            } else if exponent.hasPrefix("+") {
                exponent.removeFirst()
            }
            while exponent.count > 1, exponent.hasPrefix("0") { exponent.removeFirst() }
            if exponent.count < 2 { exponent = "0" + exponent }
            s = mantissa + "e" + sign + exponent
        }
        return s
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        // Runs of bytes that need no escape are copied in one go (state payloads are mostly such).
        s.withUTF8 { utf8 in
            var runStart = 0
            for (i, b) in utf8.enumerated() where b < 0x20 || b == 0x22 || b == 0x5C {
                if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i])) }
                runStart = i + 1
                switch b {
                case UInt8(ascii: "\""): bytes.append(0x5C); bytes.append(0x22)
                case UInt8(ascii: "\\"): bytes.append(0x5C); bytes.append(0x5C)
                case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(0x5C); bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(0x5C); bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(0x5C); bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(0x5C); bytes.append(UInt8(ascii: "f"))
                default:
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30])
                    bytes.append(JSONWriter.hex[Int(b >> 4)])
                    bytes.append(JSONWriter.hex[Int(b & 0xF)])
                }
            }
            if runStart < utf8.count {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
