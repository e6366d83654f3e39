"""Switching a SQLite file to WAL while other processes may be opening it too."""

from __future__ import annotations

import random
import sqlite3
import time


def enable_wal(connection: sqlite3.Connection, wait: float) -> None:
    """``PRAGMA journal_mode=WAL``, tried again for up to ``wait`` seconds while another
    connection holds a write lock.

    Switching a file that is not in WAL mode yet needs an exclusive lock, and while another
    connection holds the write lock SQLite answers "database is locked" at once instead of
    waiting (waiting could deadlock). Two gunicorn workers booting on a new file would
    otherwise fail one of them, and gunicorn stops the whole server when a worker fails to boot.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(random.uniform(0.005, 0.02))
