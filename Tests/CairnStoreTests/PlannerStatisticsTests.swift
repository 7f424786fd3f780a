import CairnCore
import PostgresNIO
import Testing

@testable import CairnStore

/// The Postgres store analyzes the tables that grew since their last analysis, so prepared
/// statements are not left on plans made while the tables were empty.
@Suite struct PlannerStatisticsTests {
    @Test(arguments: StoreEngine.multiWriter) func aTableThatGrewIsAnalyzedOnce(engine: StoreEngine) async throws {
        let t = try await TestStore(engine)
        let store = try #require(t.store as? PostgresStore)
        let run = try await t.newRun()
        try await store.client.withConnection { conn in
            let session = PostgresSession(connection: conn, logger: store.logger)
            try await session.run(
                """
                INSERT INTO events (run_id, seq, type, payload_json, created_at) \
                SELECT \(run.id), g, 'bulk', '{}', 0 FROM generate_series(2, 700) g
                """)
            // The session's counters reach the statistics views before this statement answers.
            try await session.run("SELECT pg_stat_force_next_flush()")
        }
        #expect(try await store.analyzeGrownTables() == ["events"])
        // Analyzed: nothing changed since.
        #expect(try await store.analyzeGrownTables() == [])
        let analyzed = try await store.client.withConnection { conn in
            try await PostgresSession(connection: conn, logger: store.logger).first(
                """
                SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                WHERE n.nspname = current_schema() AND c.relname = 'events'
                """
            ) { $0.int() }
        }
        #expect(analyzed == 700)
    }
}
