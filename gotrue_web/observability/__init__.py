"""What the running server tells its operator: JSON log lines (application records and one
line per request) with request ids; OpenTelemetry traces when GOTRUE_TRACING_ENABLED is on.

``init_observability(app, settings)`` is the call create_app makes first, and
``observe_database(app, engine)`` the one it makes once the app's engine exists.
"""

from __future__ import annotations

import logging

from . import logs, metrics
from .request_log import RequestLog


def init_observability(app, settings) -> None:
    """JSON logs at GOTRUE_LOG_LEVEL (to GOTRUE_LOG_FILE when set), and request ids
    (GOTRUE_API_REQUEST_ID_HEADER) on every request. Called before the proxy middleware wraps
    the app, so the request line's ``remote_addr`` is the client behind a trusted proxy, not
    the proxy."""
    level = logs.python_level(settings.log_level)
    logs.configure(level, settings.log_file)
    app.wsgi_app = RequestLog(app.wsgi_app,
                              request_id_header=settings.api.request_id_header,
                              # The request line is an info record, as GoTrue's is.
                              write_lines=level <= logging.INFO,
                              stream=logs.log_file(settings.log_file) if settings.log_file
                              else None)
    # GOTRUE_METRICS_*: app.extensions["gotrue_metrics"], a no-op with metrics off.
    metrics.install(app, settings)
    if settings.tracing.enabled:
        # Imported only when on: with tracing off, OpenTelemetry is never loaded.
        from .tracing import trace_app

        trace_app(app, settings)


def observe_database(app, engine):
    """With tracing on, spans for the statements sent on ``engine``; returns the span maker
    for those the hot paths run on raw driver cursors (``driver_sql.statement_span``), which
    SQLAlchemy's instrumentation does not see. None with tracing off."""
    # Metrics on: this process samples the engine's pool (nothing with metrics off).
    app.extensions["gotrue_metrics"].watch_pool(engine)
    tracing = app.extensions.get("tracing")
    if tracing is None:
        return None
    tracing.instrument_engine(engine)
    from .tracing import statement_span

    return statement_span
