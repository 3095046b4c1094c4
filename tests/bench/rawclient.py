#!/usr/bin/python3
"""rawclient - the "physical limit": a multi-threaded boto3 client that moves
the same bytes as the filesystem workloads of tests/bench/run.

    rawclient.py OP ARGS...      (endpoint and keys from S3_ENDPOINT,
                                  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)

OPs (each prints one JSON object on stdout with "seconds" and extras):
    put FILE BUCKET KEY          upload_file, 8 MiB parts, 8 at once
    get BUCKET KEY               download_fileobj into a null sink, same
    randread BUCKET KEY SIZE N SEED
                                 N ranged GETs of 4 KiB, one after the other,
                                 at the offsets of offsets(SIZE, N, SEED)
    list BUCKET PREFIX           one paginated ListObjectsV2 (delimiter /)
    puttree DIR BUCKET PREFIX    PUT every file below DIR, 8 at once
    synctree DIR BUCKET PREFIX   like `aws s3 sync`: LIST, then PUT only the
                                 files whose size differs or that are missing
    ttfb BUCKET KEY              GET the object and read its first byte

The client is made before the clock starts; its connections are not (the
first request pays the TCP connection like any fresh mount does).
Run by tests/bench/run in its own process so its peak RSS can be measured.
"""

import json
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

AGENT = "bench-raw"
PART = 8 << 20
CONCURRENCY = 8


def offsets(size, n, seed):
    """The 4 KiB-aligned offsets the random-read workload uses."""
    rng = random.Random(seed)
    blocks = max(1, size // 4096)
    return [rng.randrange(blocks) * 4096 for _ in range(n)]


def client(pool=32):
    import boto3
    import botocore.config
    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            user_agent=AGENT,
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=pool))


def transfer_config():
    from boto3.s3.transfer import TransferConfig
    return TransferConfig(multipart_threshold=PART, multipart_chunksize=PART,
                          max_concurrency=CONCURRENCY, use_threads=True)


class NullSink:
    """A seekable file object that throws the bytes away."""

    def __init__(self):
        self.pos = 0
        self.n = 0
        self.lock = threading.Lock()

    def write(self, b):
        with self.lock:
            self.n += len(b)
        return len(b)

    def seek(self, pos, whence=0):
        self.pos = pos
        return pos

    def tell(self):
        return self.pos

    def seekable(self):
        return True

    def flush(self):
        pass


def walk(top):
    out = []
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(os.path.relpath(p, top))
    return out


def op_put(path, bucket, key):
    s3 = client()
    t = time.monotonic()
    s3.upload_file(path, bucket, key, Config=transfer_config())
    return {"seconds": time.monotonic() - t}


def op_get(bucket, key):
    s3 = client()
    sink = NullSink()
    t = time.monotonic()
    s3.download_fileobj(bucket, key, sink, Config=transfer_config())
    return {"seconds": time.monotonic() - t, "bytes": sink.n}


def op_randread(bucket, key, size, n, seed):
    s3 = client()
    lat = []
    t = time.monotonic()
    for off in offsets(int(size), int(n), int(seed)):
        t1 = time.monotonic()
        r = s3.get_object(Bucket=bucket, Key=key,
                          Range=f"bytes={off}-{off + 4095}")
        r["Body"].read()
        lat.append(time.monotonic() - t1)
    return {"seconds": time.monotonic() - t, "latencies": lat}


def op_list(bucket, prefix):
    s3 = client()
    t = time.monotonic()
    pages = keys = 0
    token = None
    while True:
        kw = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        pages += 1
        keys += len(r.get("Contents", [])) + len(r.get("CommonPrefixes", []))
        if not r.get("IsTruncated"):
            break
        token = r["NextContinuationToken"]
    return {"seconds": time.monotonic() - t, "pages": pages, "keys": keys}


def _put_all(s3, top, bucket, prefix, rels):
    def one(rel):
        with open(os.path.join(top, rel), "rb") as f:
            s3.put_object(Bucket=bucket, Key=prefix + rel, Body=f.read())
    with ThreadPoolExecutor(CONCURRENCY) as ex:
        for _ in ex.map(one, rels):
            pass


def op_puttree(top, bucket, prefix):
    s3 = client()
    rels = walk(top)
    t = time.monotonic()
    _put_all(s3, top, bucket, prefix, rels)
    return {"seconds": time.monotonic() - t, "files": len(rels)}


def op_synctree(top, bucket, prefix):
    s3 = client()
    rels = walk(top)
    t = time.monotonic()
    have = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            have[o["Key"][len(prefix):]] = o["Size"]
    todo = [r for r in rels
            if have.get(r) != os.path.getsize(os.path.join(top, r))]
    _put_all(s3, top, bucket, prefix, todo)
    return {"seconds": time.monotonic() - t, "files": len(rels),
            "uploaded": len(todo)}


def op_ttfb(bucket, key):
    s3 = client()
    t = time.monotonic()
    r = s3.get_object(Bucket=bucket, Key=key)
    b = r["Body"].read(1)
    sec = time.monotonic() - t
    r["Body"].close()
    return {"seconds": sec, "bytes": len(b)}


OPS = {"put": op_put, "get": op_get, "randread": op_randread,
       "list": op_list, "puttree": op_puttree, "synctree": op_synctree,
       "ttfb": op_ttfb}


def main(argv):
    if len(argv) < 2 or argv[1] not in OPS:
        sys.stderr.write(__doc__)
        return 2
    res = OPS[argv[1]](*argv[2:])
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
