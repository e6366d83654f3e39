"""POST /verify type phone_change (spec phone-sms §2.3, §2.4 ConfirmPhoneChange, §2.5): the
code texted to the new number, found through users.phone_change; the number, its confirmation
and the phone identity follow."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ...conftest import api_for
from ...support.fake_sms import FakeTwilioVerify, sms_settings
from ...factories import (
    audit_entries,
    create_user,
    freeze_clock,
    one_time_tokens,
    unique_email,
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

OLD, NEW = "15550001111", "15550002222"


@pytest.fixture
def phone_app(make_app):
    return make_app(**PHONE_SETTINGS)


def _phone_user_changing(app, service_role_token, code="123456"):
    user_id = admin_phone_user(app, service_role_token, OLD)
    pending_code(app, user_id, T.phone_change_token, NEW, code)
    return user_id


def test_code_to_the_new_number_applies_the_change(phone_app, service_role_token):
    clock = freeze_clock(phone_app)
    user_id = _phone_user_changing(phone_app, service_role_token)
    assert user_row(phone_app, user_id).phone_change == NEW
    [before] = phone_identities(phone_app, user_id)
    clock.advance(seconds=20)
    client = api_for(phone_app)

    response = verify(client, "phone_change", "+" + NEW, "123456")

    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["user"]["phone"] == NEW
    assert body["user"].get("new_phone", "") == ""
    claims = verified_claims(body["access_token"], clock_moved=True)
    assert claims["phone"] == NEW
    assert [entry["method"] for entry in claims["amr"]] == ["otp"]
    user = user_row(phone_app, user_id)
    assert (user.phone, user.phone_change, user.phone_change_token) == (NEW, "", "")
    assert user.phone_confirmed_at == clock.now
    assert user.is_anonymous is False
    assert one_time_tokens(phone_app, user_id) == {}
    # The same phone identity now carries the new number, verified.
    [identity] = phone_identities(phone_app, user_id)
    assert identity.id == before.id
    assert identity.identity_data["phone"] == NEW
    assert identity.identity_data["phone_verified"] is True
    assert user.raw_app_meta_data["providers"] == ["phone"]
    [modified] = [e for e in audit_entries(phone_app, "user_modified") if e["actor_id"] == user_id
                  and e.get("traits", {}).get("phone_change")]
    assert modified["traits"] == {"phone_change": NEW}
    # Signing in with the old number's password grant no longer finds the user.
    assert client.post("/token?grant_type=password",
                       json={"phone": OLD, "password": "password-123"}).status_code == 400
    assert client.post("/token?grant_type=password",
                       json={"phone": NEW, "password": "password-123"}).status_code == 200


def test_email_user_gets_a_phone_identity(phone_app, service_role_token):
    email = unique_email("pc")
    user_id = create_user(api_for(phone_app, service_role_token), email,
                          password="password-123")["id"]
    pending_code(phone_app, user_id, T.phone_change_token, NEW, "123456")
    response = verify(api_for(phone_app), "phone_change", NEW, "123456")
    assert response.status_code == 200, response.get_data(as_text=True)
    [identity] = phone_identities(phone_app, user_id)
    assert identity.provider_id == user_id
    assert identity.identity_data == {"sub": user_id, "phone": NEW, "phone_verified": True}
    user = user_row(phone_app, user_id)
    assert user.email == email and user.phone == NEW
    assert user.raw_app_meta_data["providers"] == ["email", "phone"]
    assert sorted(i["provider"] for i in response.get_json()["user"]["identities"]) == \
        ["email", "phone"]


def test_anonymous_user_becomes_permanent(make_app, service_role_token):
    app = make_app(**PHONE_SETTINGS, **{"external.anonymous_users_enabled": True})
    client = api_for(app)
    anonymous = client.post("/signup", json={})
    assert anonymous.status_code == 200, anonymous.get_data(as_text=True)
    user_id = anonymous.get_json()["user"]["id"]
    assert user_row(app, user_id).is_anonymous is True
    pending_code(app, user_id, T.phone_change_token, NEW, "123456")
    response = verify(client, "phone_change", NEW, "123456")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["is_anonymous"] is False
    user = user_row(app, user_id)
    assert user.is_anonymous is False and user.phone == NEW
    assert user.raw_app_meta_data["providers"] == ["phone"]
    assert verified_claims(response.get_json()["access_token"])["is_anonymous"] is False


def test_the_current_number_does_not_verify_a_change(phone_app, service_role_token):
    user_id = _phone_user_changing(phone_app, service_role_token)
    for verify_type, number in (("phone_change", OLD), ("sms", NEW)):
        response = verify(api_for(phone_app), verify_type, number, "123456")
        assert response.status_code == 403 and response.get_json() == CODE_INVALID
    user = user_row(phone_app, user_id)
    assert (user.phone, user.phone_change) == (OLD, NEW)


@pytest.mark.parametrize("seconds, status", [(60, 200), (61, 403)])
def test_change_code_lives_sms_otp_exp_seconds(phone_app, service_role_token, seconds, status):
    clock = freeze_clock(phone_app)
    user_id = _phone_user_changing(phone_app, service_role_token)
    clock.advance(seconds=seconds)
    response = verify(api_for(phone_app), "phone_change", NEW, "123456")
    assert response.status_code == status
    user = user_row(phone_app, user_id)
    if status == 403:
        assert response.get_json() == CODE_INVALID
        assert (user.phone, user.phone_change) == (OLD, NEW)
        assert user.phone_change_token != ""
    else:
        assert (user.phone, user.phone_change) == (NEW, "")


def test_wrong_change_code_is_counted(phone_app, service_role_token):
    user_id = _phone_user_changing(phone_app, service_role_token)
    response = verify(api_for(phone_app), "phone_change", NEW, wrong("123456"))
    assert response.status_code == 403 and response.get_json() == CODE_INVALID
    assert one_time_tokens(phone_app, user_id)["phone_change_token"].failed_attempts == 1
    assert user_row(phone_app, user_id).phone == OLD


def test_banned_user_cannot_change(phone_app, service_role_token):
    clock = freeze_clock(phone_app)
    user_id = _phone_user_changing(phone_app, service_role_token)
    update_user(phone_app, user_id, banned_until=clock.now + timedelta(hours=1))
    response = verify(api_for(phone_app), "phone_change", NEW, "123456")
    assert response.status_code == 403 and response.get_json()["code"] == "user_banned"
    assert user_row(phone_app, user_id).phone == OLD


def test_number_taken_meanwhile_is_422_and_changes_nothing(phone_app, service_role_token):
    user_id = _phone_user_changing(phone_app, service_role_token)
    other = admin_phone_user(phone_app, service_role_token, NEW)
    response = verify(api_for(phone_app), "phone_change", NEW, "123456")
    assert response.status_code == 422
    assert response.get_json()["code"] == "phone_exists"
    user = user_row(phone_app, user_id)
    assert (user.phone, user.phone_change) == (OLD, NEW)
    assert user_row(phone_app, other).phone == NEW


def test_two_users_waiting_for_one_number_each_need_their_own_code(phone_app,
                                                                  service_role_token):
    first = _phone_user_changing(phone_app, service_role_token, code="111111")
    second = admin_phone_user(phone_app, service_role_token, "15550003333")
    pending_code(phone_app, second, T.phone_change_token, NEW, "222222")
    response = verify(api_for(phone_app), "phone_change", NEW, "222222")
    assert response.status_code == 200
    assert response.get_json()["user"]["id"] == second
    assert user_row(phone_app, second).phone == NEW
    assert user_row(phone_app, first).phone == OLD


def test_test_code_of_the_new_number(make_app, service_role_token):
    app = make_app(**PHONE_SETTINGS, **{"sms.test_otp": {NEW: "000111"}})
    user_id = admin_phone_user(app, service_role_token, OLD)
    # A pending change with no code stored: the test code needs none.
    update_user(app, user_id, phone_change=NEW)
    response = verify(api_for(app), "phone_change", NEW, "000111")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert user_row(app, user_id).phone == NEW


def test_test_code_of_the_old_number_does_not_apply(make_app, service_role_token):
    app = make_app(**PHONE_SETTINGS, **{"sms.test_otp": {OLD: "000111"}})
    user_id = admin_phone_user(app, service_role_token, OLD)
    update_user(app, user_id, phone_change=NEW)
    response = verify(api_for(app), "phone_change", NEW, "000111")
    assert response.status_code == 403 and response.get_json() == CODE_INVALID


def test_twilio_verify_checks_the_new_number(make_app, servers, service_role_token):
    twilio = servers(FakeTwilioVerify())
    app = make_app(**PHONE_SETTINGS, **sms_settings(twilio))
    user_id = _phone_user_changing(app, service_role_token, code="111111")
    response = verify(api_for(app), "phone_change", NEW, "987654")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_one_verification_check(twilio, NEW, "987654")
    assert user_row(app, user_id).phone == NEW


def test_twilio_verify_refusal_changes_nothing(make_app, servers, service_role_token):
    twilio = servers(FakeTwilioVerify())
    app = make_app(**PHONE_SETTINGS, **sms_settings(twilio))
    user_id = _phone_user_changing(app, service_role_token)
    twilio.script(200, {"status": "pending", "valid": False})
    response = verify(api_for(app), "phone_change", NEW, "123456")
    assert response.status_code == 403 and response.get_json() == CODE_INVALID
    assert_one_verification_check(twilio, NEW, "123456")
    user = user_row(app, user_id)
    assert (user.phone, user.phone_change) == (OLD, NEW)
