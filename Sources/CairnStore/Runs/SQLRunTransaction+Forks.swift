import CairnCore

/// Forked runs' provenance, and the state value a fork starts from, for both engines.
extension SQLRunTransaction {
    func runFork(runId: String) async throws -> RunFork? {
        try await connection.first(
            "SELECT run_id, parent_run_id, step_name, point, created_at FROM run_forks WHERE run_id = \(runId)"
        ) { r in
            RunFork(
                runId: r.string(), parentRunId: r.string(), stepName: r.string(), point: r.timestamp(),
                createdAt: r.timestamp())
        }
    }

    func runForks(parentRunId: String, before: ListCursor?, newestFirstLimit limit: Int) async throws -> [RunFork] {
        try await connection.all(
            """
            SELECT run_id, parent_run_id, step_name, point, created_at FROM run_forks \
            WHERE parent_run_id = \(parentRunId)\(RunSQL.beyond(before, idColumn: "run_id")) ORDER BY created_at DESC, run_id DESC \
            LIMIT \(Int64(clamping: limit))
            """
        ) { r in
            RunFork(
                runId: r.string(), parentRunId: r.string(), stepName: r.string(), point: r.timestamp(),
                createdAt: r.timestamp())
        }
    }

    func insertRunFork(_ f: RunFork) async throws {
        try await connection.run(
            """
            INSERT INTO run_forks (run_id, parent_run_id, step_name, point, created_at) VALUES (\(f.runId), \
            \(f.parentRunId), \(f.stepName), \(f.point), \(f.createdAt))
            """)
    }

    func runStateValue(runId: String, stream: String, at: Timestamp) async throws -> RawJSON? {
        // Walks the run's versions back from `at` (index on run_id, created_at) to the stream's newest.
        try await connection.first(
            """
            SELECT v.value_json FROM state_versions v JOIN state_streams s ON s.id = v.stream_id \
            WHERE v.run_id = \(runId) AND v.created_at <= \(at) AND s.name = \(stream) \
            ORDER BY v.created_at DESC, v.version DESC LIMIT 1
            """
        ) { $0.string() }
    }
}
