/// A regular expression matched in time linear in the input (a Pike VM over a Thompson program),
/// for patterns that come from clients: notification filters' `REGEXP`. A backtracking engine
/// could spend exponential time on a pattern like `(a+)+b`; this one cannot.
///
/// The syntax is the common subset of POSIX ERE and PCRE: literals, `.`, bracket classes
/// (`[a-z]`, `[^/]`), the escapes `\d \D \w \W \s \S` and escaped metacharacters, anchors `^` and
/// `$`, groups `(…)` and `(?:…)`, alternation `|`, and the quantifiers `* + ?` and `{m}`, `{m,}`,
/// `{m,n}` (n at most 100). It searches: a match may start anywhere unless anchored.
public struct LinearRegex: Sendable {
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    enum Instruction: Sendable {
        case scalar(Unicode.Scalar)
        case set(CharacterSet, negated: Bool)
        case any
        case split(Int, Int)
        case jump(Int)
        case lineStart
        case lineEnd
        case match
    }

    /// Ranges of scalars (a bracket class or an escape like `\d`).
    struct CharacterSet: Sendable {
        var ranges: [ClosedRange<UInt32>] = []
        func contains(_ s: Unicode.Scalar) -> Bool { ranges.contains { $0.contains(s.value) } }
    }

    /// The longest pattern accepted, and the largest program it may compile to.
    public static let maxPatternLength = 512
    static let maxInstructions = 20_000
    static let maxRepeat = 100

    let program: [Instruction]

    public init(_ pattern: String) throws {
        guard pattern.unicodeScalars.count <= Self.maxPatternLength else {
            throw SyntaxError(description: "a pattern is at most \(Self.maxPatternLength) characters")
        }
        var parser = Parser(scalars: Array(pattern.unicodeScalars))
        let tree = try parser.parseAlternation(depth: 0)
        guard parser.index == parser.scalars.count else {
            throw SyntaxError(description: "unmatched ) at \(parser.index)")
        }
        var compiler = Compiler()
        try compiler.emit(tree)
        compiler.code.append(.match)
        program = compiler.code
    }

    /// Whether the pattern matches somewhere in `text`.
    public func matches(_ text: String) -> Bool {
        let input = Array(text.unicodeScalars)
        var current = ThreadList(count: program.count)
        var next = ThreadList(count: program.count)
        for position in 0...input.count {
            // A search: a new thread starts at every position.
            if add(0, at: position, length: input.count, to: &current) { return true }
            guard position < input.count else { break }
            let scalar = input[position]
            next.clear()
            for pc in current.threads {
                let advances: Bool
                switch program[pc] {
                case .scalar(let s): advances = s == scalar
                case .set(let set, let negated): advances = set.contains(scalar) != negated
                case .any: advances = scalar != "\n"
                default: advances = false
                }
                if advances, add(pc + 1, at: position + 1, length: input.count, to: &next) { return true }
            }
            swap(&current, &next)
        }
        return false
    }

    /// The threads of one step (instructions that consume a scalar), and every instruction
    /// visited in the step, so none is followed twice.
    struct ThreadList {
        var threads: [Int] = []
        var visited: [Int] = []
        var onList: [Bool]
        init(count: Int) { onList = Array(repeating: false, count: count) }
        mutating func mark(_ pc: Int) -> Bool {
            if onList[pc] { return false }
            onList[pc] = true
            visited.append(pc)
            return true
        }
        mutating func clear() {
            for pc in visited { onList[pc] = false }
            visited.removeAll(keepingCapacity: true)
            threads.removeAll(keepingCapacity: true)
        }
    }

    /// Adds the thread at `pc` and everything reachable from it without consuming input;
    /// true if that reaches `match`. Iterative, so a long program cannot overflow the stack.
    func add(_ start: Int, at position: Int, length: Int, to list: inout ThreadList) -> Bool {
        var stack = [start]
        while let pc = stack.popLast() {
            guard list.mark(pc) else { continue }
            switch program[pc] {
            case .match: return true
            case .jump(let target): stack.append(target)
            case .split(let a, let b):
                stack.append(b)
                stack.append(a)
            case .lineStart: if position == 0 { stack.append(pc + 1) }
            case .lineEnd: if position == length { stack.append(pc + 1) }
            default: list.threads.append(pc)
            }
        }
        return false
    }

    // MARK: Parsing

    indirect enum Node {
        case empty
        case scalar(Unicode.Scalar)
        case set(CharacterSet, negated: Bool)
        case any
        case lineStart
        case lineEnd
        case sequence([Node])
        case alternation([Node])
        case repeated(Node, min: Int, max: Int?)
    }

    struct Parser {
        let scalars: [Unicode.Scalar]
        var index = 0
        static let maxDepth = 32

        func fail(_ what: String) -> SyntaxError { SyntaxError(description: "\(what) at \(index)") }

        var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

        mutating func parseAlternation(depth: Int) throws -> Node {
            guard depth <= Self.maxDepth else { throw fail("groups nested too deep") }
            var branches = [try parseSequence(depth: depth)]
            while peek == "|" {
                index += 1
                branches.append(try parseSequence(depth: depth))
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func parseSequence(depth: Int) throws -> Node {
            var items: [Node] = []
            while let c = peek, c != "|", c != ")" {
                var atom = try parseAtom(depth: depth)
                while let q = peek, q == "*" || q == "+" || q == "?" || q == "{" {
                    if case .lineStart = atom { throw fail("nothing to repeat") }
                    if case .lineEnd = atom { throw fail("nothing to repeat") }
                    index += 1
                    switch q {
                    case "*": atom = .repeated(atom, min: 0, max: nil)
                    case "+": atom = .repeated(atom, min: 1, max: nil)
                    case "?": atom = .repeated(atom, min: 0, max: 1)
                    default:
                        let (low, high) = try parseBounds()
                        atom = .repeated(atom, min: low, max: high)
                    }
                }
                items.append(atom)
            }
            return items.count == 1 ? items[0] : .sequence(items)
        }

        mutating func parseNumber() -> Int? {
            var value = 0
            var digits = 0
            while let c = peek, let d = Int(String(c)), c.isASCII {
                value = value * 10 + d
                digits += 1
                index += 1
                if value > LinearRegex.maxRepeat { return nil }
            }
            return digits > 0 ? value : nil
        }

        /// `{m}`, `{m,}` or `{m,n}` after the `{`.
        mutating func parseBounds() throws -> (Int, Int?) {
            let limit = LinearRegex.maxRepeat
            guard let low = parseNumber() else { throw fail("a repeat count is 0 to \(limit)") }
            var high: Int? = low
            if peek == "," {
                index += 1
                high = peek == "}" ? nil : parseNumber()
                if high == nil, peek != "}" { throw fail("a repeat count is 0 to \(limit)") }
            }
            guard peek == "}" else { throw fail("expected }") }
            index += 1
            if let high, high < low { throw fail("a repeat's bounds are reversed") }
            return (low, high)
        }

        mutating func parseAtom(depth: Int) throws -> Node {
            let c = scalars[index]
            index += 1
            switch c {
            case ".": return .any
            case "^": return .lineStart
            case "$": return .lineEnd
            case "(":
                if peek == "?" {
                    guard index + 1 < scalars.count, scalars[index + 1] == ":" else {
                        throw fail("only (?: groups are supported")
                    }
                    index += 2
                }
                let inner = try parseAlternation(depth: depth + 1)
                guard peek == ")" else { throw fail("missing )") }
                index += 1
                return inner
            case "[": return try parseBracket()
            case "\\": return try parseEscape()
            case "*", "+", "?", "{": throw fail("nothing to repeat")
            default: return .scalar(c)
            }
        }

        static func classSet(_ letter: Unicode.Scalar) -> (CharacterSet, Bool)? {
            let digits: [ClosedRange<UInt32>] = [0x30...0x39]
            let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F...0x5F]
            let space: [ClosedRange<UInt32>] = [0x09...0x0D, 0x20...0x20]
            switch letter {
            case "d": return (CharacterSet(ranges: digits), false)
            case "D": return (CharacterSet(ranges: digits), true)
            case "w": return (CharacterSet(ranges: word), false)
            case "W": return (CharacterSet(ranges: word), true)
            case "s": return (CharacterSet(ranges: space), false)
            case "S": return (CharacterSet(ranges: space), true)
            default: return nil
            }
        }

        static func escaped(_ letter: Unicode.Scalar) -> Unicode.Scalar? {
            switch letter {
            case "n": return "\n"
            case "t": return "\t"
            case "r": return "\r"
            default:
                // Any escaped punctuation stands for itself; escaped letters and digits mean
                // things this engine does not do (back-references, \b, …).
                let v = letter.value
                let isAlnum = (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v)
                return isAlnum ? nil : letter
            }
        }

        mutating func parseEscape() throws -> Node {
            guard let c = peek else { throw fail("a pattern cannot end with \\") }
            index += 1
            if let (set, negated) = Self.classSet(c) { return .set(set, negated: negated) }
            guard let literal = Self.escaped(c) else { throw fail("unsupported escape \\\(c)") }
            return .scalar(literal)
        }

        mutating func parseBracket() throws -> Node {
            var set = CharacterSet()
            var negated = false
            if peek == "^" {
                negated = true
                index += 1
            }
            var first = true
            while true {
                guard var c = peek else { throw fail("missing ]") }
                if c == "]", !first { break }
                first = false
                index += 1
                if c == "\\" {
                    guard let e = peek else { throw fail("missing ]") }
                    index += 1
                    if let (inner, innerNegated) = Self.classSet(e) {
                        guard !innerNegated else { throw fail("a negated class inside [] is not supported") }
                        set.ranges += inner.ranges
                        continue
                    }
                    guard let literal = Self.escaped(e) else { throw fail("unsupported escape \\\(e)") }
                    c = literal
                }
                if peek == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                    index += 1
                    var upper = scalars[index]
                    index += 1
                    if upper == "\\" {
                        guard let e = peek, let literal = Self.escaped(e) else { throw fail("bad range end") }
                        index += 1
                        upper = literal
                    }
                    guard c.value <= upper.value else { throw fail("a range's ends are reversed") }
                    set.ranges.append(c.value...upper.value)
                } else {
                    set.ranges.append(c.value...c.value)
                }
            }
            index += 1
            return .set(set, negated: negated)
        }
    }

    // MARK: Compiling

    struct Compiler {
        var code: [Instruction] = []

        mutating func append(_ instruction: Instruction) throws {
            guard code.count < LinearRegex.maxInstructions else {
                throw SyntaxError(description: "the pattern is too large once its repeats are expanded")
            }
            code.append(instruction)
        }

        mutating func emit(_ node: Node) throws {
            switch node {
            case .empty: break
            case .scalar(let s): try append(.scalar(s))
            case .set(let set, let negated): try append(.set(set, negated: negated))
            case .any: try append(.any)
            case .lineStart: try append(.lineStart)
            case .lineEnd: try append(.lineEnd)
            case .sequence(let items): for item in items { try emit(item) }
            case .alternation(let branches):
                var jumps: [Int] = []
                for (i, branch) in branches.enumerated() {
                    if i < branches.count - 1 {
                        let split = code.count
                        try append(.split(split + 1, -1))
                        try emit(branch)
                        jumps.append(code.count)
                        try append(.jump(-1))
                        code[split] = .split(split + 1, code.count)
                    } else {
                        try emit(branch)
                    }
                }
                for j in jumps { code[j] = .jump(code.count) }
            case .repeated(let inner, let low, let high):
                for _ in 0..<low { try emit(inner) }
                if let high {
                    // Each optional copy may be skipped to the end.
                    var splits: [Int] = []
                    for _ in low..<high {
                        splits.append(code.count)
                        try append(.split(code.count + 1, -1))
                        try emit(inner)
                    }
                    for s in splits { code[s] = .split(s + 1, code.count) }
                } else {
                    let loop = code.count
                    try append(.split(loop + 1, -1))
                    try emit(inner)
                    try append(.jump(loop))
                    code[loop] = .split(loop + 1, code.count)
                }
            }
        }
    }
}
