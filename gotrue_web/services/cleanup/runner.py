"""Each process's cleanup thread, and a full cleanup on demand.

GoTrue runs a few cleanup statements after successful write requests. Here a daemon thread per
process does it every GOTRUE_DB_CLEANUP_INTERVAL instead, so no request (the refresh grant
least of all) pays for it. Several processes and servers may run it at once: their batches skip
each other's rows (services.cleanup.jobs). A database that does not answer is tried again at the
next interval.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable

from ...extensions import db
from ...runtime import ProcessThread, Runtime
from ...settings import Settings
from .jobs import run_pass

log = logging.getLogger(__name__)

# A database outage is logged at most this often by one process.
_FAILURE_LOG_INTERVAL = 600.0


def run(rt: Runtime, *, stop: threading.Event | None = None, paced: bool = False,
        removed: dict[str, int] | None = None) -> dict[str, int]:
    """One cleanup pass (every job until nothing is due) on a connection of its own, so a
    request's transaction is not touched; needs an app context. ``paced``, ``removed``: see
    run_pass. The metric counts what was removed, also when the pass fails half-way."""
    removed = {} if removed is None else removed
    try:
        with db.engine.connect() as connection:
            run_pass(connection, rt.settings, rt.now(), stop=stop, paced=paced, removed=removed)
    finally:
        for name, count in removed.items():
            rt.metrics.db_cleanup(name, count)
    return removed


def describe(removed: dict[str, int]) -> str:
    """The log line's and the command's account of a pass: ``job=rows`` for each job that
    removed rows."""
    return " ".join(f"{name}={count}" for name, count in removed.items()) or "nothing to do"


class DatabaseCleaner:
    def __init__(self, settings: Settings):
        self.interval = settings.db.cleanup_interval.total_seconds()
        self.thread = ProcessThread(
            "db-cleanup", lambda app_ref, stopped: _cleanup_loop(app_ref, stopped, self))
        self._failure_logged = -_FAILURE_LOG_INTERVAL
        # Passes this process's thread has finished (tests wait on it).
        self.passes = 0

    def start(self, app) -> None:
        """Start this process's thread once (again after a fork), unless the interval is zero."""
        if self.interval > 0:
            self.thread.start(app)

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread (tests; a process that exits just lets it die)."""
        self.thread.stop(timeout)

    def run_once(self, app) -> None:
        removed: dict[str, int] = {}
        try:
            with app.app_context():
                run(app.extensions["gotrue"], stop=self.thread.stopped, paced=True,
                    removed=removed)
        except Exception as error:  # noqa: BLE001 - the thread must outlive a database outage
            now = time.monotonic()
            if now - self._failure_logged >= _FAILURE_LOG_INTERVAL:
                self._failure_logged = now
                log.warning("database cleanup failed (%s: %s); trying again in %gs",
                            type(error).__name__, error, self.interval)
        finally:
            self.passes += 1
            if removed:
                log.info("database cleanup: %s", describe(removed))


def _cleanup_loop(app_ref: Callable, stopped: threading.Event, cleaner: DatabaseCleaner) -> None:
    # The first pass after a random part of the interval: workers forked together do not all
    # start their passes at the same moment.
    wait = cleaner.interval * random.uniform(0.5, 1.0)
    while not stopped.wait(wait):
        wait = cleaner.interval
        app = app_ref()
        if app is None:
            return
        cleaner.run_once(app)
        del app
