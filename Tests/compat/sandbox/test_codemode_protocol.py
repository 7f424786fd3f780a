"""py-code-mode's session-server protocol under /codemode (issue 15; contract §A10, §A3.3).

py-code-mode itself cannot be installed here (not on the registry, needs Python 3.12), so
`SessionClient` below sends exactly what py-code-mode 0.10.0's
`py_code_mode.execution.container.client.SessionClient` sends: httpx, JSON bodies, an
`X-Session-ID` header it makes up (uuid4) on every call and `Authorization: Bearer <token>`;
and it checks answers the way that client reads them (raise_for_status, status 200 where the
client insists on it, the keys it indexes). Its `remote_url` mode is what
`ContainerExecutor(ContainerConfig(remote_url=...))` uses, so a pass here means py-code-mode
runs code in Cairn sandboxes unchanged.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Optional

import httpx
import pytest

from sbcompat import ROOT_KEY

NOT_INSTALLED = "pyjokes"  # a real PyPI package that is not on this machine


class SessionClient:
    """The wire behaviour of py-code-mode 0.10.0's SessionClient, synchronously."""

    def __init__(self, base_url: str, auth_token: Optional[str], session_id: Optional[str] = None,
                 timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.session_id = session_id or str(uuid.uuid4())
        self.auth_token = auth_token
        self.client = httpx.Client(timeout=timeout)

    def _headers(self) -> dict:
        headers = {"X-Session-ID": self.session_id}
        if self.auth_token:
            headers["Authorization"] = f"Bearer {self.auth_token}"
        return headers

    def close(self) -> None:
        self.client.close()

    # -- raw calls (for status checks) ----------------------------------------

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        if body is None:
            return self.client.post(self.base_url + path, headers=self._headers(), **kw)
        return self.client.post(self.base_url + path, json=body, headers=self._headers(), **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(self.base_url + path, headers=self._headers(), **kw)

    def delete(self, path: str) -> httpx.Response:
        return self.client.delete(self.base_url + path, headers=self._headers())

    # -- SessionClient's methods -------------------------------------------------

    def execute(self, code: str, timeout: Optional[float] = None) -> dict:
        payload: dict = {"code": code}
        if timeout is not None:
            payload["timeout"] = timeout
        r = self.post("/execute", payload)
        r.raise_for_status()
        data = r.json()
        if "session_id" in data:
            self.session_id = data["session_id"]
        for key in ("value", "stdout", "error", "execution_time_ms"):
            assert key in data, f"/execute answer lacks {key}: {data}"
        return data

    def health(self) -> dict:
        r = self.client.get(f"{self.base_url}/health")
        r.raise_for_status()
        return r.json()

    def info(self) -> dict:
        r = self.get("/info")
        r.raise_for_status()
        return r.json()

    def reset(self) -> dict:
        r = self.post("/reset")
        r.raise_for_status()
        return r.json()

    def install_deps(self, packages: list) -> dict:
        r = self.post("/install_deps", {"packages": packages}, timeout=300.0)
        assert r.status_code == 200, f"install_deps -> {r.status_code} {r.text[:300]}"
        return r.json()

    def uninstall_deps(self, packages: list) -> dict:
        r = self.post("/uninstall_deps", {"packages": packages}, timeout=120.0)
        assert r.status_code == 200, f"uninstall_deps -> {r.status_code} {r.text[:300]}"
        return r.json()

    def list_tools(self) -> list:
        r = self.get("/api/tools")
        r.raise_for_status()
        return r.json()

    def search_tools(self, query: str, limit: int = 10) -> list:
        r = self.get("/api/tools/search", params={"query": query, "limit": limit})
        r.raise_for_status()
        return r.json()

    def list_skills(self) -> list:
        r = self.get("/api/skills")
        r.raise_for_status()
        return r.json()

    def search_skills(self, query: str, limit: int = 5) -> list:
        r = self.get("/api/skills/search", params={"query": query, "limit": limit})
        r.raise_for_status()
        return r.json()

    def get_skill(self, name: str) -> Optional[dict]:
        r = self.get(f"/api/skills/{name}")
        r.raise_for_status()
        return r.json()

    def create_skill(self, name: str, source: str, description: str) -> dict:
        r = self.post("/api/skills", {"name": name, "source": source, "description": description})
        assert r.status_code == 200, f"create_skill -> {r.status_code} {r.text[:300]}"
        return r.json()

    def delete_skill(self, name: str) -> bool:
        r = self.delete(f"/api/skills/{name}")
        r.raise_for_status()
        return r.json()

    def list_artifacts(self) -> list:
        r = self.get("/api/artifacts")
        r.raise_for_status()
        return r.json()

    def load_artifact(self, name: str) -> Any:
        r = self.get(f"/api/artifacts/{name}")
        assert r.status_code != 404, f"artifact {name} not found"
        r.raise_for_status()
        return r.json()

    def save_artifact(self, name: str, data: Any, description: str = "",
                      metadata: Optional[dict] = None) -> dict:
        r = self.post("/api/artifacts", {"name": name, "data": data, "description": description,
                                         "metadata": metadata})
        r.raise_for_status()
        return r.json()

    def delete_artifact(self, name: str) -> httpx.Response:
        return self.delete(f"/api/artifacts/{name}")

    def api_list_deps(self) -> list:
        r = self.get("/api/deps")
        r.raise_for_status()
        return r.json()

    def api_add_dep(self, package: str) -> dict:
        r = self.post("/api/deps/add", {"package": package}, timeout=300.0)
        assert r.status_code == 200, f"api_add_dep -> {r.status_code} {r.text[:300]}"
        return r.json()

    def api_remove_dep(self, package: str) -> dict:
        r = self.post("/api/deps/remove", {"package": package})
        assert r.status_code == 200, f"api_remove_dep -> {r.status_code} {r.text[:300]}"
        return r.json()

    def api_sync_deps(self) -> dict:
        r = self.post("/api/deps/sync", timeout=300.0)
        r.raise_for_status()
        return r.json()


@pytest.fixture
def connect(server):
    """connect(session_id=None, token=ROOT_KEY) -> a SessionClient on /codemode."""
    made = []

    def make(session_id: Optional[str] = None, token: Optional[str] = ROOT_KEY) -> SessionClient:
        c = SessionClient(server.url + "/codemode", token, session_id)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="module")
def other_key(server):
    return server.tenant_key("codemode-other")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------
# Health and auth
# ---------------------------------------------------------------------------


def test_health_needs_no_auth_and_says_healthy(connect):
    """GET /codemode/health without credentials is {"status": "healthy", "uptime_seconds": n}
    and nothing else (no session count)."""
    body = connect(token=None).health()
    assert set(body) == {"status", "uptime_seconds"}, body
    assert body["status"] == "healthy"
    assert isinstance(body["uptime_seconds"], (int, float)) and body["uptime_seconds"] >= 0


PROTECTED = [
    ("POST", "/execute", {"code": "unauth_ran = 1"}),
    ("GET", "/info", None),
    ("POST", "/reset", None),
    ("POST", "/install_deps", {"packages": [NOT_INSTALLED]}),
    ("POST", "/uninstall_deps", {"packages": [NOT_INSTALLED]}),
    ("GET", "/api/tools", None),
    ("GET", "/api/tools/search?query=x&limit=10", None),
    ("GET", "/api/skills", None),
    ("GET", "/api/skills/search?query=x&limit=5", None),
    ("GET", "/api/skills/unauth_skill", None),
    ("POST", "/api/skills", {"name": "unauth_skill", "source": "async def run():\n    return 1\n",
                             "description": "x"}),
    ("DELETE", "/api/skills/unauth_skill", None),
    ("GET", "/api/artifacts", None),
    ("GET", "/api/artifacts/unauth_artifact", None),
    ("POST", "/api/artifacts", {"name": "unauth_artifact", "data": "x", "description": "",
                                "metadata": None}),
    ("DELETE", "/api/artifacts/unauth_artifact", None),
    ("GET", "/api/deps", None),
    ("POST", "/api/deps/add", {"package": NOT_INSTALLED}),
    ("POST", "/api/deps/remove", {"package": NOT_INSTALLED}),
    ("POST", "/api/deps/sync", None),
]


def test_every_route_but_health_is_401_without_or_with_a_wrong_bearer(server, connect):
    """Every /codemode route except /health answers 401 with no Authorization, a wrong bearer
    token, a bearer without a token or another scheme, and none of those calls has an effect."""
    sid = str(uuid.uuid4())
    for method, path, body in PROTECTED:
        for auth in (None, "Bearer wrong-token", "Bearer", f"Basic {ROOT_KEY}", f"bearer{ROOT_KEY}"):
            headers = {"X-Session-ID": sid}
            if auth is not None:
                headers["Authorization"] = auth
            r = httpx.request(method, f"{server.url}/codemode{path}", headers=headers,
                              json=body, timeout=30)
            assert r.status_code == 401, f"{method} {path} with {auth!r} -> {r.status_code} {r.text[:200]}"
    c = connect(session_id=sid)
    out = c.execute("unauth_ran")
    assert out["error"] and "NameError" in out["error"], "an unauthenticated /execute ran"
    assert c.get_skill("unauth_skill") is None
    assert c.get("/api/artifacts/unauth_artifact").status_code == 404


def test_there_is_no_session_listing(connect):
    """GET /codemode/sessions is 404 even with a valid key (no session enumeration)."""
    assert connect().get("/sessions").status_code == 404


# ---------------------------------------------------------------------------
# Execute
# ---------------------------------------------------------------------------


def test_execute_answers_the_documented_shape(connect):
    """/execute answers exactly {value, stdout, error, execution_time_ms, session_id}, echoing
    the X-Session-ID, with stdout captured and a non-negative time."""
    c = connect()
    sid = c.session_id
    r = c.post("/execute", {"code": "print('hi')"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"value", "stdout", "error", "execution_time_ms", "session_id"}, body
    assert body["session_id"] == sid
    assert body["stdout"] == "hi\n" and body["error"] is None and body["value"] is None
    assert isinstance(body["execution_time_ms"], (int, float)) and body["execution_time_ms"] >= 0


@pytest.mark.parametrize("code, value", [
    ("41 + 1", 42),
    ("'abc'", "abc"),
    ("[1, 2, 'three']", [1, 2, "three"]),
    ("(1, 2)", [1, 2]),
    ("{'a': 1, 'b': [True, None]}", {"a": 1, "b": [True, None]}),
    ("1.5", 1.5),
    ("x_stmt = 1", None),
    ("complex(1, 2)", "(1+2j)"),
], ids=["int", "str", "list", "tuple", "dict", "float", "statement", "other-object"])
def test_execute_value_is_serialized_as_py_code_mode_does(connect, code, value):
    """`value` is the last expression serialized like the container server's serialize_value:
    JSON scalars, lists and objects as themselves, tuples as lists, anything else as str()."""
    out = connect().execute(code)
    assert out["error"] is None, out
    assert out["value"] == value and type(out["value"]) is type(value), out["value"]


def test_variables_persist_per_session_and_sessions_are_separate(connect):
    """A variable set in one X-Session-ID is there on its next execute and a NameError in another."""
    a, b = connect(), connect()
    a.execute("shared_name = 'from a'")
    assert a.execute("shared_name")["value"] == "from a"
    out = b.execute("shared_name")
    assert out["error"] and "NameError" in out["error"], out
    b.execute("shared_name = 'from b'")
    assert a.execute("shared_name")["value"] == "from a"


def test_missing_session_header_gets_a_generated_session(server):
    """Without X-Session-ID the answer carries a new session_id; that id then names the session
    that holds the variable; two header-less calls get different ids."""
    headers = {"Authorization": f"Bearer {ROOT_KEY}"}
    first = httpx.post(f"{server.url}/codemode/execute", json={"code": "generated = 5"},
                       headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    sid = first.json()["session_id"]
    assert isinstance(sid, str) and sid, first.json()
    again = httpx.post(f"{server.url}/codemode/execute", json={"code": "generated"},
                       headers={**headers, "X-Session-ID": sid}, timeout=30)
    assert again.json()["value"] == 5, again.json()
    other = httpx.post(f"{server.url}/codemode/execute", json={"code": "1"}, headers=headers, timeout=30)
    assert other.json()["session_id"] != sid


def test_errors_come_back_in_error(connect):
    """An exception is a 200 whose `error` names it, with a null value; the session survives."""
    c = connect()
    c.execute("keep = 3")
    out = c.execute("1 / 0")
    assert out["error"] and "ZeroDivisionError" in out["error"], out
    assert out["value"] is None
    assert c.execute("keep")["value"] == 3


def test_bad_execute_body_is_a_client_error(connect):
    """An /execute body without code, or not JSON, is a 4xx (never a 5xx, never run)."""
    c = connect()
    for r in (c.post("/execute", {}), c.post("/execute", {"code": 5}),
              c.client.post(c.base_url + "/execute", content=b"not json",
                            headers={**c._headers(), "content-type": "application/json"})):
        assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])


COUNTER_LOOP = """
import time
n = 0
while True:
    n += 1
    with open('counter.txt', 'w') as f:
        f.write(str(n))
    time.sleep(0.02)
"""

OBSERVE = """
import json, time
def read():
    try:
        with open('counter.txt') as f:
            return int(f.read() or 0)
    except (OSError, ValueError):
        return None
before = read()
# A canary runs the same loop for 25 iterations: a live counter loop would move as far.
for canary in range(1, 26):
    with open('canary.txt', 'w') as f:
        f.write(str(canary))
    time.sleep(0.02)
print(json.dumps([before, read()]))
"""


def test_timeout_really_stops_the_code(connect):
    """An execute with a timeout of an endless loop writing a counter file answers with an error
    after the timeout, and the counter never moves again while a canary loop runs 25 times."""
    c = connect()
    # The session's sandbox and interpreter start with its first execute (and the server's
    # sandbox backends are probed on first use): start them first, so the one second is the
    # loop's alone even on a busy machine.
    warm = c.execute("0")
    assert warm["error"] is None, warm
    # On a loaded machine the loop may not get its first turn within one second; then the
    # proof is tried again with a longer timeout (each attempt must still time out).
    for timeout in (1.0, 3.0, 9.0):
        out = c.execute(COUNTER_LOOP, timeout=timeout)
        assert out["error"], f"a timed-out execute must report an error: {out}"
        assert timeout * 900 <= out["execution_time_ms"] < timeout * 1000 + 15_000, out
        seen = c.execute(OBSERVE)
        assert seen["error"] is None, seen
        before, after = json.loads(seen["stdout"].strip().splitlines()[-1])
        if before:
            break
    assert before, "the loop never wrote its counter, even with 9 s: the proof is inconclusive"
    assert after == before, f"the counter moved from {before} to {after} after the timeout"


def test_reset_clears_only_that_session(connect):
    """POST /reset answers {"status": "reset", "session_id"}; that session's variables are gone,
    another session's stay."""
    a, b = connect(), connect()
    a.execute("to_forget = 1")
    b.execute("to_keep = 2")
    assert a.reset() == {"status": "reset", "session_id": a.session_id}
    out = a.execute("to_forget")
    assert out["error"] and "NameError" in out["error"], out
    assert b.execute("to_keep")["value"] == 2


# ---------------------------------------------------------------------------
# Info, tools, skills
# ---------------------------------------------------------------------------


SKILL = '''"""Double a number."""


async def run(n: int) -> int:
    return n * 2
'''


def test_info_lists_tools_skills_and_an_artifacts_path(connect):
    """GET /info is {tools, skills, artifacts_path}: no tools, skills as {name, description}
    including one just created."""
    c = connect()
    name = unique("info_skill")
    c.create_skill(name, SKILL, "Double a number")
    try:
        info = c.info()
        assert set(info) == {"tools", "skills", "artifacts_path"}, info
        assert info["tools"] == []
        assert isinstance(info["artifacts_path"], str)
        assert {"name": name, "description": "Double a number"} in info["skills"], info["skills"]
    finally:
        c.delete_skill(name)


def test_tools_are_empty(connect):
    """With no tools configured, /api/tools and /api/tools/search are empty lists."""
    c = connect()
    assert c.list_tools() == []
    assert c.search_tools("curl") == []


def test_skills_create_get_list_search_delete(connect):
    """A skill created with POST /api/skills (200) comes back with its source and parameters,
    is listed without source, is found by search, and DELETE answers true then false."""
    c = connect()
    name = unique("double")
    created = c.create_skill(name, SKILL, "Double a number")
    assert {"name", "description", "parameters", "source"} <= set(created), created
    assert created["name"] == name and created["source"] == SKILL
    assert created["description"] == "Double a number"
    params = {p["name"]: p for p in created["parameters"]}
    assert set(params) == {"n"}, created["parameters"]
    assert params["n"]["type"] == "integer" and params["n"]["required"] is True, params

    got = c.get_skill(name)
    assert got is not None and got["source"] == SKILL and got["name"] == name
    listed = {s["name"]: s for s in c.list_skills()}
    assert name in listed and "source" not in listed[name], listed.get(name)
    assert {"name", "description", "parameters"} <= set(listed[name])
    assert name in [s["name"] for s in c.search_skills("double a number")]

    assert c.delete_skill(name) is True
    assert c.delete_skill(name) is False
    assert c.get_skill(name) is None
    assert name not in [s["name"] for s in c.list_skills()]


@pytest.mark.parametrize("name, source", [
    ("sync_run", "def run():\n    return 1\n"),
    ("broken", "async def run(:\n"),
    ("no_run", "x = 1\n"),
    ("bad-name", "async def run():\n    return 1\n"),
    ("list", "async def run():\n    return 1\n"),
], ids=["sync-run", "syntax-error", "no-run", "not-an-identifier", "reserved-name"])
def test_bad_skills_are_400_and_not_stored(connect, name, source):
    """A sync run, a syntax error, no run, a name that is no identifier or a reserved name is a
    400, and nothing is stored under that name."""
    c = connect()
    r = c.post("/api/skills", {"name": name, "source": source, "description": "bad"})
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert name not in [s["name"] for s in c.list_skills()]


# ---------------------------------------------------------------------------
# Artifacts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    "hello, artifact",
    {"a": [1, 2, {"b": None}], "c": "d", "e": 1.5},
    [1, "two", 3.5, False],
], ids=["str", "dict", "list"])
def test_artifacts_round_trip(connect, data):
    """POST /api/artifacts saves str, dict and list data that GET /api/artifacts/{name} returns
    equal; it is listed with {name, path, description, metadata, created_at}; DELETE answers
    null, and afterwards GET and DELETE are 404."""
    c = connect()
    name = unique("art")
    saved = c.save_artifact(name, data, description="a test artifact", metadata={"k": "v"})
    assert {"name", "path", "description", "metadata", "created_at"} <= set(saved), saved
    assert saved["name"] == name and saved["description"] == "a test artifact"
    assert c.load_artifact(name) == data
    listed = {a["name"]: a for a in c.list_artifacts()}
    assert name in listed, list(listed)
    assert set(listed[name]) == {"name", "path", "description", "metadata", "created_at"}, listed[name]
    assert listed[name]["metadata"].get("k") == "v", listed[name]
    r = c.delete_artifact(name)
    assert r.status_code == 200 and r.json() is None, (r.status_code, r.text)
    assert c.get(f"/api/artifacts/{name}").status_code == 404
    assert c.delete_artifact(name).status_code == 404


# ---------------------------------------------------------------------------
# Tenants
# ---------------------------------------------------------------------------


def test_sessions_skills_and_artifacts_belong_to_the_tenant(connect, other_key):
    """Another tenant using the same X-Session-ID does not reach the first tenant's variables,
    and sees none of its skills or artifacts."""
    mine = connect()
    mine.execute("tenant_secret = 'mine'")
    skill, art = unique("tenant_skill"), unique("tenant_art")
    mine.create_skill(skill, SKILL, "Double a number")
    mine.save_artifact(art, "mine")
    try:
        theirs = connect(session_id=mine.session_id, token=other_key)
        out = theirs.execute("tenant_secret")
        assert out["error"] and "NameError" in out["error"], out
        assert theirs.get_skill(skill) is None
        assert skill not in [s["name"] for s in theirs.list_skills()]
        assert theirs.get(f"/api/artifacts/{art}").status_code == 404
        assert art not in [a["name"] for a in theirs.list_artifacts()]
        assert theirs.delete_artifact(art).status_code == 404
        assert mine.load_artifact(art) == "mine"
        assert mine.execute("tenant_secret")["value"] == "mine"
    finally:
        mine.delete_skill(skill)
        mine.delete_artifact(art)


# ---------------------------------------------------------------------------
# Deps: installing needs network, and the sandbox has none
# ---------------------------------------------------------------------------


def _names_in(entries: list, package: str) -> bool:
    return any(package in str(e) for e in entries)


def test_deps_routes_report_failed_installs_honestly(connect):
    """Installing a package the machine lacks through /install_deps, /api/deps/add and
    /api/deps/sync reports it in `failed` and installs nothing, and the code still cannot
    import it; uninstalling removes nothing."""
    c = connect()
    assert isinstance(c.api_list_deps(), list)

    installed = c.install_deps([NOT_INSTALLED])
    assert {"installed", "already_present", "failed"} <= set(installed), installed
    assert installed["installed"] == [] and _names_in(installed["failed"], NOT_INSTALLED), installed

    added = c.api_add_dep(NOT_INSTALLED)
    assert {"installed", "already_present", "failed"} <= set(added), added
    assert added["installed"] == [] and _names_in(added["failed"], NOT_INSTALLED), added

    synced = c.api_sync_deps()
    assert {"installed", "already_present", "failed"} <= set(synced), synced
    assert synced["installed"] == [], synced

    out = c.execute(f"import {NOT_INSTALLED}")
    assert out["error"] and "ModuleNotFoundError" in out["error"], out

    removed = c.uninstall_deps([NOT_INSTALLED])
    assert {"removed", "failed"} <= set(removed), removed
    assert removed["removed"] == [], removed

    dropped = c.api_remove_dep(NOT_INSTALLED)
    assert isinstance(dropped.get("removed"), bool), dropped
    assert NOT_INSTALLED not in c.api_list_deps()


@pytest.mark.parametrize("package", ["six; rm -rf /", "", "-e .", "pkg @ http://x/y.whl"],
                         ids=["shell", "empty", "option", "url"])
def test_invalid_package_specs_are_400(connect, package):
    """A package spec with shell characters, an option, a URL or nothing is a 400 on
    /api/deps/add and is not recorded."""
    c = connect()
    r = c.post("/api/deps/add", {"package": package})
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert package not in c.api_list_deps()
