/// The filter of a bucket's object notifications: the SQL-like `WHERE` clause Tigris documents,
/// parsed once when the notifications are set (an invalid filter is refused then, never dropped
/// at delivery time) and evaluated against each event.
///
///     WHERE `key` REGEXP "^results/" AND size > 1000 AND NOT `Event-Type` = "OBJECT_DELETED"
///
/// Fields: `` `key` `` (also bare `key`), `` `Event-Type` `` and `size` (also `` `size` ``).
/// Operators: `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=` (strings compare by code point, sizes as
/// numbers), `REGEXP` (see `LinearRegex`), `LIKE` (`%` any run, `_` one character), each of the last
/// two optionally after `NOT`; `AND`, `OR`, `NOT` and parentheses. Strings are in double or single
/// quotes with a backslash escaping the next character. An empty filter matches every event.
public struct NotificationFilter: Sendable {
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// What an event offers the filter.
    public struct Subject: Sendable {
        public var key: String
        public var eventType: String
        public var size: Int64

        public init(key: String, eventType: String, size: Int64) {
            self.key = key
            self.eventType = eventType
            self.size = size
        }
    }

    enum Field: Sendable { case key, eventType, size }

    enum Comparison: Sendable {
        case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual
    }

    indirect enum Expression: Sendable {
        case all
        case and(Expression, Expression)
        case or(Expression, Expression)
        case not(Expression)
        case compareText(Field, Comparison, String)
        case compareSize(Comparison, Int64)
        case regexp(Field, LinearRegex)
        case like(Field, [LikeToken])
    }

    enum LikeToken: Sendable, Equatable {
        case scalar(Unicode.Scalar)
        case one
        case any
    }

    public static let maxLength = 4096
    static let maxDepth = 32

    let expression: Expression

    public init(_ text: String) throws {
        guard text.utf8.count <= Self.maxLength else {
            throw SyntaxError(description: "a filter is at most \(Self.maxLength) bytes")
        }
        var parser = FilterParser(tokens: try FilterLexer.tokens(text))
        if parser.tokens.isEmpty {
            expression = .all
            return
        }
        if parser.peekWord("WHERE") { parser.index += 1 }
        expression = try parser.parseOr(depth: 0)
        guard parser.index == parser.tokens.count else {
            throw SyntaxError(description: "unexpected \(parser.tokens[parser.index]) after the condition")
        }
    }

    public func matches(_ subject: Subject) -> Bool { Self.evaluate(expression, subject) }

    static func evaluate(_ e: Expression, _ s: Subject) -> Bool {
        switch e {
        case .all: return true
        case .and(let a, let b): return evaluate(a, s) && evaluate(b, s)
        case .or(let a, let b): return evaluate(a, s) || evaluate(b, s)
        case .not(let a): return !evaluate(a, s)
        case .compareText(let field, let op, let value):
            let actual = text(field, s)
            let equal = actual.unicodeScalars.elementsEqual(value.unicodeScalars)
            return compare(actual.unicodeScalars.lexicographicallyPrecedes(value.unicodeScalars), equal, op)
        case .compareSize(let op, let value): return compare(s.size < value, s.size == value, op)
        case .regexp(let field, let regex): return regex.matches(text(field, s))
        case .like(let field, let pattern): return like(Array(text(field, s).unicodeScalars), pattern)
        }
    }

    static func text(_ field: Field, _ s: Subject) -> String {
        switch field {
        case .key: s.key
        case .eventType: s.eventType
        case .size: String(s.size)
        }
    }

    static func compare(_ less: Bool, _ equal: Bool, _ op: Comparison) -> Bool {
        switch op {
        case .equal: equal
        case .notEqual: !equal
        case .less: less
        case .lessOrEqual: less || equal
        case .greater: !less && !equal
        case .greaterOrEqual: !less
        }
    }

    /// `LIKE` by dynamic programming over (pattern position, text position): O(n·m), never
    /// exponential. `reachable[j]`: the pattern so far can match the first j scalars.
    static func like(_ text: [Unicode.Scalar], _ pattern: [LikeToken]) -> Bool {
        var reachable = [Bool](repeating: false, count: text.count + 1)
        reachable[0] = true
        for token in pattern {
            var next = [Bool](repeating: false, count: text.count + 1)
            switch token {
            case .any:
                var seen = false
                for j in 0...text.count {
                    seen = seen || reachable[j]
                    next[j] = seen
                }
            case .one:
                for j in 0..<text.count where reachable[j] { next[j + 1] = true }
            case .scalar(let c):
                for j in 0..<text.count where reachable[j] && text[j] == c { next[j + 1] = true }
            }
            reachable = next
        }
        return reachable[text.count]
    }

    static func likeTokens(_ pattern: String) -> [LikeToken] {
        var tokens: [LikeToken] = []
        var escaped = false
        for c in pattern.unicodeScalars {
            if escaped {
                tokens.append(.scalar(c))
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "%" {
                if tokens.last != .any { tokens.append(.any) }
            } else if c == "_" {
                tokens.append(.one)
            } else {
                tokens.append(.scalar(c))
            }
        }
        if escaped { tokens.append(.scalar("\\")) }
        return tokens
    }
}

enum FilterToken: Equatable, CustomStringConvertible {
    case word(String)
    case field(String)
    case string(String)
    case number(Int64)
    case symbol(String)

    var description: String {
        switch self {
        case .word(let w): w
        case .field(let f): "`\(f)`"
        case .string(let s): "\"\(s)\""
        case .number(let n): String(n)
        case .symbol(let s): s
        }
    }
}

enum FilterLexer {
    static func tokens(_ text: String) throws -> [FilterToken] {
        let s = Array(text.unicodeScalars)
        var i = 0
        var tokens: [FilterToken] = []
        func fail(_ what: String) -> NotificationFilter.SyntaxError {
            NotificationFilter.SyntaxError(description: "\(what) at character \(i + 1)")
        }
        while i < s.count {
            let c = s[i]
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                i += 1
            } else if c == "`" {
                guard let end = s[(i + 1)...].firstIndex(of: "`") else { throw fail("unclosed `") }
                tokens.append(.field(String(String.UnicodeScalarView(s[(i + 1)..<end]))))
                i = end + 1
            } else if c == "\"" || c == "'" {
                var value = String.UnicodeScalarView()
                var j = i + 1
                var closed = false
                while j < s.count {
                    if s[j] == "\\", j + 1 < s.count {
                        // Kept for LIKE (where \% is a literal %); other contexts drop it below.
                        value.append(s[j])
                        value.append(s[j + 1])
                        j += 2
                    } else if s[j] == c {
                        closed = true
                        break
                    } else {
                        value.append(s[j])
                        j += 1
                    }
                }
                guard closed else { throw fail("unclosed string") }
                tokens.append(.string(String(value)))
                i = j + 1
            } else if c.properties.numericType != nil, c.isASCII {
                var j = i
                var value: Int64 = 0
                while j < s.count, s[j].isASCII, let d = Int64(String(s[j])) {
                    let (m, o1) = value.multipliedReportingOverflow(by: 10)
                    let (a, o2) = m.addingReportingOverflow(d)
                    guard !o1, !o2 else { throw fail("number too large") }
                    value = a
                    j += 1
                }
                tokens.append(.number(value))
                i = j
            } else if "=<>!()".unicodeScalars.contains(c) {
                let two = i + 1 < s.count ? String(String.UnicodeScalarView([c, s[i + 1]])) : ""
                if ["!=", "<>", "<=", ">="].contains(two) {
                    tokens.append(.symbol(two))
                    i += 2
                } else if c == "!" {
                    throw fail("expected != ")
                } else {
                    tokens.append(.symbol(String(c)))
                    i += 1
                }
            } else if c.properties.isAlphabetic || c == "_" || c == "-" {
                var j = i
                while j < s.count, s[j].properties.isAlphabetic || s[j] == "_" || s[j] == "-" || s[j].isASCIIDigit {
                    j += 1
                }
                tokens.append(.word(String(String.UnicodeScalarView(s[i..<j]))))
                i = j
            } else {
                throw fail("unexpected character \(c)")
            }
        }
        return tokens
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIIDigit: Bool { value >= 0x30 && value <= 0x39 }
}

struct FilterParser {
    typealias Expression = NotificationFilter.Expression
    let tokens: [FilterToken]
    var index = 0

    func fail(_ what: String) -> NotificationFilter.SyntaxError {
        let near = index < tokens.count ? " near \(tokens[index])" : " at the end"
        return NotificationFilter.SyntaxError(description: what + near)
    }

    func peekWord(_ word: String) -> Bool {
        guard index < tokens.count, case .word(let w) = tokens[index] else { return false }
        return w.uppercased() == word
    }

    mutating func parseOr(depth: Int) throws -> Expression {
        var left = try parseAnd(depth: depth)
        while peekWord("OR") {
            index += 1
            left = .or(left, try parseAnd(depth: depth))
        }
        return left
    }

    mutating func parseAnd(depth: Int) throws -> Expression {
        var left = try parseNot(depth: depth)
        while peekWord("AND") {
            index += 1
            left = .and(left, try parseNot(depth: depth))
        }
        return left
    }

    mutating func parseNot(depth: Int) throws -> Expression {
        guard depth <= NotificationFilter.maxDepth else { throw fail("conditions nested too deep") }
        if peekWord("NOT") {
            index += 1
            return .not(try parseNot(depth: depth + 1))
        }
        if index < tokens.count, tokens[index] == .symbol("(") {
            index += 1
            let inner = try parseOr(depth: depth + 1)
            guard index < tokens.count, tokens[index] == .symbol(")") else { throw fail("missing )") }
            index += 1
            return inner
        }
        return try parseComparison()
    }

    mutating func parseComparison() throws -> Expression {
        guard index < tokens.count else { throw fail("expected a field") }
        let field: NotificationFilter.Field
        switch tokens[index] {
        case .field(let name), .word(let name):
            switch name.lowercased() {
            case "key": field = .key
            case "event-type": field = .eventType
            case "size": field = .size
            default: throw fail("unknown field \(name) (fields: `key`, `Event-Type`, size)")
            }
        default: throw fail("expected a field")
        }
        index += 1
        var negated = false
        if peekWord("NOT") {
            negated = true
            index += 1
        }
        guard index < tokens.count else { throw fail("expected an operator") }
        let op = tokens[index]
        index += 1
        guard index < tokens.count else { throw fail("expected a value") }
        let value = tokens[index]
        index += 1
        let result: Expression
        switch op {
        case .word(let w) where w.uppercased() == "REGEXP" || w.uppercased() == "LIKE":
            guard field != .size, case .string(let pattern) = value else {
                throw fail("\(w.uppercased()) compares `key` or `Event-Type` with a quoted pattern")
            }
            if w.uppercased() == "LIKE" {
                result = .like(field, NotificationFilter.likeTokens(pattern))
            } else {
                do {
                    result = .regexp(field, try LinearRegex(pattern))
                } catch {
                    throw NotificationFilter.SyntaxError(description: "invalid REGEXP \"\(pattern)\": \(error)")
                }
            }
        case .symbol(let s):
            guard !negated else { throw fail("NOT goes before REGEXP or LIKE, or before the whole condition") }
            let comparison: NotificationFilter.Comparison
            switch s {
            case "=": comparison = .equal
            case "!=", "<>": comparison = .notEqual
            case "<": comparison = .less
            case "<=": comparison = .lessOrEqual
            case ">": comparison = .greater
            case ">=": comparison = .greaterOrEqual
            default: throw fail("expected an operator")
            }
            switch (field, value) {
            case (.size, .number(let n)): result = .compareSize(comparison, n)
            case (.size, _): throw fail("size compares with a number")
            case (_, .string(let text)): result = .compareText(field, comparison, Self.unescaped(text))
            default: throw fail("`key` and `Event-Type` compare with a quoted string")
            }
            return result
        default: throw fail("expected an operator")
        }
        return negated ? .not(result) : result
    }

    /// A string literal's value outside LIKE: a backslash stands for the character after it.
    static func unescaped(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var escaped = false
        for c in text.unicodeScalars {
            if !escaped, c == "\\" {
                escaped = true
                continue
            }
            out.append(c)
            escaped = false
        }
        return String(out)
    }
}
