"""POST /factors/{id}/challenge and /verify for TOTP factors (api-contract section 3, MFA):
challenges, codes, attempts, replays, expiry and the client address."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from gotrue_web.models import FactorStatus

from ...conftest import api_for
from ...factories import add_factor, audit_actions, freeze_clock, later, make_user, unique_email
from .support import (
    app_now,
    assert_error,
    challenge,
    challenge_row,
    challenged,
    enrolled_totp,
    factor_row,
    signed_in,
    totp_code,
    verify,
    wrong_code,
)

NOT_FOUND_CHALLENGE = "MFA factor with the provided challenge ID not found"
MISMATCH = "Challenge and verify IP addresses mismatch."


@pytest.fixture
def enrolled(app, api):
    """A signed-in user with an unverified TOTP factor: (token, factor JSON, secret)."""
    session = signed_in(api)
    factor = enrolled_totp(api, session["access_token"], friendly_name="phone")
    return session["access_token"], factor, factor["totp"]["secret"]


# --- challenge --------------------------------------------------------------------------------


def test_challenge_answers_id_type_and_expiry(app, api, enrolled):
    token, factor, _ = enrolled
    clock = freeze_clock(app)
    response = challenge(api, token, factor["id"])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"id", "type", "expires_at"}
    assert body["type"] == "totp"
    assert body["expires_at"] == int((clock.now + timedelta(seconds=300)).timestamp())
    row = challenge_row(app, body["id"])
    assert str(row.factor_id) == factor["id"]
    assert row.created_at == clock.now
    assert row.verified_at is None
    assert str(row.ip_address) == "127.0.0.1"
    assert row.failed_attempts == 0
    assert factor_row(app, factor["id"]).last_challenged_at == clock.now
    user_id = factor_row(app, factor["id"]).user_id
    assert "challenge_created" in audit_actions(app, user_id)


def test_challenge_expiry_setting_sets_expires_at(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True,
                      "mfa.challenge_expiry": timedelta(seconds=900)})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    factor = enrolled_totp(api, session["access_token"])
    clock = freeze_clock(app)
    body = challenged(api, session["access_token"], factor["id"])
    assert body["expires_at"] == int(clock.now.timestamp()) + 900


def test_two_factors_challenged_at_the_same_instant(app, api):
    first, second = signed_in(api), signed_in(api)
    factors = [enrolled_totp(api, s["access_token"]) for s in (first, second)]
    clock = freeze_clock(app)
    for session, factor in zip((first, second), factors):
        body = challenged(api, session["access_token"], factor["id"])
        assert body["expires_at"] == int(clock.now.timestamp()) + 300


def test_challenge_stores_the_client_address(app, api, enrolled):
    token, factor, _ = enrolled
    body = challenged(api, token, factor["id"], environ_base={"REMOTE_ADDR": "198.51.100.23"})
    assert str(challenge_row(app, body["id"]).ip_address) == "198.51.100.23"


@pytest.mark.parametrize("method,suffix", [("POST", "/challenge"), ("POST", "/verify"),
                                           ("DELETE", "")])
def test_factor_of_another_user_is_404(app, api, enrolled, method, suffix):
    _, factor, _ = enrolled
    intruder = signed_in(api)
    response = api.request(method, f"/factors/{factor['id']}{suffix}",
                           token=intruder["access_token"],
                           json={"challenge_id": str(uuid.uuid4()), "code": "123456"})
    assert_error(response, 404, "mfa_factor_not_found", "Factor not found")
    assert factor_row(app, factor["id"]) is not None


@pytest.mark.parametrize("method,suffix", [("POST", "/challenge"), ("POST", "/verify"),
                                           ("DELETE", "")])
def test_unknown_factor_is_404(api, enrolled, method, suffix):
    token, _, _ = enrolled
    response = api.request(method, f"/factors/{uuid.uuid4()}{suffix}", token=token,
                           json={"challenge_id": str(uuid.uuid4()), "code": "123456"})
    assert_error(response, 404, "mfa_factor_not_found", "Factor not found")


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1234", "'; select 1 --"])
@pytest.mark.parametrize("method,suffix", [("POST", "/challenge"), ("POST", "/verify"),
                                           ("DELETE", "")])
def test_malformed_factor_id_is_404_validation_failed(api, enrolled, bad_id, method, suffix):
    token, _, _ = enrolled
    response = api.request(method, f"/factors/{bad_id}{suffix}", token=token,
                           json={"challenge_id": str(uuid.uuid4()), "code": "123456"})
    assert_error(response, 404, "validation_failed", "factor_id must be an UUID")


def test_totp_verification_disabled_is_422(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "mfa.totp_verify_enabled": False})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    factor = enrolled_totp(api, session["access_token"])
    refused = challenge(api, session["access_token"], factor["id"])
    assert_error(refused, 422, "mfa_totp_verify_not_enabled",
                 "MFA verification is disabled for TOTP")
    assert factor_row(app, factor["id"]).last_challenged_at is None
    response = verify(api, session["access_token"], factor["id"], uuid.uuid4(),
                      totp_code(factor["totp"]["secret"], app_now(app)))
    assert_error(response, 422, "mfa_totp_verify_not_enabled",
                 "MFA verification is disabled for TOTP")


# --- verify: refusals -------------------------------------------------------------------------


def test_empty_code_is_400(app, api, enrolled):
    token, factor, _ = enrolled
    chal = challenged(api, token, factor["id"])
    response = verify(api, token, factor["id"], chal["id"], "")
    assert_error(response, 400, "validation_failed", "Code needs to be non-empty")
    assert challenge_row(app, chal["id"]).failed_attempts == 0


def test_missing_code_is_400(app, api, enrolled):
    token, factor, _ = enrolled
    chal = challenged(api, token, factor["id"])
    response = api.post(f"/factors/{factor['id']}/verify", token=token,
                        json={"challenge_id": chal["id"]})
    assert_error(response, 400, "validation_failed")


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "12 345"])
def test_malformed_codes_are_wrong_codes(app, api, enrolled, code):
    token, factor, _ = enrolled
    chal = challenged(api, token, factor["id"])
    response = verify(api, token, factor["id"], chal["id"], code)
    assert_error(response, 422, "mfa_verification_failed", "Invalid TOTP code entered")
    assert factor_row(app, factor["id"]).status == FactorStatus.unverified


def test_wrong_code_is_422_and_counted(app, api, enrolled):
    token, factor, secret = enrolled
    chal = challenged(api, token, factor["id"])
    for attempt in (1, 2):
        response = verify(api, token, factor["id"], chal["id"], wrong_code(secret, app_now(app)))
        assert_error(response, 422, "mfa_verification_failed", "Invalid TOTP code entered")
        assert challenge_row(app, chal["id"]).failed_attempts == attempt
    assert factor_row(app, factor["id"]).status == FactorStatus.unverified
    # Wrong codes do not spoil the challenge: the right one still verifies.
    response = verify(api, token, factor["id"], chal["id"], totp_code(secret, app_now(app)))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_five_wrong_codes_expire_the_challenge(app, api, enrolled):
    token, factor, secret = enrolled
    chal = challenged(api, token, factor["id"])
    for _ in range(5):
        response = verify(api, token, factor["id"], chal["id"], wrong_code(secret, app_now(app)))
        assert_error(response, 422, "mfa_verification_failed")
    right = totp_code(secret, app_now(app))
    response = verify(api, token, factor["id"], chal["id"], right)
    assert_error(response, 422, "mfa_challenge_expired",
                 "Too many wrong codes for this challenge, create a new challenge.")
    assert factor_row(app, factor["id"]).status == FactorStatus.unverified
    # A new challenge takes the right code.
    fresh = challenged(api, token, factor["id"])
    assert verify(api, token, factor["id"], fresh["id"], right).status_code == 200


def test_max_code_attempts_setting(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "mfa.max_code_attempts": 2})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    secret = factor["totp"]["secret"]
    chal = challenged(api, token, factor["id"])
    for _ in range(2):
        assert_error(verify(api, token, factor["id"], chal["id"],
                            wrong_code(secret, app_now(app))), 422, "mfa_verification_failed")
    assert_error(verify(api, token, factor["id"], chal["id"], totp_code(secret, app_now(app))),
                 422, "mfa_challenge_expired")


@pytest.mark.parametrize("challenge_id", ["random", "other-factor", "not-a-uuid", ""])
def test_unknown_challenge_is_422_factor_not_found(app, api, enrolled, challenge_id):
    token, factor, secret = enrolled
    if challenge_id == "random":
        challenge_id = str(uuid.uuid4())
    elif challenge_id == "other-factor":
        other = enrolled_totp(api, token, friendly_name="other")
        challenge_id = challenged(api, token, other["id"])["id"]
    response = verify(api, token, factor["id"], challenge_id, totp_code(secret, app_now(app)))
    assert_error(response, 422, "mfa_factor_not_found", NOT_FOUND_CHALLENGE)
    assert factor_row(app, factor["id"]).status == FactorStatus.unverified


def test_challenge_of_another_users_factor_is_not_found(app, api, enrolled):
    token, factor, secret = enrolled
    other = signed_in(api)
    others_factor = enrolled_totp(api, other["access_token"])
    others_challenge = challenged(api, other["access_token"], others_factor["id"])
    response = verify(api, token, factor["id"], others_challenge["id"],
                      totp_code(secret, app_now(app)))
    assert_error(response, 422, "mfa_factor_not_found", NOT_FOUND_CHALLENGE)


def test_replayed_code_is_refused(app, api, enrolled):
    token, factor, secret = enrolled
    freeze_clock(app)
    code = totp_code(secret, app_now(app))
    first = challenged(api, token, factor["id"])
    accepted = verify(api, token, factor["id"], first["id"], code)
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    aal2 = accepted.get_json()["access_token"]
    second = challenged(api, aal2, factor["id"])
    replay = verify(api, aal2, factor["id"], second["id"], code)
    assert_error(replay, 422, "mfa_verification_failed",
                 "TOTP code already used, wait for the next one")
    # The code of the step before the accepted one is no better.
    previous = totp_code(secret, app_now(app) - timedelta(seconds=30))
    if previous != code:
        assert_error(verify(api, aal2, factor["id"], second["id"], previous),
                     422, "mfa_verification_failed")
    # The next step's code is new: it verifies.
    later(app, 30)
    fresh = verify(api, aal2, factor["id"], second["id"], totp_code(secret, app_now(app)))
    assert fresh.status_code == 200, fresh.get_data(as_text=True)


def test_codes_one_step_either_side_are_accepted(app, api):
    freeze_clock(app)
    for offset in (-30, 30):
        session = signed_in(api)
        factor = enrolled_totp(api, session["access_token"])
        chal = challenged(api, session["access_token"], factor["id"])
        code = totp_code(factor["totp"]["secret"], app_now(app) + timedelta(seconds=offset))
        response = verify(api, session["access_token"], factor["id"], chal["id"], code)
        assert response.status_code == 200, (offset, response.get_data(as_text=True))


def test_codes_two_steps_away_are_refused(app, api, enrolled):
    token, factor, secret = enrolled
    clock = freeze_clock(app)
    chal = challenged(api, token, factor["id"])
    accepted = {totp_code(secret, clock.now + timedelta(seconds=30 * k)) for k in (-1, 0, 1)}
    for offset in (-90, 90):
        code = totp_code(secret, clock.now + timedelta(seconds=offset))
        if code in accepted:
            continue
        assert_error(verify(api, token, factor["id"], chal["id"], code),
                     422, "mfa_verification_failed", "Invalid TOTP code entered")


def test_expired_challenge_is_refused_and_deleted(app, api, enrolled):
    token, factor, secret = enrolled
    freeze_clock(app)
    chal = challenged(api, token, factor["id"])
    later(app, 301)
    response = verify(api, token, factor["id"], chal["id"], totp_code(secret, app_now(app)))
    assert_error(response, 422, "mfa_challenge_expired",
                 f"MFA challenge {chal['id']} has expired, verify against another challenge "
                 "or create a new challenge.")
    assert challenge_row(app, chal["id"]) is None
    assert factor_row(app, factor["id"]).status == FactorStatus.unverified


def test_challenge_at_its_expiry_still_verifies(app, api, enrolled):
    token, factor, secret = enrolled
    freeze_clock(app)
    chal = challenged(api, token, factor["id"])
    later(app, 300)
    response = verify(api, token, factor["id"], chal["id"], totp_code(secret, app_now(app)))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_verified_challenge_cannot_be_used_again(app, api, enrolled):
    token, factor, secret = enrolled
    freeze_clock(app)
    chal = challenged(api, token, factor["id"])
    first = verify(api, token, factor["id"], chal["id"], totp_code(secret, app_now(app)))
    assert first.status_code == 200
    aal2 = first.get_json()["access_token"]
    later(app, 30)
    again = verify(api, aal2, factor["id"], chal["id"], totp_code(secret, app_now(app)))
    assert_error(again, 422, "mfa_ip_address_mismatch", MISMATCH)
    assert challenge_row(app, chal["id"]).verified_at is not None


def test_verify_from_another_address_is_refused(app, api, enrolled):
    token, factor, secret = enrolled
    here = {"REMOTE_ADDR": "203.0.113.10"}
    chal = challenged(api, token, factor["id"], environ_base=here)
    code = totp_code(secret, app_now(app))
    response = verify(api, token, factor["id"], chal["id"], code,
                      environ_base={"REMOTE_ADDR": "203.0.113.11"})
    assert_error(response, 422, "mfa_ip_address_mismatch", MISMATCH)
    assert factor_row(app, factor["id"]).status == FactorStatus.unverified
    assert challenge_row(app, chal["id"]).verified_at is None
    response = verify(api, token, factor["id"], chal["id"], code, environ_base=here)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_verify_checks_the_factor_of_the_path(app, api):
    """A challenge of one of the user's factors does not verify another (created in the DB)."""
    email = unique_email("path")
    user_id = make_user(app, email, password="password-123")
    factor_id = add_factor(app, user_id, status=FactorStatus.unverified, name="db factor")
    session = api.login(email, "password-123").get_json()
    factor = enrolled_totp(api, session["access_token"], friendly_name="api factor")
    chal = challenged(api, session["access_token"], factor["id"])
    response = verify(api, session["access_token"], factor_id, chal["id"], "123456")
    assert_error(response, 422, "mfa_factor_not_found", NOT_FOUND_CHALLENGE)
