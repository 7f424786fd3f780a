import CairnCore
import Testing

/// The pure parts of the checkpoint protocol: diffs, ids and etags.
@Suite struct CheckpointModelTests {
    /// The diff a save makes: bounded by the budget for `next`'s size.
    func diff(_ previous: String?, _ next: String) throws -> StateDiff {
        StateDiff(
            previous: try previous.map { try JSONParser.parse($0) }, next: try JSONParser.parse(next),
            budgetBytes: StateDiff.budget(stateBytes: next.utf8.count))
    }

    @Test func diffMatchesTheContractExamples() throws {
        let scalar = try diff(#"{"a":1,"b":2}"#, #"{"a":99,"b":2,"c":3}"#)
        #expect(scalar.added == ["c"] && scalar.removed == [] && scalar.changed == ["a"])
        let array = try diff(#"{"x":{"y":[1,2]}}"#, #"{"x":{"y":[1,3,4]}}"#)
        #expect(array.changed == ["x.y[1]"] && array.added == ["x.y[2]"] && array.removed == [])
        let typeChange = try diff(#"{"a":{"b":1}}"#, #"{"a":5}"#)
        #expect(typeChange.changed == ["a"] && typeChange.added == [] && typeChange.removed == [])
        let first = try diff(nil, #"{"a":1,"b":{"c":[1,2]},"d":{}}"#)
        #expect(first.added == ["a", "b.c[0]", "b.c[1]"] && first.removed == [] && first.changed == [])
    }

    @Test func removedSubtreesListTheirLeavesAfterTheRemainingKeys() throws {
        let d = try diff(#"{"gone":{"p":[1,{"q":null}]},"keep":1,"empty":[]}"#, #"{"keep":2,"new":{"n":true}}"#)
        #expect(d.changed == ["keep"])
        #expect(d.added == ["new.n"])
        #expect(d.removed == ["gone.p[0]", "gone.p[1].q"])
        #expect(d.json == #"{"added":["new.n"],"removed":["gone.p[0]","gone.p[1].q"],"changed":["keep"]}"#)
    }

    @Test func numbersCompareByValueAndTypesStrictly() throws {
        #expect(try diff(#"{"n":1}"#, #"{"n":1.0}"#).changed.isEmpty)
        #expect(try diff(#"{"n":1}"#, #"{"n":"1"}"#).changed == ["n"])
        #expect(try diff(#"{"n":null}"#, #"{"n":{}}"#).changed == ["n"])
        #expect(try diff(#"{"o":{"a":1,"b":2}}"#, #"{"o":{"b":2,"a":1}}"#) == StateDiff())
    }

    /// A state whose leaves sit under one long path: each leaf repeats the path in a leaf diff.
    func deepList(depth: Int, leaves: Int, leaf: String = "0") -> String {
        let keys = (0..<depth).map { "key_\($0)_" + String(repeating: "k", count: 32) }
        let list = "[" + Array(repeating: leaf, count: leaves).joined(separator: ",") + "]"
        return keys.reversed().reduce(list) { inner, key in #"{"\#(key)":\#(inner)}"# }
    }

    func expectWithinBudget(_ d: StateDiff, next: String) {
        let budget = StateDiff.budget(stateBytes: next.utf8.count)
        #expect(d.json.utf8.count <= budget, "diff of \(d.json.utf8.count) bytes for a \(next.utf8.count)-byte state")
    }

    @Test func aDiffOverItsBudgetReportsWholeTopLevelKeys() throws {
        let previous = #"{"keep":1,"gone":{"x":1},"deep":\#(deepList(depth: 100, leaves: 10))}"#
        let next = #"{"keep":1,"deep":\#(deepList(depth: 100, leaves: 40_000, leaf: "1")),"new":[{"a":1}]}"#
        let d = try diff(previous, next)
        // The leaf diff would list 40,000 paths of 4 KB each.
        #expect(d.detail == .topLevelKeys)
        #expect(d.changed == ["deep"] && d.added == ["new"] && d.removed == ["gone"])
        expectWithinBudget(d, next: next)
        let first = try diff(nil, next)
        #expect(first.detail == .topLevelKeys && first.added == ["keep", "deep", "new"])
        expectWithinBudget(first, next: next)
    }

    @Test func aDiffWhoseTopLevelKeysAreOverBudgetReportsTheWholeState() throws {
        // Removing 20,000 long keys for a state of almost nothing.
        let keys = (0..<20_000).map { #""removed_key_\#($0)_\#(String(repeating: "r", count: 40))":1"# }
        let d = try diff("{" + keys.joined(separator: ",") + "}", #"{"a":1}"#)
        #expect(d.detail == .wholeState && d.changed == [""] && d.added == [] && d.removed == [])
        expectWithinBudget(d, next: #"{"a":1}"#)
        let keysWithinAnEmptyOne = StateDiff(previous: nil, next: try JSONParser.parse(#"{"a":1}"#), budgetBytes: 40)
        #expect(keysWithinAnEmptyOne.detail == .wholeState && keysWithinAnEmptyOne.added == [""])
    }

    @Test func theBudgetCountsEscapedBytesAndIsNeverExceeded() throws {
        let next = try JSONParser.parse(#"{"q\"":[1,2,3],"t\u0001":{"x":[true]}}"#)
        let full = StateDiff(previous: nil, next: next)
        #expect(full.added == ["q\"[0]", "q\"[1]", "q\"[2]", "t\u{01}.x[0]"])
        let exact = full.json.utf8.count
        #expect(StateDiff(previous: nil, next: next, budgetBytes: exact) == full)
        let short = StateDiff(previous: nil, next: next, budgetBytes: exact - 1)
        #expect(short.detail == .topLevelKeys && short.added == ["q\"", "t\u{01}"])
        #expect(short.json.utf8.count <= exact - 1)
    }

    @Test func smallDiffsKeepEveryLeaf() throws {
        let d = try diff(deepList(depth: 3, leaves: 100), deepList(depth: 3, leaves: 120, leaf: "1"))
        #expect(d.detail == .leaves && d.changed.count == 100 && d.added.count == 20)
        #expect(d.added.first == "key_0_\(String(repeating: "k", count: 32)).key_1_\(String(repeating: "k", count: 32)).key_2_\(String(repeating: "k", count: 32))[100]")
    }

    @Test func checkpointIdsPadStepsToThreeDigitsAndParseBack() {
        #expect(Checkpoint.id(workflowId: "wf_001", step: 1) == "cp_wf_001_001")
        #expect(Checkpoint.id(workflowId: "wf", step: 42) == "cp_wf_042")
        #expect(Checkpoint.id(workflowId: "wf", step: 1234) == "cp_wf_1234")
        #expect(Checkpoint.parse(id: "cp_wf_001_001")! == ("wf_001", 1))
        #expect(Checkpoint.parse(id: "cp_a_b_1234")! == ("a_b", 1234))
        // Only the canonical form of an id names a checkpoint.
        #expect(Checkpoint.parse(id: "cp_wf_0001") == nil)
        #expect(Checkpoint.parse(id: "cp_wf_1") == nil)
        #expect(Checkpoint.parse(id: "cp__001") == nil)
        #expect(Checkpoint.parse(id: "wf_001") == nil)
        #expect(Checkpoint.parse(id: "cp_wf_0x1") == nil)
    }

    @Test func etagIsTheQuotedPrefixOfTheStatesSHA256() {
        // sha256("{}") = 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
        #expect(Checkpoint.etag(state: "{}") == "\"44136fa355b3678a\"")
    }
}
