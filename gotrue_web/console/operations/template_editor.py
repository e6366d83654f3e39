"""The console's template editor: the names a template can use, realistic sample values,
the sandboxed preview, and the overview of every template with its origin and variants (the
emails with a link or code, then the account-change notifications with their switches)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ...extensions import db
from ...models import EmailTemplate
from ...runtime import Runtime
from ...security import codes
from ...services.mail import links, template_urls
from ...services.mail import templates as email_templates
from ...services.mail.template_store import check_sources, normalize_locale
from ...settings import Settings

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
# The names a notification can use: the common ones, then each kind's own.
_NOTIFICATION_COMMON = (
    ("Email", "The user's email address (after the change)."),
    ("SiteURL", "GOTRUE_SITE_URL."),
    ("Data", "The user's user_metadata, e.g. {{ .Data.full_name }}."),
    ("SendingTo", "The address this email goes to."),
)
_NOTIFICATION_OWN = {
    "email_changed": (("OldEmail", "The address before the change; the email goes there "
                                   "(Email is the new one)."),),
    "phone_changed": (("Phone", "The new phone number (digits, no +)."),
                      ("OldPhone", "The number before the change (empty if there was none).")),
    "identity_linked": (("Provider", "The sign-in method linked: github, google, phone, ..."),),
    "identity_unlinked": (("Provider", "The sign-in method removed. The email goes to the "
                                       "address that identity carried (else the "
                                       "account's)."),),
    "mfa_factor_enrolled": (("FactorType", "The kind of factor: totp or phone."),),
    "mfa_factor_unenrolled": (("FactorType", "The kind of factor: totp or phone."),),
}
_SAMPLE_OLD_PHONE, _SAMPLE_PHONE = "15550002222", "15550001111"


def variables_for(kind: str) -> tuple[tuple[str, str], ...]:
    """The names ``kind``'s template can use, with what they hold."""
    if kind in email_templates.NOTIFICATION_KINDS:
        return (*_NOTIFICATION_COMMON, *_NOTIFICATION_OWN.get(kind, ()))
    return VARIABLES


# What each template's link asks /verify to do (reauthentication has a code only).
_VERIFY_TYPES = {"confirmation": ("confirmation", "signup"), "invite": ("invite", "invite"),
                 "magic_link": ("recovery", "magiclink"), "recovery": ("recovery", "recovery"),
                 "email_change": ("email_change", "email_change")}
SAMPLE_ADDRESS = "ada@example.com"
SAMPLE_NEW_ADDRESS = "ada.lovelace@example.com"


def sample_variables(rt: Runtime, kind: str) -> dict:
    """Realistic values for previews and test emails of ``kind``: this server's SITE_URL and
    link format, a code of the configured length, a made-up user."""
    settings = rt.settings
    address = SAMPLE_ADDRESS
    code = ("1234567890" * 2)[:settings.mailer.otp_length]
    token = codes.token_hash(address, code)
    link = ""
    if kind in _VERIFY_TYPES:
        path_kind, verify_type = _VERIFY_TYPES[kind]
        link = links.verify_url(rt, path_kind, token, verify_type, settings.site_url)
    values = {
        "SiteURL": settings.site_url,
        "ConfirmationURL": link,
        "Email": address,
        "NewEmail": SAMPLE_NEW_ADDRESS if kind == "email_change" else "",
        "SendingTo": SAMPLE_NEW_ADDRESS if kind == "email_change" else address,
        "Token": code,
        "TokenHash": token,
        "Data": {"full_name": "Ada Lovelace", "locale": "en"},
        "RedirectTo": settings.site_url,
        "OldEmail": "", "Phone": "", "OldPhone": "", "Provider": "", "FactorType": "",
    }
    if kind in email_templates.NOTIFICATION_KINDS:
        # A notification carries no link or code.
        values.update(ConfirmationURL="", Token="", TokenHash="", RedirectTo="")
        values.update({
            "email_changed": {"Email": SAMPLE_NEW_ADDRESS, "OldEmail": address},
            "phone_changed": {"Phone": _SAMPLE_PHONE, "OldPhone": _SAMPLE_OLD_PHONE},
            "identity_linked": {"Provider": "github"},
            "identity_unlinked": {"Provider": "github"},
            "mfa_factor_enrolled": {"FactorType": "totp"},
            "mfa_factor_unenrolled": {"FactorType": "totp"},
        }.get(kind, {}))
    return values


def preview(rt: Runtime, kind: str, subject: str, body: str) -> email_templates.RenderedEmail:
    """``subject`` and ``body`` rendered in the sandbox with sample values (no side effects).

    Raises TemplateSyntaxProblem, whose message names the problem and its line.
    """
    check_sources(subject, body)
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
    # A notification's GOTRUE_MAILER_NOTIFICATIONS_<KIND>_ENABLED; None for the other emails.
    enabled: bool | None = None

    @property
    def is_notification(self) -> bool:
        return self.enabled is not None


def overview(settings: Settings) -> list[TemplateStatus]:
    """Every template kind with its origin, subject, last edit and locale variants (read only)."""
    rows = db.session.execute(
        sa.select(EmailTemplate).order_by(EmailTemplate.kind, EmailTemplate.locale)
    ).scalars().all()
    statuses = []
    for kind in email_templates.KINDS:
        mine = [row for row in rows if row.kind == kind]
        general = next((row for row in mine if row.locale == ""), None)
        url = template_urls.template_url(settings, kind)
        origin = "database" if general else ("url" if url else "default")
        subject = general.subject if general else (
            settings.mailer.subjects.get(kind) or email_templates.DEFAULT_SUBJECTS[kind])
        notification = kind in email_templates.NOTIFICATION_KINDS
        statuses.append(TemplateStatus(
            kind=kind, origin=origin, subject=subject, url=url, stored=general,
            variants=tuple(row for row in mine if row.locale),
            enabled=settings.mailer.notifications.enabled(kind) if notification else None))
    return statuses


def notification_switch(kind: str) -> str:
    """GOTRUE_MAILER_NOTIFICATIONS_<KIND>_ENABLED."""
    return f"GOTRUE_MAILER_NOTIFICATIONS_{kind.upper()}_ENABLED"
