"""Studio in a real browser (headless Chromium): sign in with an API key, watch a run live while
the unmodified `tidebase` SDK drives it, approve its gate from the page, sign out; a read-only
key sees no buttons; a wrong key is refused.

The DOM contract (the selectors below) is the one Studio's pages keep:
  /studio/sign-in   form#sign-in > input#key[name=key] + button; errors in p.error[role=alert]
  signed in         nav (links to /studio/runs ...), form#sign-out > button
  /studio/runs      table#runs > tr[data-run-id] (a to the run page, td.status); p.empty
  /studio/runs/ID   h1 (the id), #run-status, ol#steps > li[data-step][data-status],
                    section#gates > form.gate[data-gate] (textarea[name=comment],
                    button[name=decision][value=approve|reject]), form#cancel, ol#events >
                    li[data-seq]; the live region #live is refreshed over server-sent events
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any, Optional

import pytest

import studiokit
from cairncompat import http_call
from studiokit import ROOT, WAIT, make_key

pytestmark = pytest.mark.skipif(studiokit.missing() is not None, reason=studiokit.missing() or "")

COOKIE = "cairn_studio"


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def fresh_start(browser, server) -> None:
    """No Studio session: forget every cookie of the server's origin."""
    browser.get(server.url + "/studio/sign-in")
    browser.driver.delete_all_cookies()


def sign_in(browser, server, key: str) -> None:
    """Type `key` into the sign-in form and submit it (the caller checks where it lands)."""
    browser.get(server.url + "/studio/sign-in")
    browser.wait_css("form#sign-in input#key", "the sign-in form")
    form = browser.css("form#sign-in")
    assert (form.get_attribute("method") or "").lower() == "post", form.get_attribute("outerHTML")
    field = browser.css("input#key", form)
    assert field.get_attribute("name") == "key"
    field.clear()
    field.send_keys(key)
    browser.css("button", form).click()


def sign_in_ok(browser, server, key: str, shot: str) -> None:
    sign_in(browser, server, key)
    browser.wait_path("/studio/runs", "form#sign-out")
    browser.shot(shot)


def sign_out(browser, shot: str) -> None:
    browser.css("form#sign-out button").click()
    browser.wait_path("/studio/sign-in", "form#sign-in")
    browser.shot(shot)


def open_run_from_list(browser, server, run_id: str, shot: str) -> None:
    """From /studio/runs, click the run's link (reloading the list until the run is there)."""
    row_selector = f'table#runs tr[data-run-id="{run_id}"]'

    def listed() -> Any:
        if browser.path != "/studio/runs":
            browser.get(server.url + "/studio/runs")
        if browser.present(row_selector):
            return browser.css(row_selector)
        browser.driver.refresh()
        return None

    row = browser.wait(listed, f"run {run_id} in table#runs")
    browser.shot(shot + "-list")
    links = browser.all(f'a[href*="{run_id}"]', row) or browser.all("a", row)
    assert links, f"no link in the run's row: {row.get_attribute('outerHTML')}"
    links[0].click()
    browser.wait_path(f"/studio/runs/{run_id}", "#run-status")
    assert run_id in text_of(browser, "h1")
    browser.shot(shot)


# Reads of the run page: its live region may be swapped at any moment, so each re-reads when an
# element went stale under it.

def step_status(browser, name: str) -> Optional[str]:
    def read() -> Optional[str]:
        items = browser.all(f'#steps li[data-step="{name}"]')
        return items[0].get_attribute("data-status") if items else None

    return browser.read(read)


def run_status(browser) -> str:
    return browser.read(lambda: browser.css("#run-status").text.strip())


def text_of(browser, selector: str) -> str:
    return browser.read(lambda: browser.css(selector).text)


def decide_gate(browser, gate_id: str, decision: str, comment: str) -> None:
    """Type the comment into the gate's form and press its decision button."""
    form = f'form.gate[data-gate="{gate_id}"]'

    def act() -> None:
        field = browser.css(f'{form} textarea[name="comment"]')
        field.clear()
        field.send_keys(comment)
        browser.shot("run-gate-comment")
        browser.css(f'{form} button[name="decision"][value="{decision}"]').click()

    browser.read(act)


class GatedRun:
    """A workflow run by the `tidebase` SDK in a background thread: step "fetch", a gate that
    blocks until a human decides, step "finish", complete. The test releases each phase
    (`go`, then `go_finish`) so that what the page shows arrives while it is open, live."""

    def __init__(self, server, key: str):
        from tidebase import Tidebase

        self.tide = Tidebase(url=server.url, api_key=key)
        self.key = key
        self.run_id: Optional[str] = None
        self.started = threading.Event()
        self.go = threading.Event()
        self.go_finish = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._main, name="studio-sdk-run", daemon=True)

    def workflow(self, run, input):
        self.run_id = run.run_id
        self.started.set()
        if not self.go.wait(WAIT * 2):
            raise TimeoutError("the test never released the run")
        fetched = run.step("fetch", lambda: {"rows": 3, "source": input["source"]})
        decision = run.gate("publish", "Publish the quarterly report?", data=fetched,
                            poll_s=0.2, timeout_s=WAIT * 4)
        if not self.go_finish.wait(WAIT * 2):
            raise TimeoutError("the test never released the last step")
        finished = run.step("finish", lambda: {"published": decision.approved})
        return {"decision": decision.decision, "payload": decision.payload,
                "published": finished["published"]}

    def _main(self) -> None:
        try:
            self.result = self.tide.run("quarterly-report", self.workflow,
                                        input={"source": "ledger"})
        except BaseException as exc:  # reported by the test
            self.error = exc

    def start(self) -> "GatedRun":
        self.thread.start()
        assert self.started.wait(WAIT), f"the SDK never began the run (error: {self.error!r})"
        assert self.run_id
        return self

    def ok(self) -> bool:
        """True while the SDK's run has not failed (raises with its error once it has), for
        the waits on the page: a broken run ends them at once."""
        if self.error is not None:
            raise AssertionError(f"the SDK's run failed: {self.error!r}")
        return True

    def stop(self, server) -> None:
        """After the test, whatever happened: let the thread end (the run cancelled if still
        going: the SDK raises RunCancelled at its next step or gate poll)."""
        if self.thread.is_alive() and self.run_id:
            http_call(server.url, "POST", f"/runs/{self.run_id}/cancel",
                      {"reason": "test over"}, token=self.key)
        self.go.set()
        self.go_finish.set()
        self.thread.join(timeout=WAIT)


# ---------------------------------------------------------------------------
# A write key: sign in, watch a run live, approve its gate, sign out
# ---------------------------------------------------------------------------


def test_operator_watches_a_run_live_approves_its_gate_and_signs_out(browser, studio_server):
    server = studio_server
    key = make_key(server, "acme", "write")
    fresh_start(browser, server)

    # Signed out, Studio sends you to sign in.
    browser.get(server.url + "/studio")
    browser.wait_path("/studio/sign-in", "form#sign-in")
    assert browser.driver.get_cookie(COOKIE) is None
    browser.shot("sign-in-redirect")

    sign_in_ok(browser, server, key, "runs-empty")
    cookie = browser.driver.get_cookie(COOKIE)
    assert cookie is not None, f"no {COOKIE} cookie after signing in: {browser.driver.get_cookies()}"
    assert cookie.get("httpOnly") is True, cookie
    assert cookie.get("sameSite") == "Strict", cookie
    assert key not in cookie.get("value", ""), "the session cookie carries the API key itself"
    assert browser.present("nav a[href='/studio/runs']"), "no nav link to /studio/runs"
    # A fresh tenant: nothing to list yet.
    assert browser.present("p.empty"), browser.text()
    assert not browser.present("tr[data-run-id]")

    run = GatedRun(server, key).start()
    try:
        run_id = run.run_id
        open_run_from_list(browser, server, run_id, "run-started")
        assert not browser.present('#steps li[data-step="fetch"]')
        page = browser.mark()
        browser.wait_live()

        # Live: the step and then the gate show up on the open page, no reload.
        run.go.set()
        browser.wait(lambda: run.ok() and step_status(browser, "fetch") is not None,
                     "step fetch to appear live")
        browser.wait(lambda: run.ok() and step_status(browser, "fetch") == "completed",
                     "step fetch to show completed")
        gate_id = browser.wait(
            lambda: run.ok() and browser.css("section#gates form.gate[data-gate]").get_attribute("data-gate"),
            "the gate's form to appear live")
        assert browser.marked(page), "the page was reloaded; updates must arrive live"
        browser.shot("run-gate-pending")

        detail = http_call(server.url, "GET", f"/runs/{run_id}", token=key).json
        pending = [g for g in detail["gates"] if g["status"] == "pending"]
        assert [g["id"] for g in pending] == [gate_id], detail["gates"]
        assert browser.present(f'form.gate[data-gate="{gate_id}"] button[name="decision"][value="reject"]')
        assert browser.present("form#cancel"), "a write key on a running run sees form#cancel"

        # Approve with a comment: the form posts, Studio redirects back to the run page.
        comment = "Numbers checked against the ledger: ship it."
        before = browser.mark()
        decide_gate(browser, gate_id, "approve", comment)
        browser.wait_reloaded(before, "#run-status")
        assert browser.path == f"/studio/runs/{run_id}", browser.url
        browser.wait(lambda: not browser.present(f'form.gate[data-gate="{gate_id}"] button'),
                     "the gate's buttons to be gone once it is decided")
        gates_text = text_of(browser, "section#gates")
        assert "approve" in gates_text.lower(), gates_text
        assert run_status(browser) != "completed"
        browser.shot("run-gate-approved")

        # Live again: the last step and the run's completion.
        page = browser.mark()
        browser.wait_live()
        run.go_finish.set()
        browser.wait(lambda: run.ok() and run_status(browser) == "completed",
                     "#run-status to turn completed live")
        browser.wait(lambda: run.ok() and step_status(browser, "finish") == "completed",
                     "step finish to appear live, completed")
        assert browser.marked(page), "the page was reloaded; updates must arrive live"
        browser.shot("run-completed-live")

        run.thread.join(timeout=WAIT)
        assert not run.thread.is_alive(), "the SDK's run did not finish"
        assert run.error is None, f"the SDK's run failed: {run.error!r}"
        assert run.result["decision"] == "approved", run.result
        assert run.result["published"] is True
        assert comment in json.dumps(run.result["payload"]), (
            f"the comment is not in the gate's decision payload: {run.result['payload']!r}")

        # Loaded afresh, the finished run: no cancel, its steps and events.
        browser.driver.refresh()
        browser.wait_path(f"/studio/runs/{run_id}", "#run-status")
        assert run_status(browser) == "completed"
        assert step_status(browser, "fetch") == "completed"
        assert step_status(browser, "finish") == "completed"
        assert not browser.present("form#cancel"), "a completed run cannot be cancelled"
        assert not browser.present('button[name="decision"]')
        seqs = browser.read(lambda: [li.get_attribute("data-seq")
                                     for li in browser.all("ol#events li[data-seq]")])
        assert len(seqs) >= 5 and len(set(seqs)) == len(seqs), seqs
        assert all(s.isdigit() for s in seqs), seqs
        browser.shot("run-completed")

        # The list says so too (through the nav).
        browser.css("nav a[href='/studio/runs']").click()
        browser.wait_path("/studio/runs", f'tr[data-run-id="{run_id}"]')
        status = text_of(browser, f'tr[data-run-id="{run_id}"] td.status').strip()
        assert status == "completed", status
        browser.shot("runs-completed")
    finally:
        run.stop(server)

    # Sign out: the session is gone and Studio asks for a key again.
    sign_out(browser, "signed-out")
    assert browser.driver.get_cookie(COOKIE) is None, browser.driver.get_cookies()
    browser.get(server.url + "/studio/runs")
    browser.wait_path("/studio/sign-in", "form#sign-in")
    browser.shot("runs-after-sign-out")


# ---------------------------------------------------------------------------
# A read-only key sees the same run without a single button; other tenants' runs stay unseen
# ---------------------------------------------------------------------------


def test_a_read_only_key_sees_no_buttons_and_no_other_tenant(browser, studio_server):
    from tidebase import Tidebase

    server = studio_server
    writer = make_key(server, "globex", "write")
    reader = make_key(server, "globex", "read")
    tide = Tidebase(url=server.url, api_key=writer)
    session = tide.runs.attach("review", input={"doc": "q3"}, heartbeat_s=None)
    prompt = "Sign off the quarterly report?"
    session.gates.begin("sign-off", prompt)
    other = http_call(server.url, "POST", "/runs/elsewhere", {"input": {}}, token=ROOT)
    assert other.status in (200, 201), other
    other_id = other.json["run"]["id"]
    try:
        fresh_start(browser, server)

        # The writer sees the buttons (so their absence below means something).
        sign_in_ok(browser, server, writer, "writer-runs")
        open_run_from_list(browser, server, session.run_id, "writer-run")
        browser.wait_css('section#gates form.gate[data-gate] button[name="decision"][value="approve"]',
                         "the writer's approve button")
        assert browser.present('button[name="decision"][value="reject"]')
        assert browser.present("form#cancel")
        sign_out(browser, "writer-signed-out")

        # The reader: the pending gate is shown, nothing can be decided or cancelled.
        sign_in_ok(browser, server, reader, "reader-runs")
        assert not browser.present(f'tr[data-run-id="{other_id}"]'), "another tenant's run is listed"
        open_run_from_list(browser, server, session.run_id, "reader-run")
        gates_text = text_of(browser, "section#gates")
        assert prompt in gates_text, gates_text
        assert not browser.present('button[name="decision"]'), "a read-only key sees gate buttons"
        assert not browser.present("form#cancel"), "a read-only key sees form#cancel"
        assert not browser.present('textarea[name="comment"]')

        # Another tenant's run, by its address: not shown.
        browser.get(server.url + f"/studio/runs/{other_id}")
        browser.wait(lambda: browser.driver.execute_script("return document.readyState") == "complete",
                     "the page to load")
        assert not browser.present("#run-status"), "another tenant's run page is shown"
        assert other_id not in browser.read(lambda: " ".join(h.text for h in browser.all("h1")))
        browser.shot("reader-other-tenant")
        browser.get(server.url + "/studio/runs")
        browser.wait_path("/studio/runs", "form#sign-out")
        sign_out(browser, "reader-signed-out")
    finally:
        session.close()
        http_call(server.url, "POST", f"/runs/{session.run_id}/cancel", {"reason": "test over"},
                  token=writer)


# ---------------------------------------------------------------------------
# A wrong key is refused on the sign-in page
# ---------------------------------------------------------------------------


def test_a_wrong_key_is_refused(browser, studio_server):
    server = studio_server
    fresh_start(browser, server)
    wrong = "cairn-not-a-key-8d41f07e"
    sign_in(browser, server, wrong)
    error = browser.wait_css('p.error[role="alert"]', "the sign-in error")
    assert browser.path == "/studio/sign-in", browser.url
    assert error.is_displayed() and error.text.strip(), error.get_attribute("outerHTML")
    assert browser.present("form#sign-in input#key"), "the form is offered again"
    assert browser.driver.get_cookie(COOKIE) is None, browser.driver.get_cookies()
    assert wrong not in browser.driver.page_source, "the page echoes the key typed"
    browser.shot("sign-in-wrong-key")

    # Still signed out.
    browser.get(server.url + "/studio/runs")
    browser.wait_path("/studio/sign-in", "form#sign-in")


# ---------------------------------------------------------------------------
# An admin browses a workspace as of a snapshot, then revokes a key from the keys page
# ---------------------------------------------------------------------------


def test_an_admin_browses_a_workspace_at_a_snapshot_and_revokes_a_key(browser, studio_server):
    boto3 = pytest.importorskip("boto3")
    tigris = pytest.importorskip("tigris_boto3_ext")
    import botocore.config

    server = studio_server
    admin = make_key(server, "initech", "admin")
    doomed = make_key(server, "initech", "read")
    # An S3 key of the same tenant, made the way the S3 suite makes them (`cairn keys create --s3`).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "s3"))
    from s3compat import s3_keys
    akid, secret = s3_keys(server, "initech", "admin")
    s3 = boto3.client("s3", endpoint_url=server.s3_url, aws_access_key_id=akid, aws_secret_access_key=secret,
                      region_name="us-east-1",
                      config=botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
    bucket = "reports-studio"
    tigris.create_snapshot_bucket(s3, bucket)
    s3.put_object(Bucket=bucket, Key="q3/summary.txt", Body=b"first draft", ContentType="text/plain")
    version = tigris.get_snapshot_version(tigris.create_snapshot(s3, bucket, snapshot_name="before-edit"))
    s3.put_object(Bucket=bucket, Key="q3/summary.txt", Body=b"final numbers, much longer", ContentType="text/plain")

    fresh_start(browser, server)
    sign_in_ok(browser, server, admin, "admin-runs")

    # The bucket, its snapshot in the tree, and the object as of the snapshot.
    browser.get(server.url + "/studio/workspaces")
    browser.wait_css(f'tr[data-bucket="{bucket}"] a', "the bucket in the list").click()
    browser.wait_css("svg#tree", "the snapshot tree")
    browser.shot("workspace")
    browser.wait_css(f'li[data-snapshot="{version}"] a', "the snapshot in the tree list").click()
    browser.wait(lambda: "snapshot" in browser.url and version in browser.url, "the snapshot view")
    browser.wait_css("#objects-h", "the objects heading")
    folder = browser.wait(lambda: next((a for a in browser.all("tr.folder a") if "q3" in a.text), None),
                          "the q3/ folder")
    folder.click()
    row = browser.wait_css('tr[data-key="q3/summary.txt"]', "the object at the snapshot")
    browser.shot("workspace-at-snapshot")
    size = row.find_elements("css selector", "td")[1].get_attribute("title")
    assert size == f"{len(b'first draft')} bytes", size
    href = row.find_element("css selector", "a.download").get_attribute("href")
    cookie = browser.driver.get_cookie(COOKIE)["value"]
    got = http_call(server.url, "GET", href[len(server.url):], headers={"Cookie": f"{COOKIE}={cookie}"})
    assert got.status == 200 and got.body == b"first draft", (got.status, got.body[:100])

    # The keys page: revoke the read key; it stops working at once.
    assert http_call(server.url, "GET", "/runs", token=doomed).status == 200
    browser.get(server.url + "/studio/keys")
    rows = browser.wait(lambda: browser.all("table#keys tr[data-key-id]"), "the key list")
    prefix = doomed[:14]
    target = browser.wait(lambda: next((r for r in browser.all("table#keys tr[data-key-id]") if prefix in r.text), None),
                          "the read key's row")
    assert len(rows) >= 2
    browser.shot("keys")
    target.find_element("css selector", "form.revoke button").click()
    browser.wait(lambda: next((r for r in browser.all("table#keys tr[data-key-id]")
                               if prefix in r.text and "revoked" in r.text), None), "the key shown revoked")
    browser.shot("keys-revoked")
    assert http_call(server.url, "GET", "/runs", token=doomed).status == 401
    sign_out(browser, "admin-signed-out")
