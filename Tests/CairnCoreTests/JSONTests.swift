import Testing

@testable import CairnCore

@Suite struct JSONTests {
    @Test func roundTripsNumbersAndKeyOrderExactly() throws {
        let text = #"{"b":1.0,"a":[1e3,-0,12345678901234567890],"c":{"z":null,"y":true},"d":"é\n\"q\""}"#
        #expect(try JSONParser.parse(text).jsonText == text)
    }

    @Test func lastDuplicateKeyWins() throws {
        #expect(try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#).jsonText == #"{"a":3,"b":2}"#)
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "01", "1.", "\"\\x\"", "nul", "{\"a\":1} x", "\"\u{01}\""])
    func rejectsMalformedJSON(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try JSONParser.parse(#""\u00e9\ud83d\ude00\t""#) == .string("é😀\t"))
    }

    /// The string scanner skips eight plain bytes at a time: a quote, backslash or control
    /// character at any position of a word, and multi-byte UTF-8 beside it, must still be seen.
    @Test func seesSpecialBytesAtEveryPositionOfALongString() throws {
        for length in 0..<24 {
            for at in 0...length {
                let plain = String(repeating: "a", count: at) + "é" + String(repeating: "b", count: length - at)
                #expect(try JSONParser.parse("\"" + plain + "\"") == .string(plain))
                let head = String(repeating: "a", count: at)
                let tail = String(repeating: "b", count: length - at)
                #expect(try JSONParser.parse(#""\#(head)\"\#(tail)""#) == .string(head + "\"" + tail))
                #expect(try JSONParser.parse(#""\#(head)\\\#(tail)""#) == .string(head + "\\" + tail))
                #expect(throws: JSONParseError.self) { try JSONParser.parse("\"" + head + "\u{1F}" + tail + "\"") }
                #expect(throws: JSONParseError.self) { try JSONParser.parse("\"" + head + tail) }
            }
        }
    }

    @Test func rejectsExcessiveNesting() {
        let deep = String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
    }

    /// The Python SDK hashes `json.dumps(sort_keys-recursively, separators=(",", ":"), ensure_ascii=False)`.
    @Test func stableTextMatchesPythonSDKSerialization() throws {
        let value = try JSONParser.parse(#"{"b":{"y":[1,2.50,{"k":"v","a":1e-5}],"x":null},"a":true,"é":1.0}"#)
        #expect(value.stableText == #"{"a":true,"b":{"x":null,"y":[1,2.5,{"a":1e-05,"k":"v"}]},"é":1.0}"#)
    }

    /// 120,000 keys took minutes with a linear scan per key; with the key index both the parse
    /// and the merge are linear. The bound is generous (a busy debug build needs well under a
    /// second): it only separates linear from quadratic.
    @Test func parsesAndMergesManyKeysInLinearTime() throws {
        let count = 120_000
        let text = "{" + (0..<count).map { #""k\#($0)":\#($0)"# }.joined(separator: ",") + "}"
        let clock = ContinuousClock()
        var parsed: JSONObject?
        let parse = try clock.measure { parsed = try JSONParser.parse(text).objectValue }
        let object = try #require(parsed)
        #expect(object.count == count && object["k119999"] == .int(119_999))
        var merged = JSONObject()
        let merge = clock.measure { merged = object.merging(object.merging(JSONObject([("new", .null)]))) }
        #expect(merged.count == count + 1 && merged.keys.last == "new" && merged.keys.first == "k0")
        print("JSONObject with \(count) keys: parse \(parse), merge twice \(merge)")
        #expect(parse < .seconds(10) && merge < .seconds(10))
    }

    @Test func largeObjectsKeepInsertionOrderAndLastDuplicateWins() throws {
        let keys = (0..<20).map { "k\($0)" }
        let text = "{" + keys.map { #""\#($0)":1"# }.joined(separator: ",") + #","k3":"again"}"#
        let object = try #require(try JSONParser.parse(text).objectValue)
        #expect(object.isIndexed)
        #expect(object.keys == keys && object["k3"] == .string("again"))
        var edited = object
        edited["k0"] = nil
        edited["k0"] = .bool(true)
        #expect(edited.keys == Array(keys.dropFirst()) + ["k0"])
        #expect(edited["k1"] == .int(1) && edited["k0"] == .bool(true) && edited["k3"] == .string("again"))
        // Equality is about keys and values only, however the object was built.
        var small = JSONObject()
        for k in keys.prefix(12) { small[k] = .null }
        for k in keys.prefix(12).dropFirst(3) { small[k] = nil }
        #expect(!small.isIndexed)
        #expect(small == JSONObject(keys.prefix(3).map { ($0, JSONValue.null) }))
    }

    /// A parsed body of many tiny values costs a slot per value: objects are boxed so that a
    /// slot is no larger than a string and its case.
    @Test func aValueIsNoLargerThanAString() {
        #expect(MemoryLayout<JSONValue>.size <= MemoryLayout<String>.size + 1)
    }

    @Test func mergeReplacesTopLevelKeysOnly() throws {
        let base = try #require(try JSONParser.parse(#"{"a":{"x":1},"b":2}"#).objectValue)
        let patch = try #require(try JSONParser.parse(#"{"a":{"y":2},"c":3}"#).objectValue)
        #expect(JSONValue.object(base.merging(patch)).jsonText == #"{"a":{"y":2},"b":2,"c":3}"#)
    }
}

@Suite struct TimestampTests {
    @Test func formatsLikeJavaScriptToISOString() {
        #expect(Timestamp(milliseconds: 0).iso8601 == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp(milliseconds: 1_781_260_260_007).iso8601 == "2026-06-12T10:31:00.007Z")
        #expect(Timestamp(milliseconds: 951_782_400_000).iso8601 == "2000-02-29T00:00:00.000Z")
    }

    @Test func parsesWhatItFormatsAndOffsets() throws {
        let t = Timestamp(milliseconds: 1_781_260_260_007)
        #expect(Timestamp(iso8601: t.iso8601) == t)
        #expect(Timestamp(iso8601: "2026-06-12T12:31:00.007+02:00") == t)
        #expect(Timestamp(iso8601: "2026-02-30T00:00:00Z") == nil)
        #expect(Timestamp(iso8601: "2026-06-12 10:31:00Z") == nil)
        #expect(Timestamp(iso8601: "yesterday") == nil)
    }
}

@Suite struct ResumeContractTests {
    func contract(_ json: String) throws -> JSONObject {
        ResumeContract.normalize(try #require(try JSONParser.parse(json).objectValue))
    }

    @Test func infersReplayFromSideEffects() throws {
        #expect(try contract("{}")["replay"] == .string("auto"))
        #expect(try contract(#"{"sideEffects":["read"]}"#)["replay"] == .string("auto"))
        #expect(try contract(#"{"sideEffects":["email"]}"#)["replay"] == .string("manual"))
        #expect(try contract(#"{"sideEffects":["email"],"idempotencyKey":"k"}"#)["replay"] == .string("auto"))
        #expect(try contract(#"{"sideEffect":"write"}"#)["sideEffects"] == .array([.string("write")]))
        #expect(try contract(#"{"onAmbiguousFailure":"fail","sideEffects":["x"]}"#)["replay"] == .string("never"))
        #expect(try contract(#"{"replay":"manual"}"#)["replay"] == .string("manual"))
    }

    @Test func defaultDecisions() throws {
        #expect(ResumeContract.defaultDecision(contract: try contract("{}"), retryable: true) == "auto_retry")
        #expect(
            ResumeContract.defaultDecision(contract: try contract(#"{"replay":"never"}"#), retryable: false)
                == "fail_hard")
        #expect(
            ResumeContract.defaultDecision(contract: try contract(#"{"sideEffects":["pay"]}"#), retryable: false)
                == "manual_review")
    }

    @Test func backoffDoublesAndCaps() {
        #expect(RetryPolicy.backoffMilliseconds(attempt: 0) == 5_000)
        #expect(RetryPolicy.backoffMilliseconds(attempt: 1) == 5_000)
        #expect(RetryPolicy.backoffMilliseconds(attempt: 3) == 20_000)
        #expect(RetryPolicy.backoffMilliseconds(attempt: 50) == 300_000)
    }
}

@Suite struct JSONStringEscapingTests {
    @Test func escapesOnlyWhatJSONRequiresAroundLongPlainRuns() throws {
        let plain = String(repeating: "abc é😀/", count: 50)
        let tricky = plain + "\"\\\n\r\t\u{08}\u{0C}\u{01}\u{1F}" + plain
        let text = JSONValue.string(tricky).jsonText
        #expect(text == "\"" + plain + #"\"\\\n\r\t\b\f\u0001\u001f"# + plain + "\"")
        #expect(try JSONParser.parse(text) == .string(tricky))
        #expect(JSONValue.string("").jsonText == #""""#)
        #expect(JSONValue.string("\"").jsonText == #""\"""#)
    }
}
