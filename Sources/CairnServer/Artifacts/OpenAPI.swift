/// The OpenAPI 3.1 document served at `/openapi.json` (no auth needed). It covers the
/// artifacts API; docs/api/artifacts.md is the prose version.
enum OpenAPI {
    static let document = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "Cairn artifacts API",
            "version": "1",
            "description": "Streamed, checksummed, quota-safe, expiring binary artifacts, scoped to the caller's tenant. See docs/api/artifacts.md."
          },
          "security": [{"bearer": []}],
          "paths": {
            "/health": {
              "get": {"summary": "Liveness (no auth)", "security": [], "responses": {"200": {"description": "ok"}}}
            },
            "/artifacts": {
              "post": {
                "summary": "Upload an artifact (raw body, streamed)",
                "description": "The body is the artifact's bytes, sent with Content-Length or chunked transfer encoding. The response is sent only after the bytes and the row are durable.",
                "parameters": [
                  {"name": "name", "in": "query", "required": true, "schema": {"type": "string", "maxLength": 1024}, "description": "A label; may contain '/' but no '.' or '..' segments, empty segments, backslashes, control characters or a leading '/'."},
                  {"name": "owner", "in": "query", "schema": {"type": "string", "maxLength": 256}, "description": "The owning agent's id (a filter label)."},
                  {"name": "sha256", "in": "query", "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, "description": "Expected SHA-256; the upload fails with 400 checksum_mismatch if the bytes differ."},
                  {"name": "expiresAt", "in": "query", "schema": {"type": "string", "format": "date-time"}, "description": "Must be in the future and, when the server sets a maximum artifact TTL, at most that far away (else 400 invalid_request). Without ttl or expiresAt, such a server sets now + its maximum."},
                  {"name": "ttl", "in": "query", "schema": {"type": "integer", "minimum": 1}, "description": "Seconds until expiry (instead of expiresAt); at most the server's maximum artifact TTL when it has one."},
                  {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$"}, "description": "Makes the upload safe to retry. If the tenant has a live artifact stored under this key, the server answers 200 with it before reading the body (Idempotent-Replayed: true, Connection: close), or 409 idempotency_key_reused if sha256 is given and differs. Concurrent uploads with one key store one artifact. Unique per tenant; freed when the artifact is deleted or expires."},
                  {"name": "Content-Type", "in": "header", "schema": {"type": "string"}, "description": "Stored and returned on download (default application/octet-stream)."},
                  {"name": "X-Cairn-Meta-*", "in": "header", "schema": {"type": "string"}, "description": "Each header X-Cairn-Meta-<key> stores metadata[<key>] (keys lowercased; 8 KiB in all)."}
                ],
                "requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                  "201": {"description": "Created", "headers": {"Location": {"schema": {"type": "string"}}, "ETag": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"type": "object", "properties": {"artifact": {"$ref": "#/components/schemas/Artifact"}}}}}},
                  "200": {"description": "Replayed: an earlier upload with the same Idempotency-Key stored this artifact; nothing new was stored (the body may be unread)", "headers": {"Location": {"schema": {"type": "string"}}, "ETag": {"schema": {"type": "string"}}, "Idempotent-Replayed": {"schema": {"type": "string", "const": "true"}}, "Connection": {"schema": {"type": "string"}, "description": "close when the body was not read"}}, "content": {"application/json": {"schema": {"type": "object", "properties": {"artifact": {"$ref": "#/components/schemas/Artifact"}}}}}},
                  "409": {"description": "idempotency_key_reused: the key belongs to an artifact whose sha256 differs from the one given (artifactId and sha256 name it); nothing stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Error"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "413": {"description": "artifact_too_large or quota_exceeded", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
              },
              "get": {
                "summary": "List the tenant's artifacts, by name then id",
                "parameters": [
                  {"name": "owner", "in": "query", "schema": {"type": "string"}},
                  {"name": "prefix", "in": "query", "schema": {"type": "string"}, "description": "Only names starting with this."},
                  {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                  {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "nextCursor of the previous page."}
                ],
                "responses": {
                  "200": {"description": "A page", "content": {"application/json": {"schema": {"type": "object", "properties": {"artifacts": {"type": "array", "items": {"$ref": "#/components/schemas/Artifact"}}, "nextCursor": {"type": ["string", "null"]}}}}}},
                  "400": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/artifacts/{id}": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^art_[0-9a-f]{32}$"}}],
              "get": {
                "summary": "Download the bytes (streamed; Range supported)",
                "parameters": [
                  {"name": "Range", "in": "header", "schema": {"type": "string"}, "description": "One range: bytes=first-last, bytes=first- or bytes=-suffix. Several ranges get the whole artifact."},
                  {"name": "If-Range", "in": "header", "schema": {"type": "string"}},
                  {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
                ],
                "responses": {
                  "200": {"description": "The bytes", "headers": {"ETag": {"$ref": "#/components/headers/ETag"}, "X-Cairn-Sha256": {"$ref": "#/components/headers/X-Cairn-Sha256"}, "Repr-Digest": {"$ref": "#/components/headers/Repr-Digest"}, "Accept-Ranges": {"$ref": "#/components/headers/Accept-Ranges"}}, "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
                  "206": {"description": "The requested range, with Content-Range", "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
                  "304": {"description": "If-None-Match matched the ETag"},
                  "400": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "416": {"description": "Range not satisfiable; Content-Range: bytes */size", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                }
              },
              "head": {
                "summary": "The download's headers without its body",
                "responses": {"200": {"description": "Headers only"}, "206": {"description": "Headers of a range"}, "404": {"description": "Unknown"}, "416": {"description": "Range not satisfiable"}}
              },
              "delete": {
                "summary": "Delete the artifact (its blob goes when nothing references it)",
                "responses": {
                  "200": {"description": "Deleted", "content": {"application/json": {"schema": {"type": "object", "properties": {"deleted": {"type": "string"}}}}}},
                  "404": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/artifacts/{id}/metadata": {
              "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
              "get": {
                "summary": "The artifact's record",
                "responses": {
                  "200": {"description": "The record", "content": {"application/json": {"schema": {"type": "object", "properties": {"artifact": {"$ref": "#/components/schemas/Artifact"}}}}}},
                  "404": {"$ref": "#/components/responses/Error"}
                }
              }
            }
          },
          "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "headers": {
              "ETag": {"schema": {"type": "string"}, "description": "The quoted SHA-256"},
              "X-Cairn-Sha256": {"schema": {"type": "string"}, "description": "The SHA-256 of the whole artifact, hex"},
              "Repr-Digest": {"schema": {"type": "string"}, "description": "sha-256=:<base64>: (RFC 9530)"},
              "Accept-Ranges": {"schema": {"type": "string"}},
              "Last-Modified": {"schema": {"type": "string"}}
            },
            "responses": {
              "Error": {"description": "A refusal", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": {
              "Error": {
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
                  "size": {"type": "integer"},
                  "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                  "owner": {"type": ["string", "null"]},
                  "tenant": {"type": "string"},
                  "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                  "createdAt": {"type": "string", "format": "date-time"},
                  "expiresAt": {"type": ["string", "null"], "format": "date-time"}
                }
              }
            }
          }
        }
        """#
}
