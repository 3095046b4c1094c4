"""Files and directories through the mount, checked with boto3."""

import errno
import os
import stat
import subprocess
import time

import pytest


def body(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_file_written_through_mount_lands_in_bucket(mnt, s3):
    data = os.urandom(100_000)
    with open(mnt.path("a.bin"), "wb") as f:
        f.write(data)
    mnt.sync()
    assert body(s3, mnt.bucket, "a.bin") == data


def test_object_written_by_boto3_reads_through_mount(mnt, s3):
    data = os.urandom(3 * 1024 * 1024 + 17)
    s3.put_object(Bucket=mnt.bucket, Key="dir/b.bin", Body=data)
    with open(mnt.path("dir", "b.bin"), "rb") as f:
        assert f.read() == data
    st = os.stat(mnt.path("dir", "b.bin"))
    assert st.st_size == len(data)
    assert stat.S_ISREG(st.st_mode)
    # objects without metadata get sane defaults, never 0000 or 1970
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert st.st_mtime > 1_600_000_000


def test_cp_into_mount(mnt, s3, tmp_path):
    src = tmp_path / "src.txt"
    src.write_bytes(b"copied with cp\n" * 1000)
    import subprocess
    subprocess.run(["cp", str(src), mnt.path("c.txt")], check=True)
    mnt.sync()
    assert body(s3, mnt.bucket, "c.txt") == src.read_bytes()


def test_random_reads(mnt, s3):
    data = os.urandom(5 * 1024 * 1024)
    s3.put_object(Bucket=mnt.bucket, Key="r.bin", Body=data)
    with open(mnt.path("r.bin"), "rb") as f:
        for off in (4_000_000, 17, 1_048_575, 5 * 1024 * 1024 - 10, 0):
            f.seek(off)
            assert f.read(4096) == data[off:off + 4096]
        f.seek(len(data) + 100)
        assert f.read(10) == b""


def test_overwrite_middle_of_existing_object(mnt, s3):
    s3.put_object(Bucket=mnt.bucket, Key="m.txt", Body=b"0123456789")
    with open(mnt.path("m.txt"), "r+b") as f:
        f.seek(3)
        f.write(b"abc")
    mnt.sync()
    assert body(s3, mnt.bucket, "m.txt") == b"012abc6789"


def test_append(mnt, s3):
    s3.put_object(Bucket=mnt.bucket, Key="log.txt", Body=b"one\n")
    with open(mnt.path("log.txt"), "ab") as f:
        f.write(b"two\n")
    mnt.sync()
    assert body(s3, mnt.bucket, "log.txt") == b"one\ntwo\n"


def test_truncate_by_path_and_by_fd(mnt, s3):
    s3.put_object(Bucket=mnt.bucket, Key="t.txt", Body=b"abcdefghij")
    os.truncate(mnt.path("t.txt"), 4)
    mnt.sync()
    assert body(s3, mnt.bucket, "t.txt") == b"abcd"
    with open(mnt.path("t.txt"), "r+b") as f:
        f.truncate(6)
    mnt.sync()
    assert body(s3, mnt.bucket, "t.txt") == b"abcd\0\0"
    assert os.stat(mnt.path("t.txt")).st_size == 6


def test_empty_file(mnt, s3):
    open(mnt.path("empty"), "wb").close()
    mnt.sync()
    assert body(s3, mnt.bucket, "empty") == b""
    assert os.stat(mnt.path("empty")).st_size == 0


def test_fsync_puts_object_in_bucket(mnt, s3):
    fd = os.open(mnt.path("f.txt"), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b"durable")
        os.fsync(fd)
        assert body(s3, mnt.bucket, "f.txt") == b"durable"
    finally:
        os.close(fd)


def test_unlink(mnt, s3):
    s3.put_object(Bucket=mnt.bucket, Key="gone.txt", Body=b"x")
    os.unlink(mnt.path("gone.txt"))
    assert "Contents" not in s3.list_objects_v2(Bucket=mnt.bucket)
    assert not os.path.exists(mnt.path("gone.txt"))


def test_rename_file(mnt, s3):
    s3.put_object(Bucket=mnt.bucket, Key="old.txt", Body=b"payload")
    os.rename(mnt.path("old.txt"), mnt.path("new.txt"))
    keys = [o["Key"] for o in
            s3.list_objects_v2(Bucket=mnt.bucket)["Contents"]]
    assert keys == ["new.txt"]
    assert body(s3, mnt.bucket, "new.txt") == b"payload"
    with open(mnt.path("new.txt"), "rb") as f:
        assert f.read() == b"payload"


def test_mkdir_rmdir_markers(mnt, s3):
    os.mkdir(mnt.path("d"))
    mnt.sync()  # the marker goes up after the quiet period (test_dirs)
    s3.head_object(Bucket=mnt.bucket, Key="d/")
    assert stat.S_ISDIR(os.stat(mnt.path("d")).st_mode)
    with open(mnt.path("d", "f"), "wb") as f:
        f.write(b"x")
    assert sorted(os.listdir(mnt.path("d"))) == ["f"]
    os.unlink(mnt.path("d", "f"))
    os.rmdir(mnt.path("d"))
    assert "Contents" not in s3.list_objects_v2(Bucket=mnt.bucket)


def test_implied_directories_are_shown(mnt, s3):
    s3.put_object(Bucket=mnt.bucket, Key="x/y/z.txt", Body=b"z")
    assert os.listdir(mnt.dir) == ["x"]
    assert os.listdir(mnt.path("x")) == ["y"]
    assert stat.S_ISDIR(os.stat(mnt.path("x", "y")).st_mode)
    with open(mnt.path("x", "y", "z.txt"), "rb") as f:
        assert f.read() == b"z"


def test_empty_directory_survives_remount(mounter, bucket):
    m = mounter(bucket)
    os.mkdir(m.path("keep"))
    m.unmount()
    m2 = mounter(bucket)
    assert os.listdir(m2.dir) == ["keep"]


def errno_of(fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    return e.value.errno


def test_errnos(mnt, s3):
    s3.put_object(Bucket=mnt.bucket, Key="dir/file", Body=b"x")
    s3.put_object(Bucket=mnt.bucket, Key="file", Body=b"x")
    assert errno_of(open, mnt.path("missing")) == errno.ENOENT
    assert errno_of(os.stat, mnt.path("dir", "missing")) == errno.ENOENT
    assert errno_of(os.rmdir, mnt.path("dir")) == errno.ENOTEMPTY
    assert errno_of(open, mnt.path("dir"), "wb") == errno.EISDIR
    assert errno_of(os.unlink, mnt.path("dir")) == errno.EISDIR
    assert errno_of(os.mkdir, mnt.path("file", "sub")) == errno.ENOTDIR
    assert errno_of(os.listdir, mnt.path("file")) == errno.ENOTDIR
    assert errno_of(os.rmdir, mnt.path("file")) == errno.ENOTDIR
    assert errno_of(os.mkdir, mnt.path("dir")) == errno.EEXIST
    assert errno_of(os.open, mnt.path("file"),
                    os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    assert errno_of(os.link, mnt.path("file"),
                    mnt.path("hard")) == errno.EPERM


def test_name_too_long(mnt):
    name = "n" * 256
    assert errno_of(open, mnt.path(name), "wb") == errno.ENAMETOOLONG
    assert errno_of(os.stat, mnt.path(name)) == errno.ENAMETOOLONG
    ok = "n" * 255
    with open(mnt.path(ok), "wb") as f:
        f.write(b"ok")
    mnt.sync()
    assert os.path.getsize(mnt.path(ok)) == 2


def test_odd_names(mnt, s3):
    names = ["with space", "plus+sign", "percent%20", "tilde~",
             "equals=x", "uni-\u00e9\u4e2d", "q?mark", "hash#tag", "tab\tx"]
    for n in names:
        with open(mnt.path(n), "wb") as f:
            f.write(n.encode())
    mnt.sync()
    keys = sorted(o["Key"] for o in
                  s3.list_objects_v2(Bucket=mnt.bucket)["Contents"])
    assert keys == sorted(names)
    for n in names:
        assert body(s3, mnt.bucket, n) == n.encode()


def test_statfs(mnt):
    sv = os.statvfs(mnt.dir)
    assert sv.f_namemax == 255
    assert sv.f_bavail > 0


def test_unlinked_open_file_readable_until_close(mnt, s3):
    s3.put_object(Bucket=mnt.bucket, Key="open.txt", Body=b"still here")
    fd = os.open(mnt.path("open.txt"), os.O_RDONLY)
    try:
        os.unlink(mnt.path("open.txt"))
        assert not os.path.exists(mnt.path("open.txt"))
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert os.pread(fd, 100, 0) == b"still here"
    finally:
        os.close(fd)
    deadline = time.time() + 10
    while "Contents" in s3.list_objects_v2(Bucket=mnt.bucket):
        assert time.time() < deadline, "deleted at the last close"
        time.sleep(0.1)


def test_hostile_keys_are_hidden_and_never_escape(mnt, s3, tmp_path):
    """Keys other S3 clients can write but no file name can be: "." and
    ".." components, empty components.  They are not listed, never
    resolve outside the mount, and the daemon stays up."""
    outside = tmp_path / "escape"
    hostile = ["../escape", "./dot", "a/../escape", "a/./b", "a//c",
               "a/.", "b/..", "..", "."]
    for k in hostile:
        s3.put_object(Bucket=mnt.bucket, Key=k, Body=b"hostile")
    s3.put_object(Bucket=mnt.bucket, Key="a/ok", Body=b"fine")
    from conftest import list_keys
    stored = set(list_keys(s3, mnt.bucket))
    assert len(stored & set(hostile)) >= 5  # the server kept them
    top = sorted(os.listdir(mnt.dir))
    assert top == ["a", "b"]  # (b: a prefix only)
    assert os.listdir(mnt.path("a")) == ["ok"]
    assert os.listdir(mnt.path("b")) == []
    with open(mnt.path("a", "ok"), "rb") as f:
        assert f.read() == b"fine"
    # ".." is the kernel's: it leads to the parent, never to a key
    assert os.path.samefile(mnt.path("a", ".."), mnt.dir)
    assert not outside.exists()
    out = subprocess.run(["find", mnt.dir], check=True, capture_output=True,
                         text=True).stdout.split("\n")
    assert sorted(p for p in out if p) == sorted(
        [mnt.dir, mnt.path("a"), mnt.path("a", "ok"), mnt.path("b")])
    # a name that is not UTF-8 can be no key (S3 and R2 refuse them): a
    # clean EILSEQ at once, not an upload failing forever; an overlong
    # "/" and a surrogate are not UTF-8 either
    for bad in (b"\xff\xfe-not-utf8", b"over\xc0\xaflong",
                b"sur\xed\xa0\x80rogate"):
        raw = os.fsencode(mnt.dir) + b"/" + bad
        for make in (lambda: open(raw, "wb"), lambda: os.mkdir(raw),
                     lambda: os.symlink("x", raw),
                     lambda: os.rename(mnt.path("a", "ok"), raw)):
            with pytest.raises(OSError) as e:
                make()
            assert e.value.errno == errno.EILSEQ, bad
        assert not os.path.exists(raw)  # lookup: simply not there
    mnt.sync()
    assert mnt.state(mnt.path("a", "ok")) == "clean"
    assert os.statvfs(mnt.dir).f_namemax == 255  # still mounted
