"""Which users a bulk run acts on: the rows an operator ticked on a page, or every user the
list's filters and search match. Either way only users created up to the run's start belong to
it (its snapshot), and the filters are judged at that moment.

A run walks its users in id order from a keyset cursor (the last id handled), one batch per
request; every batch is found again from the conditions, so nothing but the cursor is kept
between requests. The users of a batch are then locked (FOR UPDATE; SQLite's write lock), so
two requests that carry the same batch, a double click, cannot both act on one user.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ....errors import ErrorCode, unprocessable
from ....extensions import db
from ....models import User
from ..user_filters import MAX_PER_PAGE, MFA_CHOICES, STATES, InvalidSearch, UserFilters
from ..user_text_search import search_conditions, search_time_limit

SCOPES = ("selected", "all")
# A page shows at most this many rows, so no more can be ticked.
MAX_SELECTED = MAX_PER_PAGE
# The longest finding one batch or counting a selection may take, in ms.
SELECT_TIME_LIMIT_MS = 30_000


@dataclass(frozen=True)
class Selection:
    scope: str
    filters: UserFilters
    user_ids: tuple[uuid.UUID, ...] = ()

    @classmethod
    def parse(cls, scope: str, args: Mapping[str, str], ids: Sequence[str]) -> "Selection":
        """The selection a form asked for: ``scope``, the list's query string ``args`` and the
        ticked ``ids``. InvalidSearch for filters that make no sense, 422 for a selection
        that is empty or not made of user ids."""
        filters = UserFilters.from_args(args)
        if scope not in SCOPES:
            raise unprocessable(ErrorCode.VALIDATION_FAILED,
                                "Choose the users: those ticked, or all that match.")
        if scope == "all":
            return cls(scope, filters)
        chosen: dict[uuid.UUID, None] = {}
        for raw in ids:
            try:
                chosen[uuid.UUID(raw.strip())] = None
            except (ValueError, AttributeError):
                raise unprocessable(ErrorCode.VALIDATION_FAILED,
                                    "The selection holds something that is not a user id."
                                    ) from None
        if not chosen:
            raise unprocessable(ErrorCode.VALIDATION_FAILED,
                                "Tick at least one user, or choose all users that match.")
        if len(chosen) > MAX_SELECTED:
            raise unprocessable(ErrorCode.VALIDATION_FAILED,
                                f"Tick at most {MAX_SELECTED} users, or choose all users "
                                "that match.")
        return cls(scope, filters, tuple(sorted(chosen, key=str)))

    @classmethod
    def of_run(cls, scope: str, filters: Mapping[str, str], ids: Sequence[str]) -> "Selection":
        """The selection a signed run carries (checked when the run started)."""
        return cls(scope, UserFilters.from_args(filters), tuple(uuid.UUID(i) for i in ids))

    def conditions(self, at: datetime) -> list:
        """The WHERE clauses of the users in the snapshot taken at ``at``."""
        created = sa.or_(User.created_at.is_(None), User.created_at <= at)
        if self.scope == "selected":
            return [User.id.in_(self.user_ids), created]
        return [*search_conditions(self.filters, at, unordered=True).conditions, created]

    def describe(self) -> list[str]:
        """The filters in words, for the confirmation page (empty: every user)."""
        filters = self.filters
        said = []
        if filters.q:
            said.append(f"Search: {filters.q}")
        if filters.state:
            said.append(f"State: {STATES[filters.state]}")
        if filters.mfa:
            said.append(f"MFA: {MFA_CHOICES[filters.mfa]}")
        if filters.provider:
            said.append(f"Provider: {filters.provider}")
        for label, start, end in (("Created", filters.created_from, filters.created_to),
                                  ("Last sign-in", filters.signed_in_from,
                                   filters.signed_in_to)):
            if start and end:
                said.append(f"{label}: {start.isoformat()} to {end.isoformat()}")
            elif start:
                said.append(f"{label}: from {start.isoformat()}")
            elif end:
                said.append(f"{label}: up to {end.isoformat()}")
        return said


def count(selection: Selection, at: datetime) -> int:
    """How many users the snapshot at ``at`` holds (exact). SearchTooSlow past the limit."""
    with search_time_limit(SELECT_TIME_LIMIT_MS):
        return db.session.execute(
            sa.select(sa.func.count()).select_from(User).where(*selection.conditions(at))
        ).scalar_one()


def next_ids(selection: Selection, at: datetime, after: uuid.UUID | None,
             limit: int) -> list[uuid.UUID]:
    """The ids of the next ``limit`` users of the snapshot after the cursor, in id order."""
    where = selection.conditions(at)
    if after is not None:
        where.append(User.id > after)
    with search_time_limit(SELECT_TIME_LIMIT_MS):
        return list(db.session.execute(
            sa.select(User.id).where(*where).order_by(User.id).limit(limit)).scalars())


def lock(user_ids: list[uuid.UUID]) -> dict[uuid.UUID, User]:
    """The users of a batch, locked until the transaction ends and read afresh; a user deleted
    meanwhile is missing."""
    if not user_ids:
        return {}
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        # SQLite has no row locks: take the database's write lock with this read.
        connection.execution_options(write_lock=True)
    found = db.session.execute(
        sa.select(User).where(User.id.in_(user_ids)).order_by(User.id).with_for_update()
        .execution_options(populate_existing=True)).scalars().all()
    return {user.id: user for user in found}


__all__ = ["MAX_SELECTED", "SCOPES", "InvalidSearch", "Selection", "count", "lock", "next_ids"]
