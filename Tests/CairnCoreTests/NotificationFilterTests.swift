import Testing

@testable import CairnCore

/// The notification filter dialect and the linear-time regular expressions it uses.
@Suite struct NotificationFilterTests {
    func matches(_ pattern: String, _ text: String) throws -> Bool { try LinearRegex(pattern).matches(text) }

    @Test func regexSyntax() throws {
        #expect(try matches("^results/", "results/a.json"))
        #expect(try !matches("^results/", "old/results/a.json"))
        #expect(try matches("results/", "old/results/a.json"))
        #expect(try matches("\\.json$", "a/b.json"))
        #expect(try !matches("\\.json$", "a/b.jsonl"))
        #expect(try matches("^[a-c]+\\d{2,3}$", "abc12"))
        #expect(try !matches("^[a-c]+\\d{2,3}$", "abc1234"))
        #expect(try matches("^(?:foo|bar)/[^/]*$", "bar/x"))
        #expect(try !matches("^(?:foo|bar)/[^/]*$", "bar/x/y"))
        #expect(try matches("^a?b*c+$", "c"))
        #expect(try matches("^\\w+\\s\\S$", "word x"))
        #expect(try matches("", "anything"))
        #expect(try matches("^$", ""))
        #expect(try matches("x{0}y", "y"))
        #expect(try matches("^é+$", "éé"))
        for bad in ["(", ")", "[a", "a{2,1}", "a{101}", "*a", "\\1", "(?=a)", "a{", "\\"] {
            #expect(throws: LinearRegex.SyntaxError.self, "\(bad)") { try LinearRegex(bad) }
        }
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex(String(repeating: "a", count: 513)) }
        // Nested repeats that expand past the program limit are refused, not compiled.
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex("((a{100}){100}){100}") }
    }

    @Test func pathologicalPatternsStayLinear() throws {
        // Exponential for a backtracking engine; here one pass over 1,024 scalars.
        let regex = try LinearRegex("^(a+)+b$")
        #expect(!regex.matches(String(repeating: "a", count: 1024)))
        #expect(regex.matches(String(repeating: "a", count: 1024) + "b"))
        #expect(!(try LinearRegex("(a*)*(a*)*c")).matches(String(repeating: "a", count: 1024)))
    }

    func filter(_ text: String, key: String = "results/a.json", type: String = "OBJECT_CREATED_PUT", size: Int64 = 10)
        throws -> Bool
    {
        try NotificationFilter(text).matches(.init(key: key, eventType: type, size: size))
    }

    @Test func filterDialect() throws {
        #expect(try filter(""))
        #expect(try filter("WHERE `key` REGEXP \"^results/\""))
        #expect(try !filter("WHERE `key` REGEXP \"^results/\"", key: "tmp/a"))
        #expect(try filter("WHERE `Event-Type` = \"OBJECT_DELETED\"", type: "OBJECT_DELETED"))
        #expect(try !filter("`Event-Type` = 'OBJECT_DELETED'"))
        #expect(try filter("size > 5 AND size <= 10"))
        #expect(try !filter("size > 1000000"))
        #expect(try filter("size >= 10 and size != 11 and size <> 12 and size < 11 and size = 10"))
        #expect(try filter("NOT size > 100 AND (`key` LIKE 'results/%.json' OR key = \"x\")"))
        #expect(try !filter("`key` LIKE 'results/_.json'", key: "results/ab.json"))
        #expect(try filter("`key` LIKE 'results/_.json'", key: "results/a.json"))
        #expect(try filter("`key` NOT LIKE '%.tmp'"))
        #expect(try !filter("`key` NOT REGEXP 'json$'"))
        #expect(try filter("`key` LIKE '100\\%'", key: "100%"))
        #expect(try !filter("`key` LIKE '100\\%'", key: "1000"))
        #expect(try filter("`key` > 'a' AND `key` < 's'"))
        #expect(try filter("size > 1 OR size > 2 AND size > 100"))  // AND binds tighter
        #expect(try !filter("(size > 1 OR size > 2) AND size > 100"))
        for bad in [
            "WHERE", "size >", "size > 'ten'", "`key` = 5", "`color` = 'red'", "`key` REGEXP '('", "size LIKE '1%'",
            "`key` = 'a' AND", "(size > 1", "size > 1)", "`key` = \"open", "size ! 1", "size NOT = 1",
            "size > 99999999999999999999", "`key` = 'a' ; DROP", String(repeating: "(", count: 40) + "size > 1",
        ] {
            #expect(throws: NotificationFilter.SyntaxError.self, "\(bad)") { try NotificationFilter(bad) }
        }
    }
}
