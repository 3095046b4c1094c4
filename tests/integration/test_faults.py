"""A flaky network: 5% of requests get a fault, nothing is lost or wrong.

faultproxy.FaultProxy sits between r2fs and the S3 server and answers
500/503/429, resets connections (before or after the server saw the
request), stalls, or cuts bodies short.  Contract (issue 7, SEMANTICS.md):
transient failures are retried, uploads are never dropped, a read returns
the object's bytes or EIO, never short or wrong data, and nothing hangs.
The bucket is checked through boto3 on the server's own endpoint.

The faults start after the mount is up (the mount's own checks are not
what is tested here).  FAULTS_BIG_MIB sets the big file's size (default
1024).
"""

import errno
import hashlib
import os
import random
import subprocess
import time

import pytest

from conftest import sized
from faultproxy import HEADER_KINDS, FaultProxy

RATE = 0.05
BIG_MIB = int(os.environ.get("FAULTS_BIG_MIB", sized(1024, 256)))

# Every request is retried (-o retries, default 5) on 429, 5xx, resets,
# stalls and short bodies, so at 5% faults a request fails for good about
# once in 5e7 (0.05^6): no upload failure, no warning or error at all is
# expected in the log.  (A failed upload would be retried by the journal
# and still pass the byte checks; the log check is what tells that the
# per-request retries work.)
EXPECTED_LOG = []


@pytest.fixture
def proxy(s3env):
    host, port = s3env["S3_ENDPOINT"].rsplit("/", 1)[1].split(":")
    p = FaultProxy(host, int(port), rate=0.0,
                   seed=int(os.environ.get("FAULTS_SEED", "7")))
    yield p
    p.close()
    assert p.errors == [], p.errors


def faulty_mount(mounter, bucket, proxy, **kw):
    proxy.rate = 0.0
    m = mounter(bucket, endpoint=proxy.endpoint, **kw)
    m.expect_log = list(EXPECTED_LOG)
    proxy.rate = RATE
    return m


def logged_problems(*mounts):
    """The warning and error lines of the mounts' logs (printed with -s)."""
    return [ln for m in mounts for ln in m.output().splitlines()
            if ": error:" in ln or ": warning:" in ln]


def sync_until_clean(m, deadline_s=600):
    """r2fs sync until it reports nothing failed (uploads are retried
    with backoff in the background), within deadline_s."""
    deadline = time.time() + deadline_s
    while True:
        p = m.sync(check=False)
        if p.returncode == 0:
            return
        assert time.time() < deadline, "sync never came clean: " + p.stderr
        time.sleep(1)


def make_small_tree(root, nfiles, seed):
    rnd = random.Random(seed)
    files = {}
    for i in range(nfiles):
        rel = os.path.join(f"d{i % 10}", f"s{i % 4}", f"f{i:04d}.bin")
        data = rnd.randbytes(rnd.choice([0, 1, 100, 4096, 5000, 20000,
                                         70000]))
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        files[rel] = hashlib.sha256(data).hexdigest()
    return files


def write_big(path, size):
    """size bytes, every MiB different (so misplaced data shows);
    returns the sha256."""
    h = hashlib.sha256()
    base = random.Random(3).randbytes(1 << 20)
    with open(path, "wb") as f:
        off = 0
        i = 0
        while off < size:
            rot = (i * 7919) % len(base)
            chunk = (i.to_bytes(8, "little") +
                     base[rot:] + base[:rot])[:1 << 20]
            chunk = chunk[:size - off]
            f.write(chunk)
            h.update(chunk)
            off += len(chunk)
            i += 1
    return h.hexdigest()


def bucket_sha256(s3, bucket, key):
    h = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(1 << 22), b""):
        h.update(chunk)
    return h.hexdigest()


def read_sha256(path):
    """sha256 of the file read through the mount, or None on EIO."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as e:
        if e.errno != errno.EIO:
            raise
        return None
    return h.hexdigest()


def all_keys(s3, bucket):
    out, token = [], None
    while True:
        kw = {"Bucket": bucket}
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        out += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return out
        token = page["NextContinuationToken"]


@pytest.mark.timeout(1200)
def test_cp_r_1000_files_at_5pct_faults(mounter, bucket, s3, proxy,
                                        tmp_path):
    src = tmp_path / "src"
    files = make_small_tree(str(src), 1000, seed=11)
    m = faulty_mount(mounter, bucket, proxy)
    p = subprocess.run(["cp", "-r", str(src), m.path("tree")],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr  # no error reaches the caller
    sync_until_clean(m)
    assert proxy.faults() > 0

    # the bucket, through the server's own endpoint: every byte
    keys = set(all_keys(s3, bucket))
    want = {"tree/" + rel for rel in files}
    assert want <= keys, sorted(want - keys)[:10]
    bad = [rel for rel, sha in files.items()
           if bucket_sha256(s3, bucket, "tree/" + rel) != sha]
    assert bad == []

    # reads through a fresh mount (no page cache) at 5% faults
    m.unmount()
    m2 = faulty_mount(mounter, bucket, proxy)
    wrong, eio = [], []
    for rel, sha in sorted(files.items()):
        got = read_sha256(m2.path("tree", rel))
        if got is None:
            eio.append(rel)
        elif got != sha:
            wrong.append(rel)
    assert wrong == [], wrong[:10]
    print(f"faults: {proxy.counts}; reads that gave EIO: {len(eio)}; "
          f"log: {logged_problems(m, m2)}")


@pytest.mark.timeout(1500)
def test_big_file_at_5pct_faults(mounter, bucket, s3, proxy, tmp_path):
    size = BIG_MIB * (1 << 20) + 4321
    src = tmp_path / "big.bin"
    sha = write_big(str(src), size)
    m = faulty_mount(mounter, bucket, proxy)
    t0 = time.time()
    p = subprocess.run(["cp", str(src), m.path("big.bin")],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    os.unlink(src)
    sync_until_clean(m)
    t_up = time.time() - t0
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] \
        == size
    assert bucket_sha256(s3, bucket, "big.bin") == sha

    # read it back through a fresh mount, three times (different faults)
    m.unmount()
    m2 = faulty_mount(mounter, bucket, proxy)
    t0 = time.time()
    results = [read_sha256(m2.path("big.bin")) for _ in range(3)]
    t_down = time.time() - t0
    assert all(r in (sha, None) for r in results), "wrong data read"
    print(f"faults: {proxy.counts}; upload+sync {t_up:.0f} s, "
          f"3 reads {t_down:.0f} s, EIO reads: {results.count(None)}; "
          f"log: {logged_problems(m, m2)}")


@pytest.mark.timeout(900)
def test_random_reads_at_5pct_faults(mounter, bucket, s3, proxy):
    """Ranged reads at random offsets: right bytes or EIO, never short."""
    rnd = random.Random(5)
    data = rnd.randbytes(48 << 20)
    s3.put_object(Bucket=bucket, Key="r.bin", Body=data)
    m = faulty_mount(mounter, bucket, proxy)
    wrong = short = eio = 0
    fd = os.open(m.path("r.bin"), os.O_RDONLY)
    try:
        for _ in range(600):
            off = rnd.randrange(len(data))
            n = rnd.choice([1, 100, 4096, 65536, 1 << 20, 3 << 20])
            # drop the kernel's cached pages: every read asks r2fs
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                got = os.pread(fd, n, off)
            except OSError as e:
                assert e.errno == errno.EIO, e  # never another errno
                eio += 1
                continue
            want = data[off:off + n]
            if got != want[:len(got)]:
                wrong += 1
            elif len(got) < len(want):
                short += 1  # the kernel's answer to a failed page read
    finally:
        os.close(fd)
    print(f"faults: {proxy.counts}; EIO: {eio}, short: {short}; "
          f"log: {logged_problems(m)}")
    assert (wrong, short) == (0, 0)
    assert proxy.faults() > 0


@pytest.mark.parametrize("kind", HEADER_KINDS)
def test_mangled_answer_headers(mounter, bucket, s3, proxy, tmp_path, kind):
    """Answers with a 1 MiB header, 20,000 headers, or no ETag, on 10% of
    the requests: no crash, no wrong byte; what failed is retried."""
    src = tmp_path / "src"
    files = make_small_tree(str(src), 60, seed=5)
    proxy.kinds = (kind,)
    m = faulty_mount(mounter, bucket, proxy, opts=["writeback_delay=0"])
    # what may be logged: uploads failing for good when every retry met
    # a mangled answer (retried later by the journal)
    m.expect_log = ["upload of", "could not be uploaded"]
    proxy.rate = 0.1
    p = subprocess.run(["cp", "-r", str(src), m.path("t")],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    proxy.rate = 0.0
    sync_until_clean(m, deadline_s=300)
    assert proxy.counts[kind] > 0
    bad = [rel for rel, sha in files.items()
           if bucket_sha256(s3, bucket, "t/" + rel) != sha]
    assert bad == []
    proxy.rate = 0.1
    wrong = [rel for rel, sha in sorted(files.items())
             if read_sha256(m.path("t", rel)) not in (sha, None)]
    assert wrong == []
    proxy.rate = 0.0
    assert os.statvfs(m.dir).f_namemax == 255  # the daemon is up
