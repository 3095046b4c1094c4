"""Mount-time checks, daemon mode, and secrets kept out of output."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import is_mount, r2fs_binary


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# cache directories of try_mount's mounts, removed after the module
CACHES = []


@pytest.fixture(autouse=True, scope="module")
def remove_caches():
    yield
    for c in CACHES:
        shutil.rmtree(c, ignore_errors=True)


def try_mount(s3env, bucket, opts=None, env=None, extra_args=()):
    """Run r2fs as a user would (daemon mode); return (rc, stderr, dir)."""
    d = tempfile.mkdtemp(prefix="r2fs-mnt-")
    cache = tempfile.mkdtemp(prefix="r2fs-cache-")
    CACHES.append(cache)
    e = dict(os.environ)
    e.update({"AWS_ACCESS_KEY_ID": s3env["AWS_ACCESS_KEY_ID"],
              "AWS_SECRET_ACCESS_KEY": s3env["AWS_SECRET_ACCESS_KEY"]})
    e.update(env or {})
    o = opts if opts is not None else ["endpoint=" + s3env["S3_ENDPOINT"]]
    o = o + ["cache_dir=" + cache]
    t0 = time.time()
    p = subprocess.run([r2fs_binary(), bucket, d, "-o", ",".join(o)]
                       + list(extra_args),
                       env=e, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stderr, d, time.time() - t0


def assert_refused(rc, err, d, *words):
    try:
        assert rc != 0, "mount should have failed"
        assert not is_mount(d), "a failed mount left a mount behind"
        lines = [l for l in err.strip().splitlines() if l]
        assert len(lines) == 1, f"want one sentence, got: {err!r}"
        for w in words:
            assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    finally:
        if is_mount(d):
            subprocess.run(["fusermount3", "-uz", d])
        os.rmdir(d)


def test_unreachable_endpoint(s3env, bucket):
    port = free_port()
    rc, err, d, secs = try_mount(
        s3env, bucket, [f"endpoint=http://127.0.0.1:{port}"])
    assert_refused(rc, err, d, "cannot connect", str(port))
    assert secs < 15


def test_unknown_access_key(s3env, bucket):
    rc, err, d, _ = try_mount(s3env, bucket,
                              env={"AWS_ACCESS_KEY_ID": "NOSUCHKEY0000"})
    assert_refused(rc, err, d, "access key is not known")


def test_wrong_secret(s3env, bucket):
    rc, err, d, _ = try_mount(s3env, bucket,
                              env={"AWS_SECRET_ACCESS_KEY": "wrong" * 8})
    assert_refused(rc, err, d, "secret key does not match")
    assert "wrong" * 8 not in err


def test_missing_bucket(s3env):
    rc, err, d, _ = try_mount(s3env, "no-such-bucket-r2fs")
    assert_refused(rc, err, d, "bucket 'no-such-bucket-r2fs' does not exist")


def test_unknown_option(s3env, bucket):
    rc, err, d, _ = try_mount(
        s3env, bucket, ["endpoint=" + s3env["S3_ENDPOINT"], "bogus_opt=1"])
    assert_refused(rc, err, d, "bogus_opt")


def test_bad_option_value(s3env, bucket):
    rc, err, d, _ = try_mount(
        s3env, bucket, ["account_id=abc", "jurisdiction=mars"])
    assert_refused(rc, err, d, "jurisdiction", "mars")


def test_no_credentials(s3env, bucket, tmp_path):
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
           "HOME": str(tmp_path), "AWS_SHARED_CREDENTIALS_FILE": ""}
    rc, err, d, _ = try_mount(s3env, bucket, env=env)
    assert_refused(rc, err, d, "no credentials")


def test_passwd_file_must_be_private(s3env, bucket, tmp_path):
    pw = tmp_path / "passwd"
    pw.write_text(f"{s3env['AWS_ACCESS_KEY_ID']}:"
                  f"{s3env['AWS_SECRET_ACCESS_KEY']}\n")
    pw.chmod(0o644)
    opts = ["endpoint=" + s3env["S3_ENDPOINT"], f"passwd_file={pw}"]
    rc, err, d, _ = try_mount(s3env, bucket, opts)
    assert_refused(rc, err, d, "chmod 600")
    assert s3env["AWS_SECRET_ACCESS_KEY"] not in err


def test_passwd_file_mount_and_daemon_mode(s3env, bucket, s3, tmp_path):
    pw = tmp_path / "passwd"
    pw.write_text(f"{s3env['AWS_ACCESS_KEY_ID']}:"
                  f"{s3env['AWS_SECRET_ACCESS_KEY']}\n")
    pw.chmod(0o600)
    opts = ["endpoint=" + s3env["S3_ENDPOINT"], f"passwd_file={pw}"]
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    rc, err, d, _ = try_mount(s3env, bucket, opts, env=env)
    try:
        assert rc == 0, err
        assert err == ""
        assert is_mount(d)
        # the daemon's argv carries no secret
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True,
                            text=True).stdout
        assert s3env["AWS_SECRET_ACCESS_KEY"] not in ps
        with open(os.path.join(d, "daemon.txt"), "w") as f:
            f.write("from the daemon")
        subprocess.run([r2fs_binary(), "sync", d], check=True)
        assert s3.get_object(Bucket=bucket, Key="daemon.txt")[
            "Body"].read() == b"from the daemon"
    finally:
        subprocess.run(["fusermount3", "-u", d], check=True)
        deadline = time.time() + 20
        while is_mount(d) and time.time() < deadline:
            time.sleep(0.1)
        assert not is_mount(d)
        os.rmdir(d)


def test_debug_log_keeps_secret_out(mounter, bucket, s3env):
    m = mounter(bucket, opts=["debug"])
    with open(m.path("s.txt"), "w") as f:
        f.write("x")
    os.listdir(m.dir)
    m.unmount()
    out = m.output()
    assert "debug" in out or "unique" in out  # -o debug produced a trace
    assert s3env["AWS_SECRET_ACCESS_KEY"] not in out


def test_help_and_version():
    p = subprocess.run([r2fs_binary(), "--help"], capture_output=True,
                       text=True)
    assert p.returncode == 0
    assert "account_id=ID" in p.stdout and "endpoint=URL" in p.stdout
    p = subprocess.run([r2fs_binary(), "--version"], capture_output=True,
                       text=True)
    assert p.returncode == 0 and p.stdout.startswith("r2fs ")
