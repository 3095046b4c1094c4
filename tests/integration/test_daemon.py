"""Running r2fs for real: where its log goes, what it says after the
unmount, its pid file, r2fs wait and r2fs pending, SIGTERM, the failure
counter, and the usage of its commands."""

import json
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import SRCDIR, is_mount, r2fs_binary
from faultproxy import FaultProxy
from tcpproxy import TcpProxy

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} r2fs\[\d+\]: "


def journals(cache):
    return sorted(n for n in os.listdir(cache) if n.startswith("journal-"))


def r2fs(*args, timeout=120):
    return subprocess.run([r2fs_binary()] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def proxy_of(s3env, cls, **kw):
    host, port = s3env["S3_ENDPOINT"].rsplit("/", 1)[1].split(":")
    return cls(host, int(port), **kw)


# ---------------------------------------------------------------- logs

def test_log_file_and_level(mounter, bucket, tmp_path):
    quiet = tmp_path / "warn.log"
    m = mounter(bucket, opts=[f"log_file={quiet}", "log_level=warn"])
    with open(m.path("a.txt"), "w") as f:
        f.write("a")
    m.sync()
    assert m.unmount() == 0
    assert quiet.exists() and "info:" not in quiet.read_text()
    assert "r2fs:" not in m.output()  # nothing on stderr either

    log = tmp_path / "info.log"
    m = mounter(bucket, opts=[f"log_file={log}"])
    os.listdir(m.dir)
    assert m.unmount() == 0
    text = log.read_text()
    assert re.search("^" + STAMP + r"info: mounted " + bucket + " at ",
                     text, re.M), text
    assert re.search("^" + STAMP + r"info: unmounted ", text, re.M), text
    assert "r2fs:" not in m.output()

    with pytest.raises(RuntimeError) as e:
        mounter(bucket, opts=["log_level=loud"])
    assert "log_level must be error, warn, info or debug" in str(e.value)
    with pytest.raises(RuntimeError) as e:
        mounter(bucket, opts=[f"log_file={tmp_path}/no/such/dir/log"])
    assert "cannot open the log file" in str(e.value)


def test_debug_traces_each_request(mounter, bucket, s3env):
    m = mounter(bucket, opts=["log_level=debug"])
    with open(m.path("t.txt"), "w") as f:
        f.write("trace")
    m.sync()
    os.listdir(m.dir)
    assert m.unmount() == 0
    out = m.output()
    put = re.search(r"^r2fs: debug: http: PUT /" + bucket + r"/t\.txt: 200, "
                    r"5 B up, \d+ B down, \d+ ms, 0 retries$", out, re.M)
    assert put, out
    assert re.search(r"^r2fs: debug: http: GET /" + bucket +
                     r"\?[^ ]*list-type=2[^ ]*: 200, ", out, re.M), out
    assert "unique:" not in out  # libfuse's trace is -d's
    assert s3env["AWS_SECRET_ACCESS_KEY"] not in out
    assert "Authorization" not in out and "Signature=" not in out

    m = mounter(bucket, opts=["debug"])  # -d: both traces
    os.listdir(m.dir)
    assert m.unmount() == 0
    out = m.output()
    assert "unique:" in out and "r2fs: debug: http: GET /" in out
