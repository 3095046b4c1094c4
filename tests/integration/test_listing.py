"""The listing fast path: "ls -l" of a big directory costs one LIST per
1,000 entries and at most one HEAD per entry (fetched ahead, in parallel,
and handed to the kernel with readdirplus), with every entry's metadata
right; names looked up one by one (rsync, tar) get their directory
listed after a few; a file read twice through two opens is fetched once
while its ETag stays the same."""

import collections
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import r2fs_binary

META = {"mode": str(0o100750), "uid": "1234", "gid": "99",
        "mtime": "1600000000"}


# Request counts within one mount assume nothing expires meanwhile: the
# default 3 s TTLs can pass mid-test on a loaded machine or under ASan,
# and an expired listing is listed again.
LONG_TTL = ["dir_timeout=60", "stat_timeout=60"]


def stats(path):
    out = subprocess.run([r2fs_binary(), "stats", path], check=True,
                         capture_output=True, text=True).stdout
    return {k: float(v) for k, v in (l.split() for l in out.splitlines())}


def put_many(s3, bucket, keys, meta_every=2):
    """Objects keys[i] of 10 + i % 100 bytes; every meta_every-th one
    with r2fs/s3fs metadata (0750, uid 1234, gid 99, mtime 1600000000)."""
    def one(i):
        kw = {"Metadata": META} if i % meta_every == 0 else {}
        s3.put_object(Bucket=bucket, Key=keys[i],
                      Body=b"x" * (10 + i % 100), **kw)
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(one, range(len(keys))))


def heads_per_key(reqs, bucket):
    c = collections.Counter()
    for meth, target, _ in reqs:
        if meth == "HEAD":
            c[target[len(bucket) + 2:]] += 1
    return c


def lists_of(reqs, prefix):
    """Pages of directory listings (delimiter "/") of prefix."""
    enc = prefix.replace("/", "%2F")
    return sum(1 for meth, t, _ in reqs
               if meth == "GET" and "list-type=2" in t and
               "delimiter=%2F" in t and f"prefix={enc}&" in t + "&")


def all_lists_under(reqs, prefix):
    """Pages of listings, with a delimiter or without, of prefix or below
    it (not the one- or two-key probes of whether a directory exists)."""
    enc = prefix.replace("/", "%2F")
    return sum(1 for meth, t, _ in reqs
               if meth == "GET" and "list-type=2" in t and
               f"prefix={enc}" in t and
               not re.search(r"max-keys=[12](&|$)", t))


def parse_ls(out):
    """name -> (mode string, uid, gid, size, mtime) from ls -ln."""
    got = {}
    for line in out.splitlines()[1:]:  # "total N" first
        f = line.split()
        got[f[6]] = (f[0], int(f[2]), int(f[3]), int(f[4]), int(f[5]))
    return got


def test_ls_l_of_a_big_directory(mounter, bucket, s3, reqlog):
    n = 2500
    names = [f"f{i:05d}" for i in range(n)]
    put_many(s3, bucket, ["big/" + x for x in names])
    # long enough TTLs that the second ls -l falls within them also
    # under the sanitizers
    m = mounter(bucket, opts=LONG_TTL)
    p = subprocess.run(["ls", "-ln", "--time-style=+%s", m.path("big")],
                       check=True, capture_output=True, text=True)
    got = parse_ls(p.stdout)
    assert sorted(got) == names
    lm = int(s3.head_object(Bucket=bucket, Key="big/f00001")
             ["LastModified"].timestamp())
    for i, name in enumerate(names):
        if i % 2 == 0:
            want = ("-rwxr-x---", 1234, 99, 10 + i % 100, 1600000000)
        else:
            want = ("-rw-r--r--", os.getuid(), os.getgid(), 10 + i % 100)
        assert got[name][:len(want)] == want, name
        if i % 2:
            assert abs(got[name][4] - lm) < 120, name  # Last-Modified
    reqs = reqlog.requests()
    # 1,000 keys a page: the first walk's page without a delimiter is the
    # first page, the listing goes on from it with two more
    assert all_lists_under(reqs, "big/") == 3
    assert lists_of(reqs, "big/") == 2
    heads = heads_per_key(reqs, bucket)
    files = {k: v for k, v in heads.items() if k.startswith("big/f")}
    assert len(files) == n and max(files.values()) == 1, \
        "every object HEADed exactly once"
    st = stats(m.dir)
    assert st["metadata_prefetched"] >= n - 10
    # readdirplus handed the kernel the attributes: no lookup per entry
    assert st["lookups"] < 50, st
    # within dir_timeout a second ls -l asks the server nothing
    before = len(reqlog.requests(settle=0))
    p2 = subprocess.run(["ls", "-ln", "--time-style=+%s", m.path("big")],
                        check=True, capture_output=True, text=True)
    assert parse_ls(p2.stdout) == got
    assert len(reqlog.requests()) == before


def test_stat_one_by_one_lists_the_directory(mounter, bucket, s3, reqlog):
    """rsync and tar stat names in a directory they never read: after a
    few lookups the directory is listed once and the rest is prefetched,
    instead of one HEAD after another (and a LIST for every name that is
    not there)."""
    n = 40
    names = [f"n{i:03d}" for i in range(n)]
    put_many(s3, bucket, ["r/" + x for x in names], meta_every=1)
    m = mounter(bucket, opts=LONG_TTL)
    for x in names:
        st = os.lstat(m.path("r", x))
        assert (st.st_mode, st.st_uid, st.st_mtime) == \
            (0o100750, 1234, 1600000000), x
    for x in ("missing1", "missing2", "missing3"):
        assert not os.path.exists(m.path("r", x))
    reqs = reqlog.requests()
    assert all_lists_under(reqs, "r/") == 1
    heads = heads_per_key(reqs, bucket)
    files = {k: v for k, v in heads.items() if k.startswith("r/n")}
    assert len(files) == n and max(files.values()) == 1
    # the names that are not there were answered from the listing
    assert not any(k.startswith("r/missing") for k in heads)
    assert stats(m.dir)["metadata_prefetched"] >= n - 5


def test_walk_by_name_lists_a_small_tree_once(mounter, bucket, s3, reqlog):
    """rsync's receiver stats every path it was sent, directory after
    directory, and never reads one: a small tree is listed with one LIST
    of all of it (no delimiter), not one per directory, and every file is
    HEADed once at most, ahead of its stat."""
    dirs = [f"d{i}" for i in range(8)]
    files = [f"t/{d}/s/f{j}" for d in dirs for j in range(3)] + \
            [f"t/{d}/g{j}" for d in dirs for j in range(3)]
    put_many(s3, bucket, files, meta_every=1)
    s3.put_object(Bucket=bucket, Key="t/d3/empty/", Body=b"")
    m = mounter(bucket, opts=LONG_TTL)
    paths = ["t"]
    for d in dirs:
        paths += [f"t/{d}"] + [f"t/{d}/g{j}" for j in range(3)] + \
                 [f"t/{d}/s"] + [f"t/{d}/s/f{j}" for j in range(3)]
    for p in paths:
        st = os.lstat(m.path(*p.split("/")))
        if "/g" in p or "/f" in p:
            assert (st.st_mode, st.st_uid, st.st_mtime) == \
                (0o100750, 1234, 1600000000), p
        else:
            assert os.path.isdir(m.path(*p.split("/"))), p
    assert os.path.isdir(m.path("t", "d3", "empty"))
    assert not os.path.exists(m.path("t", "d5", "nothere"))
    reqs = reqlog.requests()
    # 16 directories below t: a LIST each before; now t's subtree at once
    # (after a name or two were probed, which may list t/d0/ too)
    assert all_lists_under(reqs, "t/") <= 4, all_lists_under(reqs, "t/")
    assert all(lists_of(reqs, f"t/{d}/") == 0 for d in dirs[2:])
    heads = heads_per_key(reqs, bucket)
    assert max(heads[k] for k in files) <= 1
    assert not any("nothere" in k for k in heads)


def test_find_of_a_small_tree_lists_it_once(mounter, bucket, s3, reqlog):
    """find, du, cp -r out of the mount read every directory of a tree:
    a small tree comes with its first directory's listing."""
    keys = [f"u/d{i}/e{j}/f{k}" for i in range(6) for j in range(3)
            for k in range(2)] + ["u/top", "u/d2/only/"]
    put_many(s3, bucket, keys)
    m = mounter(bucket, opts=LONG_TTL)
    seen = set()
    for root, dirs, files in os.walk(m.path("u")):
        rel = os.path.relpath(root, m.path())
        seen.update(f"{rel}/{f}" for f in files)
        seen.update(f"{rel}/{d}/" for d in dirs)
    want = set(keys) | {f"u/d{i}/" for i in range(6)} | \
        {f"u/d{i}/e{j}/" for i in range(6) for j in range(3)}
    assert seen == want
    assert os.path.getsize(m.path("u", "d5", "e2", "f1")) == \
        10 + keys.index("u/d5/e2/f1") % 100
    # 25 directories: one LIST of all of them, not 25
    assert all_lists_under(reqlog.requests(), "u/") == 1


def test_walk_by_name_in_a_big_tree(mounter, bucket, s3, reqlog):
    """A tree bigger than one LIST page: the directories that came whole
    in the first page are used, the rest is listed as usual."""
    keys = [f"big/a/x{i:04d}" for i in range(1000)] + \
           [f"big/z{i}" for i in range(5)] + ["big/b/y0"]
    put_many(s3, bucket, keys, meta_every=1)
    m = mounter(bucket)
    for p in ["big", "big/b", "big/b/y0", "big/z0", "big/z1", "big/z2",
              "big/z3", "big/z4"]:
        st = os.lstat(m.path(*p.split("/")))
        if "/z" in p or "/y" in p:
            assert (st.st_mode, st.st_size) == \
                (0o100750, 10 + keys.index(p) % 100), p
    assert not os.path.exists(m.path("big", "z9"))
    assert sorted(os.listdir(m.path("big"))) == \
        ["a", "b", "z0", "z1", "z2", "z3", "z4"]
    reqs = reqlog.requests()
    assert not any("z9" in k for k in heads_per_key(reqs, bucket))
    # big/ (1,006 keys) did not fit: listed with a delimiter as well
    assert lists_of(reqs, "big/") >= 1


def test_a_big_directory_is_listed_on_from_its_subtree_page(mounter, bucket,
                                                           s3, reqlog):
    """The first walk of a directory asks for its subtree in one page
    without a delimiter.  When the directory is bigger than that, the
    listing goes on after the page with start-after and a delimiter,
    instead of asking for the page again: one request fewer, and exactly
    the names a delimiter listing has (the page's subdirectories rolled
    up, a file and a directory of one name, an empty directory's
    marker)."""
    keys = [f"big/f{i:04d}" for i in range(2500)]
    keys += [f"big/f0100/in{i}" for i in range(10)]
    keys += [f"big/d0300/x{i:02d}" for i in range(50)]
    keys += ["big/f0200-dir/y", "big/m0500/", "big/f2000/z", "big/zz/q"]
    put_many(s3, bucket, keys)
    m = mounter(bucket, opts=LONG_TTL)
    start = len(reqlog.requests(settle=0))
    got = parse_ls(subprocess.run(
        ["ls", "-ln", "--time-style=+%s", m.path("big")], check=True,
        capture_output=True, text=True).stdout)
    want = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="big/", Delimiter="/"):
        want += [o["Key"][4:] for o in page.get("Contents", [])]
        want += [p["Prefix"][4:-1] for p in page.get("CommonPrefixes", [])]
    want = sorted(set(n for n in want if n))
    assert sorted(got) == want
    assert len(os.listdir(m.path("big"))) == len(want)  # no duplicate
    for name in ("d0300", "f0200-dir", "m0500", "zz"):
        assert got[name][0].startswith("d"), name
    assert got["f0100"][0] == "-rwxr-x---"  # the file's, with metadata
    assert got["f0101"][0] == "-rw-r--r--"
    assert got["f2499"][3] == 10 + 2499 % 100
    enc = "prefix=big%2F&"
    reqs = [t + "&" for meth, t, _ in reqlog.requests()[start:]
            if meth == "GET" and "list-type=2" in t and enc in t + "&" and
            not re.search(r"max-keys=[12](&|$)", t)]  # lookups' probes
    plain = [t for t in reqs if "delimiter=" not in t]
    delimited = [t for t in reqs if "delimiter=%2F" in t]
    assert len(plain) == 1, reqs  # the subtree page
    # 2,574 keys: the subtree page's 1,000, then 1,000 and the rest; the
    # first of them from start-after its last key (a file)
    assert len(delimited) == 2, reqs
    assert "start-after=big%2Ff09" in delimited[0], delimited[0]


def test_our_own_uploads_need_no_head(mounter, bucket, s3, reqlog):
    """What r2fs uploaded it knows: a later listing that shows the same
    ETag (ls -l, rsync or cp -r over the tree they write into) does not
    HEAD those objects, and still shows their mode and owner; a change by
    another client is seen."""
    m = mounter(bucket)
    os.mkdir(m.path("w"))
    for i in range(20):
        with open(m.path("w", f"f{i:02d}"), "wb") as f:
            f.write(b"y" * (100 + i))
        os.chmod(m.path("w", f"f{i:02d}"), 0o600 + (i % 2) * 0o40)
    os.chown(m.path("w", "f03"), 4321, 77)
    m.sync()
    time.sleep(3.5)  # listings and attributes expire (3 s)
    before = len(reqlog.requests())
    got = parse_ls(subprocess.run(["ls", "-ln", "--time-style=+%s",
                                   m.path("w")], check=True,
                                  capture_output=True, text=True).stdout)
    for i in range(20):
        mode, uid, gid, size, _ = got[f"f{i:02d}"]
        assert (mode, size) == ("-rw-r-----" if i % 2 else "-rw-------",
                                100 + i), i
        assert (uid, gid) == ((4321, 77) if i == 3 else (0, 0)), i
    reqs = reqlog.requests()[before:]
    assert all_lists_under(reqs, "w/") == 1
    heads = heads_per_key(reqs, bucket)
    assert not [k for k in heads if k.startswith("w/f")]
    # another client's metadata change keeps the ETag, not Last-Modified
    time.sleep(1.1)
    s3.copy_object(Bucket=bucket, Key="w/f05", MetadataDirective="REPLACE",
                   CopySource={"Bucket": bucket, "Key": "w/f05"},
                   Metadata=dict(META))
    time.sleep(3.5)
    assert os.lstat(m.path("w", "f05")).st_uid == 1234


def test_second_read_of_an_unchanged_file_is_cached(mounter, bucket, s3,
                                                    reqlog):
    data = os.urandom(3 << 20)
    s3.put_object(Bucket=bucket, Key="k.bin", Body=data)
    m = mounter(bucket)

    def gets():
        return sum(1 for meth, t, _ in reqlog.requests()
                   if meth == "GET" and t.endswith("/k.bin"))
    with open(m.path("k.bin"), "rb") as f:
        assert f.read() == data
    first = gets()
    assert first >= 1
    with open(m.path("k.bin"), "rb") as f:
        assert f.read() == data
    assert gets() == first, "same ETag: the kernel's pages were kept"
    # another client's version: seen once the attributes expire (3 s),
    # and the old pages are not shown
    new = os.urandom(3 << 20)
    s3.put_object(Bucket=bucket, Key="k.bin", Body=new)
    time.sleep(4)
    with open(m.path("k.bin"), "rb") as f:
        assert f.read() == new
    # and our own write of it is read back, then kept
    with open(m.path("k.bin"), "r+b") as f:
        f.write(b"ours")
    with open(m.path("k.bin"), "rb") as f:
        assert f.read(4) == b"ours"


def test_memory_stays_bounded_with_many_files_seen(mounter, bucket, s3):
    """-o max_inodes: beyond it the kernel is asked to drop the entries
    used least lately, and forgets them; nothing open or pending goes."""
    n = 1200
    names = [f"f{i:04d}" for i in range(n)]
    put_many(s3, bucket, ["many/" + x for x in names])
    m = mounter(bucket, opts=["max_inodes=300"])
    os.makedirs(m.path("keep"))
    with open(m.path("keep", "open.txt"), "wb") as held:
        held.write(b"pending")
        subprocess.run(["ls", "-l", m.path("many")], check=True,
                       capture_output=True)
        # every listed file became an inode: well past the limit (the
        # evictor, once a second, may have brought the count down already)
        assert stats(m.dir)["inodes_peak"] > 450
        deadline = time.time() + 20
        while stats(m.dir)["inodes"] > 300 and time.time() < deadline:
            time.sleep(0.5)
        assert stats(m.dir)["inodes"] <= 300
        # what was dropped comes back on use, with its metadata
        st = os.lstat(m.path("many", "f0000"))
        assert (st.st_mode, st.st_uid) == (0o100750, 1234)
        assert os.lstat(m.path("many", "f0001")).st_uid == os.getuid()
        assert len(os.listdir(m.path("many"))) == n
    # the open file (and its pending upload) were never dropped
    with open(m.path("keep", "open.txt"), "rb") as f:
        assert f.read() == b"pending"
    m.sync()
    assert s3.get_object(Bucket=bucket, Key="keep/open.txt")["Body"].read() \
        == b"pending"


def test_metadata_outlives_the_mount(mounter, bucket, s3, reqlog):
    """HEADs made by one mount spare the next mount of the same cache
    directory from making them again, while the listing shows the same
    ETag and Last-Modified; a changed object is HEADed again."""
    import tempfile
    n = 300
    names = [f"f{i:03d}" for i in range(n)]
    put_many(s3, bucket, ["m/" + x for x in names], meta_every=1)
    cache = tempfile.mkdtemp(prefix="r2fs-cache-")
    try:
        m = mounter(bucket, cache=cache)
        first = parse_ls(subprocess.run(
            ["ls", "-ln", "--time-style=+%s", m.path("m")], check=True,
            capture_output=True, text=True).stdout)
        m.unmount()
        s3.put_object(Bucket=bucket, Key="m/f007", Body=b"changed",
                      Metadata=META)
        start = len(reqlog.requests())
        m2 = mounter(bucket, cache=cache)
        again = parse_ls(subprocess.run(
            ["ls", "-ln", "--time-style=+%s", m2.path("m")], check=True,
            capture_output=True, text=True).stdout)
        heads = heads_per_key(reqlog.requests()[start:], bucket)
        assert {k for k in heads if k.startswith("m/f")} == {"m/f007"}
        assert again["f007"][3] == 7
        del first["f007"], again["f007"]
        assert again == first
        assert stats(m2.dir)["metadata_loaded"] >= n
        m2.unmount()
    finally:
        subprocess.run(["rm", "-rf", cache], check=False)
