"""The Tigris agent kit's flows end to end, with boto3, boto3's IAM client and a local web-hook
receiver.

The agent kit is not on PyPI, so `AgentKit` below makes the calls its functions make, as the
contract records them (shared/contracts/tigris-s3.md §2.10, §2.12, §2.13): create_workspace
(snapshot bucket + TTL lifecycle rule + scoped key), teardown_workspace, checkpoint, restore,
create_forks / teardown_forks (each fork with its own key), set/clear_object_notifications.
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest

tigris = pytest.importorskip("tigris_boto3_ext", reason="the S3 suite needs tigris-boto3-ext==0.8.0")

from botocore.exceptions import ClientError  # noqa: E402
from tigris_boto3_ext import (  # noqa: E402
    create_fork,
    create_snapshot,
    create_snapshot_bucket,
    force_delete_bucket,
    get_object_from_snapshot,
    get_snapshot_version,
)
from tigris_boto3_ext._transport import signed_request  # noqa: E402

from cairncompat import WebhookReceiver, wait_until  # noqa: E402
from s3compat import get, new_bucket_name, put, s3_client  # noqa: E402
from test_iam import EDITOR, READ_ONLY, iam_client, role_document  # noqa: E402

pytestmark = pytest.mark.cairn_only


class AgentKit:
    """The agent kit's calls, on one admin S3 client and one IAM client."""

    def __init__(self, server, s3, iam):
        self.server, self.s3, self.iam = server, s3, iam

    def scoped_key(self, bucket, role, policy_name=None):
        key = self.iam.create_access_key()["AccessKey"]
        actions = EDITOR if role == "Editor" else READ_ONLY
        arn = self.iam.create_policy(PolicyName=policy_name or f"{bucket}-key-policy",
                                     PolicyDocument=role_document(bucket, actions))["Policy"]["Arn"]
        self.iam.attach_user_policy(UserName=key["AccessKeyId"], PolicyArn=arn)
        return {"access_key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"], "policy_arn": arn}

    def revoke(self, creds):
        # Best effort, in the agent kit's order.
        for call in (lambda: self.iam.detach_user_policy(UserName=creds["access_key_id"], PolicyArn=creds["policy_arn"]),
                     lambda: self.iam.delete_policy(PolicyArn=creds["policy_arn"]),
                     lambda: self.iam.delete_access_key(AccessKeyId=creds["access_key_id"])):
            try:
                call()
            except ClientError:
                pass

    def create_workspace(self, name, ttl_days=None, credentials_role=None):
        create_snapshot_bucket(self.s3, name)
        if ttl_days:
            self.s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [{
                "ID": "workspace-ttl", "Status": "Enabled", "Filter": {"Prefix": ""},
                "Expiration": {"Days": ttl_days}}]})
        return {"bucket": name,
                "credentials": self.scoped_key(name, credentials_role) if credentials_role else None}

    def teardown_workspace(self, workspace):
        if workspace["credentials"]:
            self.revoke(workspace["credentials"])
        force_delete_bucket(self.s3, workspace["bucket"])

    def checkpoint(self, bucket, name=None):
        return get_snapshot_version(create_snapshot(self.s3, bucket, snapshot_name=name))

    def restore(self, bucket, version, fork_name, credentials_role=None):
        create_fork(self.s3, fork_name, bucket, snapshot_version=version)
        return {"bucket": fork_name,
                "credentials": self.scoped_key(fork_name, credentials_role) if credentials_role else None}

    def create_forks(self, bucket, count, credentials_role=None):
        version = self.checkpoint(bucket)
        return [self.restore(bucket, version, f"{bucket}-fork-{i}", credentials_role) for i in range(count)]

    def teardown_forks(self, forks):
        for fork in forks:
            self.teardown_workspace(fork)

    def set_object_notifications(self, bucket, url, filter="", auth=None):
        settings = {"enabled": True, "web_hook": url, "filter": filter}
        if auth:
            settings["auth"] = auth
        self._patch(bucket, {"object_notifications": settings})

    def clear_object_notifications(self, bucket):
        self._patch(bucket, {"object_notifications": {}})

    def _patch(self, bucket, body):
        signed_request(self.s3, "PATCH", bucket, headers={"Content-Type": "application/json",
                                                         "Accept": "application/json"}, body=json.dumps(body))

    def client(self, creds):
        return s3_client(self.server, creds["access_key_id"], creds["secret"])


@pytest.fixture
def kit(server, creds, s3):
    return AgentKit(server, s3, iam_client(server, *creds))


def refused(block) -> str:
    with pytest.raises(ClientError) as e:
        block()
    return e.value.response["Error"]["Code"]


def test_a_ttl_workspace_with_an_editor_key_and_a_read_only_key_then_teardown(kit, s3):
    name = new_bucket_name("ak-ws")
    workspace = kit.create_workspace(name, ttl_days=7, credentials_role="Editor")
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPHeaders"]["x-tigris-enable-snapshot"] == "true"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert rules[0]["ID"] == "workspace-ttl" and rules[0]["Expiration"]["Days"] == 7

    other = new_bucket_name("ak-other")
    s3.create_bucket(Bucket=other)
    editor = kit.client(workspace["credentials"])
    put(editor, name, "notes.md", b"plan")
    assert get(editor, name, "notes.md") == b"plan"
    assert refused(lambda: editor.list_objects_v2(Bucket=other)) == "AccessDenied"
    assert refused(lambda: put(editor, other, "x", b"x")) == "AccessDenied"

    reader_creds = kit.scoped_key(name, "ReadOnly", policy_name=f"{name}-reader-policy")
    reader = kit.client(reader_creds)
    assert get(reader, name, "notes.md") == b"plan"
    assert [o["Key"] for o in reader.list_objects_v2(Bucket=name)["Contents"]] == ["notes.md"]
    assert refused(lambda: put(reader, name, "y", b"y")) == "AccessDenied"
    assert refused(lambda: reader.delete_object(Bucket=name, Key="notes.md")) == "AccessDenied"
    kit.revoke(reader_creds)

    kit.teardown_workspace(workspace)
    # The keys are gone with the workspace: their next request is refused.
    assert refused(lambda: editor.list_objects_v2(Bucket=other)) in ("InvalidAccessKeyId", "AccessDenied")
    assert refused(lambda: reader.list_objects_v2(Bucket=other)) in ("InvalidAccessKeyId", "AccessDenied")
    assert refused(lambda: kit.iam.get_policy(PolicyArn=workspace["credentials"]["policy_arn"])) == "NoSuchEntity"
    assert refused(lambda: s3.head_bucket(Bucket=name)) in ("404", "NoSuchBucket")


def test_forks_with_their_own_keys_checkpoint_and_restore(kit, s3):
    name = new_bucket_name("ak-src")
    source = kit.create_workspace(name)
    put(s3, name, "state.json", b'{"step": 1}')
    before = kit.checkpoint(name, "step-1")
    put(s3, name, "state.json", b'{"step": 2}')

    forks = kit.create_forks(name, 3, credentials_role="Editor")
    clients = [kit.client(f["credentials"]) for f in forks]
    assert len({f["credentials"]["access_key_id"] for f in forks}) == 3
    for i, (fork, client) in enumerate(zip(forks, clients)):
        assert get(client, fork["bucket"], "state.json") == b'{"step": 2}'
        put(client, fork["bucket"], "result.txt", f"agent {i}".encode())
        # A fork's key reaches its fork only: not the source, not a sibling.
        assert refused(lambda: client.list_objects_v2(Bucket=name)) == "AccessDenied"
        sibling = forks[(i + 1) % 3]["bucket"]
        assert refused(lambda: get(client, sibling, "state.json")) == "AccessDenied"
    assert get(s3, forks[1]["bucket"], "result.txt") == b"agent 1"
    assert "Contents" not in s3.list_objects_v2(Bucket=name, Prefix="result")

    restored = kit.restore(name, before, new_bucket_name("ak-restored"), credentials_role="ReadOnly")
    assert get(kit.client(restored["credentials"]), restored["bucket"], "state.json") == b'{"step": 1}'
    assert get_object_from_snapshot(s3, name, "state.json", before)["Body"].read() == b'{"step": 1}'
    assert get(s3, name, "state.json") == b'{"step": 2}'

    kit.teardown_forks(forks + [restored])
    for client in clients:
        assert refused(lambda: client.list_objects_v2(Bucket=name)) in ("InvalidAccessKeyId", "AccessDenied")
    assert get(s3, name, "state.json") == b'{"step": 2}'
    kit.teardown_workspace(source)


def test_notifications_filtered_delivered_retried_and_cleared(kit, s3):
    name = new_bucket_name("ak-notify")
    workspace = kit.create_workspace(name)
    token = uuid.uuid4().hex
    answers = iter([(503, b"busy")])
    # Set once the receiver has accepted a POST carrying the delete (the last event).
    delete_accepted = threading.Event()

    def answer(call):
        status, body = next(answers, (200, b"ok"))
        if status == 200 and any(e["eventName"] == "OBJECT_DELETED" for e in call["json"]["events"]):
            delete_accepted.set()
        return status, body

    with WebhookReceiver(answer) as receiver:
        kit.set_object_notifications(name, receiver.url, filter='WHERE `key` REGEXP "^results/"',
                                     auth={"token": token})
        put(s3, name, "scratch/tmp.txt", b"ignored")
        put(s3, name, "results/answer.json", b"{}")
        s3.delete_object(Bucket=name, Key="results/answer.json")

        def distinct_events():
            seen, out = set(), []
            for call in receiver.received():
                for e in call["json"]["events"]:
                    ident = (e["eventName"], e["object"]["key"], e["eventTime"])
                    if ident not in seen:
                        seen.add(ident)
                        out.append(e)
            return out

        def log():
            r = signed_request(s3, "GET", name, query={"notification-deliveries": None},
                               headers={"Accept": "application/json"})
            return json.loads(r.body)["Deliveries"]

        assert delete_accepted.wait(timeout=15)
        # The server records each answer right after it; the log shows both delivered.
        wait_until(lambda: len(log()) == 2 and all(d["status"] == "delivered" for d in log()),
                   desc="both deliveries logged as delivered")
        assert [(e["eventName"], e["object"]["key"]) for e in distinct_events()] == [
            ("OBJECT_CREATED_PUT", "results/answer.json"), ("OBJECT_DELETED", "results/answer.json")]
        assert all(c["headers"].get("authorization") == f"Bearer {token}" for c in receiver.received())
        # The first POST was refused and its events sent again.
        bodies = [c["body"] for c in receiver.received()]
        assert len(bodies) > len(set(bodies)) or len(receiver.received()) > 1
        assert max(d["attempts"] for d in log()) >= 2

        kit.clear_object_notifications(name)
        put(s3, name, "results/late.json", b"{}")
        # Events are recorded in the transaction of the change: after clearing, none is.
        assert len(log()) == 2
    kit.teardown_workspace(workspace)
