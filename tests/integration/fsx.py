"""fsx-style checker: random operations on one file, against a reference.

    fx = Fsx(test_path, ref_path, seed=1)
    fx.run(10000)          # ops; raises FsxMismatch at the first difference
    fx.close()             # e.g. to unmount and mount again, then
    fx.reopen(new_path)    # carry on with the same random sequence
    fx.run(10000)
    fx.check_all()

Every operation is done on the file under test and on a local reference
file; every read (pread or through mmap) is compared byte for byte, and
the size after every operation.  Operations (weights in OPS): read, write
(anywhere, possibly beyond the end: a hole), append (O_APPEND-style, at the
end), truncate (by path or ftruncate, up or down), mapread, mapwrite
(MAP_SHARED, msync), fsync, reopen (close and open again: the write-back
journal commits the file and may upload it), dropcache (fadvise
DONTNEED, so the next reads reach the file system, not the page cache).
The random sequence depends only on the seed.  mmap writes are used only
when probe_mmap_write() finds them working on the file system; otherwise
they are skipped and self.mmap_write_ok says so.

A failure raises FsxMismatch with the operation number, what differed and
the last operations (the log), so a run can be replayed: python3 fsx.py
FILE -N OPS -S SEED.
"""

import argparse
import mmap
import os
import random
import sys

OPS = (("read", 20), ("write", 20), ("append", 8), ("truncate", 8),
       ("mapread", 10), ("mapwrite", 10), ("fsync", 2), ("reopen", 2),
       ("dropcache", 4))


class FsxMismatch(AssertionError):
    pass


def probe_mmap_write(path):
    """Does a MAP_SHARED write reach the file?  (True, "") or
    (False, why)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"\0" * 8192)
        try:
            m = mmap.mmap(fd, 8192, mmap.MAP_SHARED,
                          mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as e:
            return False, f"mmap(MAP_SHARED, PROT_WRITE): {e}"
        try:
            m[100:105] = b"hello"
            m.flush()
        finally:
            m.close()
        os.fsync(fd)
        got = os.pread(fd, 5, 100)
        if got != b"hello":
            return False, f"write through mmap not seen by read: {got!r}"
    finally:
        os.close(fd)
        os.unlink(path)
    return True, ""


class Fsx:
    def __init__(self, path, ref_path, seed=1, max_len=256 * 1024,
                 max_op=64 * 1024, use_mmap_write=True, log_keep=40):
        self.path = path
        self.ref_path = ref_path
        self.rng = random.Random(seed)
        self.max_len = max_len
        self.max_op = max_op
        self.use_mmap_write = use_mmap_write
        self.mmap_write_ok = use_mmap_write
        self.log = []
        self.log_keep = log_keep
        self.nops = 0
        self.counts = {name: 0 for name, _ in OPS}
        self.ref = os.open(ref_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC,
                           0o644)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        names, weights = zip(*OPS)
        self.names, self.weights = names, weights

    # -- plumbing ----------------------------------------------------------

    def _note(self, text):
        self.log.append(f"{self.nops}: {text}")
        if len(self.log) > self.log_keep:
            del self.log[0]

    def _fail(self, what):
        raise FsxMismatch(f"op {self.nops} ({self.path}): {what}\n"
                          "last operations:\n  " + "\n  ".join(self.log))

    def size(self):
        return os.fstat(self.ref).st_size

    def _check_size(self):
        want = self.size()
        got = os.fstat(self.fd).st_size
        if got != want:
            self._fail(f"size {got}, expected {want}")

    def _compare(self, got, off, n, how):
        want = os.pread(self.ref, n, off)
        if got == want:
            return
        if len(got) != len(want):
            self._fail(f"{how} at {off}+{n}: got {len(got)} bytes, "
                       f"expected {len(want)}")
        i = next(i for i in range(len(got)) if got[i] != want[i])
        self._fail(f"{how} at {off}+{n}: first difference at offset "
                   f"{off + i}: got {got[i:i + 16].hex()}, expected "
                   f"{want[i:i + 16].hex()}")

    def _data(self, n):
        # recognisable bytes: op number and offset, then random
        head = f"<{self.nops}>".encode()
        return (head + self.rng.randbytes(max(0, n - len(head))))[:n]

    # -- operations --------------------------------------------------------

    def op_read(self):
        size = self.size()
        off = self.rng.randrange(size + 1) if size else 0
        n = self.rng.randrange(1, self.max_op + 1)
        self._note(f"read {off}+{n}")
        got = os.pread(self.fd, n, off)
        self._compare(got, off, n, "read")

    def _pwrite_both(self, data, off):
        w = os.pwrite(self.fd, data, off)
        if w != len(data):
            self._fail(f"short write {w} of {len(data)} at {off}")
        os.pwrite(self.ref, data, off)

    def op_write(self):
        n = self.rng.randrange(1, self.max_op + 1)
        off = self.rng.randrange(max(1, self.max_len - n))
        self._note(f"write {off}+{n}")
        self._pwrite_both(self._data(n), off)

    def op_append(self):
        size = self.size()
        n = self.rng.randrange(1, self.max_op + 1)
        if size + n > self.max_len:
            self._note("append skipped (file at max length)")
            return
        self._note(f"append {size}+{n}")
        self._pwrite_both(self._data(n), size)

    def op_truncate(self):
        n = self.rng.randrange(self.max_len + 1)
        by_path = self.rng.random() < 0.5
        self._note(f"truncate {n} ({'path' if by_path else 'fd'})")
        if by_path:
            os.truncate(self.path, n)
        else:
            os.ftruncate(self.fd, n)
        os.ftruncate(self.ref, n)

    def op_mapread(self):
        size = self.size()
        if size == 0:
            self._note("mapread skipped (empty)")
            return
        off = self.rng.randrange(size)
        n = self.rng.randrange(1, min(self.max_op, size - off) + 1)
        self._note(f"mapread {off}+{n}")
        m = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        try:
            got = m[off:off + n]
        finally:
            m.close()
        self._compare(got, off, n, "mapread")

    def op_mapwrite(self):
        size = self.size()
        if not self.mmap_write_ok or size == 0:
            self._note("mapwrite skipped")
            self.rng.random()  # keep the sequence independent of that
            return
        off = self.rng.randrange(size)
        n = self.rng.randrange(1, min(self.max_op, size - off) + 1)
        data = self._data(n)
        self._note(f"mapwrite {off}+{n}")
        m = mmap.mmap(self.fd, size, mmap.MAP_SHARED,
                      mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            m[off:off + n] = data
            m.flush()
        finally:
            m.close()
        os.pwrite(self.ref, data, off)

    def op_fsync(self):
        self._note("fsync")
        os.fsync(self.fd)

    def op_dropcache(self):
        """Drop the kernel's cached pages, so reads reach the file system."""
        self._note("drop page cache")
        os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)

    def op_reopen(self):
        self._note("close, open")
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_RDWR)

    # -- driver ------------------------------------------------------------

    def run(self, nops):
        for _ in range(nops):
            self.nops += 1
            name = self.rng.choices(self.names, self.weights)[0]
            self.counts[name] += 1
            getattr(self, "op_" + name)()
            self._check_size()

    def check_all(self, path=None):
        """Compare the whole file (through a new descriptor)."""
        self._note("check whole file")
        with open(path or self.path, "rb") as f:
            got = f.read()
        self._compare(got, 0, max(len(got), self.size()), "whole file")

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def reopen(self, path=None):
        self.path = path or self.path
        self.fd = os.open(self.path, os.O_RDWR)
        self._note(f"reopened {self.path}")
        self._check_size()

    def reference_bytes(self):
        return os.pread(self.ref, self.size(), 0)

    def release(self):
        self.close()
        os.close(self.ref)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("-N", "--ops", type=int, default=10000)
    ap.add_argument("-S", "--seed", type=int, default=1)
    ap.add_argument("-l", "--max-len", type=int, default=256 * 1024)
    ap.add_argument("-o", "--max-op", type=int, default=64 * 1024)
    ap.add_argument("--ref", help="reference file (default FILE.fsxref "
                    "in /tmp)")
    a = ap.parse_args()
    ref = a.ref or os.path.join("/tmp", os.path.basename(a.file) +
                                ".fsxref")
    ok, why = probe_mmap_write(a.file + ".mmap-probe")
    if not ok:
        print(f"fsx: mmap writes not used: {why}", file=sys.stderr)
    fx = Fsx(a.file, ref, a.seed, a.max_len, a.max_op, use_mmap_write=ok)
    try:
        fx.run(a.ops)
        fx.check_all()
    except FsxMismatch as e:
        print(f"fsx: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        fx.release()
    print(f"fsx: {a.ops} operations, 0 mismatches: {fx.counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
