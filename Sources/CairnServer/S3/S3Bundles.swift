import CCairnZstd
import CairnCore
import CompressNIO
import HTTPTypes
import Hummingbird
import NIOCore

/// Tigris bundles: `POST /{bucket}?bundle` with `{"keys": [...]}` answers one tar archive of those
/// objects (live bucket, request order, entry name = key), streamed, optionally gzip- or
/// zstd-compressed (zstd as one frame that records the archive's size, which is known before the
/// first byte is sent).
///
/// Every key is looked up before anything is sent, so a failure (`fail` mode's NoSuchKey, a
/// missing bucket) is an ordinary error response and the counters are normal headers. In `skip`
/// mode missing keys are left out and listed in a last `__bundle_errors.json` entry.
extension S3Listener {
    static let maxBundleKeys = 5000
    static let maxBundleBodyBytes: Int64 = 5 << 20
    /// The name of the entry that lists skipped keys, last in the archive.
    static let bundleErrorsName = "__bundle_errors.json"
    /// How many bytes the archive is written (and an object read) in at a time.
    static let bundleChunkBytes = 256 * 1024
    /// How many keys are looked up at once.
    static let bundleLookupWidth = 8

    enum BundleCompression: String, Sendable {
        case none, gzip, zstd
    }

    /// One entry of the archive: an object's key and the version read.
    struct BundleEntry: Sendable {
        var key: String
        var version: ObjectVersion
    }

    static func malformedJSON(_ message: String) -> S3Error {
        S3Error(code: "MalformedJSON", message: message, status: 400)
    }

    func bundle(_ bucket: String, _ x: S3Exchange) async throws -> Response {
        let format = x.header("x-tigris-bundle-format").map { S3Text.trimmed($0).lowercased() } ?? "tar"
        guard format == "tar" else {
            throw S3Error.invalidArgument("Unsupported X-Tigris-Bundle-Format: \(format) (only tar).")
        }
        let compressionText =
            x.header("x-tigris-bundle-compression").map { S3Text.trimmed($0).lowercased() } ?? "none"
        guard let compression = BundleCompression(rawValue: compressionText.isEmpty ? "none" : compressionText)
        else {
            throw S3Error.invalidArgument(
                "Unsupported X-Tigris-Bundle-Compression: \(compressionText) (none, gzip or zstd).")
        }
        let onError = x.header("x-tigris-bundle-on-error").map { S3Text.trimmed($0).lowercased() } ?? "skip"
        guard onError == "skip" || onError == "fail" || onError.isEmpty else {
            throw S3Error.invalidArgument("Unsupported X-Tigris-Bundle-On-Error: \(onError) (skip or fail).")
        }
        if compression == .zstd, !ZstdFrameCompressor.isAvailable {
            throw S3Error.notImplemented(
                "zstd bundle compression needs the system's libzstd (libzstd.so.1), which this server could not load; use none or gzip."
            )
        }
        // A missing bucket is refused before the body is read.
        _ = try await workspaces.bucket(tenant: x.tenant, name: bucket)
        let keys = try await readBundleKeys(x)
        for key in keys {
            try x.authorize(IAMRequest(action: "s3:GetObject", resource: IAMRequest.objectARN(bucket, key)))
        }

        let versions = try await lookUpBundle(bucket, keys, x)
        var entries: [BundleEntry] = []
        entries.reserveCapacity(keys.count)
        var skipped: [String] = []
        for (key, version) in zip(keys, versions) {
            if let version {
                entries.append(BundleEntry(key: key, version: version))
            } else if onError == "fail" {
                throw S3Error(code: "NoSuchKey", message: "The specified key does not exist: \(key)", status: 404)
            } else {
                skipped.append(key)
            }
        }
        var errors: [UInt8]?
        if !skipped.isEmpty {
            var json = JSONWriter()
            json.beginObject()
            json.key("skipped")
            json.beginArrayValue()
            for key in skipped {
                json.beginObject()
                json.field("key", key)
                json.field("reason", "NoSuchKey: The specified key does not exist.")
                json.endObject()
            }
            json.endArray()
            json.endObject()
            errors = json.bytes
        }

        var headers = HTTPFields()
        headers[.contentType] =
            switch compression {
            case .none: "application/x-tar"
            case .gzip: "application/gzip"
            case .zstd: "application/zstd"
            }
        headers.set("x-tigris-bundle-count", String(entries.count))
        headers.set("x-tigris-bundle-bytes", String(entries.reduce(Int64(0)) { $0 + $1.version.size }))
        headers.set("x-tigris-bundle-skipped", String(skipped.count))
        var archiveSize = Int64(TarWriter.endOfArchive.count)
        for entry in entries { archiveSize += TarWriter.entrySize(name: entry.key, size: entry.version.size) }
        if let errors { archiveSize += TarWriter.entrySize(name: Self.bundleErrorsName, size: Int64(errors.count)) }
        var length: Int64?
        if compression == .none {
            length = archiveSize
            headers[.contentLength] = String(archiveSize)
        }
        let workspaces = self.workspaces
        let (entryList, errorsEntry, size) = (entries, errors, archiveSize)
        let now = clock.now().milliseconds / 1000
        let body = ResponseBody(contentLength: length.map { Int($0) }) { writer in
            var output = try BundleOutput(
                compression: compression, archiveSize: size, chunk: Self.bundleChunkBytes)
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bundleChunkBytes, alignment: 16)
            defer { scratch.deallocate() }
            for entry in entryList {
                let version = entry.version
                let header = TarWriter.fileHeader(
                    name: entry.key, size: version.size, modified: Self.seconds(version.createdAt))
                try await output.append(header, to: &writer)
                if version.size > 0 {
                    let reader = try await workspaces.open(version)
                    defer { reader.close() }
                    var offset: Int64 = 0
                    while offset < version.size {
                        let want = Int(min(Int64(scratch.count), version.size - offset))
                        let count = try await reader.read(
                            at: offset, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<want]))
                        guard count > 0 else {
                            throw S3Error(
                                code: "InternalError", message: "The object's bytes ended early.", status: 500)
                        }
                        try await output.append(UnsafeRawBufferPointer(rebasing: scratch[0..<count]), to: &writer)
                        offset += Int64(count)
                    }
                }
                try await output.append(zeros: TarWriter.padding(forSize: version.size), to: &writer)
            }
            if let errors = errorsEntry {
                let size = Int64(errors.count)
                try await output.append(
                    TarWriter.fileHeader(name: Self.bundleErrorsName, size: size, modified: now), to: &writer)
                try await output.append(errors, to: &writer)
                try await output.append(zeros: TarWriter.padding(forSize: size), to: &writer)
            }
            try await output.append(TarWriter.endOfArchive, to: &writer)
            try await output.finish(&writer)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    static func seconds(_ time: Timestamp) -> Int64 {
        time.milliseconds >= 0 ? time.milliseconds / 1000 : 0
    }

    /// The keys of a bundle request: `{"keys": ["…", …]}`, 1 to 5000 valid keys, body at most 5 MiB
    /// (its payload hash or checksums verified like any body).
    func readBundleKeys(_ x: S3Exchange) async throws -> [String] {
        let bytes = try await readSmallBody(
            x, limit: Self.maxBundleBodyBytes,
            tooLarge: S3Error(
                code: "MaxMessageLengthExceeded",
                message: "The bundle request body is larger than \(Self.maxBundleBodyBytes) bytes.", status: 400))
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes: bytes)
        } catch let error as JSONParseError {
            throw Self.malformedJSON("The bundle request body is not valid JSON: \(error.description).")
        }
        guard let list = document["keys"]?.arrayValue else {
            throw Self.malformedJSON(#"The bundle request body must be a JSON object {"keys": [...]}."#)
        }
        guard !list.isEmpty, list.count <= Self.maxBundleKeys else {
            throw S3Error.invalidArgument("A bundle names 1 to \(Self.maxBundleKeys) keys, not \(list.count).")
        }
        var keys: [String] = []
        keys.reserveCapacity(list.count)
        for item in list {
            guard let key = item.stringValue else {
                throw Self.malformedJSON("Every entry of keys must be a string.")
            }
            try WorkspaceService.checkKey(key)
            keys.append(key)
        }
        return keys
    }

    /// Each key's newest version in the live bucket (nil when missing or a delete marker), in order.
    func lookUpBundle(_ bucket: String, _ keys: [String], _ x: S3Exchange) async throws -> [ObjectVersion?] {
        let workspaces = self.workspaces
        let tenant = x.tenant
        var results = [ObjectVersion?](repeating: nil, count: keys.count)
        try await withThrowingTaskGroup(of: (Int, ObjectVersion?).self) { group in
            var next = 0
            func add() {
                let index = next
                let key = keys[index]
                next += 1
                group.addTask {
                    let (_, lookup) = try await workspaces.lookup(tenant: tenant, bucket: bucket, key: key)
                    if case .found(let version) = lookup { return (index, version) }
                    return (index, nil)
                }
            }
            while next < min(keys.count, Self.bundleLookupWidth) { add() }
            while let found = try await group.next() {
                results[found.0] = found.1
                if next < keys.count { add() }
            }
        }
        return results
    }
}

/// Where a bundle's archive bytes go: gathered into chunks, each written to the response as it
/// fills, straight or through a streaming gzip or zstd compressor. Holds at most about two chunks.
struct BundleOutput: ~Copyable {
    enum Compressor {
        case gzip(ZlibCompressor)
        case zstd(ZstdFrameCompressor)
    }

    let chunk: Int
    let compressor: Compressor?
    /// Archive bytes not yet written (or not yet compressed).
    var pending: ByteBuffer
    /// Compressed bytes not yet written.
    var compressed: ByteBuffer

    /// `archiveSize`: the exact length of the archive to come (zstd records it in its frame).
    init(compression: S3Listener.BundleCompression, archiveSize: Int64, chunk: Int) throws {
        self.chunk = chunk
        switch compression {
        case .none: compressor = nil
        case .gzip: compressor = .gzip(try ZlibCompressor(algorithm: .gzip))
        case .zstd: compressor = .zstd(try ZstdFrameCompressor(contentSize: UInt64(archiveSize)))
        }
        pending = ByteBufferAllocator().buffer(capacity: chunk)
        compressed = ByteBufferAllocator().buffer(capacity: compressor == nil ? 0 : chunk)
    }

    mutating func append(_ bytes: some Collection<UInt8>, to writer: inout any ResponseBodyWriter) async throws {
        pending.writeBytes(bytes)
        if pending.readableBytes >= chunk { try await drain(&writer) }
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer, to writer: inout any ResponseBodyWriter) async throws {
        pending.writeBytes(bytes)
        if pending.readableBytes >= chunk { try await drain(&writer) }
    }

    mutating func append(zeros count: Int, to writer: inout any ResponseBodyWriter) async throws {
        guard count > 0 else { return }
        pending.writeRepeatingByte(0, count: count)
        if pending.readableBytes >= chunk { try await drain(&writer) }
    }

    /// Writes (or compresses) everything pending.
    mutating func drain(_ writer: inout any ResponseBodyWriter) async throws {
        guard let compressor else {
            if pending.readableBytes > 0 {
                try await writer.write(pending)
                pending = ByteBufferAllocator().buffer(capacity: chunk)
            }
            return
        }
        while pending.readableBytes > 0 {
            if compressed.writableBytes == 0 { try await flushCompressed(&writer) }
            switch compressor {
            case .gzip(let zlib):
                do {
                    try zlib.deflate(from: &pending, to: &compressed, flush: .no)
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    guard compressed.readableBytes > 0 else { throw error }
                    try await flushCompressed(&writer)
                }
            case .zstd(let zstd):
                _ = try zstd.compress(from: &pending, to: &compressed, end: false)
            }
        }
        pending.clear()
    }

    mutating func flushCompressed(_ writer: inout any ResponseBodyWriter) async throws {
        guard compressed.readableBytes > 0 else { return }
        try await writer.write(compressed)
        compressed = ByteBufferAllocator().buffer(capacity: chunk)
    }

    /// Writes everything left, ending the gzip stream or zstd frame.
    mutating func finish(_ writer: inout any ResponseBodyWriter) async throws {
        try await drain(&writer)
        guard let compressor else { return }
        while true {
            if compressed.writableBytes == 0 { try await flushCompressed(&writer) }
            switch compressor {
            case .gzip(let zlib):
                do {
                    try zlib.deflate(from: &pending, to: &compressed, flush: .finish)
                    try await flushCompressed(&writer)
                    return
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    guard compressed.readableBytes > 0 else { throw error }
                    try await flushCompressed(&writer)
                }
            case .zstd(let zstd):
                if try zstd.compress(from: &pending, to: &compressed, end: true) {
                    try await flushCompressed(&writer)
                    return
                }
            }
        }
    }
}

/// One zstd frame of a size known in advance, compressed as it streams, with the system's libzstd.
final class ZstdFrameCompressor {
    static var isAvailable: Bool { ccairn_zstd_available() != 0 }
    /// zstd's default level: about gzip's ratio, several times its speed.
    static let level: Int32 = 3

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let context: UnsafeMutableRawPointer

    /// `contentSize`: exactly how many bytes the frame will hold; it is written in the frame's
    /// header, and a different count fails the frame's end.
    init(contentSize: UInt64) throws {
        guard let context = ccairn_zstd_compressor(contentSize, Self.level) else {
            throw Failure(description: "libzstd could not start a frame")
        }
        self.context = context
    }

    deinit { ccairn_zstd_free(context) }

    /// Moves what fits of `input` into `output`'s writable space, compressed. With `end`, ends the
    /// frame once the input is taken; returns true when the frame is complete.
    func compress(from input: inout ByteBuffer, to output: inout ByteBuffer, end: Bool) throws -> Bool {
        var taken = 0
        var written = 0
        var error: UnsafePointer<CChar>?
        let status = input.withUnsafeReadableBytes { source in
            output.withUnsafeMutableWritableBytes { destination in
                ccairn_zstd_compress(
                    context, source.baseAddress, source.count, &taken, destination.baseAddress, destination.count,
                    &written, end ? 1 : 0, &error)
            }
        }
        input.moveReaderIndex(forwardBy: taken)
        output.moveWriterIndex(forwardBy: written)
        if status < 0 { throw Failure(description: "zstd: " + (error.map { String(cString: $0) } ?? "error")) }
        return status == 0
    }
}
