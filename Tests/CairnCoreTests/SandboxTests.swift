import CairnTestSupport
import Foundation
import Synchronization
import Testing

@testable import CairnCore

#if canImport(Glibc)
    import Glibc
#endif

/// The pieces of sandboxes that need no confinement to test: end markers split across reads,
/// files resolved beneath /work without following links, py-code-mode skill parsing, and the
/// service's lifecycle (create, execute, reset, TTLs) on the process backend. The linux
/// backend's limits are proven end to end in Tests/compat/sandbox.
@Suite struct SandboxTests {
    // MARK: End markers

    @Test func aMarkerSplitAtEveryPositionIsFoundAndOnlyWhatPrecedesItIsOutput() {
        let marker = PythonSession.endMarker(nonce: "abc123")
        let stream = Array("hello\u{0}world".utf8) + marker + Array("after".utf8)
        for cut in 1..<stream.count {
            var scanner = MarkerScanner(marker: marker)
            let out = scanner.feed(Array(stream[..<cut])) + scanner.feed(Array(stream[cut...]))
            #expect(scanner.found, "cut at \(cut)")
            #expect(out == Array("hello\u{0}world".utf8), "cut at \(cut)")
        }
    }

    @Test func withoutAMarkerEveryByteComesOutOnceHeldBytesIncluded() {
        let marker = PythonSession.endMarker(nonce: "n")
        var scanner = MarkerScanner(marker: marker)
        let prefix = Array(marker.prefix(5))
        var out = scanner.feed(Array("x".utf8) + prefix)
        #expect(out == Array("x".utf8), "a possible marker start is held back")
        out += scanner.flush()
        #expect(out == Array("x".utf8) + prefix)
        #expect(!scanner.found)
    }

    @Test func aCharacterSplitAcrossReadsIsForwardedWhole() {
        let text = Array("aé€😀".utf8)
        for cut in 1..<text.count {
            let chunks = Mutex<[[UInt8]]>([])
            let execution = Execution(
                limit: 1 << 20,
                forward: { output in if case .stdout(let bytes) = output { chunks.withLock { $0.append(bytes) } } },
                overLimit: {})
            execution.output(Array(text[..<cut]), stderr: false)
            execution.output(Array(text[cut...]), stderr: false)
            execution.flush()
            let got = chunks.withLock { $0 }
            #expect(got.joined().elementsEqual(text), "cut at \(cut)")
            #expect(got.allSatisfy { String(validating: $0, as: UTF8.self) != nil }, "cut at \(cut)")
        }
    }

    // MARK: Files beneath /work

    func scratch() throws -> (root: String, outside: String) {
        let base = ScratchDirectory.path("cairn-sbx-files")
        try FileManager.default.createDirectory(atPath: base + "/work", withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: URL(fileURLWithPath: base + "/outside.txt"))
        return (base + "/work", base + "/outside.txt")
    }

    @Test func pathsMustBeRelativeWithoutDotsOrNul() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "a/./b", "a\u{0}b", String(repeating: "a", count: 256)] {
            #expect(throws: SandboxError.self, "\(bad.prefix(20))") { try SandboxFiles.components(bad) }
        }
        #expect((try? SandboxFiles.components("a//b/")) == ["a", "b"])
        #expect((try? SandboxFiles.components("")) == [])
    }

    @Test func filesRoundTripAndDirectoriesList() throws {
        let (root, _) = try scratch()
        let files = SandboxFiles(root: root)
        try files.write("dir/sub/a.txt", bytes: Array("one".utf8))
        try files.write("dir/sub/a.txt", bytes: Array("two".utf8))
        guard case .file(let bytes) = try files.read("dir/sub/a.txt") else {
            Issue.record("expected a file")
            return
        }
        #expect(bytes == Array("two".utf8))
        guard case .directory(let entries) = try files.read("dir") else {
            Issue.record("expected a directory")
            return
        }
        #expect(entries == [SandboxFiles.Entry(name: "sub", type: .directory, size: entries.first?.size ?? 0)])
        try files.delete("dir/sub/a.txt")
        #expect(throws: SandboxError.fileNotFound("a.txt")) { try files.read("dir/sub/a.txt") }
        #expect(try files.regularFiles(limit: 10).isEmpty)
    }

    @Test func aSymlinkAnywhereOnThePathIsRefusedNeverFollowed() throws {
        let (root, outside) = try scratch()
        let files = SandboxFiles(root: root)
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(
            atPath: root + "/dirlink", withDestinationPath: (outside as NSString).deletingLastPathComponent)
        #expect(throws: SandboxError.self) { try files.read("link") }
        #expect(throws: SandboxError.self) { try files.read("dirlink/outside.txt") }
        #expect(throws: SandboxError.self) { try files.write("dirlink/outside.txt", bytes: Array("pwned".utf8)) }
        #expect(throws: SandboxError.self) { try files.openFile("link") }
        #expect(throws: SandboxError.self) { try files.write("link", bytes: Array("pwned".utf8)) }
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == "secret")
        #expect(try files.regularFiles(limit: 10) == [], "links are not files to take back")
        // Removing the link removes the link, not what it points to.
        try files.delete("link")
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == "secret")
    }

    @Test func aFifoIsRefusedWithoutBlocking() throws {
        let (root, _) = try scratch()
        #expect(mkfifo(root + "/pipe", 0o644) == 0)
        #expect(throws: SandboxError.self) { try SandboxFiles(root: root).read("pipe") }
    }

    // MARK: py-code-mode skills

    @Test func aSkillsParametersDefaultsAndDescriptionComeFromItsSource() throws {
        let source = """
            \"\"\"Fetches a page.\"\"\"
            async def run(url: str, retries: int = 3, verbose: bool = False, tags: list = None, *, tools, ratio: float = 0.5, label='x, y'):
                return url
            """
        let skill = try CodeMode.skill(name: "fetch_page", source: source, description: "")
        #expect(skill.description == "Fetches a page.")
        #expect(skill.parameters.map(\.name) == ["url", "retries", "verbose", "tags", "ratio", "label"])
        #expect(skill.parameters.map(\.type) == ["string", "integer", "boolean", "array", "number", "string"])
        #expect(skill.parameters.map(\.required) == [true, false, false, false, false, false])
        #expect(skill.parameters.map(\.defaultJSON) == [nil, "3", "false", "null", "0.5", #""x, y""#])
    }

    @Test func skillsAreRefusedAsPyCodeModeRefusesThem() {
        #expect(throws: CodeMode.Refusal.self) {
            try CodeMode.skill(name: "1bad", source: "async def run():\n  pass", description: "")
        }
        #expect(throws: CodeMode.Refusal.self) {
            try CodeMode.skill(name: "invoke", source: "async def run():\n  pass", description: "")
        }
        #expect(throws: CodeMode.Refusal.self) {
            try CodeMode.skill(name: "sync", source: "def run():\n  pass", description: "")
        }
        #expect(throws: CodeMode.Refusal.self) { try CodeMode.skill(name: "none", source: "x = 1", description: "") }
    }

    // MARK: The service, on the process backend

    func service(clock: ManualClock = ManualClock()) -> SandboxService {
        let id = UUID().uuidString.prefix(8)
        var configuration = SandboxService.Configuration(
            root: ScratchDirectory.path("cairn-sbx"), cgroupName: "cairn-test-\(id)")
        configuration.defaultBackend = "process"
        return SandboxService(configuration: configuration, clock: clock, backends: { [ProcessSandboxBackend()] })
    }

    @Test func pythonStatePersistsUntilResetAndCommandsReportTheirExit() async throws {
        let sandboxes = service()
        defer { Task { await sandboxes.shutdown() } }
        let tenant = TenantID(rawValue: "t")
        let info = try await sandboxes.create(SandboxSpec(), tenant: tenant)
        #expect(info.backend == "process")
        let first = try await sandboxes.exec(
            info.id, tenant: tenant, command: .code("x = 41\nprint('hi')"), timeoutMilliseconds: 30_000)
        #expect(String(decoding: first.stdout, as: UTF8.self) == "hi\n")
        let second = try await sandboxes.exec(
            info.id, tenant: tenant, command: .code("x + 1"), timeoutMilliseconds: 30_000)
        #expect(second.value == "42")
        _ = try await sandboxes.reset(info.id, tenant: tenant)
        let after = try await sandboxes.exec(info.id, tenant: tenant, command: .code("x"), timeoutMilliseconds: 30_000)
        #expect(after.error?.contains("NameError") == true)
        let command = try await sandboxes.exec(
            info.id, tenant: tenant,
            command: .argv(["sh", "-c", "cat; echo err >&2; exit 7"], stdin: Array("in".utf8)),
            timeoutMilliseconds: 30_000)
        #expect(command.exit.exitCode == 7 && command.exit.reason == .exited)
        #expect(String(decoding: command.stdout, as: UTF8.self) == "in")
        #expect(String(decoding: command.stderr, as: UTF8.self) == "err\n")
        #expect(throws: SandboxError.notFound) { try sandboxes.sandbox(info.id, tenant: TenantID(rawValue: "other")) }
    }

    @Test func outputPastTheLimitIsTruncatedAndEndsTheExecution() async throws {
        let sandboxes = service()
        defer { Task { await sandboxes.shutdown() } }
        let tenant = TenantID(rawValue: "t")
        var spec = SandboxSpec()
        spec.limits.outputBytes = 4096
        let info = try await sandboxes.create(spec, tenant: tenant)
        let result = try await sandboxes.exec(
            info.id, tenant: tenant, command: .code("import sys\nwhile True: sys.stdout.write('x' * 65536)"),
            timeoutMilliseconds: 30_000)
        #expect(result.truncated && result.exit.reason == .outputLimit)
        #expect(result.stdout.count + result.stderr.count == 4096)
    }

    @Test func limitsTheBackendCannotEnforceAreRefusedByName() async throws {
        let sandboxes = service()
        var spec = SandboxSpec()
        spec.limits.memoryBytes = 64 << 20
        spec.required = [.networkOff]
        await #expect(throws: SandboxError.capabilitiesMissing([.memoryLimit, .networkOff], backend: "process")) {
            try await sandboxes.create(spec, tenant: TenantID(rawValue: "t"))
        }
        #expect(sandboxes.count == 0)
    }

    @Test func ttlAndIdleTTLAreReapedByTheInjectedClock() async throws {
        let clock = ManualClock()
        let sandboxes = service(clock: clock)
        defer { Task { await sandboxes.shutdown() } }
        let tenant = TenantID(rawValue: "t")
        let lasting = try await sandboxes.create(SandboxSpec(ttlSeconds: 100), tenant: tenant)
        let idle = try await sandboxes.create(SandboxSpec(idleTTLSeconds: 10), tenant: tenant)
        clock.advance(milliseconds: 8_000)
        _ = try await sandboxes.exec(idle.id, tenant: tenant, command: .code("1"), timeoutMilliseconds: 30_000)
        clock.advance(milliseconds: 8_000)
        #expect(await sandboxes.reap() == 0, "use moved the idle deadline")
        clock.advance(milliseconds: 3_000)
        #expect(await sandboxes.reap() == 1)
        #expect(throws: SandboxError.notFound) { try sandboxes.sandbox(idle.id, tenant: tenant) }
        clock.advance(milliseconds: 100_000)
        #expect(await sandboxes.reap() == 1)
        #expect(throws: SandboxError.notFound) { try sandboxes.sandbox(lasting.id, tenant: tenant) }
        #expect(!FileManager.default.fileExists(atPath: sandboxes.configuration.root + "/" + lasting.id))
    }
}
