"""Fixtures for r2fs integration tests: a real S3 server, buckets, mounts.

The S3 server is Ceph RGW started by tests/s3server (it verifies SigV4), or
the one named by R2FS_S3_ENV (a file of shell assignments, as written by
tests/s3server or tests/r2proxy) when tests/run-all already started it.
boto3 is the independent client that checks what really landed in the
bucket; it talks to RGW directly (S3_ENDPOINT, plain HTTP).

Mounts go through the R2 personality (tests/r2proxy: HTTPS with a test CA,
R2's one write per second per key, equal parts, no Expect or chunked
bodies) when the environment has one (R2PROXY_ENDPOINT); conftest starts
one with the server it starts itself unless R2FS_NO_R2PROXY=1.  A test
whose mounts had a request refused for breaking one of R2's rules fails
(see check_refusals).

Mounts run `r2fs -f` as a child process so its stderr can be checked:
a mount that logs an unexpected error or warning fails its test.
"""

import os
import resource
import shlex
import subprocess
import tempfile
import time
import uuid

import boto3
import botocore.config
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))

# tests/run-all sets this for the ASan + UBSan run: sanitized code runs
# several times slower, so the few tests that move many GiB use a smaller
# size that takes the same code paths (see sized()).
SANITIZED = os.environ.get("R2FS_TEST_SANITIZED") == "1"


def sized(full, sanitized):
    """The size for a data-heavy test: full normally, sanitized in the
    sanitizer run."""
    return sanitized if SANITIZED else full


def r2fs_binary():
    path = os.environ.get("R2FS_BIN") or os.path.join(SRCDIR, "r2fs")
    if not os.access(path, os.X_OK):
        pytest.exit(f"r2fs binary not found at {path} (set R2FS_BIN)", 2)
    return path


def read_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            env[k] = shlex.split(v)[0] if v else ""
    return env


@pytest.fixture(scope="session")
def s3env():
    """Endpoint and keys of a running, signature-checking S3 server.

    S3_DIR is the server's state directory (its request log is there)."""
    given = os.environ.get("R2FS_S3_ENV")
    if given:
        env = read_env_file(given)
        env.setdefault("S3_DIR", os.path.dirname(os.path.abspath(given)))
        yield env
        return
    d = tempfile.mkdtemp(prefix="r2fs-s3-")
    script = os.path.join(SRCDIR, "tests", "s3server")
    proxy = os.path.join(SRCDIR, "tests", "r2proxy")
    pd = d + "-r2proxy"
    use_proxy = os.environ.get("R2FS_NO_R2PROXY") != "1"
    subprocess.run([script, "start", d], check=True,
                   stdout=subprocess.DEVNULL)
    try:
        if use_proxy:
            subprocess.run([proxy, "start", pd, d], check=True,
                           stdout=subprocess.DEVNULL)
            env = read_env_file(os.path.join(pd, "env"))
        else:
            env = read_env_file(os.path.join(d, "env"))
        env["S3_DIR"] = d
        yield env
    finally:
        if use_proxy:
            subprocess.run([proxy, "stop", pd], check=False)
        subprocess.run([script, "stop", d], check=False)


class RequestLog:
    """The S3 server's access log, as r2fs's requests to one bucket.

    RGW logs one line per request ("PUT /bucket/key HTTP/1.1" ... agent);
    we keep the lines whose agent is r2fs and whose path is the bucket's.
    """

    def __init__(self, s3env, bucket):
        self.path = os.path.join(s3env["S3_DIR"], "log", "client.rgw.log")
        self.bucket = bucket
        self.start = os.path.getsize(self.path)

    def requests(self, settle=1.0):
        import re
        time.sleep(settle)  # the server writes its log asynchronously
        if settle:
            # ... and its log thread may lag on a loaded machine: wait
            # until the log stops growing, 5 s at most
            deadline = time.time() + 5
            size = os.path.getsize(self.path)
            while time.time() < deadline:
                time.sleep(0.2)
                grown = os.path.getsize(self.path)
                if grown == size:
                    break
                size = grown
        pat = re.compile(r'"([A-Z]+) (/[^ ]*) HTTP/1\.1" (\d+) .*"r2fs/')
        out = []
        with open(self.path, errors="replace") as f:
            f.seek(self.start)
            for line in f:
                m = pat.search(line)
                if not m:
                    continue
                method, target, status = m.groups()
                if target.split("?")[0].split("/")[1] != self.bucket:
                    continue
                out.append((method, target, int(status)))
        return out

    def count(self, method, key_pred=lambda target: True):
        return sum(1 for m, t, _ in self.requests()
                   if m == method and key_pred(t))


class Refusals:
    """The R2 personality's refusals (tests/r2proxy writes one JSON line
    per refused request) from here on."""

    def __init__(self, s3env):
        d = s3env.get("R2PROXY_DIR")
        self.path = os.path.join(d, "refusals.log") if d else None
        self.start = self._size()

    def _size(self):
        try:
            return os.path.getsize(self.path) if self.path else 0
        except OSError:
            return 0

    def all(self, agent="r2fs/"):
        """Refusals since the start whose user agent starts with agent
        ("" for every client)."""
        import json
        if not self.path:
            return []
        out = []
        with open(self.path, errors="replace") as f:
            f.seek(self.start)
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("agent", "").startswith(agent):
                    out.append(r)
        return out


def r2proxy_stats(s3env):
    """The personality's counters: connections, handshakes, resumed
    (TLS sessions resumed), requests, refusals by rule."""
    import json
    import ssl
    import urllib.request
    ctx = ssl.create_default_context(cafile=s3env["R2PROXY_CA_FILE"])
    with urllib.request.urlopen(s3env["R2PROXY_ENDPOINT"] +
                                "/.r2proxy/stats", context=ctx,
                                timeout=10) as r:
        return json.loads(r.read())


def r2proxy_control(s3env, method, path):
    import ssl
    import urllib.request
    ctx = ssl.create_default_context(cafile=s3env["R2PROXY_CA_FILE"])
    req = urllib.request.Request(s3env["R2PROXY_ENDPOINT"] + path,
                                 method=method)
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        r.read()


@pytest.fixture
def r2s3(s3env):
    """A boto3 client through the R2 personality (HTTPS, R2's rules),
    without the Expect: 100-continue that R2 refuses; retries off, so a
    test sees each refusal."""
    if not s3env.get("R2PROXY_ENDPOINT"):
        pytest.skip("no R2 personality (R2FS_NO_R2PROXY=1)")
    c = boto3.client(
        "s3",
        endpoint_url=s3env["R2PROXY_ENDPOINT"],
        verify=s3env["R2PROXY_CA_FILE"],
        aws_access_key_id=s3env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3env["AWS_SECRET_ACCESS_KEY"],
        region_name=s3env.get("S3_REGION", "us-east-1"),
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1, "mode": "standard"}),
    )

    def no_expect(request, **kw):
        request.headers.pop("Expect", None)

    c.meta.events.register("before-send.s3", no_expect)
    return c


@pytest.fixture
def reqlog(s3env, bucket):
    """Counts r2fs's requests to the test's bucket from here on."""
    return RequestLog(s3env, bucket)


@pytest.fixture(scope="session")
def s3(s3env):
    """A boto3 client: the independent view of the bucket."""
    return boto3.client(
        "s3",
        endpoint_url=s3env["S3_ENDPOINT"],
        aws_access_key_id=s3env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3env["AWS_SECRET_ACCESS_KEY"],
        region_name=s3env.get("S3_REGION", "us-east-1"),
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3},
            max_pool_connections=32),
    )


def list_keys(s3, bucket, prefix=""):
    """Every key under prefix, all pages, as boto3 sees them."""
    out, token = [], None
    while True:
        kw = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        out += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return out
        token = page["NextContinuationToken"]


def empty_bucket(s3, name):
    token = None
    while True:
        kw = {"Bucket": name}
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]


@pytest.fixture
def bucket(s3):
    """A new empty bucket, removed with its contents afterwards."""
    name = "t-" + uuid.uuid4().hex[:20]
    s3.create_bucket(Bucket=name)
    yield name
    try:
        empty_bucket(s3, name)
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass


def is_mount(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


class Mount:
    """One r2fs process (foreground) and its mount point."""

    def __init__(self, s3env, bucket, opts=(), env_extra=None, cache=None,
                 endpoint=None, nofile=None):
        self.bucket = bucket
        self.dir = tempfile.mkdtemp(prefix="r2fs-mnt-")
        self.own_cache = cache is None
        self.cache = cache or tempfile.mkdtemp(prefix="r2fs-cache-")
        # tests/run-all keeps every mount's log (R2FS_TEST_LOG_DIR) and
        # greps them all for the secret key after the run
        self.keep_log = bool(os.environ.get("R2FS_TEST_LOG_DIR"))
        self.log = tempfile.NamedTemporaryFile(
            prefix="r2fs-log-", delete=False,
            dir=os.environ.get("R2FS_TEST_LOG_DIR"))
        self.env = dict(os.environ)
        self.env.update({
            "AWS_ACCESS_KEY_ID": s3env["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": s3env["AWS_SECRET_ACCESS_KEY"],
        })
        self.env.update(env_extra or {})
        # through the R2 personality unless the test names an endpoint
        if endpoint is None:
            endpoint = s3env.get("R2PROXY_ENDPOINT") or s3env["S3_ENDPOINT"]
        o = ["endpoint=" + endpoint, "cache_dir=" + self.cache]
        if (endpoint.startswith("https:") and s3env.get("R2PROXY_CA_FILE")
                and not any(x.startswith(("ca_file=", "ca_path="))
                            for x in opts)):
            o.append("ca_file=" + s3env["R2PROXY_CA_FILE"])
        o += list(opts)
        self.argv = [r2fs_binary(), bucket, self.dir, "-f", "-o",
                     ",".join(o)]
        # nofile: (soft, hard) RLIMIT_NOFILE the daemon starts with
        limit = None if nofile is None else (
            lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile))
        self.proc = subprocess.Popen(self.argv, env=self.env,
                                     stdout=self.log, stderr=self.log,
                                     preexec_fn=limit)
        deadline = time.time() + 20
        while not is_mount(self.dir):
            if self.proc.poll() is not None:
                self.fail("r2fs exited: ")
            if time.time() > deadline:
                self.proc.kill()
                self.proc.wait()
                self.fail("r2fs did not mount: ")
            time.sleep(0.05)

    def fail(self, what):
        """The daemon did not mount: leave nothing behind in /tmp, and
        raise with its output (tests that expect the failure read it)."""
        out = self.output()
        self.cleanup()
        raise RuntimeError(what + out)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def sync(self, path=None, check=True):
        """r2fs sync: everything pending is in the bucket when it returns."""
        p = subprocess.run([r2fs_binary(), "sync", path or self.dir],
                           capture_output=True, text=True, timeout=600)
        if check:
            assert p.returncode == 0, p.stderr
        return p

    def state(self, path):
        return os.getxattr(path, "user.r2.state").decode()

    def kill9(self):
        """Kill the daemon as a crash would, and drop the dead mount."""
        self.proc.kill()
        self.proc.wait()
        subprocess.run(["fusermount3", "-uz", self.dir], check=False)

    def output(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def unmount(self, timeout=120):
        if self.proc.poll() is None:
            subprocess.run(["fusermount3", "-u", self.dir], check=False)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                subprocess.run(["fusermount3", "-uz", self.dir],
                               check=False)
                raise
        return self.proc.returncode

    def cleanup(self):
        if is_mount(self.dir):
            subprocess.run(["fusermount3", "-uz", self.dir], check=False)
        for p in (self.dir,):
            try:
                os.rmdir(p)
            except OSError:
                pass
        if self.own_cache:
            subprocess.run(["rm", "-rf", self.cache], check=False)
        if not self.keep_log:
            os.unlink(self.log.name)


@pytest.fixture
def mounter(s3env, bucket):
    """Factory: mounter(bucket, opts=...) -> Mount; all unmounted after.

    Depends on the bucket fixture so the bucket outlives the mounts (an
    unmount uploads what is pending).

    A mount whose log shows an error or warning that its test did not
    declare (expect_log=...) fails the test."""
    mounts = []
    refusals = Refusals(s3env)

    def make(bucket, opts=(), env_extra=None, cache=None, endpoint=None,
             nofile=None):
        m = Mount(s3env, bucket, opts, env_extra, cache, endpoint, nofile)
        m.expect_log = []
        mounts.append(m)
        return m

    yield make
    problems = []
    for m in mounts:
        try:
            if m.proc.returncode is not None and m.proc.returncode < 0:
                continue  # killed on purpose by its test
            rc = m.unmount()
            out = m.output()
            if rc != 0:
                problems.append(f"r2fs exited {rc}: {out}")
            for line in out.splitlines():
                if (": error:" in line or ": warning:" in line) and not any(
                        e in line for e in m.expect_log):
                    problems.append("unexpected log line: " + line)
            if s3env["AWS_SECRET_ACCESS_KEY"] in out:
                problems.append("the secret key is in r2fs's log")
        finally:
            m.cleanup()
    problems += check_refusals(refusals.all())
    if problems:
        pytest.fail("\n".join(problems))


def check_refusals(refused):
    """What the R2 personality refused of r2fs's requests during a test:
    a request R2 would refuse outright (unequal parts, Expect, chunked or
    streaming bodies) is a bug.  A 429 SlowDown (a second write of a key
    within a second) is retried by r2fs and what R2 does too: those are
    counted into R2FS_TEST_LOG_DIR/slowdowns, and a dedicated test
    (test_r2rules.py) asserts that r2fs's own patterns cause none."""
    problems = []
    slow = [r for r in refused if r["rule"] == "slowdown"]
    for r in refused:
        if r["rule"] != "slowdown":
            problems.append("the R2 personality refused r2fs's %s %s: "
                            "%s (%s)" % (r["method"], r["target"],
                                         r["code"], r["rule"]))
    d = os.environ.get("R2FS_TEST_LOG_DIR")
    if slow and d:
        with open(os.path.join(d, "slowdowns"), "a") as f:
            f.write("%s %d %s\n" % (
                os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0],
                len(slow), " ".join(sorted({r["method"] + " " +
                                            r["target"] for r in slow}))))
    return problems


@pytest.fixture
def mnt(mounter, bucket):
    """A mount of a fresh bucket."""
    return mounter(bucket)
