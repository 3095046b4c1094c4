"""Other S3 clients: their changes show up within the documented bound,
reads never mix two versions, and s3fs-fuse reads our metadata (and we
read its) on the same bucket."""

import errno
import os
import shutil
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import is_mount


def test_changes_by_another_client_seen_within_ttl(mnt, s3):
    s3.put_object(Bucket=mnt.bucket, Key="x.txt", Body=b"one")
    with open(mnt.path("x.txt"), "rb") as f:
        assert f.read() == b"one"
    assert sorted(os.listdir(mnt.dir)) == ["x.txt"]
    s3.put_object(Bucket=mnt.bucket, Key="x.txt", Body=b"second")
    s3.put_object(Bucket=mnt.bucket, Key="new.txt", Body=b"n")
    s3.delete_object(Bucket=mnt.bucket, Key="x.txt")
    s3.put_object(Bucket=mnt.bucket, Key="x.txt", Body=b"third!")
    time.sleep(7)  # stat_timeout + dir_timeout (3 s each by default)
    assert sorted(os.listdir(mnt.dir)) == ["new.txt", "x.txt"]
    with open(mnt.path("x.txt"), "rb") as f:
        assert f.read() == b"third!"
    s3.delete_object(Bucket=mnt.bucket, Key="new.txt")
    time.sleep(7)
    assert not os.path.exists(mnt.path("new.txt"))


def test_read_never_mixes_versions(mnt, s3):
    old = b"A" * (40 << 20)
    s3.put_object(Bucket=mnt.bucket, Key="big", Body=old)
    with open(mnt.path("big"), "rb") as f:
        first = f.read(1 << 20)
        assert first == old[:1 << 20]
        s3.put_object(Bucket=mnt.bucket, Key="big", Body=b"B" * (40 << 20))
        try:
            rest = f.read()
        except OSError as e:
            assert e.errno == errno.EIO  # changed under us: refused
        else:
            # whatever came from read-ahead must still be the old object
            assert rest == old[1 << 20:len(rest) + (1 << 20)]
            assert len(rest) < len(old) - (1 << 20), \
                "the whole old object was read after it was replaced"
    mnt.expect_log = ["changed while it was open"]


@pytest.fixture
def s3fs_mount(s3env):
    """Mount a bucket with Debian's s3fs-fuse (skip if not installed)."""
    if not shutil.which("s3fs"):
        pytest.skip("s3fs is not installed")
    mounts = []

    def make(bucket):
        d = tempfile.mkdtemp(prefix="s3fs-mnt-")
        pw = tempfile.NamedTemporaryFile("w", delete=False)
        pw.write(f"{s3env['AWS_ACCESS_KEY_ID']}:"
                 f"{s3env['AWS_SECRET_ACCESS_KEY']}\n")
        pw.close()
        os.chmod(pw.name, 0o600)
        subprocess.run(["s3fs", bucket, d, "-o", "passwd_file=" + pw.name,
                        "-o", "url=" + s3env["S3_ENDPOINT"],
                        "-o", "use_path_request_style",
                        "-o", "stat_cache_expire=1",
                        "-o", "sigv4", "-o", "endpoint=us-east-1"],
                       check=True)
        deadline = time.time() + 20
        while not is_mount(d):
            assert time.time() < deadline
            time.sleep(0.1)
        mounts.append((d, pw.name))
        return d

    yield make
    for d, pw in mounts:
        subprocess.run(["fusermount3", "-u", d], check=False)
        subprocess.run(["fusermount", "-u", d], check=False)
        time.sleep(0.5)
        try:
            os.rmdir(d)
        except OSError:
            pass
        os.unlink(pw)


def test_metadata_interoperates_with_s3fs(mnt, s3fs_mount):
    d = s3fs_mount(mnt.bucket)
    # r2fs writes, s3fs reads
    with open(mnt.path("ours.txt"), "w") as f:
        f.write("from r2fs")
    os.chmod(mnt.path("ours.txt"), 0o640)
    os.utime(mnt.path("ours.txt"), (1_400_000_000, 1_400_000_000))
    os.mkdir(mnt.path("ourdir"), 0o750)
    mnt.sync()
    st = os.stat(os.path.join(d, "ours.txt"))
    assert (stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (0o640,
                                                            1_400_000_000)
    assert stat.S_IMODE(os.stat(os.path.join(d, "ourdir")).st_mode) == 0o750
    with open(os.path.join(d, "ours.txt")) as f:
        assert f.read() == "from r2fs"
    # s3fs writes, r2fs reads
    p = os.path.join(d, "theirs.txt")
    with open(p, "w") as f:
        f.write("from s3fs")
    os.chmod(p, 0o604)
    os.utime(p, (1_300_000_000, 1_300_000_000))
    time.sleep(7)
    st = os.stat(mnt.path("theirs.txt"))
    assert (stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (0o604,
                                                            1_300_000_000)
    with open(mnt.path("theirs.txt")) as f:
        assert f.read() == "from s3fs"
