"""The r2 program: presigned URLs, CORS rules, ls, stat, head, cp, rm.

r2 is found next to the r2fs binary (R2FS_BIN).  What it does is checked
with independent clients: plain curl for presigned URLs and CORS preflights,
boto3 for what is in the bucket, botocore for presigned signatures.
"""

import base64
import datetime
import hashlib
import http.server
import json
import os
import pty
import re
import select
import subprocess
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
import botocore.auth
import botocore.config
import pytest

from conftest import SRCDIR, r2fs_binary

MIB = 1 << 20


def r2_binary():
    path = os.path.join(os.path.dirname(r2fs_binary()), "r2")
    assert os.access(path, os.X_OK), f"r2 not found at {path}"
    return path


def r2_env(s3env, extra=None):
    env = dict(os.environ)
    for k in ("R2_ENDPOINT", "R2_ACCOUNT_ID", "R2_JURISDICTION",
              "R2_REGION", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(k, None)
    env.update({"AWS_ACCESS_KEY_ID": s3env["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": s3env["AWS_SECRET_ACCESS_KEY"],
                "TZ": "UTC"})
    env.update(extra or {})
    return env


def r2(s3env, *args, input=None, env=None, endpoint=True, text=True,
       timeout=600):
    argv = [r2_binary()]
    if endpoint:
        argv += ["--endpoint", s3env["S3_ENDPOINT"]]
    argv += list(args)
    return subprocess.run(argv, input=input, capture_output=True, text=text,
                          env=r2_env(s3env, env), timeout=timeout)


def ok(p):
    assert p.returncode == 0, f"rc {p.returncode}: {p.stderr}"
    assert p.stderr == "", p.stderr
    return p.stdout


def refused(p, rc, *words):
    """Exit status rc and exactly one line on stderr naming the cause."""
    assert p.returncode == rc, f"rc {p.returncode}: {p.stderr}"
    lines = [l for l in p.stderr.splitlines() if l]
    assert len(lines) == 1, f"want one line, got {p.stderr!r}"
    assert lines[0].startswith("r2: ")
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    return lines[0]


def curl(*args):
    """curl -s; returns (status, headers, body bytes)."""
    p = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/stderr"]
                       + list(args), capture_output=True, timeout=60)
    assert p.returncode == 0, p
    head = p.stdout.decode("latin-1")
    status = int(head.split()[1])
    headers = {}
    for line in head.splitlines()[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers, p.stderr


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(MIB), b""):
            h.update(b)
    return h.hexdigest()


def sha256_object(s3, bucket, key):
    h = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for b in iter(lambda: body.read(MIB), b""):
        h.update(b)
    return h.hexdigest()


def random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MIB)
            f.write(os.urandom(n))
            left -= n
    return str(path)


def query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query,
                                       keep_blank_values=True))


# ---------------------------------------------------------------- presign

def test_presigned_get_works_with_curl(s3env, s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/hello world.txt", Body=b"hello")
    url = ok(r2(s3env, "presign", "get", f"{bucket}/dir/hello world.txt"))
    url = url.strip()
    assert "\n" not in url
    q = query(url)
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert q["X-Amz-Expires"] == "3600"  # the default
    assert q["X-Amz-SignedHeaders"] == "host"
    assert q["X-Amz-Credential"].startswith(
        s3env["AWS_ACCESS_KEY_ID"] + "/")
    assert q["X-Amz-Credential"].endswith("/auto/s3/aws4_request")
    assert re.fullmatch(r"[0-9a-f]{64}", q["X-Amz-Signature"])
    assert s3env["AWS_SECRET_ACCESS_KEY"] not in url
    status, _, body = curl(url)
    assert status == 200
    assert body == b"hello"


def test_presigned_put_binds_content_type(s3env, s3, bucket):
    url = ok(r2(s3env, "presign", "put", f"{bucket}/up.txt",
                "--content-type", "text/plain", "--expires", "600")).strip()
    q = query(url)
    assert q["X-Amz-SignedHeaders"] == "content-type;host"
    assert q["X-Amz-Expires"] == "600"
    # another Content-Type: refused, nothing written
    status, _, _ = curl("-X", "PUT", "-H", "Content-Type: text/html",
                        "--data-binary", "evil", url)
    assert status == 403
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="up.txt")
    # the bound one: accepted, with that type
    status, _, _ = curl("-X", "PUT", "-H", "Content-Type: text/plain",
                        "--data-binary", "uploaded", url)
    assert status == 200
    got = s3.get_object(Bucket=bucket, Key="up.txt")
    assert got["Body"].read() == b"uploaded"
    assert got["ContentType"] == "text/plain"


def test_presigned_put_without_type_accepts_upload(s3env, s3, bucket):
    url = ok(r2(s3env, "presign", "put", f"{bucket}/any.bin")).strip()
    assert query(url)["X-Amz-SignedHeaders"] == "host"
    status, _, _ = curl("-X", "PUT", "--data-binary", "x" * 1000, url)
    assert status == 200
    assert s3.head_object(Bucket=bucket, Key="any.bin")[
        "ContentLength"] == 1000


def test_presigned_url_with_tampered_signature_refused(s3env, s3, bucket):
    s3.put_object(Bucket=bucket, Key="t.txt", Body=b"secret data")
    url = ok(r2(s3env, "presign", "get", f"{bucket}/t.txt")).strip()
    sig = query(url)["X-Amz-Signature"]
    bad = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    status, _, body = curl(url.replace(sig, bad))
    assert status == 403
    assert b"secret data" not in body
    # another key with the same signature: refused too
    s3.put_object(Bucket=bucket, Key="u.txt", Body=b"other")
    status, _, _ = curl(url.replace("/t.txt?", "/u.txt?"))
    assert status == 403
    assert curl(url)[0] == 200  # the untouched URL still works


def test_presigned_url_expires(s3env, s3, bucket):
    s3.put_object(Bucket=bucket, Key="e.txt", Body=b"soon gone")
    get = ok(r2(s3env, "presign", "get", f"{bucket}/e.txt", "--expires",
                "1")).strip()
    put = ok(r2(s3env, "presign", "put", f"{bucket}/e2.txt", "--expires",
                "1")).strip()
    assert query(get)["X-Amz-Expires"] == "1"
    time.sleep(2)
    status, _, body = curl(get)
    assert status == 403
    assert b"soon gone" not in body
    status, _, _ = curl("-X", "PUT", "--data-binary", "late", put)
    assert status == 403
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="e2.txt")


@pytest.mark.parametrize("expires", ["0", "604801", "-5", "1h", "",
                                     "99999999999999999999"])
def test_presign_expiry_out_of_range_refused(s3env, bucket, expires):
    p = r2(s3env, "presign", "get", f"{bucket}/k", "--expires", expires)
    refused(p, 2, "--expires", "604800")
    assert p.stdout == ""


def test_presign_seven_days_accepted(s3env, s3, bucket):
    s3.put_object(Bucket=bucket, Key="week.txt", Body=b"7d")
    url = ok(r2(s3env, "presign", "get", f"{bucket}/week.txt",
                "--expires", "604800")).strip()
    assert query(url)["X-Amz-Expires"] == "604800"
    assert curl(url)[:1] == (200,)


class _FixedClock:
    """Stands in for the datetime module as botocore.auth sees it."""

    def __init__(self, t):
        now = (datetime.datetime(1970, 1, 1)
               + datetime.timedelta(seconds=t))

        class Fixed(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return now

        self.datetime = Fixed


PRESIGN_CASES = [
    ("get", "plain.txt", None, 3600, 1700000000),
    ("get", "dir/a b+c&d=e.txt", None, 1, 1234567890),
    ("get", "ünïcödé/€ 100.bin", None, 604800, 1999999999),
    ("put", "up/load.jpg", "image/jpeg", 900, 1700000001),
    ("put", "k~-._!'()*[]@$,;", "text/plain; charset=utf-8", 60, 1600000000),
    ("put", "no-type", None, 86400, 1650000000),
]


@pytest.mark.parametrize("method,key,ctype,expires,now", PRESIGN_CASES)
def test_presign_matches_botocore(s3env, bucket, monkeypatch, method, key,
                                  ctype, expires, now):
    args = ["presign", method, f"{bucket}/{key}", "--expires", str(expires),
            "--now", str(now)]
    if ctype:
        args += ["--content-type", ctype]
    ours = ok(r2(s3env, *args)).strip()

    client = boto3.client(
        "s3", endpoint_url=s3env["S3_ENDPOINT"], region_name="auto",
        aws_access_key_id=s3env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3env["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(signature_version="s3v4",
                                      s3={"addressing_style": "path"}))
    monkeypatch.setattr(botocore.auth, "datetime", _FixedClock(now))
    params = {"Bucket": bucket, "Key": key}
    if ctype:
        params["ContentType"] = ctype
    theirs = client.generate_presigned_url(
        "get_object" if method == "get" else "put_object",
        Params=params, ExpiresIn=expires)

    o, t = urllib.parse.urlsplit(ours), urllib.parse.urlsplit(theirs)
    assert (o.scheme, o.netloc, o.path) == (t.scheme, t.netloc, t.path)
    assert query(ours) == query(theirs)
    assert query(ours)["X-Amz-Signature"] == query(theirs)[
        "X-Amz-Signature"]


def test_presign_usage_errors(s3env, bucket):
    refused(r2(s3env, "presign", "get", f"{bucket}/k", "--content-type",
               "a/b"), 2, "--content-type")
    refused(r2(s3env, "presign", "post", f"{bucket}/k"), 2, "get|put")
    refused(r2(s3env, "presign", "get", bucket), 2, "names no object")
    refused(r2(s3env, "presign", "get", "Bad_Bucket/k"), 2,
            "not a valid bucket name")
    refused(r2(s3env, "ls", bucket, "--expires", "60"), 2,
            "only for 'r2 presign'")


# ---------------------------------------------------------------- cors

RULES = [
    {
        "AllowedOrigins": ["https://app.example.com", "http://localhost:3000"],
        "AllowedMethods": ["GET", "PUT", "HEAD"],
        "AllowedHeaders": ["content-type", "x-user-id"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    },
    {
        "AllowedOrigins": ["*"],
        "AllowedMethods": ["GET"],
    },
]


def norm(rules):
    """Rules with their lists sorted: RGW keeps origins as a set."""
    return [{k: sorted(v) if isinstance(v, list) else v
             for k, v in r.items()} for r in rules]


def test_cors_put_get_round_trip(s3env, s3, bucket, tmp_path):
    assert ok(r2(s3env, "cors", "get", bucket)) == "[]\n"
    f = tmp_path / "cors.json"
    f.write_text(json.dumps(RULES, indent=2))
    ok(r2(s3env, "cors", "put", bucket, str(f)))
    assert norm(json.loads(ok(r2(s3env, "cors", "get", bucket)))) == norm(
        RULES)
    # what boto3 sees in the bucket
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert len(got) == 2
    assert sorted(got[0]["AllowedOrigins"]) == sorted(
        RULES[0]["AllowedOrigins"])
    assert got[0]["AllowedMethods"] == RULES[0]["AllowedMethods"]
    assert got[0]["AllowedHeaders"] == RULES[0]["AllowedHeaders"]
    assert got[0]["ExposeHeaders"] == ["ETag"]
    assert got[0]["MaxAgeSeconds"] == 3600
    assert got[1]["AllowedOrigins"] == ["*"]
    # stdin, and the AWS CLI's wrapper
    ok(r2(s3env, "cors", "put", bucket, "-",
          input=json.dumps({"CORSRules": RULES[1:]})))
    assert json.loads(ok(r2(s3env, "cors", "get", bucket))) == RULES[1:]
    # Cloudflare's API / wrangler format
    api = {"rules": [{"allowed": {"origins": ["https://x.example"],
                                  "methods": ["DELETE"]},
                      "maxAgeSeconds": 5}]}
    ok(r2(s3env, "cors", "put", bucket, "-", input=json.dumps(api)))
    assert json.loads(ok(r2(s3env, "cors", "get", bucket))) == [
        {"AllowedOrigins": ["https://x.example"],
         "AllowedMethods": ["DELETE"], "MaxAgeSeconds": 5}]
    ok(r2(s3env, "cors", "delete", bucket))
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_cors(Bucket=bucket)
    assert ok(r2(s3env, "cors", "get", bucket)) == "[]\n"


def test_cors_preflight_shows_allowed_origin(s3env, s3, bucket):
    s3.put_object(Bucket=bucket, Key="font.ttf", Body=b"font")
    ok(r2(s3env, "cors", "put", bucket, "-", input=json.dumps(RULES[:1])))
    url = f"{s3env['S3_ENDPOINT']}/{bucket}/font.ttf"
    status, h, _ = curl("-X", "OPTIONS",
                        "-H", "Origin: http://localhost:3000",
                        "-H", "Access-Control-Request-Method: GET", url)
    assert status == 200
    assert h.get("access-control-allow-origin") == "http://localhost:3000"
    assert "GET" in h.get("access-control-allow-methods", "")
    assert h.get("access-control-max-age") == "3600"
    # an origin the rules do not name gets no permission
    status, h, _ = curl("-X", "OPTIONS",
                        "-H", "Origin: https://evil.example",
                        "-H", "Access-Control-Request-Method: GET", url)
    assert "access-control-allow-origin" not in h
    # a method the rules do not allow neither
    status, h, _ = curl("-X", "OPTIONS",
                        "-H", "Origin: http://localhost:3000",
                        "-H", "Access-Control-Request-Method: DELETE", url)
    assert "access-control-allow-origin" not in h


BAD_CORS = [
    ("[{\"AllowedOrigins\": [\"*\"], \"AllowedMethods\": [\"GET\"],}]",
     "invalid JSON"),
    ("[{\"AllowedOrigins\": [\"*\"]", "invalid JSON"),
    ("not json", "invalid JSON"),
    ("", "empty"),
    ("[{\"AllowedOrigins\": [\"*\"], \"AllowedMethods\": [\"PATCH\"]}]",
     "unknown method \"PATCH\""),
    ("[{\"AllowedOrigins\": [\"*\"], \"AllowedMethods\": [\"get\"]}]",
     "unknown method \"get\""),
    ("[{\"AllowedOrigins\": [], \"AllowedMethods\": [\"GET\"]}]",
     "no AllowedOrigins"),
    ("[{\"AllowedOrigins\": [\"*\"], \"AllowedMethods\": [\"GET\"], "
     "\"MaxAgeSeconds\": -1}]", "MaxAgeSeconds"),
    ("[{\"AllowedOrigins\": [\"*\"], \"AllowedMethods\": [\"GET\"], "
     "\"MaxAgeSeconds\": 1.5}]", "MaxAgeSeconds"),
    ("[{\"AllowedOrigin\": [\"*\"], \"AllowedMethods\": [\"GET\"]}]",
     "unknown field \"AllowedOrigin\""),
    ("[]", "no CORS rules"),
]


@pytest.mark.parametrize("text,words", BAD_CORS)
def test_cors_invalid_refused_nothing_sent(s3env, s3, bucket, reqlog, text,
                                           words):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://keep.example"],
         "AllowedMethods": ["GET"]}]})
    p = r2(s3env, "cors", "put", bucket, "-", input=text)
    refused(p, 2, words)
    assert p.stdout == ""
    # nothing reached the server, and the rules are unchanged
    assert reqlog.requests() == []
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0][
        "AllowedOrigins"] == ["https://keep.example"]


def test_cors_invalid_refused_before_connecting(s3env, bucket, tmp_path):
    """Validation comes first: not even a dead endpoint is noticed."""
    f = tmp_path / "bad.json"
    f.write_text('[{"AllowedOrigins": ["*"], "AllowedMethods": ["TRACE"]}]')
    p = subprocess.run([r2_binary(), "--endpoint", "http://127.0.0.1:9",
                        "cors", "put", bucket, str(f)],
                       capture_output=True, text=True,
                       env=r2_env(s3env), timeout=60)
    line = refused(p, 2, str(f), "rule 1", "TRACE")
    assert "connect" not in line


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 200 to everything and keeps what it was sent."""
    seen = []

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        _Recorder.seen.append((self.command, self.path,
                               {k.lower(): v for k, v in
                                self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_DELETE = do_GET = _answer

    def log_message(self, *args):
        pass


def test_cors_put_wire_format(s3env, tmp_path):
    """What PutBucketCors sends: S3's XML, a Content-MD5 S3 requires (RGW
    does not check it, so a recording server does), the body's SHA-256."""
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Recorder.seen = []
    try:
        ep = f"http://127.0.0.1:{srv.server_port}"
        p = subprocess.run([r2_binary(), "--endpoint", ep, "cors", "put",
                            "wire-bucket", "-"],
                           input=json.dumps(RULES), capture_output=True,
                           text=True, env=r2_env(s3env), timeout=60)
        assert p.returncode == 0, p.stderr
        subprocess.run([r2_binary(), "--endpoint", ep, "cors", "delete",
                        "wire-bucket"], check=True, env=r2_env(s3env),
                       timeout=60)
    finally:
        srv.shutdown()
        srv.server_close()
    (m, path, h, body), (m2, path2, _, _) = _Recorder.seen
    assert (m, path) == ("PUT", "/wire-bucket?cors=")
    assert (m2, path2) == ("DELETE", "/wire-bucket?cors=")
    assert h["content-md5"] == base64.b64encode(
        hashlib.md5(body).digest()).decode()
    assert h["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert h["content-type"] == "application/xml"
    assert "content-md5" in h["authorization"].split("SignedHeaders=")[
        1].split(",")[0].split(";")
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    root = ET.fromstring(body)
    assert root.tag == ns + "CORSConfiguration"
    rules = root.findall(ns + "CORSRule")
    assert len(rules) == 2
    assert [e.text for e in rules[0].findall(ns + "AllowedOrigin")] == \
        RULES[0]["AllowedOrigins"]
    assert [e.text for e in rules[0].findall(ns + "AllowedMethod")] == \
        RULES[0]["AllowedMethods"]
    assert [e.text for e in rules[0].findall(ns + "AllowedHeader")] == \
        RULES[0]["AllowedHeaders"]
    assert [e.text for e in rules[0].findall(ns + "ExposeHeader")] == [
        "ETag"]
    assert rules[0].find(ns + "MaxAgeSeconds").text == "3600"
    assert rules[1].find(ns + "MaxAgeSeconds") is None


def test_cors_usage(s3env, bucket, tmp_path):
    refused(r2(s3env, "cors", "put", bucket), 2, "usage")
    refused(r2(s3env, "cors", "get", f"{bucket}/key"), 2, "BUCKET")
    refused(r2(s3env, "cors", "put", bucket, str(tmp_path / "none.json")),
            1, "cannot read", "none.json")
    refused(r2(s3env, "cors", "get", "no-such-bucket-r2"), 1,
            "bucket 'no-such-bucket-r2' does not exist")


# ---------------------------------------------------------------- ls

def put_many(s3, bucket, keys, body=b"x"):
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=body),
                    keys))


def ls_names(out):
    """(kind, size, name) of each line of r2 ls."""
    rows = []
    for line in out.splitlines():
        m = re.fullmatch(r" {19} +PRE (.+)", line)
        if m:
            rows.append(("PRE", None, m.group(1)))
            continue
        m = re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +(\d+) (.*)", line)
        assert m, f"unexpected ls line {line!r}"
        rows.append(("OBJ", int(m.group(1)), m.group(2)))
    return rows


def test_ls_buckets(s3env, s3, bucket):
    out = ok(r2(s3env, "ls"))
    names = [l.split()[-1] for l in out.splitlines()]
    assert bucket in names
    want = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert set(names) == want
    line = [l for l in out.splitlines() if l.endswith(" " + bucket)][0]
    created = [b["CreationDate"] for b in s3.list_buckets()["Buckets"]
               if b["Name"] == bucket][0]
    assert line.startswith(created.strftime("%Y-%m-%d %H:%M:%S"))


def test_ls_levels_and_prefixes(s3env, s3, bucket):
    s3.put_object(Bucket=bucket, Key="top.txt", Body=b"12345")
    s3.put_object(Bucket=bucket, Key="photos/", Body=b"")
    s3.put_object(Bucket=bucket, Key="photos/cat.jpg", Body=b"c" * 10)
    s3.put_object(Bucket=bucket, Key="photos/2024/dog.jpg", Body=b"d")
    s3.put_object(Bucket=bucket, Key="photos.txt", Body=b"p")
    s3.put_object(Bucket=bucket, Key="a b/c d.txt", Body=b"")
    # key order: '.' sorts before '/'
    assert ls_names(ok(r2(s3env, "ls", bucket))) == [
        ("PRE", None, "a b/"), ("OBJ", 1, "photos.txt"),
        ("PRE", None, "photos/"), ("OBJ", 5, "top.txt")]
    assert ls_names(ok(r2(s3env, "ls", bucket + "/"))) == ls_names(
        ok(r2(s3env, "ls", "s3://" + bucket)))
    # issue 20: the prefix's own marker ("photos/", an empty name here)
    # is not listed as an entry of itself
    assert ls_names(ok(r2(s3env, "ls", bucket + "/photos/"))) == [
        ("PRE", None, "2024/"), ("OBJ", 10, "cat.jpg")]
    assert ls_names(ok(r2(s3env, "ls", bucket + "/photos"))) == [
        ("OBJ", 1, "photos.txt"), ("PRE", None, "photos/")]
    assert ls_names(ok(r2(s3env, "ls", "-r", bucket + "/photos/"))) == [
        ("OBJ", 0, "photos/"), ("OBJ", 1, "photos/2024/dog.jpg"),
        ("OBJ", 10, "photos/cat.jpg")]
    assert ok(r2(s3env, "ls", bucket + "/nothing-here/")) == ""
    # the time is the object's Last-Modified
    lm = s3.head_object(Bucket=bucket, Key="top.txt")["LastModified"]
    line = [l for l in ok(r2(s3env, "ls", bucket)).splitlines()
            if l.endswith(" top.txt")][0]
    assert line.startswith(lm.strftime("%Y-%m-%d %H:%M:%S"))


def test_ls_paginates(s3env, s3, bucket):
    keys = [f"many/k{i:05d}" for i in range(1100)]
    put_many(s3, bucket, keys + [f"many/sub{i:04d}/x" for i in range(1010)])
    rows = ls_names(ok(r2(s3env, "ls", bucket + "/many/")))
    assert [r[2] for r in rows if r[0] == "OBJ"] == [k[5:] for k in keys]
    assert [r[2] for r in rows if r[0] == "PRE"] == [
        f"sub{i:04d}/" for i in range(1010)]
    assert [r[2] for r in rows] == sorted(r[2] for r in rows)
    rows = ls_names(ok(r2(s3env, "ls", "-r", bucket)))
    assert len(rows) == 2110


def test_ls_errors(s3env, bucket):
    refused(r2(s3env, "ls", "no-such-bucket-r2"), 1,
            "bucket 'no-such-bucket-r2' does not exist")
    refused(r2(s3env, "ls", "-r"), 2, "needs a bucket")
    refused(r2(s3env, "ls", bucket, bucket), 2, "at most one")


# ---------------------------------------------------------------- stat, head

def stat_fields(out):
    d = {}
    for line in out.splitlines():
        k, v = line.split(":", 1) if not line.startswith("x-amz-meta-") \
            else line.split(": ", 1)
        d[k] = v.strip()
    return d


def test_stat_decodes_r2fs_metadata(s3env, s3, bucket):
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"hello",
                  ContentType="text/plain",
                  Metadata={"mode": str(0o100640), "uid": "1234",
                            "gid": "5678", "mtime": "1700000000.25",
                            "color": "blue"})
    d = stat_fields(ok(r2(s3env, "stat", f"{bucket}/doc.txt")))
    head = s3.head_object(Bucket=bucket, Key="doc.txt")
    assert d["Object"] == f"{bucket}/doc.txt"
    assert d["Type"] == "regular file"
    assert d["Size"] == "5"
    assert d["ETag"] == head["ETag"].strip('"')
    assert d["Last-Modified"] == head["LastModified"].strftime(
        "%Y-%m-%d %H:%M:%S +0000")
    assert d["Content-Type"] == "text/plain"
    assert d["Mode"] == "-rw-r----- (0640)"
    assert d["Uid"] == "1234"
    assert d["Gid"] == "5678"
    assert d["Mtime"] == "2023-11-14 22:13:20.250000000 +0000"
    assert d["Metadata"].startswith("r2fs")
    assert d["x-amz-meta-color"] == "blue"


def test_stat_defaults_and_directories(s3env, s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain.bin", Body=b"abc")
    s3.put_object(Bucket=bucket, Key="rcl.bin", Body=b"",
                  Metadata={"mode": "100755"})  # rclone's octal
    s3.put_object(Bucket=bucket, Key="marker/", Body=b"",
                  Metadata={"mode": str(0o40700)})
    s3.put_object(Bucket=bucket, Key="implied/deep/file", Body=b"")
    s3.put_object(Bucket=bucket, Key="link", Body=b"target",
                  Metadata={"mode": str(0o120777)})
    d = stat_fields(ok(r2(s3env, "stat", f"{bucket}/plain.bin")))
    assert d["Mode"] == "-rw-r--r-- (0644)"
    assert d["Uid"] == str(os.getuid()) and d["Gid"] == str(os.getgid())
    lm = s3.head_object(Bucket=bucket, Key="plain.bin")["LastModified"]
    assert d["Mtime"] == lm.strftime("%Y-%m-%d %H:%M:%S.000000000 +0000")
    assert d["Metadata"].startswith("none")
    d = stat_fields(ok(r2(s3env, "stat", f"{bucket}/rcl.bin")))
    assert d["Mode"] == "-rwxr-xr-x (0755)"
    for name in ("marker", "marker/"):
        d = stat_fields(ok(r2(s3env, "stat", f"{bucket}/{name}")))
        assert d["Object"] == f"{bucket}/marker/"
        assert d["Type"] == "directory"
        assert d["Mode"] == "drwx------ (0700)"
    d = stat_fields(ok(r2(s3env, "stat", f"{bucket}/implied")))
    assert d["Type"].startswith("directory (implied")
    assert d["Mode"] == "drwxr-xr-x (0755)"
    assert not d["Mtime"].startswith("1970")
    d = stat_fields(ok(r2(s3env, "stat", f"{bucket}/link")))
    assert d["Type"] == "symbolic link"
    assert d["Mode"] == "lrwxrwxrwx (0777)"
    refused(r2(s3env, "stat", f"{bucket}/missing"), 1,
            f"'{bucket}/missing': no such object")
    refused(r2(s3env, "stat", "no-such-bucket-r2/x"), 1, "does not exist")


def test_head(s3env, s3, bucket):
    s3.put_object(Bucket=bucket, Key="h.txt", Body=b"12345678",
                  ContentType="text/csv", Metadata={"mode": "33188"})
    out = ok(r2(s3env, "head", f"{bucket}/h.txt"))
    head = s3.head_object(Bucket=bucket, Key="h.txt")
    lines = out.splitlines()
    assert "Content-Length: 8" in lines
    assert "Content-Type: text/csv" in lines
    assert f"ETag: {head['ETag']}" in lines
    assert "Last-Modified: " + head["LastModified"].strftime(
        "%a, %d %b %Y %H:%M:%S GMT") in lines
    assert "x-amz-meta-mode: 33188" in lines
    refused(r2(s3env, "head", f"{bucket}/nope"), 1, "no such object")


# ---------------------------------------------------------------- cp, rm

def test_cp_100mib_round_trip_multipart(s3env, s3, bucket, tmp_path):
    src = random_file(tmp_path / "big.bin", 100 * MIB)
    want = sha256_file(src)
    ok(r2(s3env, "cp", src, f"{bucket}/data/"))
    head = s3.head_object(Bucket=bucket, Key="data/big.bin")
    assert head["ContentLength"] == 100 * MIB
    # above 64 MiB: equal 8 MiB parts, so 13 of them
    assert head["ETag"].strip('"').endswith("-13")
    assert sha256_object(s3, bucket, "data/big.bin") == want
    # (RGW cannot show part sizes; test_multipart checks they are equal)
    dst = tmp_path / "back.bin"
    ok(r2(s3env, "cp", f"{bucket}/data/big.bin", str(dst)))
    assert sha256_file(dst) == want
    assert not [p for p in os.listdir(tmp_path) if ".r2-" in p]


def test_cp_multipart_threshold(s3env, s3, bucket, tmp_path):
    at = random_file(tmp_path / "at.bin", 64 * MIB)
    above = random_file(tmp_path / "above.bin", 64 * MIB + 1)
    ok(r2(s3env, "cp", at, f"{bucket}/at.bin"))
    ok(r2(s3env, "cp", above, f"{bucket}/above.bin"))
    etag = s3.head_object(Bucket=bucket, Key="at.bin")["ETag"].strip('"')
    assert "-" not in etag  # one PUT
    assert etag == hashlib.md5(open(at, "rb").read()).hexdigest()
    etag = s3.head_object(Bucket=bucket, Key="above.bin")["ETag"].strip('"')
    assert etag.endswith("-9")  # 8 x 8 MiB + 1 byte
    assert sha256_object(s3, bucket, "above.bin") == sha256_file(above)


def test_cp_upload_metadata_and_type(s3env, s3, bucket, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("some notes\n")
    os.chmod(f, 0o600)
    os.utime(f, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    ok(r2(s3env, "cp", str(f), f"{bucket}/n/notes.txt"))
    head = s3.head_object(Bucket=bucket, Key="n/notes.txt")
    assert head["ContentType"] == "text/plain"
    st = os.stat(f)
    assert head["Metadata"] == {
        "mode": str(st.st_mode), "uid": str(st.st_uid),
        "gid": str(st.st_gid), "mtime": "1600000000.123456789"}
    d = stat_fields(ok(r2(s3env, "stat", f"{bucket}/n/notes.txt")))
    assert d["Mode"] == "-rw------- (0600)"
    assert d["Mtime"] == "2020-09-13 12:26:40.123456789 +0000"
    ok(r2(s3env, "cp", "--content-type", "application/x-custom", str(f),
          f"s3://{bucket}/n/typed"))
    assert s3.head_object(Bucket=bucket, Key="n/typed")[
        "ContentType"] == "application/x-custom"
    # empty file
    e = tmp_path / "empty"
    e.write_bytes(b"")
    ok(r2(s3env, "cp", str(e), f"{bucket}/"))
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


def test_cp_download_into_directory_and_errors(s3env, s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="d/file.txt", Body=b"content")
    ok(r2(s3env, "cp", f"{bucket}/d/file.txt", str(tmp_path)))
    assert (tmp_path / "file.txt").read_bytes() == b"content"
    assert oct((tmp_path / "file.txt").stat().st_mode & 0o777) == oct(
        0o666 & ~get_umask())
    # overwrite keeps the target's permissions
    os.chmod(tmp_path / "file.txt", 0o600)
    s3.put_object(Bucket=bucket, Key="d/file.txt", Body=b"newer")
    ok(r2(s3env, "cp", f"{bucket}/d/file.txt", str(tmp_path / "file.txt")))
    assert (tmp_path / "file.txt").read_bytes() == b"newer"
    assert (tmp_path / "file.txt").stat().st_mode & 0o777 == 0o600
    # a missing object leaves nothing behind
    refused(r2(s3env, "cp", f"{bucket}/d/none.txt", str(tmp_path / "n")),
            1, "no such object")
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]
    refused(r2(s3env, "cp", str(tmp_path / "nothere"), f"{bucket}/x"), 1,
            "cannot open")
    refused(r2(s3env, "cp", str(tmp_path), f"{bucket}/x"), 2,
            "not a regular file")
    refused(r2(s3env, "cp", "a.txt", "b.txt"), 2, "neither")
    refused(r2(s3env, "cp", f"{bucket}/a", f"s3://{bucket}/b"), 2,
            "not between two buckets")


def get_umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_rm(s3env, s3, bucket):
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="also gone", Body=b"y")
    ok(r2(s3env, "rm", f"{bucket}/gone.txt"))
    ok(r2(s3env, "delete", f"{bucket}/also gone"))
    for k in ("gone.txt", "also gone"):
        with pytest.raises(s3.exceptions.ClientError):
            s3.head_object(Bucket=bucket, Key=k)
    refused(r2(s3env, "rm", f"{bucket}/gone.txt"), 1,
            f"'{bucket}/gone.txt': no such object")
    refused(r2(s3env, "rm", bucket), 2, "names no object")


def run_on_pty(argv, env):
    """Run argv with stderr on a pseudo-terminal; returns (rc, stderr)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=slave,
                         env=env)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 600)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(600)
    os.close(master)
    return p.returncode, out.decode(errors="replace")


def test_cp_progress_only_on_a_terminal(s3env, s3, bucket, tmp_path):
    src = random_file(tmp_path / "p.bin", 80 * MIB)
    argv = [r2_binary(), "--endpoint", s3env["S3_ENDPOINT"], "cp", src,
            f"{bucket}/p.bin"]
    rc, err = run_on_pty(argv, r2_env(s3env))
    assert rc == 0, err
    assert "80.0 MiB / 80.0 MiB  100%" in err
    assert "MiB/s" in err
    assert "\r" in err
    rc, err = run_on_pty([r2_binary(), "--endpoint", s3env["S3_ENDPOINT"],
                          "cp", f"{bucket}/p.bin", str(tmp_path / "q.bin")],
                         r2_env(s3env))
    assert rc == 0, err
    assert "100%" in err
    # not a terminal: nothing at all
    assert ok(r2(s3env, "cp", src, f"{bucket}/p2.bin")) == ""
    assert r2(s3env, "cp", f"{bucket}/p2.bin",
              str(tmp_path / "r.bin")).stderr == ""


# ---------------------------------------------------------------- errors

def test_remote_errors_are_one_sentence(s3env, bucket, tmp_path):
    secret = "wrong" * 8
    p = r2(s3env, "stat", f"{bucket}/x",
           env={"AWS_SECRET_ACCESS_KEY": secret})
    refused(p, 1, "secret key does not match")
    assert secret not in p.stderr
    p = r2(s3env, "-d", "cors", "get", bucket,
           env={"AWS_SECRET_ACCESS_KEY": secret})
    assert p.returncode == 1 and secret not in p.stderr
    assert s3env["AWS_SECRET_ACCESS_KEY"] not in p.stderr
    refused(r2(s3env, "ls", env={"AWS_ACCESS_KEY_ID": "NOSUCHKEY0000"}), 1,
            "access key is not known")
    p = subprocess.run([r2_binary(), "--endpoint", "http://127.0.0.1:9",
                        "--retries", "0", "ls", bucket],
                       capture_output=True, text=True, env=r2_env(s3env),
                       timeout=60)
    refused(p, 1, "cannot connect", "127.0.0.1:9")


def test_usage_errors(s3env, bucket, tmp_path):
    refused(r2(s3env, "frobnicate"), 2, "unknown command")
    refused(r2(s3env, "ls", "--no-such-option"), 2, "unknown option")
    refused(r2(s3env, "--region"), 2, "needs a value")
    refused(r2(s3env, "--retries", "many", "ls"), 2, "--retries")
    refused(r2(s3env, "ls", endpoint=False), 2, "no endpoint")
    refused(r2(s3env, "--endpoint", "ftp://x", "ls", endpoint=False), 2,
            "not a URL")
    refused(r2(s3env, "--account-id", "0123abcd", "--endpoint", "http://x",
               "ls", endpoint=False), 2, "either --endpoint or --account-id")
    refused(r2(s3env, "ls", env={"AWS_ACCESS_KEY_ID": "",
                                 "AWS_SECRET_ACCESS_KEY": "",
                                 "HOME": str(tmp_path),
                                 "AWS_SHARED_CREDENTIALS_FILE": ""}),
            2, "no credentials", "--passwd-file")
    p = r2(s3env, endpoint=False)
    assert p.returncode == 2 and "usage: r2" in p.stderr


def test_endpoint_and_credentials_from_files_and_environment(s3env, s3,
                                                             bucket,
                                                             tmp_path):
    s3.put_object(Bucket=bucket, Key="e.txt", Body=b"e")
    pw = tmp_path / "passwd"
    pw.write_text(f"{s3env['AWS_ACCESS_KEY_ID']}:"
                  f"{s3env['AWS_SECRET_ACCESS_KEY']}\n")
    pw.chmod(0o600)
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
           "R2_ENDPOINT": s3env["S3_ENDPOINT"], "HOME": str(tmp_path),
           "AWS_SHARED_CREDENTIALS_FILE": ""}
    out = ok(r2(s3env, "--passwd-file", str(pw), "ls", bucket, env=env,
                endpoint=False))
    assert out.endswith(" e.txt\n")
    pw.chmod(0o644)
    refused(r2(s3env, "--passwd-file", str(pw), "ls", bucket, env=env,
               endpoint=False), 2, "chmod 600")
    creds = tmp_path / "credentials"
    creds.write_text(f"[work]\naws_access_key_id = "
                     f"{s3env['AWS_ACCESS_KEY_ID']}\naws_secret_access_key = "
                     f"{s3env['AWS_SECRET_ACCESS_KEY']}\n")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(creds)
    out = ok(r2(s3env, "--profile", "work", "ls", bucket, env=env,
                endpoint=False))
    assert out.endswith(" e.txt\n")


def test_help_matches_man_page(s3env):
    helptext = ok(r2(s3env, "--help", endpoint=False))
    with open(os.path.join(SRCDIR, "man", "r2.1")) as f:
        man = f.read().replace("\\-", "-")
    man = man.split(".SH EXAMPLES")[0]  # curl's options are not ours
    opt = r"(?<![\w-])--[a-z][a-z-]*[a-z]"
    help_opts = set(re.findall(opt, helptext))
    man_opts = set(re.findall(opt, man))
    assert help_opts - man_opts == set()
    assert man_opts - help_opts == {"--now"}  # for tests, not in --help
    for cmd in ("ls", "stat", "head", "cp", "rm", "delete", "presign get",
                "presign put", "cors get", "cors put", "cors delete"):
        assert re.search(r"^  " + cmd + r"\b", helptext, re.M) or (
            cmd == "delete" and "(also: delete)" in helptext), cmd
        assert cmd.split()[0] in man
    for default in ("3600", "604800", "default 5", "default 10", "auto",
                    "64 MiB"):
        assert default in helptext and default in man, default
