"""Helpers the WebAuthn MFA factor tests share: enrol, challenge and verify through the API with
a software authenticator, and snapshots of the rows a verify may change."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from gotrue_web.models import AMRClaim, Challenge, Factor, Session

from ..api.mfa.support import assert_error, signed_in
from ..conftest import table_rows
from ..factories import sign_in
from ..openapi.conformance import assert_conforms

__all__ = ["assert_error", "signed_in"]


def conforming(api, response, method: str, path: str):
    """``response`` after checking it against the OpenAPI document."""
    assert_conforms(response, api.prefix + path, method)
    return response


def enroll_webauthn(api, token: str, friendly_name: str = "security key"):
    path = "/factors"
    return conforming(api, api.post(path, token=token, json={
        "factor_type": "webauthn", "friendly_name": friendly_name}), "POST", path)


def enrolled_webauthn(api, token: str, friendly_name: str = "security key") -> dict:
    response = enroll_webauthn(api, token, friendly_name)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def challenge_webauthn(api, token: str, factor_id, **body):
    """POST /factors/{id}/challenge with the body auth-js sends (its own rpId and origins)."""
    body.setdefault("webauthn", {"rpId": "client.example",
                                 "rpOrigins": ["https://client.example"]})
    path = f"/factors/{factor_id}/challenge"
    return conforming(api, api.post(path, token=token, json=body), "POST", path)


def challenged_webauthn(api, token: str, factor_id) -> dict:
    response = challenge_webauthn(api, token, factor_id)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def public_key(challenge: dict) -> dict:
    return challenge["webauthn"]["credential_options"]["publicKey"]


def verify_webauthn(api, token: str, factor_id, challenge_id, ceremony_type: str,
                    credential_response, **extra):
    path = f"/factors/{factor_id}/verify"
    webauthn = {"type": ceremony_type, "credential_response": credential_response,
                "rpId": "client.example", "rpOrigins": ["https://client.example"], **extra}
    return conforming(api, api.post(path, token=token, json={
        "challenge_id": str(challenge_id), "webauthn": webauthn}), "POST", path)


def registered_factor(api, token: str, authenticator, friendly_name: str = "security key"
                      ) -> tuple[dict, dict]:
    """Enrol a WebAuthn factor and verify it with a new credential of ``authenticator``:
    (the enrolment JSON, the aal2 session JSON)."""
    factor = enrolled_webauthn(api, token, friendly_name)
    challenge = challenged_webauthn(api, token, factor["id"])
    response = verify_webauthn(api, token, factor["id"], challenge["id"], "create",
                               authenticator.create(public_key(challenge)))
    assert response.status_code == 200, response.get_data(as_text=True)
    return factor, response.get_json()


def factor_row(app, factor_id) -> Factor:
    return table_rows(app, sa.select(Factor).where(Factor.id == uuid.UUID(str(factor_id))))[0][0]


def challenge_row(app, challenge_id) -> Challenge:
    return table_rows(app, sa.select(Challenge).where(
        Challenge.id == uuid.UUID(str(challenge_id))))[0][0]


def snapshot(app, user_id) -> dict:
    """Everything a WebAuthn verify may change for the user: factors, challenges, sessions and
    their amr claims."""
    user_id = uuid.UUID(str(user_id))
    factors = table_rows(app, sa.select(
        Factor.id, Factor.status, Factor.web_authn_credential, Factor.web_authn_aaguid,
        Factor.last_webauthn_challenge_data, Factor.updated_at).where(Factor.user_id == user_id)
        .order_by(Factor.id))
    challenges = table_rows(app, sa.select(
        Challenge.id, Challenge.verified_at, Challenge.failed_attempts,
        Challenge.web_authn_session_data).join(Factor, Factor.id == Challenge.factor_id)
        .where(Factor.user_id == user_id).order_by(Challenge.id))
    sessions = table_rows(app, sa.select(Session.id, Session.aal, Session.factor_id)
                          .where(Session.user_id == user_id).order_by(Session.id))
    claims = table_rows(app, sa.select(AMRClaim.session_id, AMRClaim.authentication_method)
                        .join(Session, Session.id == AMRClaim.session_id)
                        .where(Session.user_id == user_id)
                        .order_by(AMRClaim.session_id, AMRClaim.authentication_method))
    return {"factors": [tuple(row) for row in factors],
            "challenges": [tuple(row) for row in challenges],
            "sessions": [tuple(row) for row in sessions],
            "claims": [tuple(row) for row in claims]}


def new_session(api, session: dict) -> dict:
    """Another password sign-in of the user of ``session`` (aal1)."""
    return sign_in(api, session["user"]["email"])
