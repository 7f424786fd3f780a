import Cairn
import CairnCore
import Foundation
import Testing

@Suite struct ArtifactSDKTests {
    @Test func uploadsWithAnIdempotencyKeyReturnTheFirstArtifact() async throws {
        try await withCairn(.http) { cairn in
            let artifacts = cairn.artifacts
            let bytes = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let path = NSTemporaryDirectory() + "cairn-sdk-idem-" + UUID().uuidString
            #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            defer { try? FileManager.default.removeItem(atPath: path) }

            var options = Artifacts.UploadOptions()
            options.idempotencyKey = "sdk-upload-1"
            let first = try await artifacts.upload(file: path, name: "big.bin", options: options)
            #expect(first.size == Int64(bytes.count))
            // The retry is answered before its 8 MiB body is read; the SDK takes the 200.
            let again = try await artifacts.upload(file: path, name: "big.bin", options: options)
            #expect(again == first)
            #expect(try await artifacts.list().artifacts.count == 1)

            // Other bytes under the same key (the SDK always sends their SHA-256): 409.
            do {
                _ = try await artifacts.upload(bytes: [1, 2, 3], name: "y", options: options)
                Issue.record("a reused key was accepted")
            } catch CairnError.server(let status, let body) {
                #expect(status == 409 && body.contains("idempotency_key_reused"))
            }
        }
    }
}
