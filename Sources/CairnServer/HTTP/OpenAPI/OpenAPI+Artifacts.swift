/// The artifacts API (docs/api/artifacts.md is the prose version).
extension OpenAPI {
    static let artifactId = pathParameter(
        "artifactId", "The artifact's id", schema: #"{"type": "string", "pattern": "^art_[0-9a-f]{32}$"}"#)

    /// Refusals of the artifacts routes, by status.
    static func artifactErrors(_ codes: Int...) -> String {
        codes.map { ##""\##($0)": {"$ref": "#/components/responses/ArtifactError"}"## }.joined(separator: ", ")
    }

    static let artifactRecord = record(["artifact": ref("Artifact")])

    static let artifactPaths = """
            "/artifacts": {
              "post": {
                "operationId": "uploadArtifact", "summary": "Upload an artifact (raw body, streamed)", "tags": ["artifacts"],
                "description": "The body is the artifact's bytes, sent with Content-Length or chunked transfer encoding. The response is sent only after the bytes and the row are durable.",
                "parameters": [
                  {"name": "name", "in": "query", "required": true, "schema": {"type": "string", "maxLength": 1024}, "description": "A label; may contain '/' but no '.' or '..' segments, empty segments, backslashes, control characters or a leading '/'."},
                  {"name": "owner", "in": "query", "schema": {"type": "string", "maxLength": 256}, "description": "The owning agent's id (a filter label)."},
                  {"name": "sha256", "in": "query", "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, "description": "Expected SHA-256; the upload fails with 400 checksum_mismatch if the bytes differ."},
                  {"name": "expiresAt", "in": "query", "schema": {"type": "string", "format": "date-time"}, "description": "Not with ttl. Must be in the future and, when the server sets a maximum artifact TTL, at most that far away (else 400 invalid_request). Without ttl or expiresAt, such a server sets now + its maximum."},
                  {"name": "ttl", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 3153600000}, "description": "Seconds until expiry (instead of expiresAt); at most the server's maximum artifact TTL when it has one."},
                  {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\\\x20-\\\\x7E]+$"}, "description": "Makes the upload safe to retry. If the tenant has a live artifact stored under this key, the server answers 200 with it before reading the body (Idempotent-Replayed: true, Connection: close), or 409 idempotency_key_reused if sha256 is given and differs. Concurrent uploads with one key store one artifact. Unique per tenant; freed when the artifact is deleted or expires."},
                  {"name": "X-Cairn-Meta-*", "in": "header", "schema": {"type": "string"}, "description": "Each header X-Cairn-Meta-<key> stores metadata[<key>] (keys lowercased; 8 KiB in all)."}
                ],
                "requestBody": {"required": true, "description": "The bytes, with any Content-Type: it is stored and returned on download (default application/octet-stream).", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                  "201": {"description": "Created", "headers": {"Location": {"schema": {"type": "string"}}, "ETag": {"$ref": "#/components/headers/ETag"}}, "content": {"application/json": {"schema": \(artifactRecord)}}, "links": {
                      \([
                        link("DownloadArtifact", "downloadArtifact", ["artifactId": "$response.body#/artifact/id"]),
                        link("ArtifactMetadata", "artifactMetadata", ["artifactId": "$response.body#/artifact/id"]),
                        link("HeadArtifact", "headArtifact", ["artifactId": "$response.body#/artifact/id"]),
                        link("DeleteArtifact", "deleteArtifact", ["artifactId": "$response.body#/artifact/id"]),
                      ].joined(separator: ", "))}},
                  "200": {"description": "Replayed: an earlier upload with the same Idempotency-Key stored this artifact; nothing new was stored (the body may be unread)", "headers": {"Location": {"schema": {"type": "string"}}, "ETag": {"$ref": "#/components/headers/ETag"}, "Idempotent-Replayed": {"schema": {"type": "string", "const": "true"}}, "Connection": {"schema": {"type": "string"}, "description": "close when the body was not read"}}, "content": {"application/json": {"schema": \(artifactRecord)}}},
                  "409": {"description": "idempotency_key_reused: the key belongs to an artifact whose sha256 differs from the one given (artifactId and sha256 name it); nothing stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ArtifactError"}}}},
                  "413": {"description": "artifact_too_large or quota_exceeded", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ArtifactError"}}}},
                  \(artifactErrors(400, 401, 403))
                }
              },
              "get": {
                "operationId": "listArtifacts", "summary": "List the tenant's artifacts, by name then id", "tags": ["artifacts"],
                "parameters": [
                  \(queryParameter("owner", string)),
                  \(queryParameter("prefix", string, "Only names starting with this.")),
                  \(queryParameter("limit", #"{"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}"#)),
                  \(queryParameter("cursor", nonEmptyString, "nextCursor of the previous page (opaque)."))
                ],
                "responses": {
                  "200": \(json("A page", record(["artifacts": array(ref("Artifact")), "nextCursor": nullableString]))),
                  \(artifactErrors(400, 401, 403))
                }
              }
            },
            "/artifacts/{artifactId}": {
              "get": {
                "operationId": "downloadArtifact", "summary": "Download the bytes (streamed; Range supported)", "tags": ["artifacts"],
                "parameters": [
                  \(artifactId),
                  {"name": "Range", "in": "header", "schema": {"type": "string"}, "description": "One range: bytes=first-last, bytes=first- or bytes=-suffix. Several ranges get the whole artifact."},
                  {"name": "If-Range", "in": "header", "schema": {"type": "string"}},
                  {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
                ],
                "responses": {
                  "200": {"description": "The bytes, with the Content-Type they were uploaded with", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}, "X-Cairn-Sha256": {"$ref": "#/components/headers/X-Cairn-Sha256"}, "Repr-Digest": {"$ref": "#/components/headers/Repr-Digest"}, "Accept-Ranges": {"$ref": "#/components/headers/Accept-Ranges"}, "Last-Modified": {"$ref": "#/components/headers/Last-Modified"}}, "content": {"*/*": {"schema": {"description": "The stored bytes, served with the Content-Type they were uploaded with: any value of that type (a JSON artifact is any JSON)."}}}},
                  "206": {"description": "The requested range, with Content-Range", "content": {"*/*": {"schema": {"description": "The stored bytes, served with the Content-Type they were uploaded with: any value of that type (a JSON artifact is any JSON)."}}}},
                  "304": {"description": "If-None-Match matched the ETag"},
                  "416": {"description": "Range not satisfiable; Content-Range: bytes */size", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ArtifactError"}}}},
                  \(artifactErrors(400, 401, 403, 404))
                }
              },
              "head": {
                "operationId": "headArtifact", "summary": "The download's headers without its body", "tags": ["artifacts"],
                "parameters": [\(artifactId)],
                "responses": {"200": {"description": "Headers only"}, "206": {"description": "Headers of a range"}, "304": {"description": "If-None-Match matched the ETag"}, "400": {"description": "Invalid Range"}, "401": {"description": "No or unknown key"}, "403": {"description": "The key lacks the read scope"}, "404": {"description": "Unknown"}, "416": {"description": "Range not satisfiable"}}
              },
              "delete": {
                "operationId": "deleteArtifact", "summary": "Delete the artifact (its blob goes when nothing references it)", "tags": ["artifacts"],
                "parameters": [\(artifactId)],
                "responses": {"200": \(json("Deleted", record(["deleted": string]))), \(artifactErrors(401, 403, 404))}
              }
            },
            "/artifacts/{artifactId}/metadata": {
              "get": {
                "operationId": "artifactMetadata", "summary": "The artifact's record", "tags": ["artifacts"],
                "parameters": [\(artifactId)],
                "responses": {"200": \(json("The record", artifactRecord)), \(artifactErrors(401, 403, 404))}
              }
            }
        """

    static let artifactHeaders = """
              "ETag": {"schema": {"type": "string"}, "description": "The quoted SHA-256"},
              "X-Cairn-Sha256": {"schema": {"type": "string"}, "description": "The SHA-256 of the whole artifact, hex"},
              "Repr-Digest": {"schema": {"type": "string"}, "description": "sha-256=:<base64>: (RFC 9530)"},
              "Accept-Ranges": {"schema": {"type": "string"}},
              "Last-Modified": {"schema": {"type": "string"}}
        """

    static let artifactResponses = """
              "ArtifactError": {"description": "A refusal", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ArtifactError"}}}}
        """

    static let artifactSchemas = """
              "ArtifactError": {
                "type": "object",
                "required": ["error"],
                "properties": {
                  "error": {"type": "string"},
                  "code": {"type": "string", "enum": ["artifact_too_large", "quota_exceeded", "checksum_mismatch", "length_mismatch", "incomplete_body", "idempotency_key_reused", "invalid_request", "invalid_range", "range_not_satisfiable", "not_found", "insufficient_scope"]}
                }
              },
              "Artifact": {
                "type": "object",
                "required": ["id", "name", "contentType", "size", "sha256", "tenant", "metadata", "createdAt"],
                "properties": {
                  "id": {"type": "string", "pattern": "^art_[0-9a-f]{32}$"},
                  "name": {"type": "string"},
                  "contentType": {"type": "string"},
                  "size": {"type": "integer", "minimum": 0},
                  "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                  "owner": {"type": ["string", "null"]},
                  "tenant": {"type": "string"},
                  "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                  "createdAt": {"type": "string", "format": "date-time"},
                  "expiresAt": {"type": ["string", "null"], "format": "date-time"}
                }
              }
        """
}
