import Testing

@testable import CairnCore

/// IAM policy documents: what parses, what is refused and why, how statements are evaluated
/// (explicit deny wins, an allow is needed), and the wildcard matcher's cost.
@Suite struct IAMPolicyTests {
    func malformed(_ text: String) -> String? {
        do {
            _ = try IAMPolicyDocument.parse(text)
            return nil
        } catch {
            return error.code == "MalformedPolicyDocument" ? error.message : "wrong code \(error.code)"
        }
    }

    func policy(_ text: String) throws -> IAMPolicyDocument { try IAMPolicyDocument.parse(text) }

    func allows(_ p: IAMPolicyDocument, _ action: String, _ resource: String) -> Bool {
        p.decision(for: IAMRequest(action: action, resource: resource)) == .allowed
    }

    static func role(_ action: String, bucket: String) -> String {
        """
        {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":\(action),\
        "Resource":["arn:aws:s3:::\(bucket)","arn:aws:s3:::\(bucket)/*"]}]}
        """
    }

    // MARK: Parsing

    @Test func parsesTheAgentKitRoles() throws {
        let editor = try policy(Self.role(#""s3:*""#, bucket: "fork-1"))
        #expect(editor.version == "2012-10-17")
        #expect(editor.statements.count == 1)
        #expect(editor.statements[0].actions == ["s3:*"])
        #expect(editor.statements[0].resources == ["arn:aws:s3:::fork-1", "arn:aws:s3:::fork-1/*"])
        let reader = try policy(
            Self.role(#"["s3:GetObject","s3:ListBucket","s3:GetBucketLocation"]"#, bucket: "fork-1"))
        #expect(reader.statements[0].actions == ["s3:getobject", "s3:listbucket", "s3:getbucketlocation"])
    }

    @Test func aSingleStatementObjectAndSidAndIdAreAccepted() throws {
        let p = try policy(
            #"{"Id":"x","Statement":{"Sid":"Read1","Effect":"Deny","Action":"s3:GetObject","Resource":"*"}}"#)
        #expect(p.version == "2008-10-17")
        #expect(p.statements == [.init(sid: "Read1", effect: .deny, actions: ["s3:GetObject"], resources: ["*"])])
    }

    @Test func malformedDocumentsAreRefusedWithAReason() {
        let refused = [
            "not json",
            "[]",
            #"{"Version":"2012-10-17"}"#,
            #"{"Version":"2020-01-01","Statement":[]}"#,
            #"{"Version":"2012-10-17","Statement":[]}"#,
            #"{"Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}"#,
            #"{"Statement":[{"Effect":"allow","Action":"s3:*","Resource":"*"}]}"#,
            #"{"Statement":[{"Action":"s3:*","Resource":"*"}]}"#,
            #"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            #"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
            #"{"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#,
            #"{"Statement":[{"Effect":"Allow","Action":[1],"Resource":"*"}]}"#,
            #"{"Statement":[{"Effect":"Allow","Action":"GetObject","Resource":"*"}]}"#,
            #"{"Statement":[{"Effect":"Allow","Action":"s3:Get Object","Resource":"*"}]}"#,
            #"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}]}"#,
            #"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::${aws:username}/*"}]}"#,
            #"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Extra":1}]}"#,
            #"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}],"Other":1}"#,
            #"{"Statement":["Allow"]}"#,
            #"{"Statement":[{"Sid":"has space","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        ]
        for text in refused {
            #expect(malformed(text) != nil, "accepted: \(text)")
        }
    }

    @Test func elementsThatWouldWidenOrNarrowAreRefusedNotIgnored() {
        for element in ["NotAction", "NotResource", "Condition", "Principal", "NotPrincipal"] {
            let text = #"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","\#(element)":{}}]}"#
            let message = malformed(text)
            #expect(message?.contains(element) == true && message?.contains("not supported") == true)
        }
    }

    @Test func documentsAreBounded() {
        let big = Self.role(#""s3:*""#, bucket: String(repeating: "a", count: IAMPolicyDocument.maxDocumentBytes))
        #expect(malformed(big)?.contains("longer than") == true)
        let many = Array(repeating: #"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#, count: 101)
        #expect(malformed(#"{"Statement":[\#(many.joined(separator: ","))]}"#)?.contains("more than 100") == true)
    }

    // MARK: Evaluation

    @Test func editorRoleAllowsEverythingOnItsBucketOnly() throws {
        let editor = try policy(Self.role(#""s3:*""#, bucket: "fork-1"))
        #expect(allows(editor, "s3:GetObject", "arn:aws:s3:::fork-1/a/b.txt"))
        #expect(allows(editor, "s3:PutObject", "arn:aws:s3:::fork-1/k"))
        #expect(allows(editor, "s3:ListBucket", "arn:aws:s3:::fork-1"))
        #expect(allows(editor, "s3:DeleteBucket", "arn:aws:s3:::fork-1"))
        #expect(!allows(editor, "s3:ListAllMyBuckets", "*"))
        #expect(!allows(editor, "s3:GetObject", "arn:aws:s3:::fork-2/k"))
        #expect(!allows(editor, "s3:ListBucket", "arn:aws:s3:::fork-10"))
        #expect(!allows(editor, "s3:GetObject", "arn:aws:s3:::fork-1x/k"))
        #expect(!allows(editor, "iam:CreateAccessKey", "*"))
    }

    @Test func readOnlyRoleReadsAndListsButWritesNothing() throws {
        let reader = try policy(
            Self.role(#"["s3:GetObject","s3:ListBucket","s3:GetBucketLocation"]"#, bucket: "b1"))
        #expect(allows(reader, "s3:GetObject", "arn:aws:s3:::b1/k"))
        #expect(allows(reader, "s3:ListBucket", "arn:aws:s3:::b1"))
        #expect(allows(reader, "s3:GetBucketLocation", "arn:aws:s3:::b1"))
        #expect(!allows(reader, "s3:PutObject", "arn:aws:s3:::b1/k"))
        #expect(!allows(reader, "s3:DeleteObject", "arn:aws:s3:::b1/k"))
        #expect(!allows(reader, "s3:ListBucketVersions", "arn:aws:s3:::b1"))
        #expect(!allows(reader, "s3:GetObject", "arn:aws:s3:::b2/k"))
    }

    @Test func explicitDenyWinsAcrossStatementsAndPolicies() throws {
        let p = try policy(
            """
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":"s3:*","Resource":"*"},
              {"Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/keep/*"}]}
            """)
        #expect(p.decision(for: .init(action: "s3:DeleteObject", resource: "arn:aws:s3:::b/keep/x")) == .denied)
        #expect(p.decision(for: .init(action: "s3:DeleteObject", resource: "arn:aws:s3:::b/tmp/x")) == .allowed)
        let allowAll = try policy(#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#)
        let denyGets = try policy(#"{"Statement":{"Effect":"Deny","Action":"s3:Get*","Resource":"*"}}"#)
        let get = IAMRequest(action: "s3:GetObject", resource: "arn:aws:s3:::b/k")
        #expect(IAMPolicyDocument.decision(for: get, under: [allowAll, denyGets]) == .denied)
        #expect(IAMPolicyDocument.decision(for: get, under: [denyGets, allowAll]) == .denied)
        #expect(IAMPolicyDocument.decision(for: get, under: [allowAll]) == .allowed)
        #expect(IAMPolicyDocument.decision(for: get, under: []) == .notAllowed)
    }

    @Test func actionsMatchCaseInsensitivelyResourcesCaseSensitively() throws {
        let p = try policy(#"{"Statement":{"Effect":"Allow","Action":"S3:get*","Resource":"arn:aws:s3:::B/*"}}"#)
        #expect(allows(p, "s3:GetObject", "arn:aws:s3:::B/k"))
        #expect(allows(p, "s3:GETBUCKETLOCATION", "arn:aws:s3:::B/k"))
        #expect(!allows(p, "s3:GetObject", "arn:aws:s3:::b/k"))
        #expect(!allows(p, "s3:PutObject", "arn:aws:s3:::B/k"))
    }

    // MARK: Wildcards

    @Test func wildcards() {
        let cases: [(String, String, Bool)] = [
            ("*", "", true), ("*", "anything", true), ("", "", true), ("", "a", false),
            ("a?c", "abc", true), ("a?c", "ac", false), ("a*c", "ac", true), ("a*c", "abbbc", true),
            ("a*c", "abcd", false), ("*.txt", "dir/x.txt", true), ("*.txt", "x.txt.bak", false),
            ("arn:aws:s3:::b/*", "arn:aws:s3:::b/", true), ("arn:aws:s3:::b/*", "arn:aws:s3:::b", false),
            ("a*b*c", "aXbYbZc", true), ("a*b*c", "aXcYb", false), ("??", "é!", true), ("?", "é", true),
            ("a**b", "ab", true), ("*a*", "bab", true), ("*a*", "bbb", false),
        ]
        for (pattern, text, expected) in cases {
            #expect(IAMWildcard.matches(pattern, text) == expected, "\(pattern) ~ \(text)")
        }
    }

    @Test func pathologicalPatternsStayFast() {
        // A recursive matcher takes exponential time here; this one takes pattern × text steps.
        let pattern = String(repeating: "a*", count: 40) + "b"
        let text = String(repeating: "a", count: 2000)
        let clock = ContinuousClock()
        let elapsed = clock.measure { #expect(!IAMWildcard.matches(pattern, text)) }
        #expect(elapsed < .seconds(1))
    }
}
