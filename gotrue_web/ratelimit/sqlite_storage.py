"""A ``limits`` storage in a local SQLite file, shared by every worker process of one server.

Without Redis the counters still have to be shared: gunicorn runs several workers, and
per-process memory would multiply every limit by their number. A small SQLite file beside the
server does that with no extra service. It is kept apart from the application's database so
that counting never waits for (or holds) the application's write lock, and it runs in WAL mode
with ``synchronous=OFF``: losing the last counts in a power cut is harmless, an fsync per
request is not.

URL form: ``sqlite:///absolute/path/to/counters.sqlite3``. Supports the moving window (the
strategy the server uses) and the fixed-window calls every ``limits`` storage must have.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from urllib.parse import unquote, urlsplit

from limits.storage import MovingWindowSupport, Storage

from ..sqlite_wal import enable_wal

# How long a connection waits for another process's write lock, in seconds.
_LOCK_WAIT = 5.0
# One hit in this many also sweeps every expired row, so quiet keys do not pile up.
_SWEEP_ONE_IN = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (
    key TEXT NOT NULL,
    at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at);
CREATE INDEX IF NOT EXISTS hits_expires_at ON hits (expires_at);
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
"""


def path_of(url: str) -> str:
    """The file a ``sqlite:///path`` URL names."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.scheme != "sqlite" or parts.netloc or not path.startswith("/"):
        raise ValueError(f"expected sqlite:///absolute/path, got {url!r}")
    return path


class SQLiteStorage(Storage, MovingWindowSupport):
    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = path_of(uri)
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        self._local = threading.local()
        # This process's writers queue here, woken the moment it is free; only writers of
        # other processes meet SQLite's busy wait, which sleeps a millisecond or more.
        self._writer = threading.Lock()
        with self._connection() as connection:
            connection.executescript(_SCHEMA)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread (and per process: a forked worker opens its own).
        connection = getattr(self._local, "connection", None)
        if connection is None or getattr(self._local, "pid", None) != os.getpid():
            connection = sqlite3.connect(self.path, timeout=_LOCK_WAIT, isolation_level=None,
                                         check_same_thread=False)
            enable_wal(connection, _LOCK_WAIT)
            connection.execute("PRAGMA synchronous=OFF")
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    def _write(self, work):
        """Run ``work(connection, now)`` in one write transaction (others wait their turn)."""
        connection = self._connection()
        with self._writer:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection, time.time())
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        return result

    # --- moving window ------------------------------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False

        if amount == 1 and random.randrange(_SWEEP_ONE_IN) != 0:
            # The common case in one statement, which SQLite runs as a write transaction of its
            # own (counting and inserting cannot be split by another writer): one call into
            # SQLite where the transaction below makes four. The sweep and larger amounts
            # take the transaction.
            now = time.time()
            with self._writer:
                inserted = self._connection().execute(
                    "INSERT INTO hits (key, at, expires_at) SELECT ?, ?, ? "
                    "WHERE (SELECT COUNT(*) FROM hits WHERE key = ? AND at > ?) < ?",
                    (key, now, now + expiry, key, now - expiry, limit)).rowcount
            return inserted == 1

        def acquire(connection: sqlite3.Connection, now: float) -> bool:
            connection.execute("DELETE FROM hits WHERE expires_at <= ?", (now,))
            (count,) = connection.execute(
                "SELECT COUNT(*) FROM hits WHERE key = ? AND at > ?",
                (key, now - expiry)).fetchone()
            if count + amount > limit:
                return False
            connection.executemany("INSERT INTO hits (key, at, expires_at) VALUES (?, ?, ?)",
                                   [(key, now, now + expiry)] * amount)
            return True

        return self._write(acquire)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        oldest, count = self._connection().execute(
            "SELECT MIN(at), COUNT(*) FROM hits WHERE key = ? AND at > ?",
            (key, now - expiry)).fetchone()
        return (oldest if oldest is not None else now), count

    def moving_window_keys(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix`` that have hits in their window (the console's view)."""
        rows = self._connection().execute(
            "SELECT DISTINCT key FROM hits WHERE expires_at > ? AND substr(key, 1, ?) = ?",
            (time.time(), len(prefix), prefix)).fetchall()
        return [key for (key,) in rows]

    # --- fixed window (required of every storage) ---------------------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        def increment(connection: sqlite3.Connection, now: float) -> int:
            connection.execute("DELETE FROM counters WHERE key = ? AND expires_at <= ?",
                               (key, now))
            connection.execute(
                "INSERT INTO counters (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
                (key, amount, now + expiry))
            (value,) = connection.execute("SELECT value FROM counters WHERE key = ?",
                                          (key,)).fetchone()
            return value

        return self._write(increment)

    def get(self, key: str) -> int:
        row = self._connection().execute(
            "SELECT value FROM counters WHERE key = ? AND expires_at > ?",
            (key, time.time())).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._connection().execute(
            "SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?",
            (key, time.time())).fetchone()
        return row[0] if row else time.time()

    def check(self) -> bool:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        def wipe(connection: sqlite3.Connection, _now: float) -> int:
            removed = connection.execute("DELETE FROM hits").rowcount
            return removed + connection.execute("DELETE FROM counters").rowcount

        return self._write(wipe)

    def clear(self, key: str) -> None:
        def forget(connection: sqlite3.Connection, _now: float) -> None:
            connection.execute("DELETE FROM hits WHERE key = ?", (key,))
            connection.execute("DELETE FROM counters WHERE key = ?", (key,))

        self._write(forget)
