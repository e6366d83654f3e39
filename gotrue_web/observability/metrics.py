"""Prometheus metrics: what the services count and the per-request middleware.

The application counts through a ``Metrics`` object, ``rt.metrics`` for the services (one
short call where the fact is known, such as ``rt.metrics.sign_in("password", "email",
"success")``). With GOTRUE_METRICS_ENABLED=false it is ``NO_METRICS``: every method does
nothing, no middleware is installed and prometheus_client is never imported. Otherwise it is a
``PrometheusMetrics`` on the families of metric_families.py, and ``RequestMetrics`` counts each
request and observes its duration (one counter increment and one histogram observation).

Where the numbers are served is metrics_server.py: by this process on
GOTRUE_METRICS_PROMETHEUS_LISTEN_HOST:_PORT, or under gunicorn by the master for every worker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from contextvars import ContextVar
from time import perf_counter

from . import metrics_server

log = logging.getLogger(__name__)

# Any other method (a client can send anything) is counted as OTHER: labels stay bounded.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route label of a request that matched no route (a 404, or a method no route takes).
UNMATCHED = "unmatched"
# How often each process samples its database pool.
POOL_SAMPLE_SECONDS = 5.0


class Metrics:
    """What the application counts. These methods do nothing: ``NO_METRICS`` is the object
    of an app with metrics off; PrometheusMetrics counts."""

    enabled = False

    def sign_in(self, method: str, provider: str, result: str) -> None:
        """A sign-in by ``method`` (password, otp, magiclink, oauth, id_token) through
        ``provider`` that succeeded (``success``, counted once the request answers below 400)
        or whose credentials failed (``failure``)."""

    def sign_up(self, method: str, provider: str) -> None:
        """A new user signed themselves up (email, phone, anonymous, oauth); counted once the
        request answers below 400."""

    def refresh_grant(self, result: str) -> None:
        """A refresh_token grant: rotated, reuse_detected or refused."""

    def email(self, kind: str, result: str) -> None:
        """An email delivery attempt: sent, not_sent or failed."""

    def sms(self, kind: str, channel: str, result: str) -> None:
        """A text message: sent, failed or test_otp."""

    def outbox_pending(self, count: int) -> None:
        """The mail outbox's pending rows, as the dispatcher just counted them."""

    def rate_limit_refused(self, limit: str) -> None:
        """A rate limit or budget (the bucket's name) refused."""

    def db_cleanup(self, job: str, rows: int) -> None:
        """The database cleanup's ``job`` removed (or revoked) ``rows`` rows."""

    def watch_pool(self, engine) -> None:
        """Sample ``engine``'s connection pool in this process from now on."""


NO_METRICS = Metrics()

# Counts that stand only if the request succeeds: a sign-up or a session whose transaction a
# later failure rolls back (its text could not be sent, a budget refused its email) never
# happened. RequestMetrics applies them to an answer below 400, as the API views commit then.
# None outside a request (the outbox's thread, commands): counted at once.
_if_answered: ContextVar[list | None] = ContextVar("metrics_if_answered", default=None)


def _count_if_answered(child) -> None:
    waiting = _if_answered.get()
    if waiting is None:
        child.inc()
    else:
        waiting.append(child)


class _Children:
    """A labelled metric's children by label values. ``labels()`` takes a lock and builds its
    key on each call; a dict lookup is all a cached child costs."""

    __slots__ = ("metric", "cache")

    def __init__(self, metric):
        self.metric = metric
        self.cache: dict[tuple[str, ...], object] = {}

    def __call__(self, *values: str):
        child = self.cache.get(values)
        if child is None:
            # labels() returns the one child of these values, whichever thread asks first.
            child = self.cache[values] = self.metric.labels(*values)
        return child


class PrometheusMetrics(Metrics):
    enabled = True

    def __init__(self, families):
        self.families = families
        self.http_requests = _Children(families.http_requests)
        self.http_duration = _Children(families.http_duration)
        self._sign_ins = _Children(families.sign_ins)
        self._sign_ups = _Children(families.sign_ups)
        self._refresh_grants = _Children(families.refresh_grants)
        self._emails = _Children(families.emails)
        self._sms = _Children(families.sms)
        self._refusals = _Children(families.rate_limit_refusals)
        self._cleanup = _Children(families.db_cleanup_rows)

    def sign_in(self, method: str, provider: str, result: str) -> None:
        child = self._sign_ins(method, provider, result)
        if result == "success":
            _count_if_answered(child)
        else:
            child.inc()

    def sign_up(self, method: str, provider: str) -> None:
        _count_if_answered(self._sign_ups(method, provider))

    def refresh_grant(self, result: str) -> None:
        self._refresh_grants(result).inc()

    def email(self, kind: str, result: str) -> None:
        self._emails(kind, result).inc()

    def sms(self, kind: str, channel: str, result: str) -> None:
        self._sms(kind, channel or "sms", result).inc()

    def outbox_pending(self, count: int) -> None:
        self.families.outbox_pending.set(count)

    def rate_limit_refused(self, limit: str) -> None:
        self._refusals(limit).inc()

    def db_cleanup(self, job: str, rows: int) -> None:
        self._cleanup(job).inc(rows)

    def watch_pool(self, engine) -> None:
        _pool_sampler.watch(engine, self.families)


class RequestMetrics:
    """WSGI middleware: counts every answer by method, route template and status, and observes
    its duration. The route is the URL rule Flask matched (``/admin/users/<user_id>``), read
    from the request object werkzeug keeps in the environ, never the path: ids and tokens must
    not become label values. An answer that never started (the app raised) counts as a 500 of
    no route."""

    def __init__(self, app, metrics: PrometheusMetrics):
        self.app = app
        self.requests = metrics.http_requests
        self.durations = metrics.http_duration

    def __call__(self, environ, start_response):
        started = perf_counter()
        # The status and route template, taken when the answer starts: Flask drops its request
        # object from the environ once it has answered.
        answered = ["500", UNMATCHED]

        def start_with_status(status, headers, exc_info=None):
            answered[0] = status[:3]
            rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
            if rule is not None:
                answered[1] = rule.rule
            return start_response(status, headers, exc_info)

        waiting = []
        context = _if_answered.set(waiting)
        try:
            return self.app(environ, start_with_status)
        finally:
            _if_answered.reset(context)
            seconds = perf_counter() - started
            method = environ.get("REQUEST_METHOD", "")
            if method not in HTTP_METHODS:
                method = "OTHER"
            status, route = answered
            self.requests(method, route, status).inc()
            self.durations(method, route).observe(seconds)
            if waiting and status < "400":
                for child in waiting:
                    child.inc()


class _PoolSampler:
    """One thread per process that reads the watched engines' pools every
    POOL_SAMPLE_SECONDS (a gauge update per checkout would cost every request). Engines are
    held weakly: a discarded app's engine drops out."""

    def __init__(self):
        self._lock = threading.Lock()
        self._engines: list[weakref.ref] = []
        self._families = None
        self._pid = 0

    def watch(self, engine, families) -> None:
        with self._lock:
            self._engines.append(weakref.ref(engine))
            self._families = families
            if self._pid != os.getpid():
                # First watch in this process (or since a fork, which keeps no threads).
                self._pid = os.getpid()
                threading.Thread(target=self._run, daemon=True, name="metrics-pool").start()
        self.sample()

    def sample(self) -> None:
        checked_out = size = 0
        with self._lock:
            self._engines = [ref for ref in self._engines if ref() is not None]
            engines = [ref() for ref in self._engines]
            families = self._families
        for engine in engines:
            if engine is None:
                continue
            pool = engine.pool
            # SQLite in memory and NullPool keep no count.
            checked_out += getattr(pool, "checkedout", lambda: 0)()
            size += getattr(pool, "size", lambda: 0)()
        if families is not None:
            families.pool_checked_out.set(checked_out)
            families.pool_size.set(size)

    def _run(self) -> None:
        while True:
            time.sleep(POOL_SAMPLE_SECONDS)
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a sampling error must not end the thread
                log.exception("metrics: sampling the database pool failed")


_pool_sampler = _PoolSampler()
_families = None
_families_lock = threading.Lock()


def _process_families():
    """The metric families of this process, built at the first enabled app."""
    global _families
    with _families_lock:
        if _families is None:
            from . import metric_families

            _families = metric_families.build()
        return _families


def install(app, settings) -> Metrics:
    """GOTRUE_METRICS_*: the app's Metrics (kept in ``app.extensions["gotrue_metrics"]``),
    the request middleware and, outside gunicorn's multiprocess mode, this process's exporter.
    Nothing at all when metrics are off."""
    config = settings.metrics
    if not config.enabled:
        app.extensions["gotrue_metrics"] = NO_METRICS
        return NO_METRICS
    families = _process_families()
    metrics = PrometheusMetrics(families)
    app.extensions["gotrue_metrics"] = metrics
    app.wsgi_app = RequestMetrics(app.wsgi_app, metrics)
    if not metrics_server.served_by_master():
        metrics_server.serve_in_process(config.prometheus_listen_host,
                                        config.prometheus_listen_port, families.registry)
    return metrics
