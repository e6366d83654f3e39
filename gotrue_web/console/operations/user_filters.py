"""The console's user list, the query side: what a view asks for (search box, state, MFA,
provider, date ranges, sort) read from the query string, and the conditions that select it.

user_search pages through the users these filters select.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from ...extensions import db
from ...models import Factor, FactorStatus, Identity, User
from ...settings import EXTERNAL_PROVIDERS

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
# Counting stops here: a page never pays for more than this many index entries.
COUNT_CAP = 10_000
EXPORT_BATCH = 1000
MAX_SEARCH_LENGTH = 255

STATES = {
    "confirmed": "Confirmed",
    "unconfirmed": "Unconfirmed",
    "invited": "Invited, not accepted yet",
    "banned": "Banned now",
    "anonymous": "Anonymous",
}
MFA_CHOICES = {"yes": "Has MFA", "no": "No MFA"}
KNOWN_PROVIDERS = ("email", "phone", *sorted(EXTERNAL_PROVIDERS))
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,99}")


@dataclass(frozen=True)
class Total:
    """A capped count of a filtered view."""

    value: int
    # True: more than ``value`` rows match (counting stopped at the cap).
    capped: bool = False
    # True: a search's count ran past the time limit (``value`` means nothing then).
    too_slow: bool = False


class InvalidSearch(ValueError):
    """A parameter of the list cannot be understood; the message says which and why."""


# --- sorts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sort:
    name: str
    label: str
    column_name: str
    descending: bool

    @property
    def column(self):
        return getattr(User, self.column_name)

    @property
    def is_datetime(self) -> bool:
        return self.column_name != "email"


SORTS = {sort.name: sort for sort in (
    Sort("created_desc", "Newest first", "created_at", True),
    Sort("created_asc", "Oldest first", "created_at", False),
    Sort("last_sign_in_desc", "Signed in most recently", "last_sign_in_at", True),
    Sort("last_sign_in_asc", "Signed in least recently", "last_sign_in_at", False),
    Sort("email_asc", "Email A to Z", "email", False),
    Sort("email_desc", "Email Z to A", "email", True),
)}
DEFAULT_SORT = "created_desc"


# --- search --------------------------------------------------------------------------------------

_FULL_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
_ID_PREFIX = re.compile(r"[0-9a-f-]+")
_PHONE = re.compile(r"\+?[0-9 ().-]+")
_MIN_ID_PREFIX = 8  # the short id the list shows
_MIN_PHONE_DIGITS = 3


@dataclass(frozen=True)
class Search:
    """What the one search box asked for, read from the shape of the text.

    A whole UUID is that user; 8+ hex digits are the start of an id (the short id the list
    shows); digits are the start of a phone number, with or without '+'; text with an '@'
    not in first place is the start of an email; anything else is found anywhere in the
    email or the name. Everything but the last is an index range scan.
    """

    text: str
    user_id: uuid.UUID | None = None
    id_prefix: str = ""
    phone_prefix: str = ""
    email_prefix: str = ""
    contains: str = ""

    @classmethod
    def parse(cls, raw: str) -> "Search | None":
        text = raw.strip()
        if not text:
            return None
        if len(text) > MAX_SEARCH_LENGTH:
            raise InvalidSearch(f"The search is too long (at most {MAX_SEARCH_LENGTH} "
                                "characters).")
        lowered = text.lower()
        if _FULL_UUID.fullmatch(lowered):
            return cls(text, user_id=uuid.UUID(lowered))
        found: dict[str, str] = {}
        hex_digits = lowered.replace("-", "")
        if (_ID_PREFIX.fullmatch(lowered) and _MIN_ID_PREFIX <= len(hex_digits) < 32
                and str(uuid.UUID(hex_digits.ljust(32, "0"))).startswith(lowered)):
            found["id_prefix"] = hex_digits
            if not hex_digits.isdigit():
                found["email_prefix"] = lowered
        if _PHONE.fullmatch(text):
            digits = re.sub(r"\D", "", text)
            if len(digits) >= _MIN_PHONE_DIGITS:
                found["phone_prefix"] = digits
        if found:
            return cls(text, **found)
        if "@" in lowered[1:] and not lowered.startswith("@") and " " not in lowered:
            return cls(text, email_prefix=lowered)
        return cls(text, contains=lowered)


def _dialect() -> str:
    return db.engine.dialect.name


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _starts_with(column, prefix: str):
    """``column`` begins with ``prefix``, written so that an index on it is used."""
    if _dialect() == "sqlite":
        # SQLite's LIKE ignores case and so cannot use a BINARY index; a range can.
        # (Stored emails are lower case and phones are digits.)
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return sa.and_(column >= prefix, column < upper)
    # Without an ESCAPE clause the pattern stays a constant that the planner can turn into an
    # index range (PostgreSQL: on the pattern_ops indexes above; MariaDB: on the plain ones).
    return column.like(_like_escape(prefix) + "%")


def _id_starts_with(hex_prefix: str):
    low = uuid.UUID(hex_prefix.ljust(32, "0"))
    if _dialect() == "mysql":
        # MariaDB's UUID type orders by the last group first: a prefix is not a range there.
        return sa.cast(User.id, sa.String(36)).like(str(low)[:_dashed_length(hex_prefix)] + "%")
    return User.id.between(low, uuid.UUID(hex_prefix.ljust(32, "f")))


def _dashed_length(hex_prefix: str) -> int:
    length = len(hex_prefix)
    return length + sum(1 for boundary in (8, 12, 16, 20) if length > boundary)


def _search_condition(search: Search):
    if search.user_id is not None:
        return User.id == search.user_id
    options = []
    if search.id_prefix:
        options.append(_id_starts_with(search.id_prefix))
    if search.phone_prefix:
        options.append(_starts_with(User.phone, search.phone_prefix))
    if search.email_prefix:
        options.append(_starts_with(User.email, search.email_prefix))
    if search.contains:
        metadata = User.raw_user_meta_data
        options += [
            User.email.contains(search.contains, autoescape=True),
            metadata["full_name"].as_string().icontains(search.contains, autoescape=True),
            metadata["name"].as_string().icontains(search.contains, autoescape=True),
        ]
    return sa.or_(*options)


# --- filters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserFilters:
    """Everything that decides which users are listed and in what order (not the page)."""

    q: str = ""
    state: str = ""
    mfa: str = ""
    provider: str = ""
    created_from: date | None = None
    created_to: date | None = None
    signed_in_from: date | None = None
    signed_in_to: date | None = None
    sort: str = DEFAULT_SORT
    search: Search | None = field(default=None, compare=False, repr=False)

    PARAMS = ("q", "state", "mfa", "provider", "created_from", "created_to", "signed_in_from",
              "signed_in_to", "sort")

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "UserFilters":
        """Read the query string; InvalidSearch names the first value that makes no sense."""
        state = args.get("state", "").strip()
        if state and state not in STATES:
            raise InvalidSearch(f"There is no user state called {state!r}.")
        mfa = args.get("mfa", "").strip()
        if mfa and mfa not in MFA_CHOICES:
            raise InvalidSearch("MFA must be 'yes', 'no' or empty.")
        provider = args.get("provider", "").strip().lower()
        if provider and not _PROVIDER.fullmatch(provider):
            raise InvalidSearch("That is not a provider name.")
        sort = args.get("sort", "").strip() or DEFAULT_SORT
        if sort not in SORTS:
            raise InvalidSearch(f"The list cannot be sorted by {sort!r}.")
        dates = {name: _parse_date(args.get(name, ""), label) for name, label in (
            ("created_from", "Created from"), ("created_to", "Created to"),
            ("signed_in_from", "Signed in from"), ("signed_in_to", "Signed in to"))}
        for start, end, label in (("created_from", "created_to", "creation"),
                                  ("signed_in_from", "signed_in_to", "last sign-in")):
            if dates[start] and dates[end] and dates[start] > dates[end]:
                raise InvalidSearch(f"The {label} range ends before it starts.")
        q = args.get("q", "").strip()
        return cls(q=q, state=state, mfa=mfa, provider=provider, sort=sort,
                   search=Search.parse(q), **dates)

    def to_args(self) -> dict[str, str]:
        """The query string of this view, without defaults (for links and bookmarks)."""
        values = {}
        for name in self.PARAMS:
            value = getattr(self, name)
            if value and not (name == "sort" and value == DEFAULT_SORT):
                values[name] = value.isoformat() if isinstance(value, date) else value
        return values

    @property
    def narrowed(self) -> bool:
        """True if some filter or search leaves users out."""
        return any(name != "sort" and value for name, value in self.to_args().items())

    @property
    def exact_user_id(self) -> uuid.UUID | None:
        return self.search.user_id if self.search else None

    @property
    def sort_spec(self) -> Sort:
        return SORTS[self.sort]

    def conditions(self, now: datetime, unordered: bool = False) -> list:
        """The WHERE clauses of the view.

        ``unordered`` (the count): the MFA and provider filters are written as ``id IN``, so
        the database may start from the few matching factors / identities. A page keeps
        EXISTS, so that it walks the sort's index and checks user after user; given ``IN``,
        SQLite would read and sort every match first (all email users, say).
        """
        conditions = []
        if self.search is not None:
            conditions.append(_search_condition(self.search))
        # The generated confirmed_at is least(email, phone confirmation): NULL when neither.
        confirmed = User.confirmed_at_column.is_not(None)
        pending_invite = sa.and_(User.invited_at.is_not(None), User.email_confirmed_at.is_(None))
        if self.state == "confirmed":
            conditions.append(confirmed)
        elif self.state == "unconfirmed":
            # Signed up and never confirmed: pending invites and anonymous users have their own.
            # (= rather than IS: MariaDB seeks an index on "= false", not on "IS false".)
            conditions += [User.confirmed_at_column.is_(None), User.invited_at.is_(None),
                           User.is_anonymous == sa.false()]
        elif self.state == "invited":
            conditions.append(pending_invite)
        elif self.state == "banned":
            conditions.append(User.banned_until > now)
        elif self.state == "anonymous":
            conditions.append(User.is_anonymous == sa.true())
        if self.mfa == "yes" and unordered:
            conditions.append(User.id.in_(sa.select(Factor.user_id).where(
                Factor.status == FactorStatus.verified)))
        elif self.mfa:
            verified = sa.exists().where(Factor.user_id == User.id,
                                         Factor.status == FactorStatus.verified)
            conditions.append(verified if self.mfa == "yes" else sa.not_(verified))
        if self.provider and unordered:
            conditions.append(User.id.in_(sa.select(Identity.user_id).where(
                Identity.provider == self.provider)))
        elif self.provider:
            conditions.append(sa.exists().where(Identity.user_id == User.id,
                                                Identity.provider == self.provider))
        for column, start, end in ((User.created_at, self.created_from, self.created_to),
                                   (User.last_sign_in_at, self.signed_in_from,
                                    self.signed_in_to)):
            if start:
                conditions.append(column >= _midnight(start))
            if end:
                conditions.append(column < _midnight(end + timedelta(days=1)))
        return conditions


def _parse_date(raw: str, label: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidSearch(f"{label}: {raw[:40]!r} is not a date (YYYY-MM-DD).") from None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def describe(filters: UserFilters) -> dict[str, str]:
    """The filters as plain values, for audit entries."""
    return filters.to_args()
