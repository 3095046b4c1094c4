"""Temporary credentials: the session token is sent and signed, keys
replaced in their file are picked up by a running mount, refused ones are
said once and the uploads wait for better ones.

R2 hands out scoped temporary credentials (access key, secret, session
token) that expire; whoever renews them rewrites ~/.aws/credentials.
RGW here has no STS: it ignores x-amz-security-token, so the R2
personality (tests/r2proxy) counts the tokens it sees and whether they
were signed.  Keys are rotated for real with radosgw-admin, on a user of
the test's own (the suite's user keeps its keys).
"""

import errno
import os
import subprocess
import threading
import time
import uuid

import boto3
import botocore.config
import pytest

from conftest import r2proxy_stats


@pytest.fixture
def personality(s3env):
    if not s3env.get("R2PROXY_ENDPOINT"):
        pytest.skip("no R2 personality (R2FS_NO_R2PROXY=1)")


def admin(s3env, *args):
    d = s3env["S3_DIR"]
    return subprocess.run(
        ["radosgw-admin", "-c", os.path.join(d, "ceph.conf"), "-n",
         "client.admin", "--log-file=" + os.path.join(d, "log",
                                                       "radosgw-admin.log"),
         *args], check=True, capture_output=True, text=True, timeout=120)


def new_keys():
    return uuid.uuid4().hex, uuid.uuid4().hex + uuid.uuid4().hex


def client(s3env, ak, sk):
    return boto3.client(
        "s3", endpoint_url=s3env["S3_ENDPOINT"], aws_access_key_id=ak,
        aws_secret_access_key=sk, region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 10}))


def write_profile(path, ak, sk, token):
    """Replace the credentials file as a renewal tool would (rename)."""
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"[temp]\naws_access_key_id = {ak}\n"
                f"aws_secret_access_key = {sk}\n"
                f"aws_session_token = {token}\n")
    os.rename(tmp, path)


@pytest.fixture
def own_user(s3env):
    """A user of the test's own with one key, and a bucket it owns:
    (uid, bucket, access key, secret)."""
    uid = "rot-" + uuid.uuid4().hex[:12]
    ak, sk = new_keys()
    admin(s3env, "user", "create", f"--uid={uid}", "--display-name=rot",
          f"--access-key={ak}", f"--secret-key={sk}")
    bucket = "rot-" + uuid.uuid4().hex[:16]
    deadline = time.time() + 30
    while True:  # until RGW knows the new user
        try:
            client(s3env, ak, sk).create_bucket(Bucket=bucket)
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    yield uid, bucket, ak, sk
    admin(s3env, "user", "rm", f"--uid={uid}", "--purge-data")


def test_session_token_is_sent_and_signed(personality, mounter, bucket, s3,
                                          s3env, tmp_path):
    tok = "env-token-" + uuid.uuid4().hex
    m = mounter(bucket, env_extra={"AWS_SESSION_TOKEN": tok})
    with open(m.path("a"), "wb") as f:
        f.write(b"a")
    m.sync()
    seen, signed = r2proxy_stats(s3env)["tokens"][tok]
    assert seen >= 2 and signed == seen
    m.unmount()
    # from a profile's aws_session_token
    creds = tmp_path / "credentials"
    tok = "profile-token-" + uuid.uuid4().hex
    write_profile(creds, s3env["AWS_ACCESS_KEY_ID"],
                  s3env["AWS_SECRET_ACCESS_KEY"], tok)
    m = mounter(bucket, opts=["profile=temp"],
                env_extra={"AWS_SHARED_CREDENTIALS_FILE": str(creds)})
    with open(m.path("b"), "wb") as f:
        f.write(b"b")
    m.sync()
    seen, signed = r2proxy_stats(s3env)["tokens"][tok]
    assert seen >= 2 and signed == seen
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"b"


def test_keys_rotated_while_a_copy_runs(personality, mounter, own_user,
                                        s3env, tmp_path):
    """The credentials file gets new keys and a new token, the old key is
    deleted at the server: the copy goes on, nothing fails, no remount."""
    uid, bucket, ak, sk = own_user
    creds = tmp_path / "credentials"
    write_profile(creds, ak, sk, "token-1")
    m = mounter(bucket, opts=["profile=temp", "multipart_threshold=16",
                              "writeback_delay=0"],
                env_extra={"AWS_SHARED_CREDENTIALS_FILE": str(creds)})
    # the copy: a file after another, each fsync'ed (so uploads run the
    # whole time), a 40 MiB multipart one among them, for 7 s
    written, failed = [], []
    stop = time.time() + 7

    def copy():
        try:
            while time.time() < stop:
                name = f"f{len(written):04d}"
                size = 40 << 20 if len(written) == 20 else 3000
                with open(m.path(name), "wb") as f:
                    f.write(os.urandom(size))
                    f.flush()
                    os.fsync(f.fileno())
                written.append((name, size))
        except OSError as e:
            failed.append(e)

    t = threading.Thread(target=copy)
    t.start()
    time.sleep(1.5)
    ak2, sk2 = new_keys()
    admin(s3env, "key", "create", f"--uid={uid}", "--key-type=s3",
          f"--access-key={ak2}", f"--secret-key={sk2}")
    write_profile(creds, ak2, sk2, "token-2")
    time.sleep(2.0)  # r2fs looks at the file at most once a second
    admin(s3env, "key", "rm", f"--uid={uid}", "--key-type=s3",
          f"--access-key={ak}")
    t.join()
    assert failed == []
    m.sync()
    # everything is there, read with the new key
    c = client(s3env, ak2, sk2)
    sizes = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        sizes.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    assert sizes == dict(written)
    assert len(written) > 40, written
    assert "credentials changed: now using those of profile temp" in \
        m.output()
    tokens = r2proxy_stats(s3env)["tokens"]
    assert tokens["token-1"][1] > 0 and tokens["token-2"][1] > 0
    # the old key no longer works, the mount does
    with open(m.path("after"), "wb") as f:
        f.write(b"after")
    m.sync()
    assert c.get_object(Bucket=bucket, Key="after")["Body"].read() == \
        b"after"


def test_refused_credentials_are_said_once_and_uploads_wait(
        personality, mounter, own_user, s3env, tmp_path):
    """Keys the server refuses (an expired token looks the same): one log
    line says what to do, the file waits in the journal, and goes up once
    good keys are in the file."""
    uid, bucket, ak, sk = own_user
    creds = tmp_path / "credentials"
    write_profile(creds, ak, sk, "good")
    m = mounter(bucket, opts=["profile=temp", "writeback_delay=0"],
                env_extra={"AWS_SHARED_CREDENTIALS_FILE": str(creds)})
    m.expect_log = ["refused the credentials", "upload of"]
    os.listdir(m.path())
    write_profile(creds, *new_keys(), "expired")
    time.sleep(1.2)
    for i in range(3):
        with open(m.path(f"w{i}"), "wb") as f:
            f.write(b"waits")
    p = m.sync(check=False)
    assert p.returncode != 0
    state = m.state(m.path("w0"))
    assert state.startswith(("error", "dirty", "uploading")), state
    out = m.output()
    said = [l for l in out.splitlines() if "refused the credentials" in l]
    assert len(said) == 1, out
    assert "profile temp in " + str(creds) in said[0]
    assert "InvalidAccessKeyId" in said[0]
    write_profile(creds, ak, sk, "renewed")
    deadline = time.time() + 120
    while m.sync(check=False).returncode != 0:
        assert time.time() < deadline, m.output()
        time.sleep(1)
    c = client(s3env, ak, sk)
    for i in range(3):
        assert c.get_object(Bucket=bucket,
                            Key=f"w{i}")["Body"].read() == b"waits"


def test_write_refused_for_good_is_eacces_kept_and_said_once(
        personality, mounter, own_user, s3env, tmp_path):
    """A key that may read the bucket but not write it (R2: a read-only
    token, or a bucket lock): fsync gets EACCES, user.r2.state says
    error, the log says once what to do, and the data stays in the
    journal until a mount that may write uploads it."""
    import json
    uid, bucket, ak, sk = own_user
    ruid = uid + "-ro"
    rak, rsk = new_keys()
    admin(s3env, "user", "create", f"--uid={ruid}", "--display-name=ro",
          f"--access-key={rak}", f"--secret-key={rsk}")
    try:
        client(s3env, ak, sk).put_bucket_policy(
            Bucket=bucket, Policy=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"AWS": [f"arn:aws:iam:::user/{ruid}"]},
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{bucket}",
                                 f"arn:aws:s3:::{bucket}/*"]}]}))
        cache = str(tmp_path / "cache")
        m = mounter(bucket, cache=cache, opts=["writeback_delay=0"],
                    env_extra={"AWS_ACCESS_KEY_ID": rak,
                               "AWS_SECRET_ACCESS_KEY": rsk})
        m.expect_log = ["refused to change", "upload of",
                        "could not be uploaded"]
        with open(m.path("f"), "wb") as f:
            f.write(b"kept")
            f.flush()
            with pytest.raises(OSError) as ei:
                os.fsync(f.fileno())
            assert ei.value.errno in (errno.EACCES, errno.EPERM)
        with open(m.path("g"), "wb") as f:
            f.write(b"kept too")
        time.sleep(2)
        assert m.state(m.path("f")).startswith("error: ")
        assert m.sync(check=False).returncode != 0
        m.unmount()
        out = m.output()
        said = [l for l in out.splitlines() if "refused to change" in l]
        assert len(said) == 1, out
        assert "grant the permission" in said[0] and bucket in said[0]
        # a mount that may write: the journal's files go up
        m2 = mounter(bucket, cache=cache,
                     env_extra={"AWS_ACCESS_KEY_ID": ak,
                                "AWS_SECRET_ACCESS_KEY": sk})
        m2.sync()
        c = client(s3env, ak, sk)
        assert c.get_object(Bucket=bucket, Key="f")["Body"].read() == \
            b"kept"
        assert c.get_object(Bucket=bucket, Key="g")["Body"].read() == \
            b"kept too"
    finally:
        admin(s3env, "user", "rm", f"--uid={ruid}")
