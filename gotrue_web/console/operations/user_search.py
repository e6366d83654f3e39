"""The console's user list: search, filters, sorts, keyset pagination and a capped count.

Pages are found by keyset (the sort value and the id of the last row shown), never by OFFSET,
so page 20,000 costs what page 1 costs. Rows without a sort value (no last sign-in, no email)
come after all the others in both directions; each of the two groups is read with its own
index range scan, which every database can do without NULLS FIRST/LAST support.

Also the export (all rows of a filtered view, read in keyset batches) and the indexes the
queries need (migration 0004_user_search_indexes creates them).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from ...extensions import db
from ...models import Factor, FactorStatus, Identity, User
from ...settings import EXTERNAL_PROVIDERS

# Indexes behind the sorts and the selective filters; the keyset scans walk them in order.
# (email, id) exists besides the unique email index because that index is partial on
# PostgreSQL and SQLite (non-SSO users only) and so cannot serve a list of every user; MariaDB
# does not use the primary key hidden at the end of its unique index for ORDER BY email, id
# (it sorts all users instead).
SEARCH_INDEXES = (
    sa.Index("users_created_at_id_idx", User.created_at, User.id),
    sa.Index("users_last_sign_in_at_id_idx", User.last_sign_in_at, User.id),
    sa.Index("users_email_id_idx", User.email, User.id),
    sa.Index("users_banned_until_idx", User.banned_until),
    sa.Index("users_invited_at_idx", User.invited_at),
    # confirmed_at is NULL for users who confirmed nothing; with the other two columns the
    # whole "unconfirmed" condition is one index range.
    sa.Index("users_confirmation_state_idx", User.confirmed_at_column, User.invited_at,
             User.is_anonymous),
    # The provider filter: a rare provider's users are found from its identities.
    sa.Index("identities_provider_user_id_idx", Identity.provider, Identity.user_id),
    # PostgreSQL turns LIKE 'prefix%' into an index range only with the C collation or a
    # pattern_ops index; databases are usually created with another (C.UTF-8, en_US.UTF-8).
    sa.Index("users_email_pattern_idx", User.email,
             postgresql_ops={"email": "varchar_pattern_ops"}).ddl_if(dialect="postgresql"),
    sa.Index("users_phone_pattern_idx", User.phone,
             postgresql_ops={"phone": "text_pattern_ops"}).ddl_if(dialect="postgresql"),
)

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
            conditions += [User.confirmed_at_column.is_(None), User.invited_at.is_(None),
                           User.is_anonymous.is_(False)]
        elif self.state == "invited":
            conditions.append(pending_invite)
        elif self.state == "banned":
            conditions.append(User.banned_until > now)
        elif self.state == "anonymous":
            conditions.append(User.is_anonymous.is_(True))
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


# --- reading pages ---------------------------------------------------------------------------------


@dataclass
class ListedUser:
    user: User
    providers: list[str]
    has_mfa: bool

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


def _read(conditions: list, sort: Sort, cursor: Cursor | None, forward: bool,
          limit: int) -> list[User]:
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
        found += db.session.execute(statement).scalars().all()
        if len(found) >= limit:
            break
    return found


def _listed(users: list[User]) -> list[ListedUser]:
    """The users with their providers and whether they have a verified MFA factor."""
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
    return [ListedUser(user, sorted(providers.get(user.id, ())), user.id in with_mfa)
            for user in users]


def find_page(filters: UserFilters, page: PageRequest, now: datetime) -> UserPage:
    """One page of the filtered list, found by keyset from the page's cursor."""
    sort, limit = filters.sort_spec, page.per_page
    conditions = filters.conditions(now)
    if page.before is not None:
        rows = _read(conditions, sort, page.before, False, limit + 1)
        if len(rows) > limit:
            rows = list(reversed(rows[:limit]))
            return UserPage(_listed(rows), sort, limit, next_cursor=Cursor.of(sort, rows[-1]),
                            prev_cursor=Cursor.of(sort, rows[0]), is_first=False)
        # Fewer rows than a page before the cursor: that is the first page; show it whole.
        page = PageRequest(per_page=limit)
    rows = _read(conditions, sort, page.after, True, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    result = UserPage(_listed(rows), sort, limit, is_first=page.after is None)
    if more:
        result.next_cursor = Cursor.of(sort, rows[-1])
    if page.after is not None and rows:
        result.prev_cursor = Cursor.of(sort, rows[0])
    elif page.after is not None:
        # Past the end (rows deleted meanwhile): "previous" shows the page ending at the cursor.
        earlier = _read(conditions, sort, page.after, False, limit)
        if len(earlier) == limit:
            result.back_after = Cursor.of(sort, earlier[-1])
    return result


@dataclass(frozen=True)
class Total:
    value: int
    # True: there are more than ``value`` users (counting stopped at the cap).
    capped: bool = False


def count(filters: UserFilters, now: datetime, cap: int | None = COUNT_CAP) -> Total:
    """How many users the filters match, counting at most ``cap + 1`` (None: all of them)."""
    conditions = filters.conditions(now, unordered=True)
    if cap is None:
        statement = sa.select(sa.func.count()).select_from(User).where(*conditions)
        return Total(db.session.execute(statement).scalar_one())
    matching = sa.select(User.id).where(*conditions).limit(cap + 1).subquery()
    found = db.session.execute(sa.select(sa.func.count()).select_from(matching)).scalar_one()
    return Total(cap, capped=True) if found > cap else Total(found)


def iter_batches(filters: UserFilters, now: datetime,
                 batch: int | None = None) -> Iterator[list[ListedUser]]:
    """Every user of the filtered view in sort order, ``batch`` at a time (for exports).

    Each batch is one keyset read; its users leave the session once handed out, so memory
    stays flat whatever the size of the view.
    """
    sort, conditions = filters.sort_spec, filters.conditions(now)
    batch = batch or EXPORT_BATCH
    cursor = None
    while True:
        users = _read(conditions, sort, cursor, True, batch)
        if not users:
            return
        listed = _listed(users)
        cursor = Cursor.of(sort, users[-1])
        for user in users:
            db.session.expunge(user)
        yield listed
        if len(users) < batch:
            return


def describe(filters: UserFilters) -> dict[str, str]:
    """The filters as plain values, for audit entries."""
    return filters.to_args()

