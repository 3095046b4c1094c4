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
