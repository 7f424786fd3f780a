import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs each capability's hostile payload once, at small scale, in a throwaway sandbox of the
/// backend, and keeps only the capabilities whose payload was contained. A backend is never
/// believed on its word: what it advertises is what passed here, on this machine.
enum SandboxProbe {
    static func run(_ backend: any SandboxBackend, root: String) async -> SandboxBackendReport {
        var report = SandboxBackendReport(
            name: backend.name, available: false, unavailableReason: backend.unavailableReason, capabilities: [],
            failed: [:])
        guard report.unavailableReason == nil else { return report }
        // The basics: a Python program runs and its output comes back.
        do {
            let hello = try await once(backend, root: root, limits: SandboxLimits()) { sandbox in
                try await sandbox.exec(
                    .argv(["python3", "-c", "print(6 * 7)"], stdin: []), timeoutMilliseconds: 30_000, now: .now(),
                    output: { _ in })
            }
            guard hello.exit.exitCode == 0, String(decoding: hello.stdout, as: UTF8.self) == "42\n" else {
                report.unavailableReason =
                    "python3 did not run in the sandbox: "
                    + String(decoding: hello.stderr.prefix(300), as: UTF8.self)
                return report
            }
        } catch {
            report.unavailableReason = "the sandbox could not start: \(error)"
            return report
        }
        report.available = true
        await withTaskGroup(of: (SandboxCapability, String?).self) { group in
            for capability in SandboxCapability.allCases {
                guard backend.candidates.contains(capability) else {
                    report.failed[capability] = "the \(backend.name) backend does not offer it"
                    continue
                }
                group.addTask { (capability, await check(capability, backend: backend, root: root)) }
            }
            for await (capability, failure) in group {
                if let failure { report.failed[capability] = failure } else { report.capabilities.insert(capability) }
            }
        }
        return report
    }

    /// Runs `body` in a fresh sandbox of `backend` that is removed afterwards.
    static func once<T: Sendable>(
        _ backend: any SandboxBackend, root: String, limits: SandboxLimits, language: SandboxLanguage = .python,
        _ body: (Sandbox) async throws -> T
    ) async throws -> T {
        let id = "probe-" + Identifier.randomHex().prefix(12)
        let directory = root + "/" + id
        guard mkdir(directory, 0o700) == 0 else { throw SandboxError.setupFailed("cannot make \(directory)") }
        if geteuid() == 0 { _ = chown(directory, sandboxUser, sandboxUser) }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let enclosure = try backend.enclose(id: id, directory: directory, limits: limits, writable: true)
        let info = SandboxInfo(
            id: id, tenant: TenantID(rawValue: "probe"), backend: backend.name, language: language, limits: limits,
            capabilities: [], workspace: nil, createdAt: .now(), expiresAt: nil, idleExpiresAt: nil, status: "probe")
        let sandbox = Sandbox(info: info, directory: directory, enclosure: enclosure)
        do {
            let result = try await body(sandbox)
            await sandbox.destroy()
            return result
        } catch {
            await sandbox.destroy()
            throw error
        }
    }

    static func python(_ sandbox: Sandbox, _ code: String, timeout: Int = 20_000) async throws -> SandboxExecResult {
        try await sandbox.exec(
            .argv(["python3", "-c", code], stdin: []), timeoutMilliseconds: timeout, now: .now(), output: { _ in })
    }

    /// Nil when the capability's payload was contained; otherwise what happened.
    static func check(_ capability: SandboxCapability, backend: any SandboxBackend, root: String) async -> String? {
        do {
            switch capability {
            case .processIsolation: return try await processIsolation(backend, root)
            case .reset: return try await reset(backend, root)
            case .timeout: return try await timeout(backend, root)
            case .memoryLimit: return try await memory(backend, root)
            case .cpuLimit: return try await cpu(backend, root)
            case .processLimit: return try await processes(backend, root)
            case .networkOff: return try await network(backend, root)
            case .filesystemIsolation: return try await filesystem(backend, root)
            case .tempSpaceLimit: return try await tempSpace(backend, root)
            }
        } catch {
            return "the probe could not run: \(error)"
        }
    }

    /// A crash (SIGABRT) ends the sandboxed process only.
    static func processIsolation(_ backend: any SandboxBackend, _ root: String) async throws -> String? {
        let result = try await once(backend, root: root, limits: SandboxLimits()) {
            try await python($0, "import os; os.abort()")
        }
        return result.exit.signal == SIGABRT ? nil : "an aborting program reported \(result.exit)"
    }

    /// After a reset, a Python variable is gone.
    static func reset(_ backend: any SandboxBackend, _ root: String) async throws -> String? {
        try await once(backend, root: root, limits: SandboxLimits()) { sandbox in
            _ = try await sandbox.exec(.code("probe = 1"), timeoutMilliseconds: 20_000, now: .now(), output: { _ in })
            try await sandbox.reset(now: .now())
            let after = try await sandbox.exec(
                .code("probe"), timeoutMilliseconds: 20_000, now: .now(), output: { _ in })
            return after.error?.contains("NameError") == true ? nil : "a variable survived the reset"
        }
    }

    /// A grandchild that left the session (setsid, double fork) still dies at the deadline: its
    /// heartbeat file stops changing. A machine too busy to start Python and fork before the
    /// deadline proves nothing either way, so the probe tries again with a longer one (1, 2,
    /// 4, 8 s).
    static func timeout(_ backend: any SandboxBackend, _ root: String) async throws -> String? {
        var deadline = 1000
        while true {
            let outcome = try await timeout(backend, root, deadline: deadline)
            guard outcome == .notForkedInTime, deadline < 8000 else { return outcome.failure }
            deadline *= 2
        }
    }

    enum TimeoutOutcome: Equatable {
        case contained, notStopped(SandboxExitReason), escaped, notForkedInTime

        var failure: String? {
            switch self {
            case .contained: nil
            case .notStopped(let reason): "the payload was not stopped: \(reason)"
            case .escaped: "a setsid grandchild outlived the timeout"
            case .notForkedInTime: "the payload did not get to fork before the deadline"
            }
        }
    }

    static func timeout(_ backend: any SandboxBackend, _ root: String, deadline: Int) async throws -> TimeoutOutcome {
        let code = """
            import os, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    beat = 0
                    while True:
                        with open("beat.tmp", "w") as f:
                            f.write(str(beat))
                        os.replace("beat.tmp", "beat")
                        beat += 1
                        time.sleep(0.02)
                os._exit(0)
            while not os.path.exists("beat"):
                time.sleep(0.01)
            print("forked", flush=True)
            time.sleep(3600)
            """
        return try await once(backend, root: root, limits: SandboxLimits(timeoutMilliseconds: deadline)) { sandbox in
            let result = try await python(sandbox, code, timeout: deadline)
            guard result.exit.reason == .timeout else { return .notStopped(result.exit.reason) }
            guard String(decoding: result.stdout, as: UTF8.self).contains("forked") else { return .notForkedInTime }
            // A living heartbeat changes every 20 ms: read it twice, well apart.
            let beat = sandbox.directory + "/beat"
            let first = try? String(contentsOfFile: beat, encoding: .utf8)
            try await Task.sleep(for: .milliseconds(300))
            let second = try? String(contentsOfFile: beat, encoding: .utf8)
            return first == second ? .contained : .escaped
        }
    }

    /// Allocating twice the memory limit is killed, with the reason memory_limit.
    static func memory(_ backend: any SandboxBackend, _ root: String) async throws -> String? {
        let limit: Int64 = 48 << 20
        let result = try await once(backend, root: root, limits: SandboxLimits(memoryBytes: limit)) {
            try await python($0, "b = b'x' * (\(2 * limit)); print(len(b))")
        }
        return result.exit.reason == .memoryLimit ? nil : "allocating twice the limit ended with \(result.exit.reason)"
    }

    /// A busy loop under a tenth of a core gets about a tenth of its wall time as CPU time.
    static func cpu(_ backend: any SandboxBackend, _ root: String) async throws -> String? {
        let result = try await once(backend, root: root, limits: SandboxLimits(cpuMillicores: 100)) {
            try await python($0, "import time\nt = time.time()\nwhile time.time() - t < 0.4: pass")
        }
        guard let cpu = result.exit.cpuMilliseconds else { return "no CPU time was measured" }
        return cpu < 0.5 * result.exit.durationMilliseconds
            ? nil : "a busy loop used \(Int(cpu)) ms of CPU in \(Int(result.exit.durationMilliseconds)) ms"
    }

    /// A process limit of 8 stops a program that forks 20 children.
    static func processes(_ backend: any SandboxBackend, _ root: String) async throws -> String? {
        let code = """
            import os, time
            started, refused = [], 0
            for _ in range(20):
                try:
                    pid = os.fork()
                except OSError:
                    refused += 1
                    continue
                if pid == 0:
                    time.sleep(2)
                    os._exit(0)
                started.append(pid)
            for pid in started:
                os.kill(pid, 9)
            print(len(started), refused)
            """
        let result = try await once(backend, root: root, limits: SandboxLimits(processes: 8)) {
            try await python($0, code)
        }
        let counts = String(decoding: result.stdout, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard counts.count == 2, let started = Int(counts[0]), started < 8 else {
            return "20 forks under a limit of 8 gave: \(String(decoding: result.stdout.prefix(100), as: UTF8.self))"
        }
        return nil
    }

    /// A TCP listener on the host's loopback and a unix socket on the host are unreachable.
    static func network(_ backend: any SandboxBackend, _ root: String) async throws -> String? {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { return "the probe could not open a listener" }
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 8) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard bound else { return "the probe could not open a listener" }
        let port = UInt16(bigEndian: address.sin_port)
        let code = """
            import socket
            reached = []
            try:
                socket.create_connection(("127.0.0.1", \(port)), timeout=2).close()
                reached.append("tcp")
            except OSError:
                pass
            try:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(2)
                s.connect("/run/systemd/private")
                reached.append("unix")
            except OSError:
                pass
            print(",".join(reached) or "none")
            """
        let result = try await once(backend, root: root, limits: SandboxLimits()) { try await python($0, code) }
        let answer = String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return answer == "none" ? nil : "the sandbox reached the host over: \(answer)"
    }

    /// Files outside the sandbox are invisible and system directories are read-only.
    static func filesystem(_ backend: any SandboxBackend, _ root: String) async throws -> String? {
        let canary = root + "/canary-" + Identifier.randomHex()
        guard
            FileManager.default.createFile(atPath: canary, contents: Array("secret".utf8).withUnsafeBytes { Data($0) })
        else { return "the probe could not write its canary" }
        _ = chmod(canary, 0o644)
        defer { unlink(canary) }
        let name = (canary as NSString).lastPathComponent
        let code = """
            import os
            leaks = []
            for path in ["\(canary)", "../\(name)", "/etc/shadow", "/proc/1/root\(canary)"]:
                try:
                    open(path).read()
                    leaks.append("read " + path)
                except OSError:
                    pass
            try:
                open("/usr/cairn-probe", "w").write("x")
                leaks.append("wrote /usr")
            except OSError:
                pass
            print("; ".join(leaks) or "none")
            """
        let result = try await once(backend, root: root, limits: SandboxLimits()) { try await python($0, code) }
        let answer = String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return answer == "none" ? nil : answer
    }

    /// Writing past the temp space limit in /tmp fails with no space left.
    static func tempSpace(_ backend: any SandboxBackend, _ root: String) async throws -> String? {
        let code = """
            import errno
            try:
                with open("/tmp/fill", "wb") as f:
                    f.write(b"x" * (4 << 20))
                print("wrote")
            except OSError as e:
                print("full" if e.errno == errno.ENOSPC else "error")
            """
        let result = try await once(backend, root: root, limits: SandboxLimits(tmpBytes: 1 << 20)) {
            try await python($0, code)
        }
        let answer = String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return answer == "full" ? nil : "4 MiB in /tmp under a 1 MiB limit: \(answer)"
    }
}
