import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// One element of an S3 XML answer: its name (namespace prefixes kept as sent), its text and
/// its child elements. S3 answers are small records, so a tree is simpler than a streaming
/// reader; the caller bounds the body's size before parsing.
struct S3XMLElement: Sendable {
    var name: String
    var text = ""
    var children: [S3XMLElement] = []

    init(name: String) { self.name = name }

    func child(_ name: String) -> S3XMLElement? { children.first { $0.name == name } }

    func children(_ name: String) -> [S3XMLElement] { children.filter { $0.name == name } }

    /// The text of the first child with this name, nil if there is none.
    func text(of name: String) -> String? { child(name)?.text }
}

enum S3XML {
    /// Elements nested deeper than this are refused (S3's answers nest three or four deep).
    static let maxDepth = 16

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// The document's root element.
    static func parse(_ bytes: [UInt8]) throws -> S3XMLElement {
        let builder = TreeBuilder()
        let parser = XMLParser(data: Data(bytes))
        parser.shouldResolveExternalEntities = false
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else {
            throw Malformed(
                description: builder.failure ?? parser.parserError.map { "\($0)" } ?? "malformed XML in the S3 answer")
        }
        return root
    }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [S3XMLElement] = []
        var root: S3XMLElement?
        var failure: String?

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
            qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]
        ) {
            guard stack.count < S3XML.maxDepth else {
                failure = "XML in the S3 answer nests deeper than \(S3XML.maxDepth)"
                parser.abortParsing()
                return
            }
            stack.append(S3XMLElement(name: elementName))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(
            _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?
        ) {
            guard let element = stack.popLast() else { return }
            if stack.isEmpty {
                root = element
            } else {
                stack[stack.count - 1].children.append(element)
            }
        }
    }
}
