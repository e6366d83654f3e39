"""POST /verify type sms (spec phone-sms §2.3, §2.4, §2.5; api-contract §7): the code texted
for a phone confirmation or a phone sign-in, checked against the users column as the send
stored it, within SMS_OTP_EXP; test numbers; what it changes in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ...conftest import api_for
from ...support.fake_sms import FakeTwilioVerify, sms_settings
from ...factories import (
    audit_entries,
    freeze_clock,
    one_time_tokens,
    update_user,
    user_row,
    verified_claims,
)
from .verify_support import (
    CODE_INVALID,
    PHONE_SETTINGS,
    T,
    admin_phone_user,
    assert_one_verification_check,
    pending_code,
    phone_identities,
    verify,
    wrong,
)

PHONE = "15550001111"


@pytest.fixture
def phone_app(make_app):
    return make_app(**PHONE_SETTINGS)


def test_code_confirms_the_phone_and_starts_a_session(phone_app, service_role_token):
    clock = freeze_clock(phone_app)
    user_id = admin_phone_user(phone_app, service_role_token, "+" + PHONE, confirmed=False)
    pending_code(phone_app, user_id, T.confirmation_token, PHONE, "123456")
    clock.advance(seconds=30)
    client = api_for(phone_app)

    response = verify(client, "sms", "+1 555 000 1111", "123456")

    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["token_type"] == "bearer" and body["refresh_token"]
    assert body["user"]["id"] == user_id and body["user"]["phone"] == PHONE
    assert body["user"]["phone_confirmed_at"] is not None
    claims = verified_claims(body["access_token"], clock_moved=True)
    assert [entry["method"] for entry in claims["amr"]] == ["otp"]
    assert claims["phone"] == PHONE
    user = user_row(phone_app, user_id)
    assert user.phone_confirmed_at == clock.now
    assert user.last_sign_in_at == clock.now
    assert user.confirmation_token == ""
    assert user.is_anonymous is False
    assert user.raw_app_meta_data["providers"] == ["phone"]
    assert user.raw_user_meta_data["phone_verified"] is True
    [identity] = phone_identities(phone_app, user_id)
    assert identity.identity_data["phone_verified"] is True
    assert one_time_tokens(phone_app, user_id) == {}
    signed_up = [e for e in audit_entries(phone_app, "user_signedup")
                 if e["actor_id"] == user_id]
    assert signed_up and signed_up[-1]["traits"] == {"provider": "phone"}
    assert [e["actor_id"] for e in audit_entries(phone_app, "login")] == [user_id]
    # The session works.
    me = client.get("/user", token=body["access_token"])
    assert me.status_code == 200 and me.get_json()["phone"] == PHONE


def test_every_code_sign_in_moves_phone_confirmed_at(phone_app, service_role_token):
    clock = freeze_clock(phone_app)
    user_id = admin_phone_user(phone_app, service_role_token, PHONE)
    first_confirmation = user_row(phone_app, user_id).phone_confirmed_at
    clock.advance(hours=2)
    pending_code(phone_app, user_id, T.confirmation_token, PHONE, "654321")
    assert verify(api_for(phone_app), "sms", PHONE, "654321").status_code == 200
    user = user_row(phone_app, user_id)
    assert user.phone_confirmed_at == clock.now != first_confirmation


def test_the_code_is_single_use(phone_app, service_role_token):
    user_id = admin_phone_user(phone_app, service_role_token, PHONE, confirmed=False)
    pending_code(phone_app, user_id, T.confirmation_token, PHONE, "123456")
    client = api_for(phone_app)
    assert verify(client, "sms", PHONE, "123456").status_code == 200
    again = verify(client, "sms", PHONE, "123456")
    assert again.status_code == 403 and again.get_json() == CODE_INVALID


def test_code_is_tied_to_its_number(phone_app, service_role_token):
    """The digest is keyed with the number: the same code stored for another number (or an
    email-style address) does not match."""
    user_id = admin_phone_user(phone_app, service_role_token, PHONE, confirmed=False)
    pending_code(phone_app, user_id, T.confirmation_token, "15550009999", "123456")
    response = verify(api_for(phone_app), "sms", PHONE, "123456")
    assert response.status_code == 403 and response.get_json() == CODE_INVALID
    assert user_row(phone_app, user_id).phone_confirmed_at is None


@pytest.mark.parametrize("seconds, status", [(60, 200), (61, 403)])
def test_code_lives_sms_otp_exp_seconds(phone_app, service_role_token, seconds, status):
    clock = freeze_clock(phone_app)
    user_id = admin_phone_user(phone_app, service_role_token, PHONE, confirmed=False)
    pending_code(phone_app, user_id, T.confirmation_token, PHONE, "123456")
    clock.advance(seconds=seconds)
    response = verify(api_for(phone_app), "sms", PHONE, "123456")
    assert response.status_code == status, response.get_data(as_text=True)
    user = user_row(phone_app, user_id)
    if status == 403:
        assert response.get_json() == CODE_INVALID
        assert user.phone_confirmed_at is None and user.confirmation_token != ""
        assert set(one_time_tokens(phone_app, user_id)) == {"confirmation_token"}
    else:
        assert user.phone_confirmed_at == clock.now


def test_sms_otp_exp_setting_is_used(make_app, service_role_token):
    app = make_app(**PHONE_SETTINGS, **{"sms.otp_exp": 600})
    clock = freeze_clock(app)
    user_id = admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    pending_code(app, user_id, T.confirmation_token, PHONE, "123456")
    clock.advance(seconds=599)
    assert verify(api_for(app), "sms", PHONE, "123456").status_code == 200


def test_wrong_code_is_403_and_counted(phone_app, service_role_token):
    user_id = admin_phone_user(phone_app, service_role_token, PHONE, confirmed=False)
    pending_code(phone_app, user_id, T.confirmation_token, PHONE, "123456")
    response = verify(api_for(phone_app), "sms", PHONE, wrong("123456"))
    assert response.status_code == 403 and response.get_json() == CODE_INVALID
    assert one_time_tokens(phone_app, user_id)["confirmation_token"].failed_attempts == 1
    assert user_row(phone_app, user_id).phone_confirmed_at is None


def test_unknown_number_is_403(phone_app, service_role_token):
    admin_phone_user(phone_app, service_role_token, PHONE)
    response = verify(api_for(phone_app), "sms", "15550002222", "123456")
    assert response.status_code == 403 and response.get_json() == CODE_INVALID


def test_banned_user_is_403_even_with_the_right_code(phone_app, service_role_token):
    clock = freeze_clock(phone_app)
    user_id = admin_phone_user(phone_app, service_role_token, PHONE, confirmed=False)
    pending_code(phone_app, user_id, T.confirmation_token, PHONE, "123456")
    update_user(phone_app, user_id, banned_until=clock.now + timedelta(hours=1))
    response = verify(api_for(phone_app), "sms", PHONE, "123456")
    assert response.status_code == 403
    assert response.get_json() == {"code": "user_banned", "message": "User is banned"}
    user = user_row(phone_app, user_id)
    assert user.phone_confirmed_at is None and user.confirmation_token != ""


@pytest.mark.parametrize("phone", ["+0123456", "1", "++15550001111", "+1-555-000-1111", "abc"])
def test_malformed_number_is_400(phone_app, phone):
    response = verify(api_for(phone_app), "sms", phone, "123456")
    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed",
                                   "message": "Invalid phone number format (E.164 required)"}


@pytest.mark.parametrize("verify_type", ["sms", "phone_change"])
def test_token_hash_with_a_phone_type_is_400(phone_app, verify_type):
    response = api_for(phone_app).post("/verify", json={"type": verify_type,
                                                        "token_hash": "a" * 56})
    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed",
                                   "message": "Invalid email verification type"}


# --- test numbers (SMS_TEST_OTP) ----------------------------------------------------------------


def test_test_code_signs_in_without_any_code_sent(make_app, service_role_token):
    app = make_app(**PHONE_SETTINGS, **{"sms.test_otp": {PHONE: "000111"}})
    clock = freeze_clock(app)
    user_id = admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    response = verify(api_for(app), "sms", "+" + PHONE, "000111")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert user_row(app, user_id).phone_confirmed_at == clock.now
    # No expiry either: a day later it still works.
    clock.advance(days=1)
    assert verify(api_for(app), "sms", PHONE, "000111").status_code == 200


def test_test_code_works_until_valid_until(make_app, service_role_token):
    start = freeze_clock(make_app()).now  # only to pick a moment
    app = make_app(**PHONE_SETTINGS, **{"sms.test_otp": {PHONE: "000111"},
                                        "sms.test_otp_valid_until": start + timedelta(hours=1)})
    clock = freeze_clock(app, start)
    admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    assert verify(api_for(app), "sms", PHONE, "000111").status_code == 200
    clock.advance(hours=1, seconds=1)
    late = verify(api_for(app), "sms", PHONE, "000111")
    assert late.status_code == 403 and late.get_json() == CODE_INVALID


def test_past_valid_until_disables_test_codes(make_app, service_role_token):
    start = freeze_clock(make_app()).now
    app = make_app(**PHONE_SETTINGS, **{"sms.test_otp": {PHONE: "000111"},
                                        "sms.test_otp_valid_until": start - timedelta(seconds=1)})
    freeze_clock(app, start)
    user_id = admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    response = verify(api_for(app), "sms", PHONE, "000111")
    assert response.status_code == 403 and response.get_json() == CODE_INVALID
    assert user_row(app, user_id).phone_confirmed_at is None


def test_test_code_belongs_to_its_number_only(make_app, service_role_token):
    app = make_app(**PHONE_SETTINGS, **{"sms.test_otp": {"15550009999": "000111"}})
    admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    response = verify(api_for(app), "sms", PHONE, "000111")
    assert response.status_code == 403 and response.get_json() == CODE_INVALID


def test_other_codes_of_a_test_number_take_the_normal_check(make_app, service_role_token):
    app = make_app(**PHONE_SETTINGS, **{"sms.test_otp": {PHONE: "000111"}})
    user_id = admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    pending_code(app, user_id, T.confirmation_token, PHONE, "123456")
    client = api_for(app)
    refused = verify(client, "sms", PHONE, "999999")
    assert refused.status_code == 403
    assert one_time_tokens(app, user_id)["confirmation_token"].failed_attempts == 1
    assert verify(client, "sms", PHONE, "123456").status_code == 200


def test_test_code_does_not_pass_a_ban(make_app, service_role_token):
    app = make_app(**PHONE_SETTINGS, **{"sms.test_otp": {PHONE: "000111"}})
    clock = freeze_clock(app)
    user_id = admin_phone_user(app, service_role_token, PHONE)
    update_user(app, user_id, banned_until=clock.now + timedelta(days=1))
    response = verify(api_for(app), "sms", PHONE, "000111")
    assert response.status_code == 403 and response.get_json()["code"] == "user_banned"


# --- twilio_verify: Twilio chose the code, so Twilio checks it (spec §1.2, D2) -------------------


@pytest.fixture
def twilio(servers):
    return servers(FakeTwilioVerify())


def test_twilio_verify_checks_the_code_with_twilio(make_app, twilio, service_role_token):
    app = make_app(**PHONE_SETTINGS, **sms_settings(twilio))
    clock = freeze_clock(app)
    user_id = admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    # The send still stores a local code (never delivered) and its time; both are ignored.
    pending_code(app, user_id, T.confirmation_token, PHONE, "111111")
    clock.advance(hours=1)
    response = verify(api_for(app), "sms", "+" + PHONE, "987654")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_one_verification_check(twilio, PHONE, "987654")
    user = user_row(app, user_id)
    assert user.phone_confirmed_at == clock.now and user.confirmation_token == ""
    assert one_time_tokens(app, user_id) == {}


@pytest.mark.parametrize("status, answer", [
    (200, {"sid": "VE1", "status": "pending", "valid": False}),
    (404, {"code": 20404, "message": "The requested resource was not found",
           "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}),
    (500, {"code": 20500, "message": "Internal Server Error", "more_info": "u", "status": 500}),
    (502, "<html>bad gateway</html>"),
])
def test_twilio_refusal_is_403(make_app, twilio, service_role_token, status, answer):
    app = make_app(**PHONE_SETTINGS, **sms_settings(twilio))
    user_id = admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    pending_code(app, user_id, T.confirmation_token, PHONE, "111111")
    twilio.script(status, answer)
    # Not even the locally stored code passes: only Twilio decides.
    response = verify(api_for(app), "sms", PHONE, "111111")
    assert response.status_code == 403 and response.get_json() == CODE_INVALID
    assert_one_verification_check(twilio, PHONE, "111111")
    user = user_row(app, user_id)
    assert user.phone_confirmed_at is None and user.confirmation_token != ""


def test_twilio_timeout_is_403(make_app, twilio, service_role_token):
    app = make_app(**PHONE_SETTINGS, **sms_settings(twilio, timeout=0.3))
    user_id = admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    twilio.script(200, {"status": "approved", "valid": True}, delay=1.5)
    response = verify(api_for(app), "sms", PHONE, "987654")
    assert response.status_code == 403 and response.get_json() == CODE_INVALID
    assert user_row(app, user_id).phone_confirmed_at is None


def test_twilio_is_not_asked_before_lookup_ban_and_test_code(make_app, twilio,
                                                             service_role_token):
    app = make_app(**PHONE_SETTINGS, **sms_settings(twilio),
                   **{"sms.test_otp": {PHONE: "000111"}})
    clock = freeze_clock(app)
    client = api_for(app)
    assert verify(client, "sms", "15550002222", "987654").status_code == 403  # unknown
    user_id = admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    assert verify(client, "sms", PHONE, "000111").status_code == 200  # test code
    update_user(app, user_id, banned_until=clock.now + timedelta(hours=1))
    assert verify(client, "sms", PHONE, "987654").get_json()["code"] == "user_banned"
    assert twilio.received == []


def test_twilio_without_credentials_is_500(make_app, twilio, service_role_token):
    app = make_app(**PHONE_SETTINGS, **sms_settings(twilio, auth_token=""))
    user_id = admin_phone_user(app, service_role_token, PHONE, confirmed=False)
    response = verify(api_for(app), "sms", PHONE, "987654")
    assert response.status_code == 500
    assert response.get_json() == {"code": "unexpected_failure",
                                   "message": "Unable to get SMS provider"}
    assert twilio.received == []
    assert user_row(app, user_id).phone_confirmed_at is None
