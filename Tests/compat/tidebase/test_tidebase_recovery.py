"""Recovery webhooks (contract §1.13): a failed run's recoveryWebhook gets a signed
run.resume call after the failure commits; the receiver may resume the run inline while
the worker's /fail request is still open, so the server must hold no lock across the call."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tidebase import Tidebase, verify_webhook_signature

SECRET = "recovery-secret-for-tests"


class Receiver:
    """A loopback webhook endpoint that verifies signatures with the SDK's own helper and,
    like Tidebase's webhook handler, resumes the workflow before answering."""

    def __init__(self, secret: str, on_resume):
        self.calls: list = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                signature = self.headers.get("x-tidebase-signature")
                receiver.calls.append((body, signature, self.headers.get("user-agent")))
                if not verify_webhook_signature(body, signature, secret):
                    self.send_response(401)
                    self.end_headers()
                    self.wfile.write(b'{"error":"bad signature"}')
                    return
                event = json.loads(body)
                on_resume(event)
                reply = json.dumps({"accepted": True, "runId": event["runId"]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/tidebase"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_failed_run_is_resumed_inline_by_a_signed_recovery_webhook(server_factory):
    srv = server_factory(env={"CAIRN_WEBHOOK_SECRET": SECRET})
    tide = Tidebase(url=srv.url)
    calls = Counter()
    crash = {"on": True}

    def workflow(run, input):
        plan = run.step("plan", lambda: calls.update(["plan"]) or {"n": 2})

        def write():
            calls["write"] += 1
            if crash["on"]:
                raise RuntimeError("boom")
            return {"words": plan["n"] * 100}

        return run.step("write", write)

    def resume(event):
        assert event["type"] == "run.resume"
        crash["on"] = False
        # The worker's POST /fail is still waiting for this call to finish.
        tide.run(event["workflowName"], workflow, run_id=event["runId"])

    receiver = Receiver(SECRET, resume)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            tide.run("recoverable", workflow, input={"doc": 1}, recovery_webhook=receiver.url)
    finally:
        receiver.close()

    assert len(receiver.calls) == 1
    body, signature, agent = receiver.calls[0]
    event = json.loads(body)
    assert list(event) == ["type", "runId", "workflowName", "reason", "attempt"]
    assert event["reason"] == "run_failed" and event["workflowName"] == "recoverable"
    assert signature.startswith("sha256=")
    assert agent.startswith("cairn-recovery/")

    detail = srv.detail(event["runId"])
    assert detail["run"]["status"] == "completed"
    assert detail["run"]["result"] == {"words": 200}
    assert calls == Counter(plan=1, write=2)
    attempts = detail["recoveryAttempts"]
    assert [(a["status"], a["httpStatus"], a["reason"]) for a in attempts] == [("delivered", 200, "run_failed")]
    types = [e["type"] for e in detail["events"]]
    assert types.index("run.failed") < types.index("recovery.started") < types.index("run.completed")
    assert types[-1] == "recovery.delivered"
    assert [e["seq"] for e in detail["events"]] == list(range(1, len(types) + 1))


def test_receiver_rejecting_the_signature_is_recorded_as_failed(server_factory):
    srv = server_factory(env={"CAIRN_WEBHOOK_SECRET": "the-server-secret"})
    receiver = Receiver("another-secret", lambda event: pytest.fail("must not resume"))
    try:
        run = srv.ok("POST", "/runs/manual-recover", {"recoveryWebhook": receiver.url})["run"]
        reply = srv.ok("POST", f"/runs/{run['id']}/recover", {"reason": "operator"})
    finally:
        receiver.close()
    attempt = reply["recoveryAttempt"]
    assert attempt["status"] == "failed" and attempt["httpStatus"] == 401
    assert attempt["reason"] == "operator" and attempt["webhookUrl"] == receiver.url
    assert "bad signature" in attempt["responseBody"]
    assert srv.detail(run["id"])["run"]["status"] == "pending"
