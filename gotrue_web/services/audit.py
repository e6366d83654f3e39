"""Audit log entries, written in the caller's transaction (never committed here), and the
payload field expression the API's and the console's audit searches share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from uuid6 import uuid7

from ..db import NIL_UUID
from ..extensions import db
from ..models import AuditLogEntry, User

# GoTrue's action -> log_type table.
LOG_TYPES = {
    "login": "account",
    "logout": "account",
    "invite_accepted": "account",
    "identity_unlinked": "account",
    "user_signedup": "team",
    "user_invited": "team",
    "user_deleted": "team",
    "token_revoked": "token",
    "token_refreshed": "token",
    "user_modified": "user",
    "user_recovery_requested": "user",
    "user_reauthenticate_requested": "user",
    "user_confirmation_requested": "user",
    "user_repeated_signup": "user",
    "user_updated_password": "user",
    "factor_in_progress": "factor",
    "factor_unenrolled": "factor",
    "challenge_created": "factor",
    "verification_attempted": "factor",
    "factor_deleted": "factor",
    "factor_updated": "factor",
    "mfa_code_login": "factor",
    "operator_login": "operator",
    "operator_login_failed": "operator",
    "operator_logout": "operator",
    "operator_totp_enabled": "operator",
    "operator_totp_disabled": "operator",
    "operator_password_changed": "operator",
    # Console actions on the server itself rather than on one user.
    "email_template_updated": "operator",
    "hook_test_sent": "operator",
    "email_template_reset": "operator",
    "email_template_test_sent": "operator",
    "smtp_test_sent": "operator",
    "sms_test_sent": "operator",
    "users_exported": "operator",
    "rate_limit_reset": "operator",
    # An operator forgot an account's wrong passwords (console, rate limits or user page).
    "account_unlocked": "user",
    # A live setting changed or reverted on the console's Configuration page.
    "configuration_changed": "operator",
    # Owners managing operators (console/operators_page.py), and actions a role was refused.
    "operator_invited": "operator",
    "operator_invite_renewed": "operator",
    "operator_invite_accepted": "operator",
    "operator_role_changed": "operator",
    "operator_disabled": "operator",
    "operator_enabled": "operator",
    "operator_totp_reset": "operator",
    "operator_deleted": "operator",
    "operator_action_refused": "operator",
    # An operator started a bulk action on the users list (each user gets their own entry).
    "users_bulk_action": "operator",
    # An SSO identity provider added, edited, disabled, enabled or deleted on the console.
    "sso_provider_changed": "operator",
    # An OAuth client (app) registered, its secret regenerated, disabled, enabled or deleted on
    # the console's apps page.
    "oauth_client_changed": "operator",
    # A passkey registered, renamed or deleted (by its user, an admin or an operator).
    "passkey_created": "user",
    "passkey_updated": "user",
    "passkey_deleted": "user",
}


NIL = uuid.UUID(NIL_UUID)
_INSERT = sa.insert(AuditLogEntry.__table__)


@dataclass(frozen=True)
class Actor:
    """Who did it: an end user, an admin token's role, or a console operator."""

    id: str = NIL_UUID
    username: str = ""
    name: str = ""
    via_sso: bool = False

    @classmethod
    def of_user(cls, user: User) -> "Actor":
        metadata = user.raw_user_meta_data or {}
        name = metadata.get("full_name") or metadata.get("name") or ""
        return cls(id=str(user.id), username=user.email or user.phone or "",
                   name=name if isinstance(name, str) else "", via_sso=bool(user.is_sso_user))


def record(action: str, actor: Actor, *, now: datetime, ip: str = "",
           traits: dict | None = None) -> None:
    """Write an audit entry for ``action`` in the current transaction (one INSERT, no ORM).

    Run on the session's connection, not through the session: an audit row refers to nothing
    the session holds, so it need not flush pending objects first (which would turn a new
    user's later changes into a second statement)."""
    db.session.connection().execute(
        _INSERT, entry_values(action, actor, now=now, ip=ip, traits=traits))


def entry_values(action: str, actor: Actor, *, now: datetime, ip: str = "",
                 traits: dict | None = None) -> dict:
    """The audit_log_entries row for ``action``, for a caller that writes it itself.

    Its id is a UUID version 7, which starts with the time: a new entry goes at the end of the
    primary key's index. A random (version 4) id, as GoTrue writes, lands on any page of it,
    and the log gains a row with every refresh and sign-in, so that index soon outgrows the
    database's cache and each insert reads and rewrites a page of its own."""
    payload = {
        "actor_id": actor.id,
        "actor_via_sso": actor.via_sso,
        "actor_username": actor.username,
        "action": action,
        "log_type": LOG_TYPES.get(action, "user"),
    }
    if actor.name:
        payload["actor_name"] = actor.name
    if traits:
        payload["traits"] = traits
    return {"instance_id": NIL, "id": uuid7(), "payload": payload, "created_at": now,
            "ip_address": (ip or "")[:64]}


def payload_field(*path: str):
    """The text at ``path`` in an entry's JSON payload (``"action"``, ``"traits", "user_id"``),
    NULL where it is missing; spelled by SQLAlchemy for SQLite, PostgreSQL and MariaDB."""
    return AuditLogEntry.payload[path if len(path) > 1 else path[0]].as_string()
