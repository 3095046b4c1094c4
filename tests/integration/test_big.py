"""Large files and large directories."""

import concurrent.futures
import hashlib
import os
import subprocess


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def test_200mib_file_round_trip(mnt, s3, tmp_path):
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        for _ in range(200):
            f.write(os.urandom(1 << 20))
    want = sha256_file(src)
    subprocess.run(["cp", str(src), mnt.path("big.bin")], check=True)
    mnt.sync()
    h = hashlib.sha256()
    obj = s3.get_object(Bucket=mnt.bucket, Key="big.bin")["Body"]
    for chunk in iter(lambda: obj.read(1 << 20), b""):
        h.update(chunk)
    assert h.hexdigest() == want
    assert sha256_file(mnt.path("big.bin")) == want


def test_200mib_object_from_boto3_reads_through_mount(mnt, s3, tmp_path):
    src = tmp_path / "up.bin"
    with open(src, "wb") as f:
        for _ in range(200):
            f.write(os.urandom(1 << 20))
    s3.upload_file(str(src), mnt.bucket, "up.bin")
    assert sha256_file(mnt.path("up.bin")) == sha256_file(src)


def test_1500_entry_directory_lists_completely(mnt, s3):
    names = [f"f{i:05d}" for i in range(1500)]
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda n: s3.put_object(Bucket=mnt.bucket,
                                            Key="many/" + n, Body=n.encode()),
                    names))
    for i in range(0, 40):
        s3.put_object(Bucket=mnt.bucket, Key=f"many/sub{i:02d}/x", Body=b"")
    got = os.listdir(mnt.path("many"))
    assert sorted(got) == sorted(names + [f"sub{i:02d}" for i in range(40)])
    out = subprocess.run(["ls", "-l", mnt.path("many")], check=True,
                         capture_output=True, text=True).stdout
    assert len([l for l in out.splitlines() if l.startswith("-")]) == 1500
    assert len([l for l in out.splitlines() if l.startswith("d")]) == 40
    with open(mnt.path("many", "f01234"), "rb") as f:
        assert f.read() == b"f01234"
