"""The link and code of each emailed flow: which user column holds its hash, which /verify type
and URL path it uses, and issuing a new one (stored on the user and in one_time_tokens).

``pkce_`` marks tokens of a PKCE flow. Used by the mail flows and by admin-generated links,
which issue a link without sending it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, quote_plus, urljoin, urlsplit, urlunsplit

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
    # What the user row, one_time_tokens and the link carry: the hash, pkce_-prefixed for PKCE.
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
    """429 over_email_send_rate_limit when the flow's last email is under SMTP_MAX_FREQUENCY old."""
    one_time_tokens.check_send_frequency(getattr(user, FLOWS[flow].sent_column),
                                         rt.settings.smtp.max_frequency, rt.now())


def issue(rt: Runtime, user: User, flow: str, address: str, redirect_to: str, *,
          pkce: bool = False) -> IssuedLink:
    """Make a new code for ``flow``, replacing the previous one, and build its link."""
    spec = FLOWS[flow]
    now = rt.now()
    length = rt.settings.mailer.otp_length
    code = codes.generate_otp(length)
    token = codes.token_hash(address, code)
    if pkce:
        token = codes.PKCE_PREFIX + token
    setattr(user, spec.column, token)
    setattr(user, spec.sent_column, now)
    one_time_tokens.store(user, spec.token_type, token, address, now)
    link = verify_url(rt, spec.url_path, token, spec.verify_type, redirect_to) \
        if spec.url_path else ""
    return IssuedLink(flow=flow, code=code, token=token, action_link=link,
                      verify_type=spec.verify_type, redirect_to=redirect_to)
