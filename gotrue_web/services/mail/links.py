"""The link and code of each emailed flow: which user column holds its hash, which /verify type
and URL path it uses, and issuing a new one (stored on the user and in one_time_tokens).

``pkce_`` marks tokens of a PKCE flow. Used by the mail flows and by admin-generated links,
which issue a link without sending it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, quote_plus, urljoin, urlsplit, urlunsplit

import sqlalchemy as sa

from ...db import is_lock_contention
from ...errors import ErrorCode, too_many_requests
from ...extensions import db
from ...models import OneTimeTokenType, User
from ...models.one_time_token import USER_COLUMNS
from ...runtime import Runtime
from ...security import codes
from .. import one_time_tokens


@dataclass(frozen=True)
class _Flow:
    token_type: OneTimeTokenType
    url_path: str | None
    verify_type: str

    @property
    def column(self) -> str:
        return USER_COLUMNS[self.token_type][0]

    @property
    def sent_column(self) -> str:
        return USER_COLUMNS[self.token_type][1]


T = OneTimeTokenType
FLOWS = {
    "confirmation": _Flow(T.confirmation_token, "confirmation", "signup"),
    "invite": _Flow(T.confirmation_token, "invite", "invite"),
    "magic_link": _Flow(T.recovery_token, "recovery", "magiclink"),
    "recovery": _Flow(T.recovery_token, "recovery", "recovery"),
    "email_change_new": _Flow(T.email_change_token_new, "email_change", "email_change"),
    "email_change_current": _Flow(T.email_change_token_current, "email_change", "email_change"),
    "reauthentication": _Flow(T.reauthentication_token, None, "reauthentication"),
}

# The template each flow's email uses.
TEMPLATE_OF = {
    "confirmation": "confirmation", "invite": "invite", "magic_link": "magic_link",
    "recovery": "recovery", "email_change_new": "email_change",
    "email_change_current": "email_change", "reauthentication": "reauthentication",
}


@dataclass(frozen=True)
class IssuedLink:
    flow: str
    code: str
    # The flow's random token (TokenHash, POST /verify's token_hash), pkce_-prefixed for PKCE;
    # only hashes are stored (one_time_tokens.issue).
    token: str
    action_link: str
    verify_type: str
    redirect_to: str


def verify_url(rt: Runtime, path_kind: str, token: str, verify_type: str,
               redirect_to: str) -> str:
    """The link in an email: MAILER_URLPATHS_<kind> resolved against API_EXTERNAL_URL.

    Resolution is RFC 3986, as GoTrue's ResolveReference: with API_EXTERNAL_URL
    http://h/auth/v1, "/verify" gives http://h/verify and "/auth/v1/verify" gives
    http://h/auth/v1/verify. The query replaces any query the path had.
    """
    settings = rt.settings
    path = settings.mailer.url_paths.get(path_kind) or "/verify"
    target = urlsplit(urljoin(settings.api.external_url, path))
    # A plain redirect URL stays readable (as GoTrue writes it); anything else is escaped.
    query = (f"token={quote_plus(token, safe='')}&type={quote_plus(verify_type, safe='')}"
             f"&redirect_to={quote(redirect_to, safe=':/')}")
    return urlunsplit((target.scheme, target.netloc, target.path, query, target.fragment))


def check_frequency(rt: Runtime, user: User, flow: str) -> None:
    """429 over_email_send_rate_limit when the flow's last email is under SMTP_MAX_FREQUENCY old.

    The user's row is locked first and the time re-read, so that of parallel requests for one
    address only the first passes: the others wait for its commit and then see its time.
    """
    lock_user(user)
    one_time_tokens.check_send_frequency(getattr(user, FLOWS[flow].sent_column),
                                         rt.settings.smtp.max_frequency, rt.now())


def lock_user(user: User) -> None:
    """Lock ``user``'s row until the transaction ends and refresh the object from it.

    SELECT ... FOR UPDATE on PostgreSQL and MariaDB. SQLite has no row locks: the connection
    takes the database's write lock (BEGIN IMMEDIATE, see db.configure_engine) with this read
    unless its transaction already holds it. A wait that runs out (another request holds the
    row, typically while it talks to the SMTP server) is a 429: that request is sending.
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        # In place, for this transaction's connection only (SQLAlchemy 2 semantics).
        connection.execution_options(write_lock=True)
    try:
        # Read to the end: rows are loaded, and ``user`` refreshed, as the result is consumed.
        db.session.execute(
            sa.select(User).where(User.id == user.id).with_for_update()
            .execution_options(populate_existing=True)
        ).scalars().all()
    except sa.exc.DBAPIError as error:
        if not is_lock_contention(error):
            raise
        raise too_many_requests(ErrorCode.OVER_EMAIL_SEND_RATE_LIMIT,
                                "For security purposes, you can only request this after "
                                f"{_BUSY_RETRY_SECONDS} seconds.",
                                retry_after=_BUSY_RETRY_SECONDS) from error


# What a request that could not lock the user's row is told to wait.
_BUSY_RETRY_SECONDS = 5


def issue(rt: Runtime, user: User, flow: str, address: str, redirect_to: str, *,
          pkce: bool = False) -> IssuedLink:
    """Make a new code for ``flow``, replacing the previous one, and build its link."""
    spec = FLOWS[flow]
    now = rt.now()
    length = rt.settings.mailer.otp_length
    code = codes.generate_otp(length)
    token, link_token = one_time_tokens.issue(rt, user, spec.token_type, address, code, now,
                                              pkce=pkce)
    setattr(user, spec.sent_column, now)
    link = verify_url(rt, spec.url_path, link_token, spec.verify_type, redirect_to) \
        if spec.url_path else ""
    return IssuedLink(flow=flow, code=code, token=token, action_link=link,
                      verify_type=spec.verify_type, redirect_to=redirect_to)
