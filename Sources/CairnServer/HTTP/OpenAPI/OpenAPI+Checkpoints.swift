/// The checkpoint protocol (SnapState 3.0): checkpoints, workflows, webhooks, agents and
/// analytics. Bodies and query strings are closed: an unknown field is a 400. Every refusal is
/// `{"error": {"code", "message"}}`; checkpoint, workflow and webhook routes may answer 429.
extension OpenAPI {
    /// Refusals of the checkpoint routes, by status.
    static func checkpointErrors(_ codes: Int...) -> String {
        codes.map {
            $0 == 429
                ? ##""429": {"$ref": "#/components/responses/RateLimited"}"##
                : ##""\##($0)": {"$ref": "#/components/responses/CheckpointError"}"##
        }.joined(separator: ", ")
    }

    static let checkpointFields: KeyValuePairs<String, String> = [
        "checkpoint_id": string, "workflow_id": string, "step": integer, "label": nullableString, "state": jsonObject,
        "metadata": anyValue, "etag": string, "size_bytes": integer, "created_at": timestamp,
    ]

    static let agentFields: KeyValuePairs<String, String> = [
        "name": nullableString, "description": nullableString,
        "capabilities": #"{"type": ["array", "null"], "items": {"type": "string"}}"#, "metadata": nullableObject,
    ]

    /// `YYYY-MM-DD` (midnight UTC) or an ISO 8601 date-time.
    static let dateOrDateTime = #"{"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]}"#

    static let period = [
        queryParameter("start_date", dateOrDateTime, "Default: 30 days ago, at midnight UTC"),
        queryParameter("end_date", dateOrDateTime, "Default: now"),
    ].joined(separator: ", ")

    static let checkpointPaths = """
            "/checkpoints": {
              "post": {
                "operationId": "saveCheckpoint", "summary": "Save a workflow's checkpoint at a step", "tags": ["checkpoints"],
                "parameters": [
                  {"name": "X-Checkpoint-TTL", "in": "header", "schema": {"type": "integer", "minimum": 1, "maximum": 3155760000}, "description": "Seconds until the workflow expires"},
                  {"name": "If-Match", "in": "header", "schema": {"type": "string"}, "description": "The ETag the step's checkpoint must have (else 409)"}
                ],
                \(jsonRequest(body(required: ["workflow_id", "step", "state"], closed: true, [
                    "workflow_id": #"{"type": "string", "minLength": 1, "maxLength": 128}"#,
                    "step": #"{"type": "integer", "maximum": 9223372036854775807, "minimum": 0}"#, "state": jsonObject,
                    "label": #"{"type": ["string", "null"], "maxLength": 256}"#,
                    "agent_id": #"{"type": ["string", "null"], "maxLength": 255}"#, "metadata": nullableObject,
                ]))),
                "responses": {
                  "201": \(json("Saved", ref("SavedCheckpoint"), links: [
                      link("GetCheckpoint", "getCheckpoint", ["checkpointId": "$response.body#/checkpoint_id"]),
                      link("Resume", "resumeWorkflow", ["workflowId": "$response.body#/workflow_id"]),
                      link("Replay", "replayWorkflow", ["workflowId": "$response.body#/workflow_id"]),
                      link("Timeline", "workflowAnalytics", ["workflowId": "$response.body#/workflow_id"]),
                    ].joined(separator: ", "))),
                  "409": {"description": "The step already has a checkpoint (existing names it) or If-Match differs", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckpointError"}}}},
                  \(checkpointErrors(400, 401, 403, 413, 429))
                }
              }
            },
            "/checkpoints/{checkpointId}": {
              "get": {
                "operationId": "getCheckpoint", "summary": "A checkpoint", "tags": ["checkpoints"],
                "parameters": [\(pathParameter("checkpointId", "cp_<workflow_id>_<step, at least 3 digits>"))],
                "responses": {"200": \(json("The checkpoint", ref("Checkpoint"))), \(checkpointErrors(401, 403, 404, 429))}
              }
            },
            "/workflows": {
              "get": {
                "operationId": "listWorkflows", "summary": "The tenant's live workflows, most recently active first", "tags": ["checkpoints"],
                "description": "A Cairn extension. Pass next_cursor as cursor for the next page.",
                "parameters": [
                  \(queryParameter("limit", #"{"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}"#)),
                  \(queryParameter("cursor", string, "The next_cursor of the previous page."))
                ],
                "responses": {
                  "200": \(json("The workflows", record([
                      "workflows": array(record([
                        "workflow_id": string, "latest_step": integer, "total_checkpoints": integer,
                        "total_size_bytes": integer, "status": string, "started_at": timestamp,
                        "last_activity_at": timestamp, "expires_at": timestamp,
                      ])),
                      "next_cursor": nullableString,
                    ]))),
                  \(checkpointErrors(400, 401, 403, 429))
                }
              }
            },
            "/workflows/{workflowId}/resume": {
              "get": {
                "operationId": "resumeWorkflow", "summary": "The workflow's latest checkpoint", "tags": ["checkpoints"],
                "parameters": [\(pathParameter("workflowId", "The workflow's id"))],
                "responses": {
                  "200": \(json("Where to resume", record([
                      "workflow_id": string, "latest_checkpoint": record(checkpointFields), "total_checkpoints": integer,
                      "workflow_started_at": timestamp, "last_activity_at": timestamp,
                    ]))),
                  \(checkpointErrors(401, 403, 404, 429))
                }
              }
            },
            "/workflows/{workflowId}/replay": {
              "get": {
                "operationId": "replayWorkflow", "summary": "The workflow's checkpoints in step order", "tags": ["checkpoints"],
                "parameters": [
                  \(pathParameter("workflowId", "The workflow's id")),
                  \(queryParameter("from_step", #"{"type": "integer", "maximum": 9223372036854775807, "minimum": 0}"#)),
                  \(queryParameter("to_step", #"{"type": "integer", "maximum": 9223372036854775807, "minimum": 0}"#)),
                  \(queryParameter("limit", #"{"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}"#))
                ],
                "responses": {
                  "200": \(json("A page of checkpoints", record([
                      "workflow_id": string, "checkpoints": array(record(checkpointFields)), "total": integer,
                      "has_more": boolean,
                    ]))),
                  \(checkpointErrors(400, 401, 403, 404, 429))
                }
              }
            },
            "/workflows/{workflowId}/fork": {
              "post": {
                "operationId": "forkWorkflow", "summary": "Fork the workflow at a step into a new workflow (Cairn extension)",
                "description": "A new workflow whose history is this one's up to and including its save of `step`, read through (nothing is copied): resume answers that save until the fork saves its own, replay and get-by-id list the inherited saves under the new workflow's id, and its saves continue after it. Omit workflow_id for a generated one.",
                "tags": ["checkpoints"],
                "parameters": [
                  \(pathParameter("workflowId", "The workflow to fork")),
                  {"name": "X-Checkpoint-TTL", "in": "header", "schema": {"type": "integer", "minimum": 1, "maximum": 3155760000}, "description": "Seconds until the new workflow expires"}
                ],
                \(jsonRequest(body(required: ["step"], closed: true, [
                    "step": #"{"type": "integer", "maximum": 9223372036854775807, "minimum": 0}"#,
                    "workflow_id": #"{"type": "string", "minLength": 1, "maxLength": 128}"#,
                ]))),
                "responses": {
                  "201": \(json("The new workflow, where to resume it, and where it was forked from", record([
                      "workflow_id": string, "latest_checkpoint": record(checkpointFields), "total_checkpoints": integer,
                      "workflow_started_at": timestamp, "last_activity_at": timestamp,
                      "forked_from": record(["workflow_id": string, "step": integer]), "etag": string,
                      "expires_at": timestamp,
                    ]), links: [
                      link("ResumeFork", "resumeWorkflow", ["workflowId": "$response.body#/workflow_id"]),
                      link("ReplayFork", "replayWorkflow", ["workflowId": "$response.body#/workflow_id"]),
                    ].joined(separator: ", "))),
                  "409": {"description": "A live workflow has the new workflow_id", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckpointError"}}}},
                  \(checkpointErrors(400, 401, 403, 404, 413, 429))
                }
              }
            },
            "/webhooks": {
              "post": {
                "operationId": "registerWebhook", "summary": "Register a webhook for checkpoint events", "tags": ["webhooks"],
                "description": "Deliveries go only to addresses the server's outbound guard allows.",
                \(jsonRequest(body(required: ["url", "events"], closed: true, [
                    "url": #"{"type": "string", "minLength": 1, "maxLength": 2048, "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?# \\n]+[^ \\n]*$"}"#,
                    "events": #"{"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["checkpoint.saved", "workflow.resumed", "workflow.expired"]}}"#,
                    "secret": #"{"type": ["string", "null"], "maxLength": 256}"#,
                ]))),
                "responses": {
                  "201": \(json("Registered", ref("Webhook"), links: link("DeleteWebhook", "deleteWebhook", ["webhookId": "$response.body#/webhook_id"]))),
                  \(checkpointErrors(400, 401, 403, 413, 429))
                }
              },
              "get": {
                "operationId": "listWebhooks", "summary": "The tenant's webhooks", "tags": ["webhooks"],
                "responses": {"200": \(json("The webhooks", record(["webhooks": array(ref("Webhook"))]))), \(checkpointErrors(401, 403, 429))}
              }
            },
            "/webhooks/{webhookId}": {
              "delete": {
                "operationId": "deleteWebhook", "summary": "Delete a webhook", "tags": ["webhooks"],
                "parameters": [\(pathParameter("webhookId", "The webhook's id"))],
                "responses": {"204": {"description": "Deleted"}, \(checkpointErrors(401, 403, 404, 429))}
              }
            },
            "/agents": {
              "post": {
                "operationId": "upsertAgent", "summary": "Register an agent, or update it if it exists", "tags": ["agents"],
                \(jsonRequest(body(required: ["agent_id"], closed: true, ["agent_id": #"{"type": "string", "pattern": "^[A-Za-z0-9_-]{1,255}$"}"#], agentFields))),
                "responses": {
                  "201": \(json("The agent", ref("Agent"), links: [
                      link("GetAgent", "getAgent", ["agentId": "$response.body#/agent_id"]),
                      link("UpdateAgent", "updateAgent", ["agentId": "$response.body#/agent_id"]),
                      link("DeleteAgent", "deleteAgent", ["agentId": "$response.body#/agent_id"]),
                    ].joined(separator: ", "))),
                  \(checkpointErrors(400, 401, 403, 413))
                }
              },
              "get": {
                "operationId": "listAgents", "summary": "The tenant's agents", "tags": ["agents"],
                "responses": {"200": \(json("The agents", record(["agents": array(ref("Agent"))]))), \(checkpointErrors(401, 403))}
              }
            },
            "/agents/{agentId}": {
              "get": {
                "operationId": "getAgent", "summary": "An agent", "tags": ["agents"],
                "parameters": [\(pathParameter("agentId", "The agent's agent_id"))],
                "responses": {"200": \(json("The agent", ref("Agent"))), \(checkpointErrors(401, 403, 404))}
              },
              "patch": {
                "operationId": "updateAgent", "summary": "Change an agent's fields (null clears name or description)", "tags": ["agents"],
                "parameters": [\(pathParameter("agentId", "The agent's agent_id"))],
                \(jsonRequest(body(closed: true, minProperties: 1, agentFields))),
                "responses": {"200": \(json("The agent", ref("Agent"))), \(checkpointErrors(400, 401, 403, 404, 413))}
              },
              "delete": {
                "operationId": "deleteAgent", "summary": "Delete an agent", "tags": ["agents"],
                "parameters": [\(pathParameter("agentId", "The agent's agent_id"))],
                "responses": {"204": {"description": "Deleted"}, \(checkpointErrors(401, 403, 404))}
              }
            },
            "/analytics/overview": {
              "get": {
                "operationId": "analyticsOverview", "summary": "Workflow and checkpoint totals over a period", "tags": ["analytics"],
                "parameters": [\(period)],
                "responses": {
                  "200": \(json("Totals", record([
                      "period": record(["start": timestamp, "end": timestamp]), "total_workflows": integer,
                      "completed_workflows": integer, "failed_workflows": integer, "active_workflows": integer,
                      "total_checkpoints": integer, "avg_steps_per_workflow": number,
                      "avg_workflow_duration_seconds": number,
                      "top_agents": array(record(["agent_id": string, "workflows": integer, "avg_steps": number])),
                    ]))),
                  \(checkpointErrors(400, 401, 403))
                }
              }
            },
            "/analytics/workflows/{workflowId}": {
              "get": {
                "operationId": "workflowAnalytics", "summary": "A workflow's timeline", "tags": ["analytics"],
                "parameters": [\(pathParameter("workflowId", "The workflow's id"))],
                "responses": {
                  "200": \(json("The timeline", record([
                      "workflow_id": string, "total_steps": integer, "total_size_bytes": integer, "duration_seconds": number,
                      "status": #"{"type": "string", "enum": ["active", "completed", "failed"]}"#,
                      "agents_involved": array(string),
                      "checkpoints": array(record([
                          "step": integer, "label": nullableString, "size_bytes": integer,
                          "time_since_previous_ms": nullableInteger, "agent_id": nullableString, "created_at": timestamp,
                      ])),
                      "resumed": boolean, "error_count": integer, "first_checkpoint_at": timestamp,
                      "last_checkpoint_at": timestamp,
                    ]))),
                  \(checkpointErrors(401, 403, 404))
                }
              }
            },
            "/analytics/failures": {
              "get": {
                "operationId": "analyticsFailures", "summary": "Failed checkpoints by step and agent", "tags": ["analytics"],
                "parameters": [
                  \(queryParameter("days", #"{"type": "integer", "minimum": -9223372036854775808, "maximum": 9223372036854775807, "default": 7}"#, "The period in days (clamped to 1-90)")),
                  \(queryParameter("agent_id", string, "Only this agent's failures"))
                ],
                "responses": {
                  "200": \(json("The failures", record([
                      "period_days": integer, "total_failures": integer,
                      "failure_by_step": array(record(["step": integer, "count": integer])),
                      "failure_by_agent": array(record(["agent_id": nullableString, "count": integer, "error_rate": number])),
                      "recent_failures": array(record([
                          "workflow_id": string, "step": integer, "agent_id": nullableString, "error_type": nullableString,
                          "error_message": nullableString, "created_at": timestamp,
                      ])),
                    ]))),
                  \(checkpointErrors(400, 401, 403))
                }
              }
            },
            "/analytics/agents": {
              "get": {
                "operationId": "analyticsAgents", "summary": "Activity of each agent over a period", "tags": ["analytics"],
                "parameters": [\(period)],
                "responses": {
                  "200": \(json("The agents' activity", record([
                      "agents": array(record([
                          "agent_id": string, "name": string, "total_workflows": integer, "active_workflows": integer,
                          "avg_steps": number, "avg_duration_seconds": number, "total_checkpoints": integer,
                          "error_rate": number, "last_seen_at": nullableTimestamp,
                      ]))
                    ]))),
                  \(checkpointErrors(400, 401, 403))
                }
              }
            }
        """

    static let checkpointHeaders = """
              "X-Request-Id": {"schema": {"type": "string"}, "description": "Names the request in the server's log"},
              "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds until the window frees a request"}
        """

    static let checkpointResponses = """
              "CheckpointError": {"description": "A refusal", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckpointError"}}}},
              "RateLimited": {"description": "RATE_LIMITED: the key's requests in the window are used up", "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}, "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckpointError"}}}}
        """

    static let checkpointSchemas = """
              "CheckpointError": {
                "type": "object", "required": ["error"],
                "properties": {
                  "error": \(record(["code": string, "message": string])),
                  "existing": \(record(["checkpoint_id": string, "etag": string]))
                }
              },
              "SavedCheckpoint": \(record([
                  "checkpoint_id": string, "workflow_id": string, "step": integer, "etag": string, "created_at": timestamp,
                  "diff_from_previous": anyValue, "size_bytes": integer,
                ])),
              "Checkpoint": \(record([
                  "checkpoint_id": string, "workflow_id": string, "step": integer, "label": nullableString, "state": jsonObject,
                  "metadata": anyValue, "etag": string, "created_at": timestamp, "expires_at": nullableTimestamp,
                  "diff_from_previous": anyValue, "size_bytes": integer,
                ])),
              "Webhook": \(record(["webhook_id": string, "url": string, "events": array(string), "created_at": timestamp])),
              "Agent": \(record([
                  "id": integer, "agent_id": string, "name": nullableString, "description": nullableString,
                  "capabilities": array(string), "metadata": jsonObject, "last_seen_at": nullableTimestamp,
                  "created_at": timestamp,
                ]))
        """
}
