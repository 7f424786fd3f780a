import Testing

@testable import CairnCore

@Suite struct LatestStateCacheTests {
    func key(_ name: String) -> LatestStateCache.Key { .init(tenant: .default, workflowId: name) }
    func entry(_ sequence: Int, bytes: Int) -> LatestStateCache.Entry {
        .init(
            sequence: sequence, savedAt: Timestamp(milliseconds: Int64(sequence)), state: .int(sequence), bytes: bytes)
    }

    @Test func keepsTheLatestEntryPerWorkflowWithinItsBudgetOldestOut() {
        let cache = LatestStateCache(budgetBytes: 600)
        cache.store(key("a"), entry(1, bytes: 150))
        cache.store(key("b"), entry(1, bytes: 150))
        cache.store(key("a"), entry(2, bytes: 150))  // replaces a's entry; a is now the newest
        #expect(cache.entry(key("a"))?.sequence == 2)
        cache.store(key("c"), entry(1, bytes: 150))
        cache.store(key("d"), entry(1, bytes: 150))  // exactly the budget: nothing goes
        #expect(cache.entry(key("b")) != nil)
        cache.store(key("e"), entry(1, bytes: 150))  // over budget: b, the oldest live entry, goes
        #expect(cache.entry(key("b")) == nil)
        #expect(cache.entry(key("a"))?.sequence == 2)
        #expect(cache.entry(key("c")) != nil && cache.entry(key("d")) != nil && cache.entry(key("e")) != nil)
        // A state larger than a quarter of the budget is not kept at all.
        cache.store(key("big"), entry(1, bytes: 151))
        #expect(cache.entry(key("big")) == nil)
        #expect(cache.entry(key("c")) != nil)
    }

    /// A state of tiny values costs far more in memory than its text; the cache counts that.
    @Test func aParsedStateIsCountedByItsMemoryNotItsText() throws {
        let text = "[" + Array(repeating: "[]", count: 10_000).joined(separator: ",") + "]"
        let footprint = LatestStateCache.footprint(of: try JSONParser.parse(text))
        #expect(footprint >= 10_000 * MemoryLayout<JSONValue>.stride)
        #expect(footprint > 5 * text.utf8.count)
        let object = try JSONParser.parse(#"{"k":"a string longer than fifteen bytes"}"#)
        #expect(LatestStateCache.footprint(of: object) > LatestStateCache.footprint(of: .emptyObject) + 40)
    }

    @Test func staysBoundedUnderManyUpdates() {
        let cache = LatestStateCache(budgetBytes: 1_000)
        for i in 0..<20_000 { cache.store(key("w\(i % 50)"), entry(i, bytes: 50)) }
        let live = (0..<50).compactMap { cache.entry(key("w\($0)")) }
        #expect(live.count <= 20)
        #expect(live.allSatisfy { $0.sequence >= 20_000 - 50 })
    }
}
