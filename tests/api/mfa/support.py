"""Helpers the MFA API tests share: signed-in users, enrolment, challenges, verification and
TOTP codes (pyotp: SHA1, 6 digits, 30 s steps, as the server computes them)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa

from gotrue_web.models import AMRClaim, Challenge, Factor, Session

from ...conftest import table_rows
from ...factories import PASSWORD, create_user, sign_in, unique_email, verified_claims


def signed_in(api, email: str | None = None, password: str = PASSWORD) -> dict:
    """A confirmed user (made with the admin API) signed in with its password: the session
    JSON (aal1, amr ["password"])."""
    email = email or unique_email("mfa")
    create_user(api, email, password=password)
    return sign_in(api, email, password)


def enroll_totp(api, token: str, **body):
    """POST /factors for a TOTP factor; ``body`` adds friendly_name, issuer... (the response)."""
    return api.post("/factors", token=token, json={"factor_type": "totp", **body})


def enroll(api, token: str, **body):
    """POST /factors with exactly ``body`` (the response)."""
    return api.post("/factors", token=token, json=body)


def challenge(api, token: str, factor_id, *, environ_base: dict | None = None, **body):
    """POST /factors/{id}/challenge (the response); ``environ_base`` sets the client address."""
    kwargs = {"environ_base": environ_base} if environ_base else {}
    return api.post(f"/factors/{factor_id}/challenge", token=token, json=body, **kwargs)


def verify(api, token: str, factor_id, challenge_id, code: str, *,
           environ_base: dict | None = None):
    """POST /factors/{id}/verify (the response)."""
    kwargs = {"environ_base": environ_base} if environ_base else {}
    return api.post(f"/factors/{factor_id}/verify", token=token,
                    json={"challenge_id": str(challenge_id), "code": code}, **kwargs)


def unenroll(api, token: str, factor_id):
    """DELETE /factors/{id} (the response)."""
    return api.delete(f"/factors/{factor_id}", token=token)


def totp_code(secret: str, when: datetime | None = None) -> str:
    """The 6-digit TOTP code of ``secret`` at ``when`` (default: the real now)."""
    totp = pyotp.TOTP(secret)
    return totp.at(when) if when is not None else totp.now()


def app_now(app) -> datetime:
    """The app's clock (moved by tests.factories.freeze_clock / later)."""
    return app.extensions["gotrue"].now()


def enrolled_totp(api, token: str, **body) -> dict:
    """Enroll a TOTP factor that must succeed: the 200 JSON (id, totp.secret...)."""
    response = enroll_totp(api, token, **body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def challenged(api, token: str, factor_id, **kwargs) -> dict:
    """A challenge that must succeed: the 200 JSON (id, type, expires_at)."""
    response = challenge(api, token, factor_id, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def verified_totp(api, app, session: dict, **body) -> tuple[dict, dict]:
    """Enroll, challenge and verify a TOTP factor from ``session`` (code at the app's now):
    (the factor JSON, the aal2 session JSON)."""
    token = session["access_token"]
    factor = enrolled_totp(api, token, **body)
    chal = challenged(api, token, factor["id"])
    response = verify(api, token, factor["id"], chal["id"],
                      totp_code(factor["totp"]["secret"], app_now(app)))
    assert response.status_code == 200, response.get_data(as_text=True)
    return factor, response.get_json()


def aal2_session(api, app, email: str | None = None, **body) -> tuple[dict, dict]:
    """A user signed in and stepped up with a fresh TOTP factor: (factor JSON, session JSON)."""
    return verified_totp(api, app, signed_in(api, email), **body)


def session_id_of(session: dict) -> uuid.UUID:
    """The session id in a session JSON's access token."""
    return uuid.UUID(verified_claims(session["access_token"], clock_moved=True)["session_id"])


def error(response) -> tuple[int, str | None]:
    """(status, error code) of a response."""
    body = response.get_json(silent=True) or {}
    return response.status_code, body.get("code")


def factor_row(app, factor_id) -> Factor | None:
    """The mfa_factors row, or None."""
    rows = table_rows(app, sa.select(Factor).where(Factor.id == uuid.UUID(str(factor_id))))
    return rows[0][0] if rows else None


def challenge_row(app, challenge_id) -> Challenge | None:
    """The mfa_challenges row, or None."""
    rows = table_rows(app, sa.select(Challenge).where(
        Challenge.id == uuid.UUID(str(challenge_id))))
    return rows[0][0] if rows else None


def session_row(app, session_id) -> Session | None:
    """The sessions row, or None."""
    rows = table_rows(app, sa.select(Session).where(Session.id == uuid.UUID(str(session_id))))
    return rows[0][0] if rows else None


def amr_methods(app, session_id) -> set[str]:
    """The authentication methods stored for a session (mfa_amr_claims)."""
    return {row[0] for row in table_rows(app, sa.select(AMRClaim.authentication_method).where(
        AMRClaim.session_id == uuid.UUID(str(session_id))))}


def assert_error(response, status: int, code: str, message: str | None = None) -> None:
    """The response is GoTrue's error JSON with this status and code (and message, if given),
    the code echoed in the x-sb-error-code header."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == code, body
    assert response.headers.get("x-sb-error-code") == code
    if message is not None:
        assert body["message"] == message, body


def wrong_code(secret: str, when: datetime) -> str:
    """A 6-digit code the server must refuse at ``when``: none of the codes of the steps it
    accepts (one step either side)."""
    totp = pyotp.TOTP(secret)
    accepted = {totp.at(when + timedelta(seconds=30 * step)) for step in (-1, 0, 1)}
    for step in range(10, 40):
        code = totp.at(when + timedelta(seconds=30 * step))
        if code not in accepted:
            return code
    raise AssertionError("no wrong code found")
