"""r2fs under a supervisor: systemd's readiness protocol (NOTIFY_SOCKET),
a daemon parent whose exit status means "mounted", a bounded drain on
SIGTERM (-o drain_timeout), a mount from a FUSE descriptor a privileged
helper opened (/dev/fd/N), and the Prometheus metrics endpoint."""

import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from conftest import is_mount, r2fs_binary

FUSE_ROOT_INO = 1


def r2fs_mount_of(bucket):
    """The mount point of the fuse.r2fs mount of bucket, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ", 1)
            fstype, source = post.split()[:2]
            if fstype == "fuse.r2fs" and source == bucket:
                return pre.split()[4].replace("\\040", " ")
    return None


class NotifySocket:
    """A fake service manager: a datagram socket that r2fs's NOTIFY_SOCKET
    names.  Each message is recorded with what was true when it arrived:
    for READY=1, whether the bucket's mount point then answered stat() as
    an r2fs root (the check is made in the receiving thread, at once)."""

    def __init__(self, bucket, abstract=False, start=True):
        self.bucket = bucket
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "r2fs-test-" + uuid.uuid4().hex
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.dir = tempfile.mkdtemp(prefix="r2fs-notify-")
            self.env = os.path.join(self.dir, "notify")
            self.sock.bind(self.env)
        self.sock.settimeout(0.2)
        self.messages = []  # (fields dict, what was seen on arrival)
        self.cond = threading.Condition()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        if start:
            self.thread.start()

    def start(self):
        self.thread.start()

    def read_queued(self):
        """Before start(): take the datagrams already queued, here and now.
        A datagram sent to an AF_UNIX socket is queued by the sendto
        itself, so this sees everything sent before the call."""
        while True:
            try:
                data = self.sock.recv(4096, socket.MSG_DONTWAIT)
            except (BlockingIOError, socket.timeout):
                return  # nothing more queued
            self._got(data)

    def _seen(self):
        mp = r2fs_mount_of(self.bucket)
        if mp is None:
            return {"mounted": False}
        st = os.stat(mp)
        parent = os.stat(os.path.dirname(mp))
        return {"mounted": True, "ino": st.st_ino,
                "own_dev": st.st_dev != parent.st_dev}

    def _got(self, data):
        fields = dict(line.split("=", 1)
                      for line in data.decode().splitlines() if line)
        seen = self._seen() if fields.get("READY") == "1" else None
        with self.cond:
            self.messages.append((fields, seen))
            self.cond.notify_all()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self._got(data)

    def wait_for(self, key, value, timeout=30):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for fields, seen in self.messages:
                    if fields.get(key) == value:
                        return fields, seen
                left = deadline - time.time()
                assert left > 0, f"no {key}={value} in {self.messages}"
                self.cond.wait(left)

    def keys(self):
        with self.cond:
            return [k for fields, _ in self.messages for k in fields]

    def close(self):
        self.stop = True
        if self.thread.is_alive():
            self.thread.join()
        self.sock.close()
        if not self.env.startswith("@"):
            os.unlink(self.env)
            os.rmdir(self.dir)


def assert_ready_after_mount(seen):
    assert seen["mounted"], "READY=1 came before the mount existed"
    assert seen["ino"] == FUSE_ROOT_INO and seen["own_dev"], seen


# ------------------------------------------------------------ readiness

@pytest.mark.parametrize("abstract", [False, True],
                         ids=["path", "abstract"])
def test_ready_only_once_the_mount_answers_and_stopping_at_unmount(
        mounter, bucket, abstract):
    ns = NotifySocket(bucket, abstract)
    try:
        m = mounter(bucket, env_extra={"NOTIFY_SOCKET": ns.env})
        fields, seen = ns.wait_for("READY", "1")
        assert_ready_after_mount(seen)
        assert fields["STATUS"] == f"mounted {bucket} at {m.dir}"
        assert "STOPPING" not in ns.keys()
        assert m.unmount() == 0
        ns.wait_for("STOPPING", "1", timeout=1)  # sent before the exit
        keys = ns.keys()
        assert keys.index("READY") < keys.index("STOPPING")
    finally:
        ns.close()


def test_sigterm_sends_stopping_then_exits_0(mounter, bucket, s3):
    ns = NotifySocket(bucket)
    try:
        m = mounter(bucket, env_extra={"NOTIFY_SOCKET": ns.env})
        ns.wait_for("READY", "1")
        with open(m.path("f.txt"), "w") as f:
            f.write("before the stop")
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(60) == 0, m.output()
        ns.wait_for("STOPPING", "1", timeout=1)
        assert not is_mount(m.dir)
        assert s3.get_object(Bucket=bucket, Key="f.txt")["Body"].read() \
            == b"before the stop"
    finally:
        ns.close()


def test_daemon_parent_exits_0_only_once_the_mount_answers(
        s3env, bucket, tmp_path):
    """Without -f the parent waits for the child's readiness check.  To
    hold the child back deterministically, the fake service manager's
    queue is full when r2fs starts: the child's first message (MAINPID,
    sent before its readiness check) blocks, so the parent must still be
    waiting; once the queue is read, READY=1 comes and only then does the
    parent exit 0, with the mount answering."""
    ns = NotifySocket(bucket, start=False)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    target = "\0" + ns.env[1:] if ns.env.startswith("@") else ns.env
    while True:
        try:
            filler.sendto(b"X-FILLER=1", socket.MSG_DONTWAIT, target)
        except BlockingIOError:
            break
    filler.close()
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    env = dict(os.environ, NOTIFY_SOCKET=ns.env,
               AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"])
    cache = str(tmp_path / "cache")
    parent = None
    try:
        parent = subprocess.Popen(
            [r2fs_binary(), bucket, mnt, "-o",
             f"endpoint={s3env['S3_ENDPOINT']},cache_dir={cache},"
             f"log_file={tmp_path}/log"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        # once it has forked, the child is blocked on MAINPID (r2fs gives
        # up on a full queue after 2 s): the parent must not exit meanwhile
        children = f"/proc/{parent.pid}/task/{parent.pid}/children"
        deadline = time.time() + 30
        while parent.poll() is None and time.time() < deadline:
            with open(children) as f:
                if f.read().strip():
                    break
            time.sleep(0.01)
        with pytest.raises(subprocess.TimeoutExpired):
            parent.wait(1.0)
        ns.start()  # reads the queue: the child goes on
        out, err = parent.communicate(timeout=60)
        assert parent.returncode == 0 and err == "", err
        ns.stop = True  # the thread may still be reading: stop it first
        ns.thread.join()
        ns.read_queued()  # whatever it had not read yet
        ready = [s for f, s in ns.messages if f.get("READY") == "1"]
        assert ready, ns.messages  # sent before the parent exited
        assert_ready_after_mount(ready[0])
        daemon = [int(f["MAINPID"]) for f, _ in ns.messages
                  if "MAINPID" in f]
        assert daemon and daemon[0] != parent.pid
        assert os.path.exists(f"/proc/{daemon[0]}")
        subprocess.run(["fusermount3", "-u", mnt], check=True)
        subprocess.run([r2fs_binary(), "wait", cache], timeout=120)
        ns.read_queued()
        assert any(f.get("STOPPING") == "1" for f, _ in ns.messages)
    finally:
        if parent and parent.poll() is None:
            parent.kill()
            parent.wait()
        if is_mount(mnt):
            subprocess.run(["fusermount3", "-u", mnt], check=False)
        subprocess.run([r2fs_binary(), "wait", cache], timeout=120)
        ns.close()


# ------------------------------------------------------------ drain bound

def proxy_of(s3env, cls, **kw):
    host, port = s3env["S3_ENDPOINT"].rsplit("/", 1)[1].split(":")
    return cls(host, int(port), **kw)


def test_sigterm_drain_is_bounded_and_the_next_mount_uploads_the_rest(
        mounter, bucket, s3, s3env, tmp_path):
    """Ten closed files behind PUTs that each stall 3 s, one upload at a
    time: a full drain would take 30 s (test_daemon.py's unbounded drain
    waits for every one).  With drain_timeout=2 SIGTERM ends
    the daemon within a few seconds, exit 0, the rest left in the journal
    (r2fs pending lists it); a fresh mount on the same cache directory
    uploads every file, nothing lost."""
    from faultproxy import FaultProxy
    proxy = proxy_of(s3env, FaultProxy, rate=1.0, kinds=("stall",),
                     stall_seconds=(3.0, 3.0),
                     match=lambda method, target: method == "PUT")
    cache = str(tmp_path / "cache")
    files = {f"d{i}.txt": f"drained {i}".encode() * (i + 1)
             for i in range(10)}
    try:
        m = mounter(bucket, endpoint=proxy.endpoint, cache=cache,
                    opts=["writeback_delay=600", "upload_workers=1",
                          "drain_timeout=2"])
        m.expect_log = ["drain_timeout (2 s) reached"]
        for name, data in files.items():
            with open(m.path(name), "wb") as f:
                f.write(data)
        t0 = time.monotonic()
        m.proc.send_signal(signal.SIGTERM)
        rc = m.proc.wait(60)
        took = time.monotonic() - t0
        assert rc == 0, m.output()
        print(f"SIGTERM to exit with drain_timeout=2: {took:.2f} s")
        # 2 s, plus the unmount and the exit; 30 s without the bound
        assert took < 12, took
        out = m.output()
        assert "drain_timeout (2 s) reached" in out, out
        assert not is_mount(m.dir)
        p = subprocess.run([r2fs_binary(), "pending", cache],
                           capture_output=True, text=True, timeout=60)
        left = [n for n in files if n in p.stdout]
        assert len(left) >= 8, p.stdout  # at most one PUT finished
        # the journal belongs to the endpoint: the same one, healed
        proxy.rate = 0
        m2 = mounter(bucket, endpoint=proxy.endpoint, cache=cache)
        assert m2.unmount() == 0, m2.output()
    finally:
        proxy.close()
    for name, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=name)["Body"].read() == data


# ------------------------------------------------------- /dev/fd/N mounts

def helper_mount(source, target):
    """What a privileged mount helper does: open /dev/fuse, mount(2) it
    on target with fd=N, and hand N to the daemon.  The descriptor (not
    close-on-exec)."""
    import ctypes
    import ctypes.util
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    fd = os.open("/dev/fuse", os.O_RDWR)
    ms_nosuid, ms_nodev = 2, 4
    data = (f"fd={fd},rootmode=40000,user_id=0,group_id=0,"
            "default_permissions")
    if libc.mount(source.encode(), target.encode(), b"fuse.r2fs",
                  ms_nosuid | ms_nodev, data.encode()) != 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise OSError(err, os.strerror(err), target)
    return fd


@pytest.mark.skipif(os.geteuid() != 0, reason="mount(2) needs root")
def test_mount_from_a_passed_fuse_descriptor(s3env, bucket, s3, tmp_path):
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"])
    env.pop("NOTIFY_SOCKET", None)
    log = tmp_path / "log"
    fd = helper_mount(bucket, mnt)
    proc = None
    try:
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [r2fs_binary(), bucket, f"/dev/fd/{fd}", "-f", "-o",
                 f"endpoint={s3env['S3_ENDPOINT']},"
                 f"cache_dir={tmp_path}/cache"],
                env=env, stdout=out, stderr=out, pass_fds=[fd])
        os.close(fd)  # the daemon has its own copy now
        fd = -1
        assert os.stat(mnt).st_ino == FUSE_ROOT_INO
        os.makedirs(os.path.join(mnt, "sub"))
        with open(os.path.join(mnt, "sub", "f.txt"), "w") as f:
            f.write("through a passed descriptor")
        p = subprocess.run([r2fs_binary(), "sync", mnt],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert s3.get_object(Bucket=bucket, Key="sub/f.txt")[
            "Body"].read() == b"through a passed descriptor"
        with open(os.path.join(mnt, "late.txt"), "w") as f:
            f.write("uploaded at the unmount")
        subprocess.run(["fusermount3", "-u", mnt], check=True)
        assert proc.wait(60) == 0, log.read_text()
        assert not is_mount(mnt)
        assert s3.get_object(Bucket=bucket, Key="late.txt")[
            "Body"].read() == b"uploaded at the unmount"
        text = log.read_text()
        assert f"mounted {bucket} at /dev/fd/" in text, text
        assert "error" not in text and "warning" not in text, text
    finally:
        if fd >= 0:
            os.close(fd)
        if is_mount(mnt):
            subprocess.run(["fusermount3", "-uz", mnt], check=False)
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------- metrics

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_exposition(text):
    """Prometheus text format -> ({name: value}, {name: type}); every
    sample must have its HELP and TYPE lines first."""
    values, types, helps = {}, {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
        elif line:
            name, value = line.split()
            assert name in helps and name in types, line
            values[name] = float(value)
    return values, types


def stats_of(path):
    p = subprocess.run([r2fs_binary(), "stats", path], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return {k: float(v) for k, v in
            (line.split() for line in p.stdout.splitlines())}


def get_tcp(port):
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith(
            "text/plain; version=0.0.4")
        return r.read().decode()


def get_unix(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, body = data.decode().split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.0 200 OK"), head
    length = [int(h.split(":")[1]) for h in head.split("\r\n")
              if h.lower().startswith("content-length:")]
    assert length == [len(body.encode())]
    return body


def check_against_stats(m, fetch):
    """Each metric lies between two r2fs stats taken around it."""
    before = stats_of(m.dir)
    values, types = parse_exposition(fetch())
    after = stats_of(m.dir)
    assert set(values) == {"r2fs_" + k for k in before}, values
    for k in before:
        v = values["r2fs_" + k]
        lo, hi = min(before[k], after[k]), max(before[k], after[k])
        assert lo <= v <= hi, (k, before[k], v, after[k])
    return values, types


def test_metrics_on_loopback_match_stats_and_move(mounter, bucket):
    port = free_port()
    m = mounter(bucket, opts=[f"metrics=127.0.0.1:{port}"])
    values, types = check_against_stats(m, lambda: get_tcp(port))
    assert types["r2fs_class_a_requests"] == "counter"
    assert types["r2fs_bytes_up"] == "counter"
    assert types["r2fs_pending_files"] == "gauge"
    with open(m.path("m.bin"), "wb") as f:
        f.write(b"m" * 100000)
    m.sync()
    moved, _ = check_against_stats(m, lambda: get_tcp(port))
    assert moved["r2fs_bytes_up"] >= values["r2fs_bytes_up"] + 100000
    assert moved["r2fs_class_a_requests"] > values["r2fs_class_a_requests"]
    # nothing but the loopback listens
    with open("/proc/net/tcp") as f:
        listening = [line.split()[1] for line in f.readlines()[1:]
                     if line.split()[3] == "0A"]
    ours = [a for a in listening if int(a.split(":")[1], 16) == port]
    assert ours == ["0100007F:%04X" % port], ours
    assert m.unmount() == 0
    with pytest.raises(OSError):
        get_tcp(port)


def test_metrics_on_a_unix_socket(mounter, bucket, tmp_path):
    sock = str(tmp_path / "metrics.sock")
    m = mounter(bucket, opts=[f"metrics={sock}"])
    with open(m.path("u.txt"), "w") as f:
        f.write("unix")
    m.sync()
    values, _ = check_against_stats(m, lambda: get_unix(sock))
    assert values["r2fs_bytes_up"] >= 4
    assert m.unmount() == 0
    assert not os.path.exists(sock)  # removed at exit


def test_metrics_refuses_other_addresses(mounter, bucket):
    with pytest.raises(RuntimeError) as e:
        mounter(bucket, opts=[f"metrics=0.0.0.0:{free_port()}"])
    assert "only the loopback" in str(e.value)


# ------------------------------------------------------ the memory limit

def make_memory_cgroup(limit):
    """A child of this process's memory cgroup (v2, else v1) with limit;
    (directory, file to write a pid into), or None where we may not."""
    with open("/proc/self/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    v2 = [p for h, c, p in lines if h == "0" and c == ""]
    v1 = [p for h, c, p in lines if "memory" in c.split(",")]
    tries = []
    if v2 and os.path.exists(f"/sys/fs/cgroup{v2[0]}/memory.max"):
        tries.append((f"/sys/fs/cgroup{v2[0]}", "memory.max"))
    if v1:
        tries.append((f"/sys/fs/cgroup/memory{v1[0]}",
                      "memory.limit_in_bytes"))
    for base, knob in tries:
        d = os.path.join(base.rstrip("/"), "r2fs-test-" + uuid.uuid4().hex[:8])
        try:
            os.mkdir(d)
            with open(os.path.join(d, knob), "w") as f:
                f.write(str(limit))
            return d
        except OSError:
            try:
                os.rmdir(d)
            except OSError:
                pass
    return None


def test_cgroup_memory_limit_scales_the_mount_down(s3env, bucket, tmp_path):
    limit = 256 << 20
    cg = make_memory_cgroup(limit)
    if cg is None:
        pytest.skip("cannot make a memory cgroup here")
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3env["AWS_ACCESS_KEY_ID"],
               AWS_SECRET_ACCESS_KEY=s3env["AWS_SECRET_ACCESS_KEY"])

    def enter():
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    log = tmp_path / "log"
    proc = None
    try:
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [r2fs_binary(), bucket, mnt, "-f", "-o",
                 f"endpoint={s3env['S3_ENDPOINT']},"
                 f"cache_dir={tmp_path}/cache,metrics=127.0.0.1:{port}"],
                env=env, stdout=out, stderr=out, preexec_fn=enter)
        deadline = time.time() + 20
        while not is_mount(mnt):
            assert proc.poll() is None, log.read_text()
            assert time.time() < deadline
            time.sleep(0.05)
        text = log.read_text()
        assert ("the cgroup's memory limit is 256.0 MiB: readahead_max "
                "128 -> ") in text, text
        assert stats_of(mnt)["memory_limit"] == limit
        values, types = parse_exposition(get_tcp(port))
        assert values["r2fs_memory_limit"] == limit
        assert types["r2fs_memory_limit"] == "gauge"
        subprocess.run(["fusermount3", "-u", mnt], check=True)
        assert proc.wait(60) == 0
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        if is_mount(mnt):
            subprocess.run(["fusermount3", "-uz", mnt], check=False)
        os.rmdir(cg)



# --------------------------------------------------------------- contrib

def test_contrib_examples_are_consistent():
    """The Kubernetes example and the systemd unit keep their drain bound
    inside the supervisor's grace period (see contrib/kubernetes/README)."""
    import re
    import yaml
    from conftest import SRCDIR
    k8s = os.path.join(SRCDIR, "contrib", "kubernetes")
    with open(os.path.join(k8s, "daemonset.yaml")) as f:
        ds = yaml.safe_load(f)
    with open(os.path.join(k8s, "secret.yaml")) as f:
        secret = yaml.safe_load(f)
    with open(os.path.join(k8s, "consumer.yaml")) as f:
        consumer = yaml.safe_load(f)
    spec = ds["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    opts = dict(o.split("=", 1) if "=" in o else (o, "")
                for o in c["args"][c["args"].index("-o") + 1].split(","))
    assert 0 < int(opts["drain_timeout"]) <= \
        spec["terminationGracePeriodSeconds"] - 10
    assert opts["metrics"].startswith("127.0.0.1:")
    mp = c["args"][1]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts[mp]["mountPropagation"] == "Bidirectional"
    assert c["securityContext"]["privileged"] is True
    assert opts["cache_dir"] in mounts
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols[mounts[opts["cache_dir"]]["name"]]["hostPath"]
    assert c["lifecycle"]["preStop"]["exec"]["command"][-1] == mp
    for e in c["env"]:
        ref = e["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    assert {e["name"] for e in c["env"]} == {"AWS_ACCESS_KEY_ID",
                                             "AWS_SECRET_ACCESS_KEY"}
    cvol = consumer["spec"]["volumes"][0]["hostPath"]["path"]
    assert cvol == vols[mounts[mp]["name"]]["hostPath"]["path"]
    assert consumer["spec"]["containers"][0]["volumeMounts"][0][
        "mountPropagation"] == "HostToContainer"
    # every option the examples give is one r2fs knows
    helptext = subprocess.run([r2fs_binary(), "--help"], capture_output=True,
                              text=True).stdout
    for o in opts:
        assert f"-o {o}" in helptext or o == "allow_other", o

    with open(os.path.join(SRCDIR, "contrib", "systemd",
                           "r2fs@.service")) as f:
        unit = f.read()
    assert re.search(r"^Type=notify$", unit, re.M)
    drain = int(re.search(r"drain_timeout=(\d+)", unit).group(1))
    stop = re.search(r"^TimeoutStopSec=(\d+)min$", unit, re.M)
    assert drain < int(stop.group(1)) * 60
