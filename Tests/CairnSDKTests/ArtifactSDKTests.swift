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
            // The retry is answered 200 with the first record; nothing new is stored.
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

@Suite struct ArtifactDownloadPathTests {
    /// A one-character file name in the current directory used to trap inside Foundation's
    /// path handling; a name with a directory part lands in that directory.
    @Test func downloadsToShortAndNestedPaths() async throws {
        try await withCairn(.http) { cairn in
            let artifacts = cairn.artifacts
            let stored = try await artifacts.upload(bytes: Array("hello".utf8), name: "r/a")
            let directory = NSTemporaryDirectory() + "cairn-sdk-dl-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let previous = FileManager.default.currentDirectoryPath
            #expect(FileManager.default.changeCurrentDirectoryPath(directory))
            defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }

            try await artifacts.download(stored.id, to: "x")
            #expect(try String(contentsOfFile: directory + "/x", encoding: .utf8) == "hello")
            try FileManager.default.createDirectory(atPath: directory + "/d", withIntermediateDirectories: true)
            try await artifacts.download(stored.id, to: directory + "/d/y")
            #expect(try String(contentsOfFile: directory + "/d/y", encoding: .utf8) == "hello")
            // Nothing but the two files: no temporary file left beside them.
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == ["d", "x"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/d") == ["y"])
        }
    }
}
