"""Account-change notifications: an email telling the user that their password, email address,
phone number, sign-in methods or MFA factors changed (GoTrue's MAILER_NOTIFICATIONS_*).

Each kind has its switch, GOTRUE_MAILER_NOTIFICATIONS_<KIND>_ENABLED (off by default), and its
template like any email (stored, GOTRUE_MAILER_TEMPLATES_<KIND>_NOTIFICATION, built-in). The
flow that makes the change calls ``notify`` where it makes it; the email is a mail outbox row
of the same transaction, so it goes out only once the change is committed, and nothing about
it (an unauthorised address, the global email budget, SMTP, the send_email hook) can fail or
undo the change: a refusal or a failed send is a ``failed`` mail log entry. Creating a user
(admin API, console) never calls it, nor do operators' edits of a user's password, email or
phone; their removal of an MFA factor or an identity does.

A user without an address gets nothing. The values: SiteURL, Email (the user's address after
the change), Data (user_metadata), SendingTo, and per kind OldEmail (email change: sent to
the old address), Phone and OldPhone (phone change), Provider (identity linked, unlinked) and
FactorType (MFA factor enrolled, unenrolled).
"""

from __future__ import annotations

import logging

from ...errors import GoTrueError
from ...models import User
from ...runtime import Runtime
from ...settings.mailer import NOTIFICATION_KINDS
from . import flows, send_hook
from . import log as mail_log
from .outbox import Email

log = logging.getLogger(__name__)

KINDS = NOTIFICATION_KINDS
# The values only some kinds fill in (empty in the others, as in GoTrue).
_EXTRA = ("OldEmail", "Phone", "OldPhone", "Provider", "FactorType")


def enabled(rt: Runtime, kind: str) -> bool:
    return rt.settings.mailer.notifications.enabled(kind)


def notify(rt: Runtime, user: User, kind: str, *, to: str | None = None, old_email: str = "",
           phone: str = "", old_phone: str = "", provider: str = "",
           factor_type: str = "") -> None:
    """Queue the ``kind`` notification to ``to`` (default: the user's address) when it is
    enabled and there is an address. Never raises for the email's sake."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification {kind!r}")
    address = (to if to is not None else user.email) or ""
    if not enabled(rt, kind) or not address:
        return
    metadata = user.raw_user_meta_data if isinstance(user.raw_user_meta_data, dict) else {}
    extra = dict(zip(_EXTRA, (old_email, phone, old_phone, provider, factor_type)))
    variables = {"SiteURL": rt.settings.site_url, "Email": user.email or "", "Data": metadata,
                 "SendingTo": address, **extra}
    now = rt.now()
    try:
        flows.check_authorized(rt, address)
        flows.check_budget(rt)
    except GoTrueError as refusal:
        # Not attempted, but recorded: the operator sees why the user was not told.
        rt.mail_log.record(now=now, template=kind, recipient=address, subject="",
                           status=mail_log.FAILED, error=f"not sent: {refusal.message}",
                           user_id=user.id)
        log.warning("%s notification not sent: %s", kind, refusal.message)
        return
    hook_event = None
    if send_hook.enabled(rt):
        hook_event = send_hook.event(user, _hook_data(rt, kind, extra))
    rt.outbox.put(Email(kind=kind, to=address, variables=variables, user_id=user.id,
                        created_at=now, hook_event=hook_event))


def _hook_data(rt: Runtime, kind: str, extra: dict) -> dict:
    """The send_email hook's email_data: no token, GoTrue's action type for the kind."""
    return {
        "token": "", "token_hash": "", "redirect_to": rt.settings.site_url,
        "email_action_type": f"{kind}_notification",
        "site_url": rt.settings.api.external_url,
        "token_new": "", "token_hash_new": "",
        "old_email": extra["OldEmail"], "old_phone": extra["OldPhone"],
        "provider": extra["Provider"], "factor_type": extra["FactorType"],
    }


def phone_changed(rt: Runtime, user: User, *, old_phone: str, identity_created: bool) -> None:
    """A new number is the user's: phone_changed, and identity_linked when it brought the
    user's first phone identity (GoTrue's phone change verification)."""
    notify(rt, user, "phone_changed", phone=user.phone or "", old_phone=old_phone or "")
    if identity_created:
        notify(rt, user, "identity_linked", provider="phone")
