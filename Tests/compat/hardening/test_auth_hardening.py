"""Authorization against a real `cairn serve`: what a request reaches follows the matched route
whatever the spelling of its target (raw sockets, since HTTP clients normalize paths), open mode
ends for good with the first key, /metrics is the root key's, and `cairn keys` never creates a
store of its own."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from cairncompat import cairn_bin, create_key, http_call, keys_cli, start_server

ROOT = "hardening-root-key-5d1e9b27"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    srv = start_server(tmp_path_factory, "authz", api_key=ROOT)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tenant_keys(keyed):
    return {scope: create_key(keyed, "acme", scope) for scope in ("read", "write", "admin")}


def raw_request(port: int, method: str, target: str, token: str | None = None,
                body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP/1.1 request with the target sent exactly as given; returns (status, body)."""
    head = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
            f"Content-Length: {len(body)}", "Content-Type: application/json"]
    if token is not None:
        head.append(f"Authorization: Bearer {token}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    reply = b"".join(chunks)
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def admin_targets(port: int) -> list:
    origin = f"http://127.0.0.1:{port}"
    return [
        "//admin/keys", "///admin///keys", "/admin//keys", "/admin/keys/", "/admin/./keys",
        "/x/../admin/keys", "/admin/%2e/keys", "/x/%2E%2E/admin/keys", "/%61dmin/keys",
        "/admin%2Fkeys", "/admin%2fkeys", "admin/keys",
        f"{origin}//admin/keys", f"{origin}///admin///keys", f"{origin}/x/../admin/keys",
        f"{origin}/admin/./keys", f"{origin}/admin/keys", "http://elsewhere.example/admin/keys",
    ]


def key_count(keyed) -> int:
    r = keyed.http("GET", "/admin/keys")
    assert r.status == 200, r
    return len(r.json["keys"])


def test_no_spelling_of_the_admin_routes_lets_a_read_or_write_key_in(keyed, tenant_keys):
    before = key_count(keyed)
    mint = json.dumps({"tenant": "acme", "scopes": ["admin"]}).encode()
    for target in admin_targets(keyed.port):
        for scope in ("read", "write"):
            token = tenant_keys[scope]
            status, body = raw_request(keyed.port, "POST", target, token, mint)
            assert status in (400, 403, 404), (target, scope, status, body)
            assert b"secret" not in body, (target, scope, body)
            status, body = raw_request(keyed.port, "GET", target, token)
            assert status in (400, 403, 404), (target, scope, status, body)
            assert b'"keys"' not in body, (target, scope, body)
    assert key_count(keyed) == before


def test_non_canonical_targets_are_400_before_any_credential_is_looked_at(keyed, tenant_keys):
    for target in ["//admin/keys", "/x/../admin/keys", "/admin/./keys", "/admin/%2e%2E/keys",
                   f"http://127.0.0.1:{keyed.port}//admin/keys", "//runs", "/health/"]:
        for token in (None, tenant_keys["admin"], ROOT):
            status, body = raw_request(keyed.port, "GET", target, token)
            assert status == 400, (target, token, status, body)
            assert json.loads(body)["code"] == "non_canonical_path"


def test_the_canonical_admin_route_still_works_for_admin_keys_in_either_form(keyed, tenant_keys):
    status, body = raw_request(keyed.port, "GET", "/admin/keys", tenant_keys["admin"])
    assert status == 200, body
    status, body = raw_request(keyed.port, "GET", f"http://127.0.0.1:{keyed.port}/admin/keys", ROOT)
    assert status == 200, body


def test_unknown_routes_are_404_with_a_key_and_401_without(keyed, tenant_keys):
    assert raw_request(keyed.port, "GET", "/nowhere", tenant_keys["read"])[0] == 404
    assert raw_request(keyed.port, "POST", "/nowhere", tenant_keys["read"])[0] == 404
    assert raw_request(keyed.port, "GET", "/nowhere")[0] == 401


def test_metrics_are_for_the_root_key_only(keyed, tenant_keys):
    for scope in ("read", "write", "admin"):
        r = http_call(keyed.url, "GET", "/metrics", token=tenant_keys[scope])
        assert r.status == 403, (scope, r)
    assert http_call(keyed.url, "GET", "/metrics").status == 401
    assert http_call(keyed.url, "GET", "/metrics", token=ROOT).status == 200


def test_metrics_public_lets_a_scraper_in_without_opening_the_rest(tmp_path_factory):
    srv = start_server(tmp_path_factory, "metrics-public", api_key=ROOT, env={"CAIRN_METRICS_PUBLIC": "1"})
    try:
        assert http_call(srv.url, "GET", "/metrics").status == 200
        assert http_call(srv.url, "GET", "/runs").status == 401
    finally:
        srv.stop()


def test_open_mode_ends_for_good_with_the_first_key(tmp_path_factory):
    srv = start_server(tmp_path_factory, "open-mode")
    try:
        assert srv.http("GET", "/runs").status == 200
        # Created by another process (`cairn keys`), then revoked: no active key remains.
        create_key(srv, "acme", "read")
        listed = keys_cli(srv, "list")
        key_id = listed.stdout.splitlines()[1].split("\t")[0]
        assert keys_cli(srv, "revoke", key_id).returncode == 0
        srv.stop()
        srv.restart()
        assert srv.http("GET", "/runs").status == 401
        assert srv.http("POST", "/admin/keys", {"tenant": "acme", "scopes": ["admin"]}).status == 401
        # Start-up says what is true, before and after.
        log = srv.log_tail()
        assert log.index("open until the first API key is created") < log.index(
            "requires an API key (keys exist in the store)")
    finally:
        srv.stop()


def test_the_moment_open_mode_ends_is_logged(tmp_path_factory):
    srv = start_server(tmp_path_factory, "open-mode-log")
    try:
        created = srv.http("POST", "/admin/keys", {"tenant": "acme", "scopes": ["admin"]})
        assert created.status == 201, created
        revoked = srv.http("DELETE", f"/admin/keys/{created.json['key']['id']}", token=created.json["secret"])
        assert revoked.status == 200, revoked
        assert srv.http("GET", "/runs").status == 401
        assert ("the first API key was created: this server now requires an API key on every request"
                in srv.log_tail())
    finally:
        srv.stop()


def run_keys(cwd, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    clean.update(env or {})
    return subprocess.run([str(cairn_bin()), "keys", *args], capture_output=True, text=True,
                          timeout=60, cwd=str(cwd), env=clean)


def test_keys_cli_never_creates_a_store(tmp_path):
    for args in (["list"], ["create", "--tenant", "acme"], ["revoke", "key_x"]):
        done = run_keys(tmp_path, *args)
        assert done.returncode != 0, (args, done)
        assert "no Cairn data directory at ./.cairn (pass --data-dir or CAIRN_DATA_DIR)" in done.stderr, done.stderr
        assert done.stdout == ""
    missing = tmp_path / "typo"
    done = run_keys(tmp_path, "list", "--data-dir", str(missing))
    assert done.returncode != 0 and f"no Cairn data directory at {missing}" in done.stderr, done.stderr
    done = run_keys(tmp_path, "list", env={"CAIRN_DATA_DIR": str(missing)})
    assert done.returncode != 0 and f"no Cairn data directory at {missing}" in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_keys_cli_says_which_store_it_opened(keyed):
    done = keys_cli(keyed, "create", "--tenant", "acme")
    assert done.returncode == 0, done.stderr
    store = (keyed.data_dir / "cairn.sqlite").resolve()
    assert f"using the store at {store}" in done.stderr
    assert done.stdout.strip().startswith("cairn_") and "\n" not in done.stdout.strip()
