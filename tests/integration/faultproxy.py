"""An HTTP/1.1 proxy between r2fs and the S3 server that injects faults.

    proxy = FaultProxy(host, port, rate=0.05, seed=1)
    mounter(bucket, endpoint=proxy.endpoint)
    ...
    proxy.close()

Each request r2fs sends is parsed (request line, headers, a body framed by
Content-Length or chunked), and with probability `rate` (seeded RNG; it
can be changed at any time, e.g. 0 while mounting) one fault is chosen
from `kinds` instead of a clean pass-through:

  500, 503        an S3 <Error> answer with that status; the request never
                  reaches the server
  429             SlowDown, with "Retry-After: 1" half of the time
  reset_before    the connection is reset (RST) before anything is sent
                  upstream: right after the request's headers (while
                  a body may still be coming) or after its body
  reset_after     the request is sent upstream and its answer read (so the
                  server acted on it), then the client's connection is reset
  stall           the answer is held back `stall_seconds` (default 2-4 s),
                  then sent normally
  truncate        the answer's headers go out with the full Content-Length,
                  then only part of the body, then the connection is
                  closed; answers without a body get reset_after instead

Kinds that mangle an answer's headers (not in the default mix; pass
kinds=HEADER_KINDS):

  huge_header     the answer carries an extra 1 MiB header line
  many_headers    ... or 20,000 extra small header lines
  no_etag         the answer's ETag header is left out

Connections are kept alive the way HTTP/1.1 says: one upstream connection
per client connection, reopened when the server closes it, closed after an
answer with "Connection: close" or a body delimited by closing.  Bodies
are streamed in 256 KiB pieces, never held whole.

match(method, target), when given, picks the requests that may fail (the
others pass untouched), e.g. only CompleteMultipartUpload.

proxy.counts says how many requests saw each fault ("ok" for none),
proxy.log keeps (method, target, fault) of every request (capped) so a
test can say what it survived.  Standard library only, one thread per
connection.
"""

import random
import socket
import struct
import threading
import time

KINDS = ("500", "503", "429", "reset_before", "reset_after", "stall",
         "truncate")
HEADER_KINDS = ("huge_header", "many_headers", "no_etag")
CHUNK = 256 * 1024
MAX_HEADER = 64 * 1024
LOG_MAX = 200000


class ProtocolError(Exception):
    pass


class Reader:
    """Buffered reads from a socket: lines, exact lengths, what is there."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(CHUNK)
        if not data:
            raise EOFError
        self.buf += data

    def head(self):
        """Bytes up to and including the blank line ending a header block.

        EOFError if the peer closes before sending anything (a normal end
        of a keep-alive connection)."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i + 4], self.buf[i + 4:]
                return out
            if len(self.buf) > MAX_HEADER:
                raise ProtocolError("header block too large")
            try:
                self._fill()
            except EOFError:
                if self.buf:
                    raise ProtocolError("connection closed mid-header")
                raise

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i + 2], self.buf[i + 2:]
                return out
            if len(self.buf) > MAX_HEADER:
                raise ProtocolError("line too long")
            self._fill()

    def some(self, limit):
        """Up to limit bytes (at least one); EOFError at end of stream."""
        if not self.buf:
            self._fill()
        out, self.buf = self.buf[:limit], self.buf[limit:]
        return out


def parse_head(raw):
    """(first line, [(name, value)], {lower name: value}) of a header block."""
    lines = raw.decode("latin-1").split("\r\n")
    first = lines[0]
    headers = []
    for ln in lines[1:]:
        if not ln:
            continue
        if ":" not in ln:
            raise ProtocolError("bad header line %r" % ln)
        k, v = ln.split(":", 1)
        headers.append((k, v.strip()))
    return first, headers, {k.lower(): v for k, v in headers}


def body_frames(reader, hmap, until_close=False):
    """Yield the raw bytes of a message body as they arrive (framing kept,
    so they can be forwarded verbatim)."""
    te = hmap.get("transfer-encoding", "").lower()
    if "chunked" in te:
        while True:
            line = reader.line()
            yield line
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers, then the blank line
                    t = reader.line()
                    yield t
                    if t == b"\r\n":
                        return
            left = size + 2  # the data and its CRLF
            while left:
                piece = reader.some(min(left, CHUNK))
                left -= len(piece)
                yield piece
    elif "content-length" in hmap:
        left = int(hmap["content-length"])
        if left < 0:
            raise ProtocolError("negative Content-Length")
        while left:
            piece = reader.some(min(left, CHUNK))
            left -= len(piece)
            yield piece
    elif until_close:
        while True:
            try:
                yield reader.some(CHUNK)
            except EOFError:
                return


def reset(sock):
    """Close with RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def mangle_head(raw, kind):
    """An answer's header block with kind's damage done."""
    lines = raw.split(b"\r\n")
    assert lines[-2:] == [b"", b""]
    head = lines[:-2]
    if kind == "no_etag":
        head = [l for l in head if not l.lower().startswith(b"etag:")]
    elif kind == "huge_header":
        head.append(b"x-huge: " + b"h" * (1 << 20))
    else:
        head += [b"x-many-%d: v" % i for i in range(20000)]
    return b"\r\n".join(head + [b"", b""])


def error_answer(status, retry_after):
    reason = {500: "Internal Server Error", 503: "Service Unavailable",
              429: "Too Many Requests"}[status]
    code = {500: "InternalError", 503: "ServiceUnavailable",
            429: "SlowDown"}[status]
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>injected by faultproxy"
            "</Message></Error>").encode()
    head = (f"HTTP/1.1 {status} {reason}\r\n"
            "Content-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\n")
    if retry_after:
        head += "Retry-After: 1\r\n"
    return head.encode() + b"\r\n" + body


class FaultProxy:
    def __init__(self, target_host, target_port, rate=0.05, seed=1,
                 kinds=KINDS, stall_seconds=(2.0, 4.0), match=None):
        self.target = (target_host, int(target_port))
        self.rate = rate
        self.match = match  # match(method, target): may this one fail?
        self.kinds = tuple(kinds)
        self.stall_seconds = stall_seconds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = {k: 0 for k in ("ok",) + KINDS + HEADER_KINDS}
        self.log = []
        self.errors = []  # proxy-side protocol problems (should stay empty)
        self.conns = set()
        self.closed = False
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.lsock.listen(128)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def faults(self):
        """Number of requests that got a fault so far."""
        with self.lock:
            return sum(v for k, v in self.counts.items() if k != "ok")

    def close(self):
        self.closed = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for s in conns:
            reset(s)

    # -- internals ---------------------------------------------------

    def _choose(self, method, target):
        eligible = self.match is None or self.match(method, target)
        with self.lock:
            if (self.rng.random() < self.rate and self.kinds and
                    eligible):
                kind = self.rng.choice(self.kinds)
            else:
                kind = "ok"
            extra = (self.rng.random(), self.rng.random())
            self.counts[kind] += 1
            if len(self.log) < LOG_MAX:
                self.log.append((method, target, kind))
        return kind, extra

    def _track(self, sock, add):
        with self.lock:
            if add:
                self.conns.add(sock)
            else:
                self.conns.discard(sock)

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _connect(self):
        u = socket.create_connection(self.target, timeout=120)
        u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._track(u, True)
        return u, Reader(u)

    def _serve(self, c):
        self._track(c, True)
        cr = Reader(c)
        u = ur = None
        try:
            while not self.closed:
                try:
                    raw = cr.head()
                except EOFError:
                    break
                first, headers, hmap = parse_head(raw)
                parts = first.split(" ")
                if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                    raise ProtocolError("bad request line %r" % first)
                method, target = parts[0], parts[1]
                kind, extra = self._choose(method, target)
                client_close = "close" in hmap.get("connection",
                                                   "").lower()

                if kind == "reset_before" and extra[1] < 0.5:
                    reset(c)  # while the client may still be sending
                    return
                if kind in ("500", "503", "429", "reset_before"):
                    # Read (and drop) the body: the connection stays in
                    # step for the next request.
                    for _ in body_frames(cr, hmap):
                        pass
                    if kind == "reset_before":
                        reset(c)
                        return
                    c.sendall(error_answer(int(kind),
                                           kind == "429" and
                                           extra[0] < 0.5))
                    if client_close:
                        break
                    continue

                if u is None:
                    u, ur = self._connect()
                try:
                    u.sendall(raw)
                    for piece in body_frames(cr, hmap):
                        u.sendall(piece)
                    keep = self._relay(c, u, ur, method, kind, extra)
                except (OSError, EOFError, ProtocolError) as e:
                    if isinstance(e, ProtocolError):
                        self.errors.append(f"{method} {target}: {e}")
                    # the server side failed: the client sees a reset
                    reset(c)
                    return
                if keep is None:  # the answer was cut on purpose
                    return
                if not keep:
                    self._track(u, False)
                    u.close()
                    u = ur = None
                if client_close:
                    break
        except ProtocolError as e:
            self.errors.append(str(e))
        except (OSError, EOFError):
            pass
        finally:
            if u is not None:
                self._track(u, False)
                try:
                    u.close()
                except OSError:
                    pass
            self._track(c, False)
            try:
                c.close()
            except OSError:
                pass

    def _relay(self, c, u, ur, method, kind, extra):
        """Send upstream's answer to the client, applying kind.

        Returns True to keep the upstream connection, False to drop it,
        None when the client connection was cut (stop serving it)."""
        while True:
            raw = ur.head()
            first, headers, hmap = parse_head(raw)
            status = int(first.split(" ")[1])
            if not 100 <= status < 200:
                break
            c.sendall(raw)  # 100 Continue and friends
        no_body = method == "HEAD" or status in (204, 304)
        keep = "close" not in hmap.get("connection", "").lower()
        if no_body:
            frames = iter(())
        else:
            has_len = ("content-length" in hmap or
                       "chunked" in hmap.get("transfer-encoding", "").lower())
            if not has_len:
                keep = False
            frames = body_frames(ur, hmap, until_close=not has_len)

        if kind == "truncate" and (no_body or
                                   int(hmap.get("content-length", "0")) < 2):
            kind = "reset_after"
        if kind == "reset_after":
            for _ in frames:
                pass
            reset(c)
            return None
        if kind == "stall":
            lo, hi = self.stall_seconds
            time.sleep(lo + (hi - lo) * extra[0])
        if kind == "truncate":
            total = int(hmap["content-length"])
            cut = 1 + int((total - 2) * extra[0])  # 1..total-1 bytes sent
            c.sendall(raw)
            sent = 0
            for piece in frames:
                if sent + len(piece) >= cut:
                    c.sendall(piece[:cut - sent])
                    break
                c.sendall(piece)
                sent += len(piece)
            # FIN half of the time, RST the other half
            if extra[1] < 0.5:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            else:
                reset(c)
            return None
        if kind in HEADER_KINDS:
            raw = mangle_head(raw, kind)
        c.sendall(raw)
        for piece in frames:
            c.sendall(piece)
        return keep
