import CairnCore
import Foundation
import Hummingbird
import NIOCore

/// Reads a request's JSON object body and its typed fields, collecting every problem so the
/// client gets one 400 naming them all. Unknown fields are ignored, as the reference servers do.
public struct BodyReader {
    public let object: JSONObject
    public private(set) var issues: [ValidationIssue] = []

    public init(object: JSONObject) { self.object = object }

    /// Reads the body. `allowEmpty` treats an empty body as `{}`; otherwise an empty body,
    /// malformed JSON or a non-object is a 400.
    public static func read(_ request: inout Request, limit: Int, allowEmpty: Bool = false) async throws -> BodyReader {
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "request body too large", { $0.field("limit", limit) })
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // The body stopped arriving (connection reset, read timeout): not a size problem.
            throw APIError(.badRequest, "request body could not be read: the upload was interrupted")
        }
        if buffer.readableBytes == 0
            || buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 })
        {
            if allowEmpty { return BodyReader(object: JSONObject()) }
            throw APIError.invalidBody([
                ValidationIssue(path: [], message: "request body is empty; expected a JSON object")
            ])
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes: Array(buffer.readableBytesView))
        } catch let error as JSONParseError {
            throw APIError.invalidBody([ValidationIssue(path: [], message: "malformed JSON: \(error)")])
        }
        guard case .object(let object) = value else {
            throw APIError.invalidBody([ValidationIssue(path: [], message: "expected a JSON object")])
        }
        return BodyReader(object: object)
    }

    public mutating func fail(_ key: String, _ message: String) {
        issues.append(ValidationIssue(path: [key], message: message))
    }

    /// Takes a nested object's issues under `key` (their paths start with it).
    public mutating func adopt(_ nested: BodyReader, under key: String) {
        issues += nested.issues.map { ValidationIssue(path: [key] + $0.path, message: $0.message) }
    }

    /// Throws the collected issues, if any.
    public func validate(code: String? = nil) throws {
        if !issues.isEmpty { throw APIError.invalidBody(issues, code: code) }
    }

    /// Present and not null.
    private func present(_ key: String) -> JSONValue? {
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    /// For protocols whose bodies are closed: every key not in `allowed` is an issue.
    public mutating func rejectUnknownFields(allowed: Set<String>) {
        for key in object.keys where !allowed.contains(key) { fail(key, "unknown field") }
    }

    public mutating func requiredString(_ key: String, minLength: Int = 1, maxLength: Int? = nil) -> String {
        guard let v = object[key] else {
            fail(key, "required")
            return ""
        }
        guard let s = v.stringValue else {
            fail(key, "expected a string")
            return ""
        }
        if s.count < minLength { fail(key, "must be at least \(minLength) character(s)") }
        if let maxLength, s.count > maxLength { fail(key, "must be at most \(maxLength) characters") }
        return s
    }

    /// Optional; `null` counts as absent.
    public mutating func string(_ key: String, minLength: Int = 0, maxLength: Int? = nil) -> String? {
        guard let v = present(key) else { return nil }
        guard let s = v.stringValue else {
            fail(key, "expected a string")
            return nil
        }
        if s.count < minLength { fail(key, "must be at least \(minLength) character(s)") }
        if let maxLength, s.count > maxLength { fail(key, "must be at most \(maxLength) characters") }
        return s
    }

    /// The largest magnitude any number from the wire may have unless a field says less:
    /// JavaScript's `Number.MAX_SAFE_INTEGER`, so every accepted value is exact in a double,
    /// in the SDKs, and leaves room for arithmetic in `Int64` without overflow.
    public static let maxMagnitude = 9_007_199_254_740_991

    /// An integer within `min...max`, each defaulting to ±`maxMagnitude`.
    public mutating func int(_ key: String, min: Int? = nil, max: Int? = nil) -> Int? {
        guard let v = present(key) else { return nil }
        guard case .number = v, let i = v.intValue else {
            fail(key, "expected an integer")
            return nil
        }
        let lower = min ?? -Self.maxMagnitude
        let upper = max ?? Self.maxMagnitude
        if i < lower {
            fail(key, "must be >= \(lower)")
            return nil
        }
        if i > upper {
            fail(key, "must be <= \(upper)")
            return nil
        }
        return i
    }

    /// An integer within `range`.
    public mutating func int(_ key: String, in range: ClosedRange<Int>) -> Int? {
        int(key, min: range.lowerBound, max: range.upperBound)
    }

    /// A finite number within `min...max`, each defaulting to ±`maxMagnitude`.
    public mutating func number(_ key: String, min: Double? = nil, max: Double? = nil) -> Double? {
        guard let v = present(key) else { return nil }
        guard case .number = v, let d = v.doubleValue, d.isFinite else {
            fail(key, "expected a number")
            return nil
        }
        let lower = min ?? -Double(Self.maxMagnitude)
        let upper = max ?? Double(Self.maxMagnitude)
        if d < lower {
            fail(key, "must be >= \(JSONValue.format(double: lower))")
            return nil
        }
        if d > upper {
            fail(key, "must be <= \(JSONValue.format(double: upper))")
            return nil
        }
        return d
    }

    public mutating func bool(_ key: String) -> Bool? {
        guard let v = present(key) else { return nil }
        guard let b = v.boolValue else {
            fail(key, "expected a boolean")
            return nil
        }
        return b
    }

    public mutating func object(_ key: String) -> JSONObject? {
        guard let v = present(key) else { return nil }
        guard let o = v.objectValue else {
            fail(key, "expected an object")
            return nil
        }
        return o
    }

    public mutating func array(_ key: String) -> [JSONValue]? {
        guard let v = present(key) else { return nil }
        guard let a = v.arrayValue else {
            fail(key, "expected an array")
            return nil
        }
        return a
    }

    /// Any JSON value, as sent (absent is nil, `null` is `.null`).
    public func any(_ key: String) -> JSONValue? { object[key] }

    public mutating func enumValue<E: RawRepresentable>(_ key: String, _ type: E.Type, allowed: [String]) -> E?
    where E.RawValue == String {
        guard let s = string(key) else { return nil }
        guard let e = E(rawValue: s) else {
            fail(key, "must be one of \(allowed.joined(separator: ", "))")
            return nil
        }
        return e
    }

    /// An absolute http(s) URL.
    public mutating func url(_ key: String) -> String? {
        guard let s = string(key) else { return nil }
        guard BodyReader.isHTTPURL(s) else {
            fail(key, "expected an absolute http(s) URL")
            return nil
        }
        return s
    }

    public static func isHTTPURL(_ s: String) -> Bool {
        let lower = s.lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") {
            rest = lower.dropFirst(7)
        } else if lower.hasPrefix("https://") {
            rest = lower.dropFirst(8)
        } else {
            return false
        }
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return !host.isEmpty && !s.contains(where: { $0 == " " || $0 == "\n" })
    }
}

extension Request {
    /// A path parameter, percent-decoded.
    public func pathParameter(_ name: String, _ context: some RequestContext) throws -> String {
        guard let raw = context.parameters.get(name) else {
            throw APIError(.badRequest, "missing path parameter \(name)")
        }
        // Most parameters (ids) have nothing to decode; Foundation's decoding costs microseconds.
        guard raw.utf8.contains(UInt8(ascii: "%")) else { return raw }
        guard let decoded = raw.removingPercentEncoding else {
            throw APIError(.badRequest, "malformed path parameter \(name)")
        }
        return decoded
    }
}
