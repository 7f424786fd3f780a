"""Object notifications (Tigris' `object_notifications` bucket setting), end to end.

Set with `PATCH /{bucket}` (tigris-boto3-ext's `set_bucket_notifications` for https URLs; the
same request signed by hand for the loopback receiver, since the 0.8 client insists on https),
delivered by the server's delivery service to a local webhook receiver, read back masked with
`get_bucket_metadata`, and logged at `GET /{bucket}?notification-deliveries`.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

tigris = pytest.importorskip("tigris_boto3_ext", reason="the S3 suite needs tigris-boto3-ext==0.8.0")

from tigris_boto3_ext._transport import signed_request  # noqa: E402

from cairncompat import WebhookReceiver  # noqa: E402
from s3compat import new_bucket_name, put, s3_client, s3_keys  # noqa: E402

pytestmark = pytest.mark.cairn_only


def patch(s3, bucket, settings):
    r = signed_request(
        s3, "PATCH", bucket, headers={"Content-Type": "application/json", "Accept": "application/json"},
        body=json.dumps({"object_notifications": settings}))
    return json.loads(r.body) if r.body.strip() else {}


def deliveries(s3, bucket, **query):
    r = signed_request(s3, "GET", bucket, query={"notification-deliveries": None, **query},
                       headers={"Accept": "application/json"})
    return json.loads(r.body)["Deliveries"]


def events(receiver):
    return [e for call in receiver.received() for e in call["json"]["events"]]


def wait_for(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.fixture
def receiver():
    with WebhookReceiver() as r:
        yield r


def test_every_change_is_delivered_with_its_shape(s3, bucket, receiver):
    patch(s3, bucket, {"enabled": True, "web_hook": receiver.url, "auth": {"token": "s3cr3t"}})
    put(s3, bucket, "a.txt", b"hello")
    s3.copy_object(Bucket=bucket, Key="b.txt", CopySource={"Bucket": bucket, "Key": "a.txt"})
    tigris.rename_object(s3, bucket, "b.txt", "c.txt")
    s3.delete_object(Bucket=bucket, Key="a.txt")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=1, Body=b"x" * 10)
    s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    wait_for(lambda: len(events(receiver)) == 5)
    got = events(receiver)
    assert [(e["eventName"], e["object"]["key"]) for e in got] == [
        ("OBJECT_CREATED_PUT", "a.txt"), ("OBJECT_CREATED_COPY", "b.txt"), ("OBJECT_RENAMED", "c.txt"),
        ("OBJECT_DELETED", "a.txt"), ("OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD", "big")]
    first = got[0]
    assert set(first) == {"eventVersion", "eventSource", "eventName", "eventTime", "bucket", "object"}
    assert first["bucket"] == bucket and first["eventTime"].endswith("Z")
    assert first["object"] == {"key": "a.txt", "size": 5, "eTag": "5d41402abc4b2a76b9719d911017c592",
                               "versionId": None}
    assert got[2]["object"]["sourceKey"] == "b.txt"
    for call in receiver.received():
        assert call["headers"]["authorization"] == "Bearer s3cr3t"
        assert call["headers"]["content-type"] == "application/json"
    # The receiver has a call before the server has its reply, so the log can still say pending.
    wait_for(lambda: [d["status"] for d in deliveries(s3, bucket)] == ["delivered"] * 5)
    log = deliveries(s3, bucket)
    assert len(log) == 5 and {d["status"] for d in log} == {"delivered"}
    assert log[0]["event"]["eventName"] == "OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD"
    assert log[0]["httpStatus"] == 200 and log[0]["attempts"] == 1


def test_filters_decide_what_is_sent(s3, bucket, receiver):
    patch(s3, bucket, {"enabled": True, "web_hook": receiver.url,
                       "filter": 'WHERE `key` REGEXP "^results/" AND size > 3 OR `Event-Type` = "OBJECT_DELETED"'})
    put(s3, bucket, "results/small", b"ab")
    put(s3, bucket, "results/big", b"abcdef")
    put(s3, bucket, "other/big", b"abcdef")
    s3.delete_object(Bucket=bucket, Key="other/big")
    # A last matching event: once it has arrived, everything recorded before it has been sent.
    put(s3, bucket, "results/last", b"abcdef")
    wait_for(lambda: len(events(receiver)) >= 3 and events(receiver)[-1]["object"]["key"] == "results/last")
    assert [(e["eventName"], e["object"]["key"]) for e in events(receiver)] == [
        ("OBJECT_CREATED_PUT", "results/big"), ("OBJECT_DELETED", "other/big"), ("OBJECT_CREATED_PUT", "results/last")]


def test_basic_auth_and_metadata_masks_credentials(s3, bucket, receiver):
    patch(s3, bucket, {"enabled": True, "web_hook": receiver.url, "filter": "",
                       "auth": {"basic_user": "agent", "basic_pass": "pw"}})
    meta = tigris.get_bucket_metadata(s3, bucket)
    assert meta["raw"]["object_notifications"] == {
        "enabled": True, "web_hook": receiver.url, "filter": "", "auth": {"basic_user": "agent", "basic_pass": "****"}}
    assert meta["notifications"]["enabled"] is True and meta["notifications"]["url"] == receiver.url
    put(s3, bucket, "k", b"v")
    wait_for(lambda: len(receiver.received()) == 1)
    assert receiver.received()[0]["headers"]["authorization"] == "Basic " + base64.b64encode(b"agent:pw").decode()


def test_clearing_and_pausing_stop_deliveries(s3, bucket, receiver):
    patch(s3, bucket, {"enabled": False, "web_hook": receiver.url})
    put(s3, bucket, "paused", b"1")
    patch(s3, bucket, {})
    assert "object_notifications" not in tigris.get_bucket_metadata(s3, bucket)["raw"]
    put(s3, bucket, "cleared", b"1")
    # A canary bucket proves the delivery service ran after both writes.
    canary = new_bucket_name("canary")
    s3.create_bucket(Bucket=canary)
    patch(s3, canary, {"enabled": True, "web_hook": receiver.url})
    put(s3, canary, "x", b"1")
    wait_for(lambda: len(receiver.received()) == 1)
    assert [e["bucket"] for e in events(receiver)] == [canary]
    assert deliveries(s3, bucket) == []


def test_the_https_client_call_is_accepted(s3, bucket):
    tigris.set_bucket_notifications(s3, bucket, "https://hooks.example.com/x", token="t",
                                    event_filter='WHERE `Event-Type` = "OBJECT_DELETED"')
    meta = tigris.get_bucket_metadata(s3, bucket)
    assert meta["notifications"] == {"enabled": True, "url": "https://hooks.example.com/x",
                                     "filter": 'WHERE `Event-Type` = "OBJECT_DELETED"', "auth": "token"}
    tigris.set_bucket_notifications(s3, bucket, None)
    assert tigris.get_bucket_metadata(s3, bucket)["notifications"]["enabled"] is False


def test_failures_are_retried_and_logged(s3, bucket):
    answers = iter([(500, b"busy"), (200, b"ok")])
    with WebhookReceiver(lambda call: next(answers, (200, b"ok"))) as flaky:
        patch(s3, bucket, {"enabled": True, "web_hook": flaky.url})
        put(s3, bucket, "k", b"v")
        wait_for(lambda: any(d["status"] == "delivered" for d in deliveries(s3, bucket)))
        assert len(flaky.received()) == 2
        assert flaky.received()[0]["body"] == flaky.received()[1]["body"]
        log = deliveries(s3, bucket)
        assert log[0]["attempts"] == 2 and log[0]["httpStatus"] == 200


def test_events_that_pile_up_share_a_post(s3, bucket):
    # The receiver holds its first answer, so the next events are due together.
    import threading
    gate = threading.Event()

    def respond(call):
        gate.wait(10)
        return 200, b"ok"

    with WebhookReceiver(respond) as slow:
        patch(s3, bucket, {"enabled": True, "web_hook": slow.url})
        put(s3, bucket, "first", b"1")
        wait_for(lambda: len(slow.received()) == 1)
        for i in range(20):
            put(s3, bucket, f"k{i:02d}", b"x")
        gate.set()
        wait_for(lambda: sum(len(c["json"]["events"]) for c in slow.received()) == 21)
        assert len(slow.received()) < 21
        keys = [e["object"]["key"] for c in slow.received() for e in c["json"]["events"]]
        assert keys == ["first"] + [f"k{i:02d}" for i in range(20)]


@pytest.mark.parametrize("settings, fragment", [
    ({"enabled": True, "web_hook": 5}, "web_hook"),
    ({"enabled": True, "web_hook": "ftp://x"}, "web_hook"),
    ({"enabled": "yes", "web_hook": "https://x"}, "enabled"),
    ({"web_hook": "https://x", "filter": "WHERE `key` REGEXP \"(\""}, "filter"),
    ({"web_hook": "https://x", "filter": "WHERE color = 'red'"}, "filter"),
    ({"web_hook": "https://x", "filter": 7}, "filter"),
    ({"web_hook": "https://x", "auth": {"token": "t", "basic_user": "u"}}, "auth"),
    ({"web_hook": "https://x", "auth": {"basic_user": "u"}}, "auth"),
    ({"web_hook": "https://x", "auth": {"token": ""}}, "auth"),
    ({"web_hook": "https://x", "surprise": 1}, "surprise"),
])
def test_bad_settings_are_refused_and_change_nothing(s3, bucket, settings, fragment):
    patch(s3, bucket, {"enabled": True, "web_hook": "https://kept.example.com/"})
    with pytest.raises(tigris.TigrisAPIError) as e:
        patch(s3, bucket, settings)
    assert e.value.status_code == 400 and e.value.code == "InvalidArgument"
    assert fragment in e.value.message
    assert tigris.get_bucket_metadata(s3, bucket)["raw"]["object_notifications"]["web_hook"] == \
        "https://kept.example.com/"


def test_read_only_keys_read_the_log_but_cannot_change_settings(server, s3, bucket):
    reader = s3_client(server, *s3_keys(server, "s3-main", "read"))
    assert deliveries(reader, bucket) == []
    with pytest.raises(tigris.TigrisAPIError) as e:
        patch(reader, bucket, {"enabled": True, "web_hook": "https://x.example.com/"})
    assert e.value.status_code == 403


def test_another_tenant_sees_nothing(server, bucket):
    other = s3_client(server, *s3_keys(server, "s3-other-notifications", "admin"))
    with pytest.raises(tigris.TigrisAPIError) as e:
        deliveries(other, bucket)
    assert e.value.status_code == 404


# --- the event stream ---------------------------------------------------------------


class EventStream:
    """A SigV4-signed `GET /bucket?notification-events` read line by line."""

    def __init__(self, server, creds, bucket, after=None, last_event_id=None):
        import http.client
        from urllib.parse import urlsplit
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        query = "notification-events=" + (f"&after={after}" if after is not None else "")
        url = f"{server.s3_url}/{bucket}?{query}"
        request = AWSRequest(method="GET", url=url, headers={"Accept": "text/event-stream"})
        if last_event_id is not None:
            request.headers["Last-Event-ID"] = str(last_event_id)
        S3SigV4Auth(Credentials(*creds), "s3", "us-east-1").add_auth(request)
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        self.conn.request("GET", parts.path + "?" + parts.query, headers=dict(request.headers.items()))
        self.response = self.conn.getresponse()

    def next_event(self):
        """(id, event) of the next event, skipping comments."""
        seq, data = None, None
        while True:
            line = self.response.fp.readline().decode().rstrip("\n")
            if line.startswith("id: "):
                seq = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                return seq, data

    def close(self):
        self.conn.close()


def test_the_event_stream_replays_then_follows_and_resumes(server, creds, s3, bucket):
    # No web hook: the events are kept for the stream only.
    patch(s3, bucket, {"enabled": True, "filter": "WHERE `key` NOT LIKE 'skip%'"})
    put(s3, bucket, "a", b"1")
    put(s3, bucket, "skipped", b"1")
    put(s3, bucket, "b", b"1")
    stream = EventStream(server, creds, bucket)
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("content-type") == "text/event-stream"
        assert [stream.next_event()[0] for _ in range(2)] == [1, 2]
        s3.delete_object(Bucket=bucket, Key="a")
        seq, event = stream.next_event()
        assert seq == 3 and event["eventName"] == "OBJECT_DELETED" and event["object"]["key"] == "a"
    finally:
        stream.close()
    resumed = EventStream(server, creds, bucket, last_event_id=2)
    try:
        assert resumed.next_event()[0] == 3
    finally:
        resumed.close()
    after = EventStream(server, creds, bucket, after=1)
    try:
        seq, event = after.next_event()
        assert seq == 2 and event["object"]["key"] == "b"
    finally:
        after.close()
    assert deliveries(s3, bucket) == []  # nothing to POST without a web hook


def test_the_event_stream_refuses_bad_input_and_other_tenants(server, creds, bucket):
    bad = EventStream(server, creds, bucket, after="-1")
    assert bad.response.status == 400
    bad.close()
    other = EventStream(server, s3_keys(server, "s3-other-stream", "admin"), bucket)
    assert other.response.status == 404
    other.close()
