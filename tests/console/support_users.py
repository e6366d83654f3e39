"""Helpers for the user detail, create-user and invitation tests: users made through the admin
API, rows and audit entries read back from the database, and an SMTP-backed app."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, Factor, Session, User
from gotrue_web.models.mfa import FactorStatus, FactorType

from ..conftest import table_rows

T0 = datetime(2031, 5, 4, 12, 0, tzinfo=timezone.utc)
OPERATOR_EMAIL = "operator@example.com"


def smtp_settings(smtp_server, **extra) -> dict:
    return {"smtp.host": "127.0.0.1", "smtp.port": smtp_server.port,
            "smtp.admin_email": "auth@example.com", **extra}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def create_user(api, email: str | None = None, **body) -> dict:
    """A user made with POST /admin/users (confirmed unless told otherwise)."""
    body.setdefault("email_confirm", True)
    if email is not None:
        body["email"] = email
    response = api.admin("POST", "/admin/users", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def user_row(app, user_id) -> User | None:
    rows = table_rows(app, sa.select(User).where(User.id == uuid.UUID(str(user_id))))
    return rows[0][0] if rows else None


def user_by_email(app, email: str) -> User | None:
    rows = table_rows(app, sa.select(User).where(User.email == email))
    return rows[0][0] if rows else None


def session_ids(app, user_id) -> set[uuid.UUID]:
    return {row[0] for row in table_rows(
        app, sa.select(Session.id).where(Session.user_id == uuid.UUID(str(user_id))))}


def audit_entries(app, action: str | None = None) -> list[dict]:
    """Payloads (with ip_address added), oldest first."""
    rows = table_rows(app, sa.select(AuditLogEntry.payload, AuditLogEntry.ip_address)
                      .order_by(AuditLogEntry.created_at))
    entries = [{**payload, "ip_address": ip} for payload, ip in rows]
    return [e for e in entries if action is None or e["action"] == action]


def operator_entries(app, action: str) -> list[dict]:
    """Entries of ``action`` whose actor is the console operator."""
    return [e for e in audit_entries(app, action) if e.get("actor_username") == OPERATOR_EMAIL]


def assert_operator_entry(app, action: str, user_id, **traits) -> dict:
    """The one entry of ``action`` by the operator about ``user_id``, with ``traits``."""
    entries = [e for e in operator_entries(app, action)
               if (e.get("traits") or {}).get("user_id") == str(user_id)]
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["actor_name"] == "operator"
    assert entry["actor_id"] != "00000000-0000-0000-0000-000000000000"
    assert entry["ip_address"] == "127.0.0.1"
    for key, value in traits.items():
        assert entry["traits"].get(key) == value, (key, entry["traits"])
    return entry


def add_factor(app, user_id, *, factor_type=FactorType.totp, status=FactorStatus.verified,
               name: str | None = "authenticator") -> uuid.UUID:
    """An MFA factor row (there is no enrolment API yet)."""
    factor_id = uuid.uuid4()
    with app.app_context():
        db.session.add(Factor(
            id=factor_id, user_id=uuid.UUID(str(user_id)), friendly_name=name,
            factor_type=factor_type, status=status, created_at=T0, updated_at=T0,
            secret="JBSWY3DPEHPK3PXP"))
        db.session.commit()
    return factor_id


def factor_ids(app, user_id) -> set[uuid.UUID]:
    return {row[0] for row in table_rows(
        app, sa.select(Factor.id).where(Factor.user_id == uuid.UUID(str(user_id))))}


class Clock:
    """A clock tests move by hand (rt.clock = Clock()); starts at the real time so console
    sessions and tokens stay valid."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now
