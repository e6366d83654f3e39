"""The sessions page's filters: read from the query string, described for people, and turned
into WHERE clauses on sessions.

Only live sessions are ever selected, by the rule the users list uses for its AAL column
(user_search.live_session_conditions: not past not_after, GOTRUE_SESSIONS_TIMEBOX and
_INACTIVITY_TIMEOUT). The user filter is the users list's search box (part of an email,
phone or id, through its indexes); the activity filters are ranges of sessions.updated_at,
which every refresh sets and which is indexed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ....durations import parse_go_duration
from ....extensions import db
from ....models import AAL, Session, User
from ..log_paging import parse_time
from ..user_filters import MAX_SEARCH_LENGTH, InvalidSearch, UserFilters
from ..user_search import live_session_conditions
from ..user_text_search import search_conditions

if TYPE_CHECKING:
    from ....settings.sessions import SessionsSettings

AAL_CHOICES = {"aal1": "aal1 (one step)", "aal2": "aal2 (passed MFA)"}
# The characters of an IPv4 or IPv6 address (or the start of one); anything else finds nothing.
_IP_TEXT = re.compile(r"[0-9a-f:.]{1,45}")
# Whole days in front of a Go duration ("7d", "1d12h"): Go's durations have no day unit.
_DAYS = re.compile(r"(\d{1,5})d")
_EXAMPLES = "such as 30m, 2h, 7d or 1d12h"


def parse_idle(text: str) -> timedelta:
    """An idle time as typed: whole days, then a Go duration (``7d``, ``1d12h``, ``90m``).
    ValueError for anything else, and for zero or less."""
    value = text.strip().lower()
    days = timedelta(0)
    match = _DAYS.match(value)
    if match is not None:
        days, value = timedelta(days=int(match.group(1))), value[match.end():]
    try:
        length = days + (parse_go_duration(value) if value else timedelta(0))
    except (ValueError, OverflowError):
        raise ValueError(f"{text.strip()[:40]!r} is not a duration {_EXAMPLES}") from None
    if length <= timedelta(0):
        raise ValueError(f"give a duration longer than zero, {_EXAMPLES}")
    return length


@dataclass(frozen=True)
class SessionFilters:
    """What the page lists: each field as typed (for links and the form), plus the parsed
    values the conditions use."""

    user: str = ""
    ip: str = ""
    aal: str = ""
    active_since: str = ""
    idle: str = ""
    since: datetime | None = field(default=None, compare=False, repr=False)
    idle_for: timedelta | None = field(default=None, compare=False, repr=False)
    user_search: UserFilters | None = field(default=None, compare=False, repr=False)

    PARAMS = ("user", "ip", "aal", "active_since", "idle")

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "SessionFilters":
        """Read the query string; InvalidSearch names the first value that makes no sense."""
        raw = {name: str(args.get(name) or "").strip() for name in cls.PARAMS}
        if any(len(value) > MAX_SEARCH_LENGTH for value in raw.values()):
            raise InvalidSearch(f"A filter is too long (at most {MAX_SEARCH_LENGTH} characters).")
        if any(ord(char) < 32 or ord(char) == 127 for value in raw.values() for char in value):
            raise InvalidSearch("Filters cannot hold control characters.")
        user_search = UserFilters.from_args({"q": raw["user"]}) if raw["user"] else None
        ip = raw["ip"].lower()
        if ip and not _IP_TEXT.fullmatch(ip):
            raise InvalidSearch("IP: type an address (203.0.113.7, 2001:db8::1) or its start "
                                "(203.0.113., 2001:db8:).")
        if raw["aal"] and raw["aal"] not in AAL_CHOICES:
            raise InvalidSearch("AAL must be aal1, aal2 or empty.")
        try:
            since = parse_time(raw["active_since"])
        except ValueError as problem:
            raise InvalidSearch(f"Active since: {problem}.") from None
        try:
            idle_for = parse_idle(raw["idle"]) if raw["idle"] else None
        except ValueError as problem:
            raise InvalidSearch(f"Idle for more than: {problem}.") from None
        return cls(user=raw["user"], ip=ip, aal=raw["aal"], active_since=raw["active_since"],
                   idle=raw["idle"], since=since, idle_for=idle_for, user_search=user_search)

    def to_args(self) -> dict[str, str]:
        """The query string of this view, without empty fields (for links and bookmarks)."""
        return {name: getattr(self, name) for name in self.PARAMS if getattr(self, name)}

    @property
    def narrowed(self) -> bool:
        """True if some filter leaves live sessions out."""
        return bool(self.to_args())

    @property
    def exact_ip(self) -> str | None:
        """The address when the IP filter is a whole one (matched exactly), else None."""
        try:
            return ipaddress.ip_address(self.ip).compressed if self.ip else None
        except ValueError:
            return None

    def describe(self) -> list[str]:
        """The filters in words, for the sign-out confirmation."""
        said = []
        if self.user:
            said.append(f"user matching “{self.user}”")
        if self.ip:
            said.append(f"IP {self.ip}" if self.exact_ip else f"IP starting with {self.ip}")
        if self.aal:
            said.append(f"assurance level {self.aal}")
        if self.since is not None:
            said.append(f"active since {self.since:%Y-%m-%d %H:%M} UTC")
        if self.idle_for is not None:
            said.append(f"idle for more than {self.idle}")
        return said

    def conditions(self, now: datetime, limits: SessionsSettings | None) -> list:
        """The WHERE clauses on sessions: live at ``now`` and matching every filter.

        The user filter may read the users' substring index to choose its plan (and on
        PostgreSQL set planner options for the transaction), so call this inside the time
        limit the query itself runs under."""
        conditions = live_session_conditions(now, limits)
        if self.user_search is not None:
            conditions.append(_user_condition(self.user_search, now))
        if self.ip:
            conditions.append(_ip_condition(self.ip, self.exact_ip))
        if self.aal == AAL.aal1.value:
            # A session without an aal is a one-step session, as the user page shows it.
            conditions.append(sa.or_(Session.aal.is_(None), Session.aal == AAL.aal1))
        elif self.aal:
            conditions.append(Session.aal == AAL(self.aal))
        if self.since is not None:
            conditions.append(Session.updated_at >= self.since)
        if self.idle_for is not None:
            conditions.append(Session.updated_at < now - self.idle_for)
        return conditions


def _user_condition(user_search: UserFilters, now: datetime):
    """The sessions of the users the users list's search box finds for the same text."""
    exact = user_search.exact_user_id
    if exact is not None:
        return Session.user_id == exact
    users = search_conditions(user_search, now, unordered=True).conditions
    return Session.user_id.in_(sa.select(User.id).where(*users))


def _ip_condition(text: str, exact: str | None):
    """A whole address matches itself; anything else every address that starts with it."""
    if exact is not None:
        return Session.ip == exact
    pattern = text + "%"  # _IP_TEXT leaves no LIKE wildcard in the text
    if db.engine.dialect.name == "postgresql":
        # inet: compare the address as text (host() drops the /32 a network mask would add).
        return sa.func.host(Session.ip).like(pattern)
    # (type_coerce: the pattern is not an address, so IPAddress must not process it.)
    return sa.type_coerce(Session.ip, sa.String).like(pattern)
