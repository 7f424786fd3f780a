/// S3's XML: a small writer for response documents and a small, bounded reader for request bodies
/// (CompleteMultipartUpload, Delete, VersioningConfiguration, LifecycleConfiguration,
/// CreateBucketConfiguration, …).
public enum S3XML {
    public static let declaration = #"<?xml version="1.0" encoding="UTF-8"?>"#
    /// The namespace S3 puts on the root element of its documents.
    public static let namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

    /// Escapes text for element content or an attribute value: `& < > " '` become entities, and the
    /// control characters XML cannot carry literally become character references (`\r` too, so a
    /// parser's newline normalisation does not change it).
    public static func escape(_ text: String) -> String {
        let needs = text.utf8.contains { byte in
            switch byte {
            case 0x09, 0x0A: false
            case 0..<0x20, UInt8(ascii: "&"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\""),
                UInt8(ascii: "'"):
                true
            default: false
            }
        }
        guard needs else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 16)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
            case UInt8(ascii: "'"): out.append(contentsOf: "&apos;".utf8)
            case 0x09, 0x0A: out.append(byte)
            case 0..<0x20:
                let hex = Array("0123456789ABCDEF".utf8)
                out.append(contentsOf: "&#x".utf8)
                if byte >= 0x10 { out.append(hex[Int(byte >> 4)]) }
                out.append(hex[Int(byte & 0x0F)])
                out.append(UInt8(ascii: ";"))
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses a request body into its root element; throws `MalformedXML` for anything that is not
    /// well-formed, a DOCTYPE (no entity definitions, so no XXE or entity expansion), nesting deeper
    /// than `maxDepth` or more than `maxElements` elements. The input's size is the caller's to bound.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 32, maxElements: Int = 100_000) throws
        -> S3XMLElement
    {
        var parser = S3XMLParser(bytes: bytes, maxDepth: maxDepth, maxElements: maxElements)
        return try parser.document()
    }

    public static func parse(_ text: String, maxDepth: Int = 32, maxElements: Int = 100_000) throws -> S3XMLElement {
        try parse(Array(text.utf8), maxDepth: maxDepth, maxElements: maxElements)
    }
}

/// Builds an XML document: `S3XML.declaration`, then elements opened, filled and closed in order.
///
///     var xml = S3XMLWriter()
///     xml.open("ListAllMyBucketsResult", xmlns: S3XML.namespace)
///     xml.element("ID", ownerID)
///     xml.close("ListAllMyBucketsResult")
///     let body = xml.document
public struct S3XMLWriter: Sendable {
    public private(set) var document: String

    public init(declaration: Bool = true) {
        document = declaration ? S3XML.declaration : ""
        document.reserveCapacity(512)
    }

    public mutating func open(_ name: String, xmlns: String? = nil) {
        document += "<" + name
        if let xmlns { document += " xmlns=\"" + S3XML.escape(xmlns) + "\"" }
        document += ">"
    }

    /// `<name a="v" …>`, the values escaped (an ACL's `Grantee` carries its `xsi:type`).
    public mutating func open(_ name: String, attributes: KeyValuePairs<String, String>) {
        document += "<" + name
        for (attribute, value) in attributes { document += " " + attribute + "=\"" + S3XML.escape(value) + "\"" }
        document += ">"
    }

    public mutating func close(_ name: String) {
        document += "</" + name + ">"
    }

    /// `<name>text</name>`, the text escaped.
    public mutating func element(_ name: String, _ text: String) {
        document += "<" + name + ">" + S3XML.escape(text) + "</" + name + ">"
    }

    public mutating func element(_ name: String, _ value: Int64) {
        element(name, String(value))
    }

    public mutating func element(_ name: String, _ value: Int) {
        element(name, String(value))
    }

    public mutating func element(_ name: String, _ value: Bool) {
        element(name, value ? "true" : "false")
    }

    /// The element only when there is a value.
    public mutating func element(_ name: String, ifPresent text: String?) {
        if let text { element(name, text) }
    }

    /// `<name>…</name>` around what `body` writes.
    public mutating func element(_ name: String, xmlns: String? = nil, _ body: (inout S3XMLWriter) -> Void) {
        open(name, xmlns: xmlns)
        body(&self)
        close(name)
    }

    /// A parsed element written back: its children, or its text when it has none.
    public mutating func element(_ parsed: S3XMLElement, xmlns: String? = nil) {
        element(parsed.name, xmlns: xmlns) { w in
            if parsed.children.isEmpty { w.document += S3XML.escape(parsed.text) }
            for child in parsed.children { w.element(child) }
        }
    }
}

/// An element of a parsed document: its local name (any `prefix:` dropped), its child elements in
/// order, and the character data directly inside it (entities decoded, whitespace kept).
public struct S3XMLElement: Sendable, Equatable {
    public var name: String
    public var children: [S3XMLElement]
    public var text: String

    public init(name: String, children: [S3XMLElement] = [], text: String = "") {
        self.name = name
        self.children = children
        self.text = text
    }

    /// The first child element named `name`.
    public func child(_ name: String) -> S3XMLElement? {
        children.first { $0.name == name }
    }

    /// Every child element named `name`, in order.
    public func children(_ name: String) -> [S3XMLElement] {
        children.filter { $0.name == name }
    }

    /// The text of the first child named `name`.
    public func childText(_ name: String) -> String? {
        child(name)?.text
    }
}

/// A recursive-descent parser of the XML subset requests use; recursion is bounded by `maxDepth`.
struct S3XMLParser {
    let bytes: [UInt8]
    let maxDepth: Int
    let maxElements: Int
    var index = 0
    var elements = 0

    init(bytes: [UInt8], maxDepth: Int, maxElements: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.maxElements = maxElements
    }

    static func fail(_ detail: String) -> S3Error {
        S3Error.malformedXML(
            "The XML you provided was not well-formed or did not validate against our published schema: " + detail)
    }

    mutating func document() throws -> S3XMLElement {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        try misc()
        guard peek(UInt8(ascii: "<")) else { throw Self.fail("no root element") }
        let root = try element(depth: 1)
        try misc()
        guard index == bytes.count else { throw Self.fail("content after the root element") }
        return root
    }

    /// Whitespace, comments and processing instructions (the XML declaration among them).
    mutating func misc() throws {
        while true {
            skipWhitespace()
            if starts("<?") {
                try skipPast("?>")
            } else if starts("<!--") {
                try comment()
            } else if starts("<!") {
                throw Self.fail("DOCTYPE and other declarations are not allowed")
            } else {
                return
            }
        }
    }

    mutating func element(depth: Int) throws -> S3XMLElement {
        guard depth <= maxDepth else { throw Self.fail("elements nested deeper than \(maxDepth)") }
        elements += 1
        guard elements <= maxElements else { throw Self.fail("more than \(maxElements) elements") }
        index += 1  // "<"
        let qualified = try name()
        // Attributes are skipped, but must be well-formed.
        while true {
            let hadSpace = skipWhitespace()
            guard index < bytes.count else { throw Self.fail("unclosed start tag <\(qualified)>") }
            if starts("/>") {
                index += 2
                return S3XMLElement(name: Self.localName(qualified))
            }
            if bytes[index] == UInt8(ascii: ">") {
                index += 1
                break
            }
            guard hadSpace else { throw Self.fail("malformed start tag <\(qualified)>") }
            _ = try name()
            skipWhitespace()
            guard peek(UInt8(ascii: "=")) else { throw Self.fail("attribute without a value in <\(qualified)>") }
            index += 1
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'")
            else { throw Self.fail("unquoted attribute in <\(qualified)>") }
            let quote = bytes[index]
            index += 1
            while index < bytes.count && bytes[index] != quote {
                guard bytes[index] != UInt8(ascii: "<") else { throw Self.fail("'<' in an attribute value") }
                index += 1
            }
            guard index < bytes.count else { throw Self.fail("unterminated attribute in <\(qualified)>") }
            index += 1
        }
        var result = S3XMLElement(name: Self.localName(qualified))
        var text: [UInt8] = []
        while true {
            guard index < bytes.count else { throw Self.fail("unclosed element <\(qualified)>") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "<") {
                if starts("</") {
                    index += 2
                    let closing = try name()
                    skipWhitespace()
                    guard closing == qualified, peek(UInt8(ascii: ">")) else {
                        throw Self.fail("</\(closing)> does not close <\(qualified)>")
                    }
                    index += 1
                    guard let decoded = String(validating: text, as: UTF8.self) else {
                        throw Self.fail("text that is not UTF-8")
                    }
                    result.text = decoded
                    return result
                } else if starts("<!--") {
                    try comment()
                } else if starts("<![CDATA[") {
                    index += 9
                    let start = index
                    try skipPast("]]>")
                    text.append(contentsOf: bytes[start..<(index - 3)])
                } else if starts("<?") {
                    try skipPast("?>")
                } else if starts("<!") {
                    throw Self.fail("declarations are not allowed inside elements")
                } else {
                    result.children.append(try element(depth: depth + 1))
                }
            } else if byte == UInt8(ascii: "&") {
                try entity(into: &text)
            } else {
                if byte == UInt8(ascii: ">"), index >= 2, bytes[index - 1] == UInt8(ascii: "]"),
                    bytes[index - 2] == UInt8(ascii: "]")
                {
                    throw Self.fail("']]>' in text")
                }
                text.append(byte)
                index += 1
            }
        }
    }

    /// A name, up to whitespace, `/`, `>` or `=`.
    mutating func name() throws -> String {
        let start = index
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "/"), UInt8(ascii: ">"), UInt8(ascii: "="): break
            case UInt8(ascii: "<"), UInt8(ascii: "&"), UInt8(ascii: "\""), UInt8(ascii: "'"):
                throw Self.fail("invalid character in a name")
            default:
                index += 1
                continue
            }
            break
        }
        guard index > start, index - start <= 256,
            let name = String(validating: bytes[start..<index], as: UTF8.self)
        else { throw Self.fail("missing or invalid name") }
        return name
    }

    static func localName(_ qualified: String) -> String {
        guard let colon = qualified.lastIndex(of: ":") else { return qualified }
        return String(qualified[qualified.index(after: colon)...])
    }

    /// `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#NN;` `&#xHH;`; anything else is refused.
    mutating func entity(into text: inout [UInt8]) throws {
        index += 1
        let start = index
        while index < bytes.count, bytes[index] != UInt8(ascii: ";"), index - start < 12 { index += 1 }
        guard index < bytes.count, bytes[index] == UInt8(ascii: ";") else { throw Self.fail("unterminated entity") }
        let body = Array(bytes[start..<index])
        index += 1
        switch String(decoding: body, as: UTF8.self) {
        case "lt": text.append(UInt8(ascii: "<"))
        case "gt": text.append(UInt8(ascii: ">"))
        case "amp": text.append(UInt8(ascii: "&"))
        case "quot": text.append(UInt8(ascii: "\""))
        case "apos": text.append(UInt8(ascii: "'"))
        default:
            guard body.first == UInt8(ascii: "#"), body.count >= 2 else { throw Self.fail("unknown entity") }
            let hex = body[1] == UInt8(ascii: "x")
            let digits = body.dropFirst(hex ? 2 : 1)
            guard !digits.isEmpty, digits.count <= 8 else { throw Self.fail("malformed character reference") }
            var value: UInt32 = 0
            for digit in digits {
                guard let d = SigV4Verifier.hexValue(digit), hex || d < 10 else {
                    throw Self.fail("malformed character reference")
                }
                value = value * (hex ? 16 : 10) + UInt32(d)
            }
            guard let scalar = Unicode.Scalar(value), value != 0 else {
                throw Self.fail("character reference to an invalid code point")
            }
            text.append(contentsOf: String(Character(scalar)).utf8)
        }
    }

    mutating func comment() throws {
        index += 4
        try skipPast("-->")
    }

    /// Moves past the next occurrence of `terminator`; fails when there is none.
    mutating func skipPast(_ terminator: StaticString) throws {
        let pattern = Array(UnsafeBufferPointer(start: terminator.utf8Start, count: terminator.utf8CodeUnitCount))
        while index + pattern.count <= bytes.count {
            if bytes[index..<(index + pattern.count)].elementsEqual(pattern) {
                index += pattern.count
                return
            }
            index += 1
        }
        throw Self.fail("unterminated comment, CDATA or processing instruction")
    }

    @discardableResult
    mutating func skipWhitespace() -> Bool {
        let start = index
        while index < bytes.count,
            bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D
        {
            index += 1
        }
        return index > start
    }

    func peek(_ byte: UInt8) -> Bool {
        index < bytes.count && bytes[index] == byte
    }

    func starts(_ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        let pointer = prefix.utf8Start
        for offset in 0..<count where bytes[index + offset] != pointer[offset] { return false }
        return true
    }
}
