"""Shared by the phone verify tests: users with a texted code pending, stored exactly as the
send (services/phone/codes.send_code) stores it (spec phone-sms §2.4: the keyed digest of
security/codes.py with the phone digits as the address, in the users column and the
one_time_tokens row relating to the number, and ``*_sent_at``), without texting anything.
Also the requests and reads these tests repeat."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import Identity, OneTimeTokenType, User
from gotrue_web.models.one_time_token import USER_COLUMNS
from gotrue_web.services import one_time_tokens as ott_service

from ...conftest import api_for, table_rows
from ...factories import PASSWORD

T = OneTimeTokenType
CODE_INVALID = {"code": "otp_expired", "message": "Token has expired or is invalid"}
# Phone sign-in on; no resend spacing so tests may issue codes at will.
PHONE_SETTINGS = {"external.phone_enabled": True}


def admin_phone_user(app, service_role_token: str, phone: str, *, confirmed: bool = True,
                     password: str | None = PASSWORD, **body) -> str:
    """A phone user made through POST /admin/users (the phone identity as GoTrue makes it);
    returns the id."""
    payload = {"phone": phone, "phone_confirm": confirmed, **body}
    if password:
        payload["password"] = password
    response = api_for(app, service_role_token).admin("POST", "/admin/users", json=payload)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["id"]


def pending_code(app, user_id, token_type: OneTimeTokenType, number: str, code: str, *,
                 sent_at: datetime | None = None) -> None:
    """Store ``code`` as texted to ``number`` now (or at ``sent_at``): the users column and
    the one_time_tokens row, as the send writes them. For phone_change ``number`` is the new
    number, which is also put in users.phone_change."""
    rt = app.extensions["gotrue"]
    with app.app_context():
        user = db.session.get(User, uuid.UUID(str(user_id)))
        now = sent_at or rt.now()
        if token_type == T.phone_change_token:
            user.phone_change = number
        digest = ott_service.code_digest(rt, number, code)
        setattr(user, USER_COLUMNS[token_type][0], digest)
        ott_service.store(user, token_type, digest, number, now)
        setattr(user, USER_COLUMNS[token_type][1], now)
        user.updated_at = now
        db.session.commit()


def verify(client, verify_type: str, phone: str, token: str):
    return client.post("/verify", json={"type": verify_type, "phone": phone, "token": token})


def wrong(code: str) -> str:
    """A code of the same length that is not ``code``."""
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def phone_identities(app, user_id) -> list[Identity]:
    return [row[0] for row in table_rows(app, sa.select(Identity).where(
        Identity.user_id == uuid.UUID(str(user_id)), Identity.provider == "phone"))]


def assert_one_verification_check(fake, number: str, code: str) -> None:
    """The Twilio Verify fake got exactly one VerificationCheck, for ``number`` and ``code``
    (spec §1.2: Basic AC1:tok, the form body byte for byte)."""
    assert len(fake.received) == 1, fake.received
    [request] = fake.received
    assert request.method == "POST"
    assert request.path == "/v2/Services/VA1/VerificationCheck"
    assert request.headers["Authorization"] == "Basic QUMxOnRvaw=="
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.body == f"Code={code}&To=%2B{number}".encode()
