"""Directory markers go through the write-back: mkdir costs no round trip,
and the mode and times cp -p, rsync -a and tar set afterwards fold into
one PUT of the marker; fsync of the directory, r2fs sync and unmount push
it; rmdir of a directory whose marker is pending sends nothing to PUT."""

import errno
import os
import stat
import time

import pytest


def marker_puts(reqlog, bucket, name):
    return sum(1 for m, t, _ in reqlog.requests()
               if m == "PUT" and t == f"/{bucket}/{name}/")


def test_mkdir_chmod_utime_are_one_marker_put(mounter, bucket, s3, reqlog):
    m = mounter(bucket, opts=["writeback_delay=600"])
    os.mkdir(m.path("d"), 0o700)
    assert os.path.isdir(m.path("d"))
    os.chmod(m.path("d"), 0o750)
    os.utime(m.path("d"), (1500000000, 1500000000))
    assert m.state(m.path("d")) == "dirty"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    m.sync()
    head = s3.head_object(Bucket=bucket, Key="d/")
    assert int(head["Metadata"]["mode"]) == stat.S_IFDIR | 0o750
    assert head["Metadata"]["mtime"] == "1500000000"
    assert marker_puts(reqlog, bucket, "d") == 1
    assert m.state(m.path("d")) == "clean"
    # a later change of an uploaded directory: one more PUT
    os.chmod(m.path("d"), 0o755)
    m.sync()
    head = s3.head_object(Bucket=bucket, Key="d/")
    assert int(head["Metadata"]["mode"]) == stat.S_IFDIR | 0o755
    assert marker_puts(reqlog, bucket, "d") == 2


def test_fsync_of_a_directory_puts_its_marker(mounter, bucket, s3):
    m = mounter(bucket, opts=["writeback_delay=600"])
    os.mkdir(m.path("e"))
    fd = os.open(m.path("e"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    s3.head_object(Bucket=bucket, Key="e/")  # raises if missing


def test_pending_directory_is_listed_and_survives_unmount(mounter, bucket,
                                                          s3):
    m = mounter(bucket, opts=["writeback_delay=600"])
    os.makedirs(m.path("a", "b"))
    time.sleep(4)  # past dir_timeout: listings come from the bucket again
    assert os.listdir(m.path()) == ["a"]
    assert os.path.isdir(m.path("a", "b"))
    assert os.listdir(m.path("a")) == ["b"]
    m.unmount()
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"a/", "a/b/"}
    m2 = mounter(bucket)
    assert os.path.isdir(m2.path("a", "b"))


def test_rmdir_of_a_pending_directory(mounter, bucket, s3, reqlog):
    m = mounter(bucket, opts=["writeback_delay=600"])
    os.mkdir(m.path("gone"))
    os.rmdir(m.path("gone"))
    assert not os.path.exists(m.path("gone"))
    os.mkdir(m.path("full"))
    with open(m.path("full", "f"), "wb") as f:
        f.write(b"x")
    with pytest.raises(OSError) as e:
        os.rmdir(m.path("full"))
    assert e.value.errno == errno.ENOTEMPTY
    m.sync()
    assert marker_puts(reqlog, bucket, "gone") == 0
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"full/", "full/f"}
