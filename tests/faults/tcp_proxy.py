"""A loopback TCP proxy in front of a database server, to cut the server off the way an outage
or a restart does.

``TCPProxy(host, port)`` listens on a free 127.0.0.1 port and relays every connection to
``host:port``. ``refuse()`` closes the listening socket (new connections are refused, as by a
server that is down), ``drop()`` closes every open connection at both ends (the client reads
EOF, as after a crash), ``accept()`` listens again on the same port. ``upstream_ports()`` names
the local ports of the relayed connections, so a test can find the server's own sessions on the
database side (PostgreSQL's pg_stat_activity.client_port, MariaDB's processlist host) and end
them there.

Plain threads: one accepting, two per relayed connection (one each way). Its methods may be
called from any thread.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

_CHUNK = 65536
_POLL_SECONDS = 0.05
_CONNECT_SECONDS = 5.0


class _Link:
    """One relayed connection: the client's socket and the one to the upstream server."""

    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.client, self.upstream = client, upstream
        self.upstream_port = upstream.getsockname()[1]
        self._closed = threading.Lock()

    def close(self) -> None:
        if not self._closed.acquire(blocking=False):
            return
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the relay threads blocked in recv
            sock.close()


class TCPProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._links: set[_Link] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> TCPProxy:
        self.accept()
        return self

    def accept(self) -> None:
        """Listen (again, on the same port once it has one)."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            self.port = listener.getsockname()[1]
            self._listener = listener
        self._spawn(self._accept_loop, listener)

    def refuse(self) -> None:
        """Stop listening: new connections are refused; open ones stay until drop()."""
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def drop(self) -> None:
        """Close every open connection at both ends."""
        with self._lock:
            links, self._links = list(self._links), set()
        for link in links:
            link.close()

    def upstream_ports(self) -> list[int]:
        with self._lock:
            return sorted(link.upstream_port for link in self._links)

    def stop(self) -> None:
        self.refuse()
        self.drop()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=_CONNECT_SECONDS + 1)

    def __enter__(self) -> TCPProxy:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, name="tcp-proxy", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                readable, _, _ = select.select([listener], [], [], _POLL_SECONDS)
                if not readable:
                    if listener.fileno() < 0:
                        return
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):  # refuse() closed the listener
                return
            self._spawn(self._open_link, client)

    def _open_link(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=_CONNECT_SECONDS)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        link = _Link(client, upstream)
        with self._lock:
            refusing = self._listener is None
            if not refusing:
                self._links.add(link)
        if refusing:  # accepted just before refuse(): the server is down for it too
            link.close()
            return
        self._spawn(self._pump, link, upstream, client)
        self._pump(link, client, upstream)

    def _pump(self, link: _Link, source: socket.socket, target: socket.socket) -> None:
        """Copy one way until either side ends; then close the link both ways."""
        try:
            while data := source.recv(_CHUNK):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._links.discard(link)
            link.close()
