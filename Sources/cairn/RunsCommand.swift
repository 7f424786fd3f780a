import ArgumentParser
import AsyncHTTPClient
import CairnCore
import Foundation
import NIOCore
import NIOHTTP1

/// `cairn runs`: look at runs on a server and step in (gates, cancel, recovery).
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List and inspect runs on a Cairn server; approve or reject gates, cancel, recover.",
        discussion: """
            Examples:
              cairn runs ls --status running
              cairn runs show run_0123...
              cairn runs events run_0123... --follow
              cairn runs approve run_0123... review --comment "looks good"
            """,
        subcommands: [List.self, Show.self, Events.self, Approve.self, Reject.self, Cancel.self, Recover.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List runs, newest first, a page at a time.",
            discussion: """
                Examples:
                  cairn runs ls --workflow report --status failed --json
                  cairn runs ls --stalled          # running, lease expired, nothing will resume them
                  cairn runs ls --since 2026-12-01T00:00:00Z --all
                """)
        @OptionGroup var server: ServerOptions
        @Option(help: "Only runs with this status (pending, queued, running, completed, failed, cancelled).")
        var status: String?
        @Option(help: "Only runs of this workflow.") var workflow: String?
        @Option(help: "Only runs created at or after this ISO 8601 time.") var since: String?
        @Flag(help: "Only stalled runs: running, lease expired, no queue and no recovery webhook.") var stalled = false
        @Option(help: "Runs per page (1...1000).") var limit = 100
        @Option(help: "Start after this cursor (printed after a page that has more).") var cursor: String?
        @Flag(help: "Follow every page.") var all = false
        @Flag(help: "Print JSON lines, one run each.") var json = false

        func validate() throws {
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1...1000, got \(limit)") }
            if let status, RunStatus(rawValue: status) == nil {
                throw ValidationError(
                    "--status must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")), got \(status)"
                )
            }
            if let since, Timestamp(iso8601: since) == nil {
                throw ValidationError("--since must be an ISO 8601 time such as 2026-12-01T00:00:00Z, got \(since)")
            }
        }

        func run() async throws {
            var query = ["limit=\(limit)"]
            if let status { query.append("status=" + APIClient.query(status)) }
            if let workflow { query.append("workflow=" + APIClient.query(workflow)) }
            if let since { query.append("createdSince=" + APIClient.query(since)) }
            if stalled { query.append("stalled=true") }
            try await printPagedListing(
                server.client, path: "/runs", query: query, itemsKey: "runs", cursorKey: "nextCursor", from: cursor,
                all: all, json: json, empty: "no runs",
                header: ["ID", "WORKFLOW", "STATUS", "ATTEMPT", "QUEUE", "CREATED", "UPDATED"]
            ) { r in
                [
                    r.cell("id"), r.cell("workflowName"), r.cell("status"), r.cell("attempt"), r.cell("queue"),
                    r.cell("createdAt"), r.cell("updatedAt"),
                ]
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a run: status, steps, gates, state, children, usage.",
            discussion: "Example: cairn runs show run_0123... --json")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The run's id.") var id: String
        @Flag(help: "Print the server's whole record as JSON.") var json = false

        func run() async throws {
            let detail = try await server.client.get("/runs/" + APIClient.segment(id))
            if json {
                print(detail.jsonText)
                return
            }
            let run = detail["run"] ?? .null
            printTable([
                ["run", run.cell("id")], ["workflow", run.cell("workflowName")], ["status", run.cell("status")],
                ["attempt", run.cell("attempt")], ["lease owner", run.cell("leaseOwner")],
                ["lease expires", run.cell("leaseExpiresAt")], ["queue", run.cell("queue")],
                ["created", run.cell("createdAt")], ["updated", run.cell("updatedAt")],
                ["completed", run.cell("completedAt")],
            ])
            if let error = run["error"], !error.isNull { print("error: \(error.jsonText)") }
            if let result = run["result"], !result.isNull { print("result: \(result.jsonText)") }
            let steps = detail["steps"]?.arrayValue ?? []
            if !steps.isEmpty {
                print("\nsteps")
                printTable(
                    [["NAME", "STATUS", "ATTEMPT", "STARTED", "COMPLETED"]]
                        + steps.map { s in
                            [
                                s.cell("name"), s.cell("status"), s.cell("attempt"), s.cell("startedAt"),
                                s.cell("completedAt"),
                            ]
                        })
            }
            let gates = detail["gates"]?.arrayValue ?? []
            if !gates.isEmpty {
                print("\ngates")
                printTable(
                    [["NAME", "ID", "STATUS", "DECISION", "ACTOR", "PROMPT"]]
                        + gates.map { g in
                            [
                                g.cell("name"), g.cell("id"), g.cell("status"), g.cell("decision"), g.cell("actor"),
                                g.cell("prompt"),
                            ]
                        })
            }
            let children = detail["childRuns"]?.arrayValue ?? []
            if !children.isEmpty {
                print("\nchild runs")
                printTable(
                    [["ID", "WORKFLOW", "STATUS"]]
                        + children.map { [$0.cell("id"), $0.cell("workflowName"), $0.cell("status")] })
            }
            if let state = detail["state"], !state.isNull { print("\nstate: \(state.cell("value"))") }
            let usage = detail["usage"]?.arrayValue ?? []
            if !usage.isEmpty {
                let cost = usage.compactMap { $0["costUsd"]?.doubleValue }.reduce(0, +)
                print("\nusage: \(usage.count) entries, \(String(format: "%.6f", cost)) USD")
            }
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a run's events (JSON lines); --follow streams new ones until the run ends.",
            discussion: """
                Each event has a sequence number (`seq`, 1, 2, 3... per run). Pass the last one you saw \
                as --after to continue from there.
                Example: cairn runs events run_0123... --after 12 --follow
                """)
        @OptionGroup var server: ServerOptions
        @Argument(help: "The run's id.") var id: String
        @Option(help: "Only events after this sequence number.") var after: Int64 = 0
        @Flag(help: "Keep streaming new events until the run completes, fails or is cancelled.") var follow = false

        func validate() throws { guard after >= 0 else { throw ValidationError("--after must be >= 0") } }

        func run() async throws {
            let client = server.client
            let path = "/runs/\(APIClient.segment(id))/events?after=\(after)"
            if !follow {
                let detail = try await client.get("/runs/" + APIClient.segment(id))
                for event in detail["events"]?.arrayValue ?? [] where (event["seq"]?.intValue ?? 0) > after {
                    print(event.jsonText)
                }
                return
            }
            // Not found is an error here; the stream itself answers an empty stream for unknown runs.
            let detail = try await client.get("/runs/" + APIClient.segment(id))
            if let status = detail["run"]?["status"]?.stringValue, Self.terminal.contains(status) {
                for event in detail["events"]?.arrayValue ?? [] where (event["seq"]?.intValue ?? 0) > after {
                    print(event.jsonText)
                }
                return
            }
            let response = try await client.send(.GET, path, body: nil, timeout: nil)
            guard response.status == .ok else {
                let body = try? await response.body.collect(upTo: 1024 * 1024)
                let text = body.map { String(buffer: $0) } ?? ""
                throw client.refusal(
                    status: Int(response.status.code), path: path, body: try? JSONParser.parse(text), raw: text)
            }
            var pending: [UInt8] = []
            for try await buffer in response.body {
                pending.append(contentsOf: buffer.readableBytesView)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    guard line.hasPrefix("data: ") else { continue }
                    let data = String(line.dropFirst(6))
                    // Unbuffered, so a pipe sees each event as it arrives.
                    FileHandle.standardOutput.write(Data((data + "\n").utf8))
                    if let type = (try? JSONParser.parse(data))?["type"]?.stringValue,
                        Self.terminalEvents.contains(type)
                    {
                        return
                    }
                }
            }
        }

        static let terminal: Set<String> = ["completed", "failed", "cancelled"]
        static let terminalEvents: Set<String> = ["run.completed", "run.failed", "run.cancelled"]
    }

    struct GateDecision: ParsableArguments {
        @OptionGroup var server: ServerOptions
        @Argument(help: "The run's id.") var id: String
        @Argument(help: "The gate's name or id (a pending gate of the run).") var gate: String
        @Option(help: "A comment kept with the decision (in its payload).") var comment: String?
        @Option(help: "Who decided (default: cli).") var actor = "cli"

        func resolve(_ decision: String) async throws {
            let client = server.client
            let detail = try await client.get("/runs/" + APIClient.segment(id))
            let gates = (detail["gates"]?.arrayValue ?? []).filter {
                $0["id"]?.stringValue == gate || $0["name"]?.stringValue == gate
            }
            guard let target = gates.first(where: { $0["status"]?.stringValue == "pending" }) ?? gates.first else {
                throw CLIError("run \(id) has no gate named \(gate)")
            }
            guard target["status"]?.stringValue == "pending" else {
                throw CLIError("gate \(gate) of run \(id) is already \(target.cell("status"))")
            }
            guard let gateId = target["id"]?.stringValue, let token = target["resolveToken"]?.stringValue else {
                throw CLIError("the server did not show gate \(gate)'s resolve token (a key with write scope can)")
            }
            var body = JSONObject([
                ("token", .string(token)), ("decision", .string(decision)), ("actor", .string(actor)),
            ])
            if let comment { body["payload"] = .object(JSONObject([("comment", .string(comment))])) }
            let reply = try await client.post(
                "/runs/\(APIClient.segment(id))/gates/\(APIClient.segment(gateId))/resolve", .object(body))
            print("\(reply["gate"]?.cell("name") ?? gate): \(reply["gate"]?.cell("status") ?? decision)")
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a run's pending gate.", discussion: "Example: cairn runs approve run_0123... review")
        @OptionGroup var decision: GateDecision
        func run() async throws { try await decision.resolve("approved") }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reject a run's pending gate.",
            discussion: "Example: cairn runs reject run_0123... review --comment \"numbers are off\"")
        @OptionGroup var decision: GateDecision
        func run() async throws { try await decision.resolve("rejected") }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a run (its worker stops at its next call).",
            discussion: "Example: cairn runs cancel run_0123... --reason \"wrong input\"")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The run's id.") var id: String
        @Option(help: "Why, kept on the run.") var reason: String?

        func run() async throws {
            var body = JSONObject([("actor", .string("cli"))])
            if let reason { body["reason"] = .string(reason) }
            let reply = try await server.client.post("/runs/\(APIClient.segment(id))/cancel", .object(body))
            print("\(id): \(reply["run"]?.cell("status") ?? "cancelled")")
        }
    }

    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Call a stalled run's recovery webhook now, so a worker resumes it.",
            discussion: "Example: cairn runs recover run_0123... --reason \"worker died\"")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The run's id.") var id: String
        @Option(help: "Why (default: manual).") var reason: String?

        func run() async throws {
            var body = JSONObject()
            if let reason { body["reason"] = .string(reason) }
            let reply = try await server.client.post("/runs/\(APIClient.segment(id))/recover", .object(body))
            let attempt = reply["recoveryAttempt"] ?? .null
            print("\(id): recovery \(attempt.cell("status"))")
        }
    }
}
