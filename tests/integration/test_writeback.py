"""The write-back journal: durability, folding, fsync, unmount, multipart.

Contract (SEMANTICS.md): close() returning 0 means the file will reach the
bucket even if r2fs is killed; fsync() returning 0 means it is there;
unmount waits for pending uploads; failed uploads are kept and retried.
"""

import errno
import hashlib
import os
import resource
import shutil
import subprocess
import time
import urllib.parse

import pytest

from conftest import list_keys

from tcpproxy import TcpProxy


def body(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def keys(s3, bucket, prefix=""):
    return list_keys(s3, bucket, prefix)


def make_tree(root, nfiles, seed=1):
    """nfiles small files in a few directories; returns {relpath: bytes}."""
    import random
    rnd = random.Random(seed)
    files = {}
    for i in range(nfiles):
        rel = os.path.join(f"d{i % 7}", f"sub{i % 3}", f"f{i:04d}.bin")
        data = rnd.randbytes(rnd.randint(0, 20000))
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        files[rel] = data
    return files


def test_close_returns_before_upload_and_state_shows_it(mounter, bucket, s3):
    m = mounter(bucket, opts=["writeback_delay=30"])
    with open(m.path("late.txt"), "wb") as f:
        f.write(b"later")
    assert m.state(m.path("late.txt")) == "dirty"
    assert keys(s3, bucket) == []
    m.sync()
    assert m.state(m.path("late.txt")) == "clean"
    assert body(s3, bucket, "late.txt") == b"later"


def test_kill9_after_cp_of_500_files_loses_nothing(mounter, bucket, s3,
                                                   tmp_path):
    src = tmp_path / "src"
    files = make_tree(str(src), 500)
    cache = str(tmp_path / "cache")
    m = mounter(bucket, opts=["writeback_delay=0.2"], cache=cache)
    subprocess.run(["cp", "-r", str(src), m.path("tree")], check=True)
    m.kill9()  # right after cp returned: uploads were in flight
    m2 = mounter(bucket, cache=cache)
    # visible at once, before they are uploaded
    assert sorted(os.listdir(m2.path("tree"))) == [f"d{i}" for i in range(7)]
    m2.sync()
    got = set(keys(s3, bucket, "tree/"))
    want = {"tree/" + rel for rel in files}
    assert want <= got
    for rel, data in files.items():
        assert body(s3, bucket, "tree/" + rel) == data, rel


def test_pending_file_in_new_directory_visible_after_crash(mounter, bucket,
                                                            s3, tmp_path):
    cache = str(tmp_path / "cache")
    m = mounter(bucket, opts=["writeback_delay=60"], cache=cache)
    os.makedirs(m.path("a", "b"))
    with open(m.path("a", "b", "c.txt"), "wb") as f:
        f.write(b"deep")
    m.kill9()
    m2 = mounter(bucket, opts=["writeback_delay=60"], cache=cache)
    with open(m2.path("a", "b", "c.txt"), "rb") as f:
        assert f.read() == b"deep"
    assert os.listdir(m2.path("a", "b")) == ["c.txt"]
    m2.sync()
    assert body(s3, bucket, "a/b/c.txt") == b"deep"


def test_cp_p_and_rsync_a_cost_one_put_per_file(mounter, bucket, s3,
                                                 reqlog, tmp_path):
    src = tmp_path / "src"
    files = make_tree(str(src), 30, seed=7)
    t0 = 1_600_000_000
    for i, rel in enumerate(sorted(files)):
        p = os.path.join(src, rel)
        os.chmod(p, 0o600 + (i % 2) * 0o40)
        os.utime(p, (t0 + i, t0 + i))
    # a quiet period no stall of rsync's outlasts (its temp file is
    # renamed before any upload); m.sync() uploads at the end
    m = mounter(bucket, opts=["writeback_delay=600"])
    subprocess.run(["cp", "-rp", str(src), m.path("cp")], check=True)
    subprocess.run(["rsync", "-a", str(src) + "/", m.path("rs") + "/"],
                   check=True)
    m.sync()
    puts = [t for meth, t, _ in reqlog.requests() if meth == "PUT"]
    file_puts = [t for t in puts if not t.endswith("/")]
    # one PUT per file and nothing else: no temp names, no COPY (a COPY
    # is a PUT too, so it would show up here)
    want = sorted(f"/{bucket}/{top}/{urllib.parse.quote(rel)}"
                  for top in ("cp", "rs") for rel in files)
    assert sorted(file_puts) == want
    for m_, t, _ in reqlog.requests():
        assert m_ != "DELETE", t
    for top in ("cp", "rs"):
        for i, rel in enumerate(sorted(files)):
            h = s3.head_object(Bucket=bucket, Key=f"{top}/{rel}")
            meta = h["Metadata"]
            assert int(meta["mode"]) == 0o100600 + (i % 2) * 0o40, rel
            assert float(meta["mtime"]) == t0 + i, rel
            assert h["ContentLength"] == len(files[rel])
            st = os.stat(m.path(top, rel))
            assert st.st_mtime == t0 + i
            assert st.st_mode & 0o777 == 0o600 + (i % 2) * 0o40


def test_fsync_means_in_bucket(mounter, bucket, s3):
    m = mounter(bucket, opts=["writeback_delay=60"])
    data = os.urandom(1 << 20)
    fd = os.open(m.path("f.bin"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
        h = s3.head_object(Bucket=bucket, Key="f.bin")
        assert h["ContentLength"] == len(data)
        assert body(s3, bucket, "f.bin") == data
    finally:
        os.close(fd)


def test_unmount_uploads_everything(mounter, bucket, s3):
    m = mounter(bucket, opts=["writeback_delay=600"])
    for i in range(20):
        with open(m.path(f"u{i}"), "wb") as f:
            f.write(b"x" * i)
    assert keys(s3, bucket) == []
    assert m.unmount() == 0  # returns once the daemon has exited
    assert sorted(keys(s3, bucket)) == sorted(f"u{i}" for i in range(20))
    assert body(s3, bucket, "u7") == b"x" * 7


def test_failed_upload_is_kept_retried_and_reported(mounter, bucket, s3,
                                                    s3env):
    host, port = s3env["S3_ENDPOINT"].rsplit("/", 1)[1].split(":")
    proxy = TcpProxy(host, int(port))
    try:
        m = mounter(bucket, opts=["writeback_delay=0", "retries=0",
                                  "connect_timeout=2", "dir_timeout=120"],
                    endpoint=proxy.endpoint)
        m.expect_log = ["upload of", "could not be uploaded"]
        os.listdir(m.dir)  # a fresh listing answers lookups offline
        proxy.down()
        with open(m.path("keep.txt"), "wb") as f:
            f.write(b"precious")
        deadline = time.time() + 30
        while not m.state(m.path("keep.txt")).startswith("error"):
            assert time.time() < deadline
            time.sleep(0.1)
        p = m.sync(check=False)
        assert p.returncode != 0
        assert "keep.txt" in p.stderr and "error" in p.stderr
        fd = os.open(m.path("keep.txt"), os.O_RDONLY)
        try:
            with pytest.raises(OSError):
                os.fsync(fd)  # the upload's error reaches fsync
        finally:
            os.close(fd)
        proxy.up()
        m.sync()
        assert body(s3, bucket, "keep.txt") == b"precious"
    finally:
        proxy.close()


def test_unmount_keeps_unuploadable_files_for_next_mount(mounter, bucket,
                                                         s3, s3env,
                                                         tmp_path):
    host, port = s3env["S3_ENDPOINT"].rsplit("/", 1)[1].split(":")
    proxy = TcpProxy(host, int(port))
    cache = str(tmp_path / "cache")
    try:
        m = mounter(bucket, opts=["writeback_delay=600", "retries=0",
                                  "connect_timeout=2"],
                    endpoint=proxy.endpoint, cache=cache)
        m.expect_log = ["upload of", "could not be uploaded"]
        with open(m.path("later.txt"), "wb") as f:
            f.write(b"survives")
        proxy.down()
        m.unmount()
        assert "could not be uploaded" in m.output()
        assert keys(s3, bucket) == []
        proxy.up()
        # the journal belongs to this endpoint and bucket
        m2 = mounter(bucket, cache=cache, endpoint=proxy.endpoint)
        m2.sync()
        assert body(s3, bucket, "later.txt") == b"survives"
    finally:
        proxy.close()


def test_sync_upload_close_returns_the_error(mounter, bucket, s3, s3env):
    host, port = s3env["S3_ENDPOINT"].rsplit("/", 1)[1].split(":")
    proxy = TcpProxy(host, int(port))
    try:
        m = mounter(bucket, opts=["sync_upload", "retries=0",
                                  "connect_timeout=2", "dir_timeout=120"],
                    endpoint=proxy.endpoint)
        m.expect_log = ["upload of", "could not be uploaded"]
        with open(m.path("ok.txt"), "wb") as f:
            f.write(b"fine")
        assert body(s3, bucket, "ok.txt") == b"fine"  # no sync needed
        os.listdir(m.dir)
        proxy.down()
        f = open(m.path("bad.txt"), "wb")
        f.write(b"nope")
        with pytest.raises(OSError) as e:
            f.close()
        assert e.value.errno in (errno.EIO, errno.ECONNREFUSED,
                                 errno.ECONNRESET, errno.ETIMEDOUT)
        proxy.up()
        m.sync()  # still kept, and uploaded once possible
        assert body(s3, bucket, "bad.txt") == b"nope"
    finally:
        proxy.close()


def test_two_mounts_on_one_cache_dir_refused(mounter, bucket, tmp_path):
    cache = str(tmp_path / "cache")
    mounter(bucket, cache=cache)
    with pytest.raises(RuntimeError) as e:
        mounter(bucket, cache=cache)
    assert "in use by another r2fs mount" in str(e.value)


def sha256_of(stream):
    h = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 22), b""):
        h.update(chunk)
    return h.hexdigest()


def write_sparse_ish(path, size):
    """Random 1 MiB blocks every 16 MiB, zeros between; returns sha256."""
    h = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        off = 0
        while off < size:
            n = min(16 << 20, size - off)
            chunk = block[:min(len(block), n)]
            f.write(chunk)
            h.update(chunk)
            if n > len(chunk):
                f.seek(n - len(chunk), 1)
                h.update(bytes(n - len(chunk)))
            off += n
        f.truncate(size)
    return h.hexdigest()


def expected_part_size(size):
    """R2's rule as r2fs applies it: one size for all parts but the last."""
    mib = 1 << 20
    p = max(8 * mib, -(-size // 10000))
    return -(-p // mib) * mib


def check_multipart_object(s3, bucket, key, size, want_sha256):
    """The object's bytes, and that it was uploaded in equal parts.

    The server does not report part sizes, but an S3 multipart ETag is
    md5(md5(part1) + md5(part2) + ...) + "-N": recomputing it from the
    bytes cut at the expected part size proves the parts had that size."""
    part = expected_part_size(size)
    h = s3.head_object(Bucket=bucket, Key=key)
    assert h["ContentLength"] == size
    etag = h["ETag"].strip('"')
    sha = hashlib.sha256()
    md5s, cur, cur_len = [], hashlib.md5(), 0
    obj = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: obj.read(1 << 20), b""):
        sha.update(chunk)
        while chunk:
            take = min(len(chunk), part - cur_len)
            cur.update(chunk[:take])
            cur_len += take
            chunk = chunk[take:]
            if cur_len == part:
                md5s.append(cur.digest())
                cur, cur_len = hashlib.md5(), 0
    if cur_len:
        md5s.append(cur.digest())
    assert sha.hexdigest() == want_sha256
    want_etag = hashlib.md5(b"".join(md5s)).hexdigest() + f"-{len(md5s)}"
    assert etag == want_etag, "parts were not all of the expected size"
    assert len(md5s) > 1


def test_6gib_file_multipart_equal_parts(mounter, bucket, s3):
    """Beyond the 5 GiB single-PUT limit (1 GiB in the sanitizer run)."""
    from conftest import sized
    size = sized(6 * (1 << 30), 1 << 30) + 12345
    m = mounter(bucket)
    want = write_sparse_ish(m.path("six.bin"), size)
    m.sync()
    check_multipart_object(s3, bucket, "six.bin", size, want)


def test_kill9_during_multipart_upload(mounter, bucket, s3, tmp_path):
    cache = str(tmp_path / "cache")
    size = 400 << 20
    m = mounter(bucket, opts=["writeback_delay=0"], cache=cache)
    want = write_sparse_ish(m.path("mp.bin"), size)
    deadline = time.time() + 60
    while m.state(m.path("mp.bin")) != "uploading":
        assert time.time() < deadline
        time.sleep(0.01)
    m.kill9()
    m2 = mounter(bucket, cache=cache)
    m2.sync()
    check_multipart_object(s3, bucket, "mp.bin", size, want)


def test_twenty_random_kill_points_lose_no_closed_file(mounter, bucket, s3,
                                                       tmp_path):
    """kill -9 at random moments while files are written; every file whose
    close() returned is in the bucket, intact, after the next mount."""
    import random
    import threading
    rnd = random.Random(20)
    cache = str(tmp_path / "cache")
    closed = {}
    for round_ in range(20):
        m = mounter(bucket, opts=["writeback_delay=0.05"], cache=cache)
        stop = threading.Event()
        # Names relative to the mount's root inode: once kill9 has
        # detached the dead mount, a path would name the empty directory
        # beneath it and a late write would land on the local disk.
        root = os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY)

        done = [0]  # files this round's writer closed

        def writer():
            i = 0
            while not stop.is_set():
                name = f"r{round_:02d}-{i:04d}"
                data = rnd.randbytes(rnd.randint(0, 50000))
                try:
                    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                                 0o644, dir_fd=root)
                    try:
                        view = memoryview(data)
                        while view:
                            view = view[os.write(fd, view):]
                    finally:
                        os.close(fd)
                except OSError:
                    return  # the daemon died mid-write: not promised
                closed[name] = data
                i += 1
                done[0] = i

        t = threading.Thread(target=writer)
        t.start()
        # a few closes first, however slow the machine (so the test
        # always has files to check), then a random moment
        need, deadline = rnd.randint(1, 3), time.time() + 60
        while done[0] < need and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(rnd.uniform(0, 0.5))
        m.kill9()
        stop.set()
        t.join()
        os.close(root)
        assert os.listdir(m.dir) == [], "a write missed the mount"
    m = mounter(bucket, cache=cache)
    m.sync()
    assert len(closed) > 20
    got = set(keys(s3, bucket))
    missing = set(closed) - got
    assert not missing, f"{len(missing)} closed files lost"
    for name, data in closed.items():
        assert body(s3, bucket, name) == data, name


def test_mount_over_a_dead_mount_cleans_it_up(mounter, bucket, s3,
                                              s3env, tmp_path):
    from conftest import is_mount, r2fs_binary
    m = mounter(bucket)
    m.proc.kill()  # no fusermount: the mount point is left dead
    m.proc.wait()
    with pytest.raises(OSError) as e:
        os.stat(m.dir)
    assert e.value.errno == errno.ENOTCONN
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"])
    p = subprocess.run([r2fs_binary(), bucket, m.dir, "-o",
                        f"endpoint={s3env['S3_ENDPOINT']},"
                        f"cache_dir={tmp_path / 'c2'}"],
                       env=env, capture_output=True, text=True, timeout=60)
    try:
        assert p.returncode == 0, p.stderr
        assert "dead FUSE mount" in p.stderr or p.stderr == ""
        with open(os.path.join(m.dir, "alive"), "w") as f:
            f.write("yes")
        assert os.listdir(m.dir) == ["alive"]
    finally:
        subprocess.run(["fusermount3", "-u", m.dir], check=False)
        deadline = time.time() + 30
        while is_mount(m.dir) and time.time() < deadline:
            time.sleep(0.1)


def test_metadata_changes_of_an_uploaded_file_fold_into_one_copy(
        mounter, bucket, s3, reqlog):
    """chmod, chown, touch and setxattr of a clean file within the quiet
    period: one CopyObject carries them all (R2 takes about one write per
    second per key)."""
    m = mounter(bucket, opts=["writeback_delay=600"])
    with open(m.path("f"), "wb") as f:
        f.write(b"data")
    m.sync()
    target = f"/{bucket}/f"
    puts0 = [t for meth, t, _ in reqlog.requests() if meth == "PUT"]
    assert puts0.count(target) == 1
    os.chmod(m.path("f"), 0o640)
    os.chown(m.path("f"), 1234, 5678)
    os.utime(m.path("f"), (1_600_000_000, 1_600_000_123.5))
    os.setxattr(m.path("f"), "user.k", b"v")
    assert m.state(m.path("f")) == "dirty"
    st = os.stat(m.path("f"))  # the mount shows them at once
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime) == \
        (0o640, 1234, 5678, 1_600_000_123.5)
    m.sync()
    assert m.state(m.path("f")) == "clean"
    puts = [t for meth, t, _ in reqlog.requests() if meth == "PUT"]
    assert puts.count(target) == 2, "one CopyObject for all four changes"
    h = s3.head_object(Bucket=bucket, Key="f")
    meta = h["Metadata"]
    assert int(meta["mode"]) == 0o100640
    assert (meta["uid"], meta["gid"]) == ("1234", "5678")
    assert float(meta["mtime"]) == 1_600_000_123.5
    assert "user.k" in urllib.parse.unquote(meta["xattr"])
    assert s3.get_object(Bucket=bucket, Key="f")["Body"].read() == b"data"
    m.unmount()
    m2 = mounter(bucket)
    st = os.stat(m2.path("f"))
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime) == \
        (0o640, 1234, 5678, 1_600_000_123.5)
    assert os.getxattr(m2.path("f"), "user.k") == b"v"


def test_listing_sent_before_an_upload_ended_still_shows_the_file(
        mounter, bucket, s3env):
    """A LIST answered before a pending file's upload ended does not
    show the file; a listing built from it must, all the same."""
    import threading
    from faultproxy import FaultProxy
    host, port = s3env["S3_ENDPOINT"].rsplit("/", 1)[1].split(":")
    proxy = FaultProxy(host, int(port), rate=0.0, kinds=("stall",),
                       stall_seconds=(2.0, 2.0),
                       match=lambda m, t: m == "GET" and "list-type" in t)
    try:
        m = mounter(bucket, endpoint=proxy.endpoint,
                    opts=["writeback_delay=60", "dir_timeout=0"])
        with open(m.path("late.txt"), "wb") as f:
            f.write(b"late")
        proxy.rate = 1.0  # every LIST answer now comes 2 s late
        got = {}
        t = threading.Thread(
            target=lambda: got.setdefault("ls", os.listdir(m.dir)))
        t.start()
        time.sleep(0.5)  # the LIST is answered (without late.txt) ...
        m.sync()         # ... then the upload ends ...
        t.join()         # ... then the answer arrives
        assert proxy.counts["stall"] >= 1
        assert got["ls"] == ["late.txt"]
    finally:
        proxy.rate = 0.0
        proxy.close()


def write_pending(m, n, tag):
    """n small files, still waiting for upload; returns {name: bytes}."""
    files = {}
    for i in range(n):
        name = f"{tag}{i:04d}"
        data = f"{name} {i * 7919}".encode() * (1 + i % 5)
        with open(m.path(name), "wb") as f:
            f.write(data)
        files[name] = data
    return files


def check_in_bucket(s3, bucket, files):
    sizes = {o["Key"]: o["Size"] for page in s3.get_paginator(
        "list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])}
    assert {k: len(v) for k, v in files.items()} == \
        {k: sizes.get(k) for k in files}
    for name in sorted(files)[::97]:
        assert body(s3, bucket, name) == files[name], name


def test_more_pending_files_than_the_usual_fd_limit(mounter, bucket, s3,
                                                    tmp_path):
    """Each file waiting for upload holds its journal data file open:
    with a soft limit of 256 descriptors (a login's is 1024), a thousand
    closed files still all succeed, and all replay after kill -9."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the hard open-files limit is only {hard}")
    cache = str(tmp_path / "cache")
    m = mounter(bucket, opts=["writeback_delay=600"], cache=cache,
                nofile=(256, hard))
    files = write_pending(m, 1000, "p")
    assert keys(s3, bucket) == []  # all still pending
    m.kill9()
    m2 = mounter(bucket, cache=cache, nofile=(256, hard))
    m2.sync()
    check_in_bucket(s3, bucket, files)


def test_replay_out_of_descriptors_fails_the_mount(mounter, bucket, s3,
                                                   tmp_path):
    """A journal the hard fd limit cannot hold fails the mount with one
    sentence (never a mount that leaves files out); the next mount with
    room uploads them all."""
    cache = str(tmp_path / "cache")
    m = mounter(bucket, opts=["writeback_delay=600"], cache=cache)
    files = write_pending(m, 300, "q")
    m.kill9()
    with pytest.raises(RuntimeError) as e:
        mounter(bucket, cache=cache, nofile=(100, 100))
    msg = str(e.value)
    assert "Too many open files" in msg and "ulimit -n" in msg, msg
    assert keys(s3, bucket) == []
    m2 = mounter(bucket, cache=cache)
    m2.sync()
    check_in_bucket(s3, bucket, files)


def test_record_whose_data_is_gone_fails_sync(mounter, bucket, s3, tmp_path):
    """A journal record the replay cannot load stays, is logged, and makes
    r2fs sync fail instead of reporting that all is in the bucket; the
    other files still go up."""
    cache = str(tmp_path / "cache")
    m = mounter(bucket, opts=["writeback_delay=600"], cache=cache)
    files = write_pending(m, 3, "s")
    m.kill9()
    (journal,) = [d for d in os.listdir(cache) if d.startswith("journal-")]
    data = os.path.join(cache, journal, "data")
    victim = sorted(os.listdir(data), key=int)[1]  # the second file, s0001
    os.unlink(os.path.join(data, victim))
    m2 = mounter(bucket, cache=cache)
    m2.expect_log = ["journal: data of s0001"]
    p = m2.sync(check=False)
    assert p.returncode == 1 and "journal" in p.stderr, p.stderr
    assert "journal: data of s0001" in m2.output()
    assert sorted(keys(s3, bucket)) == ["s0000", "s0002"]
    for name in ("s0000", "s0002"):
        assert body(s3, bucket, name) == files[name]
