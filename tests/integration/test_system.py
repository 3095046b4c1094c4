"""Fitting into the system: mount -t fuse.r2fs with fstab-style options,
and the r2fs subcommands on paths that are not on a mount."""

import os
import shutil
import subprocess
import tempfile
import time

from conftest import is_mount, r2fs_binary


def test_mount_t_fuse_r2fs_with_fstab_options(s3env, bucket, s3, tmp_path):
    pw = tmp_path / "passwd"
    pw.write_text(f"{s3env['AWS_ACCESS_KEY_ID']}:"
                  f"{s3env['AWS_SECRET_ACCESS_KEY']}\n")
    pw.chmod(0o600)
    d = tempfile.mkdtemp(prefix="r2fs-fstab-")
    # mount.fuse3 looks r2fs up in a fixed system PATH, as after
    # "make install": link the binary under test there for the test
    link = "/usr/local/sbin/r2fs"
    made_link = not os.path.lexists(link)
    if made_link:
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(r2fs_binary(), link)
    env = dict(os.environ)
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    opts = ",".join(["_netdev", "nofail", "allow_other",
                     "endpoint=" + s3env["S3_ENDPOINT"],
                     f"passwd_file={pw}",
                     f"cache_dir={tmp_path / 'cache'}"])
    try:
        subprocess.run(["mount", "-t", "fuse.r2fs", bucket, d, "-o", opts],
                       check=True, env=env)
    finally:
        if made_link:
            os.unlink(link)
    try:
        assert is_mount(d)
        line = [l for l in open("/proc/self/mounts") if f" {d} " in l][0]
        assert "fuse.r2fs" in line and "allow_other" in line
        with open(os.path.join(d, "via-mount"), "w") as f:
            f.write("fstab")
    finally:
        subprocess.run(["umount", d], check=True)
    # the daemon uploads what is pending, then exits
    deadline = time.time() + 60
    while True:
        try:
            body = s3.get_object(Bucket=bucket, Key="via-mount")["Body"]
            assert body.read() == b"fstab"
            break
        except s3.exceptions.NoSuchKey:
            assert time.time() < deadline
            time.sleep(0.2)
    os.rmdir(d)


def sync(*paths, cwd=None):
    return subprocess.run([r2fs_binary(), "sync", *paths], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_sync_refuses_paths_outside_a_mount(mnt, tmp_path):
    """r2fs sync asks the mount by setting user.r2.sync on the path: on
    another filesystem that would just leave the attribute on someone's
    file and report success.  It refuses instead, touching nothing."""
    f = tmp_path / "passwd"
    shutil.copyfile("/etc/passwd", f)
    d = tmp_path / "dir"
    d.mkdir()
    for p in (f, d):
        r = sync(str(p))
        assert r.returncode == 1
        assert r.stderr == f"r2fs sync: {p}: not on an r2fs mount\n"
        assert "user.r2.sync" not in os.listxattr(p)
    r = sync(cwd=d)  # no argument: the working directory
    assert r.returncode == 1
    assert r.stderr == "r2fs sync: .: not on an r2fs mount\n"
    assert "user.r2.sync" not in os.listxattr(d)
    assert f.read_bytes() == open("/etc/passwd", "rb").read()
    # the control: the same on the mount works
    with open(mnt.path("f"), "w") as out:
        out.write("on the mount")
    os.mkdir(mnt.path("d"))
    for p in (mnt.path("f"), mnt.path("d"), mnt.dir):
        r = sync(p)
        assert (r.returncode, r.stderr) == (0, "")
    r = sync(cwd=mnt.path("d"))
    assert (r.returncode, r.stderr) == (0, "")
    # one path outside among several: that one is named, the rest done
    r = sync(mnt.path("f"), str(f))
    assert r.returncode == 1
    assert r.stderr == f"r2fs sync: {f}: not on an r2fs mount\n"
