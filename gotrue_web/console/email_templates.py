"""Email templates: one editor per template with a sandboxed live preview, test send and reset.

The preview is the email rendered with sample values in the same sandbox that sends mail, and
shown in an ``<iframe sandbox srcdoc>`` whose HTML Jinja escapes into the attribute: the
operator's markup never becomes part of the console's own DOM and none of its scripts run.
"""

from __future__ import annotations

from flask import abort, g, render_template, request, url_for

from ..errors import GoTrueError
from ..extensions import db
from ..runtime import current_runtime
from ..services.mail import log as mail_log
from ..services.mail import template_store as store
from ..services.mail import template_urls
from ..services.mail.templates import KINDS, TemplateSyntaxProblem
from ..settings.mailer import template_variable
from ..transports.mail import MailDeliveryError
from .context import actor, client_ip
from .htmx import done, refused, render_page_or_fragment
from .operations import mail_checks
from .operations import template_editor as editor

LABELS = {
    "confirmation": "Confirm signup",
    "invite": "Invite user",
    "magic_link": "Magic link",
    "recovery": "Reset password",
    "email_change": "Change email address",
    "reauthentication": "Reauthentication",
    "password_changed": "Password changed",
    "email_changed": "Email address changed",
    "phone_changed": "Phone number changed",
    "identity_linked": "Sign-in method linked",
    "identity_unlinked": "Sign-in method removed",
    "mfa_factor_enrolled": "MFA factor added",
    "mfa_factor_unenrolled": "MFA factor removed",
}
PURPOSES = {
    "confirmation": "Sent after sign-up to prove the address belongs to the user.",
    "invite": "Sent when an admin or operator invites someone to create an account.",
    "magic_link": "A sign-in link (and code) for passwordless sign-in.",
    "recovery": "Sent when a user asks to reset a forgotten password.",
    "email_change": "Sent to confirm a change of email address (to the new address, and in "
                    "secure mode to the current one too).",
    "reauthentication": "A code the user types to confirm it is them before a sensitive "
                        "change such as a new password.",
    "password_changed": "Tells the user their password was changed (PUT /user, also after "
                        "a recovery link).",
    "email_changed": "Sent to the old address once a change of email address is confirmed.",
    "phone_changed": "Tells the user a new phone number was confirmed on their account.",
    "identity_linked": "Tells the user a sign-in method (an OAuth provider, a phone) was "
                       "linked to their account.",
    "identity_unlinked": "Tells the user a sign-in method was unlinked (by them or by an "
                         "operator).",
    "mfa_factor_enrolled": "Tells the user a new MFA factor was verified on their account.",
    "mfa_factor_unenrolled": "Tells the user a verified MFA factor was removed (by them, the "
                             "admin API or an operator).",
}
ORIGINS = {"database": "Database", "url": "URL", "default": "Built-in"}
# The preview iframe (srcdoc) inherits this page's policy. Email HTML relies on inline styles
# and remote images, which the editor therefore allows; scripts stay limited to our own files
# (and the sandbox runs none of the preview's at all).
EDITOR_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data: https:; frame-src 'self'; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'self'; object-src 'none'")


def _kind_or_404(kind: str) -> str:
    if kind not in KINDS:
        abort(404, description=f"There is no email template called {kind!r}. "
                               "Pick one from the list of email templates.")
    return kind


def _text(name: str) -> str:
    # Browsers send textarea lines with CRLF; store the template as it was typed.
    return request.form.get(name, "").replace("\r\n", "\n")


def _locale_or_400(value: str | None) -> str:
    normalized = store.normalize_locale(value)
    if value and value.strip() and not normalized:
        abort(400, description=f"{value!r} is not a locale such as \"fr\" or \"pt-BR\".")
    return normalized


def templates():
    rt = current_runtime()
    statuses = editor.overview(rt.settings)
    customised = sum(1 for status in statuses if status.stored or status.variants)
    groups = (("Sign-in and account emails", "auth",
               [status for status in statuses if not status.is_notification]),
              ("Notifications", "notifications",
               [status for status in statuses if status.is_notification]))
    return render_template("console/templates/index.html", section="templates",
                           groups=groups, labels=LABELS, purposes=PURPOSES, origins=ORIGINS,
                           customised=customised, switch=editor.notification_switch)


def _editor(kind: str, locale: str, subject: str, body: str, *, status: int = 200,
            error: str | None = None, fragment: str | None = None,
            status_if_broken: int | None = None):
    """The editor page (or ``fragment`` for htmx) with the preview of ``subject``/``body``;
    ``status_if_broken`` replaces ``status`` when they do not render."""
    rt = current_runtime()
    rendered, preview_error = None, None
    try:
        rendered = editor.preview(rt, kind, subject, body)
    except TemplateSyntaxProblem as exc:
        preview_error = str(exc)
        status = status_if_broken or status
    normalized = store.normalize_locale(locale)
    row = editor.variant(kind, normalized) if normalized or not locale else None
    general = editor.variant(kind, "") if normalized else row
    url = template_urls.template_url(rt.settings, kind)
    overview = [entry for entry in editor.overview(rt.settings) if entry.kind == kind][0]
    response = render_page_or_fragment(
        "console/templates/edit.html", fragment or "console/templates/edit.html", status=status,
        section="templates", kind=kind, label=LABELS[kind], purpose=PURPOSES[kind],
        locale=locale, subject=subject, body=body, row=row, general=general, url=url,
        variants=overview.variants, rendered=rendered, preview_error=preview_error, error=error,
        variables=editor.variables_for(kind), test_to=g.operator.email, origins=ORIGINS,
        mail_enabled=rt.mailer.enabled, url_variable=template_variable(kind),
        notification_on=overview.enabled, switch=editor.notification_switch(kind))
    response.headers["Content-Security-Policy"] = EDITOR_CSP
    return response


def edit(kind: str):
    rt = current_runtime()
    _kind_or_404(kind)
    locale = _locale_or_400(request.args.get("locale"))
    source = store.resolve(rt, kind, locale)
    return _editor(kind, locale, source.subject, source.body)


def preview(kind: str):
    """Render the posted subject and body with sample values (nothing is stored)."""
    _kind_or_404(kind)
    return _editor(kind, request.form.get("locale", "").strip(), _text("subject"),
                   _text("body"), status_if_broken=422,
                   fragment="console/templates/_preview.html")


def save(kind: str):
    rt = current_runtime()
    _kind_or_404(kind)
    locale = request.form.get("locale", "").strip()
    subject, body = _text("subject"), _text("body")
    try:
        row = store.save(kind, subject, body, now=rt.now(), updated_by=g.operator.email,
                         locale=locale, actor=actor(), ip=client_ip())
    except ValueError as exc:
        # TemplateSyntaxProblem too: the form comes back with what was typed and the reason.
        db.session.rollback()
        return _editor(kind, locale, subject, body, status=422,
                       error=f"Not saved: {exc}.")
    db.session.commit()
    where = f" ({row.locale})" if row.locale else ""
    return done(f"Template “{LABELS[kind]}”{where} saved.",
                location=url_for("console.edit", kind=kind, locale=row.locale or None))


def reset(kind: str):
    rt = current_runtime()
    _kind_or_404(kind)
    raw_locale = request.form.get("locale", "").strip()
    locale = store.normalize_locale(raw_locale)
    location = url_for("console.edit", kind=kind, locale=locale or None)
    if raw_locale and not locale:
        return refused(f"{raw_locale!r} is not a locale.", location=location)
    removed = store.reset(kind, locale, actor=actor(), now=rt.now(),
                          ip=client_ip())
    db.session.commit()
    if not removed:
        return done("This template was not customised: nothing to reset.", location=location,
                    kind="warn")
    if locale:
        return done(f"The {locale} variant of “{LABELS[kind]}” was removed.",
                    location=url_for("console.edit", kind=kind))
    return done(f"Template “{LABELS[kind]}” reset to the default.", location=location)


def send_test(kind: str):
    """Send the template (the posted edit when there is one) with sample values."""
    rt = current_runtime()
    _kind_or_404(kind)
    form = request.form
    locale = store.normalize_locale(form.get("locale", ""))
    to = form.get("to", "").strip() or g.operator.email
    edited = "subject" in form and "body" in form
    location = url_for("console.edit", kind=kind, locale=locale or None)
    context = {"fragment": "console/templates/_test_result.html", "location": location,
               "to": to, "result": None}
    try:
        result = mail_checks.send_template_test(
            rt, kind, to, actor(), ip=client_ip(),
            subject=_text("subject") if edited else None,
            body=_text("body") if edited else None, locale=locale)
    except TemplateSyntaxProblem as exc:
        db.session.rollback()
        return refused(f"Not sent: the template does not render: {exc}.", **context)
    except GoTrueError as error:
        # A malformed or unauthorised address.
        db.session.rollback()
        return refused(error.message, **context)
    except MailDeliveryError as exc:
        # Keep the audit entry of the failed attempt (the mail log keeps its own).
        db.session.commit()
        return refused(f"Sending to {to} failed: {exc}", **context)
    db.session.commit()
    context["result"] = result
    if result.status == mail_log.NOT_SENT:
        return done("Not sent: no SMTP server is configured (GOTRUE_SMTP_HOST). The attempt "
                    "is in the mail log.", kind="error", **context)
    return done(f"Test email sent to {result.to}.", **context)
