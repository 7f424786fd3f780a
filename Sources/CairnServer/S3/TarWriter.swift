/// The headers of a POSIX tar archive (ustar, with pax extended headers), for writing archives as a stream.
///
/// Every entry is a regular file: one pax extended header first when the name does not fit ustar
/// (more than 100 bytes, or not ASCII) or the size does not fit its 11 octal digits, then the
/// ustar header, the content, and zeros up to the next 512-byte block. Two zero blocks end the
/// archive. Readers that understand pax (GNU tar, bsdtar, Python's `tarfile`) see the full name.
enum TarWriter {
    static let blockSize = 512
    /// What ends an archive: two zero blocks.
    static let endOfArchive = [UInt8](repeating: 0, count: 2 * blockSize)
    /// The largest size a ustar header holds (11 octal digits).
    static let maxUstarSize: Int64 = 0o77_777_777_777
    /// The name of the pax header entry (what Python's `tarfile` writes).
    static let paxName = "././@PaxHeader"

    /// The zeros after `size` content bytes, up to the next block.
    static func padding(forSize size: Int64) -> Int {
        let rest = Int(size % Int64(blockSize))
        return rest == 0 ? 0 : blockSize - rest
    }

    /// The header blocks of one regular file: a pax extended header (when needed), then the ustar header.
    static func fileHeader(name: String, size: Int64, modified: Int64, mode: Int = 0o644) -> [UInt8] {
        var out: [UInt8] = []
        let records = paxRecords(name: name, size: size)
        if !records.isEmpty {
            out.reserveCapacity(3 * blockSize + records.count)
            out += ustarHeader(name: paxName, size: Int64(records.count), modified: modified, mode: 0o644, type: "x")
            out += records
            out += [UInt8](repeating: 0, count: padding(forSize: Int64(records.count)))
        }
        out += ustarHeader(
            name: fallbackName(name), size: size <= maxUstarSize ? size : 0, modified: modified, mode: mode, type: "0")
        return out
    }

    /// How many bytes `fileHeader` writes for this name and size.
    static func headerSize(name: String, size: Int64) -> Int {
        let records = paxRecordsLength(name: name, size: size)
        return blockSize + (records == 0 ? 0 : blockSize + records + padding(forSize: Int64(records)))
    }

    /// The bytes an entry takes in the archive: its headers, content and padding.
    static func entrySize(name: String, size: Int64) -> Int64 {
        Int64(headerSize(name: name, size: size)) + size + Int64(padding(forSize: size))
    }

    // MARK: pax

    static func needsPaxPath(_ name: String) -> Bool {
        name.utf8.count > 100 || name.utf8.contains { $0 >= 0x80 || $0 == 0 }
    }

    /// The pax records an entry needs (`path=`, `size=`), or none.
    static func paxRecords(name: String, size: Int64) -> [UInt8] {
        var out: [UInt8] = []
        if needsPaxPath(name) { out += paxRecord("path", Array(name.utf8)) }
        if size > maxUstarSize { out += paxRecord("size", Array(String(size).utf8)) }
        return out
    }

    static func paxRecordsLength(name: String, size: Int64) -> Int {
        var length = 0
        if needsPaxPath(name) { length += paxRecordLength(key: "path", valueLength: name.utf8.count) }
        if size > maxUstarSize { length += paxRecordLength(key: "size", valueLength: String(size).utf8.count) }
        return length
    }

    /// One record, `"<length> <key>=<value>\n"`, where the length counts the whole record, its own digits included.
    static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let length = paxRecordLength(key: key, valueLength: value.count)
        var out = Array("\(length) \(key)=".utf8)
        out += value
        out.append(0x0A)
        return out
    }

    static func paxRecordLength(key: String, valueLength: Int) -> Int {
        let rest = 1 + key.utf8.count + 1 + valueLength + 1
        var length = rest + 1
        while String(length).utf8.count + rest != length { length = String(length).utf8.count + rest }
        return length
    }

    /// The ustar name of an entry whose real name is in a pax header: ASCII, at most 100 bytes.
    static func fallbackName(_ name: String) -> String {
        guard needsPaxPath(name) else { return name }
        let ascii = name.utf8.map { $0 >= 0x80 || $0 == 0 ? UInt8(ascii: "_") : $0 }
        return String(decoding: ascii.prefix(100), as: UTF8.self)
    }

    // MARK: ustar

    /// One 512-byte ustar header block. `name` must be ASCII and at most 100 bytes.
    static func ustarHeader(name: String, size: Int64, modified: Int64, mode: Int, type: Character) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockSize)
        func put(_ bytes: some Sequence<UInt8>, at offset: Int, max: Int) {
            for (index, byte) in bytes.enumerated() where index < max { block[offset + index] = byte }
        }
        func octal(_ value: Int64, at offset: Int, width: Int) {
            // `width - 1` zero-padded octal digits, then NUL.
            var digits = Array(String(Swift.max(0, value), radix: 8).utf8)
            if digits.count > width - 1 { digits = [UInt8](repeating: UInt8(ascii: "7"), count: width - 1) }
            let padded = [UInt8](repeating: UInt8(ascii: "0"), count: width - 1 - digits.count) + digits
            put(padded, at: offset, max: width - 1)
        }
        put(name.utf8, at: 0, max: 100)
        octal(Int64(mode), at: 100, width: 8)
        octal(0, at: 108, width: 8)  // uid
        octal(0, at: 116, width: 8)  // gid
        octal(size, at: 124, width: 12)
        octal(modified, at: 136, width: 12)
        block[156] = type.asciiValue ?? UInt8(ascii: "0")
        put("ustar".utf8, at: 257, max: 6)  // magic "ustar\0"
        put("00".utf8, at: 263, max: 2)  // version
        octal(0, at: 329, width: 8)  // devmajor
        octal(0, at: 337, width: 8)  // devminor
        // The checksum: the sum of the header's bytes with the checksum field taken as spaces,
        // written as six octal digits, NUL, space.
        put([UInt8](repeating: 0x20, count: 8), at: 148, max: 8)
        let sum = block.reduce(0) { $0 + Int64($1) }
        octal(sum, at: 148, width: 7)
        block[154] = 0
        block[155] = 0x20
        return block
    }

    /// The checksum a header block carries, and the one its bytes give; equal in a valid header.
    static func checksums(of block: [UInt8]) -> (stored: Int64?, computed: Int64) {
        let field = block[148..<156].prefix { $0 != 0 && $0 != 0x20 }
        let stored = Int64(String(decoding: field, as: UTF8.self), radix: 8)
        var computed: Int64 = 0
        for (index, byte) in block.enumerated() { computed += (148..<156).contains(index) ? 0x20 : Int64(byte) }
        return (stored, computed)
    }
}
