/// A JSON document as clients sent it.
///
/// Numbers keep their literal text so that `1.0`, `1e3` and integers beyond 2^53 round-trip
/// byte for byte; objects keep their key order (the last of duplicate keys wins, as in
/// `JSON.parse`). User payloads (inputs, outputs, state) are stored and returned through this
/// type without loss.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public static let emptyObject = JSONValue.object(JSONObject())

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var doubleValue: Double? { if case .number(let n) = self { return Double(n) } else { return nil } }

    /// The value as an exact integer, if it is a number without fraction or exponent that fits.
    public var intValue: Int? {
        guard case .number(let n) = self else { return nil }
        if let i = Int(n) { return i }
        // Accept integral literals such as 5.0 or 1e3, as JavaScript does.
        if let d = Double(n), d.rounded() == d, abs(d) < 9.0e15 { return Int(d) }
        return nil
    }

    public static func int(_ value: Int) -> JSONValue { .number(String(value)) }
    public static func double(_ value: Double) -> JSONValue { .number(JSONValue.format(double: value)) }

    /// Formats a double the way JavaScript prints numbers for the common cases: integral values
    /// without a fraction.
    public static func format(double value: Double) -> String {
        if value.isNaN || value.isInfinite { return "null" }
        // Integral values print without a fraction; `Int64(exactly:)` so one beyond Int64 never traps.
        if abs(value) < 1e21, let integral = Int64(exactly: value) {
            return String(integral)
        }
        return "\(value)"
    }
}

/// An ordered JSON object.
///
/// Keys keep insertion order (the wire preserves it); past a handful of keys a dictionary from
/// key to position makes lookups and updates constant time, so parsing or merging an object of
/// n keys is O(n) rather than O(n²). The fields live in one copy-on-write box, so an object
/// takes one word inside a `JSONValue` (a parsed body of many small values stays compact) and
/// an empty object allocates nothing.
public struct JSONObject: Sendable, Equatable {
    /// Mutated only through `mutableStorage()`, i.e. when uniquely referenced.
    private final class Storage: @unchecked Sendable {
        var keys: [String] = []
        var values: [JSONValue] = []
        /// Position of each key in `keys`; built once the object outgrows a linear scan.
        var positions: [String: Int]?

        init() {}

        init(copying other: Storage) {
            keys = other.keys
            values = other.values
            positions = other.positions
        }
    }

    private static let emptyStorage = Storage()
    private var storage = JSONObject.emptyStorage

    /// Up to this many keys, a linear scan is cheaper than hashing.
    static let linearScanLimit = 16

    public init() {}

    /// An object from distinct keys in order; `positions`, when given, indexes exactly them.
    init(uniqueKeys keys: [String], values: [JSONValue], positions: [String: Int]?) {
        let s = Storage()
        s.keys = keys
        s.values = values
        s.positions = positions
        JSONObject.indexIfLarge(s)
        storage = s
    }

    public init(_ pairs: [(String, JSONValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public var keys: [String] { storage.keys }
    public var values: [JSONValue] { storage.values }
    public var count: Int { storage.keys.count }
    public var isEmpty: Bool { storage.keys.isEmpty }

    /// Whether lookups go through the key index (large objects).
    var isIndexed: Bool { storage.positions != nil }

    private func position(of key: String) -> Int? {
        if let positions = storage.positions { return positions[key] }
        return storage.keys.firstIndex(of: key)
    }

    private mutating func mutableStorage() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(copying: storage) }
        return storage
    }

    public subscript(key: String) -> JSONValue? {
        get {
            guard let i = position(of: key) else { return nil }
            return storage.values[i]
        }
        set {
            if let i = position(of: key) {
                let s = mutableStorage()
                if let newValue {
                    s.values[i] = newValue
                } else {
                    s.keys.remove(at: i)
                    s.values.remove(at: i)
                    // Removal shifts the later keys: rebuild (rare; never on the request paths).
                    s.positions = nil
                    JSONObject.indexIfLarge(s)
                }
            } else if let newValue {
                let s = mutableStorage()
                s.keys.append(key)
                s.values.append(newValue)
                if s.positions != nil {
                    s.positions![key] = s.keys.count - 1
                } else {
                    JSONObject.indexIfLarge(s)
                }
            }
        }
    }

    private static func indexIfLarge(_ s: Storage) {
        guard s.positions == nil, s.keys.count > linearScanLimit else { return }
        var index = [String: Int](minimumCapacity: s.keys.count * 2)
        for (i, k) in s.keys.enumerated() { index[k] = i }
        s.positions = index
    }

    public var pairs: Zip2Sequence<[String], [JSONValue]> { zip(storage.keys, storage.values) }

    /// Top-level merge: keys of `other` replace or extend ours (jsonb `||`). Linear in both sizes.
    public func merging(_ other: JSONObject) -> JSONObject {
        var result = self
        for (k, v) in other.pairs { result[k] = v }
        return result
    }

    /// Equal when keys, their order and values are; the index is derived and not compared.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.storage === rhs.storage || (lhs.keys == rhs.keys && lhs.values == rhs.values)
    }
}

extension JSONValue {
    /// Compact JSON text.
    public var jsonText: String {
        var out = JSONWriter()
        out.value(self)
        return out.string
    }

    /// Compact JSON with object keys sorted recursively (by code point, as Python's `sorted` does).
    /// Used for step input hashes, so hashes agree with the Tidebase SDKs.
    public var stableText: String {
        var out = JSONWriter()
        out.stableValue(self)
        return out.string
    }
}

public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// It reads the bytes through one unsafe buffer for the whole parse (no per-byte bounds checks
/// or reference counting; every index is checked against `bytes.count` by hand) and builds each
/// object's storage in one pass.
public struct JSONParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    /// The members of the arrays and objects being parsed, innermost last: each container
    /// copies its own out once, at its exact size, instead of growing an array of its own.
    private var valueStack: [JSONValue] = []
    private var keyStack: [String] = []
    private static let maxDepth = 512

    public static func parse(_ text: String) throws -> JSONValue {
        try parse(bytes: Array(text.utf8))
    }

    public static func parse(bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer)
            parser.skipWhitespace()
            let value = try parser.parseValue()
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.error("unexpected trailing characters") }
            return value
        }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func error(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: index) }

    private func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    private mutating func expect(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end of input") }
        let ok = word.withUTF8Buffer { w in
            for i in 0..<count where bytes[index + i] != w[i] { return false }
            return true
        }
        guard ok else { throw error("invalid literal") }
        index += count
    }

    private mutating func enter() throws {
        depth += 1
        if depth > JSONParser.maxDepth { throw error("nesting too deep") }
    }

    private mutating func parseObject() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(JSONObject())
        }
        let base = keyStack.count
        let valueBase = valueStack.count
        defer {
            keyStack.removeSubrange(base...)
            valueStack.removeSubrange(valueBase...)
        }
        var positions: [String: Int]?
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected object key") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            // The last of duplicate keys wins, in the first one's place (as `JSON.parse` does).
            let existing =
                positions != nil ? positions![key] : keyStack[base...].firstIndex(of: key).map { $0 - base }
            if let existing {
                valueStack[valueBase + existing] = value
            } else {
                keyStack.append(key)
                valueStack.append(value)
                let count = keyStack.count - base
                if positions != nil {
                    positions![key] = count - 1
                } else if count > JSONObject.linearScanLimit {
                    positions = Dictionary(uniqueKeysWithValues: zip(keyStack[base...], 0..<count))
                }
            }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(
                    JSONObject(
                        uniqueKeys: Array(keyStack[base...]), values: Array(valueStack[valueBase...]),
                        positions: positions))
            }
            throw error("expected ',' or '}'")
        }
    }

    private mutating func parseArray() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array([])
        }
        let base = valueStack.count
        defer { valueStack.removeSubrange(base...) }
        while true {
            skipWhitespace()
            let item = try parseValue()
            valueStack.append(item)
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(Array(valueStack[base...]))
            }
            throw error("expected ',' or ']'")
        }
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw error("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if isDigit(bytes[index]) {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        } else {
            throw error("invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        return .number(text(start..<index))
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    private mutating func parseString() throws -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes. Skip eight plain bytes at a time while no byte of the word is
        // a quote, a backslash or a control character (the classic "has zero byte" bit trick).
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        if let base = bytes.baseAddress {
            while index + 8 <= bytes.count {
                let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                let special =
                    ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
                if special & highs != 0 { break }
                index += 8
            }
        }
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let s = text(start..<index)
                index += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character in string") }
            index += 1
        }
        var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw error("control character in string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { break }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if scalar >= 0xD800, scalar < 0xDC00 {
                    // A high surrogate must be followed by an escaped low surrogate.
                    if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    {
                        index += 2
                        let low = try parseHex4()
                        if low >= 0xDC00, low < 0xE000 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if scalar >= 0xDC00, scalar < 0xE000 {
                    scalar = 0xFFFD
                }
                let unicode = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            default:
                throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("invalid unicode escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case 0x30...0x39: digit = UInt32(b - 0x30)
            case 0x41...0x46: digit = UInt32(b - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(b - 0x61 + 10)
            default: throw error("invalid unicode escape")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }
}
