"""gunicorn's threaded worker, changed so that a thread only ever serves a request that has fully
arrived: the defence against slow clients (slowloris). ``gunicorn.conf.py`` selects it.

gunicorn's ``gthread`` worker gives a connection to a thread as soon as its first bytes arrive,
and the thread then blocks until the client has sent the rest. A few dozen clients that trickle
their headers or body a byte at a time hold every thread, and the server stops answering anyone.
Here the worker's event loop, which already watches idle keep-alive connections, collects each
request without blocking; h11 (a maintained HTTP/1.1 state machine) says when the head and body
are complete, and only then does a thread parse and serve the request, from memory. A slow
client now costs a socket and a buffer, not a thread.

- A client that has not sent a whole request within ``read_timeout`` seconds is disconnected.
  The clock starts when the connection is accepted, or, on a kept-alive connection, when the
  next request's first bytes arrive.
- A body larger than ``max_body_bytes`` (the application's own limit) is not buffered: the
  request goes to the application as soon as its Content-Length says so (for a chunked body,
  once that much has arrived), the application refuses it with its 413, and the connection is
  closed rather than drained.
- A request that h11 finds malformed gets a plain 400 and the connection is closed, as gunicorn's
  own parser does for the requests it refuses.

Connections are also spread over the workers. Every worker watches the shared listening socket
and the first one awake takes each new connection, so one worker could take every keep-alive
connection that a proxy (or a benchmark) opens at once while another idles, for as long as the
connections last. A worker that already holds as many connections as it has threads therefore
stops accepting for ``accept_yield`` seconds, leaving the next connections to the others, and
then takes whatever is still waiting. It pauses at most once per ``accept_yield_every``
seconds, so a busy server's rate of new connections is not capped.

gunicorn's parser still reads the request and builds the WSGI environ exactly as before; h11
only decides when the request is there. TLS in gunicorn, the PROXY protocol, HTTP/2 and uWSGI
are served by the unchanged gthread path (the deployment here uses none of them: TLS ends at the
proxy in front).

This extends gunicorn's ``ThreadWorker`` through its hooks (``enqueue_req``, ``accept``,
``set_accept_enabled``, ``wait_for_and_dispatch_events``, ``pending_conns``/``murder_pending``,
``_keepalive_after``), which belong to gunicorn 27: ``pyproject.toml`` pins that major version,
``tests/live/test_slow_clients.py`` proves the defence against the locked version and
``tests/live/test_worker_balance.py`` the spreading of connections.
"""

from __future__ import annotations

import selectors
import time
from functools import partial

import h11
from gunicorn import http
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker

BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
RECV_BYTES = 64 * 1024
# Head size when gunicorn's own limits are switched off (0 means unlimited there).
FALLBACK_HEAD_BYTES = 1024 * 1024


class _Arrival:
    """What has arrived so far of the request a connection is sending."""

    __slots__ = ("framer", "data", "body_bytes", "continue_sent")

    def __init__(self, max_head_bytes: int):
        self.framer = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self.data = bytearray()
        self.body_bytes = 0
        self.continue_sent = False


class RequestBufferingWorker(ThreadWorker):
    """``gthread`` with requests read whole on the event loop before a thread takes them."""

    #: Seconds a client has to deliver a whole request, head and body.
    read_timeout = 10.0
    #: Largest body buffered; gunicorn.conf.py sets it to the API's request size limit.
    max_body_bytes = 1024 * 1024
    #: Seconds a worker with as many connections as threads stops accepting, once per
    #: ``accept_yield_every`` seconds at most (see the module's docstring).
    accept_yield = 0.005
    accept_yield_every = 0.05

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the event loop's thread touches these.
        self._resume_accepting_at = 0.0
        self._next_yield_at = 0.0

    def enqueue_req(self, conn):
        # Every path that hands a connection to a thread comes through here: a new connection,
        # a kept-alive one that became readable, and one whose next request was read ahead.
        if getattr(conn, "request_arrived", False) or not self._can_buffer(conn):
            conn.request_arrived = False
            super().enqueue_req(conn)
            return
        self._wait_for_request(conn)

    def accept(self, listener):
        now = time.monotonic()
        if self.nr_conns >= self.cfg.threads and now >= self._next_yield_at:
            # As many connections as threads already: leave this one to a worker with fewer.
            self._resume_accepting_at = now + self.accept_yield
            self._next_yield_at = now + self.accept_yield_every
            super().set_accept_enabled(False)
            return
        super().accept(listener)

    def set_accept_enabled(self, enabled):
        # gunicorn's loop asks to accept again on every turn; a pause in progress says no.
        if enabled and self._resume_accepting_at:
            if time.monotonic() < self._resume_accepting_at:
                return
            self._resume_accepting_at = 0.0
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout):
        paused_for = self._resume_accepting_at - time.monotonic()
        if paused_for > 0:
            # Wake when the pause ends, not after gunicorn's full second.
            timeout = min(timeout, paused_for)
        super().wait_for_and_dispatch_events(timeout)

    def _keepalive_after(self, conn, keepalive):
        if getattr(conn, "body_left_unread", False):
            # Draining a body we did not buffer would let its sender hold this thread.
            conn.body_left_unread = False
            return False
        return super()._keepalive_after(conn, keepalive)

    def _can_buffer(self, conn) -> bool:
        cfg = self.cfg
        if cfg.is_ssl or conn.is_http2 or getattr(cfg, "protocol", "http") != "http":
            return False
        if getattr(cfg, "proxy_protocol", "off") not in ("off", False, None):
            return False
        return conn.parser is not None or not negotiation.prior_knowledge_allowed(cfg, conn.client)

    def _max_head_bytes(self) -> int:
        cfg = self.cfg
        if not (cfg.limit_request_line and cfg.limit_request_fields
                and cfg.limit_request_field_size):
            return FALLBACK_HEAD_BYTES
        return (cfg.limit_request_line
                + cfg.limit_request_fields * (cfg.limit_request_field_size + 2) + 4)

    def _wait_for_request(self, conn):
        # Bytes the parser already read past the previous request belong to this one.
        already = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.arrival = _Arrival(self._max_head_bytes())
        conn.sock.setblocking(False)
        # pending_conns is gthread's list of connections waiting for data, closed by
        # murder_pending() once conn.timeout passes; every entry here gets the same delay, so
        # the list stays in deadline order.
        conn.timeout = time.monotonic() + self.read_timeout
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             partial(self._on_request_bytes, conn))
        if already:
            self._received(conn, already)

    def _on_request_bytes(self, conn, sock):
        try:
            data = sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._stop_waiting(conn)
            self._close(conn)
            return
        self._received(conn, data)

    def _received(self, conn, data: bytes):
        arrival = conn.arrival
        arrival.data += data
        arrival.framer.receive_data(data)
        try:
            while True:
                event = arrival.framer.next_event()
                if event is h11.NEED_DATA:
                    self._send_continue_if_awaited(conn)
                    return
                if isinstance(event, h11.EndOfMessage):
                    self._dispatch(conn)
                    return
                if isinstance(event, h11.Request) and self._declared_length(event) > \
                        self.max_body_bytes:
                    self._dispatch(conn, body_left_unread=True)
                    return
                if isinstance(event, h11.Data):
                    arrival.body_bytes += len(event.data)
                    if arrival.body_bytes > self.max_body_bytes:
                        self._dispatch(conn, body_left_unread=True)
                        return
        except h11.RemoteProtocolError:
            self._stop_waiting(conn)
            self._send_quietly(conn, BAD_REQUEST)
            self._close(conn)

    @staticmethod
    def _declared_length(request: h11.Request) -> int:
        for name, value in request.headers:
            if name == b"content-length":
                return int(value)  # h11 has checked it is a number
        return 0

    def _send_continue_if_awaited(self, conn):
        # A client that sent "Expect: 100-continue" waits for this before sending its body.
        # gunicorn sends its own when it reads the request; a second 1xx is harmless.
        arrival = conn.arrival
        if arrival.framer.they_are_waiting_for_100_continue and not arrival.continue_sent:
            arrival.continue_sent = True
            self._send_quietly(conn, CONTINUE)

    def _dispatch(self, conn, body_left_unread: bool = False):
        self._stop_waiting(conn)
        if conn.parser is None:
            # What TConn.init() would do in the thread for a plain HTTP/1 connection.
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.initialized = True
        conn.parser.unreader.unread(bytes(conn.arrival.data))
        conn.arrival = None
        conn.data_ready = True
        conn.body_left_unread = body_left_unread
        conn.request_arrived = True
        self.enqueue_req(conn)

    def _stop_waiting(self, conn):
        self.poller.unregister(conn.sock)
        self.pending_conns.remove(conn)

    def _close(self, conn):
        self.nr_conns -= 1
        conn.arrival = None
        conn.close()

    @staticmethod
    def _send_quietly(conn, payload: bytes):
        try:
            conn.sock.send(payload)
        except OSError:
            pass  # the client is gone or not reading; it is being dropped either way
