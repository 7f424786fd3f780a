import CairnCore

/// Forked runs' provenance, and the state value a fork starts from, for both engines.
extension SQLRunTransaction {
    func runFork(runId: String) async throws -> RunFork? {
        try await connection.first(
            "SELECT \(unsafeRaw: RunSQL.runForkColumns) FROM run_forks WHERE run_id = \(runId)", RunSQL.decodeRunFork)
    }

    func runForks(parentRunId: String, before: ListCursor?, newestFirstLimit limit: Int) async throws -> [RunFork] {
        try await connection.all(
            """
            SELECT \(unsafeRaw: RunSQL.runForkColumns) FROM run_forks \
            WHERE parent_run_id = \(parentRunId)\(RunSQL.beyond(before, idColumn: "run_id")) ORDER BY created_at DESC, run_id DESC \
            LIMIT \(Int64(clamping: limit))
            """, RunSQL.decodeRunFork)
    }

    func insertRunFork(_ f: RunFork) async throws {
        try await connection.run(
            """
            INSERT INTO run_forks (\(unsafeRaw: RunSQL.runForkColumns)) VALUES (\(f.runId), \(f.parentRunId), \
            \(f.stepName), \(f.point), \(f.pointEvent?.runId), \(f.pointEvent?.seq), \(f.createdAt))
            """)
    }

    func runStateValue(runId: String, stream: String, at: Timestamp, through seq: Int64?) async throws -> RawJSON? {
        // Walks the run's versions back from `at` (index on run_id, created_at) to the stream's
        // newest; those numbered past `seq` are of the same millisecond but later.
        let numbered: SQL = seq.map { " AND (v.seq IS NULL OR v.seq <= \($0))" } ?? ""
        return try await connection.first(
            """
            SELECT v.value_json FROM state_versions v JOIN state_streams s ON s.id = v.stream_id \
            WHERE v.run_id = \(runId) AND v.created_at <= \(at)\(numbered) AND s.name = \(stream) \
            ORDER BY v.created_at DESC, v.version DESC LIMIT 1
            """
        ) { $0.string() }
    }
}
