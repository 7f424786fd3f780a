"""IAM on the S3 listener (contract §2.12): boto3's IAM client against `POST /` signed for
service `iam`, and the scoped keys it makes enforced on boto3 S3 calls.

The agent kit's sequence: CreateAccessKey, CreatePolicy, AttachUserPolicy (the access key id is
the user name); teardown DetachUserPolicy, DeletePolicy, DeleteAccessKey. Editor = s3:* on the
key's bucket, ReadOnly = GetObject/ListBucket/GetBucketLocation on it.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import uuid

import pytest

from s3compat import boto3, new_bucket_name, new_tenant, s3_client, s3_error, s3_keys
import botocore.config
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cairn_only


def iam_client(server, akid, secret):
    return boto3.client(
        "iam",
        endpoint_url=server.s3_url,
        region_name="auto",
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def role_document(bucket: str, actions) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": actions,
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        }],
    })


EDITOR = "s3:*"
READ_ONLY = ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"]


def iam_error(code: str, status: int):
    """The block must raise a ClientError with IAM error `code` and HTTP `status`."""
    return s3_error(code, status)


@pytest.fixture(scope="module")
def tenant():
    return new_tenant()


@pytest.fixture(scope="module")
def admin(server, tenant):
    return s3_keys(server, tenant, "admin")


@pytest.fixture(scope="module")
def iam(server, admin):
    return iam_client(server, *admin)


@pytest.fixture(scope="module")
def admin_s3(server, admin):
    return s3_client(server, *admin)


@pytest.fixture
def own_bucket(admin_s3):
    name = new_bucket_name("iam")
    admin_s3.create_bucket(Bucket=name)
    admin_s3.put_object(Bucket=name, Key="seed.txt", Body=b"seed")
    return name


@pytest.fixture
def other_bucket(admin_s3):
    name = new_bucket_name("iamx")
    admin_s3.create_bucket(Bucket=name)
    admin_s3.put_object(Bucket=name, Key="secret.txt", Body=b"secret")
    return name


def scoped_key(iam, bucket, document):
    """The agent kit's sequence; returns (key id, secret, policy arn)."""
    key = iam.create_access_key()["AccessKey"]
    arn = iam.create_policy(PolicyName=f"{bucket}-key-policy", PolicyDocument=document)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=key["AccessKeyId"], PolicyArn=arn)
    return key["AccessKeyId"], key["SecretAccessKey"], arn


def teardown(iam, akid, arn):
    iam.detach_user_policy(UserName=akid, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    iam.delete_access_key(AccessKeyId=akid)


def signed_post(server, akid, secret, body: bytes, service="iam"):
    """A raw `POST /` signed by botocore's SigV4 signer: (status, body text)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if service == "s3":
        headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    request = AWSRequest(method="POST", url=server.s3_url + "/", data=body, headers=headers)
    SigV4Auth(Credentials(akid, secret), service, "auto").add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=body, method="POST", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(raw, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


# ---------------------------------------------------------------------------
# Every action
# ---------------------------------------------------------------------------


def test_access_keys_create_list_update_delete(server, iam):
    created = iam.create_access_key()["AccessKey"]
    akid = created["AccessKeyId"]
    assert created["UserName"] == akid
    assert created["Status"] == "Active"
    assert 16 <= len(akid) <= 64 and akid.replace("_", "").isalnum()
    assert len(created["SecretAccessKey"]) >= 40
    assert created["CreateDate"]

    listed = {k["AccessKeyId"]: k for k in iam.list_access_keys()["AccessKeyMetadata"]}
    assert listed[akid]["Status"] == "Active"
    one = iam.list_access_keys(UserName=akid)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in one] == [akid]

    iam.update_access_key(AccessKeyId=akid, Status="Inactive")
    assert iam.list_access_keys(UserName=akid)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    iam.update_access_key(AccessKeyId=akid, Status="Active")
    assert iam.list_access_keys(UserName=akid)["AccessKeyMetadata"][0]["Status"] == "Active"

    iam.delete_access_key(AccessKeyId=akid)
    assert akid not in {k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]}
    with iam_error("NoSuchEntity", 404):
        iam.delete_access_key(AccessKeyId=akid)


def test_policies_create_get_list_attach_detach_delete(server, iam, own_bucket):
    key = iam.create_access_key()["AccessKey"]["AccessKeyId"]
    name = f"{own_bucket}-key-policy"
    policy = iam.create_policy(PolicyName=name, PolicyDocument=role_document(own_bucket, EDITOR),
                               Description="editor")["Policy"]
    arn = policy["Arn"]
    assert arn.startswith("arn:aws:iam::") and arn.endswith(f":policy/{name}")
    assert policy["PolicyName"] == name and policy["PolicyId"] and policy["AttachmentCount"] == 0

    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert got["Arn"] == arn and got["PolicyId"] == policy["PolicyId"] and got["IsAttachable"]
    assert arn in [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert iam.list_policies(Scope="AWS")["Policies"] == []

    iam.attach_user_policy(UserName=key, PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    attached = iam.list_attached_user_policies(UserName=key)["AttachedPolicies"]
    assert attached == [{"PolicyName": name, "PolicyArn": arn}]
    assert arn in [p["Arn"] for p in iam.list_policies(OnlyAttached=True)["Policies"]]

    with iam_error("DeleteConflict", 409):
        iam.delete_policy(PolicyArn=arn)
    with iam_error("EntityAlreadyExists", 409):
        iam.create_policy(PolicyName=name, PolicyDocument=role_document(own_bucket, EDITOR))

    iam.detach_user_policy(UserName=key, PolicyArn=arn)
    assert iam.list_attached_user_policies(UserName=key)["AttachedPolicies"] == []
    with iam_error("NoSuchEntity", 404):
        iam.detach_user_policy(UserName=key, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    with iam_error("NoSuchEntity", 404):
        iam.get_policy(PolicyArn=arn)
    iam.delete_access_key(AccessKeyId=key)


def test_listings_page(server, iam):
    prefix = "page-" + uuid.uuid4().hex[:8]
    doc = role_document("any-bucket", READ_ONLY)
    names = sorted(f"{prefix}-{i}" for i in range(3))
    for name in names:
        iam.create_policy(PolicyName=name, PolicyDocument=doc)
    seen, marker = [], None
    while True:
        kw = {"MaxItems": 2, **({"Marker": marker} if marker else {})}
        page = iam.list_policies(**kw)
        seen += [p["PolicyName"] for p in page["Policies"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert [n for n in seen if n.startswith(prefix)] == names
    arn_of = {p["PolicyName"]: p["Arn"] for p in iam.list_policies()["Policies"]}
    for name in names:
        iam.delete_policy(PolicyArn=arn_of[name])


# ---------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------


def test_non_admin_keys_may_not_call_iam(server, tenant):
    for scope in ("read", "write"):
        client = iam_client(server, *s3_keys(server, tenant, scope))
        with iam_error("AccessDenied", 403):
            client.create_access_key()
        with iam_error("AccessDenied", 403):
            client.list_policies()


def test_a_created_key_without_policies_reads_and_writes_but_is_not_admin(server, iam, own_bucket):
    key = iam.create_access_key()["AccessKey"]
    s3 = s3_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    s3.put_object(Bucket=own_bucket, Key="free.txt", Body=b"x")
    assert s3.get_object(Bucket=own_bucket, Key="free.txt")["Body"].read() == b"x"
    assert own_bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with iam_error("AccessDenied", 403):
        iam_client(server, key["AccessKeyId"], key["SecretAccessKey"]).create_access_key()
    iam.delete_access_key(AccessKeyId=key["AccessKeyId"])


@pytest.mark.parametrize("document", [
    "not json",
    json.dumps({"Version": "2012-10-17"}),
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}),
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]}),
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                                         "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}),
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "NotResource": "*"}]}),
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                                         "Principal": "*"}]}),
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                         "Resource": "arn:aws:s3:::" + "a" * 7000}]}),
])
def test_malformed_policies_are_refused_and_not_stored(server, iam, document):
    name = "bad-" + uuid.uuid4().hex[:8]
    with iam_error("MalformedPolicyDocument", 400):
        iam.create_policy(PolicyName=name, PolicyDocument=document)
    assert name not in [p["PolicyName"] for p in iam.list_policies()["Policies"]]


def test_unknown_entities_and_bad_parameters(server, iam):
    key = iam.create_access_key()["AccessKey"]["AccessKeyId"]
    missing_key = "CK" + "0" * 18
    missing_arn = iam.create_policy(PolicyName="probe-" + uuid.uuid4().hex[:8],
                                    PolicyDocument=role_document("b", READ_ONLY))["Policy"]["Arn"]
    iam.delete_policy(PolicyArn=missing_arn)
    with iam_error("NoSuchEntity", 404):
        iam.get_policy(PolicyArn=missing_arn)
    with iam_error("NoSuchEntity", 404):
        iam.delete_policy(PolicyArn=missing_arn)
    with iam_error("NoSuchEntity", 404):
        iam.attach_user_policy(UserName=key, PolicyArn=missing_arn)
    with iam_error("NoSuchEntity", 404):
        iam.update_access_key(AccessKeyId=missing_key, Status="Inactive")
    with iam_error("NoSuchEntity", 404):
        iam.list_attached_user_policies(UserName=missing_key)
    with iam_error("ValidationError", 400):
        iam.update_access_key(AccessKeyId=key, Status="Sleeping")
    with iam_error("ValidationError", 400):
        iam.create_policy(PolicyName="bad name!", PolicyDocument=role_document("b", READ_ONLY))
    with iam_error("ValidationError", 400):
        iam.get_policy(PolicyArn="arn:aws:s3:::not-a-policy-arn")
    with iam_error("ValidationError", 400):
        iam.list_policies(MaxItems=5000)
    iam.delete_access_key(AccessKeyId=key)


def test_another_tenant_sees_and_touches_nothing(server, iam, own_bucket):
    akid, _, arn = scoped_key(iam, own_bucket, role_document(own_bucket, EDITOR))
    stranger = iam_client(server, *s3_keys(server, new_tenant(), "admin"))
    assert akid not in [k["AccessKeyId"] for k in stranger.list_access_keys()["AccessKeyMetadata"]]
    assert arn not in [p["Arn"] for p in stranger.list_policies()["Policies"]]
    with iam_error("NoSuchEntity", 404):
        stranger.get_policy(PolicyArn=arn)
    with iam_error("NoSuchEntity", 404):
        stranger.delete_access_key(AccessKeyId=akid)
    with iam_error("NoSuchEntity", 404):
        stranger.update_access_key(AccessKeyId=akid, Status="Inactive")
    with iam_error("NoSuchEntity", 404):
        stranger.detach_user_policy(UserName=akid, PolicyArn=arn)
    with iam_error("NoSuchEntity", 404):
        stranger.list_attached_user_policies(UserName=akid)
    assert iam.list_attached_user_policies(UserName=akid)["AttachedPolicies"][0]["PolicyArn"] == arn
    teardown(iam, akid, arn)


def test_raw_requests_unknown_action_s3_signature_and_oversized_body(server, admin):
    status, text = signed_post(server, *admin, b"Action=CreateUser&Version=2010-05-08&UserName=x")
    assert status == 400 and "<Code>InvalidAction</Code>" in text and "<Type>Sender</Type>" in text
    assert "<RequestId>" in text
    # Signed for S3, POST / is S3's: there is no such S3 operation.
    status, text = signed_post(server, *admin, b"Action=ListPolicies&Version=2010-05-08", service="s3")
    assert status == 405 and "<Error><Code>MethodNotAllowed</Code>" in text, text
    status, text = signed_post(server, *admin, b"Action=ListPolicies&Version=2010-05-08&Pad=" + b"a" * 70_000)
    assert status == 400 and "<Code>ValidationError</Code>" in text
    status, text = signed_post(server, *admin, b"Action=ListPolicies&Version=2010-05-08")
    assert status == 200 and "<ListPoliciesResponse" in text and "<ListPoliciesResult>" in text
    status, text = signed_post(server, *admin, b"Action=ListPolicies&Version=2010-05-08", service="iam")
    assert status == 200
    status, text = signed_post(server, admin[0], "wrong-secret", b"Action=ListPolicies&Version=2010-05-08")
    assert status == 403 and "<ErrorResponse" in text


# ---------------------------------------------------------------------------
# Enforcement on S3
# ---------------------------------------------------------------------------


def test_editor_role_owns_its_bucket_and_nothing_else(server, iam, admin_s3, own_bucket, other_bucket):
    akid, secret, arn = scoped_key(iam, own_bucket, role_document(own_bucket, EDITOR))
    s3 = s3_client(server, akid, secret)
    s3.put_object(Bucket=own_bucket, Key="dir/a.txt", Body=b"hello")
    assert s3.get_object(Bucket=own_bucket, Key="dir/a.txt")["Body"].read() == b"hello"
    assert s3.head_object(Bucket=own_bucket, Key="seed.txt")["ContentLength"] == 4
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=own_bucket).get("Contents", [])]
    assert keys == ["dir/a.txt", "seed.txt"]
    s3.copy_object(Bucket=own_bucket, Key="dir/b.txt", CopySource={"Bucket": own_bucket, "Key": "dir/a.txt"})
    s3.delete_object(Bucket=own_bucket, Key="dir/b.txt")
    s3.get_bucket_location(Bucket=own_bucket)
    s3.list_object_versions(Bucket=own_bucket)

    with s3_error("AccessDenied", 403):
        s3.list_buckets()
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=other_bucket, Key="secret.txt")
    with s3_error("AccessDenied", 403):
        s3.put_object(Bucket=other_bucket, Key="x", Body=b"x")
    with s3_error("AccessDenied", 403):
        s3.list_objects_v2(Bucket=other_bucket)
    with s3_error("AccessDenied", 403):
        s3.create_bucket(Bucket=new_bucket_name("iamnew"))
    # A copy out of another bucket reads that bucket: refused.
    with s3_error("AccessDenied", 403):
        s3.copy_object(Bucket=own_bucket, Key="stolen", CopySource={"Bucket": other_bucket, "Key": "secret.txt"})
    assert "stolen" not in [o["Key"] for o in admin_s3.list_objects_v2(Bucket=own_bucket).get("Contents", [])]
    teardown(iam, akid, arn)


def test_read_only_role_reads_its_bucket_and_writes_nothing(server, iam, own_bucket, other_bucket):
    akid, secret, arn = scoped_key(iam, own_bucket, role_document(own_bucket, READ_ONLY))
    s3 = s3_client(server, akid, secret)
    assert s3.get_object(Bucket=own_bucket, Key="seed.txt")["Body"].read() == b"seed"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=own_bucket)["Contents"]] == ["seed.txt"]
    s3.get_bucket_location(Bucket=own_bucket)
    with s3_error("AccessDenied", 403):
        s3.put_object(Bucket=own_bucket, Key="x", Body=b"x")
    with s3_error("AccessDenied", 403):
        s3.delete_object(Bucket=own_bucket, Key="seed.txt")
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=other_bucket, Key="secret.txt")
    with s3_error("AccessDenied", 403):
        s3.list_buckets()
    with s3_error("AccessDenied", 403):
        s3.delete_bucket(Bucket=own_bucket)
    result = s3.delete_objects(Bucket=own_bucket, Delete={"Objects": [{"Key": "seed.txt"}]})
    assert [(e["Key"], e["Code"]) for e in result.get("Errors", [])] == [("seed.txt", "AccessDenied")]
    assert s3.get_object(Bucket=own_bucket, Key="seed.txt")["Body"].read() == b"seed"
    teardown(iam, akid, arn)


def test_explicit_deny_wins_and_wildcards_match(server, iam, admin_s3, own_bucket):
    admin_s3.put_object(Bucket=own_bucket, Key="keep/k.txt", Body=b"k")
    admin_s3.put_object(Bucket=own_bucket, Key="tmp/t.txt", Body=b"t")
    admin_s3.put_object(Bucket=own_bucket, Key="pub/p.txt", Body=b"p")
    document = json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*", "s3:DeleteObject"],
             "Resource": [f"arn:aws:s3:::{own_bucket}", f"arn:aws:s3:::{own_bucket}/*"]},
            {"Sid": "KeepIsKept", "Effect": "Deny", "Action": "s3:Delete*",
             "Resource": f"arn:aws:s3:::{own_bucket}/keep/*"},
            {"Effect": "Deny", "Action": "S3:GETOBJECT", "Resource": f"arn:aws:s3:::{own_bucket}/t?p/*"},
        ],
    })
    akid, secret, arn = scoped_key(iam, own_bucket, document)
    s3 = s3_client(server, akid, secret)
    assert s3.get_object(Bucket=own_bucket, Key="pub/p.txt")["Body"].read() == b"p"
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=own_bucket, Key="tmp/t.txt")
    with s3_error("AccessDenied", 403):
        s3.delete_object(Bucket=own_bucket, Key="keep/k.txt")
    s3.delete_object(Bucket=own_bucket, Key="pub/p.txt")
    with s3_error("AccessDenied", 403):
        s3.put_object(Bucket=own_bucket, Key="new.txt", Body=b"n")
    # DeleteObjects is checked key by key: the denied one is an error entry, the other goes.
    result = s3.delete_objects(Bucket=own_bucket, Delete={"Objects": [{"Key": "keep/k.txt"}, {"Key": "tmp/t.txt"}]})
    assert [e["Key"] for e in result.get("Deleted", [])] == ["tmp/t.txt"]
    assert [(e["Key"], e["Code"]) for e in result.get("Errors", [])] == [("keep/k.txt", "AccessDenied")]
    keys = [o["Key"] for o in admin_s3.list_objects_v2(Bucket=own_bucket)["Contents"]]
    assert "keep/k.txt" in keys and "pub/p.txt" not in keys and "new.txt" not in keys and "tmp/t.txt" not in keys
    teardown(iam, akid, arn)


def test_attach_detach_deactivate_and_delete_apply_to_the_next_request(server, iam, own_bucket, other_bucket):
    key = iam.create_access_key()["AccessKey"]
    akid = key["AccessKeyId"]
    s3 = s3_client(server, akid, key["SecretAccessKey"])
    s3.get_object(Bucket=other_bucket, Key="secret.txt")
    arn = iam.create_policy(PolicyName=f"{own_bucket}-key-policy",
                            PolicyDocument=role_document(own_bucket, READ_ONLY))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=akid, PolicyArn=arn)
    with s3_error("AccessDenied", 403):
        s3.get_object(Bucket=other_bucket, Key="secret.txt")
    iam.detach_user_policy(UserName=akid, PolicyArn=arn)
    s3.get_object(Bucket=other_bucket, Key="secret.txt")
    iam.attach_user_policy(UserName=akid, PolicyArn=arn)

    iam.update_access_key(AccessKeyId=akid, Status="Inactive")
    with s3_error("InvalidAccessKeyId", 403):
        s3.get_object(Bucket=own_bucket, Key="seed.txt")
    iam.update_access_key(AccessKeyId=akid, Status="Active")
    assert s3.get_object(Bucket=own_bucket, Key="seed.txt")["Body"].read() == b"seed"

    iam.delete_access_key(AccessKeyId=akid)
    with s3_error("InvalidAccessKeyId", 403):
        s3.get_object(Bucket=own_bucket, Key="seed.txt")
    # Deleting the key dropped its attachment, so the policy can go.
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    iam.delete_policy(PolicyArn=arn)


def test_bundles_are_checked_key_by_key(server, iam, admin_s3, own_bucket):
    tigris = pytest.importorskip("tigris_boto3_ext", reason="bundles need tigris-boto3-ext==0.8.0")
    from tigris_boto3_ext._transport import TigrisAPIError

    admin_s3.put_object(Bucket=own_bucket, Key="pub/a.txt", Body=b"a")
    admin_s3.put_object(Bucket=own_bucket, Key="priv/b.txt", Body=b"b")
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{own_bucket}/pub/*"}]})
    akid, secret, arn = scoped_key(iam, own_bucket, document)
    s3 = s3_client(server, akid, secret)
    with tigris.bundle_objects(s3, own_bucket, ["pub/a.txt"]) as response:
        assert response.status_code == 200
    with pytest.raises(TigrisAPIError) as info:
        tigris.bundle_objects(s3, own_bucket, ["pub/a.txt", "priv/b.txt"])
    assert info.value.status_code == 403
    teardown(iam, akid, arn)


def test_bucket_settings_need_the_action_of_each_setting_changed(server, iam, admin_s3, own_bucket):
    """`PATCH /b`: notifications need s3:PutBucketNotification, snapshots (`type`) s3:PutBucketVersioning."""
    transport = pytest.importorskip("tigris_boto3_ext._transport", reason="needs tigris-boto3-ext")

    def patch(s3, settings):
        r = transport.signed_request(s3, "PATCH", own_bucket, headers={"Content-Type": "application/json"},
                                     body=json.dumps(settings))
        return r

    def refused(block):
        with pytest.raises(transport.TigrisAPIError) as e:
            block()
        assert "403" in str(e.value) and "AccessDenied" in str(e.value)

    def allowing(action):
        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": action, "Resource": f"arn:aws:s3:::{own_bucket}"}]})

    notify = {"object_notifications": {"enabled": True, "filter": ""}}
    snapshots_on = {"type": 1}
    akid, secret, arn = scoped_key(iam, own_bucket, allowing("s3:PutBucketNotification"))
    notifier = s3_client(server, akid, secret)
    patch(notifier, notify)
    metadata = transport.signed_request(admin_s3, "GET", own_bucket, query={"metadata": None},
                                        headers={"Accept": "application/json"}).body
    assert "object_notifications" in json.dumps(json.loads(metadata))
    refused(lambda: patch(notifier, snapshots_on))
    # A PATCH changing both needs both: refused whole, nothing applied.
    patch(admin_s3, {"object_notifications": {}})
    refused(lambda: patch(notifier, {**notify, **snapshots_on}))
    assert "object_notifications" not in json.dumps(
        json.loads(transport.signed_request(admin_s3, "GET", own_bucket, query={"metadata": None},
                                            headers={"Accept": "application/json"}).body))
    teardown(iam, akid, arn)

    akid, secret, arn = scoped_key(iam, own_bucket, allowing("s3:PutBucketVersioning"))
    versioner = s3_client(server, akid, secret)
    refused(lambda: patch(versioner, notify))
    teardown(iam, akid, arn)
