"""Registering a passkey (spec idp-passkeys-web3.md sections 0 and 2.2): POST
/passkeys/registration/options and /verify, the options JSON, every error in GoTrue's order
with its code, message and status, and the rows each call leaves."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest

from gotrue_web.models import AAL, FactorStatus, WebAuthnChallenge, WebAuthnCredential

from ..factories import add_factor, audit_entries, count, freeze_clock, make_user, update_user
from ..openapi.conformance import assert_conforms
from ..support.soft_authenticator import EDDSA, ES256, RS256, SoftAuthenticator, b64url
from .conftest import ORIGIN, RP_ID
from .passkey_flows import Passkeys, api_error, challenges, credentials, session_token

ALGORITHMS = [-7, -35, -36, -257, -258, -259, -37, -38, -39, -8]
GOOGLE_PASSWORD_MANAGER = uuid.UUID("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4")
NIL = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def passkeys(app, service_role_token) -> Passkeys:
    return Passkeys(app, service_role_token)


def _options(passkeys: Passkeys, token: str) -> dict:
    response = passkeys.registration_options(token)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_conforms(response, "/passkeys/registration/options", "POST")
    return response.get_json()


# --- options -------------------------------------------------------------------------------------


def test_the_options_are_goTrues_json_and_a_challenge_row_for_the_caller(app, passkeys):
    clock = freeze_clock(app)
    user_id, token = passkeys.user("ann@example.com")
    body = _options(passkeys, token)
    assert list(body) == ["challenge_id", "options", "expires_at"]
    assert uuid.UUID(body["challenge_id"]).version == 4
    assert body["expires_at"] == int(clock.now.timestamp()) + 300
    options = body["options"]
    challenge = options["challenge"]
    assert options == {
        "rp": {"name": "gotrue-web tests", "id": RP_ID},
        "user": {"name": "ann@example.com", "displayName": "ann@example.com",
                 "id": b64url(str(user_id).encode("ascii"))},
        "challenge": challenge,
        "pubKeyCredParams": [{"type": "public-key", "alg": alg} for alg in ALGORITHMS],
        "timeout": 300000,
        "authenticatorSelection": {"residentKey": "required", "userVerification": "preferred"},
        "attestation": "none",
    }
    assert list(options) == ["rp", "user", "challenge", "pubKeyCredParams", "timeout",
                             "authenticatorSelection", "attestation"]
    assert list(options["user"]) == ["name", "displayName", "id"]
    assert "=" not in challenge and len(base64.urlsafe_b64decode(challenge + "=")) == 32
    [row] = challenges(app)
    assert (row.id, row.user_id, row.challenge_type) == (
        uuid.UUID(body["challenge_id"]), user_id, "registration")
    assert row.session_data["challenge"] == challenge
    assert row.created_at == clock.now and row.expires_at == clock.now + timedelta(minutes=5)


def test_a_new_challenge_every_call_and_the_display_name_from_user_metadata(app, passkeys):
    user_id, token = passkeys.user()
    update_user(app, user_id, raw_user_meta_data={"name": "Ann Example"})
    first, second = _options(passkeys, token), _options(passkeys, token)
    assert first["options"]["user"]["displayName"] == "Ann Example"
    assert first["options"]["challenge"] != second["options"]["challenge"]
    assert first["challenge_id"] != second["challenge_id"]
    assert count(app, WebAuthnChallenge) == 2


def test_the_body_is_ignored(app, passkeys):
    _, token = passkeys.user()
    for kwargs in ({"data": "not json"}, {"data": ""}, {"json": {"anything": 1}}):
        response = passkeys.api.post("/passkeys/registration/options", token=token, **kwargs)
        assert response.status_code == 200, response.get_json()
    assert count(app, WebAuthnChallenge) == 3


def test_a_phone_user_is_named_by_the_phone(app, passkeys):
    user_id = make_user(app, phone="15550001111")
    options = _options(passkeys, session_token(app, user_id))["options"]
    assert options["user"]["name"] == options["user"]["displayName"] == "15550001111"


def test_the_users_passkeys_are_excluded(app, passkeys, authenticator):
    user_id, token = passkeys.user()
    passkeys.register(token, authenticator)
    passkeys.register(token, authenticator)
    options = _options(passkeys, token)["options"]
    stored = [row.credential_id for row in credentials(app, user_id)]
    assert options["excludeCredentials"] == [{"type": "public-key", "id": b64url(credential_id)}
                                             for credential_id in stored]
    assert list(options)[5] == "excludeCredentials"


def test_the_challenge_expiry_follows_the_setting_and_expired_rows_are_purged(passkey_app):
    app = passkey_app(**{"webauthn.challenge_expiry": timedelta(seconds=30)})
    passkeys = Passkeys(app)
    clock = freeze_clock(app)
    _, token = passkeys.user()
    first = _options(passkeys, token)
    assert first["expires_at"] == int(clock.now.timestamp()) + 30
    clock.advance(seconds=31)
    second = _options(passkeys, token)
    # The expired row is gone; only the new one is left.
    assert [row.id for row in challenges(app)] == [uuid.UUID(second["challenge_id"])]


# --- options: the refusals in order --------------------------------------------------------------


def test_disabled_passkeys_are_a_404_for_a_signed_in_user(passkey_app):
    app = passkey_app(**{"passkeys.enabled": False})
    passkeys = Passkeys(app)
    _, token = passkeys.user()
    for response in (passkeys.registration_options(token),
                     passkeys.registration_verify(token, NIL, {})):
        assert api_error(response) == (404, "passkey_disabled", "Passkeys are disabled")
    assert count(app, WebAuthnChallenge) == 0


def test_a_bearer_is_required(passkeys):
    for response in (passkeys.registration_options(None),
                     passkeys.registration_verify(None, NIL, {})):
        assert api_error(response) == (401, "no_authorization",
                                       "This endpoint requires a valid Bearer token")


def test_anonymous_users_may_not(app, passkeys):
    token = session_token(app, make_user(app, anonymous=True), method="anonymous")
    for response in (passkeys.registration_options(token),
                     passkeys.registration_verify(token, NIL, {})):
        assert api_error(response) == (403, "no_authorization",
                                       "Anonymous user not allowed to perform these actions")
    assert count(app, WebAuthnChallenge) == 0


def test_sso_users_may_not_before_the_aal_check(app, passkeys):
    user_id = make_user(app, "sso@example.com", is_sso_user=True)
    add_factor(app, user_id)
    token = session_token(app, user_id, method="sso/saml")
    assert api_error(passkeys.registration_options(token)) == (
        422, "validation_failed", "SSO users cannot register passkeys")
    assert count(app, WebAuthnChallenge) == 0


def test_a_verified_factor_needs_an_aal2_session_before_the_count(passkey_app):
    app = passkey_app(**{"passkeys.max_passkeys_per_user": 0})
    passkeys = Passkeys(app)
    user_id, token = passkeys.user()
    add_factor(app, user_id)
    assert api_error(passkeys.registration_options(token)) == (
        403, "insufficient_aal",
        "AAL2 session is required to manage passkeys when MFA is enabled")
    aal2 = session_token(app, user_id, aal=AAL.aal2)
    assert api_error(passkeys.registration_options(aal2)) == (
        422, "too_many_passkeys", "Maximum number of passkeys reached")
    assert count(app, WebAuthnChallenge) == 0


def test_an_unverified_factor_does_not_ask_for_aal2(app, passkeys):
    user_id, token = passkeys.user()
    add_factor(app, user_id, status=FactorStatus.unverified)
    assert passkeys.registration_options(token).status_code == 200


def test_the_maximum_counts_stored_passkeys(passkey_app, authenticator):
    app = passkey_app(**{"passkeys.max_passkeys_per_user": 2})
    passkeys = Passkeys(app)
    _, token = passkeys.user()
    passkeys.register(token, authenticator)
    passkeys.register(token, authenticator)
    assert api_error(passkeys.registration_options(token)) == (
        422, "too_many_passkeys", "Maximum number of passkeys reached")


def test_a_relying_party_that_is_not_configured_is_a_500(passkey_app):
    app = passkey_app(**{"webauthn.rp_origins": ()})
    passkeys = Passkeys(app)
    _, token = passkeys.user()
    response = passkeys.registration_options(token)
    assert api_error(response) == (500, "unexpected_failure", "Failed to initialize WebAuthn")
    assert count(app, WebAuthnChallenge) == 0


# --- verify --------------------------------------------------------------------------------------


def test_verify_stores_the_passkey_and_answers_id_name_and_time(app, passkeys, authenticator):
    clock = freeze_clock(app)
    user_id, token = passkeys.user()
    body = _options(passkeys, token)
    response = passkeys.registration_verify(
        token, body["challenge_id"], authenticator.create(body["options"]))
    assert response.status_code == 200, response.get_json()
    assert_conforms(response, "/passkeys/registration/verify", "POST")
    answer = response.get_json()
    [row] = credentials(app, user_id)
    assert answer == {"id": str(row.id), "friendly_name": "Passkey",
                      "created_at": clock.now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")}
    assert list(answer) == ["id", "friendly_name", "created_at"]
    [created] = authenticator.credentials.values()
    assert row.credential_id == authenticator.last_credential_id
    assert row.public_key == created.public_key
    assert (row.attestation_type, row.sign_count, row.transports) == ("none", 0, ["usb"])
    assert (row.backup_eligible, row.backed_up) == (False, False)
    assert row.aaguid in (None, uuid.UUID(NIL))
    assert row.created_at == row.updated_at == clock.now and row.last_used_at is None
    # The challenge is spent, and the entry names the user and the passkey.
    assert count(app, WebAuthnChallenge) == 0
    [entry] = audit_entries(app, "passkey_created")
    assert entry["actor_id"] == str(user_id)
    assert entry["traits"] == {"passkey_id": str(row.id)}


def test_the_name_is_the_authenticators_model_and_the_flags_are_kept(app, passkeys):
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN,
                                      aaguid=GOOGLE_PASSWORD_MANAGER.bytes,
                                      backup_eligible=True, backed_up=True,
                                      transports=("internal", "hybrid"))
    user_id, token = passkeys.user()
    assert passkeys.register(token, authenticator)["friendly_name"] == "Google Password Manager"
    [row] = credentials(app, user_id)
    assert row.aaguid == GOOGLE_PASSWORD_MANAGER
    assert (row.backup_eligible, row.backed_up) == (True, True)
    assert row.transports == ["internal", "hybrid"]


@pytest.mark.parametrize("algorithm", [ES256, RS256, EDDSA], ids=["ES256", "RS256", "EdDSA"])
def test_each_common_key_type_registers(app, passkeys, algorithm):
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, algorithm=algorithm)
    user_id, token = passkeys.user()
    passkeys.register(token, authenticator)
    assert len(credentials(app, user_id)) == 1


def test_a_replayed_verify_finds_no_challenge(app, passkeys, authenticator):
    _, token = passkeys.user()
    body = _options(passkeys, token)
    credential = authenticator.create(body["options"])
    assert passkeys.registration_verify(token, body["challenge_id"], credential).status_code == 200
    replay = passkeys.registration_verify(token, body["challenge_id"], credential)
    assert api_error(replay) == (400, "webauthn_challenge_not_found",
                                 "Challenge not found or already used")
    assert count(app, WebAuthnCredential) == 1


def test_sso_and_aal_come_before_the_body(app, passkeys):
    sso_user = make_user(app, "sso@example.com", is_sso_user=True)
    sso = passkeys.api.post("/passkeys/registration/verify", data="not json",
                            token=session_token(app, sso_user, method="sso/saml"))
    assert api_error(sso) == (422, "validation_failed", "SSO users cannot register passkeys")
    user_id, token = passkeys.user()
    add_factor(app, user_id)
    aal1 = passkeys.api.post("/passkeys/registration/verify", data="not json", token=token)
    assert api_error(aal1)[:2] == (403, "insufficient_aal")


@pytest.mark.parametrize("body, message", [
    ({}, "challenge_id is required"),
    ({"credential": {}}, "challenge_id is required"),
    ({"challenge_id": "", "credential": {}}, "challenge_id is required"),
    ({"challenge_id": NIL}, "credential is required"),
    ({"challenge_id": NIL, "credential": None}, "credential is required"),
    ({"challenge_id": "not-a-uuid", "credential": {}}, "challenge_id must be a valid UUID"),
    ({"challenge_id": "not-a-uuid"}, "credential is required"),
], ids=["empty", "no-id", "blank-id", "no-credential", "null-credential", "bad-id",
        "bad-id-no-credential"])
def test_the_body_checks_in_order(app, passkeys, body, message):
    _, token = passkeys.user()
    _options(passkeys, token)
    response = passkeys.api.post("/passkeys/registration/verify", token=token, json=body)
    assert api_error(response) == (400, "validation_failed", message)
    assert count(app, WebAuthnChallenge) == 1


@pytest.mark.parametrize("raw", ["not json", "[]", '{"challenge_id": 7, "credential": {}}'],
                         ids=["text", "array", "number-id"])
def test_a_body_that_is_not_the_json_asked_for_is_bad_json(passkeys, raw):
    _, token = passkeys.user()
    response = passkeys.api.post("/passkeys/registration/verify", token=token, data=raw)
    assert api_error(response)[:2] == (400, "bad_json")


def test_an_unknown_another_users_or_a_sign_in_challenge_is_not_found(app, passkeys,
                                                                     authenticator):
    _, token = passkeys.user()
    _, other_token = passkeys.user()
    others = _options(passkeys, other_token)
    sign_in = passkeys.options_for_login()
    credential = authenticator.create(others["options"])
    for challenge_id in (NIL, others["challenge_id"], sign_in["challenge_id"]):
        response = passkeys.registration_verify(token, challenge_id, credential)
        assert api_error(response) == (400, "webauthn_challenge_not_found",
                                       "Challenge not found or already used")
    # Neither is consumed by the failed attempts: the other user can still finish.
    assert count(app, WebAuthnChallenge) == 2
    done = passkeys.registration_verify(other_token, others["challenge_id"], credential)
    assert done.status_code == 200


def test_an_expired_challenge_is_refused_and_spent(app, passkeys, authenticator):
    clock = freeze_clock(app)
    _, token = passkeys.user()
    body = _options(passkeys, token)
    credential = authenticator.create(body["options"])
    clock.advance(seconds=301)
    response = passkeys.registration_verify(token, body["challenge_id"], credential)
    assert api_error(response) == (400, "webauthn_challenge_expired", "Challenge has expired")
    assert count(app, WebAuthnChallenge) == 0
    again = passkeys.registration_verify(token, body["challenge_id"], credential)
    assert api_error(again)[1] == "webauthn_challenge_not_found"
    assert count(app, WebAuthnCredential) == 0


def test_a_challenge_at_its_expiry_still_counts(app, passkeys, authenticator):
    clock = freeze_clock(app)
    _, token = passkeys.user()
    body = _options(passkeys, token)
    clock.advance(seconds=300)
    response = passkeys.registration_verify(token, body["challenge_id"],
                                            authenticator.create(body["options"]))
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("overrides, message", [
    ({"origin": "https://evil.example"}, "Credential verification failed"),
    ({"challenge": b64url(b"another challenge of 32 bytes...")},
     "Credential verification failed"),
    ({"type": "webauthn.get"}, "Credential verification failed"),
    ({"rp_id": "example.com"}, "Credential verification failed"),
    ({"user_present": False}, "Credential verification failed"),
    ({"backed_up": True, "backup_eligible": False}, "Credential verification failed"),
], ids=["origin", "challenge", "type", "rp-id", "no-user-presence", "bs-without-be"])
def test_a_credential_that_fails_a_check_is_refused_and_spends_the_challenge(
        app, passkeys, authenticator, overrides, message):
    _, token = passkeys.user()
    body = _options(passkeys, token)
    credential = authenticator.create(body["options"], **overrides)
    response = passkeys.registration_verify(token, body["challenge_id"], credential)
    assert api_error(response) == (400, "webauthn_verification_failed", message)
    assert count(app, WebAuthnChallenge) == 0 and count(app, WebAuthnCredential) == 0
    retry = passkeys.registration_verify(token, body["challenge_id"],
                                         authenticator.create(body["options"]))
    assert api_error(retry)[1] == "webauthn_challenge_not_found"


def test_user_verification_is_not_required(app, passkeys, authenticator):
    _, token = passkeys.user()
    passkeys.register(token, authenticator, user_verified=False)
    assert count(app, WebAuthnCredential) == 1


@pytest.mark.parametrize("credential", ["a string", [], {}, {"id": "x", "rawId": "x"},
                                        {"id": "AA", "rawId": "AA", "type": "public-key",
                                         "response": {"clientDataJSON": "%%%"}}],
                         ids=["string", "array", "empty", "no-response", "bad-base64"])
def test_an_unparsable_credential_is_an_invalid_response(app, passkeys, credential):
    _, token = passkeys.user()
    body = _options(passkeys, token)
    response = passkeys.registration_verify(token, body["challenge_id"], credential)
    assert api_error(response) == (400, "webauthn_verification_failed",
                                   "Invalid credential response")
    assert count(app, WebAuthnChallenge) == 0


def test_the_maximum_is_checked_again_when_storing(passkey_app, authenticator):
    app = passkey_app(**{"passkeys.max_passkeys_per_user": 1})
    passkeys = Passkeys(app)
    user_id, token = passkeys.user()
    first, second = _options(passkeys, token), _options(passkeys, token)
    assert passkeys.registration_verify(
        token, first["challenge_id"], authenticator.create(first["options"])).status_code == 200
    late = passkeys.registration_verify(token, second["challenge_id"],
                                        authenticator.create(second["options"]))
    assert api_error(late) == (422, "too_many_passkeys", "Maximum number of passkeys reached")
    assert len(credentials(app, user_id)) == 1
    assert count(app, WebAuthnChallenge) == 0


def test_a_credential_id_already_stored_is_refused_for_anyone(app, passkeys, authenticator):
    owner_id, owner_token = passkeys.user()
    passkeys.register(owner_token, authenticator)
    taken = authenticator.last_credential_id
    for token in (owner_token, passkeys.user()[1]):
        body = _options(passkeys, token)
        credential = authenticator.create(body["options"], credential_id=taken)
        response = passkeys.registration_verify(token, body["challenge_id"], credential)
        assert api_error(response) == (422, "webauthn_credential_exists",
                                       "This credential is already registered")
    [row] = credentials(app)
    assert row.user_id == owner_id
    assert count(app, WebAuthnChallenge) == 0
    assert len(audit_entries(app, "passkey_created")) == 1
