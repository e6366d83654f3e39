"""One JSON line per request on stdout (or GOTRUE_LOG_FILE), written by the app (gunicorn's
access log is off), and the request id on every answer.

A WSGI middleware rather than Flask hooks: it sees every answer, errors and static files
included, and costs a few microseconds (the line is formatted by hand, not by ``json.dumps``,
which would cost more than everything else here). The path is logged without its query
string: tokens and codes travel there.
"""

from __future__ import annotations

import sys
import threading
from json.encoder import encode_basestring_ascii as _quote
from time import gmtime, perf_counter_ns, strftime, time

from .request_ids import (
    DEFAULT_ECHO_HEADER,
    ENVIRON_KEY,
    current_request_id,
    environ_key,
    new_request_id,
    usable,
)

# The second of the last line and its date and time of day, formatted once per second (strftime
# costs more than the rest of the line). One tuple, replaced whole, so threads read a pair.
_clock: tuple[int, str] = (-1, "")


def _path(environ) -> str:
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if not path.isascii():
        # WSGI hands the path's bytes over as latin-1; the client sent UTF-8.
        path = path.encode("latin-1", "replace").decode("utf-8", "replace")
    return path


class RequestLog:
    """WSGI middleware: a request id for every request, echoed in a response header, and (when
    ``write_lines``) one JSON line per request: GoTrue's request log entry (logrus' JSON, keys
    in alphabetical order), its duration in nanoseconds as GoTrue writes it.

    The line is formatted inline, in one f-string: on this path every call and lookup shows
    in the benchmark.
    """

    def __init__(self, app, *, request_id_header: str = "", write_lines: bool = True,
                 stream=None):
        self.app = app
        # Where lines go: stdout, or GOTRUE_LOG_FILE's LogFile (observability.logs).
        self.stream = stream
        # Only a configured header is read (as GoTrue does); without one every id is new.
        self.incoming_key = environ_key(request_id_header) if request_id_header else None
        self.echo_header = request_id_header or DEFAULT_ECHO_HEADER
        self.write_lines = write_lines
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        started = perf_counter_ns()
        request_id = environ.get(self.incoming_key)  # never set when incoming_key is None
        if request_id is None or not usable(request_id):
            request_id = new_request_id()
        environ[ENVIRON_KEY] = request_id
        statuses = []
        echo = (self.echo_header, request_id)

        def start_with_id(status, headers, exc_info=None):
            statuses.append(status)
            headers.append(echo)
            return start_response(status, headers, exc_info)

        context = current_request_id.set(request_id)
        try:
            result = self.app(environ, start_with_id)
        except BaseException:
            if self.write_lines:
                self._write(environ, request_id, "500", started)
            raise
        finally:
            current_request_id.reset(context)
        if self.write_lines:
            self._write(environ, request_id, statuses[-1] if statuses else "500", started)
        return result

    def _write(self, environ, request_id: str, status: str, started: int) -> None:
        global _clock
        duration = perf_counter_ns() - started
        now = time()
        second = int(now)
        clock = _clock
        if clock[0] != second:
            clock = _clock = (second, strftime("%Y-%m-%dT%H:%M:%S", gmtime(second)))
        line = (f'{{"component":"api","duration":{duration},"level":"info",'
                f'"method":{_quote(environ.get("REQUEST_METHOD", ""))},'
                f'"msg":"request completed","path":{_quote(_path(environ))},'
                f'"remote_addr":{_quote(environ.get("REMOTE_ADDR") or "")},'
                f'"request_id":{_quote(request_id)},"status":{int(status[:3])},'
                f'"time":"{clock[1]}.{int((now - second) * 1_000_000):06d}Z"}}\n')
        try:
            with self._lock:
                out = self.stream or sys.stdout
                out.write(line)
                out.flush()
        except (AttributeError, OSError, ValueError):
            pass  # no stdout (closed or detached): the request must not fail for a log line
