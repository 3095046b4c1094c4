"""Tools users run on the mount: rsync, tar, git, sqlite; symlinks;
metadata shared with other S3 tools."""

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tarfile

import pytest

from conftest import SRCDIR


def make_tree(root):
    """Files with distinct modes and times, a symlink, a subdirectory."""
    os.makedirs(os.path.join(root, "sub", "deeper"))
    t0 = 1_500_000_000
    specs = [("a.txt", 0o644), ("run.sh", 0o755), ("secret", 0o600),
             ("sub/b.bin", 0o640), ("sub/deeper/c", 0o444)]
    for i, (rel, mode) in enumerate(specs):
        p = os.path.join(root, rel)
        with open(p, "wb") as f:
            f.write(os.urandom(1000 + i * 777))
        os.chmod(p, mode)
        os.utime(p, ns=(t0 * 10**9 + i * 123_456_789,
                        t0 * 10**9 + i * 123_456_789))
    os.symlink("a.txt", os.path.join(root, "link"))
    os.symlink("../run.sh", os.path.join(root, "sub", "uplink"))
    os.utime(os.path.join(root, "sub"), (t0 + 99, t0 + 99))
    return specs


def snapshot(root):
    """(type, mode, mtime_ns, size, link target) for every path."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            out[rel] = (stat.S_IFMT(st.st_mode),
                        stat.S_IMODE(st.st_mode)
                        if not stat.S_ISLNK(st.st_mode) else None,
                        st.st_mtime_ns if stat.S_ISREG(st.st_mode) else None,
                        st.st_size if stat.S_ISREG(st.st_mode) else None,
                        link)
    return out


def test_second_rsync_transfers_nothing(mounter, bucket, reqlog, tmp_path):
    src = tmp_path / "src"
    make_tree(str(src))
    m = mounter(bucket)
    subprocess.run(["rsync", "-a", f"{src}/", m.path("t") + "/"],
                   check=True)
    m.sync()
    m.unmount()
    m2 = mounter(bucket)  # cold caches: everything from the bucket
    before = len(reqlog.requests())
    out = subprocess.run(["rsync", "-a", "--stats", f"{src}/",
                          m2.path("t") + "/"], check=True,
                         capture_output=True, text=True).stdout
    assert re.search(r"Number of regular files transferred: 0", out), out
    m2.sync()
    after = reqlog.requests()[before:]
    writes = [r for r in after if r[0] in ("PUT", "POST", "DELETE")]
    assert writes == [], writes
    assert snapshot(str(src)) == snapshot(m2.path("t"))


def test_tar_round_trip_keeps_modes_times_symlinks(mounter, bucket,
                                                   tmp_path):
    src = tmp_path / "src"
    make_tree(str(src))
    tarball = tmp_path / "t.tar"
    with tarfile.open(tarball, "w") as t:
        t.add(str(src), arcname="t")
    # what tar itself keeps (its time precision) on a local disk
    local = tmp_path / "local"
    local.mkdir()
    subprocess.run(["tar", "-xpf", str(tarball), "-C", str(local)],
                   check=True)
    want = snapshot(str(local / "t"))
    m = mounter(bucket)
    subprocess.run(["tar", "-xpf", str(tarball), "-C", m.dir], check=True)
    m.sync()
    m.unmount()
    m2 = mounter(bucket)
    assert snapshot(m2.path("t")) == want
    out = tmp_path / "back.tar"
    subprocess.run(["tar", "-cf", str(out), "-C", m2.dir, "t"], check=True)
    back = tmp_path / "back"
    back.mkdir()
    subprocess.run(["tar", "-xpf", str(out), "-C", str(back)], check=True)

    def seconds(snap):  # GNU tar's own format keeps whole seconds
        return {k: (v[0], v[1], v[2] // 10**9 if v[2] else v[2], v[3], v[4])
                for k, v in snap.items()}
    assert seconds(snapshot(str(back / "t"))) == seconds(want)
    assert os.stat(m2.path("t", "sub")).st_mtime == 1_500_000_099


def test_symlinks(mnt, s3):
    with open(mnt.path("target"), "w") as f:
        f.write("pointed at")
    os.symlink("target", mnt.path("ln"))
    assert os.readlink(mnt.path("ln")) == "target"
    with open(mnt.path("ln")) as f:
        assert f.read() == "pointed at"
    assert stat.S_ISLNK(os.lstat(mnt.path("ln")).st_mode)
    mnt.sync()
    o = s3.get_object(Bucket=mnt.bucket, Key="ln")
    assert o["Body"].read() == b"target"
    assert int(o["Metadata"]["mode"]) & 0o170000 == 0o120000


@pytest.mark.skipif(not os.path.isdir(os.path.join(SRCDIR, ".git")),
                    reason="needs the source tree's git repository")
def test_git_clone_status_fsck(mnt):
    subprocess.run(["git", "clone", "-q", "--no-hardlinks",
                    "file://" + SRCDIR, mnt.path("repo")], check=True)
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1")
    st = subprocess.run(["git", "-C", mnt.path("repo"), "status",
                         "--porcelain"], check=True, capture_output=True,
                        text=True, env=env).stdout
    assert st == ""
    subprocess.run(["git", "-C", mnt.path("repo"), "fsck", "--full"],
                   check=True, capture_output=True, env=env)
    mnt.sync()


def test_sqlite_survives_remount(mounter, bucket):
    m = mounter(bucket)
    db = sqlite3.connect(m.path("t.db"))
    db.execute("create table t (i integer primary key, v text)")
    with db:
        db.executemany("insert into t values (?, ?)",
                       [(i, f"row {i}") for i in range(1000)])
    db.close()
    m.unmount()
    m2 = mounter(bucket)
    db = sqlite3.connect(m2.path("t.db"))
    rows = db.execute("select i, v from t order by i").fetchall()
    db.close()
    assert rows == [(i, f"row {i}") for i in range(1000)]


def test_content_type_from_name(mnt, s3):
    for name in ("page.html", "data.json", "photo.JPG", "noext"):
        with open(mnt.path(name), "w") as f:
            f.write("x")
    mnt.sync()
    ct = {n: s3.head_object(Bucket=mnt.bucket, Key=n)["ContentType"]
          for n in ("page.html", "data.json", "photo.JPG", "noext")}
    assert ct == {"page.html": "text/html", "data.json": "application/json",
                  "photo.JPG": "image/jpeg",
                  "noext": "application/octet-stream"}


def test_metadata_of_other_tools_is_read(mnt, s3):
    # s3fs: decimal st_mode, integer seconds
    s3.put_object(Bucket=mnt.bucket, Key="s3fs.txt", Body=b"a",
                  Metadata={"mode": str(0o100600), "mtime": "1400000000",
                            "uid": "123", "gid": "456"})
    # rclone: octal mode, float seconds
    s3.put_object(Bucket=mnt.bucket, Key="rclone.txt", Body=b"b",
                  Metadata={"mode": "100640", "mtime": "1400000001.5"})
    # plain S3 client: nothing
    s3.put_object(Bucket=mnt.bucket, Key="plain.txt", Body=b"c")
    st = os.stat(mnt.path("s3fs.txt"))
    assert (stat.S_IMODE(st.st_mode), st.st_mtime, st.st_uid,
            st.st_gid) == (0o600, 1400000000, 123, 456)
    st = os.stat(mnt.path("rclone.txt"))
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o640, 1400000001.5)
    st = os.stat(mnt.path("plain.txt"))
    assert stat.S_IMODE(st.st_mode) == 0o644 and st.st_mtime > 1.6e9


def test_ls_l_shows_metadata_of_a_listed_directory(mnt, s3):
    for i in range(200):
        s3.put_object(Bucket=mnt.bucket, Key=f"d/f{i:03d}", Body=b"x",
                      Metadata={"mode": str(0o100600 + (i % 2) * 0o44),
                                "mtime": str(1_300_000_000 + i)})
    out = subprocess.run(["ls", "-l", "--time-style=+%s", mnt.path("d")],
                         check=True, capture_output=True,
                         text=True).stdout.splitlines()[1:]
    assert len(out) == 200
    for i, line in enumerate(sorted(out, key=lambda l: l.split()[-1])):
        perms, when = line.split()[0], int(line.split()[5])
        assert perms == ("-rw-------" if i % 2 == 0 else "-rw-r--r--"), line
        assert when == 1_300_000_000 + i, line
