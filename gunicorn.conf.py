"""gunicorn settings for gotrue-web: ``gunicorn wsgi:app`` reads this file from the working
directory.

Command-line flags and GUNICORN_CMD_ARGS still override anything set here.
"""

import os
import re

from gunicorn import glogging

from gotrue_web import review_configuration
from gotrue_web.gunicorn_worker import RequestBufferingWorker
from gotrue_web.observability import logs, metrics_server
from gotrue_web.observability.logs import JSONFormatter, gunicorn_level
from gotrue_web.settings import environment_values, from_env

# --- where to listen ---------------------------------------------------------------------------

# GoTrue's own variables (GOTRUE_API_HOST, GOTRUE_API_PORT or PORT, also from .env), read by the
# project's settings reader so precedence and defaults stay in one place. It validates the whole
# configuration too, so a bad setting stops the master at once instead of every worker failing.
_values = environment_values()
_settings = from_env(_values, env_file=None)
# Variables set but not taking effect are warned about here, once: the workers are forked from
# this process and skip what it has logged (GOTRUE_STRICT_CONFIG=true: the master stops here).
logs.configure(logs.python_level(_settings.log_level), _settings.log_file)
logs.warn_once(finding.message for finding in review_configuration(_values, _settings))
_api = _settings.api
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

# JSON lines everywhere (gotrue_web/observability). The app writes one line per request on
# stdout (method, path without query string, status, duration, request id, client address), so
# gunicorn's own access log stays off: it would write a second, plain-text line per request.
accesslog = None
# gunicorn's messages (start, workers, errors) as JSON lines on stderr, with the app's records
# (all in GOTRUE_LOG_FILE when it is set).
errorlog = _settings.log_file or "-"
# GOTRUE_LOG_LEVEL sets gunicorn's level as well as the app's (--log-level still overrides).
loglevel = gunicorn_level(_settings.log_level)

_QUERY = re.compile(r"\?\S*")


class QuerylessLogger(glogging.Logger):
    """gunicorn's logger writing JSON lines, minus query strings in "Error handling request
    <uri>" tracebacks (tokens travel in query strings)."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            if getattr(handler, "_gunicorn", False):
                handler.setFormatter(JSONFormatter())

    def exception(self, msg, *args, **kwargs):
        if isinstance(msg, str) and msg.startswith("Error handling request"):
            args = tuple(_QUERY.sub("?[redacted]", a) if isinstance(a, str) else a for a in args)
        super().exception(msg, *args, **kwargs)


logger_class = QuerylessLogger


# --- mail outbox -------------------------------------------------------------------------------


def post_worker_init(worker):
    """Each worker starts its mail outbox dispatcher as it boots (services/mail/dispatcher.py),
    so mail left pending by a restart goes out at once, not with the first request; and the
    thread that loads the settings changed in the console and looks for changes
    (services/live_settings); and the database cleanup's thread (services/cleanup), so that a
    server no request reaches still cleans."""
    app = worker.wsgi
    runtime = getattr(app, "extensions", {}).get("gotrue")
    if runtime is not None:
        runtime.outbox.start(app)
        runtime.live_settings.start(app)
        runtime.cleaner.start(app)


# --- metrics -----------------------------------------------------------------------------------

# GOTRUE_METRICS_ENABLED: every worker counts into files of a directory the master makes here,
# before any worker (and prometheus_client) exists; the master serves their sums on
# GOTRUE_METRICS_PROMETHEUS_LISTEN_HOST:_PORT (gotrue_web/observability/metrics_server.py).
_metrics = _settings.metrics
if _metrics.enabled:
    metrics_server.prepare_multiprocess()


def when_ready(server):
    if _metrics.enabled:
        metrics_server.serve_from_master(_metrics.prometheus_listen_host,
                                         _metrics.prometheus_listen_port)


def child_exit(server, worker):
    """A dead worker's pool use leaves the sums (its counts stay)."""
    metrics_server.worker_exited(worker.pid)


def on_exit(server):
    metrics_server.remove_multiprocess_dir()
