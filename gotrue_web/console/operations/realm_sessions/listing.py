"""Pages of live sessions, most recent activity first, found by keyset; and their counts.

The order is (updated_at desc, id desc): every refresh and every step up to aal2 sets
updated_at, and its index (sessions_updated_at_idx) is what a page walks, so page 20,000
costs what page 1 costs. Sessions without an updated_at (none this server writes, but rows
may be imported) come after all the others, by id, each group read with its own range scan.
A page and its count run under the users search's time limit: a filter that leaves few
sessions far apart (a rare IP) gives a notice to narrow it instead of a busy database. The
list's count stops at COUNT_CAP ("more than 10,000"); the exact count is for a sign-out's
confirmation and for an operator who asks for it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ....extensions import db
from ....models import Factor, Session, User
from .. import keyset
from ..user_filters import COUNT_CAP, DEFAULT_PER_PAGE, MAX_PER_PAGE, InvalidSearch, Total
from ..user_text_search import SearchTooSlow, search_time_limit
from .filters import SessionFilters

if TYPE_CHECKING:
    from ....settings.sessions import SessionsSettings

# The longest counting what a sign-out would end may take, in ms (a whole table of sessions).
REACH_TIME_LIMIT_MS = 30_000
# The most of a user agent the list shows (the whole one is in the cell's title).
DEVICE_LENGTH = 40
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_DAMAGED = "That page link is damaged: start again from the first page."


# --- cursors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in the list: the session's updated_at (None: the group without one) and id."""

    value: datetime | None
    session_id: uuid.UUID

    @classmethod
    def of(cls, session: Session) -> "Cursor":
        return cls(session.updated_at, session.id)

    def encode(self) -> str:
        micros = "-" if self.value is None else str((self.value - _EPOCH) // _MICROSECOND)
        return f"{micros}.{self.session_id.hex}"

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        micros, _, hex_id = token.partition(".")
        try:
            value = None if micros == "-" else _EPOCH + int(micros) * _MICROSECOND
            return cls(value, uuid.UUID(hex=hex_id))
        except (ValueError, OverflowError):
            raise InvalidSearch(_DAMAGED) from None


@dataclass(frozen=True)
class PageRequest:
    after: Cursor | None = None
    before: Cursor | None = None
    per_page: int = DEFAULT_PER_PAGE

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "PageRequest":
        after = str(args.get("after") or "").strip()
        before = str(args.get("before") or "").strip()
        if after and before:
            raise InvalidSearch("A page link cannot go both forwards and backwards.")
        raw = str(args.get("per_page") or "").strip()
        per_page = DEFAULT_PER_PAGE
        if raw:
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_PAGE:
                raise InvalidSearch(f"Rows per page must be a number from 1 to {MAX_PER_PAGE}.")
            per_page = int(raw)
        return cls(after=Cursor.decode(after) if after else None,
                   before=Cursor.decode(before) if before else None, per_page=per_page)


# --- rows ----------------------------------------------------------------------------------------


@dataclass
class ListedSession:
    session: Session
    user: User | None
    # The MFA factor the session passed (None: none; a removed factor is not found either).
    factor: Factor | None = None

    @property
    def last_refresh(self) -> datetime | None:
        return self.session.refreshed_at or self.session.updated_at

    @property
    def level(self) -> str:
        return self.session.aal.value if self.session.aal else "aal1"

    @property
    def device(self) -> str:
        return device_of(self.session.user_agent)


# Browsers by the token that names them, most specific first (Edge and Opera also say Chrome,
# Chrome also says Safari); Safari gives its version in Version/.
_BROWSER = re.compile(r"\b(Edg|EdgA|OPR|Firefox|FxiOS|CriOS|Chrome|Version)/(\d+)")
_BROWSER_NAMES = {"Edg": "Edge", "EdgA": "Edge", "OPR": "Opera", "FxiOS": "Firefox",
                  "CriOS": "Chrome", "Version": "Safari"}
_SYSTEMS = (("iPhone", "iOS"), ("iPad", "iPadOS"), ("Android", "Android"),
            ("Windows", "Windows"), ("CrOS", "ChromeOS"), ("Mac OS X", "macOS"),
            ("Linux", "Linux"))


def device_of(user_agent: str | None) -> str:
    """A user agent in a few words: "Chrome 126 on Windows" for a browser, the first product
    token (``supabase-js/2.45``) for anything else, cut to DEVICE_LENGTH."""
    agent = (user_agent or "").strip()
    found = sorted(_BROWSER.finditer(agent), key=lambda match: _rank(match.group(1)))
    if agent.startswith("Mozilla/") and found:
        name, major = found[0].group(1), found[0].group(2)
        system = next((label for token, label in _SYSTEMS if token in agent), None)
        summary = f"{_BROWSER_NAMES.get(name, name)} {major}"
        agent = f"{summary} on {system}" if system else summary
    elif agent.startswith("Mozilla/"):
        agent = next((label for token, label in _SYSTEMS if token in agent), agent)
    else:
        agent = agent.split(" ", 1)[0] if " " in agent else agent
    return agent if len(agent) <= DEVICE_LENGTH else agent[:DEVICE_LENGTH - 1] + "…"


def ago(moment: datetime, now: datetime) -> str:
    """How long before ``now`` a moment was, in the largest whole unit ("5 min ago")."""
    seconds = int((now - moment).total_seconds())
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def _rank(token: str) -> int:
    order = ("Edg", "EdgA", "OPR", "FxiOS", "CriOS", "Firefox", "Chrome", "Version")
    return order.index(token)


@dataclass
class SessionPage:
    rows: list[ListedSession]
    per_page: int
    next_cursor: Cursor | None = None
    prev_cursor: Cursor | None = None
    # Past the end: "previous" is the page that ends at the cursor, reached as the page after
    # this row (None too when that is the first page).
    back_after: Cursor | None = None
    is_first: bool = True
    # Why the page is empty when it is not for want of matches (a filter that took too long).
    notice: str | None = None


def _segments() -> list[tuple]:
    """The sessions with an updated_at, then those without: (condition, page order) each."""
    return [(Session.updated_at.is_not(None), (Session.updated_at.desc(), Session.id.desc())),
            (Session.updated_at.is_(None), (Session.id.desc(),))]


def _reverse(clauses) -> tuple:
    return tuple(clause.element.asc() if clause.modifier is sa.sql.operators.desc_op
                 else clause.element.desc() for clause in clauses)


def _beyond(cursor: Cursor, forward: bool):
    """Sessions strictly after (``forward``: less recent) or before the cursor, in its group."""
    if cursor.value is None:
        return Session.id < cursor.session_id if forward else Session.id > cursor.session_id
    column = Session.updated_at
    if forward:
        return sa.and_(column <= cursor.value,
                       sa.or_(column < cursor.value, Session.id < cursor.session_id))
    return sa.and_(column >= cursor.value,
                   sa.or_(column > cursor.value, Session.id > cursor.session_id))


def _read(conditions: list, cursor: Cursor | None, forward: bool, limit: int) -> list[Session]:
    """Up to ``limit`` sessions from the cursor on, in page order (forward) or reverse."""
    groups = _segments()
    start = 0 if cursor is None else (1 if cursor.value is None else 0)
    chosen = groups[start:] if forward else list(reversed(groups[:start + 1]))
    found: list[Session] = []
    for index, (in_group, order) in enumerate(chosen):
        where = [*conditions, in_group]
        if cursor is not None and index == 0:
            where.append(_beyond(cursor, forward))
        statement = (sa.select(Session).where(*where)
                     .order_by(*(order if forward else _reverse(order)))
                     .limit(limit - len(found)))
        found += db.session.execute(statement).scalars().all()
        if len(found) >= limit:
            break
    return found


def _listed(found: list[Session]) -> list[ListedSession]:
    """The sessions with their users and factors (one query each for the page)."""
    if not found:
        return []
    user_ids = {session.user_id for session in found}
    users = {user.id: user for user in db.session.execute(
        sa.select(User).where(User.id.in_(user_ids))).scalars()}
    factor_ids = {session.factor_id for session in found if session.factor_id is not None}
    factors = {factor.id: factor for factor in db.session.execute(
        sa.select(Factor).where(Factor.id.in_(factor_ids))).scalars()} if factor_ids else {}
    return [ListedSession(session, users.get(session.user_id), factors.get(session.factor_id))
            for session in found]


def find_page(filters: SessionFilters, page: PageRequest, now: datetime,
              limits: SessionsSettings | None) -> SessionPage:
    """One page of the live sessions the filters match, by keyset from the page's cursor. A
    page past the time limit is empty, with a ``notice``."""
    try:
        with search_time_limit():
            return _find_page(filters.conditions(now, limits), page)
    except SearchTooSlow as slow:
        return SessionPage([], page.per_page, notice=str(slow))


def _find_page(conditions: list, page: PageRequest) -> SessionPage:
    window = keyset.slice_page(
        lambda cursor, forward, count: _read(conditions, cursor, forward, count),
        Cursor.of, page.per_page, before=page.before, after=page.after)
    return SessionPage(_listed(window.rows), page.per_page, next_cursor=window.next_cursor,
                       prev_cursor=window.prev_cursor, back_after=window.back_after,
                       is_first=window.is_first)


# --- counts --------------------------------------------------------------------------------------


def count(filters: SessionFilters, now: datetime, limits: SessionsSettings | None,
          cap: int | None = COUNT_CAP) -> Total:
    """How many live sessions the filters match, counting at most ``cap + 1`` (None: all)."""
    try:
        with search_time_limit():
            conditions = filters.conditions(now, limits)
            if cap is None:
                statement = sa.select(sa.func.count()).select_from(Session).where(*conditions)
                return Total(db.session.execute(statement).scalar_one())
            matching = sa.select(Session.id).where(*conditions).limit(cap + 1).subquery()
            found = db.session.execute(
                sa.select(sa.func.count()).select_from(matching)).scalar_one()
    except SearchTooSlow:
        return Total(0, too_slow=True)
    return Total(cap, capped=True) if found > cap else Total(found)


@dataclass(frozen=True)
class Reach:
    """How many live sessions, of how many users, a sign-out would end."""

    sessions: int
    users: int


def reach(filters: SessionFilters, now: datetime, limits: SessionsSettings | None) -> Reach:
    """The exact numbers a sign-out confirms. An operator asked for them, so they may take
    far longer than a page (REACH_TIME_LIMIT_MS); past that, SearchTooSlow."""
    with search_time_limit(REACH_TIME_LIMIT_MS):
        sessions, users = db.session.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(Session.user_id)))
            .where(*filters.conditions(now, limits))).one()
    return Reach(sessions, users)
