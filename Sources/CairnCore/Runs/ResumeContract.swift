/// How a step may be replayed after an ambiguous failure, derived from its options
/// (Tidebase §1.6 `normalizeResumeContract`).
public enum ResumeContract {
    public static func normalize(_ options: JSONObject) -> JSONObject {
        var sideEffects: [String] = []
        if case .array(let items)? = options["sideEffects"] {
            sideEffects = items.compactMap { $0.stringValue }.filter { !$0.isEmpty }
        } else if let legacy = options["sideEffect"]?.stringValue, legacy != "none" {
            sideEffects = [legacy]
        }
        let idempotencyKey = options["idempotencyKey"]?.stringValue
        let replay: String
        if let explicit = options["replay"]?.stringValue, ["auto", "manual", "never"].contains(explicit) {
            replay = explicit
        } else if let legacy = options["onAmbiguousFailure"]?.stringValue,
            let mapped = ["retry": "auto", "review": "manual", "fail": "never"][legacy]
        {
            replay = mapped
        } else if sideEffects.isEmpty || sideEffects.allSatisfy({ $0 == "read" }) {
            replay = "auto"
        } else if idempotencyKey != nil {
            replay = "auto"
        } else {
            replay = "manual"
        }
        var contract = JSONObject()
        contract["sideEffects"] = .array(sideEffects.map { .string($0) })
        contract["idempotencyKey"] = idempotencyKey.map { .string($0) } ?? .null
        contract["replay"] = .string(replay)
        contract["checkpointInvariant"] = options["checkpointInvariant"] ?? .null
        contract["verifiedBy"] = options["verifiedBy"] ?? .null
        if case .array(let creds)? = options["credentials"] {
            contract["credentials"] = .array(creds)
        } else {
            contract["credentials"] = .array([])
        }
        return contract
    }

    /// The server's resume decision when a failing worker did not send one.
    public static func defaultDecision(contract: JSONObject, retryable: Bool) -> String {
        if retryable { return "auto_retry" }
        switch contract["replay"]?.stringValue {
        case "manual": return "manual_review"
        case "never": return "fail_hard"
        default: return "safe_replay"
        }
    }
}
