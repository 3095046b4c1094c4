"""Mount-time checks, daemon mode, and secrets kept out of output."""

import os
import pwd
import re
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


def unprivileged_user():
    """(uid, gid) of a user who is not root: ours, or nobody's when the
    tests run as root."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no user nobody")
    return pw.pw_uid, pw.pw_gid


@pytest.mark.parametrize("xdg", [None, "", "relative/cache"],
                         ids=["unset", "empty", "relative"])
def test_first_mount_of_a_user_creates_the_cache_directory(s3env, bucket,
                                                           xdg):
    """A user's first mount may find no ~/.cache: r2fs creates it and
    the journal below it, 0700 and the user's (the XDG base directory
    spec's mode).  An empty or relative XDG_CACHE_HOME is not a place
    (the spec says to ignore it).  The journal is made before the mount,
    so where this user may not open /dev/fuse the mount still fails, but
    with FUSE's error, not the journal's."""
    uid, gid = unprivileged_user()
    as_user = {} if uid == os.getuid() else {
        "user": uid, "group": gid, "extra_groups": []}
    home = tempfile.mkdtemp(prefix="r2fs-home-")
    d = tempfile.mkdtemp(prefix="r2fs-mnt-")
    for p in (home, d):
        os.chown(p, uid, gid)
    env = dict(os.environ)
    env.update({"HOME": home,
                "AWS_ACCESS_KEY_ID": s3env["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": s3env["AWS_SECRET_ACCESS_KEY"]})
    env.pop("XDG_CACHE_HOME", None)
    if xdg is not None:
        env["XDG_CACHE_HOME"] = xdg
    try:
        try:
            subprocess.run([r2fs_binary(), "--version"], check=True,
                           capture_output=True, timeout=60, **as_user)
        except (OSError, subprocess.CalledProcessError) as e:
            pytest.skip(f"uid {uid} cannot run {r2fs_binary()}: {e}")
        proc = subprocess.Popen(
            [r2fs_binary(), bucket, d, "-f",
             "-o", "endpoint=" + s3env["S3_ENDPOINT"]],
            cwd=home, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, **as_user)
        deadline = time.time() + 30
        while not is_mount(d) and proc.poll() is None:
            assert time.time() < deadline, "r2fs neither mounted nor exited"
            time.sleep(0.05)
        mounted = is_mount(d)
        if mounted:
            subprocess.run(["fusermount3", "-u", d], check=True)
        out = proc.communicate(timeout=120)[0]
        if mounted:
            assert proc.returncode == 0, out
        else:
            # the one thing this environment may refuse a user
            assert "cannot create the journal" not in out
            assert re.search(r"/dev/fuse|fusermount", out), out
        cache = os.path.join(home, ".cache", "r2fs")
        journals = [n for n in os.listdir(cache)
                    if n.startswith("journal-")]
        assert len(journals) == 1, out
        for p in (os.path.join(home, ".cache"), cache,
                  os.path.join(cache, journals[0])):
            st = os.stat(p)
            assert (st.st_uid, st.st_gid) == (uid, gid), p
            assert st.st_mode & 0o7777 == 0o700, p
        assert sorted(os.listdir(home)) == [".cache"]  # not ./relative
    finally:
        if is_mount(d):
            subprocess.run(["fusermount3", "-uz", d])
        os.rmdir(d)
        shutil.rmtree(home, ignore_errors=True)
