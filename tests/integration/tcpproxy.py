"""A TCP forwarder between r2fs and the S3 server that tests can cut.

proxy.down() closes the listening socket's connections and refuses new
ones (the endpoint looks dead); proxy.up() serves again on the same port.
Used to make uploads fail for real, without touching the shared server.
"""

import socket
import threading


class TcpProxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.lsock.listen(64)
        self.lock = threading.Lock()
        self.conns = []
        self.serving = True
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                serving = self.serving
            if not serving:
                c.close()  # the client sees a reset/refusal
                continue
            try:
                u = socket.create_connection(self.target, timeout=10)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b),
                                 daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self):
        with self.lock:
            self.serving = False
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def up(self):
        with self.lock:
            self.serving = True

    def close(self):
        self.down()
        self.closed = True
        self.lsock.close()
