import ArgumentParser
import AsyncHTTPClient
import Cairn
import CairnCore
import CairnStore
import Foundation

@main
struct CairnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cairn",
        abstract: "Cairn: the state layer for AI agents.",
        discussion: """
            Start a server with `cairn serve`; the other commands talk to a running server (--url and \
            --api-key, or CAIRN_URL and CAIRN_API_KEY) or, for `keys`, to a data directory.
            Shell completions: `cairn --generate-completion-script bash|zsh|fish`.
            """,
        version: CairnVersion.string,
        subcommands: [
            Serve.self, RunsCommand.self, QueuesCommand.self, SchedulesCommand.self, CheckpointsCommand.self,
            ArtifactsCommand.self, WorkspacesCommand.self, SandboxesCommand.self, Keys.self, Backup.self, Restore.self,
            Bench.self,
        ])

    /// Parses and runs like ArgumentParser's own `main`, but reports failures as sentences:
    /// the usage shown is the failing subcommand's, and no error is printed as a Swift value.
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch {
            type(of: command).exit(withError: readable(error))
        }
    }

    /// ArgumentParser's own errors pass through; everything else becomes one plain sentence.
    static func readable(_ error: any Error) -> any Error {
        switch error {
        case is ValidationError, is CleanExit, is ExitCode, is CLIError: return error
        case let error as DataBackup.Failure: return CLIError(error.description)
        case let error as CairnError: return CLIError(describe(error))
        case let error as ArtifactClientError: return CLIError(describe(error))
        case let error as WorkspaceError: return CLIError(error.description)
        case let error as HTTPClientError: return CLIError("HTTP request failed: \(APIClient.describe(error))")
        case let error as CocoaError:
            let path = (error.userInfo[NSFilePathErrorKey] as? String).map { "\($0): " } ?? ""
            return CLIError(path + error.localizedDescription)
        default:
            let text = String(describing: error)
            // ArgumentParser's internal errors (parse failures) describe themselves already.
            if String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { return error }
            return CLIError(text)
        }
    }

    static func describe(_ error: CairnError) -> String {
        switch error {
        case .server(let status, let body):
            let message = APIClient.serverMessage(try? JSONParser.parse(body)) ?? body
            return "the server answered \(status): \(message)"
        case .runNotFound: return "no such run"
        case .runCancelled(let runId): return "run \(runId) was cancelled"
        case .leaseLost: return "the lease was lost: another worker took the run over, or it ended"
        case .runLeased(let holder): return "another worker (\(holder)) holds the run's lease"
        case .runAlreadyCompleted: return "the run already completed"
        case .invalidCron(let message, let field):
            return "invalid cron expression" + (field.map { " (\($0))" } ?? "") + ": \(message)"
        case .encoding(let message): return "cannot encode or decode a value: \(message)"
        case .inputMismatch(let step, _, _): return "step \(step)'s input changed since it was first recorded"
        case .stepLocked(let step): return "another worker holds step \(step)"
        case .gateTimedOut(let gate): return "gate \(gate) did not resolve in time"
        case .workflowMismatch(let run, let requested): return "the run belongs to workflow \(run), not \(requested)"
        case .notFound(let id): return "\(id) was not found"
        case .checkpointConflict(let id, _): return "checkpoint \(id) is saved already, with other contents"
        case .invalidRequest(let code, let message): return "refused (\(code)): \(message)"
        case .workflowExists(let id): return "a workflow \(id) exists already"
        case .rateLimited(let seconds):
            return "rate limited" + (seconds.map { "; retry in \($0) s" } ?? "")
        case .capabilityUnavailable(let missing):
            return "the sandbox backend cannot enforce " + missing.joined(separator: ", ")
                + " (`cairn sandbox capabilities` shows what each backend enforces)"
        case .sandboxBusy: return "the sandbox is running another execution; it runs one at a time"
        case .tooManySandboxes: return "the server holds as many sandboxes as it allows; delete one (cairn sandbox rm)"
        }
    }

    static func describe(_ error: ArtifactClientError) -> String {
        switch error {
        case .file(let message): return message
        case .integrity(let message): return "the download does not match the artifact: \(message)"
        case .unsupported: return "artifacts need a server: the embedded mode does not keep them"
        }
    }
}
