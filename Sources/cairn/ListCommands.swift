import ArgumentParser
import CairnCore
import Foundation

/// `cairn queues ls`: depth and outcome counts per queue; `pause` and `resume` one.
struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues", abstract: "Look at the queues on a Cairn server, pause and resume them.",
        subcommands: [List.self, Pause.self, Resume.self])

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop handing out a queue's runs; enqueues and schedule fires still add to it.",
            discussion: "Example: cairn queues pause emails")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The queue's name.") var name: String

        func run() async throws { try await QueuesCommand.setPaused(true, name, server) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand out a paused queue's runs again.", discussion: "Example: cairn queues resume emails")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The queue's name.") var name: String

        func run() async throws { try await QueuesCommand.setPaused(false, name, server) }
    }

    static func setPaused(_ paused: Bool, _ name: String, _ server: ServerOptions) async throws {
        let queue =
            try await server.client.post(
                "/queues/\(APIClient.segment(name))/\(paused ? "pause" : "resume")")["queue"] ?? .null
        print("\(queue.cell("name")): \(paused ? "paused" : "active"), \(queue.cell("queued")) waiting")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "Each queue's queued, running and finished runs, and its settings.",
            discussion: "Example: cairn queues ls --json")
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print JSON lines, one queue each.") var json = false

        func run() async throws {
            let queues = try await server.client.get("/queues")["queues"]?.arrayValue ?? []
            if json {
                for q in queues { print(q.jsonText) }
                return
            }
            if queues.isEmpty {
                FileHandle.standardError.write(
                    Data("no queues (a queue appears with its first enqueue or config)\n".utf8))
                return
            }
            printTable(
                [["NAME", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "CONCURRENCY", "MODE"]]
                    + queues.map { q in
                        let config = q["config"] ?? .null
                        return [
                            q.cell("name"), q.cell("queued"), q.cell("running"), q.cell("completed"), q.cell("failed"),
                            q.cell("cancelled"), config.cell("concurrency"),
                            config["invokeUrl"].map { $0.isNull ? "pull" : "push" } ?? "pull",
                        ]
                    })
        }
    }
}

/// `cairn schedules ls`: cron schedules and their next fire times.
struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules", abstract: "Look at the cron schedules on a Cairn server.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "Each schedule's cron, workflow and next fire time (UTC).",
            discussion: "Example: cairn schedules ls")
        @OptionGroup var server: ServerOptions
        @Flag(help: "Print JSON lines, one schedule each.") var json = false

        func run() async throws {
            let schedules = try await server.client.get("/schedules")["schedules"]?.arrayValue ?? []
            if json {
                for s in schedules { print(s.jsonText) }
                return
            }
            if schedules.isEmpty {
                FileHandle.standardError.write(Data("no schedules\n".utf8))
                return
            }
            printTable(
                [["NAME", "CRON", "WORKFLOW", "QUEUE", "ENABLED", "NEXT", "LAST"]]
                    + schedules.map { s in
                        [
                            s.cell("name"), s.cell("cron"), s.cell("workflowName"), s.cell("queue"), s.cell("enabled"),
                            s.cell("nextRunAt"), s.cell("lastEnqueuedAt"),
                        ]
                    })
        }
    }
}

/// `cairn checkpoints`: a workflow's checkpoints over the checkpoint protocol.
struct CheckpointsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoints", abstract: "Read checkpointed workflows on a Cairn server.",
        subcommands: [List.self, Show.self, Resume.self, Replay.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List live checkpointed workflows, most recently active first.",
            discussion: "Example: cairn checkpoints ls --all --json")
        @OptionGroup var server: ServerOptions
        @Option(help: "Workflows per page (1...1000).") var limit = 100
        @Option(help: "Start after this cursor (printed after a page that has more).") var cursor: String?
        @Flag(help: "Follow every page.") var all = false
        @Flag(help: "Print JSON lines, one workflow each.") var json = false

        func validate() throws {
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1...1000, got \(limit)") }
        }

        func run() async throws {
            try await printPagedListing(
                server.client, path: "/workflows", query: ["limit=\(limit)"], itemsKey: "workflows",
                cursorKey: "next_cursor", from: cursor, all: all, json: json, empty: "no checkpointed workflows",
                header: ["WORKFLOW", "LATEST STEP", "CHECKPOINTS", "BYTES", "STATUS", "LAST ACTIVITY", "EXPIRES"]
            ) { w in
                [
                    w.cell("workflow_id"), w.cell("latest_step"), w.cell("total_checkpoints"),
                    w.cell("total_size_bytes"),
                    w.cell("status"), w.cell("last_activity_at"), w.cell("expires_at"),
                ]
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one checkpoint (JSON).", discussion: "Example: cairn checkpoints show cp_wf-1_003")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The checkpoint's id (cp_<workflow>_<step>).") var id: String

        func run() async throws {
            print(try await server.client.get("/checkpoints/" + APIClient.segment(id)).jsonText)
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a workflow's latest checkpoint (JSON): where it would resume.",
            discussion: "Example: cairn checkpoints resume wf-1")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The workflow's id.") var workflow: String

        func run() async throws {
            print(try await server.client.get("/workflows/\(APIClient.segment(workflow))/resume").jsonText)
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a workflow's checkpoints in step order.",
            discussion: "Example: cairn checkpoints replay wf-1 --from-step 2 --to-step 5")
        @OptionGroup var server: ServerOptions
        @Argument(help: "The workflow's id.") var workflow: String
        @Option(name: .customLong("from-step"), help: "First step.") var fromStep: Int?
        @Option(name: .customLong("to-step"), help: "Last step.") var toStep: Int?
        @Option(help: "At most this many per page (1...1000).") var limit = 100
        @Flag(help: "Print JSON lines, one checkpoint each.") var json = false

        func validate() throws {
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1...1000, got \(limit)") }
            if let fromStep, fromStep < 0 { throw ValidationError("--from-step must be >= 0") }
            if let toStep, toStep < 0 { throw ValidationError("--to-step must be >= 0") }
        }

        func run() async throws {
            var query = ["limit=\(limit)"]
            if let fromStep { query.append("from_step=\(fromStep)") }
            if let toStep { query.append("to_step=\(toStep)") }
            let reply = try await server.client.get(
                "/workflows/\(APIClient.segment(workflow))/replay?" + query.joined(separator: "&"))
            let checkpoints = reply["checkpoints"]?.arrayValue ?? []
            if json {
                for c in checkpoints { print(c.jsonText) }
            } else if checkpoints.isEmpty {
                FileHandle.standardError.write(Data("no checkpoints for workflow \(workflow) in that range\n".utf8))
            } else {
                printTable(
                    [["STEP", "CHECKPOINT", "LABEL", "ETAG", "SIZE", "CREATED"]]
                        + checkpoints.map { c in
                            [
                                c.cell("step"), c.cell("checkpoint_id"), c.cell("label"), c.cell("etag"),
                                c.cell("size_bytes"), c.cell("created_at"),
                            ]
                        })
            }
            if reply["has_more"]?.boolValue == true {
                FileHandle.standardError.write(Data("more: pass --from-step after the last step shown\n".utf8))
            }
        }
    }
}
