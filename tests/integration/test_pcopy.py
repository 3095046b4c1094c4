"""A small change to a big file uploads the change, not the file.

A file above the multipart threshold that was read from the bucket, changed
in one place and closed goes up as a multipart upload whose unchanged parts
are copied on the server (UploadPartCopy from the version the file was
read from) and whose changed part is sent.  Checked through r2fs's own
byte counter (what it sent) and the server's log (what it received), and
through boto3 (the object is exact).
"""

import hashlib
import os
import subprocess

from conftest import RequestLog, r2fs_binary

MiB = 1 << 20


def stats(path):
    out = subprocess.run([r2fs_binary(), "stats", path], check=True,
                         capture_output=True, text=True).stdout
    return {k: float(v) for k, v in (l.split() for l in out.splitlines())}


def object_sha256(s3, bucket, key):
    h = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(MiB), b""):
        h.update(chunk)
    return h.hexdigest()


def parts_received(log, key):
    """UploadPart and UploadPartCopy requests of key (RGW logs both as
    PUT ?partNumber=N&uploadId=...)."""
    return [t for m, t, s in log.requests()
            if m == "PUT" and t.split("?")[0].endswith("/" + key)
            and "partNumber=" in t and s == 200]


def test_one_byte_in_a_40mib_file_sends_one_part(mounter, bucket, s3,
                                                 s3env):
    size = 40 * MiB  # 5 parts of 8 MiB above a 5 MiB threshold
    data = bytearray(os.urandom(size))
    m = mounter(bucket, opts=["multipart_threshold=5"])
    with open(m.path("big.bin"), "wb") as f:
        f.write(data)
    m.sync()
    first = s3.head_object(Bucket=bucket, Key="big.bin")["ETag"]

    before = stats(m.dir)
    log = RequestLog(s3env, bucket)
    off = 20 * MiB + 12345  # in part 3
    data[off] ^= 0xFF
    with open(m.path("big.bin"), "r+b") as f:
        f.seek(off)
        f.write(bytes([data[off]]))
    m.sync()
    after = stats(m.dir)

    up = after["bytes_up"] - before["bytes_up"]
    # one 8 MiB part and a few small bodies (the completion's XML)
    assert 8 * MiB <= up < 8 * MiB + 64 * 1024, up
    assert len(parts_received(log, "big.bin")) == 5
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"] != first
    assert object_sha256(s3, bucket, "big.bin") == \
        hashlib.sha256(data).hexdigest()
    m.unmount()


def test_an_open_file_synced_twice_copies_from_its_last_upload(
        mounter, bucket, s3):
    """fsx and databases keep the file open: the second fsync copies from
    the version the first one uploaded."""
    size = 24 * MiB + 100  # parts 8, 8, 8 MiB and 100 bytes
    data = bytearray(os.urandom(size))
    m = mounter(bucket, opts=["multipart_threshold=5"])
    with open(m.path("db"), "wb") as f:
        f.write(data)
    m.sync()
    with open(m.path("db"), "r+b") as f:
        for off in (3 * MiB, 17 * MiB, size - 1):
            before = stats(m.dir)
            data[off] ^= 0x55
            f.seek(off)
            f.write(bytes([data[off]]))
            f.flush()
            os.fsync(f.fileno())
            up = stats(m.dir)["bytes_up"] - before["bytes_up"]
            part = 100 if off == size - 1 else 8 * MiB
            assert part <= up < part + 64 * 1024, (off, up)
            assert object_sha256(s3, bucket, "db") == \
                hashlib.sha256(data).hexdigest()
    m.unmount()
