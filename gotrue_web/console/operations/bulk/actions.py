"""What a bulk run does to each user, by the single-user operations (console.operations.
user_actions) and so by the same services, rules and audit entries, one entry per user.

Each action first says whether a user is left out (Skip, with a reason the progress shows and
counts), then acts. Beyond the single-user rules, a run leaves alone what it has already done
since it started (a ban at least as long, an email sent since), so a batch sent twice (a
double click, a retried request) does nothing twice. Banned users get no email.

Emails go into the mail outbox with the batch's transaction (they leave after its commit, and
a batch that fails sends nothing). The global GOTRUE_RATE_LIMIT_EMAIL_SENT budget is checked
per email by the mail service as for one user; since the emails of a batch are only queued,
the run also counts them itself (MailAllowance), so a batch never queues more than the budget
has left. Emails the budgets refuse are skipped, and the page says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ....errors import ErrorCode, GoTrueError, unprocessable
from ....extensions import db
from ....models import Session, User
from ....runtime import RequestInfo, Runtime
from ....services import audit, one_time_tokens, recovery, users
from ....services.mail import log as mail_log
from ....services.validation import has_control_characters
from .. import user_actions
from ..invitations import is_pending


class Skip(Exception):
    """The user is left out of the action, for ``reason`` (a key of REASONS)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# Why users were left out, as the progress says it ("3 skipped: 2 not banned, 1 deleted").
REASONS = {
    "gone": "no longer exist",
    "deleted": "deleted",
    "banned_longer": "already banned at least that long",
    "not_banned": "not banned",
    "no_session": "no session to end",
    "no_email": "no email address",
    "anonymous": "anonymous",
    "confirmed": "already confirmed",
    "invited": "invited (use Resend invite)",
    "not_invited": "no pending invitation",
    "banned": "banned (no email to banned users)",
    "sent_in_run": "emailed since this run started",
    "too_soon": "emailed too recently (GOTRUE_SMTP_MAX_FREQUENCY)",
    "rate_limited": "refused by the email rate limit",
    "refused": "refused by the rules",
}


@dataclass
class Context:
    """What every user of one batch shares."""

    rt: Runtime
    actor: audit.Actor
    info: RequestInfo
    started: datetime
    params: dict
    # The batch's users that have sessions (sign-out only).
    with_sessions: set[uuid.UUID]
    allowance: "MailAllowance | None" = None


@dataclass(frozen=True)
class BulkAction:
    key: str
    # "Ban 1,234 users", "Banned 400 of 1,234"
    verb: str
    past: str
    # The audit log's filter for the entries the action writes (action, happened).
    audit_filter: dict
    sends_mail: bool
    act: Callable[[User, Context], None]
    # What the confirmation says happens to each user.
    explains: str = ""


# --- parameters -----------------------------------------------------------------------------------


def ban_params(choice: str, custom: str, reason: str) -> dict:
    """A ban's duration (as a Go duration: ``7d`` is kept as ``168h``) and reason, checked once
    for the whole run as the user page checks them for one user (user_actions.ban_duration_of
    and ban): 422 with the user page's words."""
    duration = user_actions.ban_duration_of(choice, custom)
    reason = reason.strip()
    if not reason:
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            "Say why the users are banned; the reason goes into the audit log.")
    if len(reason) > user_actions.MAX_BAN_REASON_LENGTH:
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            f"Keep the reason under {user_actions.MAX_BAN_REASON_LENGTH} "
                            "characters.")
    if has_control_characters(reason, allow_line_breaks=True):
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            "The reason cannot contain control characters.")
    return {"duration": duration.text, "reason": reason}


def check_mail(rt: Runtime) -> None:
    """422 when no email would leave: email sign-ins off, or no SMTP server and no hook."""
    try:
        recovery.require_email_provider(rt)
    except GoTrueError:
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            "Email sign-ins are switched off (GOTRUE_EXTERNAL_EMAIL_ENABLED): "
                            "no email can be sent.") from None
    if user_actions.mail_is_dropped(rt):
        raise unprocessable(ErrorCode.VALIDATION_FAILED,
                            "This server has no SMTP server (GOTRUE_SMTP_HOST is empty) and no "
                            "send_email hook: no email would be sent.")


# --- the global email budget ----------------------------------------------------------------------


class MailAllowance:
    """How many more emails GOTRUE_RATE_LIMIT_EMAIL_SENT allows now (the mail log's count,
    which includes the emails waiting in the outbox)."""

    def __init__(self, rt: Runtime):
        settings = rt.settings
        allowed, window = mail_log.parse_budget(settings.rate_limit.email_sent)
        # As flows.check_budget: a positive budget is off while MAILER_AUTOCONFIRM is on.
        self.unlimited = allowed > 0 and settings.mailer.autoconfirm
        self.left = 0
        if self.unlimited or allowed <= 0:
            return
        used = mail_log.count_since(rt.now() - window) + len(rt.mail_log.pending())
        self.left = max(0, allowed - used)

    def take(self) -> None:
        if self.unlimited:
            return
        if self.left <= 0:
            raise Skip("rate_limited")
        self.left -= 1


# --- the actions ----------------------------------------------------------------------------------


def _ban(user: User, ctx: Context) -> None:
    if user.deleted_at is not None:
        raise Skip("deleted")
    duration = users.parse_ban_duration(ctx.params["duration"])
    if user.banned_until is not None and user.banned_until >= ctx.started + duration.length:
        # Never shorten a longer ban in bulk; also what this run did already.
        raise Skip("banned_longer")
    user_actions.ban(ctx.rt, user, duration, ctx.params["reason"], ctx.actor, ctx.info)


def _unban(user: User, ctx: Context) -> None:
    if not user.is_banned(ctx.rt.now()):
        raise Skip("not_banned")
    user_actions.unban(ctx.rt, user, ctx.actor, ctx.info)


def _delete(user: User, ctx: Context) -> None:
    # The run's typed count stands in for the user page's typed address.
    user_actions.delete_user(ctx.rt, user, user_actions.confirmation_phrase(user), soft=False,
                             actor=ctx.actor, info=ctx.info)


def _sign_out(user: User, ctx: Context) -> None:
    if user.id not in ctx.with_sessions:
        raise Skip("no_session")
    user_actions.revoke_sessions(ctx.rt, user, ctx.actor, ctx.info)


def _mailable(user: User, ctx: Context) -> None:
    if user.deleted_at is not None:
        raise Skip("deleted")
    if not user.email:
        raise Skip("anonymous" if user.is_anonymous else "no_email")
    if user.is_banned(ctx.rt.now()):
        raise Skip("banned")


def _resend_confirmation(user: User, ctx: Context) -> None:
    _mailable(user, ctx)
    if user.is_email_confirmed:
        raise Skip("confirmed")
    if user.invited_at is not None:
        raise Skip("invited")
    _send(user, ctx, user.confirmation_sent_at, frequency_rule=True)


def _resend_invite(user: User, ctx: Context) -> None:
    _mailable(user, ctx)
    if not is_pending(user):
        raise Skip("not_invited")
    # (Admins may invite again at any time: no SMTP_MAX_FREQUENCY rule.)
    _send(user, ctx, user.invited_at, frequency_rule=False)


def _send(user: User, ctx: Context, last_sent: datetime | None, *,
          frequency_rule: bool) -> None:
    if last_sent is not None and last_sent >= ctx.started:
        raise Skip("sent_in_run")
    if last_sent is not None and frequency_rule:
        try:
            one_time_tokens.check_send_frequency(last_sent, ctx.rt.settings.smtp.max_frequency,
                                                 ctx.rt.now())
        except GoTrueError:
            raise Skip("too_soon") from None
    ctx.allowance.take()
    # An invited user gets the invitation again, anyone else the signup confirmation.
    user_actions.resend_confirmation(ctx.rt, user, ctx.actor, ctx.info, after_response=True)


ACTIONS = {action.key: action for action in (
    BulkAction("ban", "Ban", "Banned", {"happened": "bans"}, False, _ban,
               "Each user is banned and signed out everywhere. A user already banned at least "
               "that long is skipped."),
    BulkAction("unban", "Unban", "Unbanned", {"happened": "unbans"}, False, _unban,
               "Each banned user's ban is lifted; users not banned are skipped."),
    BulkAction("sign_out", "Sign out", "Signed out", {"action": "token_revoked"}, False,
               _sign_out,
               "Every session of each user ends, with its refresh tokens: their devices are "
               "signed out at the next refresh."),
    BulkAction("resend_confirmation", "Resend the confirmation email to",
               "Sent the confirmation email to",
               {"action": "user_confirmation_requested"}, True, _resend_confirmation,
               "Users who signed up and have not confirmed their address get the confirmation "
               "email again. Others (confirmed, invited, banned, anonymous) are skipped."),
    BulkAction("resend_invite", "Resend the invitation to", "Sent the invitation to",
               {"action": "user_invited"}, True, _resend_invite,
               "Invited users who have not accepted yet get a new invitation (the old link "
               "stops working). Others are skipped."),
    BulkAction("delete", "Delete", "Deleted", {"happened": "deletions"}, False, _delete,
               "Each user is deleted for good, with their identities, sessions and factors. "
               "This cannot be undone."),
)}
# The order of the action menu.
MENU = ("ban", "unban", "sign_out", "resend_confirmation", "resend_invite", "delete")


def sessions_among(user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``user_ids`` that have at least one session."""
    if not user_ids:
        return set()
    return set(db.session.execute(
        sa.select(Session.user_id).where(Session.user_id.in_(user_ids)).distinct()).scalars())

