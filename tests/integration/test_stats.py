"""Per-mount counters: requests by R2 class, bytes, pending work, cost."""

import errno
import os
import subprocess

import pytest

from conftest import r2fs_binary


def stats(path):
    out = subprocess.run([r2fs_binary(), "stats", path], check=True,
                         capture_output=True, text=True).stdout
    return {k: float(v) for k, v in (l.split() for l in out.splitlines())}


def test_stats_count_what_the_server_saw(mounter, bucket, reqlog):
    m = mounter(bucket, opts=["writeback_delay=600"])
    before = stats(m.dir)
    for i in range(5):
        with open(m.path(f"f{i}"), "wb") as f:
            f.write(b"x" * 1000)
    mid = stats(m.dir)
    assert mid["pending_files"] == 5 and mid["pending_bytes"] == 5000
    m.sync()
    with open(m.path("f0"), "rb") as f:
        f.read()
    after = stats(m.dir)
    assert after["pending_files"] == 0
    seen = reqlog.requests()
    server_a = sum(1 for meth, t, _ in seen
                   if meth in ("PUT", "POST") or
                   (meth == "GET" and "list-type" in t))
    server_b = sum(1 for meth, t, _ in seen
                   if meth == "HEAD" or
                   (meth == "GET" and "list-type" not in t))
    # the log was opened before the mount: everything, mount check included
    assert after["class_a_requests"] == server_a >= 5
    assert after["class_b_requests"] == server_b >= 2
    assert before["class_b_requests"] >= 1  # the mount-time check
    assert after["bytes_up"] - before["bytes_up"] >= 5000
    assert after["estimated_cost_usd"] > 0
    m.unmount()
    assert "class A" in m.output()  # logged at unmount


def test_stats_outside_a_mount(tmp_path):
    p = subprocess.run([r2fs_binary(), "stats", str(tmp_path)],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "not on an r2fs mount" in p.stderr


def test_stats_ask_the_mount_not_the_file(tmp_path):
    """A file elsewhere that carries a user.r2.stats attribute (set by
    hand, or copied) is still not a mount: its value is not shown."""
    f = tmp_path / "f"
    f.write_text("x")
    try:
        os.setxattr(f, "user.r2.stats", b"class_a_requests 1\n")
    except OSError as e:
        if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        pytest.skip(f"{tmp_path} has no user xattrs")
    p = subprocess.run([r2fs_binary(), "stats", str(f)],
                       capture_output=True, text=True)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == f"r2fs stats: {f}: not on an r2fs mount\n"
