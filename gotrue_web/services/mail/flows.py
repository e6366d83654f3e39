"""Emails that carry a link and a code: confirmation, invite, magic link, recovery, email change
and reauthentication.

Each email carries a link and code issued by links.issue. Delivering checks, in GoTrue's order,
EXTERNAL_EMAIL_AUTHORIZED_ADDRESSES (400) and the global RATE_LIMIT_EMAIL_SENT budget (429), then
renders the template (stored, URL or built-in, each falling back to the next when it does not
render), sends, and records the attempt in the mail log. A failed send raises 500, so the
caller's transaction rolls back and no half-made user or token is left behind; the mail log
entry survives the rollback.

The flows an anonymous caller can start for any address (``after_response=True``: sign-up,
recovery, magic link, resend, an anonymous user's email change) only queue the email, after the
same checks, so that the answer takes the same time whether or not the address has an account;
it goes out after the answer (outbox), and a failure is then only in the mail log.

With the send_email hook on, the hook gets each email's event instead of the SMTP server
(send_hook.py), at the same moment: sent now, its error is the client's answer as it is;
after the answer, it is a failed mail log entry like an SMTP failure.
"""

from __future__ import annotations

import dataclasses
import math

from ...errors import ErrorCode, GoTrueError, bad_request, internal, too_many_requests
from ...models import OneTimeTokenType, User
from ...runtime import Runtime
from .. import one_time_tokens, send_budgets
from . import log as mail_log
from . import outbox, send_hook
from .links import FLOWS, TEMPLATE_OF, IssuedLink, check_frequency, issue


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


def deliver(rt: Runtime, user: User, issued: IssuedLink, to: str, *,
            failure_message: str, budget_checked: bool = False,
            after_response: bool = False) -> None:
    """Send the email of ``issued`` to ``to`` (or, with ``after_response``, queue it to go out
    after the answer: see outbox) and log the attempt.

    Raises 400 email_address_not_authorized or 429 over_email_send_rate_limit (nothing logged:
    nothing was attempted) either way. Sent now, a failed SMTP exchange raises 500
    ``failure_message`` and a send_email hook's error is raised as it is (either logged as
    failed, so the caller's rollback cannot hide it); sent after the answer, a failure is only
    in the mail log.
    """
    email = _prepare(rt, user, issued, to, budget_checked=budget_checked)
    _dispatch(rt, email, failure_message=failure_message, after_response=after_response)


def _prepare(rt: Runtime, user: User, issued: IssuedLink, to: str, *,
             budget_checked: bool = False, hook_data: dict | None = None) -> outbox.Email:
    """The checks and budgets of one email, and the email (with its send_email hook event,
    ``hook_data`` or the link's own, when the hook is on)."""
    kind = TEMPLATE_OF[issued.flow]
    check_authorized(rt, to)
    if not budget_checked:
        check_budget(rt)
    send_budgets.charge_email(rt, to)
    flow = FLOWS[issued.flow]
    hook_event = None
    if send_hook.enabled(rt):
        hook_event = send_hook.event(user, hook_data or send_hook.email_data(rt, issued))
    return outbox.Email(kind=kind, to=to, variables=_variables(rt, user, issued, to),
                        user_id=user.id, created_at=rt.now(), token_type=flow.token_type,
                        stored_token=getattr(user, flow.column), hook_event=hook_event)


def _dispatch(rt: Runtime, email: outbox.Email, *, failure_message: str,
              after_response: bool) -> None:
    if after_response:
        rt.outbox.put(email)
        return
    error = outbox.send(rt, email)
    if isinstance(error, GoTrueError):
        raise error
    if error is not None:
        raise internal(failure_message, cause=error) from error


# --- one function per email the server sends ----------------------------------------------------


def send_confirmation(rt: Runtime, user: User, redirect_to: str, *, pkce: bool = False,
                      after_response: bool = False) -> None:
    """Signup confirmation link and code (60 s rule on confirmation_sent_at)."""
    check_frequency(rt, user, "confirmation")
    issued = issue(rt, user, "confirmation", user.email, redirect_to, pkce=pkce)
    deliver(rt, user, issued, user.email, failure_message="Error sending confirmation email",
            after_response=after_response)


def send_invite(rt: Runtime, user: User, redirect_to: str, *,
                after_response: bool = False) -> None:
    """Invitation link and code; admins may re-invite at any time."""
    issued = issue(rt, user, "invite", user.email, redirect_to)
    user.invited_at = rt.now()
    deliver(rt, user, issued, user.email, failure_message="Error sending invite email",
            after_response=after_response)


def send_magic_link(rt: Runtime, user: User, redirect_to: str, *, pkce: bool = False,
                    after_response: bool = False) -> None:
    """Sign-in link and code (shares the 60 s rule with recovery)."""
    check_frequency(rt, user, "magic_link")
    issued = issue(rt, user, "magic_link", user.email, redirect_to, pkce=pkce)
    deliver(rt, user, issued, user.email, failure_message="Error sending magic link email",
            after_response=after_response)


def send_recovery(rt: Runtime, user: User, redirect_to: str, *, pkce: bool = False,
                  after_response: bool = False) -> None:
    check_frequency(rt, user, "recovery")
    issued = issue(rt, user, "recovery", user.email, redirect_to, pkce=pkce)
    deliver(rt, user, issued, user.email, failure_message="Error sending recovery email",
            after_response=after_response)


def send_email_change(rt: Runtime, user: User, redirect_to: str, *, pkce: bool = False,
                      check: bool = True, after_response: bool = False) -> None:
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
    current = None
    if issued_current is not None:
        current = _prepare(rt, user, issued_current, user.email, budget_checked=True)
    new = _prepare(rt, user, issued_new, new_email, budget_checked=True,
                   hook_data=send_hook.email_data(rt, issued_new, current=issued_current))
    if new.hook_event is not None:
        # One hook call covers both addresses, as in GoTrue (email_data's crossed tokens).
        new = dataclasses.replace(new, also=(current,) if current else ())
        current = None
    for email in (current, new):
        if email is not None:
            _dispatch(rt, email, failure_message=failure, after_response=after_response)


def withhold_email_change(rt: Runtime, user: User) -> None:
    """What send_email_change does for an address that belongs to another account, when the
    caller must not learn that (an anonymous user): the same checks and pending change, but no
    code is issued and nothing is sent, so the change can never be confirmed."""
    check_frequency(rt, user, "email_change_new")
    check_authorized(rt, user.email_change)
    check_budget(rt)
    # Counted as if sent, so the budgets answer as they would for a free address.
    send_budgets.charge_email(rt, user.email_change)
    one_time_tokens.forget(user, OneTimeTokenType.email_change_token_new,
                           OneTimeTokenType.email_change_token_current)
    user.email_change_sent_at = rt.now()
    user.email_change_confirm_status = 0


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

