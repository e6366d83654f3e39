"""Rows written after the request's transaction, in a transaction of their own.

The mail, SMS and hook logs record each send, and a failed send usually makes the request roll
back: its row must survive that. Writing it at once on a second connection would wait, on
SQLite, for the very write lock the request's transaction holds; so rows are kept aside per
request (per thread or context) and the factory's teardown writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar

import sqlalchemy as sa

from ..extensions import db

log = logging.getLogger(__name__)


class DeferredRows:
    """ORM rows of the current request waiting for its transaction to end."""

    def __init__(self, name: str, what: str):
        self._rows: ContextVar[list | None] = ContextVar(name, default=None)
        self.what = what

    def add(self, row) -> None:
        rows = self._rows.get()
        if rows is None:
            rows = []
            self._rows.set(rows)
        rows.append(row)

    def pending(self) -> list:
        """Rows of this request not written yet."""
        return list(self._rows.get() or ())

    def write(self, before_commit: Callable[[list], None] | None = None) -> None:
        """Persist the rows (after ``before_commit(rows)``, in the same transaction). A failure
        is logged, not raised: the answer has been decided already."""
        rows = self._rows.get()
        self._rows.set(None)
        if not rows:
            return
        try:
            db.session.rollback()
            db.session.add_all(rows)
            if before_commit is not None:
                before_commit(rows)
            db.session.commit()
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            # Without them the console misses sends and the email budget undercounts: say so.
            log.exception("could not write %d %s", len(rows), self.what)
