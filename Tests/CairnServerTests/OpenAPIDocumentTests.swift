import CairnCore
import CairnServer
import Hummingbird
import Testing

/// `/openapi.json` names exactly the routes the router serves: none missing, none invented.
/// Studio's pages (`/studio/...`) are HTML for people, not the API, and are not in it.
@Suite struct OpenAPIDocumentTests {
    @Test func documentsEveryRegisteredRouteAndNothingElse() async throws {
        let server = try TestServer()
        let registered = Set(
            server.server.makeRouter().routes.map { "\($0.method.rawValue) \($0.path.description)" }
                .filter { !$0.contains(" /studio") })
        #expect(registered.count >= 54)
        let document = try await server.test { http in try await http.get("/openapi.json") }
        #expect(document.status == .ok)
        let paths = try #require(document.json["paths"]?.objectValue, "the document has no paths")
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        var documented: Set<String> = []
        for path in paths.keys {
            for method in paths[path]?.keys ?? [] where methods.contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        #expect(registered.subtracting(documented).sorted() == [], "served but not documented")
        #expect(documented.subtracting(registered).sorted() == [], "documented but not served")
    }
}
