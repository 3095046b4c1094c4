#!/usr/bin/python3
"""latproxy - a TCP proxy that adds a fixed one-way delay in both directions.

    latproxy.py --target HOST:PORT --delay-ms 10 [--listen 127.0.0.1:0]
                [--port-file FILE] [--log FILE] [--no-connect-rtt]
                [--no-quickack] [--max-inflight-mib 4]

Every chunk read from one side is written to the other side `delay` ms after
it was read, in order (one reader and one writer thread per direction, a
queue of time-stamped chunks between them).  A request/response round trip
therefore costs 2 x delay more than without the proxy, like a real network
link with that one-way latency.  By default a new connection also pays one
round trip (2 x delay) before its first bytes go through, as a TCP
handshake would (TLS handshakes are not modelled).

Flow control: at most --max-inflight-mib (default 4 MiB) are queued per
direction and connection; a reader waits when its queue is full, so a fast
sender is slowed down to what the other side takes, as with a TCP window.

Towards the server the proxy ACKs every segment at once (TCP_QUICKACK):
Ceph RGW's beast frontend writes a response's headers and body separately
without TCP_NODELAY, so a small response otherwise waits for the client's
delayed ACK (40 ms per small GET on loopback); R2 has no such stall.
--no-quickack keeps the stall.  Both sides use TCP_NODELAY.

--log FILE: the proxy follows the HTTP/1.1 requests from client to server
(Content-Length framing) and appends one line per request to FILE:
"METHOD TARGET COPY|- USER-AGENT" (COPY = the request had
x-amz-copy-source, which RGW's access log does not show).

Runs until SIGTERM or SIGINT; then it closes the listening socket and every
connection and exits 0.  It prints "listening on HOST:PORT" on stdout (and
writes the port to --port-file) once it accepts connections.

Also usable from Python: p = LatencyProxy(("127.0.0.1", 7480), 0.010);
p.start(); ... p.port ...; p.stop().

No dependencies outside the standard library.
"""

import argparse
import collections
import os
import signal
import socket
import sys
import threading
import time

CHUNK = 256 * 1024


class _Sniffer:
    """Follows the HTTP/1.1 requests in a client->server byte stream and
    logs one line per request: "METHOD TARGET COPY|- AGENT" (COPY when it
    has x-amz-copy-source, which a server access log may not show)."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.buf = b""
        self.body = 0      # body bytes still to skip
        self.lost = False  # a framing we do not follow (chunked)

    def feed(self, data):
        while data and not self.lost:
            if self.body:
                n = min(self.body, len(data))
                self.body -= n
                data = data[n:]
                continue
            self.buf += data
            data = b""
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    self.lost = True
                return
            head, data = self.buf[:end], self.buf[end + 4:]
            self.buf = b""
            self._request(head)

    def _request(self, head):
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        hdr = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdr[k.strip().lower()] = v.strip()
        if "chunked" in hdr.get("transfer-encoding", "").lower():
            self.lost = True
        try:
            self.body = int(hdr.get("content-length", "0"))
        except ValueError:
            self.lost = True
        copy = "COPY" if "x-amz-copy-source" in hdr else "-"
        self.proxy.log_request(f"{parts[0]} {parts[1] if len(parts) > 1 else '?'}"
                               f" {copy} {hdr.get('user-agent', '-')}"
                               f"{' UNFOLLOWED' if self.lost else ''}")


class _Pipe:
    """One direction of one connection: reader thread -> queue -> writer."""

    def __init__(self, conn, src, dst, name):
        self.conn = conn
        self.src = src
        self.dst = dst
        self.q = collections.deque()  # (due time, bytes or None for EOF)
        self.queued = 0
        self.cv = threading.Condition()
        self.quickack = conn.proxy.quickack and src is conn.upstream
        self.sniffer = (_Sniffer(conn.proxy)
                        if conn.proxy.logf and src is conn.client else None)
        self.reader = threading.Thread(target=self._read, daemon=True,
                                       name=name + "-r")
        self.writer = threading.Thread(target=self._write, daemon=True,
                                       name=name + "-w")

    def start(self):
        self.reader.start()
        self.writer.start()

    def _put(self, item, size):
        p = self.conn.proxy
        with self.cv:
            while (self.queued + size > p.max_inflight and self.q
                   and not self.conn.closed):
                self.cv.wait(0.5)
            self.q.append(item)
            self.queued += size
            self.cv.notify_all()

    def _read(self):
        p = self.conn.proxy
        try:
            while not self.conn.closed:
                if self.quickack:
                    # ACK at once: a server that writes headers and body
                    # separately without TCP_NODELAY (RGW's beast) would
                    # otherwise wait for our delayed ACK (40 ms) on every
                    # small response
                    self.src.setsockopt(socket.IPPROTO_TCP,
                                        socket.TCP_QUICKACK, 1)
                data = self.src.recv(CHUNK)
                now = time.monotonic()
                if self.sniffer and data:
                    self.sniffer.feed(data)
                due = max(now, self.conn.not_before) + p.delay
                if not data:
                    self._put((due, None), 0)
                    return
                self._put((due, data), len(data))
        except OSError:
            pass
        self.conn.close()
        with self.cv:
            self.cv.notify_all()

    def _write(self):
        try:
            while True:
                with self.cv:
                    while not self.q and not self.conn.closed:
                        self.cv.wait(0.5)
                    if not self.q:
                        return  # closed
                    due, data = self.q[0]
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                with self.cv:
                    self.q.popleft()
                    if data is not None:
                        self.queued -= len(data)
                    self.cv.notify_all()
                if data is None:
                    # the sender half-closed: pass that on, keep the other
                    # direction going (HTTP clients rarely do this)
                    try:
                        self.dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    self.conn.half_closed()
                    return
                self.dst.sendall(data)
        except OSError:
            pass
        self.conn.close()


class _Conn:
    def __init__(self, proxy, client, upstream):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.halves = 0
        self.lock = threading.Lock()
        # a TCP handshake costs one round trip before data can flow
        self.not_before = (time.monotonic() + 2 * proxy.delay
                           if proxy.connect_rtt else 0.0)
        self.pipes = [_Pipe(self, client, upstream, "c2s"),
                      _Pipe(self, upstream, client, "s2c")]

    def start(self):
        for p in self.pipes:
            p.start()

    def half_closed(self):
        with self.lock:
            self.halves += 1
            both = self.halves >= 2
        if both:
            self.close()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        for p in self.pipes:
            with p.cv:
                p.cv.notify_all()
        self.proxy._forget(self)


class LatencyProxy:
    def __init__(self, target, delay, listen=("127.0.0.1", 0),
                 connect_rtt=True, max_inflight=4 << 20, quickack=True,
                 log=None):
        self.target = target
        self.delay = float(delay)
        self.connect_rtt = connect_rtt and self.delay > 0
        self.max_inflight = max_inflight
        self.quickack = quickack
        self.logf = open(log, "a", buffering=1) if log else None
        self.loglock = threading.Lock()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(listen)
        self.lsock.listen(256)
        self.host, self.port = self.lsock.getsockname()[:2]
        self.conns = set()
        self.lock = threading.Lock()
        self.stopping = False
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True,
                                       name="accept")

    @property
    def endpoint(self):
        return f"http://{self.host}:{self.port}"

    def start(self):
        self.thread.start()
        return self

    def log_request(self, line):
        with self.loglock:
            if self.logf:
                self.logf.write(line + "\n")

    def _forget(self, conn):
        with self.lock:
            self.conns.discard(conn)

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.stopping:
                c.close()
                return
            try:
                u = socket.create_connection(self.target, timeout=10)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(self, c, u)
            with self.lock:
                self.conns.add(conn)
                self.accepted += 1
            conn.start()

    def stop(self):
        self.stopping = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            c.close()
        self.thread.join(5)
        with self.loglock:
            if self.logf:
                self.logf.close()
                self.logf = None


def _hostport(s):
    host, _, port = s.rpartition(":")
    return (host or "127.0.0.1", int(port))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True, help="HOST:PORT of the server")
    ap.add_argument("--listen", default="127.0.0.1:0",
                    help="HOST:PORT to listen on (default 127.0.0.1:0)")
    ap.add_argument("--delay-ms", type=float, default=10.0,
                    help="one-way delay in milliseconds (default 10)")
    ap.add_argument("--port-file", help="write the listening port here")
    ap.add_argument("--no-connect-rtt", action="store_true",
                    help="do not charge a round trip for a new connection")
    ap.add_argument("--max-inflight-mib", type=int, default=4,
                    help="bytes queued per direction and connection "
                    "before the reader waits (default 4 MiB, like a TCP "
                    "window)")
    ap.add_argument("--no-quickack", action="store_true",
                    help="do not ACK the server's segments at once")
    ap.add_argument("--log", help="append one line per HTTP request here: "
                    "METHOD TARGET COPY|- USER-AGENT")
    a = ap.parse_args()

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    p = LatencyProxy(_hostport(a.target), a.delay_ms / 1000.0,
                     listen=_hostport(a.listen),
                     connect_rtt=not a.no_connect_rtt,
                     max_inflight=a.max_inflight_mib << 20,
                     quickack=not a.no_quickack, log=a.log).start()
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{p.port}\n")
        os.replace(tmp, a.port_file)
    print(f"listening on {p.host}:{p.port}", flush=True)
    while not stop.wait(1.0):
        pass
    p.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
