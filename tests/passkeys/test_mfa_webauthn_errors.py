"""The WebAuthn MFA factor's refusals (spec idp-passkeys-web3.md section 2.4): each 400 message
of the verify body, a credential that fails a check (500, nothing changed, the challenge still
usable), replays and expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ..factories import later
from ..support.soft_authenticator import SoftAuthenticator, b64url
from .conftest import ORIGIN, RP_ID
from .mfa_webauthn_support import (
    assert_error,
    challenged_webauthn,
    conforming,
    enrolled_webauthn,
    factor_row,
    new_session,
    public_key,
    registered_factor,
    signed_in,
    snapshot,
    verify_webauthn,
)

CREATE_FAILED = "Failed to validate WebAuthn MFA registration"
REQUEST_FAILED = "Failed to validate WebAuthn MFA response"


@pytest.fixture
def create_challenge(app, api):
    """A signed-in user, an unverified WebAuthn factor and its "create" challenge:
    (session JSON, factor JSON, challenge JSON)."""
    session = signed_in(api)
    factor = enrolled_webauthn(api, session["access_token"])
    challenge = challenged_webauthn(api, session["access_token"], factor["id"])
    return session, factor, challenge


@pytest.fixture
def request_challenge(app, api, authenticator):
    """A user with a verified WebAuthn factor, signed in again (aal1), and a "request" challenge
    of that factor: (session JSON, factor JSON, challenge JSON)."""
    first = signed_in(api)
    factor, _ = registered_factor(api, first["access_token"], authenticator)
    session = new_session(api, first)
    challenge = challenged_webauthn(api, session["access_token"], factor["id"])
    return session, factor, challenge


def _post_verify(api, token, factor_id, body):
    path = f"/factors/{factor_id}/verify"
    return conforming(api, api.post(path, token=token, json=body), "POST", path)


# --- the body ---------------------------------------------------------------------------------

BODY_ERRORS = [
    pytest.param(None, "WebAuthn config required", id="no-webauthn"),
    pytest.param({"type": "update", "credential_response": {}},
                 "WebAuthn type must be create or request", id="unknown-type"),
    pytest.param({"credential_response": {}}, "WebAuthn type must be create or request",
                 id="no-type"),
    pytest.param({"type": "create"}, "credential_response required", id="no-response"),
    pytest.param({"type": "create", "credential_response": None},
                 "credential_response required", id="null-response"),
    pytest.param({"type": "create", "credential_response": "a string"},
                 "Invalid credential_response", id="string-response"),
    pytest.param({"type": "create", "credential_response": {}}, "Invalid credential_response",
                 id="empty-response"),
    pytest.param({"type": "create", "credential_response": {
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"clientDataJSON": "not base64url!", "attestationObject": "AAAA"}}},
        "Invalid credential_response", id="undecodable-response"),
]


@pytest.mark.parametrize(("webauthn", "message"), BODY_ERRORS)
def test_a_bad_webauthn_body_is_400(app, api, create_challenge, webauthn, message):
    session, factor, challenge = create_challenge
    before = snapshot(app, session["user"]["id"])
    body = {"challenge_id": challenge["id"]}
    if webauthn is not None:
        body["webauthn"] = webauthn
    response = _post_verify(api, session["access_token"], factor["id"], body)
    assert_error(response, 400, "validation_failed", message)
    assert snapshot(app, session["user"]["id"]) == before


def test_a_webauthn_value_that_is_not_an_object_is_bad_json(app, api, create_challenge):
    session, factor, challenge = create_challenge
    response = _post_verify(api, session["access_token"], factor["id"],
                            {"challenge_id": challenge["id"], "webauthn": "create"})
    assert_error(response, 400, "bad_json")


def test_an_attestation_object_that_is_not_cbor_is_400(app, api, create_challenge,
                                                        authenticator):
    session, factor, challenge = create_challenge
    answer = authenticator.create(public_key(challenge))
    answer["response"]["attestationObject"] = b64url(b"\xff\x00 not cbor")
    before = snapshot(app, session["user"]["id"])
    response = verify_webauthn(api, session["access_token"], factor["id"], challenge["id"],
                               "create", answer)
    assert_error(response, 400, "validation_failed", "Invalid credential_response")
    assert snapshot(app, session["user"]["id"]) == before


def test_an_assertion_that_does_not_parse_is_400(app, api, request_challenge):
    session, factor, challenge = request_challenge
    before = snapshot(app, session["user"]["id"])
    response = verify_webauthn(api, session["access_token"], factor["id"], challenge["id"],
                               "request", {"id": "AAAA", "type": "public-key"})
    assert_error(response, 400, "validation_failed", "Invalid credential_response")
    assert snapshot(app, session["user"]["id"]) == before


def test_the_type_must_match_the_factor(app, api, create_challenge, authenticator):
    session, factor, challenge = create_challenge
    response = verify_webauthn(api, session["access_token"], factor["id"], challenge["id"],
                               "request", authenticator.create(public_key(challenge)))
    assert_error(response, 400, "validation_failed",
                 "WebAuthn type must be create for this factor and challenge")


# --- failed checks: 500, nothing changed ------------------------------------------------------

CREATE_FAILURES = [
    pytest.param({"origin": "https://evil.example"}, id="origin"),
    pytest.param({"rp_id": "evil.example"}, id="rp-id"),
    pytest.param({"challenge": b64url(b"another challenge")}, id="challenge"),
    pytest.param({"type": "webauthn.get"}, id="client-data-type"),
    pytest.param({"user_present": False}, id="user-not-present"),
    pytest.param({"backup_eligible": False, "backed_up": True}, id="backed-up-not-eligible"),
]


@pytest.mark.parametrize("overrides", CREATE_FAILURES)
def test_a_credential_failing_a_check_is_500_and_changes_nothing(
        app, api, create_challenge, authenticator, overrides):
    session, factor, challenge = create_challenge
    before = snapshot(app, session["user"]["id"])
    response = verify_webauthn(api, session["access_token"], factor["id"], challenge["id"],
                               "create", authenticator.create(public_key(challenge),
                                                              **overrides))
    assert_error(response, 500, "unexpected_failure", CREATE_FAILED)
    assert snapshot(app, session["user"]["id"]) == before
    # The challenge is still good for a valid answer.
    response = verify_webauthn(api, session["access_token"], factor["id"], challenge["id"],
                               "create", authenticator.create(public_key(challenge)))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_credential_already_registered_as_a_factor_is_refused(app, api, authenticator):
    first = signed_in(api)
    _, aal2 = registered_factor(api, first["access_token"], authenticator)
    token = aal2["access_token"]
    factor = enrolled_webauthn(api, token, "again")
    challenge = challenged_webauthn(api, token, factor["id"])
    before = snapshot(app, first["user"]["id"])
    answer = authenticator.create(public_key(challenge),
                                  credential_id=authenticator.last_credential_id)
    response = verify_webauthn(api, token, factor["id"], challenge["id"], "create", answer)
    assert_error(response, 500, "unexpected_failure", CREATE_FAILED)
    assert snapshot(app, first["user"]["id"]) == before


REQUEST_FAILURES = [
    pytest.param({"origin": "https://evil.example"}, id="origin"),
    pytest.param({"rp_id": "evil.example"}, id="rp-id"),
    pytest.param({"challenge": b64url(b"another challenge")}, id="challenge"),
    pytest.param({"type": "webauthn.create"}, id="client-data-type"),
    pytest.param({"user_present": False}, id="user-not-present"),
    pytest.param({"signature": b"\x30\x06\x02\x01\x01\x02\x01\x01"}, id="signature"),
    pytest.param({"backup_eligible": True}, id="backup-eligibility-flipped"),
    pytest.param({"user_handle": b"someone else"}, id="user-handle"),
]


@pytest.mark.parametrize("overrides", REQUEST_FAILURES)
def test_an_assertion_failing_a_check_is_500_and_changes_nothing(
        app, api, request_challenge, authenticator, overrides):
    session, factor, challenge = request_challenge
    before = snapshot(app, session["user"]["id"])
    response = verify_webauthn(api, session["access_token"], factor["id"], challenge["id"],
                               "request", authenticator.get(public_key(challenge),
                                                            **overrides))
    assert_error(response, 500, "unexpected_failure", REQUEST_FAILED)
    assert snapshot(app, session["user"]["id"]) == before
    assert factor_row(app, factor["id"]).web_authn_credential["sign_count"] == 0


def test_an_assertion_by_an_unknown_credential_is_500(app, api, request_challenge):
    session, factor, challenge = request_challenge
    stranger = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    stranger.create({"challenge": challenge["id"], "rp": {"id": RP_ID}})
    before = snapshot(app, session["user"]["id"])
    response = verify_webauthn(api, session["access_token"], factor["id"], challenge["id"],
                               "request", stranger.get(public_key(challenge)))
    assert_error(response, 500, "unexpected_failure", REQUEST_FAILED)
    assert snapshot(app, session["user"]["id"]) == before


# --- replay and expiry ------------------------------------------------------------------------


def test_a_challenge_answers_once(app, api, request_challenge, authenticator):
    session, factor, challenge = request_challenge
    token = session["access_token"]
    response = verify_webauthn(api, token, factor["id"], challenge["id"], "request",
                               authenticator.get(public_key(challenge)))
    assert response.status_code == 200, response.get_data(as_text=True)
    token = response.get_json()["access_token"]
    response = verify_webauthn(api, token, factor["id"], challenge["id"], "request",
                               authenticator.get(public_key(challenge)))
    assert_error(response, 422, "mfa_ip_address_mismatch",
                 "Challenge and verify IP addresses mismatch.")


def test_an_expired_challenge_is_422(app, api, request_challenge, authenticator):
    session, factor, challenge = request_challenge
    later(app, timedelta(minutes=5, seconds=1).total_seconds())
    response = verify_webauthn(api, session["access_token"], factor["id"], challenge["id"],
                               "request", authenticator.get(public_key(challenge)))
    assert_error(response, 422, "mfa_challenge_expired")
