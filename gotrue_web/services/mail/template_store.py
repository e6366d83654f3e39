"""Which subject and body an email uses, in order of precedence:

1. an operator's template stored in the database (``save``/``reset``), the variant for the
   user's ``user_metadata.locale`` first ("pt-BR", then "pt", then the general one);
2. the GOTRUE_MAILER_TEMPLATES_<KIND> URL (template_urls: fetched, cached, refused when it
   does not render);
3. the built-in template.

Subjects come from the stored row, else GOTRUE_MAILER_SUBJECTS_<KIND>, else the default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ...extensions import db
from ...models import EmailTemplate
from ...runtime import Runtime
from ...settings import Settings
from .. import audit
from . import template_urls
from . import templates as email_templates

MAX_TEMPLATE_BYTES = template_urls.MAX_TEMPLATE_BYTES
_LOCALE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*")
_LOCALE_MAX = 16


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    body: str
    # "database", "url" or "default": where the body came from.
    origin: str


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


def configured(rt: Runtime, kind: str) -> TemplateSource:
    """The template without operator edits: the configured URL or the built-in default."""
    settings = rt.settings
    subject = settings.mailer.subjects.get(kind) or email_templates.DEFAULT_SUBJECTS[kind]
    url = template_urls.template_url(settings, kind)
    body = rt.template_urls.get(url, now=rt.now(), timeout=template_urls.fetch_timeout(settings)) \
        if url else None
    if body is not None:
        return TemplateSource(subject, body, "url")
    return TemplateSource(subject, email_templates.DEFAULT_BODIES[kind], "default")


def builtin(settings: Settings, kind: str) -> TemplateSource:
    subject = settings.mailer.subjects.get(kind) or email_templates.DEFAULT_SUBJECTS[kind]
    return TemplateSource(subject, email_templates.DEFAULT_BODIES[kind], "default")


def resolve(rt: Runtime, kind: str, locale: str = "") -> TemplateSource:
    """The template an email of ``kind`` to a user with ``locale`` uses."""
    row = stored(kind, locale)
    if row is not None:
        return TemplateSource(row.subject, row.body, "database")
    return configured(rt, kind)


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
    check_sources(subject, body)
    email_templates.render(kind, email_templates.SAMPLE_VARIABLES, subject=subject,
                           body=body)
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


def check_sources(subject: str, body: str) -> None:
    if not subject.strip():
        raise email_templates.TemplateSyntaxProblem("the subject is empty")
    if not body.strip():
        raise email_templates.TemplateSyntaxProblem("the body is empty")
    if len(subject.encode()) + len(body.encode()) > MAX_TEMPLATE_BYTES:
        raise email_templates.TemplateSyntaxProblem(
            f"the template is larger than {MAX_TEMPLATE_BYTES // 1024} KiB")
