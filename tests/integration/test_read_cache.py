"""The read cache (src/readcache.h) on a real mount: data read once is read
from local disk, after a remount too; never an old version, never a torn
block, within its bound, and a full cache disk costs no correct byte."""

import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import RequestLog, sized

MiB = 1 << 20


@pytest.fixture
def cache_dir():
    """A cache directory that outlives one mount (for remounts)."""
    d = tempfile.mkdtemp(prefix="r2fs-rcache-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def put(s3, bucket, key, size, seed):
    data = random.Random(seed).randbytes(size)
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return data


def read(path):
    with open(path, "rb") as f:
        return f.read()


def stats(m):
    text = os.getxattr(m.dir, "user.r2.stats").decode()
    return {k: int(float(v)) for k, v in
            (line.split() for line in text.splitlines())}


def gets_of(log, key):
    return log.count("GET", lambda t: t.split("?")[0].endswith("/" + key))


def rcache_bytes_on_disk(cache):
    total = 0
    for top, _, files in os.walk(cache):
        if os.path.basename(top) != "rcache":
            continue
        for f in files:
            total += os.stat(os.path.join(top, f)).st_blocks * 512
    return total


def test_second_read_after_remount_makes_no_get(cache_dir, mounter, bucket,
                                                s3, s3env):
    data = put(s3, bucket, "data.bin", 24 * MiB + 321, 1)
    m = mounter(bucket, cache=cache_dir)
    assert read(m.path("data.bin")) == data
    st = stats(m)
    assert st["read_cache_misses"] > 0
    assert st["read_cache_bytes"] >= len(data)
    assert m.unmount() == 0

    m = mounter(bucket, cache=cache_dir)
    log = RequestLog(s3env, bucket)
    assert read(m.path("data.bin")) == data
    assert gets_of(log, "data.bin") == 0, log.requests()
    st = stats(m)
    assert st["read_cache_hits"] > 0
    assert st["read_cache_bytes_served"] >= len(data)
    assert st["read_cache_misses"] == 0


def test_changed_object_never_served_from_old_blocks(cache_dir, mounter,
                                                     bucket, s3):
    size = 6 * MiB
    old = put(s3, bucket, "c.bin", size, 2)
    m = mounter(bucket, opts=["stat_timeout=1", "dir_timeout=1"],
                cache=cache_dir)
    assert read(m.path("c.bin")) == old
    new = put(s3, bucket, "c.bin", size, 3)  # same size, other bytes
    time.sleep(1.5)  # stat_timeout: the next open sees the new ETag
    assert read(m.path("c.bin")) == new
    assert read(m.path("c.bin")) == new

    # changed while unmounted: the saved metadata and blocks are old
    assert m.unmount() == 0
    newer = put(s3, bucket, "c.bin", size, 4)
    m = mounter(bucket, opts=["stat_timeout=1", "dir_timeout=1"],
                cache=cache_dir)
    assert read(m.path("c.bin")) == newer


def test_cache_stays_under_its_bound(cache_dir, mounter, bucket, s3):
    limit = 16
    files = {f"set/f{i}": put(s3, bucket, f"set/f{i}", 8 * MiB, 10 + i)
             for i in range(6)}  # 48 MiB: 3x the cache
    m = mounter(bucket, opts=[f"read_cache_size={limit}"], cache=cache_dir)
    for _ in range(2):
        for key, data in files.items():
            assert read(m.path(key)) == data
            assert stats(m)["read_cache_bytes"] <= limit * MiB
            assert rcache_bytes_on_disk(cache_dir) <= limit * MiB + 65536
    assert stats(m)["read_cache_evictions"] > 0
    assert m.unmount() == 0
    assert rcache_bytes_on_disk(cache_dir) <= limit * MiB + 65536


def test_kill9_mid_fill_leaves_no_wrong_byte(cache_dir, mounter, bucket, s3):
    size = sized(96, 32) * MiB
    data = put(s3, bucket, "k.bin", size, 5)
    want = hashlib.sha256(data).hexdigest()
    rng = random.Random(7)
    for i in range(4):
        m = mounter(bucket, cache=cache_dir)
        reader = subprocess.Popen(["cat", m.path("k.bin")],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 0.6))
        m.kill9()  # mid-read: blocks being written, entries half done
        reader.wait()
    m = mounter(bucket, cache=cache_dir)
    assert hashlib.sha256(read(m.path("k.bin"))).hexdigest() == want
    # and what it cached meanwhile reads back right after a remount
    assert m.unmount() == 0
    m = mounter(bucket, cache=cache_dir)
    assert hashlib.sha256(read(m.path("k.bin"))).hexdigest() == want
    assert stats(m)["read_cache_hits"] > 0


@pytest.fixture
def small_cache():
    """A 64 MiB tmpfs as the cache directory."""
    d = tempfile.mkdtemp(prefix="r2fs-smallrc-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", d],
                   check=True)
    yield d
    subprocess.run(["umount", "-l", d], check=False)
    os.rmdir(d)


def read_uncached(path):
    """Read path, then drop its pages from the kernel's cache: the next
    read reaches r2fs (and its read cache) again."""
    with open(path, "rb") as f:
        data = f.read()
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return data


def test_enospc_on_the_cache_disk_reads_correctly(small_cache, mounter,
                                                  bucket, s3):
    files = {f"e{i}": put(s3, bucket, f"e{i}", 16 * MiB, 20 + i)
             for i in range(4)}
    m = mounter(bucket, opts=["read_cache_size=48", "cache_min_free=1"],
                cache=small_cache)
    stop = threading.Event()
    filler = os.path.join(small_cache, "filler")

    def fill():
        """Another process fills the disk in bursts: the cache's writes
        find it full between its look at the free space and its write
        (ENOSPC)."""
        chunk = b"\0" * (4 * MiB)
        while not stop.is_set():
            try:
                with open(filler, "wb") as f:
                    while True:
                        f.write(chunk)
                        f.flush()
            except OSError:
                pass  # ENOSPC: the disk is full
            time.sleep(0.005)
            os.unlink(filler)
            time.sleep(0.03)

    t = threading.Thread(target=fill)
    t.start()
    try:
        # until the filler met the cache's writes 3 times, within a minute
        # (under sanitizers a round takes longer than the filler's bursts)
        deadline = time.time() + 60
        while time.time() < deadline:
            for key, data in files.items():
                # again at once: from the blocks just stored, if any
                assert read_uncached(m.path(key)) == data
                assert read_uncached(m.path(key)) == data
            if stats(m)["read_cache_write_errors"] >= 3:
                break
    finally:
        stop.set()
        t.join()
    if os.path.exists(filler):
        os.unlink(filler)
    # the disk was full under the cache's writes, more than once
    assert stats(m)["read_cache_write_errors"] >= 3
    for key, data in files.items():
        assert read_uncached(m.path(key)) == data
    assert m.unmount() == 0
    m = mounter(bucket, opts=["read_cache_size=48", "cache_min_free=1"],
                cache=small_cache)
    for key, data in files.items():
        assert read_uncached(m.path(key)) == data


def test_writes_take_space_from_the_read_cache(small_cache, mounter, bucket,
                                               s3):
    """The journal comes first: a full read cache gives its space back."""
    files = {f"r{i}": put(s3, bucket, f"r{i}", 8 * MiB, 30 + i)
             for i in range(4)}
    m = mounter(bucket, opts=["read_cache_size=48", "cache_min_free=4",
                              "writeback_delay=600"], cache=small_cache)
    for key, data in files.items():
        assert read(m.path(key)) == data
    assert stats(m)["read_cache_bytes"] >= 16 * MiB
    # 40 MiB into the journal: fits on the 64 MiB disk only if the
    # cache's blocks make room
    block = os.urandom(MiB)
    with open(m.path("w.bin"), "wb") as f:
        for _ in range(40):
            f.write(block)
    m.sync()
    got = s3.get_object(Bucket=bucket, Key="w.bin")["Body"].read()
    assert got == block * 40
    assert stats(m)["read_cache_evictions"] > 0


def test_random_reads_make_a_small_file_local(mounter, bucket, s3, s3env):
    size = 32 * MiB
    data = put(s3, bucket, "r.bin", size, 40)
    m = mounter(bucket)
    rng = random.Random(9)
    fd = os.open(m.path("r.bin"), os.O_RDONLY)
    try:
        for _ in range(4):
            off = rng.randrange(0, size - 4096)
            assert os.pread(fd, 4096, off) == data[off:off + 4096]
        # fetched whole in the background
        deadline = time.time() + 60
        while stats(m)["read_cache_bytes"] < size and time.time() < deadline:
            time.sleep(0.1)
        assert stats(m)["read_cache_bytes"] >= size
        log = RequestLog(s3env, bucket)
        for _ in range(200):
            off = rng.randrange(0, size - 4096)
            assert os.pread(fd, 4096, off) == data[off:off + 4096]
        assert gets_of(log, "r.bin") == 0
    finally:
        os.close(fd)
