"""Emails that carry a link and a code: confirmation, invite, magic link, recovery, email change
and reauthentication.

Each email carries a link and code issued by links.issue. Delivering checks, in GoTrue's order,
EXTERNAL_EMAIL_AUTHORIZED_ADDRESSES (400) and the global RATE_LIMIT_EMAIL_SENT budget (429), then
renders the template (stored, URL or built-in, each falling back to the next when it does not
render), sends, and records the attempt in the mail log. A failed send raises 500, so the
caller's transaction rolls back and no half-made user or token is left behind; the mail log
entry survives the rollback.
"""

from __future__ import annotations

import logging
import math

from ...errors import ErrorCode, bad_request, internal, too_many_requests
from ...models import OneTimeTokenType, User
from ...runtime import Runtime
from ...transports.mail import MailDeliveryError, OutgoingMail
from .. import one_time_tokens
from . import log as mail_log
from . import template_store as email_template_store
from . import templates as email_templates
from .links import TEMPLATE_OF, IssuedLink, check_frequency, issue

log = logging.getLogger(__name__)


def check_budget(rt: Runtime) -> None:
    """The global GOTRUE_RATE_LIMIT_EMAIL_SENT budget, shared by every process (mail log).

    As in GoTrue, a budget of 0 refuses every email, and otherwise MAILER_AUTOCONFIRM turns the
    budget off. Attempts of every status count (see mail_log.budget_wait).
    """
    settings = rt.settings
    allowed, _ = mail_log.parse_budget(settings.rate_limit.email_sent)
    if allowed > 0 and settings.mailer.autoconfirm:
        return
    wait = mail_log.budget_wait(rt.mail_log, settings.rate_limit.email_sent, rt.now())
    if wait is None:
        return
    retry_after = None if math.isinf(wait) else max(1, math.ceil(wait))
    raise too_many_requests(ErrorCode.OVER_EMAIL_SEND_RATE_LIMIT, "email rate limit exceeded",
                            retry_after=retry_after)


def check_authorized(rt: Runtime, address: str) -> None:
    """GOTRUE_EXTERNAL_EMAIL_AUTHORIZED_ADDRESSES: when set, mail only goes to those addresses."""
    allowed = rt.settings.external.email.authorized_addresses
    if allowed and address.lower() not in {item.lower() for item in allowed}:
        raise bad_request(ErrorCode.EMAIL_ADDRESS_NOT_AUTHORIZED,
                          f'Email address "{address}" cannot be used as it is not authorized')


def _variables(rt: Runtime, user: User, issued: IssuedLink, to: str) -> dict:
    """What GoTrue hands its templates (a superset: every kind gets every name)."""
    metadata = user.raw_user_meta_data if isinstance(user.raw_user_meta_data, dict) else {}
    return {
        "SiteURL": rt.settings.site_url,
        "ConfirmationURL": issued.action_link,
        "Email": user.email or "",
        "NewEmail": user.email_change or "",
        "SendingTo": to,
        "Token": issued.code,
        "TokenHash": issued.token,
        "Data": metadata,
        "RedirectTo": issued.redirect_to,
    }


def _render(rt: Runtime, kind: str, variables: dict) -> email_templates.RenderedEmail:
    """Render with the stored, configured or built-in template, falling back down that list
    when one does not render (logged: the operator has a broken template to fix)."""
    settings = rt.settings
    locale = email_template_store.normalize_locale(variables["Data"].get("locale"))
    source = email_template_store.resolve(rt, kind, locale)
    while True:
        try:
            return email_templates.render(kind, variables, subject=source.subject,
                                          body=source.body)
        except email_templates.TemplateSyntaxProblem as exc:
            log.error("email template %s (%s) does not render, falling back: %s",
                      kind, source.origin, exc)
        if source.origin == "database":
            source = email_template_store.configured(rt, kind)
        elif source.origin == "url":
            source = email_template_store.builtin(settings, kind)
        else:
            # Only a configured subject can break the built-in: use the stock one.
            return email_templates.render(kind, variables)


def deliver(rt: Runtime, user: User, issued: IssuedLink, to: str, *,
            failure_message: str, budget_checked: bool = False) -> None:
    """Render and send the email of ``issued`` to ``to`` and log the attempt.

    Raises 400 email_address_not_authorized, 429 over_email_send_rate_limit (nothing logged:
    nothing was attempted) or, when the SMTP exchange fails, 500 ``failure_message`` (logged
    as failed, so the caller's rollback cannot hide it).
    """
    kind = TEMPLATE_OF[issued.flow]
    check_authorized(rt, to)
    if not budget_checked:
        check_budget(rt)
    rendered = _render(rt, kind, _variables(rt, user, issued, to))
    entry = {"now": rt.now(), "template": kind, "recipient": to, "subject": rendered.subject,
             "user_id": user.id}
    try:
        sent = rt.mailer.send(OutgoingMail(to=to, subject=rendered.subject,
                                           html=rendered.html, template=kind))
    except MailDeliveryError as exc:
        rt.mail_log.record(**entry, status=mail_log.FAILED, error=str(exc))
        log.warning("mail delivery failed: template=%s error=%s", kind, exc)
        raise internal(failure_message, cause=exc) from exc
    rt.mail_log.record(**entry, status=mail_log.SENT if sent else mail_log.NOT_SENT)


# --- one function per email the server sends ----------------------------------------------------


def send_confirmation(rt: Runtime, user: User, redirect_to: str, *, pkce: bool = False) -> None:
    """Signup confirmation link and code (60 s rule on confirmation_sent_at)."""
    check_frequency(rt, user, "confirmation")
    issued = issue(rt, user, "confirmation", user.email, redirect_to, pkce=pkce)
    deliver(rt, user, issued, user.email, failure_message="Error sending confirmation email")


def send_invite(rt: Runtime, user: User, redirect_to: str) -> None:
    """Invitation link and code; admins may re-invite at any time."""
    issued = issue(rt, user, "invite", user.email, redirect_to)
    user.invited_at = rt.now()
    deliver(rt, user, issued, user.email, failure_message="Error sending invite email")


def send_magic_link(rt: Runtime, user: User, redirect_to: str, *, pkce: bool = False) -> None:
    """Sign-in link and code (shares the 60 s rule with recovery)."""
    check_frequency(rt, user, "magic_link")
    issued = issue(rt, user, "magic_link", user.email, redirect_to, pkce=pkce)
    deliver(rt, user, issued, user.email, failure_message="Error sending magic link email")


def send_recovery(rt: Runtime, user: User, redirect_to: str, *, pkce: bool = False) -> None:
    check_frequency(rt, user, "recovery")
    issued = issue(rt, user, "recovery", user.email, redirect_to, pkce=pkce)
    deliver(rt, user, issued, user.email, failure_message="Error sending recovery email")


def send_email_change(rt: Runtime, user: User, redirect_to: str, *, pkce: bool = False,
                      check: bool = True) -> None:
    """Confirmation of a pending email change: to the new address, and in secure mode also to
    the current one (both links are then needed)."""
    if check:
        check_frequency(rt, user, "email_change_new")
    new_email = user.email_change
    issued_new = issue(rt, user, "email_change_new", new_email, redirect_to, pkce=pkce)
    issued_current = None
    if secure_email_change(rt, user):
        issued_current = issue(rt, user, "email_change_current", user.email, redirect_to,
                               pkce=pkce)
    else:
        one_time_tokens.forget(user, OneTimeTokenType.email_change_token_current)
    user.email_change_confirm_status = 0
    failure = "Error sending email change email"
    # Refuse before the first message rather than between the two.
    check_authorized(rt, new_email)
    if issued_current is not None:
        check_authorized(rt, user.email)
    check_budget(rt)
    if issued_current is not None:
        deliver(rt, user, issued_current, user.email, failure_message=failure,
                budget_checked=True)
    deliver(rt, user, issued_new, new_email, failure_message=failure, budget_checked=True)


def secure_email_change(rt: Runtime, user: User) -> bool:
    """Both addresses must confirm when the user has a current email and autoconfirm is off."""
    settings = rt.settings.mailer
    return bool(settings.secure_email_change_enabled and user.email and not settings.autoconfirm)


def send_reauthentication(rt: Runtime, user: User) -> None:
    """A code to type as ``nonce`` in PUT /user (60 s rule)."""
    check_frequency(rt, user, "reauthentication")
    issued = issue(rt, user, "reauthentication", user.email, "")
    deliver(rt, user, issued, user.email,
            failure_message="Error sending reauthentication email")

