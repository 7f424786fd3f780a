import Cairn
import CairnCore
import CairnTestSupport
import Foundation
import Testing

@Suite struct ArtifactSDKTests {
    @Test(arguments: TransportKind.allCases)
    func uploadsWithAnIdempotencyKeyReturnTheFirstArtifact(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let artifacts = cairn.artifacts
            let bytes = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let path = ScratchDirectory.path("cairn-sdk-idem")
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

@Suite struct ArtifactRoundTripTests {
    @Test(arguments: TransportKind.allCases)
    func uploadListDownloadAndDelete(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let artifacts = cairn.artifacts
            var options = Artifacts.UploadOptions()
            options.owner = "agent-7"
            options.metadata = ["run": "r1"]
            options.contentType = "text/plain"
            options.ttlSeconds = 3_600
            let report = try await artifacts.upload(
                bytes: Array("report body".utf8), name: "out/report.txt", options: options)
            #expect(report.size == 11 && report.owner == "agent-7" && report.metadata == ["run": "r1"])
            #expect(report.contentType == "text/plain" && report.expiresAt != nil)
            for i in 0..<3 { _ = try await artifacts.upload(bytes: [UInt8(i)], name: "out/part-\(i)") }
            _ = try await artifacts.upload(bytes: [9], name: "other")

            #expect(try await artifacts.info(report.id) == report)
            #expect(try await artifacts.bytes(report.id) == Array("report body".utf8))
            #expect(try await artifacts.list(owner: "agent-7").artifacts == [report])
            var names: [String] = []
            var cursor: String?
            repeat {
                let page = try await artifacts.list(prefix: "out/", limit: 2, cursor: cursor)
                names += page.artifacts.map(\.name)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(names == ["out/part-0", "out/part-1", "out/part-2", "out/report.txt"])

            let path = ScratchDirectory.path("cairn-sdk-rt")
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(try await artifacts.download(report.id, to: path) == report)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "report body")

            // Bytes that do not match the SHA-256 given are refused, and nothing is stored.
            var wrong = Artifacts.UploadOptions()
            wrong.sha256 = String(repeating: "0", count: 64)
            do {
                _ = try await artifacts.upload(bytes: [1, 2], name: "bad", options: wrong)
                Issue.record("a wrong SHA-256 was accepted")
            } catch CairnError.server(let status, let body) {
                #expect(status == 400 && body.contains("checksum_mismatch"))
            }
            #expect(try await artifacts.list(prefix: "bad").artifacts.isEmpty)

            try await artifacts.delete(report.id)
            do {
                _ = try await artifacts.info(report.id)
                Issue.record("a deleted artifact was found")
            } catch CairnError.server(let status, _) {
                #expect(status == 404)
            }
        }
    }
}

@Suite struct ArtifactDownloadPathTests {
    /// A one-character file name in the current directory used to trap inside Foundation's
    /// path handling; a name with a directory part lands in that directory.
    @Test(arguments: TransportKind.allCases)
    func downloadsToShortAndNestedPaths(_ kind: TransportKind) async throws {
        try await withCairn(kind) { cairn in
            let artifacts = cairn.artifacts
            let stored = try await artifacts.upload(bytes: Array("hello".utf8), name: "r/a")
            let directory = ScratchDirectory.path("cairn-sdk-dl")
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
