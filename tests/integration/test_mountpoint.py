"""Where r2fs mounts, and what a refused mount leaves: mount-point checks,
the bounded mount-time check, no journal left behind, the mount's source
name, and a profile that does not exist."""

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import is_mount, r2fs_binary


def mounts_at(path):
    with open("/proc/self/mounts") as f:
        return [line.split() for line in f if line.split()[1] == path]


def user_env(s3env, extra=None):
    e = dict(os.environ)
    e.update({"AWS_ACCESS_KEY_ID": s3env["AWS_ACCESS_KEY_ID"],
              "AWS_SECRET_ACCESS_KEY": s3env["AWS_SECRET_ACCESS_KEY"]})
    e.update(extra or {})
    return e


def run_mount(s3env, bucket, mnt, opts, env=None, timeout=60):
    """r2fs as a user runs it (daemon mode): (rc, stderr, seconds)."""
    t0 = time.time()
    p = subprocess.run([r2fs_binary(), bucket, mnt, "-o", ",".join(opts)],
                       env=user_env(s3env, env), capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stderr, time.time() - t0


def one_sentence(err):
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, f"want one sentence, got {err!r}"
    return lines[0]


def unmount(path):
    if is_mount(path):
        subprocess.run(["fusermount3", "-u", path], check=False)
        deadline = time.time() + 30
        while is_mount(path) and time.time() < deadline:
            time.sleep(0.1)


def journals(cache):
    if not os.path.isdir(cache):
        return []
    return [n for n in os.listdir(cache) if n.startswith("journal-")]


@pytest.fixture
def dirs(tmp_path):
    """A mount point and a cache directory, unmounted afterwards."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    cache = tmp_path / "cache"
    yield str(mnt), str(cache)
    for _ in range(3):
        unmount(str(mnt))


# ------------------------------------------------ credentials

def test_profile_that_does_not_exist(s3env, bucket, dirs, tmp_path):
    mnt, cache = dirs
    creds = tmp_path / "credentials"
    creds.write_text("[work]\naws_access_key_id = A\n"
                     "aws_secret_access_key = B\n[empty]\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(creds),
           "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    opts = ["endpoint=" + s3env["S3_ENDPOINT"], "cache_dir=" + cache]
    rc, err, _ = run_mount(s3env, bucket, mnt, opts + ["profile=nosuch"],
                           env)
    assert rc != 0
    line = one_sentence(err)
    assert "profile 'nosuch' does not exist in " + str(creds) in line, line
    rc, err, _ = run_mount(s3env, bucket, mnt, opts + ["profile=empty"], env)
    assert "has no aws_access_key_id" in one_sentence(err)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    rc, err, _ = run_mount(s3env, bucket, mnt, opts + ["profile=nosuch"],
                           env)
    line = one_sentence(err)
    assert "profile 'nosuch' does not exist" in line and \
        str(tmp_path / "none") in line, line
    assert journals(cache) == []


# ------------------------------------------------ the mount-time check

class StalledServer:
    """Accepts connections and never answers; counts them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def stalled():
    s = StalledServer()
    yield s
    s.close()


def waited_in(line):
    import re
    m = re.search(r"did not answer within ([0-9.]+) s", line)
    assert m, line
    return float(m.group(1))


def test_stalled_server_check_is_bounded(s3env, bucket, dirs, stalled):
    """A server that accepts and never answers: the whole check stops at
    -o mount_timeout (15 s by default), and says how long it waited."""
    mnt, cache = dirs
    rc, err, secs = run_mount(
        s3env, bucket, mnt,
        [f"endpoint=http://127.0.0.1:{stalled.port}", "cache_dir=" + cache])
    assert rc != 0 and not is_mount(mnt)
    said = waited_in(one_sentence(err))
    assert 14 <= said <= 16.5 and secs < 18, (said, secs)
    assert abs(said - secs) < 1.5
    rc, err, secs = run_mount(
        s3env, bucket, mnt,
        [f"endpoint=http://127.0.0.1:{stalled.port}", "cache_dir=" + cache,
         "mount_timeout=4"])
    assert rc != 0 and 3.5 <= waited_in(one_sentence(err)) <= 5 and secs < 6


def test_stalled_server_check_honours_connect_timeout_and_retries(
        s3env, bucket, dirs, stalled):
    mnt, cache = dirs
    rc, err, secs = run_mount(
        s3env, bucket, mnt,
        [f"endpoint=http://127.0.0.1:{stalled.port}", "cache_dir=" + cache,
         "retries=0", "connect_timeout=3"])
    assert rc != 0
    assert 2.5 <= waited_in(one_sentence(err)) <= 4 and secs < 5, secs
    assert len(stalled.conns) == 1  # retries=0: one attempt
    rc, err, secs = run_mount(
        s3env, bucket, mnt,
        [f"endpoint=http://127.0.0.1:{stalled.port}", "cache_dir=" + cache,
         "retries=2", "connect_timeout=2"])
    assert rc != 0
    assert 5.5 <= waited_in(one_sentence(err)) <= 8 and secs < 9, secs
    assert len(stalled.conns) == 1 + 3  # three attempts of 2 s


# ------------------------------------------------------------ mount points

def test_non_empty_mount_point_refused_unless_nonempty(s3env, bucket, dirs):
    mnt, cache = dirs
    with open(os.path.join(mnt, "precious.txt"), "w") as f:
        f.write("local")
    opts = ["endpoint=" + s3env["S3_ENDPOINT"], "cache_dir=" + cache]
    rc, err, _ = run_mount(s3env, bucket, mnt, opts)
    assert rc != 0
    line = one_sentence(err)
    assert "not empty" in line and "-o nonempty" in line, line
    assert not is_mount(mnt)
    rc, err, _ = run_mount(s3env, bucket, mnt, opts + ["nonempty"])
    assert rc == 0, err
    try:
        assert is_mount(mnt)
        assert os.listdir(mnt) == []  # the bucket, hiding the file
    finally:
        unmount(mnt)
    assert os.listdir(mnt) == ["precious.txt"]


def test_mount_on_a_live_r2fs_mount_refused(s3env, bucket, mounter, tmp_path):
    m = mounter(bucket)
    rc, err, _ = run_mount(s3env, bucket, m.dir,
                           ["endpoint=" + s3env["S3_ENDPOINT"],
                            "cache_dir=" + str(tmp_path / "other")])
    assert rc != 0
    line = one_sentence(err)
    assert "already an r2fs mount" in line and "fusermount3 -u" in line
    assert len(mounts_at(m.dir)) == 1  # nothing stacked
    with open(m.path("still.txt"), "w") as f:
        f.write("the first mount still serves")
    m.sync()


def s3fs_mount(s3env, bucket, mnt, tmp_path):
    """A live s3fs mount of bucket at mnt (its Popen), or skip."""
    if not shutil.which("s3fs"):
        pytest.skip("s3fs is not installed")
    pw = tmp_path / "s3fs-passwd"
    pw.write_text(f"{s3env['AWS_ACCESS_KEY_ID']}:"
                  f"{s3env['AWS_SECRET_ACCESS_KEY']}\n")
    pw.chmod(0o600)
    p = subprocess.Popen(
        ["s3fs", bucket, mnt, "-f", "-o",
         f"passwd_file={pw},url={s3env['S3_ENDPOINT']},"
         "use_path_request_style,endpoint=us-east-1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while not is_mount(mnt):
        if p.poll() is not None or time.time() > deadline:
            p.kill()
            p.wait()
            pytest.skip("s3fs did not mount here")
        time.sleep(0.05)
    return p


def test_mount_on_other_fuse_mounts_refused(s3env, bucket, dirs, tmp_path):
    """A live FUSE mount of another filesystem, and then a dead one, are
    refused: stacking would hide the one beneath (which, dead, answers
    ENOTCONN until someone unmounts it)."""
    mnt, cache = dirs
    opts = ["endpoint=" + s3env["S3_ENDPOINT"], "cache_dir=" + cache]
    p = s3fs_mount(s3env, bucket, mnt, tmp_path)
    try:
        rc, err, _ = run_mount(s3env, bucket, mnt, opts)
        assert rc != 0
        assert "already a fuse.s3fs mount" in one_sentence(err)
        assert len(mounts_at(mnt)) == 1
        p.kill()  # dead: ENOTCONN
        p.wait()
        with pytest.raises(OSError):
            os.statvfs(mnt)  # stat may still answer from the cache
        rc, err, _ = run_mount(s3env, bucket, mnt, opts)
        assert rc != 0
        line = one_sentence(err)
        assert "dead fuse.s3fs mount" in line and "fusermount3 -uz" in line
        assert len(mounts_at(mnt)) == 1
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        subprocess.run(["fusermount3", "-uz", mnt], check=False)


def test_dead_r2fs_mount_is_replaced_not_stacked(s3env, bucket, mounter,
                                                 tmp_path):
    """SEMANTICS.md: mounting again on the mount point of a killed r2fs
    is how to recover; the dead mount goes, and only one stays."""
    m = mounter(bucket)
    m.proc.kill()
    m.proc.wait()
    rc, err, _ = run_mount(s3env, bucket, m.dir,
                           ["endpoint=" + s3env["S3_ENDPOINT"],
                            "cache_dir=" + str(tmp_path / "c2")])
    try:
        assert rc == 0, err
        assert len(mounts_at(m.dir)) == 1
        os.listdir(m.dir)
    finally:
        unmount(m.dir)


# ------------------------------------------------ nothing left behind

def test_failed_mounts_leave_no_journal(s3env, bucket, dirs, stalled):
    mnt, cache = dirs
    ep = "endpoint=" + s3env["S3_ENDPOINT"]
    failures = [
        (bucket, [ep], {"AWS_SECRET_ACCESS_KEY": "wrong" * 8}),
        (bucket, [ep], {"AWS_ACCESS_KEY_ID": "NOSUCHKEY0000"}),
        ("no-such-bucket-r2fs", [ep], None),
        (bucket, [f"endpoint=http://127.0.0.1:{stalled.port}",
                  "mount_timeout=2"], None),
        (bucket, [ep, "bogus_fuse_option=1"], None),
    ]
    for b, opts, env in failures:
        rc, err, _ = run_mount(s3env, b, mnt, opts + ["cache_dir=" + cache],
                               env)
        assert rc != 0, (opts, env)
        assert not is_mount(mnt)
        assert journals(cache) == [], (opts, env, err)


def test_failed_mount_keeps_a_journal_with_files(s3env, bucket, mounter, s3,
                                                 tmp_path):
    """Files waiting in a journal are never removed by a failed mount."""
    cache = str(tmp_path / "cache")
    m = mounter(bucket, opts=["writeback_delay=600"], cache=cache)
    with open(m.path("waiting.txt"), "w") as f:
        f.write("in the journal")
    m.kill9()
    (journal,) = journals(cache)
    rc, err, _ = run_mount(s3env, bucket, m.dir,
                           ["endpoint=" + s3env["S3_ENDPOINT"],
                            "cache_dir=" + cache],
                           {"AWS_SECRET_ACCESS_KEY": "wrong" * 8})
    assert rc != 0
    assert journals(cache) == [journal]
    m2 = mounter(bucket, cache=cache)
    m2.sync()
    assert s3.get_object(Bucket=bucket, Key="waiting.txt")[
        "Body"].read() == b"in the journal"


# ------------------------------------------------ the mount's name

def test_source_is_bucket_and_prefix(s3env, bucket, dirs, s3):
    mnt, cache = dirs
    rc, err, _ = run_mount(s3env, bucket + ":/some/dir", mnt,
                           ["endpoint=" + s3env["S3_ENDPOINT"],
                            "cache_dir=" + cache])
    assert rc == 0, err
    try:
        (entry,) = mounts_at(mnt)
        assert entry[0] == bucket + ":/some/dir"
        assert entry[2] == "fuse.r2fs"  # r2fs sync and stats need it
        df = subprocess.run(["df", mnt], capture_output=True, text=True)
        assert df.stdout.splitlines()[1].split()[0] == bucket + ":/some/dir"
        with open(os.path.join(mnt, "x.txt"), "w") as f:
            f.write("x")
        subprocess.run([r2fs_binary(), "sync", mnt], check=True)
        assert s3.get_object(Bucket=bucket, Key="some/dir/x.txt")[
            "Body"].read() == b"x"
    finally:
        unmount(mnt)
    rc, err, _ = run_mount(s3env, bucket, mnt,
                           ["endpoint=" + s3env["S3_ENDPOINT"],
                            "cache_dir=" + cache])
    assert rc == 0, err
    try:
        assert mounts_at(mnt)[0][0] == bucket
    finally:
        unmount(mnt)


def test_a_dev_fd_mount_point_is_not_checked(s3env, bucket, dirs, s3):
    """mount.fuse3 -o drop_privileges mounts itself and hands r2fs the
    /dev/fuse descriptor as /dev/fd/N: that is no directory to check."""
    import ctypes
    if os.geteuid() != 0:
        pytest.skip("mounting by hand needs root")
    mnt, cache = dirs
    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(None, use_errno=True)
    ms_nosuid, ms_nodev = 2, 4
    if libc.mount(bucket.encode(), mnt.encode(), b"fuse.r2fs",
                  ms_nosuid | ms_nodev,
                  f"fd={fd},rootmode=40000,user_id=0,group_id=0,"
                  "default_permissions".encode()) != 0:
        os.close(fd)
        pytest.skip("mount(2) of FUSE refused here: "
                    + os.strerror(ctypes.get_errno()))
    proc = subprocess.Popen(
        [r2fs_binary(), bucket, f"/dev/fd/{fd}", "-f", "-o",
         f"endpoint={s3env['S3_ENDPOINT']},cache_dir={cache}"],
        env=user_env(s3env), pass_fds=(fd,), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    os.close(fd)
    try:
        deadline = time.time() + 20
        while True:
            try:
                os.listdir(mnt)
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.time() < deadline
                time.sleep(0.1)
        with open(os.path.join(mnt, "via-fd.txt"), "w") as f:
            f.write("fd")
        subprocess.run([r2fs_binary(), "sync", mnt], check=True)
        assert s3.get_object(Bucket=bucket, Key="via-fd.txt")[
            "Body"].read() == b"fd"
    finally:
        subprocess.run(["umount", mnt], check=False)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
