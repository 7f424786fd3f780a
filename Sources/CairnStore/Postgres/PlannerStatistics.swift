import CairnCore
import Logging
import PostgresNIO

/// Statistics for Postgres's planner while the tables are young.
///
/// Every statement the store repeats is prepared once per connection, and after five runs
/// Postgres keeps a generic plan for it, made from the table statistics of that moment, until
/// the table is next analyzed. Made while a table was nearly empty or never analyzed, every
/// index costs about the same, and Postgres was seen finding one checkpoint by its step through
/// the `(workflow, sequence)` index: reading the workflow's whole history for each save and
/// resume. Autovacuum analyzes a table once a tenth of it changed, but looks only once a
/// minute, so a young deployment (or a benchmark) runs on such plans for that long. So each
/// replica also analyzes, every few seconds, the tables of its schema that changed by as many
/// rows as they held at their last analysis (and at least `minimumChangesBeforeAnalyze`): a table growing
/// from nothing is analyzed at each doubling, and a grown one is left to autovacuum.
extension PostgresStore {
    static let minimumChangesBeforeAnalyze = 500
    static let statisticsInterval: Duration = .seconds(5)

    /// Analyzes the grown tables (see above) and returns their names.
    @discardableResult
    public func analyzeGrownTables() async throws -> [String] {
        try await client.withConnection { conn in
            let session = PostgresSession(connection: conn, logger: self.logger)
            let grown = try await session.all(
                """
                SELECT s.relname::text FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
                WHERE s.schemaname = current_schema() \
                AND s.n_mod_since_analyze >= GREATEST(\(Self.minimumChangesBeforeAnalyze), c.reltuples) \
                ORDER BY s.relname
                """
            ) { $0.string() }
            // Table names come from the catalog; only plain identifiers are spliced in.
            let tables = grown.filter(Endpoint.isIdentifier)
            for table in tables { try await session.run(SQL(stringLiteral: "ANALYZE \(table)")) }
            return tables
        }
    }

    /// Runs `analyzeGrownTables` every `statisticsInterval` until cancelled.
    func keepStatistics() -> Task<Void, Never> {
        Task { [weak self, logger] in
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.statisticsInterval)
                guard let self, !Task.isCancelled else { return }
                do {
                    try await self.analyzeGrownTables()
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("cannot analyze the grown tables", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
