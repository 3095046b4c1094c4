"""Opening an existing object for writing fetches its bytes only when they
are needed: reads through the handle and partly overwritten chunks fetch
their 1 MiB chunks; O_TRUNC and truncation fetch nothing they cut; at
close() of a changed file the rest is fetched so the journal holds the
whole file before the upload sends it."""

import errno
import hashlib
import os
import subprocess

import pytest

from conftest import list_keys, r2fs_binary

MIB = 1 << 20


def stats(path):
    out = subprocess.run([r2fs_binary(), "stats", path], check=True,
                         capture_output=True, text=True).stdout
    return {k: float(v) for k, v in (l.split() for l in out.splitlines())}


def body(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture
def big(mnt, s3):
    """A 48 MiB + 5 object written by another client, and its bytes."""
    data = os.urandom(48 * MIB + 5)
    s3.put_object(Bucket=mnt.bucket, Key="big", Body=data)
    return data


def down(m):
    return stats(m.dir)["bytes_down"]


def test_open_for_writing_and_reading_fetches_only_what_is_read(mnt, s3,
                                                               big):
    d0 = down(mnt)
    with open(mnt.path("big"), "r+b") as f:  # as sqlite opens its file
        f.seek(40 * MIB + 7)
        assert f.read(4096) == big[40 * MIB + 7:40 * MIB + 7 + 4096]
        f.seek(3)
        assert f.read(10) == big[3:13]
    fetched = down(mnt) - d0
    assert 0 < fetched <= 3 * MIB, fetched
    mnt.sync()
    assert mnt.state(mnt.path("big")) == "clean"
    # nothing changed: the object is the other client's, untouched
    assert s3.head_object(Bucket=mnt.bucket, Key="big")["ETag"].strip(
        '"') == hashlib.md5(big).hexdigest()


def test_write_in_the_middle_uploads_the_whole_object(mnt, s3, big):
    with open(mnt.path("big"), "r+b") as f:
        f.seek(33 * MIB + 1)
        f.write(b"Z" * 100)
        # read back across the written bytes before close
        f.seek(33 * MIB - 10)
        got = f.read(200)
    want = big[:33 * MIB + 1] + b"Z" * 100 + big[33 * MIB + 101:]
    assert got == want[33 * MIB - 10:33 * MIB + 190]
    mnt.sync()
    assert body(s3, mnt.bucket, "big") == want


def test_append_and_truncate_fetch_only_the_kept_edge(mnt, s3, big):
    d0 = down(mnt)
    os.truncate(mnt.path("big"), 1000)  # by path: no open handle
    with open(mnt.path("big"), "ab") as f:
        f.write(b"tail")
    mnt.sync()
    assert body(s3, mnt.bucket, "big") == big[:1000] + b"tail"
    assert down(mnt) - d0 <= 2 * MIB


def test_o_trunc_fetches_nothing(mnt, s3, big):
    d0 = down(mnt)
    with open(mnt.path("big"), "wb") as f:
        f.write(b"new")
    mnt.sync()
    assert body(s3, mnt.bucket, "big") == b"new"
    assert down(mnt) - d0 < 64 * 1024


def test_extend_past_the_end_reads_zeros(mnt, s3, big):
    with open(mnt.path("big"), "r+b") as f:
        f.truncate(len(big) + 3 * MIB)
        f.seek(len(big) - 2)
        assert f.read(10) == big[-2:] + bytes(8)
    mnt.sync()
    assert body(s3, mnt.bucket, "big") == big + bytes(3 * MIB)


def test_unlink_while_open_keeps_every_byte_readable(mnt, s3, big):
    with open(mnt.path("big"), "r+b") as f:
        assert f.read(1) == big[:1]
        os.unlink(mnt.path("big"))
        assert list_keys(s3, mnt.bucket) == ["big"]  # until the close
        f.seek(0)
        h = hashlib.sha256()
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
        assert h.hexdigest() == hashlib.sha256(big).hexdigest()
    mnt.sync()
    assert list_keys(s3, mnt.bucket) == []


def test_rename_while_open_keeps_the_unfetched_bytes(mnt, s3, big):
    with open(mnt.path("big"), "r+b") as f:
        f.seek(5 * MIB)
        f.write(b"moved")
        os.rename(mnt.path("big"), mnt.path("moved"))
        f.seek(20 * MIB)
        f.write(b"!")
    mnt.sync()
    want = bytearray(big)
    want[5 * MIB:5 * MIB + 5] = b"moved"
    want[20 * MIB] = ord("!")
    assert list_keys(s3, mnt.bucket) == ["moved"]
    assert body(s3, mnt.bucket, "moved") == bytes(want)


def test_object_replaced_while_open_never_mixes_versions(mounter, bucket,
                                                         s3):
    m = mounter(bucket)
    m.expect_log = ["changed in the bucket while open for writing",
                    "cannot commit"]
    old = os.urandom(8 * MIB)
    s3.put_object(Bucket=bucket, Key="v", Body=old)
    f = open(m.path("v"), "r+b", buffering=0)
    try:
        f.seek(MIB + 1)
        f.write(b"ours")  # fetches chunk 1 of the old version
        s3.put_object(Bucket=bucket, Key="v", Body=b"N" * (8 * MIB))
        f.seek(6 * MIB + 3)
        with pytest.raises(OSError) as e:
            f.write(b"x")  # chunk 6 can only come from the old version
        assert e.value.errno == errno.EIO
    finally:
        with pytest.raises(OSError) as e:
            f.close()  # the rest cannot be fetched: close reports it
        assert e.value.errno == errno.EIO
    m.sync(check=False)
    assert body(s3, bucket, "v") == b"N" * (8 * MIB)
