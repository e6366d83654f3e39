"""One user: the detail page, every action on it, and creating users.

Each action is a POST that calls console.operations.user_actions (which goes through the
services the admin API uses) with the operator as the audit actor. htmx posts get the whole
detail block (#user-detail) back with a toast, so badges, sessions and the timeline all show
the result at once; plain form posts get a flash and a 303 back to the page. A refused action
re-renders the page (or the block) with 422 and the message beside its form.
"""

from __future__ import annotations

import json
from datetime import timedelta

from flask import abort, make_response, render_template, request, url_for

from ..errors import ErrorCode, GoTrueError, unprocessable
from ..extensions import db
from ..models import User
from ..runtime import current_runtime
from ..services import sessions
from ..services.admin import users as admin_users
from .context import actor, request_info
from .email_templates import LABELS as NOTIFICATION_LABELS
from .htmx import done, is_htmx, render_page_or_fragment, toast, wants_fragment
from .operations import limit_keys, rate_limits, user_actions, user_timeline
from .operations.oauth_apps import grants as oauth_grants
from .operations.user_credentials import passkeys as user_passkeys
from .operations.user_credentials import wallets as user_wallets

DETAIL_PAGE = "console/users/detail.html"
DETAIL_BLOCK = "console/users/_detail.html"
TIMELINE = "console/users/_timeline.html"
IDENTITIES = "console/users/_identities.html"
NEW_PAGE = "console/users/new.html"
NEW_FORM = "console/users/_new_form.html"


# --- helpers ------------------------------------------------------------------------------------


def _load(user_id: str) -> User:
    try:
        return admin_users.load(user_id)
    except GoTrueError:
        abort(404, description="There is no user with this id; it may have been deleted.")


def label_of(user: User) -> str:
    """How the console names a user: email, else phone, else id (a soft delete scrambles the
    address, so such a user goes by the id)."""
    if user.deleted_at is not None:
        return f"Deleted user {user.id}"
    return user.email or (f"+{user.phone}" if user.phone else str(user.id))


def _metadata_editor(user: User, field: str, values: dict) -> dict:
    stored = user.user_metadata if field == "user_metadata" else user.app_metadata
    return {
        "text": values.get(field, json.dumps(stored, indent=2, ensure_ascii=False)),
        "fingerprint": user_actions.metadata_fingerprint(stored),
        "stored": json.dumps(stored, indent=2, ensure_ascii=False),
    }


def _context(user: User, *, errors: dict | None = None, values: dict | None = None) -> dict:
    rt = current_runtime()
    now = rt.now()
    values = values or {}
    quiet = request.args.get("quiet") == "1"
    banned = user.is_banned(now)
    return {
        "section": "users",
        "user": user,
        "label": label_of(user),
        "now": now,
        "banned": banned,
        "ban_change": user_timeline.latest_ban_change(user.id) if banned else None,
        # A ban reaching this far is shown as permanent.
        "permanent_ban_after": now + timedelta(days=365 * 50),
        "sessions": sessions.sessions_of(user.id),
        "oauth_grants": oauth_grants.rows(user.id),
        "oauth_server_on": rt.settings.oauth_server.enabled,
        "passkeys": user_passkeys.rows(user.id),
        "passkeys_on": rt.settings.passkeys.enabled,
        "wallets": user_wallets.rows(user),
        "lockouts": limit_keys.user_lockouts(rt, user),
        "timeline": user_timeline.page(user.id, before=request.args.get("before"),
                                       hide_refreshes=quiet),
        "notifications": user_timeline.notifications(user.id),
        "notification_labels": NOTIFICATION_LABELS,
        "quiet": quiet,
        "metadata": {field: _metadata_editor(user, field, values)
                     for field in user_actions.METADATA_FIELDS},
        "ban_choices": user_actions.BAN_CHOICES,
        "mail_dropped": user_actions.mail_is_dropped(rt),
        "confirmation_phrase": user_actions.confirmation_phrase(user),
        "errors": errors or {},
        "values": values,
    }


def _detail_url(user: User) -> str:
    return url_for("console.detail", user_id=user.id)


def _refuse(user_id: str, form: str, message: str, values: dict | None = None):
    """422: the page (plain post) or the detail block (htmx) with ``message`` at ``form``."""
    context = _context(_load(user_id), errors={form: message}, values=values)
    if is_htmx():
        response = make_response(render_template(DETAIL_BLOCK, **context), 422)
        return toast(response, message, "error")
    return make_response(render_template(DETAIL_PAGE, **context), 422)


def _act(user_id: str, form: str, action, values: dict | None = None):
    """Run ``action(user)``, which returns the success message (or the message and its toast
    kind), and commit; or roll back and refuse with the service's message at ``form``."""
    user = _load(user_id)
    try:
        message = action(user)
    except GoTrueError as error:
        db.session.rollback()
        return _refuse(user_id, form, error.message, values)
    db.session.commit()
    message, kind = message if isinstance(message, tuple) else (message, "ok")
    return done(message, fragment=DETAIL_BLOCK, location=_detail_url(user), kind=kind,
                **_context(user))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# --- the page -----------------------------------------------------------------------------------


def detail(user_id: str):
    user = _load(user_id)
    fragment = {"timeline": TIMELINE, "identities": IDENTITIES}.get(request.args.get("part"),
                                                                    DETAIL_BLOCK)
    return render_page_or_fragment(DETAIL_PAGE, fragment, **_context(user))


# --- emails -------------------------------------------------------------------------------------


def _mailed(what: str, user: User, *, again: bool = False) -> tuple[str, str]:
    """The message (and toast kind) after an email was sent, or dropped because this server
    has no SMTP host and no send_email hook (the mail log then says "not sent")."""
    if user_actions.mail_is_dropped(current_runtime()):
        return (f"{what} to {user.email} was not sent: this server has no SMTP server "
                "(GOTRUE_SMTP_HOST is empty). The mail log records it as not sent.", "error")
    return f"{what} sent {'again ' if again else ''}to {user.email}.", "ok"


def send_recovery(user_id: str):
    def act(user):
        user_actions.send_recovery(current_runtime(), user, actor(), request_info())
        return _mailed("Password recovery email", user)
    return _act(user_id, "emails", act)


def send_magic_link(user_id: str):
    def act(user):
        user_actions.send_magic_link(current_runtime(), user, actor(), request_info())
        return _mailed("Sign-in link", user)
    return _act(user_id, "emails", act)


def resend_confirmation(user_id: str):
    def act(user):
        kind = user_actions.resend_confirmation(current_runtime(), user, actor(),
                                                   request_info())
        return _mailed("Invitation" if kind == "invite" else "Confirmation email", user,
                       again=True)
    return _act(user_id, "emails", act)


# --- account ------------------------------------------------------------------------------------


def confirm_email(user_id: str):
    def act(user):
        user_actions.confirm_email(current_runtime(), user, actor(), request_info())
        return f"{user.email} is now confirmed."
    return _act(user_id, "emails", act)


def confirm_phone(user_id: str):
    def act(user):
        user_actions.confirm_phone(current_runtime(), user, actor(), request_info())
        return f"+{user.phone} is now confirmed."
    return _act(user_id, "phone", act)


def set_password(user_id: str):
    password = request.form.get("password", "")

    def act(user):
        if not password:
            raise unprocessable(ErrorCode.VALIDATION_FAILED, "Type the new password.")
        if password != request.form.get("password_confirm", ""):
            raise unprocessable(ErrorCode.VALIDATION_FAILED,
                                "The two passwords differ. Nothing was changed.")
        user_actions.set_password(current_runtime(), user, password, actor(),
                                     request_info())
        return "Password set. The user's sessions have ended."
    return _act(user_id, "password", act)


def ban(user_id: str):
    form = request.form
    values = {"duration": form.get("duration", ""),
              "custom_duration": form.get("custom_duration", ""),
              "reason": form.get("reason", "")}

    def act(user):
        duration = user_actions.ban_duration_of(values["duration"],
                                                   values["custom_duration"])
        rt = current_runtime()
        before = user.banned_until if user.is_banned(rt.now()) else None
        ended = user_actions.ban(rt, user, duration, values["reason"], actor(),
                                 request_info())
        if before is None:
            return (f"{label_of(user)} is banned until "
                    f"{user.banned_until:%Y-%m-%d %H:%M} UTC; "
                    f"{_plural(ended, 'session')} ended.")
        change = "shortened" if user.banned_until < before else "extended"
        return (f"The ban on {label_of(user)} is {change}: it now ends "
                f"{user.banned_until:%Y-%m-%d %H:%M} UTC (it was to end "
                f"{before:%Y-%m-%d %H:%M} UTC).")
    return _act(user_id, "ban", act, values)


def unban(user_id: str):
    def act(user):
        user_actions.unban(current_runtime(), user, actor(), request_info())
        return f"{label_of(user)} is no longer banned."
    return _act(user_id, "ban", act)


def edit_metadata(user_id: str):
    form = request.form
    field = form.get("field", "")
    if field not in user_actions.METADATA_FIELDS:
        abort(400, description="Unknown metadata field.")
    text = form.get("value", "")

    def act(user):
        wanted = user_actions.parse_metadata(text)
        user_actions.replace_metadata(current_runtime(), user, field, wanted,
                                         form.get("expected", ""), actor(), request_info())
        return f"{'User' if field == 'user_metadata' else 'App'} metadata saved."
    return _act(user_id, field, act, {field: text})


def unlock(user_id: str):
    def act(user):
        rate_limits.unlock_user(current_runtime(), user, actor(), request_info().ip)
        return f"Password sign-in unlocked for {label_of(user)}."
    return _act(user_id, "lockout", act)


# --- sessions, factors and passkeys ---------------------------------------------------------


def revoke_session(user_id: str, session_id: str):
    def act(user):
        user_actions.revoke_session(current_runtime(), user, session_id, actor(),
                                       request_info())
        return "Session revoked; its refresh token no longer works."
    return _act(user_id, "sessions", act)


def revoke_sessions(user_id: str):
    def act(user):
        ended = user_actions.revoke_sessions(current_runtime(), user, actor(),
                                                request_info())
        return f"{_plural(ended, 'session')} revoked."
    return _act(user_id, "sessions", act)


def remove_factor(user_id: str, factor_id: str):
    def act(user):
        user_actions.remove_factor(current_runtime(), user, factor_id, actor(),
                                      request_info())
        return "MFA factor removed."
    return _act(user_id, "factors", act)


def remove_factors(user_id: str):
    def act(user):
        removed = user_actions.remove_factors(current_runtime(), user, actor(),
                                                 request_info())
        return f"{_plural(removed, 'MFA factor')} removed."
    return _act(user_id, "factors", act)


def remove_passkey(user_id: str, passkey_id: str):
    def act(user):
        name = user_passkeys.remove(current_runtime(), user.id, passkey_id, actor(),
                                    request_info())
        return f'Passkey "{name}" removed: {label_of(user)} can no longer sign in with it.'
    return _act(user_id, "passkeys", act)


def revoke_oauth_grant(user_id: str, client_id: str):
    def act(user):
        app_name = oauth_grants.revoke(current_runtime(), user.id, client_id, actor(),
                                       request_info().ip)
        return f"{app_name} no longer has access; its sessions of this user have ended."
    return _act(user_id, "oauth_grants", act)


# --- identities ---------------------------------------------------------------------------------


def confirm_unlink(user_id: str, identity_id: str):
    """The confirm step of Unlink: a GET that changes nothing; the POST below unlinks."""
    user = _load(user_id)
    identity = next((i for i in user.identities if str(i.id) == identity_id), None)
    if identity is None:
        abort(404, description="This identity is no longer linked to this user.")
    return render_page_or_fragment(DETAIL_PAGE, IDENTITIES, **_context(user),
                                   unlinking=identity)


def unlink_identity(user_id: str, identity_id: str):
    def act(user):
        label = label_of(user)
        provider = user_actions.unlink_identity(current_runtime(), user, identity_id, actor(),
                                                request_info())
        return f"The {provider} identity was unlinked from {label}."
    return _act(user_id, "identities", act)


# --- deletion -----------------------------------------------------------------------------------


def delete_user(user_id: str):
    user = _load(user_id)
    label = label_of(user)
    try:
        user_actions.delete_user(current_runtime(), user, request.form.get("confirm", ""),
                                    soft=False, actor=actor(), info=request_info())
    except GoTrueError as error:
        db.session.rollback()
        return _refuse(user_id, "delete", error.message)
    db.session.commit()
    return done(f"{label} was deleted.", location=url_for("console.users"))


def soft_delete_user(user_id: str):
    def act(user):
        label = label_of(user)
        user_actions.delete_user(current_runtime(), user, request.form.get("confirm", ""),
                                    soft=True, actor=actor(), info=request_info())
        return f"{label} was soft-deleted: the address is free again and the user cannot sign in."
    return _act(user_id, "soft_delete", act)


# --- creating users -----------------------------------------------------------------------------


def new_user():
    return render_page_or_fragment(NEW_PAGE, NEW_FORM, section="users",
                                   values={"user_metadata": "{}"}, error=None)


def create_user():
    form = request.form
    values = {"email": form.get("email", ""), "phone": form.get("phone", ""),
              "auto_confirm": form.get("auto_confirm") == "on",
              "user_metadata": form.get("user_metadata", "")}
    try:
        new = user_actions.NewUser(
            email=values["email"], phone=values["phone"], password=form.get("password", ""),
            auto_confirm=values["auto_confirm"],
            user_metadata=user_actions.parse_metadata(values["user_metadata"],
                                                         empty_means_none=True))
        user = user_actions.create_user(current_runtime(), new, actor(), request_info())
    except GoTrueError as error:
        db.session.rollback()
        template = NEW_FORM if wants_fragment() else NEW_PAGE
        response = make_response(render_template(template, section="users", values=values,
                                                 error=error.message), 422)
        return toast(response, error.message, "error") if is_htmx() else response
    db.session.commit()
    return done(f"{label_of(user)} was created.", location=_detail_url(user))
