"""The OpenAPI document served at /openapi.json is valid OpenAPI 3.1 (checked by the PyPI
`openapi-spec-validator`), needs no credentials, and describes routes the server answers."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from cairncompat import start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "openapi", api_key="openapi-root-key-0123456789")
    yield srv
    srv.stop()


def test_document_is_valid_and_public(server):
    reply = server.http("GET", "/openapi.json", token=None)
    assert reply.status == 200, reply.body
    document = reply.json
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert "/artifacts" in document["paths"] and "/artifacts/{id}" in document["paths"]


def test_every_documented_operation_is_served(server):
    document = server.http("GET", "/openapi.json", token=None).json
    for path, operations in document["paths"].items():
        concrete = path.replace("{id}", "art_" + "0" * 32)
        for method in operations:
            if method not in ("get", "head", "delete"):
                continue
            reply = server.http(method.upper(), concrete)
            # A documented route answers with its own statuses (an unknown id is 404 with the
            # artifacts API's JSON error), never the router's bare 404 for an unknown route.
            assert reply.status in (200, 304, 404), (method, path, reply.status)
            if reply.status == 404 and method != "head":
                assert reply.json.get("code") == "not_found", (method, path, reply.body)
