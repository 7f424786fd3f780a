/// The OpenAPI 3.1 document served at `/openapi.json` (no auth needed): every route of every
/// protocol the main listener serves. Each protocol's paths and schemas live beside this file
/// (OpenAPI+Runs, OpenAPI+Checkpoints, OpenAPI+Artifacts, OpenAPI+Service); a test checks that
/// the router and the document name the same routes.
enum OpenAPI {
    static let document: String = """
        {
          "openapi": "3.1.0",
          "info": {
            "title": "Cairn API",
            "version": "1",
            "description": "Durable runs (Tidebase run protocol), checkpoints (SnapState protocol), artifacts, sandboxes (and py-code-mode's session protocol under /codemode, which refuses with {\\"detail\\": message}) and API keys. Runs, queues, schedules, artifacts and keys refuse with {\\"error\\": message, ...}; the checkpoint routes (/checkpoints, /workflows, /webhooks, /agents, /analytics) with {\\"error\\": {\\"code\\", \\"message\\"}}. See docs/api/."
          },
          "security": [{"bearer": []}],
          "paths": {
        \([servicePaths, runPaths, queuePaths, checkpointPaths, artifactPaths, sandboxPaths].joined(separator: ",\n"))
          },
          "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "The server's --api-key (root) or an API key from /admin/keys. Reads need the read scope, other methods write, /admin routes admin. An open server (no key configured or stored, loopback only) needs none."}},
            "headers": {
        \([artifactHeaders, checkpointHeaders].joined(separator: ",\n"))
            },
            "responses": {
        \([serviceResponses, checkpointResponses, artifactResponses, sandboxResponses].joined(separator: ",\n"))
            },
            "schemas": {
        \([serviceSchemas, runSchemas, checkpointSchemas, artifactSchemas, sandboxSchemas].joined(separator: ",\n"))
            }
          }
        }
        """

    // MARK: Schema helpers (each returns JSON text)

    static let string = #"{"type": "string"}"#
    static let nonEmptyString = #"{"type": "string", "minLength": 1}"#
    static let nullableString = #"{"type": ["string", "null"]}"#
    static let integer = #"{"type": "integer"}"#
    static let nullableInteger = #"{"type": ["integer", "null"]}"#
    static let boolean = #"{"type": "boolean"}"#
    static let number = #"{"type": "number"}"#
    static let timestamp = #"{"type": "string", "format": "date-time"}"#
    static let nullableTimestamp = #"{"type": ["string", "null"], "format": "date-time"}"#
    /// Any JSON value, stored and returned as sent.
    static let anyValue = #"{}"#
    static let jsonObject = #"{"type": "object"}"#
    static let nullableObject = #"{"type": ["object", "null"]}"#
    /// An absolute http(s) URL (null counts as absent).
    static let httpURL = #"{"type": ["string", "null"], "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?# \\n]+[^ \\n]*$"}"#

    static func ref(_ schema: String) -> String { ##"{"$ref": "#/components/schemas/\##(schema)"}"## }
    static func array(_ items: String) -> String { #"{"type": "array", "items": \#(items)}"# }
    static func nullable(_ schema: String) -> String { #"{"oneOf": [{"type": "null"}, \#(schema)]}"# }

    /// A response object whose every listed key is always present.
    static func record(_ fields: KeyValuePairs<String, String>) -> String {
        let required = fields.map { "\"\($0.key)\"" }.joined(separator: ", ")
        let properties = fields.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
        return #"{"type": "object", "required": [\#(required)], "properties": {\#(properties)}}"#
    }

    /// A request body object with the fields of each list. `closed` bodies refuse unknown
    /// fields (400).
    static func body(
        required: [String] = [], closed: Bool = false, minProperties: Int = 0,
        _ fields: KeyValuePairs<String, String>...
    ) -> String {
        // A field named in several lists keeps its first schema.
        var seen: Set<String> = []
        let properties = fields.flatMap { $0 }.filter { seen.insert($0.key).inserted }
            .map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
        let requiredList = required.map { "\"\($0)\"" }.joined(separator: ", ")
        return #"{"type": "object", "required": [\#(requiredList)], "minProperties": \#(minProperties), "#
            + #""properties": {\#(properties)}\#(closed ? #", "additionalProperties": false"# : "")}"#
    }

    /// A JSON request body (`required: false` when an empty body counts as `{}`).
    static func jsonRequest(_ schema: String, required: Bool = true) -> String {
        #""requestBody": {"required": \#(required), "content": {"application/json": {"schema": \#(schema)}}}"#
    }

    /// A JSON response with `schema`.
    static func json(_ description: String, _ schema: String, links: String? = nil) -> String {
        let linked = links.map { #", "links": {\#($0)}"# } ?? ""
        return #"{"description": "\#(description)", "content": {"application/json": {"schema": \#(schema)}}\#(linked)}"#
    }

    /// One link to `operationId`, with its parameters given as runtime expressions.
    /// `body`, when given, is the linked request's JSON body (it may hold runtime expressions).
    static func link(
        _ name: String, _ operationId: String, _ parameters: KeyValuePairs<String, String>, body: String? = nil
    ) -> String {
        let list = parameters.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ")
        let requestBody = body.map { #", "requestBody": \#($0)"# } ?? ""
        return #""\#(name)": {"operationId": "\#(operationId)", "parameters": {\#(list)}\#(requestBody)}"#
    }

    /// Refusals of the runs, queues, schedules and keys routes, by status.
    static func runErrors(_ codes: Int...) -> String {
        codes.map { ##""\##($0)": {"$ref": "#/components/responses/RunError"}"## }.joined(separator: ", ")
    }

    static func pathParameter(_ name: String, _ description: String, schema: String = nonEmptyString) -> String {
        #"{"name": "\#(name)", "in": "path", "required": true, "description": "\#(description)", "schema": \#(schema)}"#
    }

    static func queryParameter(_ name: String, _ schema: String, _ description: String = "") -> String {
        let described = description.isEmpty ? "" : #", "description": "\#(description)""#
        return #"{"name": "\#(name)", "in": "query", "schema": \#(schema)\#(described)}"#
    }
}
