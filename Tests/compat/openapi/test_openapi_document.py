"""The OpenAPI document served at /openapi.json is valid OpenAPI 3.1 (checked by the PyPI
`openapi-spec-validator`), needs no credentials, and every operation it documents is served:
a minimal request to each one gets a status the document lists for it, never the router's
bare 404 for an unknown route. (Tests/CairnServerTests/OpenAPIDocumentTests.swift checks the
other direction: every registered route is documented.)"""

from __future__ import annotations

import http.client

import pytest
from openapi_spec_validator import validate

from cairncompat import http_call, start_server

ROOT_KEY = "openapi-root-key-0123456789"
METHODS = ("get", "head", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "openapi", api_key=ROOT_KEY)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def document(server):
    reply = server.http("GET", "/openapi.json", token=None)
    assert reply.status == 200, reply.body
    return reply.json


def test_document_is_valid_and_public(server, document):
    validate(document)
    assert document["openapi"].startswith("3.1")
    for path in ("/runs/{runId}", "/queues/claim", "/schedules/{name}", "/checkpoints", "/agents/{agentId}",
                 "/analytics/overview", "/artifacts/{artifactId}", "/admin/keys", "/health", "/metrics",
                 "/openapi.json", "/runs/{runId}/events"):
        assert path in document["paths"], path


def _operations(document):
    """Every (path, method, operation), deletes last so they do not remove what others read."""
    ops = [(path, method, item[method]) for path, item in document["paths"].items()
           for method in METHODS if method in item]
    return sorted(ops, key=lambda op: (op[1] == "delete", op[0], op[1]))


def _parameters(document, path, operation):
    return document["paths"][path].get("parameters", []) + operation.get("parameters", [])


def _minimal_request(server, document, path, method, operation, artifact_id):
    """The path with its parameters filled in, the query of its required parameters, the body."""
    concrete = path
    query = []
    for parameter in _parameters(document, path, operation):
        value = artifact_id if parameter["name"] == "artifactId" else "openapi-probe"
        if parameter["in"] == "path":
            concrete = concrete.replace("{" + parameter["name"] + "}", value)
        elif parameter["in"] == "query" and parameter.get("required"):
            query.append(f"{parameter['name']}={value}")
    if query:
        concrete += "?" + "&".join(query)
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return concrete, b"{}", "application/json"
    if content:
        return concrete, b"probe", "application/octet-stream"
    return concrete, None, None


def _stream_status(server, path):
    """Status and content type of a response that never ends (Server-Sent Events)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {ROOT_KEY}"})
        response = connection.getresponse()
        return response.status, response.getheader("content-type", "")
    finally:
        connection.close()


def test_every_documented_operation_is_served(server, document):
    uploaded = server.http("POST", "/artifacts?name=probe.txt", raw=b"probe",
                           headers={"content-type": "text/plain"})
    assert uploaded.status == 201, uploaded
    artifact_id = uploaded.json["artifact"]["id"]
    checked = 0
    for path, method, operation in _operations(document):
        documented = operation["responses"]
        concrete, body, content_type = _minimal_request(server, document, path, method, operation, artifact_id)
        where = f"{method.upper()} {concrete}"
        # A GET stream never ends (run events); an execution's stream (POST) ends with it.
        if method == "get" and "text/event-stream" in documented.get("200", {}).get("content", {}):
            status, media = _stream_status(server, concrete)
            assert status == 200 and media.startswith("text/event-stream"), (where, status, media)
            checked += 1
            continue
        headers = {"content-type": content_type} if content_type else {}
        reply = http_call(server.url, method.upper(), concrete, raw=body, headers=headers, token=ROOT_KEY)
        assert str(reply.status) in documented, (where, reply.status, reply.text[:300], sorted(documented))
        if method == "head":
            # A HEAD answer has no body to tell a route's 404 from the router's: the artifact exists.
            assert reply.status == 200, (where, reply.status)
        elif reply.status == 404:
            # A documented route refuses an unknown id with its protocol's JSON error (FastAPI's
            # {"detail"} under /codemode); the router's 404 for an unknown route has an empty body.
            assert reply.body and ("error" in reply.json or "detail" in reply.json), (where, reply.body)
        media = reply.headers.get("content-type", "")
        declared = documented[str(reply.status)]
        if "$ref" in declared:
            ref = declared["$ref"].rsplit("/", 1)[-1]
            declared = document["components"]["responses"][ref]
        if method != "head" and "application/json" in declared.get("content", {}):
            assert media.startswith("application/json"), (where, reply.status, media)
        checked += 1
    assert checked >= 59
