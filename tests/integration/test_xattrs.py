"""user.* extended attributes live with the object (s3fs's format)."""

import errno
import os
import subprocess

import pytest


def test_user_xattrs_round_trip_and_survive_remount(mounter, bucket, s3):
    m = mounter(bucket)
    p = m.path("f")
    with open(p, "w") as f:
        f.write("x")
    os.setxattr(p, "user.color", b"blue")          # pending file
    m.sync()
    os.setxattr(p, "user.bin", bytes(range(256)))  # clean file: COPY
    os.chmod(p, 0o600)                              # must keep them
    assert sorted(os.listxattr(p)) == ["user.bin", "user.color"]
    m.unmount()
    m2 = mounter(bucket)
    p = m2.path("f")
    assert os.getxattr(p, "user.color") == b"blue"
    assert os.getxattr(p, "user.bin") == bytes(range(256))
    assert os.stat(p).st_mode & 0o777 == 0o600
    os.removexattr(p, "user.color")
    assert os.listxattr(p) == ["user.bin"]
    with pytest.raises(OSError) as e:
        os.getxattr(p, "user.color")
    assert e.value.errno == errno.ENODATA
    assert "xattr" in s3.head_object(Bucket=bucket, Key="f")["Metadata"]


def test_xattr_limits_and_namespaces(mnt):
    p = mnt.path("g")
    with open(p, "w") as f:
        f.write("x")
    with pytest.raises(OSError) as e:
        os.setxattr(p, "user.big", b"v" * 8000)
    assert e.value.errno == errno.E2BIG
    with pytest.raises(OSError) as e:
        os.setxattr(p, "trusted.x", b"v")
    assert e.value.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM)
    with pytest.raises(OSError) as e:
        os.setxattr(p, "user.x", b"v", os.XATTR_REPLACE)
    assert e.value.errno == errno.ENODATA
    with pytest.raises(OSError) as e:
        os.getxattr(p, "security.selinux")
    assert e.value.errno == errno.ENODATA
    with pytest.raises(OSError) as e:
        os.setxattr(p, "user.r2.state", b"clean")
    assert e.value.errno == errno.EPERM


def test_cp_a_keeps_xattrs(mnt, tmp_path):
    src = tmp_path / "src"
    src.write_text("data")
    os.setxattr(src, "user.tag", b"kept")
    subprocess.run(["cp", "-a", str(src), mnt.path("dst")], check=True)
    assert os.getxattr(mnt.path("dst"), "user.tag") == b"kept"
    out = tmp_path / "back"
    subprocess.run(["cp", "-a", mnt.path("dst"), str(out)], check=True)
    assert os.getxattr(out, "user.tag") == b"kept"
    assert "user.r2.state" not in os.listxattr(out)
