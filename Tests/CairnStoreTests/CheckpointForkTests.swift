import CairnCore
import CairnTestSupport
import Testing

@testable import CairnStore

/// Forks of checkpoint workflows on both engines: a fork reads its parent's saves up to the
/// step forked at where they are stored, continues after them, nests, and keeps its history
/// when a parent expires.
@Suite struct CheckpointForkTests {
    let tenant = TenantID.default

    struct Fixture {
        let clock = ManualClock()
        let store: TestStore
        let service: CheckpointService

        init(_ engine: StoreEngine) async throws {
            store = try await TestStore(engine, clock: clock)
            service = CheckpointService(store: store.store, clock: clock)
        }

        @discardableResult
        func save(
            _ workflow: String, _ step: Int, _ state: String, ttl: Int64? = nil, ifMatch: String? = nil,
            agent: String? = nil, metadata: String? = nil
        ) async throws -> CheckpointService.SavedCheckpoint {
            clock.advance(milliseconds: 1)
            return try await service.save(
                .init(
                    workflowId: workflow, step: step, state: try JSONParser.parse(state), agentId: agent,
                    metadata: try metadata.map { try JSONParser.parse($0).objectValue! }, ttlSeconds: ttl,
                    ifMatch: ifMatch), tenant: .default)
        }

        @discardableResult
        func fork(_ parent: String, at step: Int, as id: String? = nil, ttl: Int64? = nil) async throws
            -> CheckpointService.ForkedWorkflow
        {
            try await service.forkWorkflow(
                id: parent, atStep: step, newWorkflowId: id, ttlSeconds: ttl, tenant: .default)
        }

        func steps(_ workflow: String, from: Int? = nil, to: Int? = nil, limit: Int = 100) async throws -> [Int] {
            try await service.replay(workflowId: workflow, fromStep: from, toStep: to, limit: limit, tenant: .default)
                .checkpoints.map(\.step)
        }

        func states(_ workflow: String) async throws -> [String] {
            try await service.replay(workflowId: workflow, fromStep: nil, toStep: nil, limit: 1000, tenant: .default)
                .checkpoints.map(\.state)
        }

        /// The rows stored under `workflow` itself, whatever it reads through.
        func storedSteps(_ workflow: String) async throws -> [Int] {
            try await store.store.read { tx in
                try await tx.checkpoints(
                    tenant: .default, segments: [CheckpointSegment(workflowId: workflow, after: 0, through: .max)],
                    fromStep: nil, toStep: nil, limit: 1000, stepsAscend: false)
            }.map(\.step)
        }
    }

    @Test(arguments: StoreEngine.available) func aForkReadsItsParentUpToTheStepAndContinuesAfterIt(
        engine: StoreEngine
    ) async throws {
        let f = try await Fixture(engine)
        for step in 1...5 {
            try await f.save(
                "parent", step, #"{"n":\#(step)}"#, agent: step == 2 ? "bot" : nil,
                metadata: step == 2 ? #"{"error":"boom"}"# : nil)
        }
        let parentStep3 = try await f.service.checkpoint(id: "cp_parent_003", tenant: tenant).0
        let forked = try await f.fork("parent", at: 3, as: "child")
        #expect(forked.fork.parentWorkflowId == "parent" && forked.fork.step == 3 && forked.fork.parentSequence == 3)
        #expect(forked.latest.id == "cp_child_003" && forked.latest.etag == parentStep3.etag)
        #expect(forked.workflow.totalCheckpoints == 3 && forked.workflow.latestStep == 3)
        #expect(forked.workflow.totalSizeBytes == 3 * #"{"n":1}"#.utf8.count && forked.workflow.errorCount == 1)

        // Resume, replay (paged) and get-by-id see the inherited saves under the fork's id.
        let (head, latest) = try await f.service.resume(workflowId: "child", tenant: tenant)
        #expect(head.workflowId == "child" && latest.state == #"{"n":3}"#)
        #expect(latest.workflowId == "child" && latest.id == "cp_child_003" && latest.etag == parentStep3.etag)
        #expect(try await f.steps("child") == [1, 2, 3])
        let page = try await f.service.replay(workflowId: "child", fromStep: 1, toStep: nil, limit: 2, tenant: tenant)
        #expect(page.checkpoints.map(\.step) == [1, 2] && page.hasMore)
        #expect(page.checkpoints.allSatisfy { $0.workflowId == "child" })
        #expect(try await f.steps("child", from: 2, to: 9) == [2, 3])
        let (two, _) = try await f.service.checkpoint(id: "cp_child_002", tenant: tenant)
        #expect(two.state == #"{"n":2}"# && two.workflowId == "child")
        await #expect(throws: CheckpointError.checkpointNotFound("cp_child_004")) {
            _ = try await f.service.checkpoint(id: "cp_child_004", tenant: tenant)
        }

        // Inherited steps are immutable in the fork, with the usual If-Match replay.
        await #expect(throws: CheckpointError.checkpointExists(id: "cp_child_003", etag: parentStep3.etag)) {
            try await f.save("child", 3, #"{"n":"other"}"#)
        }
        let replayed = try await f.save("child", 3, #"{"n":"other"}"#, ifMatch: parentStep3.etag)
        #expect(replayed.replayed && replayed.checkpoint.id == "cp_child_003")

        // The fork's own saves continue after the point, diffed against it; the parent is untouched.
        let own = try await f.save("child", 4, #"{"n":3,"branch":true}"#)
        #expect(own.checkpoint.sequence == 4)
        #expect(own.checkpoint.diff == #"{"added":["branch"],"removed":[],"changed":[]}"#)
        #expect(try await f.states("child").last == #"{"n":3,"branch":true}"#)
        #expect(try await f.steps("child") == [1, 2, 3, 4])
        #expect(try await f.service.resume(workflowId: "child", tenant: tenant).1.step == 4)
        #expect(try await f.states("parent") == (1...5).map { #"{"n":\#($0)}"# })
        // Nothing was copied: the fork stores only its own save.
        #expect(try await f.storedSteps("child") == [4])

        let timeline = try await f.service.timeline(workflowId: "child", tenant: tenant)
        #expect(timeline.checkpoints.map(\.step) == [1, 2, 3, 4] && timeline.agents == ["bot"])
        #expect(timeline.workflow.totalCheckpoints == 4 && timeline.workflow.errorCount == 1)
    }

    @Test(arguments: StoreEngine.available) func badForksAreRefusedAndChangeNothing(engine: StoreEngine) async throws {
        let f = try await Fixture(engine)
        try await f.save("parent", 1, #"{"a":1}"#)
        try await f.save("taken", 1, #"{"a":1}"#)
        await #expect(throws: CheckpointError.workflowNotFound("nope")) { try await f.fork("nope", at: 1) }
        await #expect(throws: CheckpointError.checkpointNotFound("cp_parent_002")) {
            try await f.fork("parent", at: 2, as: "x")
        }
        await #expect(throws: CheckpointError.workflowExists("taken")) {
            try await f.fork("parent", at: 1, as: "taken")
        }
        await #expect(throws: CheckpointError.workflowExists("parent")) {
            try await f.fork("parent", at: 1, as: "parent")
        }
        await #expect(throws: CheckpointError.self) { try await f.fork("parent", at: 1, as: "x", ttl: 0) }
        await #expect(throws: CheckpointError.self) {
            try await f.fork("parent", at: 1, as: String(repeating: "x", count: 129))
        }
        await #expect(throws: CheckpointError.workflowNotFound("x")) {
            _ = try await f.service.resume(workflowId: "x", tenant: tenant)
        }
        let generated = try await f.fork("parent", at: 1)
        #expect(generated.workflow.workflowId.hasPrefix("wf_"))
        // Another tenant sees neither the parent nor the fork.
        await #expect(throws: CheckpointError.workflowNotFound("parent")) {
            _ = try await f.service.forkWorkflow(
                id: "parent", atStep: 1, newWorkflowId: "y", ttlSeconds: nil, tenant: TenantID(rawValue: "other"))
        }
        // An expired workflow can be neither forked nor block a new id.
        try await f.save("brief", 1, #"{"a":1}"#, ttl: 1)
        f.clock.advance(milliseconds: 1000)
        await #expect(throws: CheckpointError.workflowNotFound("brief")) { try await f.fork("brief", at: 1) }
        let reused = try await f.fork("parent", at: 1, as: "brief")
        #expect(reused.workflow.workflowId == "brief")
        #expect(try await f.states("brief") == [#"{"a":1}"#])
    }

    @Test(arguments: StoreEngine.available) func forksOfForksNestUpToTheBound(engine: StoreEngine) async throws {
        let f = try await Fixture(engine)
        for step in 1...4 { try await f.save("root", step, #"{"r":\#(step)}"#) }
        try await f.fork("root", at: 2, as: "a")
        try await f.save("a", 10, #"{"a":10}"#)
        try await f.save("a", 11, #"{"a":11}"#)
        try await f.fork("a", at: 10, as: "b")
        #expect(try await f.steps("b") == [1, 2, 10])
        // Forked at a save the parent inherited: none of the parent's own saves are seen.
        try await f.fork("a", at: 1, as: "c")
        #expect(try await f.steps("c") == [1])
        try await f.save("c", 2, #"{"c":2}"#)
        #expect(try await f.states("c") == [#"{"r":1}"#, #"{"c":2}"#])
        try await f.save("b", 3, #"{"b":3}"#)
        #expect(try await f.steps("b") == [1, 2, 10, 3])
        #expect(try await f.steps("b", from: 3, to: 10, limit: 1) == [10])
        #expect(try await f.service.checkpoint(id: "cp_b_001", tenant: tenant).0.state == #"{"r":1}"#)
        // Saves of the parent after the point stay invisible to the fork.
        #expect(try await f.steps("a") == [1, 2, 10, 11])

        var parent = "root"
        for depth in 1...CheckpointService.maxForkDepth {
            try await f.fork(parent, at: 1, as: "deep\(depth)")
            parent = "deep\(depth)"
        }
        await #expect(throws: CheckpointError.self) { try await f.fork(parent, at: 1, as: "too-deep") }
        #expect(try await f.states(parent) == [#"{"r":1}"#])
    }

    @Test(arguments: StoreEngine.available) func aParentThatExpiresLeavesItsForksWhole(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        for step in 1...4 { try await f.save("root", step, #"{"r":\#(step)}"#, ttl: 1, agent: "r-bot") }
        try await f.fork("root", at: 3, as: "a", ttl: 2)
        try await f.save("a", 7, #"{"a":7}"#, ttl: 2, agent: "a-bot")
        try await f.fork("a", at: 2, as: "b")
        try await f.fork("a", at: 7, as: "c")
        let before = [try await f.states("a"), try await f.states("b"), try await f.states("c")]
        #expect(before[2] == [#"{"r":1}"#, #"{"r":2}"#, #"{"r":3}"#, #"{"a":7}"#])

        // The root expires: its swept rows live on in the fork that read them.
        f.clock.advance(milliseconds: 1000)
        #expect(try await f.service.expireWorkflows(limit: 10).map(\.workflowId) == ["root"])
        #expect(try await f.steps("root").isEmpty)
        #expect([try await f.states("a"), try await f.states("b"), try await f.states("c")] == before)
        #expect(try await f.storedSteps("a") == [1, 2, 3, 7])
        #expect(try await f.service.timeline(workflowId: "a", tenant: tenant).agents == ["r-bot", "a-bot"])
        #expect(try await f.service.checkpoint(id: "cp_b_002", tenant: tenant).0.state == #"{"r":2}"#)

        // Then its fork expires too (its TTL is its own), and the forks of the fork keep theirs.
        f.clock.advance(milliseconds: 1000)
        #expect(try await f.service.expireWorkflows(limit: 10).map(\.workflowId) == ["a"])
        #expect([try await f.states("b"), try await f.states("c")] == Array(before[1...]))
        #expect(try await f.storedSteps("b") == [1, 2])
        #expect(try await f.storedSteps("c") == [1, 2, 3, 7])
        let (head, latest) = try await f.service.resume(workflowId: "c", tenant: tenant)
        #expect(!head.isFork && latest.step == 7 && head.totalCheckpoints == 4)
        #expect(try await f.save("c", 8, #"{"c":8}"#).checkpoint.sequence == 5)
        #expect(try await f.service.timeline(workflowId: "c", tenant: tenant).agents == ["r-bot", "a-bot"])
    }

    @Test(arguments: StoreEngine.available) func aSaveThatReplacesAnExpiredParentKeepsTheForksHistory(
        engine: StoreEngine
    ) async throws {
        let f = try await Fixture(engine)
        for step in 1...3 { try await f.save("root", step, #"{"old":\#(step)}"#, ttl: 1) }
        try await f.fork("root", at: 2, as: "a")
        try await f.fork("a", at: 1, as: "b")
        f.clock.advance(milliseconds: 1000)
        // Not swept yet: the save of the expired id starts a new workflow, detaching the forks first.
        try await f.save("root", 1, #"{"new":1}"#)
        #expect(try await f.states("root") == [#"{"new":1}"#])
        #expect(try await f.states("a") == [#"{"old":1}"#, #"{"old":2}"#])
        #expect(try await f.states("b") == [#"{"old":1}"#])
        #expect(try await f.service.expireWorkflows(limit: 10).isEmpty)
    }

    @Test func savesFromBeforeTheRunningTotalsAreSummedWhenForkedAt() async throws {
        let f = try await Fixture(.sqlite)
        for step in 1...3 {
            try await f.save("old", step, #"{"n":\#(step)}"#, metadata: step == 2 ? #"{"error":"boom"}"# : nil)
        }
        // As migration 15 leaves the saves made before it.
        try await f.store.sqlite.writeSQLite { tx in
            try tx.connection.execute(
                script: "UPDATE checkpoints SET running_size_bytes = NULL, running_error_count = NULL")
        }
        let forked = try await f.fork("old", at: 3)
        #expect(forked.workflow.totalSizeBytes == 3 * #"{"n":1}"#.utf8.count && forked.workflow.errorCount == 1)
    }

    @Test(arguments: StoreEngine.available) func aForkCostsTheSameWhateverThePointHolds(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        for step in 1...200 { try await f.save("long", step, #"{"n":\#(step)}"#) }
        let early = try await f.fork("long", at: 5)
        let late = try await f.fork("long", at: 150)
        #expect(try await f.storedSteps(early.workflow.workflowId).isEmpty)
        #expect(try await f.storedSteps(late.workflow.workflowId).isEmpty)
        #expect(late.workflow.totalSizeBytes == (1...150).reduce(0) { $0 + #"{"n":\#($1)}"#.utf8.count })
        #expect(try await f.steps(late.workflow.workflowId, from: 149).count == 2)
    }

    /// A replay page is the workflow's history in save order, filtered by step and cut at the
    /// limit: for histories whose steps ascend (the page seeks by step) and those whose steps do
    /// not (it walks in save order), for forks and forks of forks, and after a parent saves a
    /// step out of order past the fork point (its row is in the fork's step range, not its
    /// history). Checked against a model, for every page start.
    @Test(arguments: StoreEngine.available) func replayPagesAreTheHistoryInSaveOrder(engine: StoreEngine)
        async throws
    {
        let f = try await Fixture(engine)
        var random = SeededGenerator(seed: 18)
        var histories: [String: [Int]] = [:]
        func save(_ workflow: String, _ step: Int) async throws {
            try await f.save(workflow, step, #"{"s":\#(step)}"#)
            histories[workflow, default: []].append(step)
        }
        func fork(_ parent: String, at index: Int, as id: String) async throws {
            try await f.fork(parent, at: histories[parent]![index], as: id)
            histories[id] = Array(histories[parent]!.prefix(index + 1))
        }
        func saveAbove(_ workflow: String, count: Int) async throws {
            for _ in 0..<count {
                try await save(workflow, histories[workflow]!.max()! + Int.random(in: 1...4, using: &random))
            }
        }
        for round in 0..<6 {
            let shuffled = round % 3 == 1
            let (p, a, b) = ("p\(round)", "a\(round)", "b\(round)")
            var steps = Array(Set((0..<14).map { _ in Int.random(in: 0..<100, using: &random) })).sorted()
            if shuffled { steps.shuffle(using: &random) }
            for step in steps.prefix(7) { try await save(p, step) }
            try await fork(p, at: Int.random(in: 0..<7, using: &random), as: a)
            if round % 3 == 2 {
                // Out of order after the fork point, and inside the fork's step range.
                let below = histories[a]!.last! - 1
                if below >= 0, !histories[p]!.contains(below) { try await save(p, below) }
                for step in steps.dropFirst(7).reversed() { try await save(p, step) }
            } else {
                for step in steps.dropFirst(7) { try await save(p, step) }
            }
            if shuffled {
                let unused = Set(0..<130).subtracting(histories[a]!)
                for step in unused.shuffled(using: &random).prefix(3) { try await save(a, step) }
            } else {
                try await saveAbove(a, count: 3)
            }
            try await fork(a, at: Int.random(in: 0..<histories[a]!.count, using: &random), as: b)
            try await saveAbove(b, count: 2)

            for workflow in [p, a, b] {
                let history = histories[workflow]!
                let head = try await f.store.store.read { tx in
                    try await tx.checkpointWorkflow(tenant: .default, workflowId: workflow)
                }
                let ascending = zip(history, history.dropFirst()).allSatisfy { $0 < $1 }
                #expect((head?.unorderedFrom == nil) == ascending, "\(workflow): \(history)")
                for from in [nil] + Array(stride(from: 0, through: 140, by: 5)) {
                    for to in [nil, (from ?? 0) + 30] {
                        for limit in [3, 1000] {
                            let wanted = history.filter { $0 >= (from ?? 0) && $0 <= (to ?? .max) }
                            let page = try await f.service.replay(
                                workflowId: workflow, fromStep: from, toStep: to, limit: limit, tenant: .default)
                            #expect(
                                page.checkpoints.map(\.step) == Array(wanted.prefix(limit))
                                    && page.hasMore == (wanted.count > limit),
                                "\(workflow) \(history) from \(String(describing: from)) to \(String(describing: to))")
                        }
                    }
                }
            }
        }
    }

    /// Migration 18 marks each workflow whose saves did not come in ascending step order with
    /// its first such save, and each fork as unordered (read in save order, as before).
    @Test(arguments: StoreEngine.available) func theStepOrderMigrationFindsTheFirstSaveOutOfOrder(
        engine: StoreEngine
    ) async throws {
        let f = try await Fixture(engine)
        for step in [1, 2, 5] { try await f.save("ascending", step, "{}") }
        for step in [1, 5, 3, 7, 2] { try await f.save("unordered", step, "{}") }
        try await f.fork("ascending", at: 2, as: "fork")
        try await f.save("fork", 3, "{}")
        let backfill = PostgresStore.statements(Migrations.stepOrderV18).dropFirst()
        try await f.store.store.write { tx in
            func run<C: SQLConnection>(_ tx: SQLRunTransaction<C>) async throws {
                try await tx.connection.run("UPDATE checkpoint_workflows SET unordered_from = 42")
                for statement in backfill where !statement.allSatisfy(\.isWhitespace) {
                    try await tx.connection.run("\(unsafeRaw: statement)")
                }
            }
            if let sqlite = tx as? SQLRunTransaction<SQLiteConnection> { return try await run(sqlite) }
            try await run(tx as! SQLRunTransaction<PostgresSession>)
        }
        let heads = try await f.store.store.read { tx in
            // -1: in step order (nil).
            var found: [String: Int] = [:]
            for workflow in ["ascending", "unordered", "fork"] {
                let head = try await tx.checkpointWorkflow(tenant: .default, workflowId: workflow)
                found[workflow] = head.map { $0.unorderedFrom ?? -1 }
            }
            return found
        }
        #expect(heads == ["ascending": -1, "unordered": 3, "fork": 0])
        #expect(try await f.steps("unordered", from: 3, limit: 2) == [5, 3])
    }
}
