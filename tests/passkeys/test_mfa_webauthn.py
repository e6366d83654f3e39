"""The WebAuthn MFA factor (spec idp-passkeys-web3.md section 2.4): enrolment, the "create" and
"request" challenges, and their verification with a software authenticator, which raises the
session to aal2 with the amr method mfa/webauthn."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from gotrue_web.models import AAL, FactorStatus, Session
from gotrue_web.services.passkeys.ceremony import ALGORITHMS, b64url, user_handle

from ..api.mfa.support import amr_methods, enrolled_totp, session_id_of
from ..conftest import api_for, table_rows
from ..factories import audit_actions, factor_ids, freeze_clock, session_ids, verified_claims
from ..support.soft_authenticator import SoftAuthenticator
from .conftest import ORIGIN, RP_ID
from .mfa_webauthn_support import (
    assert_error,
    challenge_row,
    challenge_webauthn,
    challenged_webauthn,
    conforming,
    enroll_webauthn,
    enrolled_webauthn,
    factor_row,
    new_session,
    public_key,
    registered_factor,
    signed_in,
    verify_webauthn,
)

# --- enrolment --------------------------------------------------------------------------------


def test_enrol_answers_id_type_and_name_and_stores_an_unverified_factor(app, api):
    session = signed_in(api)
    response = enroll_webauthn(api, session["access_token"], "YubiKey")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body == {"id": body["id"], "type": "webauthn", "friendly_name": "YubiKey"}
    row = factor_row(app, body["id"])
    assert row.status == FactorStatus.unverified
    assert row.secret is None and row.web_authn_credential is None
    assert "factor_in_progress" in audit_actions(app, session["user"]["id"])


def test_enrol_with_an_empty_friendly_name(app, api):
    session = signed_in(api)
    body = enrolled_webauthn(api, session["access_token"], "")
    assert body == {"id": body["id"], "type": "webauthn", "friendly_name": ""}


def test_enrol_disabled_is_422(passkey_app, service_role_token):
    app = passkey_app(**{"mfa.webauthn_enroll_enabled": False})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    response = enroll_webauthn(api, session["access_token"])
    assert_error(response, 422, "mfa_webauthn_enroll_not_enabled",
                 "MFA enroll is disabled for WebAuthn")
    assert factor_ids(app, session["user"]["id"]) == set()


# --- challenges -------------------------------------------------------------------------------


def test_an_unverified_factor_is_challenged_to_create_a_credential(app, api):
    session = signed_in(api)
    token, user = session["access_token"], session["user"]
    factor = enrolled_webauthn(api, token)
    clock = freeze_clock(app)
    body = challenged_webauthn(api, token, factor["id"])
    assert list(body) == ["id", "type", "expires_at", "webauthn"]
    assert body["type"] == "webauthn"
    assert body["expires_at"] == int((clock.now + timedelta(seconds=300)).timestamp())
    assert list(body["webauthn"]) == ["type", "credential_options"]
    assert body["webauthn"]["type"] == "create"
    assert list(body["webauthn"]["credential_options"]) == ["publicKey"]
    options = public_key(body)
    # No excludeCredentials without verified WebAuthn factors; the client's rpId is ignored.
    assert list(options) == ["rp", "user", "challenge", "pubKeyCredParams", "timeout"]
    assert options["rp"] == {"name": "gotrue-web tests", "id": RP_ID}
    assert options["user"] == {"name": user["email"], "displayName": user["email"],
                               "id": user_handle(uuid.UUID(user["id"]))}
    assert options["pubKeyCredParams"] == [{"type": "public-key", "alg": alg}
                                           for alg in ALGORITHMS]
    assert options["timeout"] == 300000
    row = challenge_row(app, body["id"])
    assert row.web_authn_session_data["type"] == "create"
    assert row.web_authn_session_data["challenge"] == options["challenge"]
    assert row.web_authn_session_data["rp_id"] == RP_ID
    assert factor_row(app, factor["id"]).last_challenged_at == clock.now


def test_a_second_factor_excludes_the_verified_ones_and_is_answered_with_request(
        app, api, authenticator):
    session = signed_in(api)
    first, aal2 = registered_factor(api, session["access_token"], authenticator, "first")
    token = aal2["access_token"]
    second_key = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    second, aal2 = registered_factor(api, token, second_key, "second")
    token = aal2["access_token"]
    # A third enrolment: "create", excluding both verified credentials.
    third = enrolled_webauthn(api, token, "third")
    options = public_key(challenged_webauthn(api, token, third["id"]))
    verified_ids = [b64url(key.last_credential_id) for key in (authenticator, second_key)]
    assert options["excludeCredentials"] == [
        {"type": "public-key", "id": credential_id, "transports": ["usb", "nfc"]}
        for credential_id in verified_ids]
    # A verified factor: "request", allowing every verified WebAuthn factor of the user.
    body = challenged_webauthn(api, token, first["id"])
    assert body["webauthn"]["type"] == "request"
    options = public_key(body)
    assert list(options) == ["challenge", "timeout", "rpId", "allowCredentials",
                             "userVerification"]
    assert options["rpId"] == RP_ID
    assert options["timeout"] == 300000
    assert options["userVerification"] == "preferred"
    assert options["allowCredentials"] == [{"type": "public-key", "id": credential_id}
                                           for credential_id in verified_ids]


def test_challenge_without_a_relying_party_is_500(passkey_app, service_role_token):
    app = passkey_app(**{"webauthn.rp_id": ""})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    factor = enrolled_webauthn(api, session["access_token"])
    response = challenge_webauthn(api, session["access_token"], factor["id"])
    assert_error(response, 500, "unexpected_failure", "Failed to initialize WebAuthn")
    assert factor_row(app, factor["id"]).last_challenged_at is None


def test_challenge_with_verification_disabled_is_422(passkey_app, service_role_token):
    app = passkey_app(**{"mfa.webauthn_verify_enabled": False})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    factor = enrolled_webauthn(api, session["access_token"])
    response = challenge_webauthn(api, session["access_token"], factor["id"])
    assert_error(response, 422, "mfa_webauthn_verify_not_enabled",
                 "MFA verification is disabled for WebAuthn")
    # Verification off answers with the enrolment code, as GoTrue does.
    response = verify_webauthn(api, session["access_token"], factor["id"], uuid.uuid4(),
                               "create", {})
    assert_error(response, 422, "mfa_webauthn_enroll_not_enabled",
                 "MFA verification is disabled for WebAuthn")


# --- verification -----------------------------------------------------------------------------


def test_create_verifies_the_factor_and_raises_the_session_to_aal2(app, api, authenticator):
    session = signed_in(api)
    user_id, token = session["user"]["id"], session["access_token"]
    new_session(api, session)
    unfinished_totp = enrolled_totp(api, token)
    factor = enrolled_webauthn(api, token, "key")
    unfinished = enrolled_webauthn(api, token, "never finished")
    challenge = challenged_webauthn(api, token, factor["id"])
    clock = freeze_clock(app)
    response = verify_webauthn(api, token, factor["id"], challenge["id"], "create",
                               authenticator.create(public_key(challenge)))
    assert response.status_code == 200, response.get_data(as_text=True)
    aal2 = response.get_json()
    claims = verified_claims(aal2["access_token"], clock_moved=True)
    assert claims["aal"] == "aal2"
    assert sorted(entry["method"] for entry in claims["amr"]) == ["mfa/webauthn", "password"]
    session_id = session_id_of(session)
    assert amr_methods(app, session_id) == {"password", "mfa/webauthn"}
    # The other aal1 session and the unfinished WebAuthn enrolment are gone; TOTP is kept.
    assert session_ids(app, user_id) == {session_id}
    assert factor_ids(app, user_id) == {uuid.UUID(factor["id"]),
                                         uuid.UUID(unfinished_totp["id"])}
    assert uuid.UUID(unfinished["id"]) not in factor_ids(app, user_id)

    row = factor_row(app, factor["id"])
    credential_id = authenticator.last_credential_id
    assert row.status == FactorStatus.verified
    assert row.web_authn_credential == {
        "credential_id": b64url(credential_id),
        "public_key": b64url(authenticator.credentials[credential_id].public_key),
        "attestation_type": "none", "transports": ["usb"], "backup_eligible": False,
        "backed_up": False, "sign_count": 0, "clone_warning": False}
    assert row.web_authn_aaguid == uuid.UUID(int=0)
    assert row.last_webauthn_challenge_data == {
        "challenge_id": challenge["id"], "type": "create",
        "credential_id": b64url(credential_id),
        "verified_at": clock.now.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"}
    assert challenge_row(app, challenge["id"]).verified_at == clock.now
    assert "verification_attempted" in audit_actions(app, user_id)


def test_request_signs_in_to_aal2_and_updates_the_counter(app, api, authenticator):
    session = signed_in(api)
    factor, _ = registered_factor(api, session["access_token"], authenticator)
    later_session = new_session(api, session)
    token = later_session["access_token"]
    assert verified_claims(token)["aal"] == "aal1"
    challenge = challenged_webauthn(api, token, factor["id"])
    assertion = authenticator.get(public_key(challenge))
    response = verify_webauthn(api, token, factor["id"], challenge["id"], "request", assertion)
    assert response.status_code == 200, response.get_data(as_text=True)
    claims = verified_claims(response.get_json()["access_token"])
    assert claims["aal"] == "aal2"
    assert "mfa/webauthn" in [entry["method"] for entry in claims["amr"]]
    row = factor_row(app, factor["id"])
    assert row.web_authn_credential["sign_count"] == 1
    assert row.web_authn_credential["clone_warning"] is False
    assert row.last_webauthn_challenge_data["type"] == "request"
    assert row.last_webauthn_challenge_data["challenge_id"] == challenge["id"]
    # GET /user lists the verified factor with its WebAuthn keys.
    user = conforming(api, api.get("/user", token=token), "GET", "/user").get_json()
    [listed] = user["factors"]
    assert listed["id"] == factor["id"]
    assert listed["factor_type"] == "webauthn" and listed["status"] == "verified"
    assert listed["web_authn_aaguid"] == str(uuid.UUID(int=0))
    assert listed["last_webauthn_challenge_data"]["challenge_id"] == challenge["id"]
    assert "web_authn_credential" not in listed


def test_a_counter_that_does_not_grow_still_signs_in_and_keeps_the_stored_count(
        app, api, authenticator):
    session = signed_in(api)
    factor, aal2 = registered_factor(api, session["access_token"], authenticator)
    token = aal2["access_token"]
    for forced, stored, warning in ((7, 7, False), (3, 7, True), (8, 8, False)):
        challenge = challenged_webauthn(api, token, factor["id"])
        assertion = authenticator.get(public_key(challenge), sign_count=forced)
        response = verify_webauthn(api, token, factor["id"], challenge["id"], "request",
                                   assertion)
        assert response.status_code == 200, response.get_data(as_text=True)
        token = response.get_json()["access_token"]
        credential = factor_row(app, factor["id"]).web_authn_credential
        assert (credential["sign_count"], credential["clone_warning"]) == (stored, warning)


def test_another_verified_factor_may_answer_a_request(app, api, authenticator):
    session = signed_in(api)
    first, aal2 = registered_factor(api, session["access_token"], authenticator, "first")
    second_key = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    second, _ = registered_factor(api, aal2["access_token"], second_key, "second")
    token = new_session(api, session)["access_token"]
    challenge = challenged_webauthn(api, token, first["id"])
    response = verify_webauthn(api, token, first["id"], challenge["id"], "request",
                               second_key.get(public_key(challenge)))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert factor_row(app, second["id"]).web_authn_credential["sign_count"] == 1
    assert factor_row(app, first["id"]).web_authn_credential["sign_count"] == 0
    # The session's factor is the one whose credential answered.
    session_id = session_id_of(response.get_json())
    [row] = table_rows(app, sa.select(Session.aal, Session.factor_id)
                       .where(Session.id == session_id))
    assert tuple(row) == (AAL.aal2, uuid.UUID(second["id"]))


def test_unenrolling_the_factor_drops_its_sessions_to_aal1(app, api, authenticator):
    session = signed_in(api)
    factor, aal2 = registered_factor(api, session["access_token"], authenticator)
    response = api.delete(f"/factors/{factor['id']}", token=aal2["access_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert amr_methods(app, session_id_of(aal2)) == {"password"}

