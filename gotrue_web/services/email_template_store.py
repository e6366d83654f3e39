"""Which subject and body an email uses, in order of precedence:

1. an operator's template stored in the database (``save``/``reset``), the variant for the
   user's ``user_metadata.locale`` first ("pt-BR", then "pt", then the general one);
2. the GOTRUE_MAILER_TEMPLATES_<KIND> URL, fetched with GET and cached for ten minutes; a
   relative URL is prefixed with SITE_URL as GoTrue does;
3. the built-in template.

Subjects come from the stored row, else GOTRUE_MAILER_SUBJECTS_<KIND>, else the default. A
template URL that cannot be fetched in time, or whose body does not render, leaves the last good
copy in use (or the built-in when there is none) and is retried a minute later, so a broken
template server slows at most one email a minute.
"""

from __future__ import annotations

import http.client
import logging
import re
import threading
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import EmailTemplate
from ..settings import Settings
from . import audit, email_templates

log = logging.getLogger(__name__)

URL_TEMPLATE_TTL = timedelta(minutes=10)
URL_RETRY_AFTER_FAILURE = timedelta(minutes=1)
MAX_TEMPLATE_BYTES = 256 * 1024
_LOCALE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*")
_LOCALE_MAX = 16


# Values used to prove a template renders and to preview it.
SAMPLE_VARIABLES = {
    "SiteURL": "https://app.example.com",
    "ConfirmationURL": "https://auth.example.com/verify?token=pkce_0123abcd&type=signup"
                       "&redirect_to=https://app.example.com",
    "Email": "ada@example.com",
    "NewEmail": "ada.lovelace@example.com",
    "SendingTo": "ada@example.com",
    "Token": "123456",
    "TokenHash": "0123456789abcdef0123456789abcdef0123456789abcdef01234567",
    "Data": {"full_name": "Ada Lovelace", "locale": "en"},
    "RedirectTo": "https://app.example.com/welcome",
}


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    body: str
    # "database", "url" or "default": where the body came from.
    origin: str


@dataclass
class _CachedTemplate:
    body: str | None
    fetched_at: datetime | None
    failed_at: datetime | None = None


class TemplateURLCache:
    """Fetched template bodies by URL, for one app. Times come from the app's clock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries: dict[str, _CachedTemplate] = {}

    def get(self, url: str, *, now: datetime, timeout: float) -> str | None:
        with self.lock:
            cached = self.entries.get(url)
        if cached is not None and (_within(cached.fetched_at, now, URL_TEMPLATE_TTL)
                                   or _within(cached.failed_at, now, URL_RETRY_AFTER_FAILURE)):
            return cached.body
        try:
            body = _fetch(url, timeout)
        except (OSError, ValueError, http.client.HTTPException,
                email_templates.TemplateSyntaxProblem) as exc:
            log.warning("email template %s unusable, %s: %s", url,
                        "keeping the last good copy" if cached and cached.body
                        else "using the built-in", exc)
            with self.lock:
                self.entries[url] = _CachedTemplate(
                    body=cached.body if cached else None,
                    fetched_at=cached.fetched_at if cached else None, failed_at=now)
            return cached.body if cached else None
        with self.lock:
            self.entries[url] = _CachedTemplate(body=body, fetched_at=now)
        return body


def _within(moment: datetime | None, now: datetime, period: timedelta) -> bool:
    return moment is not None and timedelta(0) <= now - moment < period


def _fetch(url: str, timeout: float) -> str:
    """GET ``url``; raises on errors, non-2xx answers, oversize or non-rendering bodies."""
    request = urllib.request.Request(url, headers={"Accept": "text/html, text/plain, */*"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 http(s) only
        body = response.read(MAX_TEMPLATE_BYTES + 1)
    if len(body) > MAX_TEMPLATE_BYTES:
        raise ValueError(f"template larger than {MAX_TEMPLATE_BYTES // 1024} KiB")
    text = body.decode("utf-8")
    # Refuse a body that cannot render here rather than on a user's email.
    email_templates.render("confirmation", SAMPLE_VARIABLES, subject="", body=text)
    return text


def _url_cache() -> TemplateURLCache:
    return current_app.extensions.setdefault("gotrue_email_template_cache", TemplateURLCache())


def template_url(settings: Settings, kind: str) -> str | None:
    """The absolute URL of GOTRUE_MAILER_TEMPLATES_<KIND>; a relative one follows SITE_URL."""
    url = (settings.mailer.templates.get(kind) or "").strip()
    if not url:
        return None
    if urlsplit(url).scheme.lower() in ("http", "https"):
        return url
    if urlsplit(url).scheme:
        log.warning("email template URL %s ignored: only http and https are fetched", url)
        return None
    return settings.site_url.rstrip("/") + "/" + url.lstrip("/")


def normalize_locale(locale: object) -> str:
    """"pt_BR" and "PT-br" both become "pt-br"; anything that is not a locale becomes ""."""
    if not isinstance(locale, str):
        return ""
    value = locale.strip().lower().replace("_", "-")
    return value if len(value) <= _LOCALE_MAX and _LOCALE.fullmatch(value) else ""


def _locale_chain(locale: str) -> list[str]:
    """"pt-br" -> ["pt-br", "pt", ""]: the most specific stored variant wins."""
    normalized = normalize_locale(locale)
    parts = normalized.split("-") if normalized else []
    chain = ["-".join(parts[:size]) for size in range(len(parts), 0, -1)]
    return [*chain, ""]


def stored(kind: str, locale: str = "") -> EmailTemplate | None:
    """The operator's template for ``kind``: the locale's variant first, then the general one."""
    chain = _locale_chain(locale)
    rows = db.session.execute(
        sa.select(EmailTemplate).where(EmailTemplate.kind == kind,
                                       EmailTemplate.locale.in_(chain))
    ).scalars().all()
    by_locale = {row.locale: row for row in rows}
    return next((by_locale[name] for name in chain if name in by_locale), None)


def _timeout(settings: Settings) -> float:
    # Fetching a template is part of sending the email: the SMTP timeout bounds it too.
    seconds = settings.smtp.timeout.total_seconds() if settings.smtp.timeout else 0
    return seconds if seconds > 0 else 10.0


def configured(settings: Settings, kind: str, *, now: datetime) -> TemplateSource:
    """The template without operator edits: the configured URL or the built-in default."""
    subject = settings.mailer.subjects.get(kind) or email_templates.DEFAULT_SUBJECTS[kind]
    url = template_url(settings, kind)
    body = _url_cache().get(url, now=now, timeout=_timeout(settings)) if url else None
    if body is not None:
        return TemplateSource(subject, body, "url")
    return TemplateSource(subject, email_templates.DEFAULT_BODIES[kind], "default")


def builtin(settings: Settings, kind: str) -> TemplateSource:
    subject = settings.mailer.subjects.get(kind) or email_templates.DEFAULT_SUBJECTS[kind]
    return TemplateSource(subject, email_templates.DEFAULT_BODIES[kind], "default")


def resolve(settings: Settings, kind: str, locale: str = "", *,
            now: datetime) -> TemplateSource:
    """The template an email of ``kind`` to a user with ``locale`` uses."""
    row = stored(kind, locale)
    if row is not None:
        return TemplateSource(row.subject, row.body, "database")
    return configured(settings, kind, now=now)


def save(kind: str, subject: str, body: str, *, now: datetime, updated_by: str,
         locale: str = "", actor: audit.Actor | None = None, ip: str = "") -> EmailTemplate:
    """Store an operator's template after proving it renders (flushes, never commits).

    With ``actor``, writes an "email_template_updated" audit entry. Raises ValueError for an
    unknown kind or locale, TemplateSyntaxProblem (a ValueError) for a subject or body that is
    empty, too large or does not render.
    """
    if kind not in email_templates.KINDS:
        raise ValueError(f"unknown email template {kind!r}")
    normalized = normalize_locale(locale)
    if locale and not normalized:
        raise ValueError(f"not a locale: {locale!r}")
    _check_sources(subject, body)
    email_templates.render(kind, SAMPLE_VARIABLES, subject=subject, body=body)
    row = db.session.execute(
        sa.select(EmailTemplate).where(EmailTemplate.kind == kind,
                                       EmailTemplate.locale == normalized)
    ).scalar_one_or_none()
    if row is None:
        row = EmailTemplate(kind=kind, locale=normalized)
        db.session.add(row)
    row.subject, row.body, row.updated_at, row.updated_by = subject, body, now, updated_by
    db.session.flush()
    if actor is not None:
        audit.record("email_template_updated", actor, now=now, ip=ip,
                     traits={"template": kind, "locale": normalized})
    return row


def reset(kind: str, locale: str = "", *, actor: audit.Actor | None = None,
          now: datetime | None = None, ip: str = "") -> bool:
    """Forget the operator's template so the configured default applies again.

    Returns whether there was one. With ``actor`` (and ``now``), a removal writes an
    "email_template_reset" audit entry.
    """
    normalized = normalize_locale(locale)
    result = db.session.execute(
        sa.delete(EmailTemplate).where(EmailTemplate.kind == kind,
                                       EmailTemplate.locale == normalized),
        execution_options={"synchronize_session": False},
    )
    removed = bool(result.rowcount)
    if removed and actor is not None:
        audit.record("email_template_reset", actor, now=now, ip=ip,
                     traits={"template": kind, "locale": normalized})
    return removed


# --- the console's editor -------------------------------------------------------------------------

# The names a template can use, with what they hold, in the order the editor lists them.
VARIABLES = (
    ("ConfirmationURL", "The link that completes the action: the verify URL with its token, "
                        "type and redirect_to. Empty in reauthentication emails."),
    ("Token", "The one-time code to type instead of following the link."),
    ("TokenHash", "The hashed token, to build your own link, e.g. "
                  "{{ .SiteURL }}/auth/confirm?token_hash={{ .TokenHash }}&type=email"),
    ("SiteURL", "GOTRUE_SITE_URL."),
    ("Email", "The user's current email address."),
    ("NewEmail", "The address being changed to (email change only)."),
    ("Data", "The user's user_metadata, e.g. {{ .Data.full_name }}."),
    ("RedirectTo", "Where the user lands after following the link."),
    ("SendingTo", "The address this email goes to."),
)
# What each template's link asks /verify to do (reauthentication has a code only).
_VERIFY_TYPES = {"confirmation": ("confirmation", "signup"), "invite": ("invite", "invite"),
                 "magic_link": ("recovery", "magiclink"), "recovery": ("recovery", "recovery"),
                 "email_change": ("email_change", "email_change")}
SAMPLE_ADDRESS = "ada@example.com"
SAMPLE_NEW_ADDRESS = "ada.lovelace@example.com"


def _check_sources(subject: str, body: str) -> None:
    if not subject.strip():
        raise email_templates.TemplateSyntaxProblem("the subject is empty")
    if not body.strip():
        raise email_templates.TemplateSyntaxProblem("the body is empty")
    if len(subject.encode()) + len(body.encode()) > MAX_TEMPLATE_BYTES:
        raise email_templates.TemplateSyntaxProblem(
            f"the template is larger than {MAX_TEMPLATE_BYTES // 1024} KiB")


def sample_variables(rt, kind: str) -> dict:
    """Realistic values for previews and test emails of ``kind``: this server's SITE_URL and
    link format, a code of the configured length, a made-up user."""
    from . import mail_flows, otp

    settings = rt.settings
    address = SAMPLE_ADDRESS
    code = ("1234567890" * 2)[:settings.mailer.otp_length]
    token = otp.token_hash(address, code)
    link = ""
    if kind in _VERIFY_TYPES:
        path_kind, verify_type = _VERIFY_TYPES[kind]
        link = mail_flows.verify_url(rt, path_kind, token, verify_type, settings.site_url)
    return {
        "SiteURL": settings.site_url,
        "ConfirmationURL": link,
        "Email": address,
        "NewEmail": SAMPLE_NEW_ADDRESS if kind == "email_change" else "",
        "SendingTo": SAMPLE_NEW_ADDRESS if kind == "email_change" else address,
        "Token": code,
        "TokenHash": token,
        "Data": {"full_name": "Ada Lovelace", "locale": "en"},
        "RedirectTo": settings.site_url,
    }


def preview(rt, kind: str, subject: str, body: str) -> email_templates.RenderedEmail:
    """``subject`` and ``body`` rendered in the sandbox with sample values (no side effects).

    Raises TemplateSyntaxProblem, whose message names the problem and its line.
    """
    _check_sources(subject, body)
    return email_templates.render(kind, sample_variables(rt, kind), subject=subject, body=body)


def variant(kind: str, locale: str = "") -> EmailTemplate | None:
    """The stored row for exactly ``kind`` and ``locale`` (no fallback to the general one)."""
    return db.session.execute(
        sa.select(EmailTemplate).where(EmailTemplate.kind == kind,
                                       EmailTemplate.locale == normalize_locale(locale))
    ).scalar_one_or_none()


@dataclass(frozen=True)
class TemplateStatus:
    """Where a template stands, for the console's list (no URL is fetched to build it)."""

    kind: str
    # "database", "url" or "default": where the body of the general template comes from.
    origin: str
    subject: str
    url: str | None
    stored: EmailTemplate | None
    # Stored per-locale variants, by locale.
    variants: tuple[EmailTemplate, ...]


def overview(settings: Settings) -> list[TemplateStatus]:
    """Every template kind with its origin, subject, last edit and locale variants (read only)."""
    rows = db.session.execute(
        sa.select(EmailTemplate).order_by(EmailTemplate.kind, EmailTemplate.locale)
    ).scalars().all()
    statuses = []
    for kind in email_templates.KINDS:
        mine = [row for row in rows if row.kind == kind]
        general = next((row for row in mine if row.locale == ""), None)
        url = template_url(settings, kind)
        origin = "database" if general else ("url" if url else "default")
        subject = general.subject if general else (
            settings.mailer.subjects.get(kind) or email_templates.DEFAULT_SUBJECTS[kind])
        statuses.append(TemplateStatus(
            kind=kind, origin=origin, subject=subject, url=url, stored=general,
            variants=tuple(row for row in mine if row.locale)))
    return statuses
