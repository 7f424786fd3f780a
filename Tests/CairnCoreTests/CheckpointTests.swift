import CairnCore
import Testing

/// The pure parts of the checkpoint protocol: diffs, ids and etags.
@Suite struct CheckpointModelTests {
    func diff(_ previous: String?, _ next: String) throws -> StateDiff {
        StateDiff(previous: try previous.map { try JSONParser.parse($0) }, next: try JSONParser.parse(next))
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
