import Testing

@testable import CairnCore

/// The S3 XML reader on the request bodies S3 clients send, the refusals that keep it safe, and
/// the writer's escaping.
@Suite struct S3XMLTests {
    func code(_ text: String) -> String? {
        do {
            _ = try S3XML.parse(text)
            return nil
        } catch let error as S3Error {
            return error.code
        } catch {
            return "\(error)"
        }
    }

    @Test func completeMultipartUploadWithNamespaceAndEntities() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- sent by boto3 -->
            <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Part><ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag><PartNumber>1</PartNumber></Part>
              <Part>
                <PartNumber>2</PartNumber>
                <ETag>"0c78aef83f66abc1fa1e8477f296d394"</ETag>
                <ChecksumCRC32>NhCmhg==</ChecksumCRC32>
              </Part>
            </CompleteMultipartUpload>
            """
        let root = try S3XML.parse(xml)
        #expect(root.name == "CompleteMultipartUpload")
        let parts = root.children("Part")
        #expect(parts.count == 2)
        #expect(parts[0].childText("ETag") == "\"a54357aff0632cce46d942af68356b38\"")
        #expect(parts[0].child("PartNumber")?.text == "1")
        #expect(parts[1].childText("PartNumber") == "2" && parts[1].childText("ChecksumCRC32") == "NhCmhg==")
        #expect(parts[1].childText("Missing") == nil)
    }

    @Test func deleteWithPrefixesCharacterReferencesAndCDATA() throws {
        let xml = """
            \u{FEFF}<?xml version='1.0'?><s3:Delete xmlns:s3='http://s3.amazonaws.com/doc/2006-03-01/' \
            other = "x>y"><s3:Quiet>true</s3:Quiet>\
            <s3:Object><s3:Key>a &amp; b &lt;c&gt; &apos;d&apos; &#65;&#x42;&#x1F600;</s3:Key></s3:Object>\
            <s3:Object><s3:Key><![CDATA[<raw & kept>]]></s3:Key><s3:VersionId>v1</s3:VersionId></s3:Object>\
            <s3:Object><s3:Key>  spaced  </s3:Key><Empty/><Empty2 a="1" /></s3:Object></s3:Delete>
            """
        let root = try S3XML.parse(xml)
        #expect(root.name == "Delete" && root.childText("Quiet") == "true")
        let keys = root.children("Object").compactMap { $0.childText("Key") }
        #expect(keys == ["a & b <c> 'd' AB\u{1F600}", "<raw & kept>", "  spaced  "])
        #expect(root.children("Object")[1].childText("VersionId") == "v1")
        #expect(root.children("Object")[2].child("Empty") == S3XMLElement(name: "Empty"))
        #expect(root.children("Object")[2].child("Empty2")?.children.isEmpty == true)
    }

    @Test func doctypeAndEntityDefinitionsAreRefused() {
        let xxe = """
            <?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete>&x;</Delete>
            """
        #expect(code(xxe) == "MalformedXML")
        #expect(code("<Delete><!ENTITY x \"y\"></Delete>") == "MalformedXML")
        #expect(code("<Delete>&x;</Delete>") == "MalformedXML")
        #expect(code("<Delete>&#0;</Delete>") == "MalformedXML")
        #expect(code("<Delete>&#xD800;</Delete>") == "MalformedXML")
        #expect(code("<Delete>&#x110000;</Delete>") == "MalformedXML")
        #expect(code("<Delete>&#12a;</Delete>") == "MalformedXML")
        #expect(code("<Delete>&amp</Delete>") == "MalformedXML")
    }

    @Test func malformedDocumentsAreRefused() {
        for bad in [
            "", "   ", "text", "<Delete>", "<Delete><Object></Delete>", "<Delete></Delet>", "<Delete></Delete><X/>",
            "<Delete></Delete>trailing", "<Delete a></Delete>", "<Delete a=b></Delete>", "<Delete a=\"1></Delete>",
            "<Delete a=\"<\"></Delete>", "<Delete><!-- unterminated </Delete>", "<Delete><![CDATA[x</Delete>",
            "<Delete>]]></Delete>", "<>x</>", "<Delete x=\"1\"y=\"2\"/>",
        ] {
            #expect(code(bad) == "MalformedXML", "\(bad)")
        }
        #expect(code("<Delete/>") == nil)
        #expect(code("<Delete a=\"1\" b='2'/>") == nil)
        let invalidUTF8: [UInt8] = Array("<Key>".utf8) + [0xC3, 0x28] + Array("</Key>".utf8)
        #expect(throws: S3Error.self) { try S3XML.parse(invalidUTF8) }
    }

    @Test func depthAndElementCountAreBounded() throws {
        let nested = { (depth: Int) in
            String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth)
        }
        #expect(code(nested(32)) == nil)
        #expect(code(nested(33)) == "MalformedXML")
        #expect(code(nested(100_000)) == "MalformedXML")
        let wide = "<r>" + String(repeating: "<a/>", count: 1000) + "</r>"
        #expect(try S3XML.parse(wide).children.count == 1000)
        #expect(throws: S3Error.self) { try S3XML.parse(wide, maxElements: 1000) }
    }

    @Test func writerEscapesAndBuildsDocuments() throws {
        #expect(S3XML.escape("plain key/é") == "plain key/é")
        #expect(S3XML.escape("a<b>&\"c'\u{1}\r\n\t") == "a&lt;b&gt;&amp;&quot;c&apos;&#x1;&#xD;\n\t")
        var xml = S3XMLWriter()
        xml.element("InitiateMultipartUploadResult", xmlns: S3XML.namespace) { xml in
            xml.element("Bucket", "b")
            xml.element("Key", "a&b")
            xml.element("UploadId", ifPresent: nil)
            xml.element("MaxParts", 1000)
            xml.element("IsTruncated", false)
        }
        #expect(
            xml.document
                == #"<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult "#
                + #"xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>a&amp;b</Key>"#
                + "<MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated></InitiateMultipartUploadResult>")
        // What the writer escapes, the reader restores.
        let key = "a<b>&\"c'\u{1}\r\n\t end"
        var round = S3XMLWriter()
        round.element("Key", key)
        #expect(try S3XML.parse(round.document).text == key)
    }
}
