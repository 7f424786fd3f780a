/// The interpreter loop a Python sandbox runs: it reads one request per line from descriptor 3
/// (`{"code", "nonce"}`), runs the code in one namespace that lives until reset, lets the code
/// write to descriptors 1 and 2 as it likes, then writes an end marker carrying the nonce to
/// both (so the server knows it has all of this execution's output) and the result
/// (`{"value", "json", "error"}`) as one line to descriptor 4. The control descriptors are not
/// inherited by anything the code starts.
enum PythonSession {
    static let script = #"""
        import ast, json, os, sys, traceback
        os.set_inheritable(3, False)
        os.set_inheritable(4, False)
        requests = os.fdopen(3, "rb")
        results = os.fdopen(4, "wb", buffering=0)
        sys.stdout.reconfigure(line_buffering=True)
        sys.stderr.reconfigure(line_buffering=True)
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        def run(code):
            tree = ast.parse(code, "<cell>", "exec")
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, "<cell>", "exec"), namespace)
            if last is None:
                return None, None
            value = eval(compile(last, "<cell>", "eval"), namespace)
            if value is None:
                return None, None
            try:
                encoded = json.dumps(value)
            except Exception:
                encoded = None
            return repr(value), encoded
        while True:
            line = requests.readline()
            if not line:
                break
            request = json.loads(line)
            value, encoded, error = None, None, None
            try:
                value, encoded = run(request["code"])
            except BaseException as e:
                # Only the cell's own frames: the loop's and the compiler's are noise.
                tb = e.__traceback__
                while tb is not None and tb.tb_frame.f_code.co_filename != "<cell>":
                    tb = tb.tb_next
                error = "".join(traceback.format_exception(type(e), e, tb))
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            marker = ("\x00cairn-end-" + request["nonce"] + "\x00").encode()
            for fd in (1, 2):
                try:
                    os.write(fd, marker)
                except OSError:
                    pass
            results.write((json.dumps({"value": value, "json": encoded, "error": error}) + "\n").encode())
        """#

    static func argv() -> [String] { ["python3", "-I", "-c", script] }

    static func endMarker(nonce: String) -> [UInt8] { Array("\u{0}cairn-end-\(nonce)\u{0}".utf8) }
}

/// Finds an end marker in a stream that arrives in chunks: bytes that may be the start of a
/// marker split across reads are held back until the next chunk decides.
struct MarkerScanner {
    let marker: [UInt8]
    private var held: [UInt8] = []
    private(set) var found = false

    init(marker: [UInt8]) { self.marker = marker }

    /// The bytes of `chunk` that are output (everything before the marker; nothing after it).
    mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        guard !found else { return [] }
        let data = held + chunk
        held = []
        if let at = Self.firstIndex(of: marker, in: data) {
            found = true
            return Array(data[..<at])
        }
        // Keep the longest tail that is a prefix of the marker.
        var keep = min(marker.count - 1, data.count)
        while keep > 0 && !data[(data.count - keep)...].elementsEqual(marker[..<keep]) { keep -= 1 }
        held = Array(data[(data.count - keep)...])
        return Array(data[..<(data.count - keep)])
    }

    /// What was held back, for when the stream ends without a marker.
    mutating func flush() -> [UInt8] {
        defer { held = [] }
        return held
    }

    static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count, let first = needle.first else { return nil }
        var i = 0
        while i + needle.count <= haystack.count {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
