"""gunicorn settings for gotrue-web: ``gunicorn wsgi:app`` reads this file from the working
directory.

Command-line flags and GUNICORN_CMD_ARGS still override anything set here.
"""

import os
import re

from gunicorn import glogging

from gotrue_web.settings import from_env

from gotrue_web.gunicorn_worker import RequestBufferingWorker

# --- where to listen ---------------------------------------------------------------------------

# GoTrue's own variables (GOTRUE_API_HOST, GOTRUE_API_PORT or PORT, also from .env), read by the
# project's settings reader so precedence and defaults stay in one place. It validates the whole
# configuration too, so a bad setting stops the master at once instead of every worker failing.
_api = from_env().api
bind = [f"[{_api.host}]:{_api.port}" if ":" in _api.host else f"{_api.host}:{_api.port}"]

# --- workers -----------------------------------------------------------------------------------


def _cpu_count() -> int:
    # CPUs this process may run on. A container's CPU quota is not visible here: set
    # WEB_CONCURRENCY when the quota is lower than the host's CPU count.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# Password hashing is CPU-bound, so one process per CPU: more processes only queue on the same
# cores and cost memory. Threads, not coroutines: bcrypt and the database drivers release the GIL,
# while gevent/eventlet would serialise every hash inside one process.
workers = int(os.environ.get("WEB_CONCURRENCY") or _cpu_count())
# gthread rather than sync: while one request waits on the database, SMTP or a row lock, the
# worker serves others. Measured with bench/run.sh (2 CPUs, PostgreSQL): refresh grant 127 vs
# 45 req/s, password grant 9.4 vs 6.9; GET /user and the bare endpoints equal within noise.
# Four threads cover those waits; eight measured no better overall (faster refreshes, slower
# logins).
threads = 4
# gthread with one change (gotrue_web/gunicorn_worker.py): a thread only takes a request that has
# fully arrived. Plain gthread lets a few dozen clients that trickle their headers or body hold
# every thread, and /health stops answering (tests/live/test_slow_clients.py). Each request,
# head and body, must arrive within read_timeout seconds; a body over the API's size limit is
# not buffered but refused by the application with its 413.
RequestBufferingWorker.read_timeout = 10.0
RequestBufferingWorker.max_body_bytes = _api.max_request_bytes
worker_class = "gotrue_web.gunicorn_worker.RequestBufferingWorker"

# Above the 10 s request budget (plus the 10 s SMTP timeout and 5 s lock waits a request can
# stack up), so gunicorn only kills a worker that is really stuck, never a slow legitimate call.
timeout = 30
# On SIGTERM, in-flight requests get this long to finish; a container runtime must wait longer
# than this before SIGKILL (docker stop -t / stop_grace_period >= 20).
graceful_timeout = 15
# Idle keep-alive connections behind a proxy; short enough not to pin threads.
keepalive = 5

# Not preloaded: each worker builds its own app and database pool after the fork, so no
# connection is ever shared between processes.
preload_app = False

# The heartbeat file lives in memory: on a container's overlay filesystem fchmod can stall.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# gunicorn >= 25 opens a runtime-control socket under $HOME by default; nothing here uses it,
# and it would collide between two servers of the same user (the benchmark's and a developer's).
control_socket_disable = True

# --- proxies -----------------------------------------------------------------------------------

# Addresses of the reverse proxy whose X-Forwarded-Proto (gunicorn) and X-Forwarded-For (the app,
# gotrue_web/proxies.py) are trusted. The default trusts only loopback; set FORWARDED_ALLOW_IPS
# (environment or .env) to the proxy's addresses or networks, or "*" behind a private network
# that only the proxy can reach.
forwarded_allow_ips = ",".join(_api.trusted_proxies)

# --- logs --------------------------------------------------------------------------------------

# Access log on stdout. Path without query string and no Referer: tokens travel in query strings
# (/verify?token=..., redirect_to) and would otherwise end up in log files.
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
errorlog = "-"

_QUERY = re.compile(r"\?\S*")


class QuerylessLogger(glogging.Logger):
    """gunicorn's logger, minus query strings in "Error handling request <uri>" tracebacks."""

    def exception(self, msg, *args, **kwargs):
        if isinstance(msg, str) and msg.startswith("Error handling request"):
            args = tuple(_QUERY.sub("?[redacted]", a) if isinstance(a, str) else a for a in args)
        super().exception(msg, *args, **kwargs)


logger_class = QuerylessLogger
