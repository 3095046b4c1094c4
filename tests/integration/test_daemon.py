"""Running r2fs for real: where its log goes, what it says after the
unmount, its pid file, r2fs wait and r2fs pending, SIGTERM, the failure
counter, and the usage of its commands."""

import json
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import SRCDIR, is_mount, r2fs_binary
from faultproxy import FaultProxy
from tcpproxy import TcpProxy

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} r2fs\[\d+\]: "


def journals(cache):
    return sorted(n for n in os.listdir(cache) if n.startswith("journal-"))


def r2fs(*args, timeout=120):
    return subprocess.run([r2fs_binary()] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def proxy_of(s3env, cls, **kw):
    host, port = s3env["S3_ENDPOINT"].rsplit("/", 1)[1].split(":")
    return cls(host, int(port), **kw)


# ---------------------------------------------------------------- logs

def test_log_file_and_level(mounter, bucket, tmp_path):
    quiet = tmp_path / "warn.log"
    m = mounter(bucket, opts=[f"log_file={quiet}", "log_level=warn"])
    with open(m.path("a.txt"), "w") as f:
        f.write("a")
    m.sync()
    assert m.unmount() == 0
    assert quiet.exists() and "info:" not in quiet.read_text()
    assert "r2fs:" not in m.output()  # nothing on stderr either

    log = tmp_path / "info.log"
    m = mounter(bucket, opts=[f"log_file={log}"])
    os.listdir(m.dir)
    assert m.unmount() == 0
    text = log.read_text()
    assert re.search("^" + STAMP + r"info: mounted " + bucket + " at ",
                     text, re.M), text
    assert re.search("^" + STAMP + r"info: unmounted ", text, re.M), text
    assert "r2fs:" not in m.output()

    with pytest.raises(RuntimeError) as e:
        mounter(bucket, opts=["log_level=loud"])
    assert "log_level must be error, warn, info or debug" in str(e.value)
    with pytest.raises(RuntimeError) as e:
        mounter(bucket, opts=[f"log_file={tmp_path}/no/such/dir/log"])
    assert "cannot open the log file" in str(e.value)


def test_debug_traces_each_request(mounter, bucket, s3env):
    m = mounter(bucket, opts=["log_level=debug"])
    with open(m.path("t.txt"), "w") as f:
        f.write("trace")
    m.sync()
    os.listdir(m.dir)
    assert m.unmount() == 0
    out = m.output()
    put = re.search(r"^r2fs: debug: http: PUT /" + bucket + r"/t\.txt: 200, "
                    r"5 B up, \d+ B down, \d+ ms, 0 retries$", out, re.M)
    assert put, out
    assert re.search(r"^r2fs: debug: http: GET /" + bucket +
                     r"\?[^ ]*list-type=2[^ ]*: 200, ", out, re.M), out
    assert "unique:" not in out  # libfuse's trace is -d's
    assert s3env["AWS_SECRET_ACCESS_KEY"] not in out
    assert "Authorization" not in out and "Signature=" not in out

    m = mounter(bucket, opts=["debug"])  # -d: both traces
    os.listdir(m.dir)
    assert m.unmount() == 0
    out = m.output()
    assert "unique:" in out and "r2fs: debug: http: GET /" in out


# ------------------------------------------------- after the unmount

def exited(pid):
    """Has pid exited (gone, or a zombie nobody has reaped yet)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


class Daemon:
    """r2fs as a user starts it: daemon mode, its own cache and log."""

    def __init__(self, s3env, bucket, tmp_path, opts=(), endpoint=None):
        self.dir = str(tmp_path / "mnt")
        self.cache = str(tmp_path / "cache")
        os.mkdir(self.dir)
        env = dict(os.environ,
                   AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
                   AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"])
        o = ["endpoint=" + (endpoint or s3env["S3_ENDPOINT"]),
             "cache_dir=" + self.cache] + list(opts)
        p = subprocess.run([r2fs_binary(), bucket, self.dir, "-o",
                            ",".join(o)], env=env, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stderr == ""
        assert is_mount(self.dir)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def pidfile(self):
        (j,) = journals(self.cache)
        return os.path.join(self.cache, j, "pid")

    def close(self):
        if is_mount(self.dir):
            subprocess.run(["fusermount3", "-u", self.dir], check=False)
        r2fs("wait", self.cache, timeout=300)


@pytest.mark.skipif(os.path.exists("/dev/log"),
                    reason="this host has syslog: the daemon logs there")
def test_daemon_without_syslog_logs_in_the_cache_directory(s3env, bucket,
                                                          tmp_path):
    d = Daemon(s3env, bucket, tmp_path)
    try:
        with open(d.path("f.txt"), "w") as f:
            f.write("f")
    finally:
        d.close()
    text = open(os.path.join(d.cache, "r2fs.log")).read()
    assert re.search("^" + STAMP + "info: mounted ", text, re.M), text
    assert re.search("^" + STAMP + "info: unmounted " + re.escape(d.dir),
                     text, re.M), text


def test_unmount_says_what_it_waits_for_and_wait_returns_after(
        s3env, bucket, s3, tmp_path):
    """Uploads that take long after fusermount3 -u: the log says how many
    files are left, again every few seconds; the pid file names the
    daemon; r2fs pending lists the files; r2fs wait MOUNTPOINT returns
    once the daemon has exited, with everything in the bucket."""
    proxy = proxy_of(s3env, FaultProxy, rate=1.0, kinds=("stall",),
                     stall_seconds=(3.0, 3.0),
                     match=lambda method, target: method == "PUT")
    d = None
    try:
        d = Daemon(s3env, bucket, tmp_path, endpoint=proxy.endpoint,
                   opts=["writeback_delay=600", "upload_workers=1",
                         f"log_file={tmp_path}/daemon.log"])
        for i in range(3):
            with open(d.path(f"w{i}.txt"), "w") as f:
                f.write("x" * (i + 1))
        with open(d.pidfile()) as f:
            pid, mnt = f.read().splitlines()
        pid = int(pid)
        assert mnt == d.dir
        os.kill(pid, 0)  # alive
        p = r2fs("pending", d.cache)
        assert p.returncode == 0, p.stderr
        assert f"mounted at {d.dir}, pid {pid}" in p.stdout, p.stdout
        for i in range(3):
            assert re.search(rf"^ +{i + 1}  w{i}\.txt$", p.stdout, re.M)
        assert "3 files (6 B) waiting for upload" in p.stdout

        subprocess.run(["fusermount3", "-u", d.dir], check=True)
        assert not is_mount(d.dir)
        t0 = time.time()
        p = r2fs("wait", d.dir)
        waited = time.time() - t0
        assert p.returncode == 0, p.stderr
        assert waited > 4, waited  # three stalled PUTs, one at a time
        assert exited(pid)
        assert not os.path.exists(d.pidfile())
        for i in range(3):
            assert s3.get_object(Bucket=bucket, Key=f"w{i}.txt")[
                "Body"].read() == b"x" * (i + 1)
        text = open(f"{tmp_path}/daemon.log").read()
        assert "info: unmounted; waiting for 3 files (6 B) to reach the " \
            "bucket" in text, text
        assert re.search(r"info: still waiting for [12] files? \(\d B\)",
                         text), text
        assert "everything is in the bucket" in text
        p = r2fs("pending", d.cache)
        assert "(not mounted)" in p.stdout
        assert "0 files (0 B) waiting for upload" in p.stdout
    finally:
        if d:
            d.close()
        proxy.close()


def test_pending_and_wait_after_a_crash(mounter, bucket, s3, tmp_path):
    cache = str(tmp_path / "cache")
    m = mounter(bucket, opts=["writeback_delay=600"], cache=cache)
    for name, size in (("a dir/one", 5), ("two", 1000)):
        os.makedirs(os.path.dirname(m.path(name)), exist_ok=True)
        with open(m.path(name), "wb") as f:
            f.write(b"z" * size)
    m.kill9()
    p = r2fs("pending", cache)
    assert p.returncode == 0, p.stderr
    (j,) = journals(cache)
    assert p.stdout.startswith(
        f"{os.path.realpath(cache)}/{j}: bucket {bucket} at ")
    assert "(not mounted)" in p.stdout
    assert re.search(r"^ +5  a dir/one$", p.stdout, re.M), p.stdout
    assert re.search(r"^ +1000  two$", p.stdout, re.M), p.stdout
    assert "2 files (1005 B) waiting for upload" in p.stdout
    p = r2fs("wait", cache, timeout=10)  # nobody runs: at once
    assert p.returncode == 0 and p.stderr == ""
    p = r2fs("pending", str(tmp_path))
    assert p.returncode == 0 and "no journal" in p.stdout

    m2 = mounter(bucket, cache=cache)  # foreground, this time
    waiter = subprocess.Popen([r2fs_binary(), "wait", cache])
    time.sleep(1)
    assert waiter.poll() is None  # the daemon runs
    assert m2.unmount() == 0
    assert waiter.wait(30) == 0
    assert s3.get_object(Bucket=bucket, Key="two")["Body"].read() == \
        b"z" * 1000


def test_wait_and_pending_refuse_nonsense(tmp_path):
    p = r2fs("wait")
    assert p.returncode == 2 and "usage: r2fs wait" in p.stderr
    p = r2fs("wait", str(tmp_path / "nowhere"))
    assert p.returncode == 1 and "No such file or directory" in p.stderr
    p = r2fs("pending", str(tmp_path / "nowhere"))
    assert p.returncode == 1 and "No such file or directory" in p.stderr
    p = r2fs("sync", "--bogus")
    assert p.returncode == 2 and "unknown option '--bogus'" in p.stderr


# ---------------------------------------------------------------- SIGTERM

def test_sigterm_to_a_busy_mount_exits_0_once_all_is_uploaded(mounter,
                                                              bucket, s3):
    m = mounter(bucket, opts=["writeback_delay=600"])
    # busy as a shell cd'ed into it makes it (fusermount3 -u: EBUSY)
    busy = subprocess.Popen(["sleep", "600"], cwd=m.dir)
    try:
        for i in range(3):
            with open(m.path(f"t{i}"), "w") as f:
                f.write(f"term {i}")
        p = subprocess.run(["fusermount3", "-u", m.dir],
                           capture_output=True, text=True)
        assert p.returncode != 0 and "busy" in p.stderr, p.stderr
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(120) == 0, m.output()
    finally:
        busy.kill()
        busy.wait()
    assert not is_mount(m.dir)
    for i in range(3):
        assert s3.get_object(Bucket=bucket, Key=f"t{i}")["Body"].read() \
            == f"term {i}".encode()


def test_sigterm_with_files_left_exits_1(s3env, bucket, tmp_path):
    proxy = proxy_of(s3env, TcpProxy)
    mnt = tempfile.mkdtemp(prefix="r2fs-mnt-")
    cache = str(tmp_path / "cache")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"])
    proc = subprocess.Popen(
        [r2fs_binary(), bucket, mnt, "-f", "-o",
         f"endpoint={proxy.endpoint},cache_dir={cache},retries=0,"
         "connect_timeout=2,writeback_delay=600"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    try:
        deadline = time.time() + 20
        while not is_mount(mnt):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.05)
        with open(os.path.join(mnt, "stuck.txt"), "w") as f:
            f.write("stays in the journal")
        proxy.down()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 1
        assert "could not be uploaded" in proc.stderr.read()
        assert "stuck.txt" in r2fs("pending", cache).stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["fusermount3", "-uz", mnt], check=False)
        os.rmdir(mnt)
        proxy.close()


# ---------------------------------------------------------------- usage

@pytest.mark.parametrize("cmd", ["sync", "stats", "wait", "pending"])
def test_subcommand_help(cmd):
    p = r2fs(cmd, "--help")
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.startswith(f"usage: r2fs {cmd}")


def test_help_lists_every_option_the_man_page_has():
    helptext = r2fs("--help").stdout.split("FUSE options:")[0]
    for want in ("-o ro ", "-o nonempty", "-o log_file=PATH",
                 "-o log_level=LEVEL", "-o mount_timeout=S", " wait ",
                 " pending "):
        assert want in helptext, want
    with open(os.path.join(SRCDIR, "man", "r2fs.1")) as f:
        man = f.read().replace("\\-", "-")
    options = man.split(".SH OPTIONS")[1].split(".SH ")[0]
    man_opts = set(re.findall(r"^\.TP\n\.BI? ([a-z_]+)(?:=| |$)", options,
                              re.M))
    man_opts.add("gid")  # .BI uid= N ,gid= N
    help_opts = set(re.findall(r"-o ([a-z_]+)", helptext)) | {"gid"}
    assert help_opts - man_opts == set()
    assert man_opts - help_opts == set()
    for cmd in ("sync", "stats", "wait", "pending"):
        assert f".B r2fs {cmd}" in man, cmd


# ---------------------------------------------------------------- stats

def stats(path):
    out = r2fs("stats", path).stdout
    return {k: float(v) for k, v in (l.split() for l in out.splitlines())}


def test_stats_count_refused_uploads(mounter, bucket, s3):
    """An upload the server refuses (403) counts as a failure."""
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*",
                       "Action": "s3:PutObject",
                       "Resource": f"arn:aws:s3:::{bucket}/refused-*"}]}))
    try:
        m = mounter(bucket, opts=["writeback_delay=0"])
        m.expect_log = ["refused-1.txt", "could not be uploaded"]
        assert stats(m.dir)["failures"] == 0
        with open(m.path("refused-1.txt"), "w") as f:
            f.write("no")
        deadline = time.time() + 30
        while not m.state(m.path("refused-1.txt")).startswith("error"):
            assert time.time() < deadline
            time.sleep(0.1)
        assert stats(m.dir)["failures"] >= 1
        with open(m.path("fine.txt"), "w") as f:
            f.write("yes")
        m.sync(m.path("fine.txt"))
    finally:
        s3.delete_bucket_policy(Bucket=bucket)
