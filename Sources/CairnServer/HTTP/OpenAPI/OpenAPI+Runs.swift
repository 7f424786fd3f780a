/// The run protocol (Tidebase 0.7): runs, steps, gates, children, state, snapshots, usage,
/// the event stream, queues and schedules. Bodies are open: unknown fields are ignored.
extension OpenAPI {
    static let runId = pathParameter("runId", "The run's id")

    /// The fields a run is created with (POST /runs/{workflow}, children, enqueue).
    static let createRunFields: KeyValuePairs<String, String> = [
        "input": anyValue, "metadata": nullableObject, "recoveryWebhook": httpURL,
        "channels": ##"{"type": ["array", "null"], "items": {"$ref": "#/components/schemas/ChannelSpec"}}"##,
    ]

    static let stateOptionFields: KeyValuePairs<String, String> = [
        "stream": #"{"type": ["string", "null"], "minLength": 1}"#, "label": nullableString, "reason": nullableString,
        "importance":
            #"{"type": ["string", "null"], "enum": ["transient", "normal", "checkpoint", "milestone", null]}"#,
        "metadata": nullableObject, "createdBy": nullableString,
    ]

    static let runResponse = json("The run", record(["run": ref("Run")]))

    static let runPaths = """
            "/runs": {
              "get": {"operationId": "listRuns", "summary": "The tenant's runs, newest first", "tags": ["runs"],
                "description": "Without parameters, the newest 100 (as the reference server answers). The parameters are a Cairn extension; pass nextCursor as cursor for the next page.",
                "parameters": [
                  \(queryParameter("limit", #"{"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}"#)),
                  \(queryParameter("status", #"{"type": "string", "enum": ["pending", "queued", "running", "completed", "failed", "cancelled"]}"#)),
                  \(queryParameter("workflow", #"{"type": "string", "minLength": 1, "maxLength": 200}"#, "Only runs of this workflow.")),
                  \(queryParameter("createdSince", timestamp, "Only runs created at or after this time.")),
                  \(queryParameter("stalled", #"{"type": "string", "enum": ["true", "false"]}"#, "true: only running runs whose lease expired, with no queue and no recovery webhook.")),
                  \(queryParameter("order", #"{"type": "string", "enum": ["desc", "asc"], "default": "desc"}"#, "desc: newest first; asc: oldest first.")),
                  \(queryParameter("cursor", string, "The nextCursor of the previous page, listed in the same order."))
                ],
                "responses": {"200": \(json("The runs", record(["runs": array(ref("Run")), "nextCursor": nullableString]))), \(runErrors(400, 401, 403))}}
            },
            "/runs/{runId}": {
              "post": {
                "operationId": "createRun", "summary": "Create a run of a workflow", "tags": ["runs"],
                "description": "The path segment is the workflow's name (the router has one parameter name per position).",
                "parameters": [\(pathParameter("runId", "The workflow's name"))],
                \(jsonRequest(body(createRunFields))),
                "responses": {
                  "200": \(json("The new run", record(["run": ref("Run")]), links: [
                      link("GetRun", "getRun", ["runId": "$response.body#/run/id"]),
                      link("BeginRun", "beginRun", ["runId": "$response.body#/run/id"]),
                      link("PutState", "putState", ["runId": "$response.body#/run/id"]),
                      link("BeginStep", "beginStep", ["runId": "$response.body#/run/id"]),
                      link("BeginGate", "beginGate", ["runId": "$response.body#/run/id"]),
                      link("CreateChild", "createChild", ["runId": "$response.body#/run/id"]),
                      link("RecordUsage", "recordUsage", ["runId": "$response.body#/run/id"]),
                      link("CancelRun", "cancelRun", ["runId": "$response.body#/run/id"]),
                    ].joined(separator: ", "))),
                  \(runErrors(400, 401, 403, 413))
                }
              },
              "get": {
                "operationId": "getRun", "summary": "A run with its steps, state, children, gates, usage and events", "tags": ["runs"],
                "parameters": [\(runId)],
                "responses": {"200": \(json("The run's detail", ref("RunDetail"))), \(runErrors(401, 403, 404))}
              }
            },
            "/runs/{runId}/begin": {
              "post": {
                "operationId": "beginRun", "summary": "Take the run's lease", "tags": ["runs"],
                "parameters": [\(runId), {"name": "X-Tidebase-Worker", "in": "header", "schema": {"type": "string"}, "description": "The lease owner (default: a new id)"}],
                "responses": {"200": \(json("Leased", record(["run": ref("Run"), "leaseOwner": string]))), \(runErrors(401, 403, 404, 409))}
              }
            },
            "/runs/{runId}/heartbeat": {
              "post": {
                "operationId": "heartbeat", "summary": "Extend the run's lease", "tags": ["runs"],
                "parameters": [\(runId)],
                \(jsonRequest(body(required: ["leaseOwner"], ["leaseOwner": nonEmptyString]))),
                "responses": {"200": \(runResponse), \(runErrors(400, 401, 403, 404, 409, 413))}
              }
            },
            "/runs/{runId}/complete": {
              "post": {
                "operationId": "completeRun", "summary": "Complete the run with its result", "tags": ["runs"],
                "parameters": [\(runId)],
                \(jsonRequest(body(["result": anyValue]))),
                "responses": {"200": \(runResponse), \(runErrors(400, 401, 403, 404, 409, 413))}
              }
            },
            "/runs/{runId}/fail": {
              "post": {
                "operationId": "failRun", "summary": "Fail the run (a queued run with attempts left is requeued)", "tags": ["runs"],
                "description": "A run that fails for good and has a recoveryWebhook gets its recovery call before the answer.",
                "parameters": [\(runId)],
                \(jsonRequest(body(["error": anyValue, "failureClass": nullableString]))),
                "responses": {"200": \(json("Failed or requeued", record(["run": ref("Run"), "requeued": boolean]))), \(runErrors(400, 401, 403, 404, 409, 413))}
              }
            },
            "/runs/{runId}/cancel": {
              "post": {
                "operationId": "cancelRun", "summary": "Cancel the run", "tags": ["runs"],
                "parameters": [\(runId)],
                \(jsonRequest(body(["reason": nullableString, "actor": nullableString]), required: false)),
                "responses": {"200": \(runResponse), \(runErrors(400, 401, 403, 404, 409, 413))}
              }
            },
            "/runs/{runId}/recover": {
              "post": {
                "operationId": "recoverRun", "summary": "Call the run's recoveryWebhook now", "tags": ["runs"],
                "parameters": [\(runId)],
                \(jsonRequest(body(["reason": #"{"type": ["string", "null"], "minLength": 1, "default": "manual"}"#]), required: false)),
                "responses": {
                  "200": \(json("The recovery attempt (its status says whether the call succeeded)", record(["recoveryAttempt": ref("RecoveryAttempt")]))),
                  "422": {"description": "The run has no recoveryWebhook", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunError"}}}},
                  \(runErrors(400, 401, 403, 404, 413))
                }
              }
            },
            "/runs/{runId}/steps/begin": {
              "post": {
                "operationId": "beginStep", "summary": "Begin (or replay) a memoized step", "tags": ["steps"],
                "parameters": [\(runId)],
                \(jsonRequest(body(required: ["name", "inputHash"], [
                    "name": nonEmptyString, "inputHash": nonEmptyString, "input": anyValue, "options": nullableObject,
                    "leaseOwner": nullableString,
                ]))),
                "responses": {
                  "200": \(json("What the worker does next: execute (it holds the step's lease), return (the step's output is memoized), locked (another worker holds it), input_mismatch or cancelled", ref("BeginStepOutcome"), links: [
                      link("CompleteStep", "completeStep", ["runId": "$request.path.runId", "stepId": "$response.body#/step/id"], body: #"{"leaseOwner": "$response.body#/leaseOwner"}"#),
                      link("FailStep", "failStep", ["runId": "$request.path.runId", "stepId": "$response.body#/step/id"], body: #"{"leaseOwner": "$response.body#/leaseOwner"}"#),
                    ].joined(separator: ", "))),
                  \(runErrors(400, 401, 403, 404, 409, 413))
                }
              }
            },
            "/runs/{runId}/steps/{stepId}/complete": {
              "post": {
                "operationId": "completeStep", "summary": "Complete a step with its output", "tags": ["steps"],
                "parameters": [\(runId), \(pathParameter("stepId", "The step's id"))],
                \(jsonRequest(body(required: ["leaseOwner"], ["leaseOwner": string, "output": anyValue]))),
                "responses": {"200": \(json("The step", record(["step": ref("Step")]))), \(runErrors(400, 401, 403, 404, 409, 413))}
              }
            },
            "/runs/{runId}/steps/{stepId}/fail": {
              "post": {
                "operationId": "failStep", "summary": "Fail a step", "tags": ["steps"],
                "parameters": [\(runId), \(pathParameter("stepId", "The step's id"))],
                \(jsonRequest(body(required: ["leaseOwner"], [
                    "leaseOwner": string, "error": anyValue, "retryable": #"{"type": ["boolean", "null"], "default": false}"#,
                    "resumeDecision": #"{"type": ["string", "null"], "enum": ["auto_retry", "safe_replay", "manual_review", "fail_hard", null]}"#,
                ]))),
                "responses": {"200": \(json("The step", record(["step": ref("Step")]))), \(runErrors(400, 401, 403, 404, 409, 413))}
              }
            },
            "/runs/{runId}/gates/begin": {
              "post": {
                "operationId": "beginGate", "summary": "Open (or find) a human-in-the-loop gate", "tags": ["gates"],
                "parameters": [\(runId)],
                \(jsonRequest(body(required: ["name", "prompt"], [
                    "name": nonEmptyString, "prompt": nonEmptyString, "data": anyValue,
                    "channels": #"{"type": ["array", "null"]}"#, "capability": anyValue,
                    "timeoutMs": #"{"type": ["integer", "null"], "maximum": 9223372036854775807, "minimum": 1}"#,
                ]))),
                "responses": {
                  "200": \(json("wait while the gate is pending, return once it is resolved", record(["action": #"{"type": "string", "enum": ["wait", "return"]}"#, "gate": ref("Gate")]), links: [
                      link("GetGate", "getGate", ["runId": "$request.path.runId", "gateId": "$response.body#/gate/id"]),
                      link("ResolveGate", "resolveGate", ["runId": "$request.path.runId", "gateId": "$response.body#/gate/id"], body: #"{"token": "$response.body#/gate/resolveToken", "decision": "approved"}"#),
                    ].joined(separator: ", "))),
                  \(runErrors(400, 401, 403, 404, 409, 413))
                }
              }
            },
            "/runs/{runId}/gates/{gateId}": {
              "get": {
                "operationId": "getGate", "summary": "A gate and its run's status", "tags": ["gates"],
                "parameters": [\(runId), \(pathParameter("gateId", "The gate's id"))],
                "responses": {
                  "200": \(json("The gate", record(["gate": ref("Gate"), "runStatus": ref("RunStatus")]))),
                  \(runErrors(401, 403, 404))
                }
              }
            },
            "/runs/{runId}/gates/{gateId}/resolve": {
              "post": {
                "operationId": "resolveGate", "summary": "Resolve a pending gate with its token", "tags": ["gates"],
                "parameters": [\(runId), \(pathParameter("gateId", "The gate's id"))],
                \(jsonRequest(body(required: ["token", "decision"], [
                    "token": nonEmptyString, "decision": #"{"type": "string", "enum": ["approved", "rejected", "canceled"]}"#,
                    "actor": nullableString, "payload": anyValue,
                ]))),
                "responses": {"200": \(json("The resolved gate", record(["gate": ref("Gate")]))), \(runErrors(400, 401, 403, 404, 409, 413))}
              }
            },
            "/runs/{runId}/children": {
              "post": {
                "operationId": "createChild", "summary": "Create (or find, by name) a child run", "tags": ["runs"],
                "parameters": [\(runId)],
                \(jsonRequest(body(required: ["name", "workflowName"], [
                    "name": nonEmptyString, "workflowName": nonEmptyString, "input": anyValue, "metadata": nullableObject,
                    "recoveryWebhook": httpURL,
                    "channels": ##"{"type": ["array", "null"], "items": {"$ref": "#/components/schemas/ChannelSpec"}}"##,
                    "edgeType": nullableString, "edgeMetadata": nullableObject,
                ]))),
                "responses": {
                  "200": \(json("The child run, its edge, and whether it is new", record(["run": ref("Run"), "edge": ref("RunEdge"), "created": boolean]), links: link("GetChild", "getRun", ["runId": "$response.body#/run/id"]))),
                  \(runErrors(400, 401, 403, 404, 409, 413))
                }
              }
            },
            "/runs/{runId}/fork": {
              "post": {
                "operationId": "forkRun", "summary": "Fork the run at a completed step (Cairn extension)",
                "description": "A new pending run with this run's workflow, input and metadata. Executed by id, it replays this run's steps completed up to the step (read from this run, not copied) and runs the rest; it starts with the value of this run's state stream `run` as of that step.",
                "tags": ["runs"],
                "parameters": [\(runId)],
                \(jsonRequest(body(required: ["step"], ["step": nonEmptyString]))),
                "responses": {
                  "201": \(json("The new run and where it was forked from", record(["run": ref("Run"), "forkedFrom": record(["runId": nonEmptyString, "step": nonEmptyString, "at": nonEmptyString])]), links: link("GetFork", "getRun", ["runId": "$response.body#/run/id"]))),
                  \(runErrors(400, 401, 403, 404, 413))
                }
              }
            },
            "/runs/{runId}/forks": {
              "get": {
                "operationId": "listForks", "summary": "The forks made of the run, newest first (Cairn extension)",
                "tags": ["runs"],
                "parameters": [
                  \(runId),
                  \(queryParameter("limit", #"{"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}"#)),
                  \(queryParameter("cursor", string, "The nextCursor of the previous page."))
                ],
                "responses": {
                  "200": \(json("The forks, each with its run and where it was forked", record(["forks": array(record(["run": ref("Run"), "forkedFrom": record(["runId": nonEmptyString, "step": nonEmptyString, "at": nonEmptyString])])), "nextCursor": nullableString]))),
                  \(runErrors(400, 401, 403, 404))
                }
              }
            },
            "/runs/{runId}/state": {
              "put": {
                "operationId": "putState", "summary": "Replace the run's state (a new version)", "tags": ["state"],
                "parameters": [\(runId)],
                \(jsonRequest(body(["value": anyValue], stateOptionFields))),
                "responses": {
                  "200": \(json("The new state", record(["state": ref("RunState")]), links: [
                      link("StateVersions", "stateVersions", ["runId": "$request.path.runId"]),
                      link("SaveState", "saveState", ["runId": "$request.path.runId"]),
                    ].joined(separator: ", "))),
                  \(runErrors(400, 401, 403, 404, 409, 413))
                }
              },
              "patch": {
                "operationId": "patchState", "summary": "Merge an object into the run's state (a new version)", "tags": ["state"],
                "parameters": [\(runId)],
                \(jsonRequest(body(["value": #"{"type": ["object", "null"]}"#], stateOptionFields))),
                "responses": {"200": \(json("The new state", record(["state": ref("RunState")]))), \(runErrors(400, 401, 403, 404, 409, 413))}
              }
            },
            "/runs/{runId}/state/save": {
              "post": {
                "operationId": "saveState", "summary": "Label the current state version", "tags": ["state"],
                "parameters": [\(runId)],
                \(jsonRequest(body(required: ["label"], ["label": nonEmptyString], stateOptionFields))),
                "responses": {"200": \(json("The labeled version", record(["stateVersion": ref("StateVersion")]))), \(runErrors(400, 401, 403, 404, 409, 413))}
              }
            },
            "/runs/{runId}/state/versions": {
              "get": {
                "operationId": "stateVersions", "summary": "The run's state versions", "tags": ["state"],
                "parameters": [\(runId), \(queryParameter("stream", string, "Only this stream")), \(queryParameter("labeled", #"{"type": "string", "examples": ["true"]}"#, "true: only labeled versions (any other value: all)"))],
                "responses": {"200": \(json("The versions", record(["stateVersions": array(ref("StateVersion"))]))), \(runErrors(401, 403, 404))}
              }
            },
            "/runs/{runId}/snapshots": {
              "post": {
                "operationId": "createSnapshot", "summary": "Snapshot a state stream under a label", "tags": ["state"],
                "parameters": [\(runId)],
                \(jsonRequest(body(required: ["label"], [
                    "label": nonEmptyString,
                    "target": #"{"type": ["object", "null"], "required": ["type", "id"], "properties": {"type": {"type": "string"}, "id": {"type": "string"}}}"#,
                    "state": anyValue, "reason": nullableString, "metadata": nullableObject, "createdBy": nullableString,
                ]))),
                "responses": {
                  "200": \(json("The snapshot", record(["snapshot": ref("StateVersion")]), links: link("ListSnapshots", "listSnapshots", ["runId": "$request.path.runId"]))),
                  \(runErrors(400, 401, 403, 404, 409, 413))
                }
              },
              "get": {
                "operationId": "listSnapshots", "summary": "The run's snapshots", "tags": ["state"],
                "parameters": [\(runId)],
                "responses": {"200": \(json("The snapshots", record(["snapshots": array(ref("StateVersion"))]))), \(runErrors(401, 403, 404))}
              }
            },
            "/runs/{runId}/usage": {
              "post": {
                "operationId": "recordUsage", "summary": "Record model or tool usage", "tags": ["runs"],
                "parameters": [\(runId)],
                \(jsonRequest(body([
                    "stepId": nullableString, "kind": nullableString, "provider": nullableString, "model": nullableString,
                    "label": nullableString, "quantity": #"{"type": ["number", "null"]}"#, "unit": nullableString,
                    "inputTokens": #"{"type": ["integer", "null"], "maximum": 9223372036854775807, "minimum": 0}"#,
                    "outputTokens": #"{"type": ["integer", "null"], "maximum": 9223372036854775807, "minimum": 0}"#,
                    "totalTokens": #"{"type": ["integer", "null"], "maximum": 9223372036854775807, "minimum": 0}"#,
                    "costUsd": #"{"type": ["number", "null"], "minimum": 0}"#, "metadata": nullableObject,
                    "idempotencyKey": #"{"type": ["string", "null"], "minLength": 1, "maxLength": 200, "description": "Cairn extension: one entry per key and run."}"#,
                ]))),
                "responses": {"200": \(json("The usage record", record(["usage": ref("Usage")]))), \(runErrors(400, 401, 403, 404, 409, 413))}
              }
            },
            "/runs/{runId}/events": {
              "get": {
                "operationId": "runEvents", "summary": "The run's events as Server-Sent Events: stored ones after `after`, then live ones", "tags": ["runs"],
                "description": "Each event is `data: <RunEvent JSON>` and `id: <seq>`; comment lines keep the connection alive. The stream stays open until the client leaves or the server shuts down. An unknown run is an open, empty stream.",
                "parameters": [\(runId), \(queryParameter("after", #"{"type": "integer", "minimum": 0, "maximum": 9223372036854775807}"#, "Sequence number to replay after (default 0)")), \(queryParameter("token", string, "The bearer, for clients that cannot set headers (EventSource)"))],
                "responses": {
                  "200": {"description": "The event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                  \(runErrors(400, 401, 403))
                }
              }
            },
            "/schedules": {
              "get": {"operationId": "listSchedules", "summary": "The tenant's cron schedules", "tags": ["schedules"],
                "responses": {"200": \(json("The schedules", record(["schedules": array(ref("Schedule"))]))), \(runErrors(401, 403))}}
            },
            "/schedules/{name}": {
              "put": {
                "operationId": "putSchedule", "summary": "Create or replace a cron schedule that enqueues runs", "tags": ["schedules"],
                "parameters": [\(pathParameter("name", "The schedule's name"))],
                \(jsonRequest(body(required: ["cron", "workflowName"], [
                    "cron": #"{"type": "string", "minLength": 1, "description": "Five fields: minute hour day-of-month month day-of-week", "examples": ["*/5 * * * *", "0 9 * * 1-5"]}"#,
                    "workflowName": nonEmptyString, "input": anyValue,
                    "queue": #"{"type": ["string", "null"], "minLength": 1, "default": "default"}"#,
                    "maxAttempts": #"{"type": ["integer", "null"], "minimum": 1, "maximum": 1000, "default": 1}"#,
                    "enabled": #"{"type": ["boolean", "null"], "default": true}"#,
                ]))),
                "responses": {
                  "200": \(json("The schedule", record(["schedule": ref("Schedule")]), links: link("DeleteSchedule", "deleteSchedule", ["name": "$response.body#/schedule/name"]))),
                  \(runErrors(400, 401, 403, 413))
                }
              },
              "delete": {
                "operationId": "deleteSchedule", "summary": "Delete a schedule", "tags": ["schedules"],
                "parameters": [\(pathParameter("name", "The schedule's name"))],
                "responses": {"200": \(json("Deleted", record(["deleted": string]))), \(runErrors(401, 403, 404))}
              }
            }
        """

    static let queuePaths = """
            "/queues": {
              "get": {"operationId": "queueStats", "summary": "Run counts and configuration of each queue", "tags": ["queues"],
                "responses": {"200": \(json("The queues", record(["queues": array(ref("QueueStats"))]))), \(runErrors(401, 403))}}
            },
            "/queues/claim": {
              "post": {
                "operationId": "claimRuns", "summary": "Lease up to `limit` due runs from the named queues", "tags": ["queues"],
                \(jsonRequest(body(required: ["queues"], [
                    "queues": #"{"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}"#,
                    "leaseOwner": #"{"type": ["string", "null"], "minLength": 1}"#,
                    "limit": #"{"type": ["integer", "null"], "minimum": 1, "maximum": 100, "default": 1}"#,
                ]))),
                "responses": {"200": \(json("The claimed runs (maybe none)", record(["runs": array(ref("Run")), "leaseOwner": string]))), \(runErrors(400, 401, 403, 413))}
              }
            },
            "/queues/{queue}/enqueue": {
              "post": {
                "operationId": "enqueueRun", "summary": "Enqueue a run (deduplicated by dedupeKey while one is live)", "tags": ["queues"],
                "parameters": [\(pathParameter("queue", "The queue's name"))],
                \(jsonRequest(body(required: ["workflowName"], createRunFields, [
                    "workflowName": nonEmptyString, "runAt": #"{"type": ["string", "null"], "format": "date-time"}"#,
                    "dedupeKey": #"{"type": ["string", "null"], "minLength": 1}"#,
                    "delayMs": #"{"type": ["integer", "null"], "maximum": 9223372036854775807, "minimum": 0}"#,
                    "maxAttempts": #"{"type": ["integer", "null"], "minimum": 1, "maximum": 1000, "default": 1}"#,
                    "priority": #"{"type": ["integer", "null"], "minimum": -9223372036854775808, "maximum": 9223372036854775807, "default": 0}"#,
                    "deadlineMs": #"{"type": ["integer", "null"], "maximum": 9223372036854775807, "minimum": 1}"#,
                ]))),
                "responses": {
                  "200": \(json("The queued run, or the live one with the same dedupeKey", record(["run": ref("Run"), "deduplicated": boolean]), links: link("GetQueuedRun", "getRun", ["runId": "$response.body#/run/id"]))),
                  \(runErrors(400, 401, 403, 413))
                }
              }
            },
            "/queues/{queue}/config": {
              "put": {
                "operationId": "configureQueue", "summary": "Set a queue's concurrency, rate and push URL (null clears, absent keeps)", "tags": ["queues"],
                "parameters": [\(pathParameter("queue", "The queue's name"))],
                \(jsonRequest(body([
                    "concurrency": #"{"type": ["integer", "null"], "maximum": 9223372036854775807, "minimum": 1}"#,
                    "ratePerMinute": #"{"type": ["integer", "null"], "maximum": 9223372036854775807, "minimum": 1}"#, "invokeUrl": httpURL,
                ]))),
                "responses": {"200": \(json("The queue's configuration", record(["config": ref("QueueConfig")]))), \(runErrors(400, 401, 403, 413))}
              }
            },
            "/queues/{queue}": {
              "get": {
                "operationId": "getQueue", "summary": "One queue: counts, configuration, pause and recent activity (Cairn extension)", "tags": ["queues"],
                "parameters": [\(pathParameter("queue", "The queue's name"))],
                "responses": {"200": \(json("The queue", record(["queue": ref("QueueDetail")]))), \(runErrors(401, 403, 404))}
              }
            },
            "/queues/{queue}/pause": {
              "post": {
                "operationId": "pauseQueue", "summary": "Pause a queue: it takes enqueues but no claim or push hands its runs out (Cairn extension)", "tags": ["queues"],
                "description": "Pausing a paused queue keeps its first pause time. A queue that does not exist yet is created paused. Any body is ignored.",
                "parameters": [\(pathParameter("queue", "The queue's name"))],
                "responses": {"200": \(json("The queue", record(["queue": ref("QueueDetail")]))), \(runErrors(401, 403))}
              }
            },
            "/queues/{queue}/resume": {
              "post": {
                "operationId": "resumeQueue", "summary": "Resume a paused queue (Cairn extension)", "tags": ["queues"],
                "description": "Resuming a queue that is not paused changes nothing. Any body is ignored.",
                "parameters": [\(pathParameter("queue", "The queue's name"))],
                "responses": {"200": \(json("The queue", record(["queue": ref("QueueDetail")]))), \(runErrors(401, 403))}
              }
            }
        """

    static let runSchemas = """
              "RunError": {
                "type": "object", "required": ["error"],
                "description": "A refusal of the runs, queues, schedules, keys or artifacts routes. A 400 for a body names each problem in issues; a 409 may carry the run or the lease holder.",
                "properties": {
                  "error": {"type": "string"},
                  "code": {"type": "string"},
                  "issues": {"type": "array", "items": {"type": "object", "required": ["path", "message"], "properties": {"path": {"type": "array", "items": {"type": "string"}}, "message": {"type": "string"}}}},
                  "run": {"$ref": "#/components/schemas/Run"},
                  "leaseOwner": {"type": ["string", "null"]}
                }
              },
              "RunStatus": {"type": "string", "enum": ["pending", "queued", "running", "completed", "failed", "cancelled"]},
              "ChannelSpec": {"type": "object", "required": ["type", "url"], "properties": {"type": {"const": "webhook"}, "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?# \\\\n]+[^ \\\\n]*$"}, "secret": {"type": ["string", "null"]}, "events": {"type": ["array", "null"], "items": {"type": "string"}}}},
              "Run": \(record([
                  "id": string, "workflowName": string, "input": anyValue, "metadata": anyValue, "status": ref("RunStatus"),
                  "result": anyValue, "error": anyValue, "recoveryWebhook": nullableString, "leaseOwner": nullableString,
                  "leaseExpiresAt": nullableTimestamp, "attempt": integer, "queue": nullableString, "dedupeKey": nullableString,
                  "priority": integer, "runAt": nullableTimestamp, "maxAttempts": integer, "deadlineAt": nullableTimestamp,
                  "cancelRequestedAt": nullableTimestamp, "cancelledAt": nullableTimestamp, "cancelReason": nullableString,
                  "cancelActor": nullableString, "failureClass": nullableString, "createdAt": timestamp, "updatedAt": timestamp,
                  "completedAt": nullableTimestamp,
                ])),
              "Step": \(record([
                  "id": string, "runId": string, "name": string, "inputHash": string, "input": anyValue, "options": anyValue,
                  "resumeContract": anyValue,
                  "status": #"{"type": "string", "enum": ["pending", "running", "completed", "failed", "failed_retryable", "manual_review"]}"#,
                  "output": anyValue, "error": anyValue, "leaseOwner": nullableString, "leaseExpiresAt": nullableTimestamp,
                  "attempt": integer, "startedAt": nullableTimestamp, "completedAt": nullableTimestamp, "createdAt": timestamp,
                  "updatedAt": timestamp,
                ])),
              "BeginStepOutcome": {
                "type": "object", "required": ["action"],
                "properties": {
                  "action": {"type": "string", "enum": ["execute", "return", "locked", "input_mismatch", "cancelled"]},
                  "step": {"$ref": "#/components/schemas/Step"}, "output": {}, "leaseOwner": {"type": "string"},
                  "expectedInputHash": {"type": "string"}, "actualInputHash": {"type": "string"}
                }
              },
              "Gate": \(record([
                  "id": string, "runId": string, "name": string, "prompt": string, "data": anyValue,
                  "status": #"{"type": "string", "enum": ["pending", "approved", "rejected", "canceled"]}"#,
                  "decision": nullableString, "actor": nullableString, "decisionPayload": anyValue, "capability": anyValue,
                  "channels": anyValue, "resolveToken": string, "createdAt": timestamp, "updatedAt": timestamp,
                  "resolvedAt": nullableTimestamp,
                ])),
              "RunState": \(record(["runId": string, "value": anyValue, "version": integer, "updatedAt": timestamp])),
              "StateStream": \(record([
                  "id": string, "runId": string, "name": string, "targetType": string, "targetId": nullableString,
                  "currentVersion": integer, "currentValue": anyValue, "metadata": anyValue, "createdAt": timestamp,
                  "updatedAt": timestamp,
                ])),
              "StateVersion": \(record([
                  "id": string, "streamId": string, "runId": string, "stepId": nullableString, "version": integer,
                  "value": anyValue, "patch": anyValue, "label": nullableString, "reason": nullableString,
                  "importance": #"{"type": "string", "enum": ["transient", "normal", "checkpoint", "milestone"]}"#,
                  "metadata": anyValue, "createdBy": nullableString, "createdAt": timestamp,
                ])),
              "RunEdge": \(record([
                  "id": string, "parentRunId": string, "childRunId": string, "name": string, "edgeType": string,
                  "metadata": anyValue, "createdAt": timestamp,
                ])),
              "Usage": \(record([
                  "id": string, "runId": string, "stepId": nullableString, "kind": string, "provider": nullableString,
                  "model": nullableString, "label": nullableString, "quantity": #"{"type": ["number", "null"]}"#,
                  "unit": nullableString, "inputTokens": nullableInteger, "outputTokens": nullableInteger,
                  "totalTokens": nullableInteger, "costUsd": #"{"type": ["number", "null"]}"#, "metadata": anyValue,
                  "createdAt": timestamp,
                ])),
              "Channel": \(record([
                  "id": string, "runId": string, "type": string, "config": record(["url": string]),
                  "events": array(string), "createdAt": timestamp,
                ])),
              "RunEvent": \(record([
                  "id": integer, "runId": string, "seq": integer, "type": string, "payload": anyValue, "createdAt": timestamp,
                ])),
              "ChannelDelivery": \(record([
                  "id": string, "runId": nullableString, "channelId": nullableString, "gateId": nullableString,
                  "eventType": string, "payload": anyValue, "status": string, "httpStatus": nullableInteger,
                  "responseBody": nullableString, "errorText": nullableString, "createdAt": timestamp,
                  "completedAt": nullableTimestamp,
                ])),
              "RecoveryAttempt": \(record([
                  "id": string, "runId": string, "reason": string, "webhookUrl": string, "status": string,
                  "httpStatus": nullableInteger, "responseBody": nullableString, "errorText": nullableString,
                  "createdAt": timestamp, "completedAt": nullableTimestamp,
                ])),
              "RunDetail": \(record([
                  "run": ref("Run"), "steps": array(ref("Step")), "state": nullable(ref("RunState")),
                  "stateStreams": array(ref("StateStream")), "stateVersions": array(ref("StateVersion")),
                  "runEdges": array(ref("RunEdge")), "childRuns": array(ref("Run")),
                  "recoveryAttempts": array(ref("RecoveryAttempt")), "channels": array(ref("Channel")),
                  "channelDeliveries": array(ref("ChannelDelivery")), "gates": array(ref("Gate")),
                  "usage": array(ref("Usage")), "events": array(ref("RunEvent")), "stalled": boolean,
                ])),
              "Schedule": \(record([
                  "name": string, "cron": string, "workflowName": string, "input": anyValue, "queue": string,
                  "maxAttempts": integer, "enabled": boolean, "nextRunAt": nullableTimestamp,
                  "lastEnqueuedAt": nullableTimestamp, "createdAt": timestamp, "updatedAt": timestamp,
                ])),
              "QueueConfig": \(record([
                  "name": string, "concurrency": nullableInteger, "ratePerMinute": nullableInteger, "invokeUrl": nullableString,
                ])),
              "QueueStats": \(record([
                  "name": string, "queued": integer, "running": integer, "failed": integer, "completed": integer,
                  "cancelled": integer, "config": nullable(ref("QueueConfig")),
                ])),
              "QueueDetail": \(record([
                  "name": string, "queued": integer, "running": integer, "failed": integer, "completed": integer,
                  "cancelled": integer, "config": nullable(ref("QueueConfig")), "paused": boolean,
                  "pausedAt": nullableTimestamp,
                  "activity": array(record([
                      "windowSeconds": integer, "claimed": integer, "completed": integer, "failed": integer,
                  ])),
                ]))
        """
}
