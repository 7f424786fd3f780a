"""Outbound calls (recovery webhooks, run channels) never reach loopback services unless the
server is started with --allow-loopback-outbound, whatever address the server listens on, and
nothing of such a service's reply is ever shown back to the tenant."""

from __future__ import annotations

import json
import uuid

import pytest

from cairncompat import WebhookReceiver, start_server, wait_until


@pytest.fixture
def strict_server(request, tmp_path_factory):
    """A loopback server started without --allow-loopback-outbound."""
    srv = start_server(tmp_path_factory, "outbound-strict", allow_loopback_outbound=False)
    yield srv
    srv.stop()


@pytest.fixture
def secret_service():
    """A loopback service whose reply must never leak."""
    secret = "internal-" + uuid.uuid4().hex
    with WebhookReceiver(respond=lambda call: (200, json.dumps({"secret": secret}).encode())) as rx:
        yield rx, secret


def _spellings(rx: WebhookReceiver) -> list:
    port = rx.base.rsplit(":", 1)[1]
    return [
        rx.url,
        f"http://localhost:{port}/hook",
        f"http://2130706433:{port}/hook",  # 127.0.0.1 as one decimal number
        f"http://0x7f.1:{port}/hook",  # hex and short form
        f"http://[::ffff:127.0.0.1]:{port}/hook",  # IPv4-mapped IPv6
    ]


def test_webhooks_to_loopback_are_refused_without_the_setting(strict_server, secret_service):
    rx, secret = secret_service
    for url in _spellings(rx):
        created = strict_server.ok(
            "POST", "/runs/probe", {"recoveryWebhook": url, "channels": [{"type": "webhook", "url": url}]})
        run_id = created["run"]["id"]

        attempt = strict_server.ok("POST", f"/runs/{run_id}/recover", {"reason": "probe"})["recoveryAttempt"]
        assert attempt["status"] == "failed", (url, attempt)
        assert attempt["httpStatus"] is None and attempt["responseBody"] is None, (url, attempt)
        assert "ssrf_blocked" in attempt["errorText"], (url, attempt)

        strict_server.ok("POST", f"/runs/{run_id}/cancel", {})

        def settled():
            rows = strict_server.ok("GET", f"/runs/{run_id}")["channelDeliveries"]
            return rows if rows and all(r["status"] != "pending" for r in rows) else None

        rows = wait_until(settled, timeout=10, desc=f"channel delivery to {url} settled")
        for row in rows:
            assert row["status"] == "failed", (url, row)
            assert row["httpStatus"] is None and row["responseBody"] is None, (url, row)
            assert "ssrf_blocked" in row["errorText"], (url, row)
        detail = strict_server.http("GET", f"/runs/{run_id}").text
        assert secret not in detail

    assert rx.received() == [], "the loopback service was called"


def test_loopback_is_reached_with_the_setting_and_long_replies_are_cut(tmp_path_factory):
    srv = start_server(tmp_path_factory, "outbound-allowed", allow_loopback_outbound=True)
    try:
        reply = b'"' + b"y" * 20_000 + b'"'
        with WebhookReceiver(respond=lambda call: (200, reply)) as rx:
            run_id = srv.ok("POST", "/runs/probe", {"recoveryWebhook": rx.url})["run"]["id"]
            attempt = srv.ok("POST", f"/runs/{run_id}/recover", {"reason": "probe"})["recoveryAttempt"]
            assert len(rx.received()) == 1
        assert (attempt["status"], attempt["httpStatus"]) == ("delivered", 200), attempt
        assert attempt["responseBody"] == reply.decode()[:8000]
    finally:
        srv.stop()
