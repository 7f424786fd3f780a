import ArgumentParser
import CairnCore
import Foundation
import NIOHTTP1

/// Sandboxes end to end, per backend: cold create-to-first-output (create a sandbox, run
/// `print(1)` in its fresh Python session), the warm round trip of `1+1` in a live session,
/// executions per second with several sessions at once, and the server's resident memory with
/// idle sessions alive. The floor beside them: spawning `python3 -c 'print(1)'` directly.
struct SandboxesBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sandboxes")

    @Option(help: "Server host.") var host = "127.0.0.1"
    @Option(help: "Server port.") var port = 7373
    @Option(name: .customLong("api-key")) var apiKey: String?
    @Option(help: "Backends to measure, comma-separated.") var backends = "linux,process"
    @Option(help: "Cold creations timed per backend.") var cold = 40
    @Option(help: "Warm executions timed per backend.") var warm = 300
    @Option(help: "Sessions executing at once.") var sessions = 8
    @Option(help: "Executions per session in the throughput run.") var perSession = 100
    @Option(help: "Idle sessions kept alive while the server's memory is read.") var idle = 50
    @Option(
        name: .customLong("server-pid"), help: "The server's pid, to read its resident memory (VmRSS) from /proc.")
    var serverPid: Int?

    func run() async throws {
        print(WorkspacesBench.line("floor: spawn python3 -c 'print(1)' and read its output", try await spawnFloor()))
        for backend in backends.split(separator: ",").map(String.init) {
            let c = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
            var coldTimes: [Duration] = []
            for _ in 0..<cold {
                let t0 = ContinuousClock.now
                let id = try await create(c, backend)
                let result = try await c.post("/sandboxes/\(id)/exec", #"{"code":"print(1)"}"#)
                coldTimes.append(ContinuousClock.now - t0)
                try check(result, stdout: "1\n")
                _ = try await c.send(.DELETE, "/sandboxes/\(id)")
            }
            print("backend \(backend):")
            print(WorkspacesBench.line("  cold: create + first output of print(1)", coldTimes))

            let id = try await create(c, backend)
            _ = try await c.post("/sandboxes/\(id)/exec", #"{"code":"0"}"#)
            var warmTimes: [Duration] = []
            for _ in 0..<warm {
                let t0 = ContinuousClock.now
                let result = try await c.post("/sandboxes/\(id)/exec", #"{"code":"1+1"}"#)
                warmTimes.append(ContinuousClock.now - t0)
                guard result["value"]?.stringValue == "2" else { throw failure(result) }
            }
            _ = try await c.send(.DELETE, "/sandboxes/\(id)")
            print(WorkspacesBench.line("  warm: execute 1+1 in a live session", warmTimes))
            try await throughput(backend)
            try await idleMemory(c, backend)
            await c.close()
        }
    }

    func create(_ c: BenchConnection, _ backend: String) async throws -> String {
        let reply = try await c.post("/sandboxes", #"{"backend":"\#(backend)"}"#)
        guard let id = reply["id"]?.stringValue else { throw failure(reply) }
        return id
    }

    func check(_ result: JSONValue, stdout: String) throws {
        guard result["stdout"]?.stringValue == stdout else { throw failure(result) }
    }

    func failure(_ reply: JSONValue) -> BenchClient.Failure {
        BenchClient.Failure(description: "unexpected answer: \(reply.jsonText)")
    }

    /// `sessions` sandboxes, each executing `1+1` `perSession` times on its own connection.
    func throughput(_ backend: String) async throws {
        let setup = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
        var ids: [String] = []
        for _ in 0..<sessions {
            let id = try await create(setup, backend)
            _ = try await setup.post("/sandboxes/\(id)/exec", #"{"code":"0"}"#)
            ids.append(id)
        }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids {
                group.addTask {
                    let c = try await BenchConnection.connect(host: host, port: port, apiKey: apiKey)
                    for _ in 0..<perSession {
                        let result = try await c.post("/sandboxes/\(id)/exec", #"{"code":"1+1"}"#)
                        guard result["value"]?.stringValue == "2" else { throw failure(result) }
                    }
                    await c.close()
                }
            }
            try await group.waitForAll()
        }
        let wall = ContinuousClock.now - start
        print(
            String(
                format: "  %d sessions at once: %.0f executions/s (%d executions in %.2f s)", sessions,
                Double(sessions * perSession) / wall.seconds, sessions * perSession, wall.seconds))
        for id in ids { _ = try await setup.send(.DELETE, "/sandboxes/\(id)") }
        await setup.close()
    }

    /// The server's VmRSS before and with `idle` live sessions (each ran one execution).
    func idleMemory(_ c: BenchConnection, _ backend: String) async throws {
        guard let serverPid else { return }
        let before = Self.residentKiB(serverPid)
        var ids: [String] = []
        for _ in 0..<idle {
            let id = try await create(c, backend)
            _ = try await c.post("/sandboxes/\(id)/exec", #"{"code":"x = 1"}"#)
            ids.append(id)
        }
        let with = Self.residentKiB(serverPid)
        print(
            String(
                format: "  server RSS: %.1f MiB before, %.1f MiB with %d idle sessions (%.0f KiB each)",
                Double(before) / 1024, Double(with) / 1024, idle, Double(with - before) / Double(max(1, idle))))
        for id in ids { _ = try await c.send(.DELETE, "/sandboxes/\(id)") }
    }

    static func residentKiB(_ pid: Int) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    /// The least a sandbox could cost: start a Python and read what it prints, no confinement.
    func spawnFloor() async throws -> [Duration] {
        var times: [Duration] = []
        for _ in 0..<cold {
            let t0 = ContinuousClock.now
            var out = try Pipe2()
            let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
            let process = try ChildProcess(
                argv: ["/usr/bin/python3", "-c", "print(1)"], environment: ["PATH": "/usr/bin:/bin"],
                descriptors: [.init(devNull, as: 0), .init(out.write, as: 1), .init(devNull, as: 2)],
                newSession: true)
            close(devNull)
            close(out.takeWrite())
            let fd = out.takeRead()
            var buffer = [UInt8](repeating: 0, count: 16)
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            close(fd)
            _ = await process.wait()
            times.append(ContinuousClock.now - t0)
            guard n == 2 else { throw BenchClient.Failure(description: "python3 printed \(n) bytes") }
        }
        return times
    }
}
