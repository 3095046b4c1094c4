"""A full cache disk: writes wait for uploads, then fail with ENOSPC;
nothing already closed is lost."""

import errno
import os
import subprocess
import tempfile

import pytest


@pytest.fixture
def small_cache():
    """A 64 MiB tmpfs as the cache directory."""
    d = tempfile.mkdtemp(prefix="r2fs-smallcache-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", d],
                   check=True)
    yield d
    subprocess.run(["umount", "-l", d], check=False)
    os.rmdir(d)


def write_file(path, size, seed):
    block = bytes([seed % 256]) * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(block)


def test_writes_wait_for_uploads_when_cache_is_full(small_cache, mounter,
                                                    bucket, s3):
    m = mounter(bucket, opts=["writeback_delay=600", "cache_min_free=8"],
                cache=small_cache)
    for i in range(8):  # 160 MiB through a 64 MiB cache
        write_file(m.path(f"f{i}"), 20 << 20, i)
    m.sync()
    for i in range(8):
        h = s3.head_object(Bucket=bucket, Key=f"f{i}")
        assert h["ContentLength"] == 20 << 20
        first = s3.get_object(Bucket=bucket, Key=f"f{i}",
                              Range="bytes=0-0")["Body"].read()
        assert first == bytes([i])


def test_enospc_when_nothing_can_be_freed(small_cache, mounter, bucket, s3):
    m = mounter(bucket, opts=["writeback_delay=600", "cache_min_free=8"],
                cache=small_cache)
    m.expect_log = ["is full"]
    write_file(m.path("small"), 4 << 20, 7)  # closed: must survive
    with pytest.raises(OSError) as e:
        write_file(m.path("huge"), 100 << 20, 9)
    assert e.value.errno == errno.ENOSPC
    os.unlink(m.path("huge"))
    m.sync()
    assert s3.head_object(Bucket=bucket, Key="small")["ContentLength"] \
        == 4 << 20
    data = s3.get_object(Bucket=bucket, Key="small")["Body"].read()
    assert data == bytes([7]) * (4 << 20)
