"""Each process's view of the settings changed in the console (``rt.live_settings``).

The environment's Settings, as the app was built with them, are the base. The effective
Settings are the base with every ``runtime_settings`` row in place, swapped into
``rt.settings`` in one assignment: a request reads one Settings or the next, never a mix, and
the hot paths (GET /user, POST /token) read ``rt.settings`` as before, with no query of their
own.

A process learns of a change through a thread of its own that, every
GOTRUE_CONSOLE_LIVE_SETTINGS_INTERVAL, asks the database for the rows' count and latest
``updated_at`` and reads the rows only when that pair moved. The first request a process serves
(or its worker's boot under gunicorn) loads them before anything is answered. A database that
does not answer leaves the last values in force and is asked again at the next interval.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

from ...extensions import db
from ...runtime import ProcessThread, Runtime, process_id
from ...settings import Settings
from . import catalog, store
from .store import Override

log = logging.getLogger(__name__)

# A database outage is logged at most this often by one process.
_FAILURE_LOG_INTERVAL = 60.0


class LiveSettings:
    def __init__(self, base: Settings):
        # The environment's settings (or those the app was built with): what a revert restores.
        self.base = base
        self.interval = max(base.console.live_settings_interval.total_seconds(), 0.01)
        self.overrides: dict[str, Override] = {}
        self._seen: tuple | None = None
        self._lock = threading.Lock()
        self._loaded_pid = 0
        self.thread = ProcessThread(
            "live-settings", lambda app_ref, stopped: _refresh_loop(app_ref, stopped, self))
        self._failure_logged = -_FAILURE_LOG_INTERVAL

    # --- reading the rows ----------------------------------------------------------------------

    def refresh(self, rt: Runtime, *, force: bool = False) -> bool:
        """Read the rows when they changed (or ``force``) and swap ``rt.settings``; True when
        the rows were read. Needs an app context; uses a connection of its own, so a request's
        transaction is not touched."""
        with self._lock:
            with db.engine.connect() as connection:
                try:
                    seen = store.fingerprint(connection)
                    if not force and seen == self._seen:
                        return False
                    overrides = store.overrides(connection)
                finally:
                    if connection.dialect.name == "sqlite":
                        # Not pooled again: a SQLite connection opened while the file was
                        # read-only (a full or read-only disk) stays read-only, and reads alone
                        # never tell the pool so; a request's write would meet it later.
                        connection.invalidate()
            self.overrides, self._seen = overrides, seen
            self._loaded_pid = os.getpid()
            self.apply(rt)
        return True

    def effective(self, settings: Settings) -> Settings:
        """``settings`` with every live setting at its row's value, else at the base's."""
        return catalog.with_values(settings, {
            setting.path: (self.overrides[setting.path].value if setting.path in self.overrides
                           else catalog.value_at(self.base, setting.path))
            for setting in catalog.CATALOG})

    def apply(self, rt: Runtime) -> None:
        """Swap in the effective settings. Only the live settings are touched, so what else a
        test or a tool put into ``rt.settings`` stays; objects built from a live setting at
        start-up are rebuilt (the rate limiter's buckets)."""
        current = rt.settings
        updated = self.effective(current)
        if updated == current:
            return
        if updated.rate_limit != current.rate_limit:
            rt.limiter.reconfigure(updated.rate_limit)
        rt.settings = updated

    # --- this process's refresher ----------------------------------------------------------------

    def before_request(self, app) -> None:
        """The app's before_request (not for health checks): the first request of a process
        waits for the rows; later ones cost two attribute reads."""
        pid = process_id()
        if self._loaded_pid == pid and self.thread.pid == pid:
            return
        if self._loaded_pid != pid:
            try:
                self.refresh(app.extensions["gotrue"])
            except Exception as error:  # noqa: BLE001 - serve with the environment's values
                self._log_failure(error)
                # The thread tries again; requests meanwhile must not each ask the database.
                self._loaded_pid = pid
        self.start(app)

    def start(self, app) -> None:
        """Start this process's refresher thread once (again after a fork)."""
        self.thread.start(app)

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread (tests; a process that exits just lets it die)."""
        self.thread.stop(timeout)

    def _log_failure(self, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._failure_logged >= _FAILURE_LOG_INTERVAL:
            self._failure_logged = now
            log.warning("settings changed in the console could not be read (%s: %s); the "
                        "values in force stay until the database answers",
                        type(error).__name__, error)


def _refresh_loop(app_ref: Callable, stopped: threading.Event, live: LiveSettings) -> None:
    # Loaded at once when no request did it yet (a gunicorn worker's boot), then every interval.
    wait = 0.0 if live._loaded_pid != os.getpid() else live.interval
    while not stopped.wait(wait):
        wait = live.interval
        app = app_ref()
        if app is None:
            return
        try:
            with app.app_context():
                live.refresh(app.extensions["gotrue"])
        except Exception as error:  # noqa: BLE001 - the thread must outlive a database outage
            live._log_failure(error)
        del app
