/// Splitting local file paths into directory and last component, for the SDK and the CLI.
///
/// Written out because Foundation's `NSString` path methods on Linux trap on one-character
/// paths (`("x" as NSString).deletingLastPathComponent` dies with an illegal instruction).
public enum LocalPath {
    /// The last component (`"a/b.txt"` → `"b.txt"`; trailing slashes are ignored;
    /// `"/"` → `"/"`; `""` → `""`).
    public static func lastComponent(_ path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        if trimmed == "/" { return "/" }
        guard let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// The directory part, without a trailing slash (`"a/b.txt"` → `"a"`, `"b.txt"` → `""`,
    /// `"/b.txt"` → `"/"`).
    public static func directory(_ path: String) -> String {
        let trimmed = trimmingTrailingSlashes(path)
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        return trimmingTrailingSlashes(String(trimmed[..<slash]))
    }

    /// `directory` and `name` joined with one slash (`""` directory: `name` alone).
    public static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    private static func trimmingTrailingSlashes(_ path: String) -> String {
        var s = Substring(path)
        while s.count > 1, s.hasSuffix("/") { s = s.dropLast() }
        return String(s)
    }
}
