import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One sandbox: its directory, its confinement, and (for Python) the interpreter session that
/// keeps its variables. One execution at a time; files can be read and written meanwhile.
public actor Sandbox {
    public nonisolated let id: String
    public nonisolated let tenant: TenantID
    public private(set) var info: SandboxInfo
    /// The sandbox's directory on the host (`/work` inside).
    public nonisolated let directory: String
    let enclosure: any SandboxEnclosure
    private var session: InterpreterProcess?
    private var busy = false
    private(set) var destroyed = false
    public private(set) var lastUsed: Timestamp
    /// The last few executions, newest last, with their output cut short: what a person
    /// looking at the sandbox sees (kept in memory with the sandbox, like the sandbox itself).
    public private(set) var history: [SandboxExecutionRecord] = []
    var isBusy: Bool { busy }

    init(info: SandboxInfo, directory: String, enclosure: any SandboxEnclosure) {
        id = info.id
        tenant = info.tenant
        self.info = info
        self.directory = directory
        self.enclosure = enclosure
        lastUsed = info.createdAt
    }

    func touch(_ now: Timestamp) {
        lastUsed = now
        if let idle = info.idleTTLSeconds {
            info.idleExpiresAt = now.adding(milliseconds: idle * 1000)
        }
    }

    /// Runs `command`, handing output to `output` as it arrives.
    public func exec(
        _ command: SandboxCommand, timeoutMilliseconds: Int?, now: Timestamp,
        output: @escaping @Sendable (SandboxOutput) -> Void
    ) async throws -> SandboxExecResult {
        guard !destroyed else { throw SandboxError.notFound }
        guard !busy else { throw SandboxError.busy }
        busy = true
        touch(now)
        defer { busy = false }
        let timeout = timeoutMilliseconds ?? info.limits.timeoutMilliseconds
        let result: SandboxExecResult
        switch command {
        case .argv(let argv, let stdin):
            result = try await run(argv: argv, stdin: stdin, timeout: timeout, output: output)
        case .code(let code):
            guard info.language == .python else { throw SandboxError.invalid("this sandbox runs commands only") }
            result = try await run(code: code, timeout: timeout, output: output)
        }
        history.append(SandboxExecutionRecord(command: command, startedAt: now, result: result))
        if history.count > SandboxExecutionRecord.kept {
            history.removeFirst(history.count - SandboxExecutionRecord.kept)
        }
        return result
    }

    // MARK: Commands

    private func run(
        argv: [String], stdin: [UInt8], timeout: Int?, output: @escaping @Sendable (SandboxOutput) -> Void
    ) async throws -> SandboxExecResult {
        var input = try Pipe2()
        var out = try Pipe2()
        var err = try Pipe2()
        let before = enclosure.counters()
        enclosure.startMeasuring()
        let started = ContinuousClock.now
        let process = try enclosure.launch(
            argv,
            descriptors: [.init(input.read, as: 0), .init(out.write, as: 1), .init(err.write, as: 2)])
        close(input.takeRead())
        close(out.takeWrite())
        close(err.takeWrite())
        let enclosure = self.enclosure
        let execution = Execution(limit: info.limits.outputBytes, forward: output) { enclosure.stop(process) }
        let readers = [
            DescriptorReader(
                fd: out.takeRead(), onData: { execution.output($0, stderr: false) },
                onEnd: { execution.update { $0.stdoutDone = true } }),
            DescriptorReader(
                fd: err.takeRead(), onData: { execution.output($0, stderr: true) },
                onEnd: { execution.update { $0.stderrDone = true } }),
        ]
        writeAllThenClose(input.takeWrite(), stdin)
        let deadline = timeout.map { ms in
            Task {
                try await Task.sleep(for: .milliseconds(ms))
                execution.stop(.timeout)
                enclosure.stop(process)
            }
        }
        let termination = await process.wait()
        deadline?.cancel()
        // Output a background process still holds open is not waited for long.
        execution.update { $0.processEnded = true }
        let drain = Task {
            try await Task.sleep(for: .milliseconds(500))
            execution.update {
                $0.stdoutDone = true
                $0.stderrDone = true
            }
        }
        await execution.wait { $0.stdoutDone && $0.stderrDone }
        drain.cancel()
        readers.forEach { $0.cancel() }
        return finish(
            execution, termination: termination, started: started, before: before, code: false)
    }

    // MARK: Python

    private func run(code: String, timeout: Int?, output: @escaping @Sendable (SandboxOutput) -> Void) async throws
        -> SandboxExecResult
    {
        let session = try self.session ?? InterpreterProcess(enclosure: enclosure)
        self.session = session
        let before = enclosure.counters()
        enclosure.startMeasuring()
        let started = ContinuousClock.now
        let enclosure = self.enclosure
        let execution = Execution(limit: info.limits.outputBytes, forward: output) { enclosure.stop(session.process) }
        session.begin(execution, code: code)
        let deadline = timeout.map { ms in
            Task {
                try await Task.sleep(for: .milliseconds(ms))
                execution.stop(.timeout)
                enclosure.stop(session.process)
            }
        }
        await execution.wait { ($0.result != nil && $0.stdoutDone && $0.stderrDone) || $0.processEnded }
        deadline?.cancel()
        session.end()
        let termination = session.process.termination
        if termination != nil || execution.snapshot.stopReason != nil {
            // The interpreter is gone (or was stopped mid-execution): the next execution
            // starts a fresh one, and nothing of this one runs on.
            session.process.kill(SIGKILL, group: true)
            _ = await session.process.wait()
            self.session = nil
        }
        return finish(execution, termination: termination, started: started, before: before, code: true)
    }

    private func finish(
        _ execution: Execution, termination: ProcessTermination?, started: ContinuousClock.Instant,
        before: Cgroup.Counters?, code: Bool
    ) -> SandboxExecResult {
        let elapsed = ContinuousClock.now - started
        execution.flush()
        let state = execution.snapshot
        let after = enclosure.counters()
        var exit = SandboxExit(
            reason: .exited, exitCode: nil, signal: nil,
            durationMilliseconds: Double(elapsed.components.seconds) * 1000
                + Double(elapsed.components.attoseconds) / 1e15,
            cpuMilliseconds: nil, peakMemoryBytes: nil)
        if let termination {
            (exit.exitCode, exit.signal) = enclosure.interpret(termination)
        }
        if let before, let after, let b = before.cpuMicroseconds, let a = after.cpuMicroseconds {
            exit.cpuMilliseconds = Double(max(0, a - b)) / 1000
            exit.peakMemoryBytes = after.peakMemoryBytes
        } else if let termination, !code {
            exit.cpuMilliseconds = Double(termination.cpuMicroseconds) / 1000
            exit.peakMemoryBytes = termination.peakResidentBytes
        }
        var result = SandboxExecResult(exit: exit)
        let failed: Bool
        if code {
            if let object = state.result?.objectValue {
                result.value = object["value"]?.stringValue
                result.valueJSON = object["json"]?.stringValue
                result.error = object["error"]?.stringValue
            }
            failed = state.result == nil || result.error != nil
        } else {
            failed = exit.exitCode != 0
        }
        let oom = (after?.oomKills ?? 0) > (before?.oomKills ?? 0)
        let pidsHit = (after?.pidsLimitHits ?? 0) > (before?.pidsLimitHits ?? 0)
        if let stop = state.stopReason {
            result.exit.reason = stop
        } else if oom {
            result.exit.reason = .memoryLimit
        } else if pidsHit && failed {
            result.exit.reason = .processLimit
        } else if exit.signal != nil || (code && termination != nil) {
            result.exit.reason = .killed
        }
        if code && result.error == nil && state.result == nil {
            result.error = Self.interpreterEnded(result.exit)
        }
        result.stdout = state.stdout
        result.stderr = state.stderr
        result.truncated = state.truncated
        return result
    }

    static func interpreterEnded(_ exit: SandboxExit) -> String {
        let why: String
        switch exit.reason {
        case .timeout: why = "the execution timed out"
        case .memoryLimit: why = "the sandbox ran out of its memory limit"
        case .processLimit: why = "the sandbox hit its process limit"
        case .outputLimit: why = "the output passed the sandbox's output limit"
        case .killed, .exited:
            why = exit.signal.map { "the interpreter was killed by signal \($0)" } ?? "the interpreter exited"
        }
        return "SandboxError: \(why); the interpreter was stopped and its variables are gone"
    }

    /// Runs `body` while no execution runs (and none may start).
    func exclusive<T: Sendable>(now: Timestamp, _ body: @Sendable () async throws -> T) async throws -> T {
        guard !destroyed else { throw SandboxError.notFound }
        guard !busy else { throw SandboxError.busy }
        busy = true
        touch(now)
        defer { busy = false }
        return try await body()
    }

    // MARK: Reset and removal

    /// Ends every process of the sandbox; the next Python execution starts a fresh interpreter.
    /// `/work` is kept.
    public func reset(now: Timestamp) async throws {
        guard !destroyed else { throw SandboxError.notFound }
        guard !busy else { throw SandboxError.busy }
        touch(now)
        await stopSession()
        enclosure.killAll(nil)
    }

    private func stopSession() async {
        guard let session else { return }
        session.process.kill(SIGKILL, group: true)
        _ = await session.process.wait()
        session.end()
        self.session = nil
    }

    func destroy() async {
        guard !destroyed else { return }
        destroyed = true
        await stopSession()
        enclosure.killAll(nil)
        enclosure.destroy()
    }
}

/// One execution's collected output and what has happened so far.
final class Execution: Sendable {
    struct State: Sendable {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var kept = 0
        var truncated = false
        var result: JSONValue?
        var stdoutDone = false
        var stderrDone = false
        var processEnded = false
        var stopReason: SandboxExitReason?
        /// The start of a UTF-8 character split across reads, held until the rest comes, so
        /// every forwarded chunk is whole characters.
        var stdoutCarry: [UInt8] = []
        var stderrCarry: [UInt8] = []
    }

    private let state = Mutex<
        (state: State, waiter: (predicate: @Sendable (State) -> Bool, continuation: CheckedContinuation<Void, Never>)?)
    >((State(), nil))
    let limit: Int
    let forward: @Sendable (SandboxOutput) -> Void
    let overLimit: @Sendable () -> Void

    init(limit: Int, forward: @escaping @Sendable (SandboxOutput) -> Void, overLimit: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.forward = forward
        self.overLimit = overLimit
    }

    var snapshot: State { state.withLock { $0.state } }

    /// Keeps output up to the limit; past it, the rest is dropped and the execution stopped.
    func output(_ bytes: [UInt8], stderr: Bool) {
        guard !bytes.isEmpty else { return }
        let (forwarded, stop) = state.withLock { s -> ([UInt8], Bool) in
            let room = max(0, limit - s.state.kept)
            let kept = Array(bytes.prefix(room))
            s.state.kept += kept.count
            var pending = (stderr ? s.state.stderrCarry : s.state.stdoutCarry) + kept
            let whole = Self.wholeCharacters(pending)
            let forwarded = Array(pending[..<whole])
            pending.removeFirst(whole)
            if stderr {
                s.state.stderr += kept
                s.state.stderrCarry = pending
            } else {
                s.state.stdout += kept
                s.state.stdoutCarry = pending
            }
            guard kept.count < bytes.count else { return (forwarded, false) }
            let first = !s.state.truncated
            s.state.truncated = true
            if s.state.stopReason == nil { s.state.stopReason = .outputLimit }
            return (forwarded, first)
        }
        if !forwarded.isEmpty { forward(stderr ? .stderr(forwarded) : .stdout(forwarded)) }
        if stop { overLimit() }
    }

    /// Forwards what was held back at the end of a character split across reads (the
    /// execution has ended: no more bytes are coming).
    func flush() {
        let (out, err) = state.withLock { s -> ([UInt8], [UInt8]) in
            defer {
                s.state.stdoutCarry = []
                s.state.stderrCarry = []
            }
            return (s.state.stdoutCarry, s.state.stderrCarry)
        }
        if !out.isEmpty { forward(.stdout(out)) }
        if !err.isEmpty { forward(.stderr(err)) }
    }

    /// How many leading bytes are whole UTF-8 characters: all but an unfinished multi-byte
    /// sequence at the end (anything malformed counts as whole; it is decoded as U+FFFD).
    static func wholeCharacters(_ bytes: [UInt8]) -> Int {
        var i = bytes.count - 1
        var continuation = 0
        while i >= 0 && continuation < 3 && bytes[i] & 0xC0 == 0x80 {
            continuation += 1
            i -= 1
        }
        guard i >= 0 else { return bytes.count }
        let lead = bytes[i]
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return length > continuation + 1 ? i : bytes.count
    }

    func stop(_ reason: SandboxExitReason) {
        update { if $0.stopReason == nil { $0.stopReason = reason } }
    }

    func update(_ change: (inout State) -> Void) {
        let resume = state.withLock { s -> CheckedContinuation<Void, Never>? in
            change(&s.state)
            guard let waiter = s.waiter, waiter.predicate(s.state) else { return nil }
            s.waiter = nil
            return waiter.continuation
        }
        resume?.resume()
    }

    /// Returns once `predicate` holds (one waiter at a time).
    func wait(until predicate: @escaping @Sendable (State) -> Bool) async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { s -> Bool in
                if predicate(s.state) { return true }
                s.waiter = (predicate, continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// A running Python interpreter loop and the descriptors the server talks to it through.
final class InterpreterProcess: Sendable {
    let process: ChildProcess
    private let requests: Int32
    private let readers: [DescriptorReader]
    private let routing = Routing()

    /// Which execution the interpreter's output belongs to now.
    final class Routing: Sendable {
        let current = Mutex<Current?>(nil)
    }

    struct Current: Sendable {
        var execution: Execution
        var stdout: MarkerScanner
        var stderr: MarkerScanner
        var resultLine: [UInt8] = []

        /// The output part of `chunk` and whether the stream's end marker has now been seen.
        mutating func feed(_ chunk: [UInt8], stderr: Bool) -> (Execution, [UInt8], Bool) {
            if stderr {
                let bytes = self.stderr.feed(chunk)
                return (execution, bytes, self.stderr.found)
            }
            let bytes = stdout.feed(chunk)
            return (execution, bytes, stdout.found)
        }
    }

    init(enclosure: any SandboxEnclosure) throws {
        var requestPipe = try Pipe2()
        var resultPipe = try Pipe2()
        var out = try Pipe2()
        var err = try Pipe2()
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(devNull) }
        process = try enclosure.launch(
            PythonSession.argv(),
            descriptors: [
                .init(devNull, as: 0), .init(out.write, as: 1), .init(err.write, as: 2),
                .init(requestPipe.read, as: 3), .init(resultPipe.write, as: 4),
            ])
        close(requestPipe.takeRead())
        close(resultPipe.takeWrite())
        close(out.takeWrite())
        close(err.takeWrite())
        requests = requestPipe.takeWrite()
        let routing = self.routing
        let process = self.process
        func route(stderr: Bool) -> @Sendable ([UInt8]) -> Void {
            { chunk in
                let routed = routing.current.withLock { c -> (Execution, [UInt8], Bool)? in
                    guard c != nil else { return nil }
                    return c!.feed(chunk, stderr: stderr)
                }
                guard let (execution, bytes, found) = routed else { return }
                execution.output(bytes, stderr: stderr)
                if found { execution.update { if stderr { $0.stderrDone = true } else { $0.stdoutDone = true } } }
            }
        }
        let ended: @Sendable () -> Void = {
            Task {
                _ = await process.wait()
                routing.current.withLock { $0?.execution }?.update { $0.processEnded = true }
            }
        }
        readers = [
            DescriptorReader(fd: out.takeRead(), onData: route(stderr: false), onEnd: ended),
            DescriptorReader(fd: err.takeRead(), onData: route(stderr: true), onEnd: ended),
            DescriptorReader(
                fd: resultPipe.takeRead(),
                onData: { chunk in
                    let done = routing.current.withLock { c -> (Execution, JSONValue)? in
                        guard c != nil else { return nil }
                        c!.resultLine += chunk
                        guard let newline = c!.resultLine.firstIndex(of: 0x0A) else { return nil }
                        let line = Array(c!.resultLine[..<newline])
                        c!.resultLine = []
                        return (c!.execution, (try? JSONParser.parse(bytes: line)) ?? .object(JSONObject()))
                    }
                    if let (execution, value) = done { execution.update { $0.result = value } }
                }, onEnd: ended),
        ]
        Task { [routing] in
            _ = await process.wait()
            routing.current.withLock { $0?.execution }?.update { $0.processEnded = true }
        }
    }

    /// Sends `code` to the interpreter for `execution`.
    func begin(_ execution: Execution, code: String) {
        let nonce = Identifier.randomHex()
        let marker = PythonSession.endMarker(nonce: nonce)
        routing.current.withLock {
            $0 = Current(
                execution: execution, stdout: MarkerScanner(marker: marker), stderr: MarkerScanner(marker: marker))
        }
        if process.termination != nil { execution.update { $0.processEnded = true } }
        let line = makeJSON { w in
            w.beginObject()
            w.field("code", code)
            w.field("nonce", nonce)
            w.endObject()
        }
        writeAllThenClose(requests, Array(line.utf8) + [0x0A], close: false)
    }

    /// Output from now until the next `begin` belongs to no execution and is dropped.
    func end() { routing.current.withLock { $0 = nil } }

    deinit {
        readers.forEach { $0.cancel() }
        close(requests)
    }
}
