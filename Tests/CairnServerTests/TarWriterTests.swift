import Testing

@testable import CairnServer

/// The tar headers of Tigris bundles: ustar fields, checksums, pax records for long or non-ASCII names.
@Suite struct TarWriterTests {
    static func field(_ block: [UInt8], _ offset: Int, _ width: Int) -> String {
        String(decoding: block[offset..<(offset + width)].prefix { $0 != 0 }, as: UTF8.self)
    }

    @Test func shortNameIsOneUstarBlock() {
        let header = TarWriter.fileHeader(name: "dir/file.txt", size: 1234, modified: 1_700_000_000)
        #expect(header.count == 512)
        #expect(TarWriter.headerSize(name: "dir/file.txt", size: 1234) == 512)
        #expect(Self.field(header, 0, 100) == "dir/file.txt")
        #expect(Self.field(header, 100, 8) == "0000644")
        #expect(Self.field(header, 124, 12) == String(1234, radix: 8).leftPadded(11))
        #expect(Self.field(header, 136, 12) == String(1_700_000_000, radix: 8).leftPadded(11))
        #expect(header[156] == UInt8(ascii: "0"))
        #expect(Array(header[257..<263]) == Array("ustar".utf8) + [0])
        #expect(Array(header[263..<265]) == Array("00".utf8))
        let (stored, computed) = TarWriter.checksums(of: header)
        #expect(stored == computed)
        #expect(header[154] == 0 && header[155] == 0x20)
    }

    @Test func longNameGetsPaxPath() throws {
        let name = "a/" + String(repeating: "b", count: 150) + ".txt"
        let header = TarWriter.fileHeader(name: name, size: 10, modified: 0)
        #expect(header.count == 3 * 512)
        #expect(TarWriter.headerSize(name: name, size: 10) == header.count)
        let pax = Array(header[0..<512])
        #expect(pax[156] == UInt8(ascii: "x"))
        #expect(TarWriter.checksums(of: pax).stored == TarWriter.checksums(of: pax).computed)
        let recordLength = try #require(Int(Self.field(pax, 124, 12), radix: 8))
        let record = String(decoding: header[512..<(512 + recordLength)], as: UTF8.self)
        #expect(record == "\(recordLength) path=\(name)\n")
        #expect(record.utf8.count == recordLength)
        let file = Array(header[1024..<1536])
        #expect(file[156] == UInt8(ascii: "0"))
        #expect(Self.field(file, 0, 100).utf8.count == 100)
        #expect(TarWriter.checksums(of: file).stored == TarWriter.checksums(of: file).computed)
    }

    @Test func nonASCIINameGetsPaxPath() {
        let name = "ß/名前.txt"
        let header = TarWriter.fileHeader(name: name, size: 0, modified: 0)
        #expect(header.count == 3 * 512)
        let record = String(decoding: header[512..<1024].prefix { $0 != 0 }, as: UTF8.self)
        #expect(record.hasSuffix(" path=\(name)\n"))
        let fallback = Self.field(Array(header[1024..<1536]), 0, 100)
        #expect(fallback.utf8.allSatisfy { $0 < 0x80 })
    }

    @Test func paxRecordLengthCountsItsOwnDigits() {
        // Around the points where the length gains a digit (" path=" plus value plus newline near 10, 100, 1000).
        for valueLength in [0, 1, 2, 3, 4, 5, 90, 91, 92, 93, 94, 95, 96, 990, 991, 992, 993, 994, 995, 996] {
            let record = TarWriter.paxRecord("path", [UInt8](repeating: 0x61, count: valueLength))
            let length = Int(String(decoding: record.prefix { $0 != 0x20 }, as: UTF8.self))
            #expect(length == record.count, "value length \(valueLength)")
            #expect(TarWriter.paxRecordLength(key: "path", valueLength: valueLength) == record.count)
        }
    }

    @Test func hugeSizeGoesToPax() {
        let size: Int64 = 10 << 30
        let header = TarWriter.fileHeader(name: "big", size: size, modified: 0)
        #expect(header.count == 3 * 512)
        #expect(TarWriter.headerSize(name: "big", size: size) == header.count)
        let record = String(decoding: header[512..<1024].prefix { $0 != 0 }, as: UTF8.self)
        #expect(record.hasSuffix(" size=\(size)\n"))
    }

    @Test func paddingAndEntrySize() {
        #expect(TarWriter.padding(forSize: 0) == 0)
        #expect(TarWriter.padding(forSize: 1) == 511)
        #expect(TarWriter.padding(forSize: 512) == 0)
        #expect(TarWriter.padding(forSize: 513) == 511)
        #expect(TarWriter.entrySize(name: "x", size: 513) == 512 + 1024)
        #expect(TarWriter.endOfArchive.count == 1024 && TarWriter.endOfArchive.allSatisfy { $0 == 0 })
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: Swift.max(0, width - count)) + self
    }
}
