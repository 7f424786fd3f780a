import CCairnZstd
import NIOCore
import Testing

@testable import CairnServer

/// zstd bundles: one frame that records its content size, streamed through small output buffers.
@Suite(.enabled(if: ZstdFrameCompressor.isAvailable, "the system's libzstd is not installed"))
struct ZstdFrameTests {
    /// Compressible text and incompressible bytes, fed in uneven pieces into a 4 KiB output
    /// buffer that is emptied whenever it fills.
    static func compress(_ input: [UInt8], pledging size: Int, piece: Int = 65_537) throws -> [UInt8] {
        let compressor = try ZstdFrameCompressor(contentSize: UInt64(size))
        var frame: [UInt8] = []
        var output = ByteBuffer()
        func empty() {
            frame += output.readBytes(length: output.readableBytes) ?? []
            output = ByteBufferAllocator().buffer(capacity: 4096)
        }
        empty()
        var offset = 0
        while offset < input.count {
            var pending = ByteBuffer(bytes: input[offset..<min(offset + piece, input.count)])
            offset += pending.readableBytes
            while pending.readableBytes > 0 {
                if output.writableBytes == 0 { empty() }
                _ = try compressor.compress(from: &pending, to: &output, end: false)
            }
        }
        var none = ByteBuffer()
        while true {
            if output.writableBytes == 0 { empty() }
            if try compressor.compress(from: &none, to: &output, end: true) { break }
        }
        empty()
        return frame
    }

    static func sample() -> [UInt8] {
        var bytes = Array(String(repeating: "a line of a log file, 42\n", count: 40_000).utf8)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<300_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes.append(UInt8(truncatingIfNeeded: state >> 33))
        }
        return bytes
    }

    @Test func aFrameRecordsItsSizeAndDecompressesToTheInput() throws {
        let input = Self.sample()
        let frame = try Self.compress(input, pledging: input.count)
        #expect(frame.count < input.count)
        #expect(ccairn_zstd_frame_content_size(frame, frame.count) == UInt64(input.count))
        var output = [UInt8](repeating: 0, count: input.count + 1)
        let count = output.withUnsafeMutableBytes { out in
            frame.withUnsafeBytes { ccairn_zstd_decompress(out.baseAddress, out.count, $0.baseAddress, $0.count) }
        }
        #expect(count == input.count)
        #expect(Array(output.prefix(count)) == input)
    }

    @Test func anEmptyFrameIsComplete() throws {
        let frame = try Self.compress([], pledging: 0)
        #expect(ccairn_zstd_frame_content_size(frame, frame.count) == 0)
    }

    @Test func moreOrFewerBytesThanPledgedFailTheFrame() throws {
        let input = Self.sample()
        #expect(throws: ZstdFrameCompressor.Failure.self) { _ = try Self.compress(input, pledging: input.count - 1) }
        #expect(throws: ZstdFrameCompressor.Failure.self) { _ = try Self.compress(input, pledging: input.count + 1) }
    }
}
