/// Routes of the server itself: health, metrics, this document, and API key management.
extension OpenAPI {
    static let servicePaths = """
            "/health": {
              "get": {"operationId": "health", "summary": "Liveness (no auth)", "tags": ["service"], "security": [],
                "responses": {"200": \(json("ok", record(["ok": #"{"const": true}"#])))}}
            },
            "/openapi.json": {
              "get": {"operationId": "openapi", "summary": "This document (no auth)", "tags": ["service"], "security": [],
                "responses": {"200": \(json("The OpenAPI 3.1 document", jsonObject))}}
            },
            "/metrics": {
              "get": {"operationId": "metrics", "summary": "Prometheus metrics (text exposition format)", "tags": ["service"],
                "responses": {
                  "200": {"description": "The metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                  \(runErrors(401, 403))
                }}
            },
            "/admin/keys": {
              "post": {
                "operationId": "createKey", "summary": "Create an API key; its secret is shown only in this answer", "tags": ["keys"],
                "description": "A tenant's admin key creates keys of its own tenant; the root key (--api-key) of any tenant.",
                \(jsonRequest(body([
                    "tenant": #"{"type": ["string", "null"], "pattern": "^[A-Za-z0-9._-]{1,64}$", "description": "Default: the caller's tenant"}"#,
                    "name": nullableString,
                    "scopes": #"{"type": ["array", "null"], "minItems": 1, "items": {"type": "string", "enum": ["read", "write", "admin"]}, "description": "Default: read and write"}"#,
                ]))),
                "responses": {
                  "201": \(json("The key and its secret", record(["key": ref("APIKey"), "secret": string]), links: link("RevokeKey", "revokeKey", ["keyId": "$response.body#/key/id"]))),
                  \(runErrors(400, 401, 403, 413))
                }
              },
              "get": {
                "operationId": "listKeys", "summary": "The keys of a tenant (root: of every tenant unless one is named)", "tags": ["keys"],
                "parameters": [\(queryParameter("tenant", string, "Only this tenant's keys"))],
                "responses": {"200": \(json("The keys, without secrets", record(["keys": array(ref("APIKey"))]))), \(runErrors(401, 403))}
              }
            },
            "/admin/keys/{keyId}": {
              "delete": {
                "operationId": "revokeKey", "summary": "Revoke a key", "tags": ["keys"],
                "parameters": [\(pathParameter("keyId", "The key's id"))],
                "responses": {"200": \(json("Revoked", record(["revoked": string]))), \(runErrors(401, 403, 404))}
              }
            }
        """

    static let serviceResponses = """
              "RunError": {"description": "A refusal", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunError"}}}}
        """

    static let serviceSchemas = """
              "APIKey": \(record([
                  "id": string, "tenant": string, "name": nullableString, "prefix": string,
                  "scopes": array(#"{"type": "string", "enum": ["read", "write", "admin"]}"#), "createdAt": timestamp,
                  "revokedAt": nullableTimestamp,
                ]))
        """
}
