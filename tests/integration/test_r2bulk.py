"""The r2 tool doing whole jobs: buckets made and removed, directory trees
copied up and down in parallel, many keys deleted in batches, mtimes kept
on download, -v summaries, and listings and help that say what they mean.
"""

import os
import pty
import re
import select
import subprocess
import time
import uuid

import botocore.exceptions
import pytest

from conftest import list_keys
from faultproxy import FaultProxy
from test_r2tool import ok, r2, r2_binary, r2_env, refused, run_on_pty


# ---------------------------------------------------------------- buckets

def test_mb_and_rb(s3env, s3):
    name = "t-mb-" + uuid.uuid4().hex[:12]
    try:
        assert ok(r2(s3env, "-v", "mb", name)) == \
            f"created bucket '{name}'\n"
        s3.head_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="k", Body=b"x")
        refused(r2(s3env, "rb", name), 1, "is not empty", f"r2 rm -r {name}")
        ok(r2(s3env, "rm", "-r", name))  # not on a terminal: no question
        assert ok(r2(s3env, "-v", "rb", f"r2://{name}")) == \
            f"removed bucket '{name}'\n"
        with pytest.raises(botocore.exceptions.ClientError):
            s3.head_bucket(Bucket=name)
        refused(r2(s3env, "rb", name), 1, f"bucket '{name}' does not exist")
        refused(r2(s3env, "mb", "Bad_Name"), 2, "not a valid bucket name")
        refused(r2(s3env, "mb", f"{name}/key"), 2, "takes a bucket")
        refused(r2(s3env, "mb"), 2, "usage: r2 mb BUCKET")
    finally:
        try:
            for k in list_keys(s3, name):
                s3.delete_object(Bucket=name, Key=k)
            s3.delete_bucket(Bucket=name)
        except botocore.exceptions.ClientError:
            pass


# ---------------------------------------------------------------- cp -r

def make_tree(root):
    """A small tree with a big file, an empty directory, odd names and
    old mtimes; returns {relative path: bytes}."""
    files = {
        "a.txt": b"alpha\n",
        "sub/b.bin": os.urandom(100 * 1024),
        "sub/deeper/c d.txt": b"with a space",
        "big.bin": os.urandom(1 << 20) * 70,  # 70 MiB: 9 parts of 8 MiB
    }
    for i, (rel, data) in enumerate(sorted(files.items())):
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        t = 1_500_000_000_123_456_789 + i * 86400 * 10**9
        os.utime(p, ns=(t, t))
    os.makedirs(os.path.join(root, "empty"))
    os.symlink("a.txt", os.path.join(root, "link"))
    return files


def test_cp_recursive_up_and_down(s3env, s3, bucket, tmp_path):
    src = str(tmp_path / "src")
    files = make_tree(src)
    p = r2(s3env, "-v", "cp", "-r", src, f"{bucket}/pre")
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(rf"uploaded 4 files from '{src}' to '{bucket}/pre/': "
                        r"70\.1 MiB in [0-9.]+ s\n", p.stdout), p.stdout
    assert "skipped 1 entry" in p.stderr  # the symbolic link
    assert sorted(list_keys(s3, bucket)) == sorted(
        ["pre/" + k for k in files] + ["pre/empty/"])
    for rel, data in files.items():
        assert s3.get_object(Bucket=bucket, Key="pre/" + rel)[
            "Body"].read() == data, rel
    # multipart (70 MiB in 9 parts: 8 MiB each, the rest last; RGW
    # cannot show a part's size), and r2fs's metadata
    head = s3.head_object(Bucket=bucket, Key="pre/big.bin")
    assert head["ETag"].strip('"').endswith("-9")
    meta = s3.head_object(Bucket=bucket, Key="pre/a.txt")["Metadata"]
    assert meta["mtime"].startswith("1500000000.123456789")

    dst = str(tmp_path / "dst" / "new")
    p = r2(s3env, "-v", "cp", "-r", f"r2://{bucket}/pre/", dst)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert re.fullmatch(rf"downloaded 4 files from '{bucket}/pre/' to "
                        rf"'{dst}': 70\.1 MiB in [0-9.]+ s\n", p.stdout)
    for rel, data in files.items():
        with open(os.path.join(dst, rel), "rb") as f:
            assert f.read() == data, rel
        assert os.stat(os.path.join(dst, rel)).st_mtime_ns == \
            os.stat(os.path.join(src, rel)).st_mtime_ns, rel
    assert os.listdir(os.path.join(dst, "empty")) == []
    assert not [n for n in os.listdir(dst) if ".r2-" in n]


def test_cp_recursive_is_parallel_and_shows_progress(s3env, s3, bucket,
                                                     tmp_path):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(8):
        (src / f"f{i}").write_bytes(b"%d" % i * 1000)
    host, port = s3env["S3_ENDPOINT"].rsplit("/", 1)[1].split(":")
    proxy = FaultProxy(host, int(port), rate=1.0, kinds=("stall",),
                       stall_seconds=(2.0, 2.0),
                       match=lambda method, target: method == "PUT")
    try:
        t0 = time.time()
        p = subprocess.run([r2_binary(), "--endpoint", proxy.endpoint, "cp",
                            "-r", str(src), f"{bucket}/par"],
                           capture_output=True, text=True, env=r2_env(s3env),
                           timeout=120)
        took = time.time() - t0
    finally:
        proxy.close()
    assert p.returncode == 0, p.stderr
    assert took < 8, took  # one at a time would take 16 s
    assert len(list_keys(s3, bucket, "par/")) == 8
    rc, err = run_on_pty([r2_binary(), "--endpoint", s3env["S3_ENDPOINT"],
                          "cp", "-r", str(src), f"{bucket}/pty"],
                         r2_env(s3env))
    assert rc == 0, err
    assert "7.8 KiB / 7.8 KiB  100%" in err, err


def test_cp_recursive_errors(s3env, s3, bucket, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    refused(r2(s3env, "cp", "-r", str(f), f"{bucket}/x"), 2,
            "is not a directory")
    refused(r2(s3env, "cp", "-r", f"{bucket}/nothing", str(tmp_path / "d")),
            1, f"'{bucket}/nothing/': nothing below that prefix")
    # a key that would write outside the directory is not followed
    s3.put_object(Bucket=bucket, Key="evil/../../escape", Body=b"no")
    s3.put_object(Bucket=bucket, Key="evil/fine", Body=b"yes")
    p = r2(s3env, "cp", "-r", f"{bucket}/evil", str(tmp_path / "in"))
    assert p.returncode == 1 and "skipped 1 key" in p.stderr, p.stderr
    assert os.listdir(tmp_path / "in") == ["fine"]
    assert not os.path.exists(tmp_path / "escape")
    refused(r2(s3env, "stat", "-r", f"{bucket}/x"), 2, "-r is only for")


# ---------------------------------------------------------------- rm

def test_rm_several_keys(s3env, s3, bucket):
    for k in ("k1", "k2", "k3"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    p = r2(s3env, "-v", "rm", f"{bucket}/k1", f"s3://{bucket}/k2",
           f"{bucket}/nope")
    refused(p, 1, f"'{bucket}/nope': no such object")
    assert p.stdout == f"deleted 2 objects from bucket '{bucket}'\n"
    assert list_keys(s3, bucket) == ["k3"]
    refused(r2(s3env, "rm", f"{bucket}/k3", "other-bucket/x"), 2,
            "one bucket at a time")
    refused(r2(s3env, "rm", "-f", f"{bucket}/k3"), 2, "-f is only for")
    assert list_keys(s3, bucket) == ["k3"]


def put_many(s3, bucket, keys):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""),
                    keys))


def test_rm_recursive_in_batches(s3env, s3, bucket, reqlog):
    below = [f"dir/{i:04d}" for i in range(1500)] + ["dir/", "dir/s/x"]
    put_many(s3, bucket, below + ["dir", "dirx/keep", "other/keep"])
    out = ok(r2(s3env, "-v", "rm", "-r", f"{bucket}/dir"))
    assert out == f"deleted 1503 objects from bucket '{bucket}'\n"
    assert sorted(list_keys(s3, bucket)) == ["dirx/keep", "other/keep"]
    deletes = [t for m, t, _ in reqlog.requests()
               if m == "POST" and "delete" in t]
    assert len(deletes) == 2, deletes  # 1,000 + 503
    refused(r2(s3env, "rm", "-r", f"{bucket}/gone"), 1,
            "no such object or prefix")


def answer_on_terminal(argv, env, answer):
    """Run argv with stdin and stderr on a terminal, answer its question;
    (rc, what it wrote on the terminal)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=slave, stderr=slave,
                         stdout=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = b""
    while b"[y/N]" not in out:
        r, _, _ = select.select([master], [], [], 60)
        assert r, out
        out += os.read(master, 4096)
    os.write(master, answer)
    while True:
        r, _, _ = select.select([master], [], [], 60)
        try:
            chunk = os.read(master, 4096) if r else b""
        except OSError:
            chunk = b""
        if not chunk:
            break
        out += chunk
    rc = p.wait(60)
    os.close(master)
    return rc, out.decode(errors="replace")


def test_rm_recursive_asks_on_a_terminal(s3env, s3, bucket):
    put_many(s3, bucket, ["t/a", "t/b", "t/c"])
    argv = [r2_binary(), "--endpoint", s3env["S3_ENDPOINT"], "rm", "-r",
            f"{bucket}/t/"]
    rc, out = answer_on_terminal(argv, r2_env(s3env), b"n\n")
    assert rc == 1, out
    assert f"delete 3 objects below '{bucket}/t/'? [y/N]" in out
    assert "nothing deleted" in out
    assert len(list_keys(s3, bucket)) == 3
    rc, out = answer_on_terminal(argv, r2_env(s3env), b"y\n")
    assert rc == 0, out
    assert list_keys(s3, bucket) == []
    put_many(s3, bucket, ["t/a"])
    rc, _ = run_on_pty(argv[:-2] + ["-f"] + argv[-2:], r2_env(s3env))
    assert rc == 0 and list_keys(s3, bucket) == []


# ---------------------------------------------------------------- the rest

def test_download_keeps_the_mtime(s3env, s3, bucket, tmp_path):
    f = tmp_path / "old.txt"
    f.write_text("old")
    t = 1_000_000_000_123_456_789
    os.utime(f, ns=(t, t))
    ok(r2(s3env, "cp", str(f), f"{bucket}/old.txt"))
    ok(r2(s3env, "cp", f"{bucket}/old.txt", str(tmp_path / "back.txt")))
    assert os.stat(tmp_path / "back.txt").st_mtime_ns == t
    # no r2fs metadata: Last-Modified, as a mount shows it
    s3.put_object(Bucket=bucket, Key="plain.txt", Body=b"p")
    lm = s3.head_object(Bucket=bucket, Key="plain.txt")["LastModified"]
    out = ok(r2(s3env, "-v", "cp", f"{bucket}/plain.txt", str(tmp_path)))
    assert out.startswith(f"downloaded '{bucket}/plain.txt' to "
                          f"'{tmp_path}/plain.txt': 1 B in "), out
    assert os.stat(tmp_path / "plain.txt").st_mtime == lm.timestamp()


def test_cp_verbose_upload(s3env, bucket, tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("12345")
    out = ok(r2(s3env, "-v", "cp", str(f), f"{bucket}/v.txt"))
    assert re.fullmatch(rf"uploaded '{f}' to '{bucket}/v.txt': 5 B in "
                        r"[0-9.]+ s\n", out), out


def test_ls_inside_a_prefix_hides_its_marker(s3env, s3, bucket):
    for k in ("dir/", "dir/a.txt", "dir/sub/", "dir/sub/x"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    lines = ok(r2(s3env, "ls", f"{bucket}/dir/")).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(" a.txt") and lines[1].endswith(" PRE sub/")
    assert not [l for l in lines if l.endswith(" ")]
    names = [l.split()[-1] for l in
             ok(r2(s3env, "ls", "-r", f"{bucket}/dir/")).splitlines()]
    assert names == ["dir/", "dir/a.txt", "dir/sub/", "dir/sub/x"]


def test_help_names_the_r2_form_and_the_new_commands(s3env):
    helptext = ok(r2(s3env, "--help", endpoint=False))
    assert "r2://BUCKET/KEY" in helptext
    for cmd in ("cp -r DIR", "cp -r BUCKET", "rm -r", "mb BUCKET",
                "rb BUCKET"):
        assert re.search(r"^  " + re.escape(cmd), helptext, re.M), cmd
    for opt in ("-f, --force", "-v, --verbose"):
        assert opt in helptext
