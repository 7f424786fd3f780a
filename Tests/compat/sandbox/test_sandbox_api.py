"""The sandbox API itself (issue 15): create/get/list/delete, stateful python execs, commands,
the event stream, files, artifacts, reset, TTLs, tenant isolation and bad input on every route.

All tests use the server's default backend unless a capability is needed. Bad requests are
followed by a check that nothing changed: no sandbox made, no code run, no file written.

The spec puts the routes under /v1/sandboxes and refusals in {"error": {"code", "message"}}.
The helpers find the prefix the server really uses and read either envelope, so that those two
questions fail exactly one test each (test_routes_live_under_the_documented_prefix,
test_errors_use_the_documented_envelope; the codes: test_refusals_carry_the_documented_codes)
instead of every test.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from cairncompat import http_call, wait_until
from sbcompat import (
    CAPABILITIES,
    EXEC_KEYS,
    EXIT_KEYS,
    MiB,
    SANDBOX_KEYS,
    SPEC_PREFIX,
    assert_error,
    error_of,
    parse_iso,
)

INVALID = "invalid_request"
BAD_PATH = ("invalid_path", "invalid_request")


@pytest.fixture(scope="module")
def default(server):
    """The default backend's capability entry."""
    caps = server.capabilities()
    for b in caps["backends"]:
        if b["name"] == caps["default"]:
            return b
    pytest.fail(f"default backend {caps['default']!r} is not among {caps['backends']}")


@pytest.fixture
def sb(server):
    """A fresh python sandbox on the default backend."""
    return server.create()


@pytest.fixture(scope="module")
def other_key(server):
    """A key of a second tenant."""
    return server.tenant_key("sbx-other")


# ---------------------------------------------------------------------------
# Where the routes are and how they refuse
# ---------------------------------------------------------------------------


def test_routes_live_under_the_documented_prefix(server):
    """The sandbox routes answer under /sandboxes, and nothing answers under /v1/sandboxes."""
    assert server.http("GET", "/v1/sandboxes/capabilities").status == 404
    assert server.api == SPEC_PREFIX, f"the sandbox routes answer under {server.api}, not {SPEC_PREFIX}"


def _refusal_samples(server):
    """(response, status, documented code) for one refusal of each kind."""
    sb = server.create()
    samples = [(server.get("sbx_" + "0" * 32), 404, None),
               (server.create_raw({"language": "ruby"}), 400, INVALID),
               (server.exec_raw(sb["id"], {}), 400, INVALID),
               (server.file_get(sb["id"], "../x"), 400, "invalid_path")]
    for b in server.capabilities()["backends"]:
        lacking = [c for c in CAPABILITIES if c not in b["capabilities"]]
        if b["available"] and lacking:
            samples.append((server.create_raw({"backend": b["name"], "require": lacking[:1]}), 422,
                            "capability_unavailable"))
            break
    return samples


def test_refusals_carry_the_documented_codes(server):
    """A bad create body and a bad exec body are 400 invalid_request, a path that climbs out is
    400 invalid_path, a capability the backend lacks is 422 capability_unavailable."""
    for resp, status, code in _refusal_samples(server):
        assert resp.status == status, resp
        if code:
            assert error_of(resp).get("code") == code, f"expected code {code}: {resp!r}"


def test_errors_use_the_documented_envelope(server):
    """Refusals are Cairn's flat {"error": message, "code": ...} (the 422 also lists
    `missing`; a body-validation 400 also lists `issues` with a path array each)."""
    for resp, status, _ in _refusal_samples(server):
        assert resp.status == status, resp
        body = resp.json
        assert isinstance(body.get("error"), str) and body["error"], body
        assert isinstance(body.get("code"), str) and body["code"], body
        if status == 422:
            assert isinstance(body.get("missing"), list), body
        for issue in body.get("issues", []):
            assert isinstance(issue["path"], list) and issue["message"], body


def test_snapshot_route_answers(server):
    """POST .../snapshot exists: an unknown sandbox is a 404 refusal in the error envelope, and
    a sandbox without a workspace is refused with a 4xx refusal, never an unrouted 404."""
    assert_error(server.http("POST", f"{server.api}/sbx_{'0' * 32}/snapshot"), 404)
    sb = server.create()
    r = server.http("POST", f"{server.api}/{sb['id']}/snapshot")
    assert 400 <= r.status < 500 and r.status != 404, r
    assert_error(r, r.status)


# ---------------------------------------------------------------------------
# Create, get, list, delete
# ---------------------------------------------------------------------------


def test_create_answers_201_with_the_documented_sandbox(server, default):
    """POST /v1/sandboxes with no body fields makes a ready python sandbox on the default
    backend, shaped as documented, with the backend's capabilities and no expiry."""
    sb = server.create()
    assert set(sb) == set(SANDBOX_KEYS), f"keys {sorted(sb)}"
    assert sb["id"].startswith("sbx_") and len(sb["id"]) > 4
    assert all(c in "0123456789abcdef" for c in sb["id"][4:]), sb["id"]
    assert (sb["backend"], sb["language"], sb["status"]) == (default["name"], "python", "ready")
    assert isinstance(sb["limits"], dict)
    assert sorted(sb["capabilities"]) == sorted(default["capabilities"])
    assert sb["workspace"] is None
    created = parse_iso(sb["created_at"])
    assert abs(created - time.time()) < 300
    assert sb["expires_at"] is None and sb["idle_expires_at"] is None


def test_create_echoes_limits_and_ttls(server, default):
    """Given limits are echoed with their values, and ttl_seconds / idle_ttl_seconds set
    expires_at / idle_expires_at that far after created_at."""
    limits = {"output_bytes": 65536}
    if "timeout" in default["capabilities"]:
        limits["timeout_ms"] = 5000
    sb = server.create(limits=limits, ttl_seconds=3600, idle_ttl_seconds=600)
    for k, v in limits.items():
        assert sb["limits"].get(k) == v, sb["limits"]
    created = parse_iso(sb["created_at"])
    assert abs(parse_iso(sb["expires_at"]) - created - 3600) < 5, sb
    assert abs(parse_iso(sb["idle_expires_at"]) - created - 600) < 5, sb


def test_get_list_and_delete(server):
    """GET returns the sandbox, the list contains it, DELETE answers 204, and afterwards GET,
    exec, files and a second DELETE are 404 and the list no longer has it."""
    sb = server.create()
    sid = sb["id"]
    got = server.get(sid)
    assert got.status == 200, got
    assert {k: v for k, v in got.json.items() if k != "status"} == {
        k: v for k, v in sb.items() if k != "status"}
    assert sid in server.list_ids()
    r = server.delete(sid)
    assert r.status == 204 and r.body == b"", r
    assert server.get(sid).status == 404
    assert sid not in server.list_ids()
    assert_error(server.delete(sid), 404)
    assert_error(server.exec_raw(sid, {"code": "1"}), 404)
    assert_error(server.file_get(sid, "x.txt"), 404)
    assert_error(server.reset(sid), 404)


def test_list_shape(server):
    """GET /v1/sandboxes is {"sandboxes": [...]} of full sandbox objects."""
    server.create()
    r = server.http("GET", server.api)
    assert r.status == 200, r
    assert set(r.json) == {"sandboxes"}
    assert r.json["sandboxes"], r.json
    for s in r.json["sandboxes"]:
        assert set(s) == set(SANDBOX_KEYS), s


def test_shell_sandbox_runs_commands(server):
    """A sandbox created with language "shell" says so and runs commands."""
    sb = server.create(language="shell")
    assert sb["language"] == "shell"
    out = server.cmd(sb["id"], ["sh", "-c", "echo shell-ok"])
    assert out["stdout"] == "shell-ok\n", out


def test_idle_ttl_expiry_removes_an_unused_sandbox(server):
    """A sandbox with idle_ttl_seconds 2 that nobody uses disappears on its own (GET 404)."""
    sb = server.create(idle_ttl_seconds=2)
    assert sb["idle_expires_at"] is not None
    wait_until(lambda: server.get(sb["id"]).status == 404, timeout=30, interval=0.2,
               desc="the idle sandbox to expire")
    assert sb["id"] not in server.list_ids()


# ---------------------------------------------------------------------------
# Python execs
# ---------------------------------------------------------------------------


def test_exec_answer_shape(server, sb):
    """An exec answers the documented keys, with an exit of the documented keys."""
    out = server.run(sb["id"], "print('hi')")
    assert set(out) == set(EXEC_KEYS), sorted(out)
    assert set(out["exit"]) == set(EXIT_KEYS), sorted(out["exit"])
    assert out["stdout"] == "hi\n" and out["stderr"] == ""
    assert out["value"] is None and out["error"] is None and out["truncated"] is False
    assert out["exit"]["reason"] == "exited"
    assert isinstance(out["exit"]["duration_ms"], (int, float)) and out["exit"]["duration_ms"] >= 0


def test_python_state_survives_between_execs_and_returns_the_last_value(server, sb):
    """`x = 41` then `x + 1` gives value "42": variables persist and the last expression's repr
    is returned; a statement gives null and a string's repr is quoted."""
    first = server.run(sb["id"], "x = 41")
    assert first["value"] is None and first["error"] is None, first
    assert server.run(sb["id"], "x + 1")["value"] == "42"
    assert server.run(sb["id"], "def f(n):\n    return n * 2\nf(x)")["value"] == "82"
    assert server.run(sb["id"], "'a' * 3")["value"] == "'aaa'"
    out = server.run(sb["id"], "import sys\nprint('out'); print('err', file=sys.stderr)")
    assert (out["stdout"], out["stderr"], out["value"], out["error"]) == ("out\n", "err\n", None, None)


def test_errors_return_a_traceback_not_a_500(server, sb):
    """An exception is a 200 with the traceback in `error`; a syntax error too; the session's
    variables survive both."""
    server.run(sb["id"], "survivor = 'still here'")
    out = server.run(sb["id"], "1 / 0")
    assert out["error"] and "Traceback" in out["error"] and "ZeroDivisionError" in out["error"], out
    assert out["value"] is None
    syntax = server.run(sb["id"], "def (:")
    assert syntax["error"] and "SyntaxError" in syntax["error"], syntax
    assert server.run(sb["id"], "survivor")["value"] == "'still here'"


def test_reset_clears_variables_but_keeps_work(server, sb):
    """POST reset answers 200 with the sandbox; afterwards a variable is a NameError while a
    file the code wrote in /work is still there (files API and open())."""
    server.run(sb["id"], "gone = 1\nopen('kept.txt', 'w').write('kept')")
    r = server.reset(sb["id"])
    assert r.status == 200, r
    assert set(r.json) == set(SANDBOX_KEYS) and r.json["id"] == sb["id"], r.json
    out = server.run(sb["id"], "gone")
    assert out["error"] and "NameError" in out["error"], out
    assert server.file_bytes(sb["id"], "kept.txt") == b"kept"
    assert server.run(sb["id"], "open('kept.txt').read()")["value"] == "'kept'"


def test_per_exec_timeout_stops_code_and_restarts_the_interpreter(server, default):
    """An exec's own timeout_ms (below the sandbox's) stops a sleeping loop with reason
    "timeout"; the interpreter is replaced, so earlier variables are gone."""
    if "timeout" not in default["capabilities"]:
        pytest.skip(f"the default backend {default['name']} does not advertise timeout")
    sb = server.create(limits={"timeout_ms": 30_000})
    server.run(sb["id"], "before_timeout = 1")
    out = server.run(sb["id"], "import time\nwhile True:\n    time.sleep(0.05)", timeout_ms=500)
    assert out["exit"]["reason"] == "timeout", out
    assert out["exit"]["duration_ms"] < 10_000, out["exit"]
    after = server.run(sb["id"], "before_timeout")
    assert after["error"] and "NameError" in after["error"], after


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


def test_command_runs_argv_without_a_shell(server, sb, default):
    """A command's argv reaches the program verbatim (no shell expansion), its stdout, stderr
    and exit code come back, stdin is fed, and it runs in /work."""
    out = server.cmd(sb["id"], ["printf", "%s|", "a b", "$HOME", "*", ";echo"])
    assert out["stdout"] == "a b|$HOME|*|;echo|", out
    out = server.cmd(sb["id"], ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (out["stdout"], out["stderr"]) == ("out\n", "err\n"), out
    assert (out["exit"]["reason"], out["exit"]["exit_code"]) == ("exited", 3), out["exit"]
    assert out["value"] is None
    assert server.cmd(sb["id"], ["cat"], stdin="fed through stdin")["stdout"] == "fed through stdin"
    assert server.file_put(sb["id"], "here.txt", b"x").status == 201
    assert server.cmd(sb["id"], ["ls"])["stdout"].split() == ["here.txt"]
    if "filesystem_isolation" in default["capabilities"]:
        assert server.cmd(sb["id"], ["pwd"])["stdout"] == "/work\n"


def test_missing_program_is_an_answer_not_a_500(server, sb):
    """A command naming a program that does not exist answers 200 with a non-zero exit (or an
    error), never a server error."""
    r = server.exec_raw(sb["id"], {"command": [f"no-such-program-{uuid.uuid4().hex[:6]}"]})
    assert r.status == 200, r
    assert r.json["exit"]["exit_code"] != 0 or r.json["error"], r.json


# ---------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------


STREAMED = ("import os, sys, time\n"
            "print('chunk-1', flush=True)\n"
            "print('warn-1', file=sys.stderr, flush=True)\n"
            "for _ in range(2000):\n"
            "    if os.path.exists('go'):\n"
            "        break\n"
            "    time.sleep(0.01)\n"
            "print('chunk-2', 'go' if os.path.exists('go') else 'no-go')\n"
            "'done'\n")


def test_sse_streams_output_before_the_exec_ends(server, sb):
    """With Accept: text/event-stream, the first stdout chunk arrives while the code still waits
    for a file the test writes only after seeing that chunk; stderr comes as its own events; the
    single final exit event carries the whole JSON answer."""
    events = []
    released = False
    with server.stream(sb["id"], {"code": STREAMED}) as s:
        assert s.status == 200, s.body[:500]
        assert s.headers.get("Content-Type", "").startswith("text/event-stream")
        for event in s.events():
            events.append(event)
            if event["event"] == "stdout" and "chunk-1" in event["data"]["data"] and not released:
                assert server.file_put(sb["id"], "go", b"").status == 201
                released = True
            if event["event"] == "exit":
                break
    assert released, f"no stdout event with chunk-1 before the end: {events}"
    names = [e["event"] for e in events]
    assert names[-1] == "exit" and names.count("exit") == 1, names
    assert set(names) <= {"stdout", "stderr", "exit"}, names
    final = events[-1]["data"]
    assert set(final) == set(EXEC_KEYS), final
    assert final["stdout"] == "chunk-1\nchunk-2 go\n", final
    assert final["stderr"] == "warn-1\n", final
    assert final["value"] == "'done'" and final["error"] is None
    streamed_out = "".join(e["data"]["data"] for e in events if e["event"] == "stdout")
    streamed_err = "".join(e["data"]["data"] for e in events if e["event"] == "stderr")
    assert (streamed_out, streamed_err) == (final["stdout"], final["stderr"])


def test_sse_streams_a_command(server, sb):
    """A streamed command ends with an exit event carrying its exit code and whole output."""
    with server.stream(sb["id"], {"command": ["sh", "-c", "echo a; echo b >&2; exit 4"]}) as s:
        assert s.status == 200, s.body[:500]
        events = list(s.events())
    assert events and events[-1]["event"] == "exit", events
    final = events[-1]["data"]
    assert (final["stdout"], final["stderr"], final["exit"]["exit_code"]) == ("a\n", "b\n", 4)


# ---------------------------------------------------------------------------
# Files and artifacts
# ---------------------------------------------------------------------------


def test_files_put_get_list_delete(server, sb):
    """PUT creates parents and answers 201 {path, size}; GET returns the exact bytes as
    application/octet-stream; a directory lists its entries with types and sizes; code sees
    the file; DELETE answers 204 and then GET and DELETE are 404."""
    data = bytes(range(256)) * 3
    r = server.file_put(sb["id"], "a/b/c.bin", data)
    assert r.status == 201, r
    assert r.json == {"path": "a/b/c.bin", "size": len(data)}
    got = server.file_get(sb["id"], "a/b/c.bin")
    assert got.status == 200 and got.body == data
    assert got.headers.get("Content-Type", "").startswith("application/octet-stream")
    listing = server.file_get(sb["id"], "a/b")
    assert listing.status == 200, listing
    assert listing.json == {"path": "a/b", "entries": [{"name": "c.bin", "type": "file", "size": len(data)}]}
    top = server.file_get(sb["id"], "a").json
    assert [(e["name"], e["type"]) for e in top["entries"]] == [("b", "directory")], top
    assert server.run(sb["id"], "len(open('a/b/c.bin', 'rb').read())")["value"] == str(len(data))
    server.run(sb["id"], "open('a/from-code.txt', 'w').write('written by code')")
    assert server.file_bytes(sb["id"], "a/from-code.txt") == b"written by code"
    assert server.file_put(sb["id"], "a/b/c.bin", b"short").json["size"] == 5
    assert server.file_bytes(sb["id"], "a/b/c.bin") == b"short"
    d = server.file_delete(sb["id"], "a/b/c.bin")
    assert d.status == 204, d
    assert_error(server.file_get(sb["id"], "a/b/c.bin"), 404)
    assert_error(server.file_delete(sb["id"], "a/b/c.bin"), 404)
    assert_error(server.file_get(sb["id"], "never/there.txt"), 404)


def _artifact(body):
    return body.get("artifact", body) if isinstance(body, dict) else body


def test_save_a_file_as_an_artifact(server, sb):
    """POST .../artifacts {path, name} answers 201 with a Cairn artifact whose bytes are the
    file's (GET /artifacts/{id}); a missing file is 404."""
    content = f"report {uuid.uuid4().hex}\n".encode()
    server.run(sb["id"], f"open('report.txt', 'wb').write({content!r})")
    r = server.save_artifact(sb['id'], {"path": "report.txt", "name": "label.txt"})
    assert r.status == 201, r
    art = _artifact(r.json)
    assert art["id"] and art["name"] == "label.txt" and art["size"] == len(content), art
    got = server.http("GET", f"/artifacts/{art['id']}")
    assert got.status == 200 and got.body == content, got
    assert_error(server.save_artifact(sb['id'], {"path": "nope.txt"}), 404)


# ---------------------------------------------------------------------------
# Tenants
# ---------------------------------------------------------------------------


def test_another_tenant_gets_404_everywhere_and_changes_nothing(server, sb, other_key):
    """A second tenant's key gets 404 on the first tenant's sandbox for every route, does not
    see it listed, and none of its attempts changes the sandbox, its state or its files."""
    sid = sb["id"]
    server.run(sid, "owner_var = 'mine'")
    assert server.file_put(sid, "own.txt", b"own").status == 201
    art = _artifact(server.save_artifact(sid, {"path": "own.txt"}).json)

    t = {"token": other_key}
    attempts = [
        server.get(sid, **t),
        server.exec_raw(sid, {"code": "owner_var = 'theirs'"}, **t),
        server.exec_raw(sid, {"command": ["rm", "own.txt"]}, **t),
        server.file_get(sid, "own.txt", **t),
        server.file_put(sid, "own.txt", b"theirs", **t),
        server.file_put(sid, "planted.txt", b"theirs", **t),
        server.file_delete(sid, "own.txt", **t),
        server.save_artifact(sid, {"path": "own.txt"}, **t),
        server.reset(sid, **t),
        server.delete(sid, **t),
    ]
    for r in attempts:
        assert_error(r, 404)
    assert sid not in server.list_ids(**t)
    assert server.http("GET", f"/artifacts/{art['id']}", **t).status == 404

    assert server.get(sid).status == 200
    assert server.run(sid, "owner_var")["value"] == "'mine'"
    assert server.file_bytes(sid, "own.txt") == b"own"
    assert server.file_bytes(sid, "planted.txt") is None

    theirs = server.create(token=other_key)
    assert theirs["id"] not in server.list_ids()
    assert server.get(theirs["id"]).status == 404


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

BAD_CREATE = [
    {"language": "ruby"},
    {"language": 5},
    {"backend": "docker"},
    {"limits": {"timeout_ms": -1}},
    {"limits": {"timeout_ms": 0}},
    {"limits": {"timeout_ms": 3_600_001}},
    {"limits": {"timeout_ms": "1000"}},
    {"limits": {"timeout_ms": 1.5}},
    {"limits": {"timeout_ms": True}},
    {"limits": {"memory_bytes": MiB}},
    {"limits": {"memory_bytes": 64 * 1024 * MiB + 1}},
    {"limits": {"memory_bytes": -64 * MiB}},
    {"limits": {"cpu_millicores": 9}},
    {"limits": {"cpu_millicores": 64_001}},
    {"limits": {"processes": 0}},
    {"limits": {"processes": 4097}},
    {"limits": {"processes": -16}},
    {"limits": {"tmp_bytes": 1024}},
    {"limits": {"output_bytes": 100}},
    {"limits": {"output_bytes": 64 * MiB + 1}},
    {"limits": {"bogus_limit": 1}},
    {"limits": [1000]},
    {"limits": "none"},
    {"require": ["teleportation"]},
    {"require": "network_off"},
    {"require": [5]},
    {"ttl_seconds": 0},
    {"ttl_seconds": -5},
    {"ttl_seconds": 2_592_001},
    {"ttl_seconds": "10"},
    {"idle_ttl_seconds": 0},
    {"idle_ttl_seconds": -1},
    {"unknown_field": 1},
]


@pytest.mark.parametrize("body", BAD_CREATE, ids=lambda b: json.dumps(b)[:60])
def test_bad_create_is_400_and_makes_nothing(server, body):
    """Unknown language/backend/fields/capabilities, out-of-range or mistyped limits and TTLs:
    400 invalid_request, and no sandbox is made."""
    before = server.list_ids()
    r = server.create_raw(body)
    assert r.status == 400, r
    assert server.list_ids() == before
    assert_error(r, 400)  # the code itself: test_errors_use_the_documented_envelope


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'"a string"', b'{"language": "python"'],
                         ids=["text", "array", "string", "truncated"])
def test_create_with_a_body_that_is_not_an_object_is_400(server, raw):
    """A body that is not a JSON object is 400 invalid_request and makes nothing."""
    before = server.list_ids()
    r = server.create_raw(raw=raw)
    assert r.status == 400, r
    assert server.list_ids() == before
    assert_error(r, 400)


def test_capability_a_backend_lacks_is_422_naming_it(server):
    """Asking a backend for a capability it does not advertise is a 422 capability_unavailable
    listing it in error.missing, and makes nothing."""
    for b in server.capabilities()["backends"]:
        lacking = [c for c in CAPABILITIES if c not in b["capabilities"]]
        if b["available"] and lacking:
            before = server.list_ids()
            r = server.create_raw({"backend": b["name"], "require": [lacking[0]]})
            err = assert_error(r, 422, "capability_unavailable")
            assert err["missing"] == [lacking[0]], err
            assert server.list_ids() == before
            return
    pytest.skip("every available backend advertises every capability")


BAD_EXEC = [
    {},
    {"code": "ran_anyway = 1", "command": ["true"]},
    {"code": 5},
    {"code": None},
    {"command": "ls"},
    {"command": []},
    {"command": ["ls", 5]},
    {"code": "ran_anyway = 1", "stdin": "x"},
    {"command": ["true"], "timeout_ms": 0},
    {"command": ["true"], "timeout_ms": -1},
    {"command": ["true"], "timeout_ms": "5"},
    {"command": ["true"], "stdin": 5},
]


def test_bad_exec_is_400_and_runs_nothing(server, sb):
    """Neither or both of code/command, wrong types, stdin with code, bad timeout_ms: each is
    400 invalid_request, nothing ran, and the session's state is untouched."""
    server.run(sb["id"], "kept_var = 7")
    answers = [(body, server.exec_raw(sb["id"], body)) for body in BAD_EXEC]
    answers += [(raw, server.exec_raw(sb["id"], raw=raw)) for raw in (b"not json", b"[]")]
    assert [(b, r.status) for b, r in answers if r.status != 400] == []
    assert server.run(sb["id"], "kept_var")["value"] == "7"
    ran = server.run(sb["id"], "ran_anyway")
    assert ran["error"] and "NameError" in ran["error"], "a refused exec ran its code"
    for _, r in answers:
        assert_error(r, 400)


def test_exec_timeout_above_the_sandbox_limit_is_refused(server, default):
    """An exec's timeout_ms above the sandbox's own timeout is 400 invalid_request."""
    if "timeout" not in default["capabilities"]:
        pytest.skip(f"the default backend {default['name']} does not advertise timeout")
    sb = server.create(limits={"timeout_ms": 2000})
    assert_error(server.exec_raw(sb["id"], {"command": ["true"], "timeout_ms": 5000}), 400)


def test_code_over_1_mib_is_413_and_runs_nothing(server, sb):
    """Code larger than 1 MiB is refused with 413 and none of it runs; the session keeps its
    state."""
    server.run(sb["id"], "kept_var = 8")
    huge = "huge_ran = 1\n" + "#" * (MiB + 1024) + "\n"
    r = server.exec_raw(sb["id"], {"code": huge})
    assert server.run(sb["id"], "kept_var")["value"] == "8"
    out = server.run(sb["id"], "huge_ran")
    assert out["error"] and "NameError" in out["error"], "the refused huge code ran"
    assert r.status == 413, r


BAD_PATHS = ["../x", "..", "a/../../x", "./../x", "/etc/passwd", "a\x00b", "a/../../../etc/passwd"]


@pytest.mark.parametrize("path", BAD_PATHS, ids=repr)
def test_bad_paths_are_400_on_every_files_route(server, sb, path, tmp_path):
    """Paths that climb out, are absolute, empty or contain NUL: 400 on GET, PUT, DELETE and
    artifact export; nothing is written, removed or exported."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"host")
    bad = str(victim) if path.startswith("/") else path
    answers = {
        "GET": server.file_get(sb["id"], path),
        "PUT": server.file_put(sb["id"], bad, b"pwned"),
        "DELETE": server.file_delete(sb["id"], bad),
        "artifact": server.save_artifact(sb["id"], {"path": path}),
    }
    assert victim.read_bytes() == b"host"
    escaped = server.run(sb["id"], "import os\n[p for p in ('../x', '../../x') if os.path.exists(p)]")
    assert escaped["value"] == "[]", escaped
    assert {k: r.status for k, r in answers.items()} == dict.fromkeys(answers, 400), answers
    for r in answers.values():
        assert_error(r, 400, *BAD_PATH)


def test_an_empty_path_lists_work_and_names_no_file(server, sb):
    """GET files?path= lists /work itself; PUT, DELETE and artifact export of '' are 400
    (they need a file's name) and change nothing."""
    server.file_put(sb["id"], "kept.txt", b"x")
    listed = server.file_get(sb["id"], "")
    assert listed.status == 200 and [e["name"] for e in listed.json["entries"]] == ["kept.txt"], listed
    for r in (server.file_put(sb["id"], "", b"pwned"), server.file_delete(sb["id"], ""),
              server.save_artifact(sb["id"], {"path": ""})):
        assert_error(r, 400, *BAD_PATH)
    assert [e["name"] for e in server.file_get(sb["id"], "").json["entries"]] == ["kept.txt"]


def test_files_route_without_path_is_400(server, sb):
    """GET, PUT and DELETE .../files without a path parameter are 400."""
    assert_error(server.file_get(sb["id"], None), 400, *BAD_PATH)
    assert_error(server.file_put(sb["id"], None, b"x"), 400, *BAD_PATH)
    assert_error(server.file_delete(sb["id"], None), 400, *BAD_PATH)


def test_artifact_request_without_path_is_400(server, sb):
    """POST .../artifacts without a path (or with a wrong type) is 400."""
    for body in ({}, {"path": 5}, {"name": "x"}):
        assert_error(server.save_artifact(sb['id'], body), 400)


def test_unknown_sandbox_is_404_on_every_route(server):
    """An id that was never issued (well-formed or not) is 404 on every sandbox route."""
    for sid in ("sbx_" + "0" * 32, "sbx_zz", "nothing"):
        assert_error(server.get(sid), 404)
        assert_error(server.delete(sid), 404)
        assert_error(server.exec_raw(sid, {"code": "1"}), 404)
        assert_error(server.file_get(sid, "x"), 404)
        assert_error(server.file_put(sid, "x", b"x"), 404)
        assert_error(server.file_delete(sid, "x"), 404)
        assert_error(server.reset(sid), 404)
        assert_error(server.save_artifact(sid, {"path": "x"}), 404)


def test_every_route_needs_a_key(server, sb):
    """Every sandbox route is 401 without a key or with a wrong one, and nothing happens."""
    sid, api = sb["id"], server.api
    routes = [
        ("GET", f"{api}/capabilities", None),
        ("GET", api, None),
        ("POST", api, {}),
        ("GET", f"{api}/{sid}", None),
        ("DELETE", f"{api}/{sid}", None),
        ("POST", f"{api}/{sid}/exec", {"code": "unauth_ran = 1"}),
        ("GET", f"{api}/{sid}/files?path=x", None),
        ("PUT", f"{api}/{sid}/files?path=unauth.txt", None),
        ("DELETE", f"{api}/{sid}/files?path=x", None),
        ("POST", f"{api}/{sid}/artifacts", {"path": "x"}),
        ("POST", f"{api}/{sid}/snapshot", None),
        ("POST", f"{api}/{sid}/reset", None),
    ]
    before = server.list_ids()
    for method, path, body in routes:
        for headers in ({}, {"authorization": "Bearer wrong-key"}):
            if body is None:
                r = http_call(server.url, method, path, headers=headers)
            else:
                r = http_call(server.url, method, path, body, headers=headers)
            assert r.status == 401, f"{method} {path} with {headers or 'no key'} -> {r!r}"
    assert server.list_ids() == before
    assert server.get(sid).status == 200
    out = server.run(sid, "unauth_ran")
    assert out["error"] and "NameError" in out["error"]
    assert server.file_bytes(sid, "unauth.txt") is None


def test_openapi_documents_the_sandbox_routes(server):
    """/openapi.json documents the sandbox routes with the other routes."""
    r = server.http("GET", "/openapi.json")
    assert r.status == 200, r
    paths = list(r.json["paths"])
    api = server.api
    for piece in (api, "/capabilities", "/exec", "/files", "/artifacts", "/reset", "/snapshot"):
        assert any(p.startswith(api) and p.endswith(piece) for p in paths), (
            f"{piece} is not documented: {[p for p in paths if 'sandbox' in p]}")
