/// The sandbox API and py-code-mode's session-server protocol (docs/api/sandboxes.md and
/// docs/compat/codemode.md are the prose versions).
extension OpenAPI {
    static let sandboxId = pathParameter(
        "sandboxId", "The sandbox's id", schema: #"{"type": "string", "pattern": "^sbx_[0-9a-f]{32}$"}"#)

    /// Refusals of the sandbox routes, by status.
    static func sandboxErrors(_ codes: Int...) -> String {
        codes.map { ##""\##($0)": {"$ref": "#/components/responses/SandboxError"}"## }.joined(separator: ", ")
    }

    static let capabilityName =
        #"{"type": "string", "enum": ["timeout", "process_isolation", "network_off", "filesystem_isolation", "memory_limit", "cpu_limit", "process_limit", "temp_space_limit", "reset"]}"#

    static let sandboxRecord = ref("Sandbox")
    static let filePath = queryParameter(
        "path", #"{"type": "string", "maxLength": 4096}"#,
        "Relative to /work; no '.' or '..' components; symlinks are never followed (400 invalid_path).")

    static let sandboxPaths = """
            "/sandboxes/capabilities": {
              "get": {
                "operationId": "sandboxCapabilities", "summary": "What each backend enforces on this machine, as its start-up probe found", "tags": ["sandboxes"],
                "responses": {
                  "200": \(json("Backends", record(["default": string, "backends": array(ref("SandboxBackend"))]))),
                  \(sandboxErrors(401, 403))
                }
              }
            },
            "/sandboxes": {
              "post": {
                "operationId": "createSandbox", "summary": "Create a sandbox", "tags": ["sandboxes"],
                \(jsonRequest(body(closed: true, [
                    "backend": #"{"type": "string", "enum": ["linux", "process"]}"#,
                    "language": #"{"type": "string", "enum": ["python", "shell"]}"#,
                    "limits": ref("SandboxLimitsRequest"),
                    "require": #"{"type": "array", "maxItems": 32, "items": \#(capabilityName)}"#,
                    "ttl_seconds": #"{"type": "integer", "minimum": 1, "maximum": 2592000}"#,
                    "idle_ttl_seconds": #"{"type": "integer", "minimum": 1, "maximum": 2592000}"#,
                    "workspace": ref("SandboxWorkspace"),
                ]), required: false)),
                "responses": {
                  "201": \(json("Created", sandboxRecord, links: [
                      link("ExecSandbox", "execSandbox", ["sandboxId": "$response.body#/id"], body: #"{"code": "1 + 1"}"#),
                      link("GetSandbox", "getSandbox", ["sandboxId": "$response.body#/id"]),
                      link("ListSandboxFiles", "readSandboxFile", ["sandboxId": "$response.body#/id", "path": ""]),
                      link("DeleteSandbox", "deleteSandbox", ["sandboxId": "$response.body#/id"]),
                    ].joined(separator: ", "))),
                  "422": {"description": "capability_unavailable (missing names what the backend cannot enforce) or backend_unavailable", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SandboxError"}}}},
                  "404": {"description": "workspace_NoSuchBucket (the workspace to mount does not exist) and the like", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SandboxError"}}}},
                  "429": {"description": "too_many_sandboxes", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SandboxError"}}}},
                  \(sandboxErrors(400, 401, 403, 413, 503))
                }
              },
              "get": {
                "operationId": "listSandboxes", "summary": "The tenant's sandboxes, oldest first", "tags": ["sandboxes"],
                "responses": {
                  "200": \(json("Sandboxes", record(["sandboxes": array(sandboxRecord)]))),
                  \(sandboxErrors(401, 403))
                }
              }
            },
            "/sandboxes/{sandboxId}": {
              "get": {
                "operationId": "getSandbox", "summary": "One sandbox", "tags": ["sandboxes"],
                "parameters": [\(sandboxId)],
                "responses": {"200": \(json("The sandbox", sandboxRecord)), \(sandboxErrors(400, 401, 403, 404))}
              },
              "delete": {
                "operationId": "deleteSandbox", "summary": "Remove the sandbox: every process, its cgroup and its directory", "tags": ["sandboxes"],
                "parameters": [\(sandboxId)],
                "responses": {"204": {"description": "Removed"}, \(sandboxErrors(400, 401, 403, 404))}
              }
            },
            "/sandboxes/{sandboxId}/exec": {
              "post": {
                "operationId": "execSandbox", "summary": "Run Python code in the session, or a command (JSON answer, or server-sent events with Accept: text/event-stream)", "tags": ["sandboxes"],
                "parameters": [\(sandboxId)],
                \(jsonRequest(body(closed: true, minProperties: 1, [
                    "code": #"{"type": "string", "maxLength": 1048576}"#,
                    "command": #"{"type": "array", "minItems": 1, "maxItems": 4096, "items": {"type": "string"}}"#,
                    "stdin": #"{"type": "string", "maxLength": 1048576}"#,
                    "timeout_ms": #"{"type": "integer", "minimum": 1, "maximum": 3600000}"#,
                ]))),
                "responses": {
                  "200": {"description": "The execution's answer; as events: stdout and stderr ({data}) as they come, then exit (the whole answer) or error (a refusal)", "content": {"application/json": {"schema": \(ref("SandboxExecResult"))}, "text/event-stream": {"schema": {"type": "string"}}}},
                  "409": {"description": "busy: another execution is running in the sandbox", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SandboxError"}}}},
                  \(sandboxErrors(400, 401, 403, 404, 413))
                }
              }
            },
            "/sandboxes/{sandboxId}/reset": {
              "post": {
                "operationId": "resetSandbox", "summary": "End every process of the sandbox: the Python session starts afresh; /work is kept", "tags": ["sandboxes"],
                "parameters": [\(sandboxId)],
                "responses": {
                  "200": \(json("The sandbox", sandboxRecord)),
                  "409": {"description": "busy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SandboxError"}}}},
                  \(sandboxErrors(400, 401, 403, 404))
                }
              }
            },
            "/sandboxes/{sandboxId}/files": {
              "get": {
                "operationId": "readSandboxFile", "summary": "A directory's entries (JSON) or a file's bytes", "tags": ["sandboxes"],
                "parameters": [\(sandboxId), \(filePath)],
                "responses": {
                  "200": {"description": "Entries of a directory, or the bytes of a file", "content": {"application/json": {"schema": \(record(["path": string, "entries": array(record(["name": string, "type": #"{"type": "string", "enum": ["file", "directory", "symlink", "other"]}"#, "size": integer]))]))}, "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                  \(sandboxErrors(400, 401, 403, 404))
                }
              },
              "put": {
                "operationId": "writeSandboxFile", "summary": "Write a file (parents made; replaced atomically)", "tags": ["sandboxes"],
                "parameters": [\(sandboxId), \(filePath)],
                "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                  "201": \(json("Written", record(["path": string, "size": integer]))),
                  \(sandboxErrors(400, 401, 403, 404, 413))
                }
              },
              "delete": {
                "operationId": "deleteSandboxFile", "summary": "Remove a file, a symlink (not its target) or an empty directory", "tags": ["sandboxes"],
                "parameters": [\(sandboxId), \(filePath)],
                "responses": {"204": {"description": "Removed"}, \(sandboxErrors(400, 401, 403, 404))}
              }
            },
            "/sandboxes/{sandboxId}/artifacts": {
              "post": {
                "operationId": "saveSandboxArtifact", "summary": "Save a file of the sandbox as an artifact of the tenant (streamed)", "tags": ["sandboxes"],
                "parameters": [\(sandboxId)],
                \(jsonRequest(body(required: ["path"], closed: true, [
                    "path": #"{"type": "string", "maxLength": 4096}"#,
                    "name": #"{"type": "string", "minLength": 1, "maxLength": 1024}"#,
                    "content_type": #"{"type": "string", "minLength": 1, "maxLength": 255}"#,
                ]))),
                "responses": {
                  "201": \(json("The artifact", artifactRecord)),
                  "413": {"description": "artifact_too_large or quota_exceeded", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ArtifactError"}}}},
                  \(sandboxErrors(400, 401, 403, 404))
                }
              }
            },
            "/sandboxes/{sandboxId}/snapshot": {
              "post": {
                "operationId": "snapshotSandbox", "summary": "Write /work back into the mounted workspace (mode rw) and snapshot it", "tags": ["sandboxes"],
                "parameters": [\(sandboxId)],
                "responses": {
                  "201": \(json("The snapshot", record(["bucket": string, "snapshot": string]))),
                  "409": {"description": "busy, or read_only (the workspace is mounted read-only)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SandboxError"}}}},
                  \(sandboxErrors(400, 401, 403, 404))
                }
              }
            },
            "/codemode/health": {
              "get": {
                "operationId": "codemodeHealth", "summary": "py-code-mode session server: health (no auth; no session count)", "tags": ["codemode"], "security": [],
                "responses": {"200": \(json("Healthy", record(["status": string, "uptime_seconds": number])))}
              }
            },
            "/codemode/execute": {
              "post": {
                "operationId": "codemodeExecute", "summary": "py-code-mode: run code in the X-Session-ID's sandbox", "tags": ["codemode"],
                "parameters": [\(codeModeSession)],
                \(jsonRequest(body(required: ["code"], [
                    "code": #"{"type": "string", "maxLength": 1048576}"#,
                    "timeout": #"{"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 3600}"#,
                ]))),
                "responses": {
                  "200": \(json("The result", record(["value": anyValue, "stdout": string, "error": nullableString, "execution_time_ms": number, "session_id": string]))),
                  \(codeModeErrors(400, 401, 403, 409, 413, 422, 429, 503))
                }
              }
            },
            "/codemode/info": {
              "get": {
                "operationId": "codemodeInfo", "summary": "py-code-mode: tools, skills and where artifacts are", "tags": ["codemode"],
                "responses": {
                  "200": \(json("Info", record(["tools": array(jsonObject), "skills": array(record(["name": string, "description": string])), "artifacts_path": string]))),
                  \(codeModeErrors(401, 403))
                }
              }
            },
            "/codemode/reset": {
              "post": {
                "operationId": "codemodeReset", "summary": "py-code-mode: reset the X-Session-ID's session", "tags": ["codemode"],
                "parameters": [\(codeModeSession)],
                "responses": {"200": \(json("Reset", record(["status": string, "session_id": string]))), \(codeModeErrors(400, 401, 403, 409))}
              }
            },
            "/codemode/install_deps": {
              "post": {
                "operationId": "codemodeInstallDeps", "summary": "py-code-mode: install packages (sandboxes have no network: every package is reported failed, with why)", "tags": ["codemode"],
                \(jsonRequest(body(required: ["packages"], ["packages": #"{"type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 256}}"#]))),
                "responses": {"200": \(json("Outcome", ref("CodeModeDepsOutcome"))), \(codeModeErrors(400, 401, 403, 413, 422))}
              }
            },
            "/codemode/uninstall_deps": {
              "post": {
                "operationId": "codemodeUninstallDeps", "summary": "py-code-mode: uninstall packages (none were installed: all not_found)", "tags": ["codemode"],
                \(jsonRequest(body(required: ["packages"], ["packages": #"{"type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 256}}"#]))),
                "responses": {"200": \(json("Outcome", ref("CodeModeDepsOutcome"))), \(codeModeErrors(400, 401, 403, 413, 422))}
              }
            },
            "/codemode/api/tools": {
              "get": {
                "operationId": "codemodeTools", "summary": "py-code-mode: tools (none are configured)", "tags": ["codemode"],
                "responses": {"200": \(json("Tools", array(jsonObject))), \(codeModeErrors(401, 403))}
              }
            },
            "/codemode/api/tools/search": {
              "get": {
                "operationId": "codemodeSearchTools", "summary": "py-code-mode: search tools (none are configured)", "tags": ["codemode"],
                "parameters": [\(queryParameter("query", string)), \(queryParameter("limit", integer))],
                "responses": {"200": \(json("Tools", array(jsonObject))), \(codeModeErrors(401, 403))}
              }
            },
            "/codemode/api/skills": {
              "get": {
                "operationId": "codemodeListSkills", "summary": "py-code-mode: the tenant's skills", "tags": ["codemode"],
                "responses": {"200": \(json("Skills", array(ref("CodeModeSkill")))), \(codeModeErrors(401, 403))}
              },
              "post": {
                "operationId": "codemodeCreateSkill", "summary": "py-code-mode: save a skill (async def run)", "tags": ["codemode"],
                \(jsonRequest(body(required: ["name", "source"], [
                    "name": #"{"type": "string", "maxLength": 128}"#,
                    "source": #"{"type": "string", "maxLength": 262144}"#,
                    "description": #"{"type": "string", "maxLength": 2048}"#,
                ]))),
                "responses": {"200": \(json("The skill with its source", ref("CodeModeSkill"))), \(codeModeErrors(400, 401, 403, 413, 422))}
              }
            },
            "/codemode/api/skills/search": {
              "get": {
                "operationId": "codemodeSearchSkills", "summary": "py-code-mode: search skills (substring-ranked)", "tags": ["codemode"],
                "parameters": [\(queryParameter("query", string)), \(queryParameter("limit", #"{"type": "integer", "minimum": 1, "maximum": 1000}"#))],
                "responses": {"200": \(json("Skills", array(ref("CodeModeSkill")))), \(codeModeErrors(401, 403, 422))}
              }
            },
            "/codemode/api/skills/{name}": {
              "get": {
                "operationId": "codemodeGetSkill", "summary": "py-code-mode: one skill with its source, or null", "tags": ["codemode"],
                "parameters": [\(pathParameter("name", "The skill's name"))],
                "responses": {"200": \(json("The skill or null", nullable(ref("CodeModeSkill")))), \(codeModeErrors(400, 401, 403))}
              },
              "delete": {
                "operationId": "codemodeDeleteSkill", "summary": "py-code-mode: delete a skill (whether it existed)", "tags": ["codemode"],
                "parameters": [\(pathParameter("name", "The skill's name"))],
                "responses": {"200": \(json("Whether it existed", boolean)), \(codeModeErrors(400, 401, 403))}
              }
            },
            "/codemode/api/artifacts": {
              "get": {
                "operationId": "codemodeListArtifacts", "summary": "py-code-mode: the tenant's named artifacts", "tags": ["codemode"],
                "responses": {"200": \(json("Artifacts", array(ref("CodeModeArtifact")))), \(codeModeErrors(401, 403))}
              },
              "post": {
                "operationId": "codemodeSaveArtifact", "summary": "py-code-mode: save data under a name (replaces)", "tags": ["codemode"],
                \(jsonRequest(body(required: ["name", "data"], [
                    "name": #"{"type": "string", "maxLength": 512}"#,
                    "data": anyValue,
                    "description": #"{"type": "string", "maxLength": 2048}"#,
                    "metadata": nullableObject,
                ]))),
                "responses": {"200": \(json("The artifact", ref("CodeModeArtifact"))), \(codeModeErrors(400, 401, 403, 413, 422, 507))}
              }
            },
            "/codemode/api/artifacts/{name}": {
              "get": {
                "operationId": "codemodeLoadArtifact", "summary": "py-code-mode: an artifact's data", "tags": ["codemode"],
                "parameters": [\(pathParameter("name", "The artifact's name"))],
                "responses": {"200": \(json("The data", anyValue)), \(codeModeErrors(400, 401, 403, 404))}
              },
              "delete": {
                "operationId": "codemodeDeleteArtifact", "summary": "py-code-mode: delete an artifact", "tags": ["codemode"],
                "parameters": [\(pathParameter("name", "The artifact's name"))],
                "responses": {"200": \(json("null", #"{"type": "null"}"#)), \(codeModeErrors(400, 401, 403, 404))}
              }
            },
            "/codemode/api/deps": {
              "get": {
                "operationId": "codemodeListDeps", "summary": "py-code-mode: configured packages (none)", "tags": ["codemode"],
                "responses": {"200": \(json("Packages", array(string))), \(codeModeErrors(401, 403))}
              }
            },
            "/codemode/api/deps/add": {
              "post": {
                "operationId": "codemodeAddDep", "summary": "py-code-mode: add a package (fails: sandboxes have no network)", "tags": ["codemode"],
                \(jsonRequest(body(required: ["package"], ["package": #"{"type": "string", "maxLength": 256}"#]))),
                "responses": {"200": \(json("Outcome", record(["installed": array(string), "already_present": array(string), "failed": array(string)]))), \(codeModeErrors(400, 401, 403, 413))}
              }
            },
            "/codemode/api/deps/remove": {
              "post": {
                "operationId": "codemodeRemoveDep", "summary": "py-code-mode: remove a package from the configuration (none is configured)", "tags": ["codemode"],
                \(jsonRequest(body(required: ["package"], ["package": #"{"type": "string", "maxLength": 256}"#]))),
                "responses": {"200": \(json("Outcome", record(["removed": boolean]))), \(codeModeErrors(400, 401, 403, 413))}
              }
            },
            "/codemode/api/deps/sync": {
              "post": {
                "operationId": "codemodeSyncDeps", "summary": "py-code-mode: install the configured packages (none)", "tags": ["codemode"],
                "responses": {"200": \(json("Outcome", record(["installed": array(string), "already_present": array(string), "failed": array(string)]))), \(codeModeErrors(401, 403))}
              }
            }
        """

    static let codeModeSession =
        #"{"name": "X-Session-ID", "in": "header", "schema": {"type": "string", "minLength": 1, "maxLength": 256}, "description": "The session; a new one (returned as session_id) when absent."}"#

    /// Refusals of the /codemode routes: FastAPI's {"detail"} shape (401 and 403 come from
    /// Cairn's authentication, in its own shape).
    static func codeModeErrors(_ codes: Int...) -> String {
        codes.map { code in
            code == 401 || code == 403
                ? ##""\##(code)": {"$ref": "#/components/responses/SandboxError"}"##
                : ##""\##(code)": {"$ref": "#/components/responses/CodeModeError"}"##
        }.joined(separator: ", ")
    }

    static let sandboxResponses = """
              "SandboxError": {"description": "A refusal", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SandboxError"}}}},
              "CodeModeError": {"description": "A refusal", "content": {"application/json": {"schema": {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}}}}
        """

    static let sandboxSchemas = """
              "SandboxError": {
                "type": "object",
                "required": ["error"],
                "properties": {
                  "error": {"type": "string"},
                  "code": {"type": "string"},
                  "missing": {"type": "array", "items": \(capabilityName)},
                  "issues": {"type": "array"}
                }
              },
              "SandboxBackend": \(record([
                  "name": string, "available": boolean, "capabilities": array(capabilityName),
                  "failed": #"{"type": "object", "additionalProperties": {"type": "string"}}"#,
              ])),
              "SandboxLimitsRequest": {
                "type": "object", "additionalProperties": false,
                "properties": {
                  "timeout_ms": {"type": "integer", "minimum": 1, "maximum": 3600000},
                  "memory_bytes": {"type": "integer", "minimum": 16777216, "maximum": 68719476736},
                  "cpu_millicores": {"type": "integer", "minimum": 10, "maximum": 64000},
                  "processes": {"type": "integer", "minimum": 1, "maximum": 4096},
                  "tmp_bytes": {"type": "integer", "minimum": 1048576, "maximum": 17179869184},
                  "output_bytes": {"type": "integer", "minimum": 1024, "maximum": 67108864}
                }
              },
              "SandboxWorkspace": {
                "type": "object", "additionalProperties": false, "required": ["bucket"],
                "properties": {
                  "bucket": {"type": "string", "minLength": 3, "maxLength": 63},
                  "snapshot": {"type": "string", "minLength": 1, "maxLength": 128},
                  "mode": {"type": "string", "enum": ["ro", "rw"]}
                }
              },
              "Sandbox": \(record([
                  "id": string, "backend": string, "language": string, "status": string,
                  "limits": jsonObject, "capabilities": array(capabilityName), "workspace": nullableObject,
                  "created_at": timestamp, "expires_at": nullableTimestamp, "idle_expires_at": nullableTimestamp,
              ])),
              "SandboxExecResult": \(record([
                  "stdout": string, "stderr": string, "value": nullableString, "error": nullableString,
                  "truncated": boolean,
                  "exit": record([
                      "reason": #"{"type": "string", "enum": ["exited", "timeout", "memory_limit", "process_limit", "output_limit", "killed"]}"#,
                      "exit_code": nullableInteger, "signal": nullableInteger, "duration_ms": number,
                      "cpu_ms": #"{"type": ["number", "null"]}"#, "peak_memory_bytes": nullableInteger,
                  ]),
              ])),
              "CodeModeSkill": {
                "type": "object", "required": ["name", "description", "parameters"],
                "properties": {
                  "name": {"type": "string"}, "description": {"type": "string"}, "source": {"type": "string"},
                  "parameters": \(array(record(["name": string, "type": string, "description": string, "required": boolean, "default": anyValue])))
                }
              },
              "CodeModeArtifact": \(record([
                  "name": string, "path": string, "description": string, "metadata": jsonObject, "created_at": timestamp,
              ])),
              "CodeModeDepsOutcome": \(record([
                  "installed": array(string), "already_present": array(string), "removed": array(string),
                  "not_found": array(string), "failed": array(string),
              ]))
        """
}
