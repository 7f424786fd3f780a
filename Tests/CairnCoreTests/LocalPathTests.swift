import CairnCore
import Testing

@Suite struct LocalPathTests {
    @Test(arguments: [
        ("x", "", "x"), ("ab", "", "ab"), ("r/a", "r", "a"), ("/a", "/", "a"), ("/", "/", "/"),
        ("dir/sub/file.txt", "dir/sub", "file.txt"), ("dir/", "", "dir"), ("a//b", "a", "b"), ("", "", ""),
    ])
    func splits(path: String, directory: String, last: String) {
        #expect(LocalPath.directory(path) == directory)
        #expect(LocalPath.lastComponent(path) == last)
    }

    @Test func joins() {
        #expect(LocalPath.join("", "x") == "x")
        #expect(LocalPath.join("/", "x") == "/x")
        #expect(LocalPath.join("a", "x") == "a/x")
    }
}
