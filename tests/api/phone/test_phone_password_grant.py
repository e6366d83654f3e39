"""POST /token?grant_type=password with a phone number (spec phone-sms §2.3; api-contract §3
"password"): the number is only normalised (one leading '+' and spaces go, nothing is
validated), phone sign-in must be on, and an unconfirmed number is refused after the password."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ...conftest import api_for
from ...factories import audit_entries, freeze_clock, update_user, user_row, verified_claims
from .verify_support import PHONE_SETTINGS, T, admin_phone_user, pending_code, verify

PHONE = "15550001111"
PASSWORD = "password-123"
INVALID = {"code": "invalid_credentials", "message": "Invalid login credentials"}


@pytest.fixture
def phone_app(make_app):
    return make_app(**PHONE_SETTINGS)


def _login(app, phone, password=PASSWORD):
    return api_for(app).post("/token?grant_type=password",
                             json={"phone": phone, "password": password})


@pytest.mark.parametrize("typed", ["+15550001111", "15550001111", "+1 555 000 1111",
                                   " 1555 0001111 "])
def test_confirmed_phone_signs_in(phone_app, service_role_token, typed):
    clock = freeze_clock(phone_app)
    user_id = admin_phone_user(phone_app, service_role_token, "+" + PHONE)
    response = _login(phone_app, typed)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["user"]["id"] == user_id and body["user"]["phone"] == PHONE
    claims = verified_claims(body["access_token"])
    assert [entry["method"] for entry in claims["amr"]] == ["password"]
    assert claims["phone"] == PHONE
    assert user_row(phone_app, user_id).last_sign_in_at == clock.now
    [login] = audit_entries(phone_app, "login")
    assert login["actor_id"] == user_id and login["traits"] == {"provider": "phone"}


@pytest.mark.parametrize("typed", ["++15550001111", "+1-555-000-1111", "(1)5550001111"])
def test_number_is_only_normalised_not_validated(phone_app, service_role_token, typed):
    """Other spellings are not cleaned up into the number, nor refused as malformed: they
    simply match no account."""
    admin_phone_user(phone_app, service_role_token, PHONE)
    response = _login(phone_app, typed)
    assert response.status_code == 400 and response.get_json() == INVALID


def test_phone_sign_in_off_is_422(make_app, service_role_token):
    app = make_app(**{"external.phone_enabled": False})
    admin_phone_user(app, service_role_token, PHONE)
    response = _login(app, PHONE)
    assert response.status_code == 422
    assert response.get_json() == {"code": "phone_provider_disabled",
                                   "message": "Phone logins are disabled"}


def test_unknown_number_wrong_or_missing_password_are_alike(phone_app, service_role_token):
    admin_phone_user(phone_app, service_role_token, PHONE)
    no_password = admin_phone_user(phone_app, service_role_token, "15550003333")
    update_user(phone_app, no_password, encrypted_password="")
    answers = [_login(phone_app, "15550002222"), _login(phone_app, PHONE, "wrong-password-1"),
               _login(phone_app, "15550003333")]
    for answer in answers:
        assert answer.status_code == 400 and answer.get_json() == INVALID
    assert len({answer.get_data() for answer in answers}) == 1


def test_unconfirmed_number_is_400_phone_not_confirmed(phone_app, service_role_token):
    user_id = admin_phone_user(phone_app, service_role_token, PHONE, confirmed=False)
    response = _login(phone_app, PHONE)
    assert response.status_code == 400
    assert response.get_json() == {"code": "phone_not_confirmed",
                                   "message": "Phone not confirmed"}
    # Only the right password learns that.
    assert _login(phone_app, PHONE, "wrong-password-1").get_json() == INVALID
    assert user_row(phone_app, user_id).last_sign_in_at is None


def test_confirmed_by_the_texted_code_then_signs_in(phone_app, service_role_token):
    user_id = admin_phone_user(phone_app, service_role_token, PHONE, confirmed=False)
    pending_code(phone_app, user_id, T.confirmation_token, PHONE, "123456")
    assert verify(api_for(phone_app), "sms", PHONE, "123456").status_code == 200
    assert _login(phone_app, "+" + PHONE).status_code == 200


def test_banned_user_is_400(phone_app, service_role_token):
    clock = freeze_clock(phone_app)
    user_id = admin_phone_user(phone_app, service_role_token, PHONE)
    update_user(phone_app, user_id, banned_until=clock.now + timedelta(hours=1))
    response = _login(phone_app, PHONE)
    assert response.status_code == 400
    assert response.get_json() == {"code": "user_banned", "message": "User is banned"}
