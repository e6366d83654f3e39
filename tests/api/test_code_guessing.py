"""Guessing an emailed code (issue: abuse defences, finding 1). An attacker who knows only the
victim's address asks for a code (POST /otp) and tries codes at POST /verify; before this
defence the right code still worked after thousands of misses. Now a code dies after five
wrong tries, whatever else happens, and a new code starts the count again."""

from __future__ import annotations

import pytest

from gotrue_web.services.one_time_tokens import MAX_FAILED_ATTEMPTS

from ..conftest import api_for
from ..factories import create_user, later, mail_to, one_time_tokens, sign_in, user_row
from ..support import smtp as smtp_support

REAUTH = {"security.update_password_require_reauthentication": True}


def _wrong(code: str) -> str:
    """A code of the same length that is not ``code``."""
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def _request_code(api, smtp_server, email: str, count: int = 1) -> str:
    response = api.post("/otp", json={"email": email, "create_user": False})
    assert response.status_code == 200, response.get_data(as_text=True)
    return smtp_support.code(mail_to(smtp_server, email, count))


def _verify(api, email: str, code: str, verify_type: str = "magiclink"):
    return api.post("/verify", json={"type": verify_type, "email": email, "token": code})


@pytest.mark.parametrize("verify_type", ["magiclink", "email"])
def test_five_wrong_codes_and_the_right_one_no_longer_works(mail_app, mail_api, smtp_server,
                                                             verify_type):
    victim = create_user(mail_api, "victim@example.com", password="password-123")
    code = _request_code(api_for(mail_app), smtp_server, "victim@example.com")
    attacker = api_for(mail_app)
    for _ in range(MAX_FAILED_ATTEMPTS):
        refused = _verify(attacker, "victim@example.com", _wrong(code), verify_type)
        assert refused.status_code == 403
        assert refused.get_json() == {"code": "otp_expired",
                                      "message": "Token has expired or is invalid"}
    late = _verify(attacker, "victim@example.com", code, verify_type)
    assert late.status_code == 403 and late.get_json()["code"] == "otp_expired"
    # The code is gone from both places that hold it, and no session was made.
    assert one_time_tokens(mail_app, victim["id"]) == {}
    assert user_row(mail_app, victim["id"]).recovery_token == ""
    assert "access_token" not in late.get_json()


def test_four_wrong_codes_leave_the_right_one_working(mail_app, mail_api, smtp_server):
    create_user(mail_api, "owner@example.com", password="password-123")
    code = _request_code(api_for(mail_app), smtp_server, "owner@example.com")
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        assert _verify(mail_api, "owner@example.com", _wrong(code)).status_code == 403
    [token] = one_time_tokens(mail_app, user_row(mail_app, "owner@example.com").id).values()
    assert token.failed_attempts == MAX_FAILED_ATTEMPTS - 1
    signed_in = _verify(mail_api, "owner@example.com", code)
    assert signed_in.status_code == 200 and signed_in.get_json()["access_token"]


def test_a_new_code_starts_the_count_again(mail_app, mail_api, smtp_server):
    create_user(mail_api, "again@example.com", password="password-123")
    first = _request_code(api_for(mail_app), smtp_server, "again@example.com")
    for _ in range(MAX_FAILED_ATTEMPTS):
        _verify(mail_api, "again@example.com", _wrong(first))
    # The owner asks again once the 60 s rule allows: the new code works.
    later(mail_app, 61)
    second = _request_code(api_for(mail_app), smtp_server, "again@example.com", count=2)
    for _ in range(MAX_FAILED_ATTEMPTS - 1):
        _verify(mail_api, "again@example.com", _wrong(second))
    assert _verify(mail_api, "again@example.com", second).status_code == 200


def test_wrong_codes_for_an_unknown_address_change_nothing(mail_app, mail_api, smtp_server):
    owner = create_user(mail_api, "known@example.com", password="password-123")
    code = _request_code(api_for(mail_app), smtp_server, "known@example.com")
    for _ in range(MAX_FAILED_ATTEMPTS + 2):
        assert _verify(mail_api, "unknown@example.com", _wrong(code)).status_code == 403
    [token] = one_time_tokens(mail_app, owner["id"]).values()
    assert token.failed_attempts == 0
    assert _verify(mail_api, "known@example.com", code).status_code == 200


def test_a_reauthentication_nonce_dies_after_five_wrong_tries(make_mail_app, smtp_server,
                                                               service_role_token):
    app = make_mail_app(**REAUTH)
    api = api_for(app, service_role_token)
    created = create_user(api, "nonce@example.com", password="password-123")
    session = sign_in(api, "nonce@example.com")
    assert api.get("/reauthenticate", token=session["access_token"]).status_code == 200
    nonce = smtp_support.code(mail_to(smtp_server, "nonce@example.com"))
    # A session over a day old needs the nonce to change the password.
    later(app, 25 * 3600)
    for _ in range(MAX_FAILED_ATTEMPTS):
        refused = api.put("/user", token=session["access_token"],
                          json={"password": "new-password-456", "nonce": _wrong(nonce)})
        assert refused.status_code == 422
        assert refused.get_json()["code"] == "reauthentication_not_valid"
    late = api.put("/user", token=session["access_token"],
                   json={"password": "new-password-456", "nonce": nonce})
    assert late.status_code == 422 and late.get_json()["code"] == "reauthentication_not_valid"
    assert one_time_tokens(app, created["id"]) == {}
    # The password did not change.
    assert api.login("nonce@example.com", "password-123").status_code == 200
