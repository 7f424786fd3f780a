import Cairn
import CairnCore
import CairnServer
import CairnTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The linux backend needs bubblewrap.
let bubblewrapIsInstalled = access("/usr/bin/bwrap", X_OK) == 0

/// `body` gets a client of a fresh embedded store, or of a fresh live server over HTTP. Every
/// sandbox left afterwards is deleted, and the sandbox root removed, even when `body` fails.
func withSandboxes(_ kind: TransportKind, _ body: @escaping @Sendable (Cairn) async throws -> Void) async throws {
    let directory = ScratchDirectory.path("cairn-sdk-sbx")
    let root = SandboxService.Configuration.forDataDirectory(directory).root
    defer {
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.removeItem(atPath: root)
    }
    /// Runs `body`, then deletes what it left, then rethrows its failure.
    @Sendable func run(_ cairn: Cairn) async throws {
        let outcome: Result<Void, any Error>
        do {
            try await body(cairn)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        for sandbox in (try? await cairn.sandboxes.list()) ?? [] { try? await cairn.sandboxes.delete(sandbox.id) }
        try outcome.get()
    }
    switch kind {
    case .embedded:
        try await run(try Cairn.embedded(dataDirectory: directory))
    case .http:
        var configuration = ServerConfiguration()
        configuration.dataDirectory = directory
        let server = try CairnServer(configuration: configuration, registry: nil, logger: Logger(label: "sdk-test"))
        let app = Application(
            router: server.makeRouter(sseKeepalive: .milliseconds(100)),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        do {
            try await app.test(.live) { client in
                try await run(Cairn.http(url: "http://127.0.0.1:\(try #require(client.port))"))
            }
        } catch {
            await server.sandboxes.shutdown()
            throw error
        }
        // What the server's reaper service does when it stops: no process or cgroup left.
        await server.sandboxes.shutdown()
    }
}

/// Output events of a stream gathered, and its exit.
struct Gathered {
    var stdout = ""
    var stderr = ""
    var exit: SandboxExecution?
    /// Whether some output came before the exit event.
    var outputBeforeExit = false
}

func gather(_ events: AsyncThrowingStream<SandboxEvent, any Error>) async throws -> Gathered {
    var gathered = Gathered()
    for try await event in events {
        #expect(gathered.exit == nil, "nothing may follow the exit event")
        switch event {
        case .stdout(let text):
            gathered.stdout += text
            gathered.outputBeforeExit = true
        case .stderr(let text):
            gathered.stderr += text
            gathered.outputBeforeExit = true
        case .exit(let result): gathered.exit = result
        }
    }
    return gathered
}

/// The sandbox API through the SDK, over HTTP and embedded.
@Suite struct SandboxSDKTests {
    /// The whole life of a sandbox on the process backend (which runs everywhere): state kept
    /// between executions, output streamed while the code still runs, files both ways, an
    /// artifact, reset, delete.
    @Test(.timeLimit(.minutes(5)), arguments: TransportKind.allCases)
    func aProcessSandboxKeepsStateStreamsOutputAndHoldsFiles(_ kind: TransportKind) async throws {
        try await withSandboxes(kind) { cairn in
            let sandboxes = cairn.sandboxes
            let sandbox = try await sandboxes.create(backend: "process", idleTTLSeconds: 600)
            #expect(sandbox.id.hasPrefix("sbx_") && sandbox.backend == "process" && sandbox.language == .python)
            #expect(sandbox.status == "ready" && sandbox.idleExpiresAt != nil && sandbox.expiresAt == nil)
            #expect(try await sandboxes.get(sandbox.id) == sandbox)
            #expect(try await sandboxes.list().map(\.id) == [sandbox.id])
            let id = sandbox.id

            // The interpreter session keeps its variables; the last expression is the value.
            let assigned = try await sandboxes.exec(id, code: "counter = 41")
            #expect(assigned.value == nil && assigned.error == nil && assigned.succeeded)
            let read = try await sandboxes.exec(id, code: "print('reading')\ncounter + 1")
            #expect(read.value == "42" && read.stdout == "reading\n" && read.exit.reason == .exited)
            let failed = try await sandboxes.exec(id, code: "1 / 0")
            #expect(failed.error?.contains("ZeroDivisionError") == true && !failed.succeeded)

            // Output arrives while the code runs: it waits for a file only this test writes,
            // after it has seen the first line. Meanwhile the sandbox refuses a second execution.
            var streamed = Gathered()
            let code = """
                import os, time
                print("ready", flush=True)
                while not os.path.exists("go"):
                    time.sleep(0.005)
                print("done")
                counter * 2
                """
            for try await event in sandboxes.stream(id, code: code) {
                switch event {
                case .stdout(let text):
                    streamed.stdout += text
                    if streamed.stdout == "ready\n" {
                        await #expect(throws: CairnError.sandboxBusy) { _ = try await sandboxes.exec(id, code: "1") }
                        try await sandboxes.writeFile(id, path: "go", contents: "")
                    }
                case .stderr(let text): streamed.stderr += text
                case .exit(let result): streamed.exit = result
                }
            }
            #expect(streamed.stdout == "ready\ndone\n")
            let streamedExit = try #require(streamed.exit)
            #expect(streamedExit.stdout == "ready\ndone\n" && streamedExit.value == "82")

            // A command: output on both streams, its exit status, standard input.
            let shell = try await gather(
                sandboxes.stream(id, command: ["sh", "-c", "echo out; echo err >&2; exit 3"]))
            #expect(shell.stdout == "out\n" && shell.stderr == "err\n" && shell.outputBeforeExit)
            #expect(shell.exit?.exit.exitCode == 3 && shell.exit?.exit.reason == .exited)
            let piped = try await sandboxes.exec(id, command: ["cat"], stdin: "piped in")
            #expect(piped.stdout == "piped in" && piped.exit.exitCode == 0 && piped.succeeded)

            // Files both ways, and through the sandbox's own eyes.
            let binary = (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            try await sandboxes.writeFile(id, path: "data/blob.bin", bytes: binary)
            try await sandboxes.writeFile(id, path: "data/note.txt", contents: "a note")
            #expect(try await sandboxes.readFile(id, path: "data/blob.bin") == binary)
            #expect(try await sandboxes.exec(id, command: ["cat", "data/note.txt"]).stdout == "a note")
            let written = try await sandboxes.exec(
                id, code: "import os\nopen('made.txt', 'w').write('made inside')\nsorted(os.listdir('data'))")
            #expect(written.value == "['blob.bin', 'note.txt']")
            #expect(try await sandboxes.readFile(id, path: "made.txt") == Array("made inside".utf8))
            let top = try await sandboxes.listFiles(id)
            #expect(top.contains(SandboxDirectoryEntry(name: "made.txt", kind: .file, size: 11)))
            #expect(top.contains { $0.name == "data" && $0.kind == .directory })
            #expect(
                try await sandboxes.listFiles(id, path: "data") == [
                    SandboxDirectoryEntry(name: "blob.bin", kind: .file, size: 512),
                    SandboxDirectoryEntry(name: "note.txt", kind: .file, size: 6),
                ])
            let artifact = try await sandboxes.saveArtifact(id, path: "data/blob.bin", name: "blob-from-sandbox")
            #expect(artifact.name == "blob-from-sandbox" && artifact.size == 512 && artifact.owner == id)
            #expect(try await cairn.artifacts.bytes(artifact.id) == binary)

            try await sandboxes.deleteFile(id, path: "data/note.txt")
            await #expect(throws: CairnError.notFound("data/note.txt")) {
                _ = try await sandboxes.readFile(id, path: "data/note.txt")
            }
            do {
                _ = try await sandboxes.readFile(id, path: "../outside")
                Issue.record("a path out of /work was accepted")
            } catch CairnError.invalidRequest(let code, _) {
                #expect(code == "invalid_path")
            }

            // Reset: the variables are gone, the files stay.
            let reset = try await sandboxes.reset(id)
            #expect(reset.id == id)
            let after = try await sandboxes.exec(id, code: "counter")
            #expect(after.error?.contains("NameError") == true)
            #expect(try await sandboxes.readFile(id, path: "made.txt") == Array("made inside".utf8))

            try await sandboxes.delete(id)
            await #expect(throws: CairnError.notFound(id)) { _ = try await sandboxes.get(id) }
            await #expect(throws: CairnError.notFound(id)) { _ = try await sandboxes.exec(id, code: "1") }
            await #expect(throws: CairnError.notFound(id)) { try await sandboxes.delete(id) }
            #expect(try await sandboxes.list().isEmpty)
        }
    }

    /// A limit or capability the backend cannot enforce is refused by name, not dropped; bad
    /// values are refused before anything is made.
    @Test(arguments: TransportKind.allCases)
    func whatTheBackendCannotEnforceIsRefusedByName(_ kind: TransportKind) async throws {
        try await withSandboxes(kind) { cairn in
            let sandboxes = cairn.sandboxes
            let capabilities = try await sandboxes.capabilities()
            let process = try #require(capabilities.backend("process"))
            #expect(process.available && capabilities.backend(capabilities.defaultBackend) != nil)
            // The plain process backend enforces neither (it does not even offer them).
            #expect(!process.capabilities.contains(.memoryLimit) && !process.capabilities.contains(.networkOff))
            #expect(process.failed[.memoryLimit] != nil && process.failed[.networkOff] != nil)

            await #expect(throws: CairnError.capabilityUnavailable(missing: ["memory_limit", "network_off"])) {
                _ = try await sandboxes.create(
                    backend: "process", limits: SandboxLimits(memoryBytes: 64 << 20), require: [.networkOff])
            }
            for limits in [SandboxLimits(memoryBytes: -1), SandboxLimits(timeoutMilliseconds: 0)] {
                do {
                    _ = try await sandboxes.create(backend: "process", limits: limits)
                    Issue.record("\(limits) was accepted")
                } catch CairnError.invalidRequest(let code, _) {
                    #expect(code == "invalid_request")
                }
            }
            do {
                _ = try await sandboxes.create(backend: "docker")
                Issue.record("an unknown backend was accepted")
            } catch CairnError.invalidRequest(let code, let message) {
                #expect(code == "invalid_request" && message.contains("backend"))
            }
            #expect(try await sandboxes.list().isEmpty)
            await #expect(throws: CairnError.notFound("sbx_nope")) { _ = try await sandboxes.get("sbx_nope") }
            await #expect(throws: CairnError.notFound("sbx_nope")) {
                _ = try await gather(sandboxes.stream("sbx_nope", code: "1"))
            }
        }
    }

    /// The linux backend (bubblewrap and cgroups) with its limits in force: /work is the
    /// sandbox's directory, a timeout ends an execution and is reported as one.
    @Test(
        .enabled(if: bubblewrapIsInstalled, "/usr/bin/bwrap is not executable: the linux backend cannot run here"),
        .timeLimit(.minutes(5)), arguments: TransportKind.allCases)
    func aLinuxSandboxEnforcesItsLimits(_ kind: TransportKind) async throws {
        try await withSandboxes(kind) { cairn in
            let sandboxes = cairn.sandboxes
            let linux = try #require(try await sandboxes.capabilities().backend("linux"))
            try #require(linux.available, "the linux backend's probe failed: \(linux.reason ?? "")")
            try #require(
                linux.capabilities.contains(.timeout) && linux.capabilities.contains(.memoryLimit),
                "the linux probe found missing: \(linux.failed)")
            let sandbox = try await sandboxes.create(
                backend: "linux", limits: SandboxLimits(timeoutMilliseconds: 20_000, memoryBytes: 256 << 20),
                require: [.networkOff, .filesystemIsolation])
            let id = sandbox.id
            #expect(sandbox.backend == "linux")
            #expect(sandbox.limits.timeoutMilliseconds == 20_000 && sandbox.limits.memoryBytes == 256 << 20)
            #expect(sandbox.capabilities.contains(.timeout) && sandbox.capabilities.contains(.networkOff))

            #expect(try await sandboxes.exec(id, code: "base = 40").succeeded)
            #expect(try await sandboxes.exec(id, code: "base + 2").value == "42")

            try await sandboxes.writeFile(id, path: "in/data.txt", contents: "linux data")
            let seen = try await gather(
                sandboxes.stream(id, command: ["sh", "-c", "pwd; cat in/data.txt; echo made > out.txt"]))
            #expect(seen.stdout == "/work\nlinux data" && seen.outputBeforeExit)
            #expect(seen.exit?.exit.exitCode == 0 && seen.exit?.exit.cpuMs != nil)
            #expect(try await sandboxes.readFile(id, path: "out.txt") == Array("made\n".utf8))

            let slow = try await sandboxes.exec(id, command: ["sleep", "30"], timeoutMilliseconds: 300)
            #expect(slow.exit.reason == .timeout && slow.exit.exitCode == nil && !slow.succeeded)

            try await sandboxes.reset(id)
            #expect(try await sandboxes.exec(id, code: "base").error?.contains("NameError") == true)
            #expect(try await sandboxes.readFile(id, path: "in/data.txt") == Array("linux data".utf8))
            try await sandboxes.delete(id)
            await #expect(throws: CairnError.notFound(id)) { _ = try await sandboxes.get(id) }
        }
    }
}
