"""The send_sms hook (spec phone-sms.md 2.2, 3, 4.4, D2; issue 12) through the real routes:
phone codes go to the hook as a signed ``{user, sms:{otp, phone}}`` event instead of the SMS
provider (none need be configured), the sms_log row names the provider "hook", the hook's
error is the client's answer with nothing written, the MFA challenge adds ``sms_type:"mfa"``
and turns any hook error into 500 "error invoking hook", and every code the hook sent is
checked locally, also when SMS_PROVIDER is twilio_verify."""

from __future__ import annotations

import pytest

from gotrue_web.models import Challenge, User
from gotrue_web.settings import HookConfig

from ..api.mfa.phone_support import PHONE_MFA, enrolled_phone, member
from ..api.mfa.support import challenge, challenged, verify as verify_factor
from ..api.phone.send_support import (OTHER, PHONE, digest, log_row, sms_log, token_for,
                                      tokens, user_by_phone)
from ..api.phone.verify_support import admin_phone_user
from ..conftest import api_for
from ..factories import count, later, make_user, one_time_tokens, user_row, verified_claims
from ..support.fake_hooks import SECRET, FakeHookReceiver
from ..support.fake_sms import FakeTwilio, FakeTwilioVerify, sms_settings

NOPE = {"error": {"http_code": 422, "message": "nope"}}


@pytest.fixture
def receiver(servers):
    return servers(FakeHookReceiver())


@pytest.fixture
def hook_app(make_app, receiver):
    """``hook_app(fake=None, **overrides)``: phone sign-in on and the send_sms hook on; with
    ``fake``, that SMS provider is configured too (and must get nothing)."""

    def build(fake=None, **overrides):
        provider = sms_settings(fake) if fake is not None else {}
        return make_app(**{"external.phone_enabled": True, **provider,
                           "hooks.send_sms": HookConfig(True, receiver.uri(), (SECRET,)),
                           **overrides})

    return build


def the_event(receiver, index: int = -1) -> dict:
    """A request the receiver got, its signature checked: the event."""
    event = FakeHookReceiver.verify(receiver.received[index], SECRET)
    assert event["metadata"]["name"] == "send-sms"
    assert list(event) == ["metadata", "user", "sms"]
    return event


def the_code(receiver, phone: str = PHONE, index: int = -1) -> str:
    sms = the_event(receiver, index)["sms"]
    assert list(sms) == ["otp", "phone"] and sms["phone"] == phone
    assert sms["otp"].isdigit() and len(sms["otp"]) == 6
    return sms["otp"]


def _otp(app, phone: str = f"+{PHONE}"):
    return api_for(app).post("/otp", json={"phone": phone})


def _verify(app, phone: str, token: str, verify_type: str = "sms"):
    return api_for(app).post("/verify", json={"type": verify_type, "phone": phone,
                                              "token": token})


# --- phone codes ----------------------------------------------------------------------------


def test_otp_for_a_new_number_goes_to_the_hook_without_any_provider(hook_app, receiver):
    app = hook_app()
    response = _otp(app)
    assert response.status_code == 200, response.get_data(as_text=True)
    # The hook gives no message id.
    assert response.get_json() == {}
    event = the_event(receiver)
    code = the_code(receiver)
    row = user_by_phone(app, PHONE)
    assert event["user"]["id"] == str(row.id) and event["user"]["phone"] == PHONE
    assert event["metadata"]["ip_address"] == "127.0.0.1"
    assert row.confirmation_token == digest(PHONE, code)
    assert tokens(app, row.id) == {"confirmation_token": (digest(PHONE, code), PHONE)}
    [entry] = sms_log(app)
    assert log_row(entry) == ("confirmation", PHONE, "sms", "hook", "sent", None)
    # The hook's code signs in.
    verified = _verify(app, PHONE, code)
    assert verified.status_code == 200, verified.get_data(as_text=True)
    assert verified_claims(verified.get_json()["access_token"])["phone"] == PHONE


def test_phone_signup_needs_no_provider(hook_app, receiver):
    app = hook_app()
    response = api_for(app).post("/signup", json={"phone": f"+{PHONE}",
                                                  "password": "password-123"})
    assert response.status_code == 200, response.get_data(as_text=True)
    code = the_code(receiver)
    assert the_event(receiver)["user"]["id"] == response.get_json()["id"]
    assert _verify(app, PHONE, code).status_code == 200


def test_the_provider_gets_nothing(hook_app, receiver, servers):
    fake = servers(FakeTwilio())
    app = hook_app(fake)
    make_user(app, phone=PHONE)
    assert _otp(app).status_code == 200
    code = the_code(receiver)
    assert fake.received == []
    assert log_row(sms_log(app)[0]) == ("confirmation", PHONE, "sms", "hook", "sent", None)
    assert _verify(app, PHONE, code).status_code == 200


def test_twilio_verify_is_neither_sent_to_nor_asked(hook_app, receiver, servers):
    """D2: with the hook on, the code is ours and checked here, not by Twilio Verify."""
    twilio = servers(FakeTwilioVerify())
    app = hook_app(twilio)
    make_user(app, phone=PHONE)
    assert _otp(app).status_code == 200
    code = the_code(receiver)
    assert _verify(app, PHONE, str(int(code[0]) ^ 1) + code[1:]).status_code == 403
    assert _verify(app, PHONE, code).status_code == 200
    assert twilio.received == []


def test_phone_change_texts_the_new_number(hook_app, receiver, service_role_token):
    app = hook_app()
    user_id = admin_phone_user(app, service_role_token, PHONE)
    response = api_for(app).put("/user", token=token_for(user_id), json={"phone": f"+{OTHER}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    event = the_event(receiver)
    # GoTrue sets phone_change before the send: the hook sees the pending number.
    assert (event["user"]["phone"], event["user"]["new_phone"]) == (PHONE, OTHER)
    code = the_code(receiver, OTHER)
    assert log_row(sms_log(app)[0]) == ("phone_change", OTHER, "sms", "hook", "sent", None)
    verified = _verify(app, OTHER, code, "phone_change")
    assert verified.status_code == 200, verified.get_data(as_text=True)
    assert user_row(app, user_id).phone == OTHER


def test_reauthentication_nonce_is_checked_locally_under_twilio_verify(
        hook_app, receiver, servers, service_role_token):
    twilio = servers(FakeTwilioVerify())
    app = hook_app(twilio, **{"security.update_password_require_reauthentication": True})
    user_id = admin_phone_user(app, service_role_token, PHONE)
    token = token_for(user_id)
    assert api_for(app).get("/reauthenticate", token=token).status_code == 200
    nonce = the_code(receiver)
    assert log_row(sms_log(app)[0]) == ("reauthentication", PHONE, "sms", "hook", "sent", None)
    response = api_for(app).put("/user", token=token,
                                json={"password": "fresh-password-9", "nonce": nonce})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert twilio.received == []


def test_hook_error_passes_through_and_nothing_is_written(hook_app, receiver):
    receiver.answer_json(NOPE)
    app = hook_app()
    response = _otp(app)
    assert response.status_code == 422
    assert response.get_json() == {"code": "unknown", "message": "nope"}
    assert "x-sb-error-code" not in response.headers
    # The sign-up behind /otp rolled back with it.
    assert count(app, User) == 0
    [entry] = sms_log(app)
    assert log_row(entry) == ("confirmation", PHONE, "sms", "hook", "failed", None)
    assert entry.error == "nope"


def test_hook_error_for_a_known_number_keeps_its_state(hook_app, receiver):
    app = hook_app()
    user_id = make_user(app, phone=PHONE)
    receiver.answer_json(NOPE)
    assert _otp(app).status_code == 422
    user = user_row(app, user_id)
    assert not user.confirmation_token and user.confirmation_sent_at is None
    assert one_time_tokens(app, user_id) == {}
    # Nothing was sent, so nothing holds the next request back.
    receiver.answer_json({})
    assert _otp(app).status_code == 200


# --- MFA ------------------------------------------------------------------------------------


def test_mfa_challenge_and_verify_with_the_hooks_code(hook_app, receiver, servers,
                                                      service_role_token):
    twilio = servers(FakeTwilioVerify())
    app = hook_app(twilio, **PHONE_MFA)
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token, phone="+1 555 123 4567")
    chal = challenged(api, token, factor_id)
    event = the_event(receiver)
    assert event["user"]["id"] == session["user"]["id"]
    assert event["sms"] == {"otp": event["sms"]["otp"], "sms_type": "mfa", "phone": PHONE}
    assert list(event["sms"]) == ["otp", "sms_type", "phone"]
    [entry] = sms_log(app)
    assert log_row(entry) == ("mfa", PHONE, "sms", "hook", "sent", None)
    response = verify_factor(api, token, factor_id, chal["id"], event["sms"]["otp"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert verified_claims(response.get_json()["access_token"])["aal"] == "aal2"
    assert twilio.received == []


def test_any_mfa_hook_error_is_500_error_invoking_hook(hook_app, receiver, service_role_token):
    app = hook_app(**PHONE_MFA)
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token)
    receiver.answer_json(NOPE)
    response = challenge(api, token, factor_id)
    assert response.status_code == 500
    assert response.get_json() == {"code": "unexpected_failure",
                                   "message": "error invoking hook"}
    assert count(app, Challenge) == 0
    [entry] = sms_log(app)
    assert (entry.kind, entry.provider, entry.status, entry.error) == (
        "mfa", "hook", "failed", "nope")
    # Nothing recorded the attempt: the next challenge is not held back by the frequency rule.
    receiver.answer_json({})
    later(app, 1)
    assert challenge(api, token, factor_id).status_code == 200



# --- a PostgreSQL function as the hook --------------------------------------------------------


@pytest.fixture
def pg_hook(pg_schema, make_app):
    """``pg_hook(function, **overrides)``: an app whose send_sms hook is the PostgreSQL function
    ``h_sms_ok`` (answers {}) or ``h_sms_raise`` (raises)."""
    schema = pg_schema.name
    pg_schema.run(
        f'create or replace function "{schema}".h_sms_ok(e jsonb) returns jsonb '
        "language sql as $fn$ select '{}'::jsonb $fn$",
        f'create or replace function "{schema}".h_sms_raise(e jsonb) returns jsonb '
        "language plpgsql as $fn$ begin raise exception 'no text'; end $fn$")

    def build(function: str, **overrides):
        return make_app(**{"external.phone_enabled": True,
                           "hooks.send_sms": HookConfig(True, pg_schema.uri(function), ()),
                           **overrides})

    return build


def test_pg_hook_failure_rolls_the_sign_up_back(pg_hook):
    app = pg_hook("h_sms_raise")
    response = _otp(app)
    assert response.status_code == 500
    assert response.get_json()["message"].startswith("Error running hook URI: pg-functions://")
    assert count(app, User) == 0
    assert _otp(pg_hook("h_sms_ok")).status_code == 200
    assert count(app, User) == 1


def test_pg_hook_of_an_mfa_challenge(pg_hook, service_role_token):
    app = pg_hook("h_sms_raise", **PHONE_MFA)
    api, session = member(app, service_role_token)
    factor_id = enrolled_phone(api, session["access_token"])
    response = challenge(api, session["access_token"], factor_id)
    assert (response.status_code, response.get_json()["message"]) == (
        500, "error invoking hook")
    assert count(app, Challenge) == 0
    ok = pg_hook("h_sms_ok", **PHONE_MFA)
    assert challenge(api_for(ok), session["access_token"], factor_id).status_code == 200
