"""Directory indexes in the bucket (src/dirindex.h): after one mount's
"ls -l" of a big directory made a HEAD per object, it writes what those
HEADs said into .r2fs-index/<dir>/.attrs, and the next mount with an empty
cache (another machine) lists the directory with that one GET instead of
the HEADs, with the same answer.  An entry counts only while the listing
shows the version it describes (ETag, size, Last-Modified) and its HEAD
ran five seconds or more after that Last-Modified, so a metadata change by
CopyObject (same ETag and size) is never hidden."""

import os
import subprocess
import time
from urllib.parse import unquote

import pytest

from test_listing import (LONG_TTL, META, heads_per_key, parse_ls, put_many,
                          stats)

INDEX = ".r2fs-index/big/.attrs"


def ls_ln(path):
    return subprocess.run(["ls", "-ln", "--time-style=+%s", path],
                          check=True, capture_output=True,
                          text=True).stdout


# a HEAD vouches for a version from 5 s after its Last-Modified second
SETTLE = 6.2


def make_big(s3, bucket, n):
    """n objects in big/ (half with metadata) and a symlink; waits until
    a HEAD can vouch for them."""
    names = [f"f{i:05d}" for i in range(n)]
    put_many(s3, bucket, ["big/" + x for x in names])
    s3.put_object(Bucket=bucket, Key="big/link", Body=b"f00001",
                  Metadata={"mode": str(0o120777), "mtime": "1500000000"})
    time.sleep(SETTLE)
    return names + ["link"]


def heads_in_big(reqs, bucket):
    """HEADs of objects in big/ (not of big itself, which a lookup of
    the directory makes)."""
    return {k: v for k, v in heads_per_key(reqs, bucket).items()
            if k.startswith("big/") and k != "big/"}


def wait_written(m, n=1):
    """The index is written after "ls -l" closed the directory, which
    the kernel tells r2fs in the background: wait for n writes."""
    deadline = time.time() + 30
    while stats(m.dir)["dir_index_writes"] < n:
        assert time.time() < deadline, stats(m.dir)
        time.sleep(0.05)
    return stats(m.dir)


def read_index(s3, bucket, key=INDEX):
    """name -> fields of the index object's lines (names unescaped)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    lines = body.split("\n")
    assert lines[0] == "r2fs-dir-index 1" and lines[-1] == "", body[:200]
    out = {}
    for line in lines[1:-1]:
        f = line.split("\t")
        assert len(f) == 12, line
        out[unquote(f[0])] = f
    return out


def test_second_mount_lists_without_heads(mounter, bucket, s3, reqlog):
    n = 600
    names = make_big(s3, bucket, n)
    a = mounter(bucket)
    first = ls_ln(a.path("big"))
    st = wait_written(a)
    assert st["dir_index_reads"] == 1 and st["dir_index_used"] == 0, st
    assert st["dir_index_writes"] == 1, st
    index = read_index(s3, bucket)
    assert sorted(index) == sorted(names)
    for name in ("f00000", "f00001", "link"):
        h = s3.head_object(Bucket=bucket, Key="big/" + name)
        f = index[name]
        assert f[1] == h["ETag"].strip('"')
        assert int(f[2]) == h["ContentLength"]
        assert int(float(f[3])) == int(h["LastModified"].timestamp())
        assert int(float(f[4])) >= int(float(f[3])) + 5  # settled
    assert index["f00000"][5] == "f"  # mode, uid, gid, mtime
    assert index["f00001"][5] == "0"  # no metadata: the reader's defaults
    assert int(index["link"][6], 8) == 0o120777

    start = len(reqlog.requests(settle=0))
    # another machine: an empty cache of its own
    b = mounter(bucket, opts=LONG_TTL)
    second = ls_ln(b.path("big"))
    assert parse_ls(second) == parse_ls(first)
    got = parse_ls(second)
    assert got["f00000"][:3] == ("-rwxr-x---", 1234, 99)
    assert got["f00001"][:3] == ("-rw-r--r--", os.getuid(), os.getgid())
    assert got["link"][0].startswith("l")
    assert os.readlink(b.path("big", "link")) == "f00001"
    reqs = reqlog.requests()[start:]
    assert not heads_in_big(reqs, bucket), "no HEAD of an object"
    st = stats(b.dir)
    assert st["dir_index_used"] == n + 1, st
    assert st["metadata_prefetched"] + st["metadata_fetched"] == 0, st
    # it had nothing new to say: no second write
    assert st["dir_index_writes"] == 0, st
    assert sum(1 for m, t, _ in reqs if m == "PUT") == 0


def test_a_change_behind_the_index_is_seen(mounter, bucket, s3, reqlog):
    """Changes by another client after the index was written: the entries
    they touch are HEADed, the rest still come from the index."""
    n = 300
    make_big(s3, bucket, n)
    a = mounter(bucket)
    ls_ln(a.path("big"))
    wait_written(a)
    # metadata only (same bytes, same ETag and size, new Last-Modified)
    etag = s3.head_object(Bucket=bucket, Key="big/f00003")["ETag"]
    s3.copy_object(Bucket=bucket, Key="big/f00003",
                   CopySource={"Bucket": bucket, "Key": "big/f00003"},
                   Metadata=dict(META, mode=str(0o100600)),
                   MetadataDirective="REPLACE")
    assert s3.head_object(Bucket=bucket, Key="big/f00003")["ETag"] == etag
    s3.put_object(Bucket=bucket, Key="big/f00004", Body=b"y" * 14,
                  Metadata=dict(META, uid="777"))
    s3.delete_object(Bucket=bucket, Key="big/f00005")
    s3.put_object(Bucket=bucket, Key="big/new", Body=b"n",
                  Metadata=dict(META, gid="5"))
    start = len(reqlog.requests(settle=0))
    b = mounter(bucket, opts=LONG_TTL)
    got = parse_ls(ls_ln(b.path("big")))
    assert got["f00003"][:3] == ("-rw-------", 1234, 99)
    assert got["f00004"][:4] == ("-rwxr-x---", 777, 99, 14)
    assert "f00005" not in got
    assert got["new"][:3] == ("-rwxr-x---", 1234, 5)
    assert got["f00002"][:3] == ("-rwxr-x---", 1234, 99)
    heads = heads_in_big(reqlog.requests()[start:], bucket)
    assert sorted(heads) == ["big/f00003", "big/f00004", "big/new"], heads
    assert stats(b.dir)["dir_index_used"] == n + 1 - 3


def test_our_own_chmod_is_not_hidden_by_the_index(mounter, bucket, s3):
    """A chmod through a mount rewrites the object's metadata (CopyObject:
    same ETag and size, a new Last-Modified): the index written before
    it no longer stands for the object, here or on another mount."""
    make_big(s3, bucket, 300)
    a = mounter(bucket, opts=["stat_timeout=0.5", "dir_timeout=0.5"])
    ls_ln(a.path("big"))
    wait_written(a)
    time.sleep(1.1)  # a later second than the object's Last-Modified
    os.chmod(a.path("big", "f00002"), 0o604)
    a.sync()
    time.sleep(1.0)  # past both timeouts: ask the bucket again
    assert parse_ls(ls_ln(a.path("big")))["f00002"][0] == "-rw----r--"
    b = mounter(bucket)
    got = parse_ls(ls_ln(b.path("big")))
    assert got["f00002"][0] == "-rw----r--"
    assert got["f00004"][:3] == ("-rwxr-x---", 1234, 99)


def test_index_is_hidden_and_reserved(mounter, bucket, s3):
    make_big(s3, bucket, 300)
    m = mounter(bucket)
    ls_ln(m.path("big"))
    wait_written(m)
    assert s3.head_object(Bucket=bucket, Key=INDEX)
    assert sorted(os.listdir(m.dir)) == ["big"]
    assert not os.path.exists(m.path(".r2fs-index"))
    with pytest.raises(PermissionError):
        open(m.path(".r2fs-index"), "w")
    with pytest.raises(PermissionError):
        os.mkdir(m.path(".r2fs-index"))
    with pytest.raises(PermissionError):
        os.rename(m.path("big", "f00001"), m.path(".r2fs-index"))
    # a name like it elsewhere is the user's
    with open(m.path("big", ".r2fs-index"), "w") as f:
        f.write("mine")
    m.sync()
    assert s3.get_object(Bucket=bucket, Key="big/.r2fs-index")[
        "Body"].read() == b"mine"
    # a mount of a prefix sees all of its own names
    p = mounter(bucket + ":/big")
    assert ".r2fs-index" in os.listdir(p.dir)


def test_no_index_for_small_dirs_or_when_off(mounter, bucket, s3, reqlog):
    make_big(s3, bucket, 300)
    put_many(s3, bucket, [f"small/s{i:03d}" for i in range(100)])
    time.sleep(SETTLE)
    off = mounter(bucket, opts=["no_dir_index"])
    ls_ln(off.path("big"))
    ls_ln(off.path("small"))
    st = stats(off.dir)
    assert st["dir_index_reads"] == 0 and st["dir_index_writes"] == 0
    # a read-only mount reads indexes but writes none
    ro = mounter(bucket, opts=["ro"])
    ls_ln(ro.path("big"))
    time.sleep(1)  # the kernel tells of the closed directory afterwards
    st = stats(ro.dir)
    assert st["dir_index_reads"] == 1 and st["dir_index_writes"] == 0
    keys = [o["Key"] for o in s3.list_objects_v2(
        Bucket=bucket, Prefix=".r2fs-index/").get("Contents", [])]
    assert keys == []
    on = mounter(bucket)
    ls_ln(on.path("small"))
    assert stats(on.dir)["dir_index_reads"] == 0  # below 256 files
    ls_ln(on.path("big"))
    wait_written(on)
    keys = [o["Key"] for o in s3.list_objects_v2(
        Bucket=bucket, Prefix=".r2fs-index/").get("Contents", [])]
    assert keys == [INDEX]
    # an index with the no_dir_index mount: not read, HEADs as before
    start = len(reqlog.requests(settle=0))
    off2 = mounter(bucket, opts=["no_dir_index"] + LONG_TTL)
    ls_ln(off2.path("big"))
    assert len(heads_in_big(reqlog.requests()[start:], bucket)) == 301


def test_damaged_index_is_ignored(mounter, bucket, s3):
    names = make_big(s3, bucket, 300)
    a = mounter(bucket)
    want = parse_ls(ls_ln(a.path("big")))
    wait_written(a)
    body = s3.get_object(Bucket=bucket, Key=INDEX)["Body"].read()
    # cut in the middle of a line: the whole index is ignored
    s3.put_object(Bucket=bucket, Key=INDEX, Body=body[:len(body) // 2])
    b = mounter(bucket)
    assert parse_ls(ls_ln(b.path("big"))) == want
    st = stats(b.dir)
    assert st["dir_index_used"] == 0
    assert st["metadata_prefetched"] + st["metadata_fetched"] >= len(names)
    # and b wrote a good one again
    wait_written(b)
    assert s3.get_object(Bucket=bucket, Key=INDEX)["Body"].read() != \
        body[:len(body) // 2]


def boto_listing(s3, bucket, prefix):
    """Names in prefix as a delimiter listing shows them (dirs too; a
    file and a directory of one name are one name, the file's)."""
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names += [o["Key"][len(prefix):] for o in page.get("Contents", [])]
        names += [p["Prefix"][len(prefix):-1]
                  for p in page.get("CommonPrefixes", [])]
    return sorted(set(n for n in names if n))


def test_index_lists_the_rest_in_parallel_ranges(mounter, bucket, s3,
                                                 reqlog):
    """With an index, the listing after its first page is asked for in
    ranges at once (start-after index names); what changed since the
    index was written (new names inside a range, names gone, a directory
    named like a file) is listed exactly as the paginated LIST has it."""
    n = 4000
    make_big(s3, bucket, n)
    for k in ("big/f01500/inner", "big/f02900-dir/x", "big/zdir/y"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"d")
    a = mounter(bucket)
    ls_ln(a.path("big"))
    wait_written(a)
    # changes behind the index: a range gets 1,500 more names than the
    # index expects, names inside ranges go, a new directory comes
    put_many(s3, bucket, [f"big/f02000-new{i:04d}" for i in range(1500)])
    for i in range(3000, 3100):
        s3.delete_object(Bucket=bucket, Key=f"big/f{i:05d}")
    s3.put_object(Bucket=bucket, Key="big/f03500-sub/z", Body=b"z")
    want = boto_listing(s3, bucket, "big/")
    start = len(reqlog.requests(settle=0))
    b = mounter(bucket, opts=LONG_TTL)
    got = parse_ls(ls_ln(b.path("big")))
    assert sorted(got) == want
    assert len(os.listdir(b.path("big"))) == len(want)  # no duplicate
    assert got["f01500"][0].startswith("-")
    assert got["f02900-dir"][0].startswith("d")
    assert got["f03500-sub"][0].startswith("d")
    assert got["f02000-new0000"][:3] == ("-rwxr-x---", 1234, 99)
    reqs = reqlog.requests()[start:]
    ranged = [t for m, t, _ in reqs if m == "GET" and "start-after=" in t]
    assert len(ranged) >= 2, reqs[:20]  # 3,000 names past page 1
    # the new names' metadata was HEADed, the rest came from the index
    heads = [k for k in heads_in_big(reqs, bucket) if not k.endswith("/")]
    assert len(heads) == 1500, len(heads)
