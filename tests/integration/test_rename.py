"""Renaming directories: every key moves, pending files follow, a full
target is refused, and an interrupted rename finishes at the next mount."""

import errno
import os
import threading
import time

import pytest

from conftest import list_keys


def keys(s3, bucket, prefix=""):
    return list_keys(s3, bucket, prefix)


def test_rename_directory_tree(mounter, bucket, s3):
    m = mounter(bucket, opts=["writeback_delay=60"])
    s3.put_object(Bucket=bucket, Key="src/old1", Body=b"1")
    s3.put_object(Bucket=bucket, Key="src/deep/old2", Body=b"2")
    os.makedirs(m.path("src", "made"))
    with open(m.path("src", "made", "new"), "wb") as f:
        f.write(b"pending")  # not uploaded yet (60 s quiet period)
    os.rename(m.path("src"), m.path("dst"))
    assert not os.path.exists(m.path("src"))
    assert sorted(os.listdir(m.path("dst"))) == ["deep", "made", "old1"]
    with open(m.path("dst", "made", "new"), "rb") as f:
        assert f.read() == b"pending"
    m.sync()
    assert keys(s3, bucket, "src") == []
    assert sorted(keys(s3, bucket, "dst/")) == [
        "dst/deep/old2", "dst/made/", "dst/made/new", "dst/old1"]
    assert s3.get_object(Bucket=bucket, Key="dst/made/new")[
        "Body"].read() == b"pending"


def test_rename_directory_onto_directories(mnt, s3):
    for d in ("a", "empty", "full"):
        os.mkdir(mnt.path(d))
    with open(mnt.path("a", "f"), "w") as f:
        f.write("a")
    with open(mnt.path("full", "g"), "w") as f:
        f.write("g")
    mnt.sync()
    with pytest.raises(OSError) as e:
        os.rename(mnt.path("a"), mnt.path("full"))
    assert e.value.errno == errno.ENOTEMPTY
    assert os.listdir(mnt.path("a")) == ["f"]  # nothing lost
    with pytest.raises(OSError) as e:
        os.rename(mnt.path("a"), mnt.path("a", "inside"))
    assert e.value.errno == errno.EINVAL
    os.rename(mnt.path("a"), mnt.path("empty"))
    assert os.listdir(mnt.path("empty")) == ["f"]
    mnt.sync()
    assert sorted(keys(s3, mnt.bucket)) == [
        "empty/", "empty/f", "full/", "full/g"]


def test_interrupted_directory_rename_finishes_at_next_mount(
        mounter, bucket, s3, tmp_path):
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda i: s3.put_object(Bucket=bucket,
                                            Key=f"big/f{i:04d}", Body=b"x"),
                    range(600)))
    cache = str(tmp_path / "cache")
    m = mounter(bucket, cache=cache)
    t = threading.Thread(target=lambda: pytest.raises(
        OSError, os.rename, m.path("big"), m.path("moved")))
    t.start()
    deadline = time.time() + 60
    while not keys(s3, bucket, "moved/"):
        assert time.time() < deadline
        time.sleep(0.05)
    m.kill9()  # in the middle of the rename
    t.join()
    assert keys(s3, bucket, "big/"), "the rename was not interrupted"
    m2 = mounter(bucket, cache=cache)
    assert keys(s3, bucket, "big/") == []
    assert len(keys(s3, bucket, "moved/")) == 600
    assert len(os.listdir(m2.path("moved"))) == 600
