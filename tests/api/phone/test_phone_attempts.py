"""Texted codes obey the attempt limit of emailed codes (issue 10; security.md item 16): after
MAX_FAILED_ATTEMPTS wrong tries the code is forgotten and the right one no longer works, for
POST /verify sms and phone_change alike. The reauthentication nonce is in
test_phone_reauth_nonce.py."""

from __future__ import annotations

import pytest

from gotrue_web.services.one_time_tokens import MAX_FAILED_ATTEMPTS

from ...conftest import api_for
from ...factories import later, one_time_tokens, user_row
from .verify_support import (
    CODE_INVALID,
    PHONE_SETTINGS,
    T,
    admin_phone_user,
    pending_code,
    verify,
    wrong,
)

OLD, NEW = "15550001111", "15550002222"
# verify type -> (token type, its users column, the number the code goes to)
CASES = {
    "sms": (T.confirmation_token, "confirmation_token", OLD),
    "phone_change": (T.phone_change_token, "phone_change_token", NEW),
}


@pytest.fixture
def phone_app(make_app):
    return make_app(**PHONE_SETTINGS)


def _pending(app, service_role_token, verify_type, code="123456"):
    token_type, _, number = CASES[verify_type]
    user_id = admin_phone_user(app, service_role_token, OLD, confirmed=False)
    pending_code(app, user_id, token_type, number, code)
    return user_id


@pytest.mark.parametrize("verify_type", sorted(CASES))
def test_five_wrong_codes_and_the_right_one_no_longer_works(phone_app, service_role_token,
                                                             verify_type):
    user_id = _pending(phone_app, service_role_token, verify_type)
    _, column, number = CASES[verify_type]
    attacker = api_for(phone_app)
    for _ in range(MAX_FAILED_ATTEMPTS):
        refused = verify(attacker, verify_type, number, wrong("123456"))
        assert refused.status_code == 403 and refused.get_json() == CODE_INVALID
    late = verify(attacker, verify_type, number, "123456")
    assert late.status_code == 403 and late.get_json() == CODE_INVALID
    assert "access_token" not in late.get_json()
    # Gone from both places that held it; nothing was confirmed or changed.
    assert one_time_tokens(phone_app, user_id) == {}
    user = user_row(phone_app, user_id)
    assert getattr(user, column) == ""
    assert user.phone == OLD and user.phone_confirmed_at is None


@pytest.mark.parametrize("verify_type", sorted(CASES))
def test_four_wrong_codes_leave_the_right_one_working(phone_app, service_role_token,
                                                      verify_type):
    user_id = _pending(phone_app, service_role_token, verify_type)
    token_type, _, number = CASES[verify_type]
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        assert verify(api_for(phone_app), verify_type, number, wrong("123456")).status_code == 403
    token = one_time_tokens(phone_app, user_id)[token_type.value]
    assert token.failed_attempts == MAX_FAILED_ATTEMPTS - 1
    response = verify(api_for(phone_app), verify_type, number, "123456")
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_new_code_starts_the_count_again(phone_app, service_role_token):
    user_id = _pending(phone_app, service_role_token, "sms", code="123456")
    for _ in range(MAX_FAILED_ATTEMPTS):
        verify(api_for(phone_app), "sms", OLD, wrong("123456"))
    later(phone_app, 61)
    pending_code(phone_app, user_id, T.confirmation_token, OLD, "654321")
    assert one_time_tokens(phone_app, user_id)["confirmation_token"].failed_attempts == 0
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        verify(api_for(phone_app), "sms", OLD, wrong("654321"))
    assert verify(api_for(phone_app), "sms", OLD, "654321").status_code == 200


def test_wrong_codes_for_another_number_do_not_count(phone_app, service_role_token):
    user_id = _pending(phone_app, service_role_token, "sms")
    for _ in range(MAX_FAILED_ATTEMPTS + 1):
        assert verify(api_for(phone_app), "sms", "15550009999", "123456").status_code == 403
    assert one_time_tokens(phone_app, user_id)["confirmation_token"].failed_attempts == 0
    assert verify(api_for(phone_app), "sms", OLD, "123456").status_code == 200


def test_an_expired_right_code_is_not_counted_as_wrong(phone_app, service_role_token):
    user_id = _pending(phone_app, service_role_token, "sms")
    later(phone_app, 61)
    assert verify(api_for(phone_app), "sms", OLD, "123456").status_code == 403
    assert one_time_tokens(phone_app, user_id)["confirmation_token"].failed_attempts == 0
