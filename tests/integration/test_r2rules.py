"""HTTPS and R2's own rules, through the R2 personality (tests/r2proxy).

Every real user talks to R2 over HTTPS under R2's rules; RGW enforces
none of them.  The personality in front of it does (one write per second
per key, equal parts, no Expect, no chunked or streaming bodies; TLS with
a test CA).  These tests check both sides: the personality refuses what
R2 refuses (so the suite would see r2fs break a rule), and r2fs doing
rsync-like work and a multipart upload breaks none; certificates are
verified (an unknown CA or another host name stops the mount with one
sentence); connections and TLS sessions are reused under load.
"""

import errno
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import botocore.exceptions
import pytest

from conftest import (Refusals, is_mount, r2fs_binary, r2proxy_control,
                      r2proxy_stats, sized)

pytestmark = pytest.mark.usefixtures("personality")


@pytest.fixture
def personality(s3env):
    if not s3env.get("R2PROXY_ENDPOINT"):
        pytest.skip("no R2 personality (R2FS_NO_R2PROXY=1)")


def client_error(excinfo):
    e = excinfo.value.response
    return e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Code"]


# ---------------------------------------------------------------- the rules


def test_second_put_of_a_key_within_a_second_gets_429(r2s3, bucket,
                                                       s3env):
    refusals = Refusals(s3env)
    r2s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        r2s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    assert client_error(ei) == (429, "SlowDown")
    # another key is not held back; the key is free again after 1 s
    r2s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    time.sleep(1.1)
    r2s3.put_object(Bucket=bucket, Key="k", Body=b"three")
    # a DELETE and a COPY onto the key are writes too
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        r2s3.delete_object(Bucket=bucket, Key="k")
    assert client_error(ei) == (429, "SlowDown")
    time.sleep(1.1)
    r2s3.copy_object(Bucket=bucket, Key="k",
                     CopySource={"Bucket": bucket, "Key": "other"})
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        r2s3.copy_object(Bucket=bucket, Key="k",
                         CopySource={"Bucket": bucket, "Key": "other"})
    assert client_error(ei) == (429, "SlowDown")
    rules = [r["rule"] for r in refusals.all(agent="")]
    assert rules == ["slowdown"] * 3


def test_unequal_parts_are_refused(r2s3, bucket):
    MiB = 1 << 20

    def upload(sizes):
        key = "mp-" + "-".join(str(s) for s in sizes)
        up = r2s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        parts = []
        for i, n in enumerate(sizes, 1):
            e = r2s3.upload_part(Bucket=bucket, Key=key, UploadId=up,
                                 PartNumber=i, Body=b"p" * (n * MiB))["ETag"]
            parts.append({"PartNumber": i, "ETag": e})
        try:
            r2s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=up,
                MultipartUpload={"Parts": parts})
        except botocore.exceptions.ClientError:
            r2s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=up)
            raise

    for sizes in ((5, 6, 1), (6, 5, 5), (5, 5, 6)):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            upload(sizes)
        assert client_error(ei) == (400, "InvalidPart"), sizes
    upload((5, 5, 2))  # equal parts, a smaller last one: fine
    upload((6, 6))


def raw_request(s3env, head, body=b""):
    """Send one raw request to the personality; (status, answer text)."""
    host, port = s3env["R2PROXY_ENDPOINT"].split("//")[1].split(":")
    ctx = ssl.create_default_context(cafile=s3env["R2PROXY_CA_FILE"])
    with socket.create_connection((host, int(port)), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=host) as t:
            t.sendall(head.encode() + body)
            data = b""
            while b"</Error>" not in data:
                b = t.recv(65536)
                if not b:
                    break
                data += b
    text = data.decode(errors="replace")
    return int(text.split(" ")[1]), text


def test_expect_chunked_and_streaming_bodies_are_refused(s3env, bucket,
                                                         s3):
    refusals = Refusals(s3env)
    base = (f"PUT /{bucket}/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n")
    st, text = raw_request(s3env, base + "Expect: 100-continue\r\n"
                           "Content-Length: 3\r\n\r\n")
    assert st == 400 and "<Code>InvalidRequest</Code>" in text
    st, text = raw_request(s3env, base + "Transfer-Encoding: chunked\r\n"
                           "\r\n", b"3\r\nabc\r\n0\r\n\r\n")
    assert st == 400 and "<Code>InvalidRequest</Code>" in text
    st, text = raw_request(
        s3env, f"PUT /{bucket}/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n"
        "Content-Encoding: aws-chunked\r\nContent-Length: 3\r\n\r\n",
        b"abc")
    assert st == 400 and "<Code>NotImplemented</Code>" in text
    assert [r["rule"] for r in refusals.all(agent="")] == [
        "expect", "chunked", "streaming"]
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_boto3_default_put_sends_expect_and_is_refused(s3env, bucket):
    """What a stock boto3 does (Expect: 100-continue on PutObject) R2
    refuses; r2fs never sends it (http.c sends an empty Expect:)."""
    import boto3
    import botocore.config
    c = boto3.client(
        "s3", endpoint_url=s3env["R2PROXY_ENDPOINT"],
        verify=s3env["R2PROXY_CA_FILE"],
        aws_access_key_id=s3env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1, "mode": "standard"}))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.put_object(Bucket=bucket, Key="e", Body=b"x" * 100)
    assert client_error(ei) == (400, "InvalidRequest")


# ---------------------------------------------------------------- r2fs obeys


def test_rsync_like_work_and_multipart_break_no_rule(mounter, bucket, s3,
                                                      s3env, tmp_path):
    """What users do most, through the personality: no request of r2fs's
    is refused, not even with a 429 (r2fs paces writes of one key)."""
    refusals = Refusals(s3env)
    src = tmp_path / "src"
    os.makedirs(src / "sub")
    for i in range(40):
        (src / "sub" / f"f{i}.txt").write_bytes(os.urandom(100 + i * 37))
    big = src / "big.bin"
    big.write_bytes(os.urandom(23 << 20))  # 8 + 8 + 7 MiB parts
    m = mounter(bucket, opts=["multipart_threshold=16"])
    subprocess.run(["rsync", "-a", f"{src}/", m.path("rs") + "/"],
                   check=True)
    subprocess.run(["cp", "-rp", str(src / "sub"), m.path("cp")],
                   check=True)
    m.sync()
    # the same again, changed: rsync rewrites and renames over uploaded
    # files, chmod/touch of uploaded files, a rename, a delete
    for i in range(0, 40, 3):
        (src / "sub" / f"f{i}.txt").write_bytes(os.urandom(50))
    subprocess.run(["rsync", "-a", "--delete", f"{src}/",
                    m.path("rs") + "/"], check=True)
    for i in range(5):
        p = m.path("cp", f"f{i}.txt")
        os.chmod(p, 0o600)
        os.utime(p, (1_600_000_000, 1_600_000_000))
    os.rename(m.path("cp", "f5.txt"), m.path("cp", "g5.txt"))
    os.unlink(m.path("cp", "f6.txt"))
    # write, fsync, truncate, fsync: two writes of one key at once
    with open(m.path("cp", "t.txt"), "wb") as f:
        f.write(b"x" * 1000)
        f.flush()
        os.fsync(f.fileno())
        f.truncate(10)
        f.flush()
        os.fsync(f.fileno())
    os.mkdir(m.path("d"))
    m.sync()
    os.rmdir(m.path("d"))
    m.sync()
    refused = refusals.all()
    assert refused == [], refused
    head = s3.head_object(Bucket=bucket, Key="rs/big.bin")
    assert head["ContentLength"] == 23 << 20
    assert head["ETag"].strip('"').endswith("-3")
    assert s3.get_object(Bucket=bucket, Key="cp/t.txt")["Body"].read() == \
        b"x" * 10


# ---------------------------------------------------------------- TLS


def make_ca(d):
    """A CA of our own that signed nothing the personality presents."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                    os.path.join(d, "k.pem"), "-out",
                    os.path.join(d, "ca.pem"), "-days", "1", "-subj",
                    "/CN=another CA"], check=True, capture_output=True)
    return os.path.join(d, "ca.pem")


def mount_refused(s3env, bucket, opts):
    """Run r2fs as a user would; (exit status, stderr lines)."""
    d = tempfile.mkdtemp(prefix="r2fs-mnt-")
    cache = tempfile.mkdtemp(prefix="r2fs-cache-")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"])
    try:
        p = subprocess.run([r2fs_binary(), bucket, d, "-o",
                            ",".join(opts + ["cache_dir=" + cache])],
                           env=env, capture_output=True, text=True,
                           timeout=60)
        assert not is_mount(d), "a failed mount left a mount behind"
    finally:
        if is_mount(d):
            subprocess.run(["fusermount3", "-uz", d])
        os.rmdir(d)
        shutil.rmtree(cache, ignore_errors=True)
    return p.returncode, [l for l in p.stderr.splitlines() if l]


def test_mount_over_https_works(mnt, s3, bucket, s3env):
    assert "endpoint=https://" in " ".join(mnt.argv)
    with open(mnt.path("hello"), "wb") as f:
        f.write(b"over TLS")
        f.flush()
        os.fsync(f.fileno())
    assert s3.get_object(Bucket=bucket, Key="hello")["Body"].read() == \
        b"over TLS"


def test_unknown_ca_is_refused_at_mount(s3env, bucket, tmp_path):
    ep = s3env["R2PROXY_ENDPOINT"]
    for opts in (["ca_file=" + make_ca(str(tmp_path))],
                 ["ca_path=" + str(tmp_path)], []):
        rc, lines = mount_refused(s3env, bucket, ["endpoint=" + ep] + opts)
        assert rc != 0
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"r2fs: the TLS certificate of {ep} "
                                   "was refused: "), lines
        assert "ca_file" in lines[0]
    rc, lines = mount_refused(s3env, bucket,
                              ["endpoint=" + ep, "ca_file=/nonexistent"])
    assert rc != 0 and lines == [
        "r2fs: ca_file /nonexistent: No such file or directory"]


def test_host_name_mismatch_is_refused_at_mount(s3env, bucket):
    """A server whose certificate, from the trusted CA, names another
    host."""
    d = s3env["R2PROXY_DIR"]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "other.pem"),
                        os.path.join(d, "other.key"))
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    port = ls.getsockname()[1]

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(c, server_side=True) as t:
                    t.recv(1)
            except (OSError, ssl.SSLError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    try:
        rc, lines = mount_refused(s3env, bucket, [
            f"endpoint=https://127.0.0.1:{port}",
            "ca_file=" + s3env["R2PROXY_CA_FILE"]])
    finally:
        ls.close()
    assert rc != 0
    assert len(lines) == 1, lines
    assert "TLS certificate" in lines[0] and "127.0.0.1" in lines[0]
    assert "host name" in lines[0], lines


def test_r2_tool_trusts_the_ca_it_is_given(s3env, bucket, s3):
    r2 = os.path.join(os.path.dirname(r2fs_binary()), "r2")
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"a")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"])
    for k in ("R2_CA_FILE", "R2_CA_PATH", "R2_ACCOUNT_ID", "R2_ENDPOINT"):
        env.pop(k, None)
    base = [r2, "--endpoint", s3env["R2PROXY_ENDPOINT"]]
    p = subprocess.run(base + ["ls", bucket], env=env, capture_output=True,
                       text=True)
    assert p.returncode == 1, p
    assert p.stderr.startswith("r2: the TLS certificate of"), p.stderr
    p = subprocess.run(base + ["--ca-file", s3env["R2PROXY_CA_FILE"], "ls",
                               bucket], env=env, capture_output=True,
                       text=True)
    assert p.returncode == 0 and "a.txt" in p.stdout, p.stderr
    env["R2_CA_FILE"] = s3env["R2PROXY_CA_FILE"]
    p = subprocess.run(base + ["ls", bucket], env=env, capture_output=True,
                       text=True)
    assert p.returncode == 0 and "a.txt" in p.stdout, p.stderr


def test_connections_and_tls_sessions_are_reused(mounter, bucket, s3,
                                                 s3env, tmp_path):
    """Parallel uploads (many files, a multipart file) and a big read
    with 4 HTTP handles: at most 4 connections, each one TLS handshake,
    resuming sessions; never one per request."""
    handles = 4
    size = sized(96 << 20, 32 << 20)
    data = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="read.bin", Body=data)
    before = r2proxy_stats(s3env)
    m = mounter(bucket, opts=[f"http_handles={handles}",
                              "multipart_threshold=16"])
    for i in range(60):
        with open(m.path(f"f{i}"), "wb") as f:
            f.write(os.urandom(5000))
    with open(m.path("big.bin"), "wb") as f:
        f.write(os.urandom(40 << 20))
    m.sync()
    h = hashlib.sha256()
    with open(m.path("read.bin"), "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    assert h.digest() == hashlib.sha256(data).digest()
    after = r2proxy_stats(s3env)
    conns = after["connections"] - before["connections"] - 1  # the stats
    handshakes = after["handshakes"] - before["handshakes"] - 1
    resumed = after["resumed"] - before["resumed"]
    requests = after["requests"] - before["requests"]
    print(f"{requests} requests, {conns} connections, {handshakes} "
          f"handshakes, {resumed} resumed")
    assert requests > 60
    assert 1 <= conns <= handles, (conns, requests)
    assert handshakes == conns
    # each handle's first connection resumes a session another handle
    # got (the handles share a TLS session cache): without the share none
    # would.  How many do depends on when the first session tickets
    # arrive: 1 to 3 of 4 seen.
    assert conns == 1 or resumed >= 1


# ---------------------------------------------------------------- checksums


def test_puts_carry_a_crc32c_the_personality_checks(mounter, bucket, s3,
                                                     s3env, r2s3):
    """Each PUT carries x-amz-checksum-crc32c (and Content-MD5, which RGW
    checks); the personality checks the CRC as R2 does, so a wrong one
    from r2fs would fail this and every other test.  checksum=md5 sends
    none."""
    def put_with_crc(value):
        def add(request, **kw):
            request.headers["x-amz-checksum-crc32c"] = value
        r2s3.meta.events.register("before-sign.s3.PutObject", add)
        try:
            r2s3.put_object(Bucket=bucket, Key=f"crc-{value[:4]}",
                            Body=b"hello")
        finally:
            r2s3.meta.events.unregister("before-sign.s3.PutObject", add)

    put_with_crc("mnG7TA==")  # right
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        put_with_crc("AAAAAA==")
    assert client_error(ei) == (400, "BadDigest")

    def checked():
        return r2proxy_stats(s3env)["crc32c_checked"].get(bucket, 0)

    before = checked()
    m = mounter(bucket)
    for i in range(5):
        with open(m.path(f"c{i}"), "wb") as f:
            f.write(os.urandom(1000 * i + 1))
    m.sync()
    assert checked() - before == 5
    m.unmount()
    before = checked()
    m = mounter(bucket, opts=["checksum=md5"])
    with open(m.path("md5only"), "wb") as f:
        f.write(b"x")
    m.sync()
    assert checked() == before
    assert s3.get_object(Bucket=bucket, Key="md5only")["Body"].read() == b"x"


@pytest.fixture
def flipping(s3env, bucket):
    """The personality damages one byte of every GET body from bucket."""
    r2proxy_control(s3env, "PUT", f"/.r2proxy/flip/{bucket}")
    yield
    r2proxy_control(s3env, "DELETE", f"/.r2proxy/flip/{bucket}")


def test_damaged_download_is_eio_never_wrong_bytes(mounter, bucket, s3,
                                                   s3env, request):
    small = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="small.bin", Body=small)
    s3.put_object(Bucket=bucket, Key="ok.bin", Body=b"fine")
    m = mounter(bucket)
    m.expect_log = ["do not match the object's MD5"]
    os.stat(m.path("small.bin"))
    request.getfixturevalue("flipping")
    with pytest.raises(OSError) as ei:
        with open(m.path("small.bin"), "rb") as f:
            f.read()
    assert ei.value.errno == errno.EIO
    # opening it for writing fetches it into the stage: refused too
    with pytest.raises(OSError) as ei:
        with open(m.path("small.bin"), "r+b") as f:
            f.write(b"x")
    assert ei.value.errno == errno.EIO
    r2proxy_control(s3env, "DELETE", f"/.r2proxy/flip/{bucket}")
    # that version stays refused by this mount (a part of it cannot be
    # checked on its own); other objects read fine, and so does it on a
    # fresh mount
    with pytest.raises(OSError) as ei:
        with open(m.path("small.bin"), "rb") as f:
            f.read()
    assert ei.value.errno == errno.EIO
    with open(m.path("ok.bin"), "rb") as f:
        assert f.read() == b"fine"
    out = m.output()
    assert "small.bin': the bytes received twice do not match the " \
        "object's MD5" in out, out
    m2 = mounter(bucket)
    with open(m2.path("small.bin"), "rb") as f:
        assert f.read() == small
    # and the r2 tool's download
    r2 = os.path.join(os.path.dirname(r2fs_binary()), "r2")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"],
               R2_CA_FILE=s3env["R2PROXY_CA_FILE"])
    r2proxy_control(s3env, "PUT", f"/.r2proxy/flip/{bucket}")
    dst = os.path.join(m.cache, "..", f"r2-dl-{bucket}")
    p = subprocess.run([r2, "--endpoint", s3env["R2PROXY_ENDPOINT"], "cp",
                        f"{bucket}/small.bin", dst], env=env,
                       capture_output=True, text=True)
    r2proxy_control(s3env, "DELETE", f"/.r2proxy/flip/{bucket}")
    try:
        assert p.returncode == 1, p
        assert not os.path.exists(dst) or open(dst, "rb").read() != small
    finally:
        if os.path.exists(dst):
            os.unlink(dst)
