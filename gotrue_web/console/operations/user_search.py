"""The console's user list: search, filters, sorts, keyset pagination and a capped count.

Pages are found by keyset (the sort value and the id of the last row shown), never by OFFSET,
so page 20,000 costs what page 1 costs. Rows without a sort value (no last sign-in, no email)
come after all the others in both directions; each of the two groups is read with its own
index range scan, which every database can do without NULLS FIRST/LAST support.

Also the export (all rows of a filtered view, read in keyset batches). What is listed comes
from user_filters; the indexes the queries walk are models.search_indexes.

Free text (part of a name or an email, 3 characters or more) is looked up in the substring
index of migration 0012 (SQLite FTS5 trigrams, PostgreSQL pg_trgm, MariaDB's trigram table);
shorter text finds the emails that start with it. A search runs under a time limit (a
statement timeout, or SQLite's progress handler): past it the page says to narrow the search
instead of keeping the box busy for seconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ...extensions import db
from ...models import AAL, Factor, FactorStatus, Identity, Session, User
from ...models.search_indexes import MARIADB_SEARCH_TEXT, SORT_INDEXES
from . import keyset
from .user_filters import (
    COUNT_CAP,
    DEFAULT_PER_PAGE,
    EXPORT_BATCH,
    KNOWN_PROVIDERS,
    MAX_PER_PAGE,
    MFA_CHOICES,
    SORTS,
    STATES,
    InvalidSearch,
    Sort,
    Total,
    UserFilters,
    describe,
)
from .user_text_search import (
    SearchTooSlow,
    dense_matches,
    search_conditions,
    search_time_limit,
)

if TYPE_CHECKING:
    from ...settings.sessions import SessionsSettings

# What the users page needs, in one place: the filters' vocabulary and the pager.
__all__ = [
    "COUNT_CAP", "KNOWN_PROVIDERS", "MFA_CHOICES", "SORTS", "STATES", "Cursor", "InvalidSearch",
    "ListedUser", "PageRequest", "SearchTooSlow", "Total", "UserFilters", "UserPage", "count",
    "describe", "find_page", "highest_aal", "iter_batches", "live_session_conditions",
    "user_states",
]

# --- cursors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in one sort: the row's sort value (None: the rows without one) and its id."""

    sort: str
    value: datetime | str | None
    user_id: uuid.UUID

    @classmethod
    def of(cls, sort: Sort, user: User) -> "Cursor":
        return cls(sort.name, getattr(user, sort.column_name), user.id)

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps([self.sort, value, self.user_id.hex], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, sort: Sort) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            name, value, user_id = json.loads(raw)
            user_id = uuid.UUID(user_id)
            if value is not None:
                value = datetime.fromisoformat(value) if sort.is_datetime else str(value)
                if isinstance(value, datetime) and value.tzinfo is None:
                    raise ValueError("naive time")
        except (binascii.Error, ValueError, TypeError, AttributeError):
            raise InvalidSearch("That page link is damaged: start again from the first "
                                "page.") from None
        if name != sort.name:
            raise InvalidSearch("That page link belongs to another sort order: start again "
                                "from the first page.")
        return cls(name, value, user_id)


@dataclass(frozen=True)
class PageRequest:
    after: Cursor | None = None
    before: Cursor | None = None
    per_page: int = DEFAULT_PER_PAGE

    @classmethod
    def from_args(cls, args: Mapping[str, str], sort: Sort) -> "PageRequest":
        after, before = args.get("after", "").strip(), args.get("before", "").strip()
        if after and before:
            raise InvalidSearch("A page link cannot go both forwards and backwards.")
        raw = args.get("per_page", "").strip()
        per_page = DEFAULT_PER_PAGE
        if raw:
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_PAGE:
                raise InvalidSearch(f"Rows per page must be a number from 1 to {MAX_PER_PAGE}.")
            per_page = int(raw)
        return cls(after=Cursor.decode(after, sort) if after else None,
                   before=Cursor.decode(before, sort) if before else None,
                   per_page=per_page)


# --- reading pages -------------------------------------------------------------------------------


@dataclass
class ListedUser:
    user: User
    providers: list[str]
    has_mfa: bool
    # The highest assurance level ("aal1", "aal2", ...) of the user's live sessions; None when
    # the user has none, or when it was not looked up (the exports).
    aal: str | None = None

    def states(self, now: datetime) -> list[tuple[str, str]]:
        """Badges as (label, style), with the same meaning as the state filters."""
        return user_states(self.user, now, self.has_mfa)


def user_states(user: User, now: datetime, has_mfa: bool) -> list[tuple[str, str]]:
    badges = []
    if user.deleted_at is not None:
        badges.append(("deleted", "danger"))
    if user.is_banned(now):
        badges.append(("banned", "danger"))
    if user.is_anonymous:
        badges.append(("anonymous", ""))
    elif user.email_confirmed_at is not None or user.phone_confirmed_at is not None:
        badges.append(("confirmed", "ok"))
    elif user.invited_at is not None:
        badges.append(("invited", "info"))
    else:
        badges.append(("unconfirmed", "warn"))
    if has_mfa:
        badges.append(("MFA", "info"))
    return badges


@dataclass
class UserPage:
    rows: list[ListedUser]
    sort: Sort
    per_page: int
    next_cursor: Cursor | None = None
    prev_cursor: Cursor | None = None
    # Past the end: "previous" is the page that ends at the cursor, reached as the page after
    # this row (None with an empty prev_cursor too: the first page).
    back_after: Cursor | None = None
    # False when the page starts somewhere after the first row of the view.
    is_first: bool = True
    # Why the page is empty when it is not for want of matches (a search that took too long).
    notice: str | None = None


def _segments(sort: Sort) -> list[tuple]:
    """The rows with a sort value, then those without: (condition, page order) per group."""
    column, id_order = sort.column, (User.id.desc() if sort.descending else User.id.asc())
    ordered = column.desc() if sort.descending else column.asc()
    return [(column.is_not(None), (ordered, id_order)), (column.is_(None), (id_order,))]


def _reverse(clauses) -> tuple:
    return tuple(clause.element.asc() if clause.modifier is sa.sql.operators.desc_op
                 else clause.element.desc() for clause in clauses)


def _beyond(sort: Sort, cursor: Cursor, forward: bool):
    """Rows strictly after (``forward``) or before the cursor, within the cursor's group."""
    below = sort.descending == forward
    if cursor.value is None:
        return User.id < cursor.user_id if below else User.id > cursor.user_id
    column = sort.column
    if below:
        return sa.and_(column <= cursor.value,
                       sa.or_(column < cursor.value, User.id < cursor.user_id))
    return sa.and_(column >= cursor.value, sa.or_(column > cursor.value, User.id > cursor.user_id))


# MariaDB, conditions that start from a filter's few users (Where.from_filters): it would still
# walk the sort's index, checking user after user, to spare itself sorting a few hundred rows.
# (Nor the creation dates' index of the searched text, migration 0020.)
_NOT_ALONG_A_SORT = "IGNORE INDEX ({})".format(
    ", ".join([*(index.name for index in SORT_INDEXES), MARIADB_SEARCH_TEXT[1]]))


def _read(conditions: list, sort: Sort, cursor: Cursor | None, forward: bool,
          limit: int, from_filters: bool = False) -> list[User]:
    """Up to ``limit`` users from the cursor on, in page order (forward) or reverse order."""
    groups = _segments(sort)
    start = 0 if cursor is None else (1 if cursor.value is None else 0)
    chosen = groups[start:] if forward else list(reversed(groups[:start + 1]))
    found: list[User] = []
    for index, (in_group, order) in enumerate(chosen):
        where = [*conditions, in_group]
        if cursor is not None and index == 0:
            where.append(_beyond(sort, cursor, forward))
        statement = (sa.select(User).where(*where)
                     .order_by(*(order if forward else _reverse(order)))
                     .limit(limit - len(found)))
        if from_filters:
            statement = statement.with_hint(User, _NOT_ALONG_A_SORT, "mysql")
        found += db.session.execute(statement).scalars().all()
        if len(found) >= limit:
            break
    return found


def _listed(users: list[User], sessions_at: datetime | None = None,
            limits: SessionsSettings | None = None) -> list[ListedUser]:
    """The users with their providers and whether they have a verified MFA factor; given
    ``sessions_at``, also the highest aal of their sessions live at that time."""
    if not users:
        return []
    ids = [user.id for user in users]
    providers: dict[uuid.UUID, set[str]] = {}
    for user_id, provider in db.session.execute(
            sa.select(Identity.user_id, Identity.provider).where(Identity.user_id.in_(ids))):
        providers.setdefault(user_id, set()).add(provider)
    with_mfa = set(db.session.execute(
        sa.select(Factor.user_id).where(Factor.user_id.in_(ids),
                                        Factor.status == FactorStatus.verified)).scalars())
    levels = {} if sessions_at is None else highest_aal(ids, sessions_at, limits)
    return [ListedUser(user, sorted(providers.get(user.id, ())), user.id in with_mfa,
                       levels.get(user.id)) for user in users]


_AAL_RANK = {level: rank for rank, level in enumerate(AAL)}


def live_session_conditions(now: datetime, limits: SessionsSettings | None = None) -> list:
    """WHERE clauses for the sessions still usable at ``now``: not past their not_after, and
    within GOTRUE_SESSIONS_TIMEBOX / _INACTIVITY_TIMEOUT when set (sessions.validity_error's
    rules, except one-session-per-user, which a refresh settles)."""
    conditions = [sa.or_(Session.not_after.is_(None), Session.not_after >= now)]
    if limits is not None and limits.timebox:
        conditions.append(sa.or_(Session.created_at.is_(None),
                                 Session.created_at >= now - limits.timebox))
    if limits is not None and limits.inactivity_timeout:
        cutoff = now - limits.inactivity_timeout
        conditions.append(sa.or_(
            Session.refreshed_at >= cutoff,
            sa.and_(Session.refreshed_at.is_(None),
                    sa.or_(Session.created_at.is_(None), Session.created_at >= cutoff))))
    return conditions


def highest_aal(user_ids: list[uuid.UUID], now: datetime,
                limits: SessionsSettings | None = None) -> dict[uuid.UUID, str]:
    """user id -> the highest aal among the user's live sessions (users without one are left
    out). One grouped query: at most one row per user and level."""
    if not user_ids:
        return {}
    found: dict[uuid.UUID, AAL] = {}
    statement = (sa.select(Session.user_id, Session.aal)
                 .where(Session.user_id.in_(user_ids), *live_session_conditions(now, limits))
                 .group_by(Session.user_id, Session.aal))
    for user_id, level in db.session.execute(statement):
        # A session without an aal is a one-step (aal1) session, as the user page shows it.
        level = level or AAL.aal1
        if user_id not in found or _AAL_RANK[level] > _AAL_RANK[found[user_id]]:
            found[user_id] = level
    return {user_id: level.value for user_id, level in found.items()}


def find_page(filters: UserFilters, page: PageRequest, now: datetime,
              limits: SessionsSettings | None = None) -> UserPage:
    """One page of the filtered list, found by keyset from the page's cursor; each row with
    the highest aal of the user's sessions live at ``now`` (under the session ``limits``).
    A search past its time limit gives an empty page with a ``notice``."""
    if filters.search is None:
        return _find_page(filters, page, now, limits)
    try:
        with search_time_limit():
            return _find_page(filters, page, now, limits)
    except SearchTooSlow as slow:
        return UserPage([], filters.sort_spec, page.per_page, notice=str(slow))


def _find_page(filters: UserFilters, page: PageRequest, now: datetime,
               limits: SessionsSettings | None) -> UserPage:
    sort = filters.sort_spec
    found = search_conditions(filters, now)
    window = keyset.slice_page(
        lambda cursor, forward, count: _read(found.conditions, sort, cursor, forward, count,
                                             found.from_filters),
        lambda user: Cursor.of(sort, user), page.per_page, before=page.before, after=page.after)
    return UserPage(_listed(window.rows, now, limits), sort, page.per_page,
                    next_cursor=window.next_cursor, prev_cursor=window.prev_cursor,
                    back_after=window.back_after, is_first=window.is_first)


def count(filters: UserFilters, now: datetime, cap: int | None = COUNT_CAP) -> Total:
    """How many users the filters match, counting at most ``cap + 1`` (None: all of them)."""
    if filters.search is None:
        return _count(filters, now, cap)
    try:
        with search_time_limit():
            return _count(filters, now, cap)
    except SearchTooSlow:
        return Total(0, too_slow=True)


def _count(filters: UserFilters, now: datetime, cap: int | None) -> Total:
    found = search_conditions(filters, now, unordered=True)
    conditions = found.conditions
    if (cap is not None and found.matches is not None and found.matches > dense_matches() >= cap
            and not found.others):
        # More text matches than the cap and no other filter: no need to look further.
        return Total(cap, capped=True)
    if cap is None:
        statement = sa.select(sa.func.count()).select_from(User).where(*conditions)
        return Total(db.session.execute(statement).scalar_one())
    if found.sure_matches and _counted(found.sure_matches, cap) > cap:
        return Total(cap, capped=True)
    counted = _counted(conditions, cap)
    return Total(cap, capped=True) if counted > cap else Total(counted)


def _counted(conditions: list, cap: int) -> int:
    """How many users meet ``conditions``, counting at most ``cap + 1``."""
    matching = sa.select(User.id).where(*conditions).limit(cap + 1).subquery()
    return db.session.execute(sa.select(sa.func.count()).select_from(matching)).scalar_one()


def iter_batches(filters: UserFilters, now: datetime,
                 batch: int | None = None) -> Iterator[list[ListedUser]]:
    """Every user of the filtered view in sort order, ``batch`` at a time (for exports).

    Each batch is one keyset read; its users leave the session once handed out, so memory
    stays flat whatever the size of the view.
    """
    sort, found = filters.sort_spec, search_conditions(filters, now)
    batch = batch or EXPORT_BATCH
    cursor = None
    while True:
        users = _read(found.conditions, sort, cursor, True, batch, found.from_filters)
        if not users:
            return
        listed = _listed(users)
        cursor = Cursor.of(sort, users[-1])
        for user in users:
            db.session.expunge(user)
        yield listed
        if len(users) < batch:
            return
