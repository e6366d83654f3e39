"""What an operator does to one user from the console.

Each action goes through the service its JSON API twin uses (admin_users, mail_flows,
sessions) with the operator as the audit actor, so it leaves the same audit entry, plus traits
that say what changed and why. The console's own rules live here as well: a ban needs a reason
and ends the user's sessions, a delete needs the typed confirmation, the metadata editor
replaces the whole object, and a password typed by an operator must pass the strength rules.
Functions flush, never commit; they raise GoTrueError when they refuse.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass

from ...errors import ErrorCode, GoTrueError, not_found, unprocessable
from ...models import User
from ...runtime import RequestInfo, Runtime
from ...services import audit, magic_links, password_checks, recovery, sessions, users
from ...services.admin import invites
from ...services.admin import users as admin_users
from ...services.mail import flows as mail_flows
from ...services.oauth import identities
from ...services.validation import has_control_characters, json_storage_problem

MAX_METADATA_BYTES = 64 * 1024
MAX_BAN_REASON_LENGTH = 500
METADATA_FIELDS = ("user_metadata", "app_metadata")
# Go durations have no day unit; "permanent" is a hundred years, as Supabase Studio does it.
PERMANENT_BAN = "876000h"
BAN_CHOICES = (
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("168h", "7 days"),
    ("720h", "30 days"),
    (PERMANENT_BAN, "Permanently"),
    ("custom", "Custom duration"),
)


def _refused(message: str, code: str = ErrorCode.VALIDATION_FAILED) -> GoTrueError:
    return unprocessable(code, message)


def _require_email(user: User) -> str:
    if not user.email or user.deleted_at is not None:
        raise _refused("This user has no email address to write to.")
    return user.email


# --- metadata ---------------------------------------------------------------------------------


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON")


def parse_metadata(text: str, *, empty_means_none: bool = False) -> dict:
    """The JSON object typed into an editor; 422 validation_failed saying what is wrong.

    At most MAX_METADATA_BYTES; NaN and Infinity are refused (not JSON). With
    ``empty_means_none`` a blank editor is an empty object.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_METADATA_BYTES:
        raise _refused(f"Metadata is limited to {MAX_METADATA_BYTES // 1024} KiB.")
    if not text.strip():
        if empty_means_none:
            return {}
        raise _refused("Type a JSON object; {} for none.")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _refused(f"This is not valid JSON: {exc.msg} "
                       f"(line {exc.lineno}, column {exc.colno}).") from None
    except RecursionError:
        raise _refused("This JSON is nested too deeply.") from None
    except ValueError as exc:
        raise _refused(f"This is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(value), "a number")
        raise _refused(f"Metadata must be a JSON object ({{...}}), not {kind}.")
    problem = json_storage_problem(value)
    if problem:
        raise _refused(f"This metadata cannot be stored: {problem}.")
    return value


def metadata_fingerprint(value: dict | None) -> str:
    """A digest of the object as stored, so an editor can tell it changed since it was shown."""
    canonical = json.dumps(value or {}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def replacement_patch(current: dict, wanted: dict) -> dict:
    """The merge patch that turns ``current`` into ``wanted``: keys left out become null, which
    the merge deletes."""
    patch: dict = {key: None for key in current if key not in wanted}
    patch.update(wanted)
    return patch


def replace_metadata(rt: Runtime, user: User, field: str, wanted: dict, expected: str,
                     actor: audit.Actor, info: RequestInfo) -> None:
    """Make ``field`` (user_metadata or app_metadata) exactly ``wanted``.

    Goes through admin_users.update_user like PUT /admin/users, which merges; the patch nulls
    the keys the operator removed. A key set to null is removed, as through the API. 422 when
    the stored object changed since the editor showed it (``expected`` is its fingerprint), so
    a change made meanwhile (the user's own PUT /user, another operator) is never lost unseen.
    Writes a user_modified entry with ``change`` = the field.
    """
    if field not in METADATA_FIELDS:
        raise _refused("Unknown metadata field.")
    current = user.user_metadata if field == "user_metadata" else user.app_metadata
    if expected != metadata_fingerprint(current):
        raise _refused("The metadata changed after you opened the editor. The current value is "
                       "shown below; saving again replaces it with your text.", ErrorCode.CONFLICT)
    params = admin_users.AdminUserParams(**{field: replacement_patch(current, wanted)})
    admin_users.update_user(rt, user, params, actor, info, audit_traits={"change": field})


# --- account changes --------------------------------------------------------------------------


# Whole days in front of a Go duration ("7d", "1d12h"): operators think of bans in days, Go's
# durations have no day unit.
_DAYS = re.compile(r"(\d{1,5})d(?=\d|$)")


_HOURS = re.compile(r"(\d{1,7})h")


def _days_as_hours(duration: str) -> str:
    """``7d`` as ``168h``, ``1d12h30m`` as ``36h30m``: the Go duration the admin API takes."""
    match = _DAYS.match(duration)
    if match is None:
        return duration
    hours, rest = int(match.group(1)) * 24, duration[match.end():]
    more = _HOURS.match(rest)
    if more is not None:
        hours, rest = hours + int(more.group(1)), rest[more.end():]
    return f"{hours}h{rest}"


def ban_duration_of(choice: str, custom: str = "") -> users.BanDuration:
    """The ban a form asked for: one of BAN_CHOICES or a custom duration (a Go duration,
    optionally led by whole days: ``7d``, ``1d12h``).

    422 for anything that is not a positive duration.
    """
    choices = {value for value, _ in BAN_CHOICES}
    if choice not in choices:
        raise _refused("Choose how long the ban lasts.")
    duration = custom.strip() if choice == "custom" else choice
    if not duration:
        raise _refused("Type a duration such as 7d, 90m, 12h or 2h30m.")
    try:
        parsed = users.parse_ban_duration(_days_as_hours(duration))
    except GoTrueError:
        raise _refused(f"{duration!r} is not a duration. Use days, hours and minutes, such as "
                       "7d, 90m, 12h or 1d12h.") from None
    if parsed.lifts:
        raise _refused("A ban must last longer than zero. Use Unban to lift a ban.")
    return parsed


def ban(rt: Runtime, user: User, duration: users.BanDuration, reason: str, actor: audit.Actor,
        info: RequestInfo) -> int:
    """Ban ``user`` for ``duration`` through admin_users.update_user and end their sessions.

    The reason is required; it goes into the user_modified entry's traits (ban_reason) with
    the number of sessions ended, which is returned. 422 for a missing or over-long reason or
    a bad duration.
    """
    reason = reason.strip()
    if not reason:
        raise _refused("Say why the user is banned; the reason goes into the audit log.")
    if len(reason) > MAX_BAN_REASON_LENGTH:
        raise _refused(f"Keep the reason under {MAX_BAN_REASON_LENGTH} characters.")
    if has_control_characters(reason, allow_line_breaks=True):
        raise _refused("The reason cannot contain control characters.")
    if user.deleted_at is not None:
        raise _refused("This user is deleted.")
    if duration.lifts:
        raise _refused("A ban must last longer than zero. Use Unban to lift a ban.")
    ended = sessions.delete_sessions(user.id)
    admin_users.update_user(rt, user, admin_users.AdminUserParams(ban_duration=duration), actor,
                            info, audit_traits={"ban_reason": reason, "sessions_revoked": ended})
    return ended


def unban(rt: Runtime, user: User, actor: audit.Actor, info: RequestInfo) -> None:
    """Lift the ban (PUT /admin/users ban_duration "none"); 422 when the user is not banned."""
    if not user.is_banned(rt.now()):
        raise _refused("This user is not banned.")
    lift = admin_users.AdminUserParams(ban_duration=users.parse_ban_duration("none"))
    admin_users.update_user(rt, user, lift, actor, info)


def confirm_email(rt: Runtime, user: User, actor: audit.Actor, info: RequestInfo) -> None:
    """Mark the email confirmed by hand (PUT /admin/users email_confirm); 422 when there is no
    email or it is confirmed already."""
    _require_email(user)
    if user.is_email_confirmed:
        raise _refused("This email address is confirmed already.")
    admin_users.update_user(rt, user, admin_users.AdminUserParams(email_confirm=True), actor,
                            info, audit_traits={"change": "email_confirmed"})


def confirm_phone(rt: Runtime, user: User, actor: audit.Actor, info: RequestInfo) -> None:
    """Mark the phone confirmed by hand (PUT /admin/users phone_confirm); 422 when there is no
    phone or it is confirmed already."""
    if not user.phone or user.deleted_at is not None:
        raise _refused("This user has no phone number.")
    if user.phone_confirmed_at is not None:
        raise _refused("This phone number is confirmed already.")
    admin_users.update_user(rt, user, admin_users.AdminUserParams(phone_confirm=True), actor,
                            info, audit_traits={"change": "phone_confirmed"})


def set_password(rt: Runtime, user: User, password: str, actor: audit.Actor,
                 info: RequestInfo) -> None:
    """A new password (PUT /admin/users password): strength-checked (422 weak_password), ends
    every session of the user and forgets their pending links and codes."""
    if user.deleted_at is not None:
        raise _refused("This user is deleted.")
    admin_users.update_user(rt, user, admin_users.AdminUserParams(password=password), actor,
                            info, audit_traits={"change": "password"})


# --- emails -----------------------------------------------------------------------------------


def mail_is_dropped(rt: Runtime) -> bool:
    """True when an email would be dropped: no SMTP host and no send_email hook to take it
    (the mail log records such an email as not sent)."""
    return not rt.settings.smtp.host and not rt.settings.hooks.get("send_email").enabled


def _refuse_banned(rt: Runtime, user: User) -> None:
    # A banned user cannot sign in: a recovery or sign-in link would only fail at the end.
    if user.is_banned(rt.now()):
        raise _refused("This user is banned and cannot sign in: lift the ban first.")


def send_recovery(rt: Runtime, user: User, actor: audit.Actor, info: RequestInfo) -> None:
    """Mail a password-recovery link (to the site URL) as POST /recover does.

    Writes user_recovery_requested. Unlike /recover, a failure is reported: 422 when the user
    has no email or is banned, 400 email_provider_disabled, 429 inside SMTP_MAX_FREQUENCY,
    500 when the SMTP server refuses (logged in the mail log).
    """
    recovery.require_email_provider(rt)
    _require_email(user)
    _refuse_banned(rt, user)
    audit.record("user_recovery_requested", actor, now=rt.now(), ip=info.ip,
                 traits={**admin_users.target_traits(user), "email_type": "recovery"})
    mail_flows.send_recovery(rt, user, rt.settings.site_url)


def send_magic_link(rt: Runtime, user: User, actor: audit.Actor, info: RequestInfo) -> None:
    """Mail a sign-in link (to the site URL) as POST /magiclink does for a known address.

    Writes user_recovery_requested (GoTrue's action for magic links) with email_type
    magiclink. 422 when magic links are off, the user has no email or is banned; 429 inside
    SMTP_MAX_FREQUENCY (shared with recovery). Using the link confirms an unconfirmed address.
    """
    magic_links.require_magic_links(rt)
    _require_email(user)
    _refuse_banned(rt, user)
    audit.record("user_recovery_requested", actor, now=rt.now(), ip=info.ip,
                 traits={**admin_users.target_traits(user), "email_type": "magiclink"})
    mail_flows.send_magic_link(rt, user, rt.settings.site_url)


def resend_confirmation(rt: Runtime, user: User, actor: audit.Actor, info: RequestInfo, *,
                        after_response: bool = False) -> str:
    """Mail the pending confirmation again: the invitation for an invited user (no 60 s rule,
    invites.invite), else the signup confirmation (POST /resend, 60 s rule). With
    ``after_response`` the email waits in the outbox for the commit (bulk runs).

    Returns "invite" or "confirmation". 422 when the address is confirmed or missing.
    """
    recovery.require_email_provider(rt)
    _require_email(user)
    if user.is_email_confirmed:
        raise _refused("This email address is confirmed already.")
    if user.invited_at is not None:
        invites.invite(rt, user.email, None, rt.settings.site_url, actor,
                       _for_audience(info, user), after_response=after_response)
        return "invite"
    audit.record("user_confirmation_requested", actor, now=rt.now(), ip=info.ip,
                 traits={**admin_users.target_traits(user), "provider": "email"})
    mail_flows.send_confirmation(rt, user, rt.settings.site_url, after_response=after_response)
    return "confirmation"


def _for_audience(info: RequestInfo, user: User) -> RequestInfo:
    """The request facts with the user's own audience (services look addresses up by it)."""
    return RequestInfo(ip=info.ip, user_agent=info.user_agent, aud=user.aud or info.aud)


# --- sessions and factors ---------------------------------------------------------------------


def revoke_session(rt: Runtime, user: User, session_id: str, actor: audit.Actor,
                   info: RequestInfo) -> None:
    """End one session: it and its refresh tokens are deleted, so the next refresh fails.

    Writes token_revoked naming the user and the session. 404 session_not_found when the user
    has no such session.
    """
    try:
        parsed = uuid.UUID(session_id)
    except ValueError:
        parsed = None
    if parsed is None or not sessions.delete_session(user.id, parsed):
        raise not_found(ErrorCode.SESSION_NOT_FOUND, "This session has ended already.")
    audit.record("token_revoked", actor, now=rt.now(), ip=info.ip,
                 traits={**admin_users.target_traits(user), "session_id": str(parsed)})


def revoke_sessions(rt: Runtime, user: User, actor: audit.Actor, info: RequestInfo) -> int:
    """End every session of the user; writes token_revoked with the count, which is returned."""
    ended = sessions.delete_sessions(user.id)
    audit.record("token_revoked", actor, now=rt.now(), ip=info.ip,
                 traits={**admin_users.target_traits(user), "sessions_revoked": ended})
    return ended


def remove_factor(rt: Runtime, user: User, factor_id: str, actor: audit.Actor,
                  info: RequestInfo) -> None:
    """DELETE /admin/users/{id}/factors/{fid}: 404 mfa_factor_not_found; writes factor_deleted."""
    factor = admin_users.load_factor(user, factor_id)
    admin_users.delete_factor(rt, user, factor, actor, info)


def remove_factors(rt: Runtime, user: User, actor: audit.Actor, info: RequestInfo) -> int:
    """Remove every MFA factor (one factor_deleted entry each); returns how many."""
    factors = list(user.factors)
    for factor in factors:
        admin_users.delete_factor(rt, user, factor, actor, info)
    return len(factors)


# What the console says when DELETE /user/identities/{id}'s rules refuse an unlink.
UNLINK_REFUSALS = {
    ErrorCode.SINGLE_IDENTITY_NOT_DELETABLE:
        "This is the user's only sign-in method: it cannot be unlinked.",
    ErrorCode.IDENTITY_NOT_FOUND: "This identity is no longer linked to this user.",
    ErrorCode.USER_NOT_FOUND: "This user no longer exists.",
    ErrorCode.EMAIL_CONFLICT_IDENTITY_NOT_DELETABLE:
        "Unlinking would give the user an email address another user has. Nothing was changed.",
}


def unlink_identity(rt: Runtime, user: User, identity_id: str, actor: audit.Actor,
                    info: RequestInfo) -> str:
    """Unlink one identity by the rules of DELETE /user/identities/{id} (services.oauth.
    identities.remove_identity): identity_unlinked names the operator and the user. Returns
    the provider unlinked; refusals carry the console's wording."""
    try:
        wanted = uuid.UUID(identity_id)
    except ValueError:
        raise _refused(UNLINK_REFUSALS[ErrorCode.IDENTITY_NOT_FOUND],
                       ErrorCode.IDENTITY_NOT_FOUND) from None
    provider = next((i.provider for i in user.identities if i.id == wanted), "")
    try:
        identities.remove_identity(rt, user.id, wanted, info=info, actor=actor,
                                   traits=admin_users.target_traits(user))
    except GoTrueError as error:
        if error.error_code not in UNLINK_REFUSALS:
            raise
        raise _refused(UNLINK_REFUSALS[error.error_code], error.error_code) from error
    return provider


# --- deletion ---------------------------------------------------------------------------------


def confirmation_phrase(user: User) -> str:
    """What an operator types to confirm a delete: the email, or the id when the user has none
    (or a soft delete has scrambled it)."""
    if user.email and user.deleted_at is None:
        return user.email
    return str(user.id)


def delete_user(rt: Runtime, user: User, typed: str, *, soft: bool, actor: audit.Actor,
                info: RequestInfo) -> None:
    """DELETE /admin/users/{id} once ``typed`` matches confirmation_phrase (case-insensitive).

    422 and nothing deleted otherwise, or when soft-deleting a user already soft-deleted.
    Writes user_deleted (traits say soft or not).
    """
    phrase = confirmation_phrase(user)
    if typed.strip().lower() != phrase.lower():
        raise _refused(f"Type {phrase} to confirm. Nothing was deleted.")
    if soft and user.deleted_at is not None:
        raise _refused("This user is soft-deleted already.")
    admin_users.delete_user(rt, user, soft=soft, actor=actor, info=info,
                            audit_traits={"soft": soft})


# --- creation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewUser:
    email: str = ""
    phone: str = ""
    password: str = ""
    auto_confirm: bool = False
    user_metadata: dict | None = None


def create_user(rt: Runtime, new: NewUser, actor: audit.Actor, info: RequestInfo) -> User:
    """POST /admin/users for the create form; writes user_signedup with the operator as actor.

    Unlike the admin API a typed password must pass the strength rules (422 weak_password):
    an operator choosing a password for someone should not choose a weak one. Without one the
    user gets a random password nobody knows. ``auto_confirm`` confirms the addresses given.
    422 email_exists / phone_exists for a taken address, 400 validation_failed for a malformed
    one.
    """
    if not new.email.strip() and not new.phone.strip():
        raise _refused("Give an email address or a phone number.")
    if new.password:
        password_checks.check_new_password(rt, new.password)
    params = admin_users.AdminUserParams(
        email=new.email.strip() or None, phone=new.phone.strip() or None,
        password=new.password or None, email_confirm=new.auto_confirm,
        phone_confirm=new.auto_confirm, user_metadata=new.user_metadata)
    return admin_users.create_user(rt, params, actor, info)
