"""Another client changes an object while r2fs still has an upload of it
pending: r2fs never overwrites the other version silently.  Its PUT carries
If-Match (the version it read) or If-None-Match: * (a file it created);
on 412 the other version stays and ours is saved under a conflict name,
reported in the log and in user.r2.state."""

import calendar
import os
import re
import stat
import subprocess
import time

import pytest

from conftest import list_keys

# A quiet period long enough for the other client to act before our
# upload starts; r2fs sync ends it at once.
OPTS = ["writeback_delay=30", "stat_timeout=0", "dir_timeout=0"]
WARNING = "was changed in the bucket by another client"


def body(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def conflict_keys(s3, bucket, stem, ext):
    pat = re.compile(re.escape(stem) + r"\.conflict-\d{8}-\d{6}(-\d+)?"
                     + re.escape(ext) + "$")
    return [k for k in list_keys(s3, bucket) if pat.match(k)]


def test_overwritten_by_another_client_keeps_both(mounter, bucket, s3):
    m = mounter(bucket, opts=OPTS)
    m.expect_log = [WARNING]
    with open(m.path("doc.txt"), "wb") as f:
        f.write(b"version 1\n")
    m.sync()
    assert m.state(m.path("doc.txt")) == "clean"
    with open(m.path("doc.txt"), "ab") as f:  # read v1, append: pending
        f.write(b"our line\n")
    assert m.state(m.path("doc.txt")) == "dirty"
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"their version\n")
    m.sync()
    # theirs untouched, ours beside it with the extension kept
    assert body(s3, bucket, "doc.txt") == b"their version\n"
    copies = conflict_keys(s3, bucket, "doc", ".txt")
    assert len(copies) == 1, list_keys(s3, bucket)
    assert body(s3, bucket, copies[0]) == b"version 1\nour line\n"
    head = s3.head_object(Bucket=bucket, Key=copies[0])
    assert head["ContentType"] == "text/plain"
    assert "mode" in head["Metadata"]
    # reported where the user looks, and the mount shows both versions
    assert m.state(m.path("doc.txt")) == "conflict: saved as " + copies[0]
    assert any(WARNING in l and copies[0] in l
               for l in m.output().splitlines())
    assert sorted(os.listdir(m.dir)) == sorted(["doc.txt", copies[0]])
    with open(m.path("doc.txt"), "rb") as f:
        assert f.read() == b"their version\n"
    with open(m.path(copies[0]), "rb") as f:
        assert f.read() == b"version 1\nour line\n"
    # the next change through the mount starts from their version
    with open(m.path("doc.txt"), "ab") as f:
        f.write(b"after\n")
    m.sync()
    assert body(s3, bucket, "doc.txt") == b"their version\nafter\n"
    assert m.state(m.path("doc.txt")) == "clean"
    assert len(conflict_keys(s3, bucket, "doc", ".txt")) == 1


def test_same_new_name_created_by_another_client(mounter, bucket, s3):
    m = mounter(bucket, opts=OPTS)
    m.expect_log = [WARNING]
    with open(m.path("new.bin"), "wb") as f:
        f.write(b"ours")
    s3.put_object(Bucket=bucket, Key="new.bin", Body=b"theirs")
    m.sync()
    assert body(s3, bucket, "new.bin") == b"theirs"
    copies = conflict_keys(s3, bucket, "new", ".bin")
    assert len(copies) == 1
    assert body(s3, bucket, copies[0]) == b"ours"


def test_deleted_by_another_client_ours_takes_the_name(mounter, bucket, s3):
    m = mounter(bucket, opts=OPTS)
    with open(m.path("gone"), "wb") as f:
        f.write(b"v1")
    m.sync()
    with open(m.path("gone"), "ab") as f:
        f.write(b"+ours")
    s3.delete_object(Bucket=bucket, Key="gone")
    m.sync()
    assert body(s3, bucket, "gone") == b"v1+ours"
    assert list_keys(s3, bucket) == ["gone"]
    assert m.state(m.path("gone")) == "clean"


def test_own_overwrites_never_conflict(mounter, bucket, s3):
    """Every kind of our own rewrite passes its own condition: no copy,
    no warning (the fixture fails the test on any warning)."""
    m = mounter(bucket, opts=["writeback_delay=0"])
    for i in range(5):
        with open(m.path("f"), "wb") as f:  # O_TRUNC over our last one
            f.write(b"round %d" % i)
        m.sync()
        with open(m.path("f"), "ab") as f:
            f.write(b"!")
        m.sync()
        assert body(s3, bucket, "f") == b"round %d!" % i
    subprocess.run(["cp", "-p", "/etc/services", m.path("svc")],
                   check=True)
    subprocess.run(["cp", "/etc/hostname", m.path("svc")], check=True)
    os.truncate(m.path("svc"), 3)
    m.sync()
    with open("/etc/hostname", "rb") as f:
        assert body(s3, bucket, "svc") == f.read()[:3]
    # a name deleted and created again, with and without an open handle
    os.unlink(m.path("f"))
    with open(m.path("f"), "wb") as f:
        f.write(b"again")
    m.sync()
    assert sorted(list_keys(s3, bucket)) == ["f", "svc"]


@pytest.mark.parametrize("opts", [[], ["sync_upload"]],
                         ids=["default", "sync_upload"])
def test_touch_through_a_descriptor_reaches_the_bucket(mounter, bucket, s3,
                                                       opts):
    """Issue 15, bug 2: touch(1) of a file in the bucket (open O_WRONLY,
    futimens, close) re-uploads the same bytes with new metadata under
    If-Match.  A server that matches If-Match only on a bare ETag (Ceph
    RGW) answers 412, and the HEAD after it shows our bytes' MD5: that is
    not a lost answer of ours, the metadata must still go up."""
    t1 = calendar.timegm((2001, 2, 3, 4, 5, 6))
    t2 = calendar.timegm((2002, 3, 4, 5, 6, 7))
    s3.put_object(Bucket=bucket, Key="t.txt", Body=b"touch me\n")
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"chmod me\n")
    m = mounter(bucket, opts=opts)
    subprocess.run(["touch", "-d", "2001-02-03 04:05:06 UTC",
                    m.path("t.txt")], check=True)
    fd = os.open(m.path("p.txt"), os.O_WRONLY)
    try:
        os.fchmod(fd, 0o640)
        os.utime(fd, (t2, t2))
    finally:
        os.close(fd)
    assert m.unmount() == 0
    for key, mode, mtime, data in (("t.txt", 0o644, t1, b"touch me\n"),
                                   ("p.txt", 0o640, t2, b"chmod me\n")):
        head = s3.head_object(Bucket=bucket, Key=key)
        assert float(head["Metadata"]["mtime"]) == mtime, (key, head)
        assert int(head["Metadata"]["mode"]) == stat.S_IFREG | mode, key
        assert body(s3, bucket, key) == data
    m2 = mounter(bucket, opts=opts)
    for key, mode, mtime in (("t.txt", 0o644, t1), ("p.txt", 0o640, t2)):
        st = os.stat(m2.path(key))
        assert (st.st_mtime, stat.S_IMODE(st.st_mode)) == (mtime, mode)
    assert sorted(list_keys(s3, bucket)) == ["p.txt", "t.txt"]


def test_conflict_of_a_multipart_upload(mounter, bucket, s3):
    m = mounter(bucket, opts=OPTS + ["multipart_threshold=5"])
    m.expect_log = [WARNING]
    data = os.urandom(12 << 20)
    with open(m.path("big.dat"), "wb") as f:
        f.write(data)
    m.sync()
    with open(m.path("big.dat"), "r+b") as f:
        f.seek(1 << 20)
        f.write(b"X" * 100)
    s3.put_object(Bucket=bucket, Key="big.dat", Body=b"small and theirs")
    m.sync()
    assert body(s3, bucket, "big.dat") == b"small and theirs"
    copies = conflict_keys(s3, bucket, "big", ".dat")
    assert len(copies) == 1
    want = data[:1 << 20] + b"X" * 100 + data[(1 << 20) + 100:]
    assert body(s3, bucket, copies[0]) == want


def test_conflict_found_after_a_crash(mounter, bucket, s3, tmp_path):
    """The version a pending upload may replace is in its journal record:
    a replay after kill -9 still refuses to overwrite the other client."""
    cache = str(tmp_path / "cache")
    m = mounter(bucket, opts=OPTS, cache=cache)
    with open(m.path("j.txt"), "wb") as f:
        f.write(b"v1")
    m.sync()
    with open(m.path("j.txt"), "ab") as f:
        f.write(b" ours")
    m.kill9()
    s3.put_object(Bucket=bucket, Key="j.txt", Body=b"theirs")
    m2 = mounter(bucket, opts=["writeback_delay=0"], cache=cache)
    m2.expect_log = [WARNING]
    m2.sync()
    deadline = time.time() + 30
    while not conflict_keys(s3, bucket, "j", ".txt"):
        assert time.time() < deadline
        time.sleep(0.1)
    assert body(s3, bucket, "j.txt") == b"theirs"
    copies = conflict_keys(s3, bucket, "j", ".txt")
    assert body(s3, bucket, copies[0]) == b"v1 ours"
