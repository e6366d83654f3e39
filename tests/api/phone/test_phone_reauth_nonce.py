"""The reauthentication nonce of a phone user (no email) in PUT /user (spec phone-sms §2.3
"GET /reauthenticate", §1.2 delegation, §2.5): hash(users.phone, nonce) against
reauthentication_token within SMS_OTP_EXP, else 422 reauthentication_not_valid "Nonce has
expired or is invalid"; twilio_verify checks it with Twilio instead; test codes do not apply."""

from __future__ import annotations

import pytest

from gotrue_web.services.one_time_tokens import MAX_FAILED_ATTEMPTS

from ...conftest import api_for
from ...factories import later, one_time_tokens, user_row
from ...support.fake_sms import FakeTwilioVerify, sms_settings
from .verify_support import (
    PHONE_SETTINGS,
    T,
    admin_phone_user,
    assert_one_verification_check,
    pending_code,
    wrong,
)

PHONE = "15550001111"
OLD_PASSWORD, NEW_PASSWORD = "password-123", "fresh-password-9"
REAUTH = {**PHONE_SETTINGS, "security.update_password_require_reauthentication": True}
NONCE_INVALID = {"code": "reauthentication_not_valid",
                 "message": "Nonce has expired or is invalid"}


def _login(client, password):
    return client.post("/token?grant_type=password", json={"phone": PHONE, "password": password})


def _old_session(app, service_role_token) -> tuple[str, str]:
    """A confirmed phone-only user signed in over 24 hours ago: (user id, access token)."""
    user_id = admin_phone_user(app, service_role_token, PHONE, password=OLD_PASSWORD)
    signed_in = _login(api_for(app), OLD_PASSWORD)
    assert signed_in.status_code == 200, signed_in.get_data(as_text=True)
    later(app, 25 * 3600)
    return user_id, signed_in.get_json()["access_token"]


def _change_password(app, token, nonce):
    return api_for(app).put("/user", token=token,
                            json={"password": NEW_PASSWORD, "nonce": nonce})


def _assert_password_unchanged(app):
    assert _login(api_for(app), OLD_PASSWORD).status_code == 200
    assert _login(api_for(app), NEW_PASSWORD).status_code == 400


@pytest.fixture
def reauth_app(make_app):
    return make_app(**REAUTH)


def test_texted_nonce_allows_the_password_change(reauth_app, service_role_token):
    user_id, token = _old_session(reauth_app, service_role_token)
    pending_code(reauth_app, user_id, T.reauthentication_token, PHONE, "123456")
    later(reauth_app, 59)
    response = _change_password(reauth_app, token, "123456")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _login(api_for(reauth_app), NEW_PASSWORD).status_code == 200
    assert user_row(reauth_app, user_id).reauthentication_token == ""
    assert one_time_tokens(reauth_app, user_id) == {}
    # Spent with the change.
    again = api_for(reauth_app).put("/user", token=token,
                                    json={"password": "another-password-7", "nonce": "123456"})
    assert again.status_code == 422 and again.get_json() == NONCE_INVALID


def test_wrong_nonce_is_422_and_counted(reauth_app, service_role_token):
    user_id, token = _old_session(reauth_app, service_role_token)
    pending_code(reauth_app, user_id, T.reauthentication_token, PHONE, "123456")
    response = _change_password(reauth_app, token, wrong("123456"))
    assert response.status_code == 422 and response.get_json() == NONCE_INVALID
    assert one_time_tokens(reauth_app, user_id)["reauthentication_token"].failed_attempts == 1
    _assert_password_unchanged(reauth_app)


def test_nonce_expires_after_sms_otp_exp(reauth_app, service_role_token):
    user_id, token = _old_session(reauth_app, service_role_token)
    pending_code(reauth_app, user_id, T.reauthentication_token, PHONE, "123456")
    later(reauth_app, 61)
    response = _change_password(reauth_app, token, "123456")
    assert response.status_code == 422 and response.get_json() == NONCE_INVALID
    _assert_password_unchanged(reauth_app)


def test_nonce_without_a_code_sent_is_422(reauth_app, service_role_token):
    _, token = _old_session(reauth_app, service_role_token)
    response = _change_password(reauth_app, token, "123456")
    assert response.status_code == 422 and response.get_json() == NONCE_INVALID


def test_five_wrong_nonces_and_the_right_one_no_longer_works(reauth_app, service_role_token):
    user_id, token = _old_session(reauth_app, service_role_token)
    pending_code(reauth_app, user_id, T.reauthentication_token, PHONE, "123456")
    for _ in range(MAX_FAILED_ATTEMPTS):
        assert _change_password(reauth_app, token, wrong("123456")).status_code == 422
    late = _change_password(reauth_app, token, "123456")
    assert late.status_code == 422 and late.get_json() == NONCE_INVALID
    assert user_row(reauth_app, user_id).reauthentication_token == ""
    assert one_time_tokens(reauth_app, user_id) == {}
    _assert_password_unchanged(reauth_app)


def test_test_codes_do_not_pass_as_nonce(make_app, service_role_token):
    app = make_app(**REAUTH, **{"sms.test_otp": {PHONE: "000111"}})
    user_id, token = _old_session(app, service_role_token)
    pending_code(app, user_id, T.reauthentication_token, PHONE, "123456")
    response = _change_password(app, token, "000111")
    assert response.status_code == 422 and response.get_json() == NONCE_INVALID
    _assert_password_unchanged(app)


def test_twilio_verify_checks_the_nonce(make_app, servers, service_role_token):
    twilio = servers(FakeTwilioVerify())
    app = make_app(**REAUTH, **sms_settings(twilio))
    user_id, token = _old_session(app, service_role_token)
    # The locally stored code differs and is ignored: Twilio chose the one texted.
    pending_code(app, user_id, T.reauthentication_token, PHONE, "111111")
    response = _change_password(app, token, "987654")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_one_verification_check(twilio, PHONE, "987654")
    assert _login(api_for(app), NEW_PASSWORD).status_code == 200


def test_twilio_verify_refusal_is_403(make_app, servers, service_role_token):
    twilio = servers(FakeTwilioVerify())
    app = make_app(**REAUTH, **sms_settings(twilio))
    user_id, token = _old_session(app, service_role_token)
    pending_code(app, user_id, T.reauthentication_token, PHONE, "111111")
    twilio.script(404, {"code": 20404, "message": "The requested resource was not found",
                        "more_info": "u", "status": 404})
    response = _change_password(app, token, "111111")
    assert response.status_code == 403
    assert response.get_json() == {"code": "otp_expired",
                                   "message": "Token has expired or is invalid"}
    assert_one_verification_check(twilio, PHONE, "111111")
    _assert_password_unchanged(app)
