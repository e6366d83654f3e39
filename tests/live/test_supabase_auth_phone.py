"""The official Python client (PyPI ``supabase_auth``) signing in by phone against the server
over real HTTP (spec phone-sms): sign_up with a phone and password, sign_in_with_otp (SMS, and
WhatsApp through Twilio), verify_otp with the texted code, update_user with a new number then
verify_otp type phone_change, resend, sign_in_with_password, and the errors as the client
raises them. Texts go to the Twilio fake on loopback (tests/support/fake_sms.py); the code is
read out of the body the fake received, as a phone would show it.
"""

from __future__ import annotations

import re

import pytest
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError

from ..api.phone.send_support import (code_of, digest, log_row, phone_app, sms_log, tokens,
                                      user_by_id, user_by_phone)
from ..api.phone.verify_support import phone_identities, wrong
from ..factories import later
from ..support.fake_sms import FakeTwilio, FakeVonage

pytestmark = pytest.mark.live

PHONE, NEW = "15550003333", "15550004444"
PASSWORD = "password-123"


@pytest.fixture
def twilio(servers):
    return servers(FakeTwilio())


@pytest.fixture
def start(make_app, serve):
    """``start(fake, **overrides)`` -> the server (phone sign-in on, texting through ``fake``)
    and a client of it."""
    clients: list[SyncGoTrueClient] = []

    def begin(fake, **overrides):
        server = serve(phone_app(make_app, fake, **overrides))
        client = SyncGoTrueClient(url=server.url, headers={"apikey": "anon-key"},
                                  auto_refresh_token=False)
        clients.append(client)
        return server, client

    yield begin
    for client in clients:
        client.close()


def _api_error(raised: pytest.ExceptionInfo) -> tuple:
    error = raised.value
    assert isinstance(error, AuthApiError)
    return error.status, error.code


def test_sign_in_with_otp_then_verify_otp(start, twilio):
    server, client = start(twilio)
    sent = client.sign_in_with_otp({"phone": f"+{PHONE}"})
    assert sent.message_id == "SM1"
    assert sent.user is None and sent.session is None
    code = code_of(twilio.last)
    assert twilio.last.text == f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{PHONE}"
    user = user_by_phone(server.app, PHONE)
    assert user.phone_confirmed_at is None
    assert tokens(server.app, user.id) == {"confirmation_token": (digest(PHONE, code), PHONE)}

    verified = client.verify_otp({"phone": f"+{PHONE}", "token": code, "type": "sms"})
    assert verified.session is not None and verified.session.access_token
    assert verified.user.id == str(user.id)
    assert verified.user.phone == PHONE and verified.user.phone_confirmed_at is not None
    assert client.get_session().access_token == verified.session.access_token
    assert client.get_user().user.phone == PHONE

    row = user_by_phone(server.app, PHONE)
    assert row.phone_confirmed_at is not None and tokens(server.app, row.id) == {}
    [identity] = phone_identities(server.app, row.id)
    # The phone identity is keyed by the user's id.
    assert identity.provider_id == str(row.id) == identity.identity_data["sub"]
    assert [log_row(entry) for entry in sms_log(server.app)] == [
        ("confirmation", PHONE, "sms", "twilio", "sent", "SM1")]


def test_sign_up_with_phone_and_password_then_sign_in(start, twilio):
    server, client = start(twilio)
    signed_up = client.sign_up({"phone": f"+{PHONE}", "password": PASSWORD})
    assert signed_up.session is None
    assert signed_up.user.phone == PHONE and signed_up.user.phone_confirmed_at is None
    # An unconfirmed number cannot sign in with its password yet.
    with pytest.raises(AuthApiError) as refused:
        client.sign_in_with_password({"phone": f"+{PHONE}", "password": PASSWORD})
    assert _api_error(refused) == (400, "phone_not_confirmed")

    verified = client.verify_otp({"phone": PHONE, "token": code_of(twilio.last), "type": "sms"})
    assert verified.session is not None and verified.user.phone_confirmed_at is not None

    other = SyncGoTrueClient(url=server.url, headers={"apikey": "anon-key"},
                             auto_refresh_token=False)
    try:
        signed_in = other.sign_in_with_password({"phone": f"+{PHONE}", "password": PASSWORD})
        assert signed_in.session is not None
        assert signed_in.user.id == verified.user.id and signed_in.user.phone == PHONE
        with pytest.raises(AuthApiError) as bad:
            other.sign_in_with_password({"phone": f"+{PHONE}", "password": "not-it-123"})
        assert _api_error(bad) == (400, "invalid_credentials")
    finally:
        other.close()
    assert len(phone_identities(server.app, verified.user.id)) == 1


def test_a_wrong_code_is_otp_expired(start, twilio):
    server, client = start(twilio)
    client.sign_in_with_otp({"phone": f"+{PHONE}"})
    code = code_of(twilio.last)
    with pytest.raises(AuthApiError) as raised:
        client.verify_otp({"phone": f"+{PHONE}", "token": wrong(code), "type": "sms"})
    assert _api_error(raised) == (403, "otp_expired")
    assert raised.value.message == "Token has expired or is invalid"
    assert client.get_session() is None
    assert user_by_phone(server.app, PHONE).phone_confirmed_at is None
    # The right code still works afterwards.
    assert client.verify_otp({"phone": f"+{PHONE}", "token": code, "type": "sms"}).session


def test_update_user_phone_then_verify_phone_change(start, twilio):
    server, client = start(twilio)
    client.sign_in_with_otp({"phone": f"+{PHONE}"})
    session = client.verify_otp({"phone": PHONE, "token": code_of(twilio.last),
                                 "type": "sms"}).session
    user_id = session.user.id

    updated = client.update_user({"phone": f"+{NEW}"})
    assert updated.user.phone == PHONE and updated.user.new_phone == NEW
    code = code_of(twilio.last)
    assert twilio.last.text == f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{NEW}"
    row = user_by_id(server.app, user_id)
    assert (row.phone, row.phone_change) == (PHONE, NEW)
    assert row.phone_change_sent_at is not None

    with pytest.raises(AuthApiError) as raised:
        client.verify_otp({"phone": NEW, "token": wrong(code), "type": "phone_change"})
    assert _api_error(raised) == (403, "otp_expired")

    changed = client.verify_otp({"phone": f"+{NEW}", "token": code, "type": "phone_change"})
    assert changed.session is not None
    assert changed.user.id == user_id and changed.user.phone == NEW
    assert changed.user.phone_confirmed_at is not None and not changed.user.new_phone
    row = user_by_id(server.app, user_id)
    assert (row.phone, row.phone_change) == (NEW, "")
    assert tokens(server.app, user_id) == {}
    [identity] = phone_identities(server.app, user_id)
    assert identity.identity_data["phone"] == NEW
    assert identity.identity_data["phone_verified"] is True
    assert [log_row(entry)[:2] for entry in sms_log(server.app)] == [
        ("confirmation", PHONE), ("phone_change", NEW)]


def test_resend_sms_and_phone_change(start, twilio):
    server, client = start(twilio)
    client.sign_up({"phone": f"+{PHONE}", "password": PASSWORD})
    first = code_of(twilio.last)
    # The 60-second rule, as the client raises it.
    with pytest.raises(AuthApiError) as early:
        client.resend({"type": "sms", "phone": f"+{PHONE}"})
    assert _api_error(early) == (429, "over_sms_send_rate_limit")
    assert re.fullmatch(r"For security purposes, you can only request this after \d+ seconds\.",
                        early.value.message)
    assert len(twilio.received) == 1

    later(server.app, 61)
    again = client.resend({"type": "sms", "phone": f"+{PHONE}"})
    assert again.message_id == "SM1" and len(twilio.received) == 2
    second = code_of(twilio.last)
    with pytest.raises(AuthApiError) as stale:
        if first != second:
            client.verify_otp({"phone": PHONE, "token": first, "type": "sms"})
        else:
            client.verify_otp({"phone": PHONE, "token": wrong(first), "type": "sms"})
    assert _api_error(stale) == (403, "otp_expired")
    user_id = client.verify_otp({"phone": PHONE, "token": second, "type": "sms"}).user.id

    later(server.app, 61)
    client.update_user({"phone": f"+{NEW}"})
    later(server.app, 61)
    # phone_change is resent by the current number; the code goes to the new one.
    resent = client.resend({"type": "phone_change", "phone": f"+{PHONE}"})
    assert resent.message_id == "SM1"
    assert twilio.last.text.endswith(f"&To=%2B{NEW}")
    changed = client.verify_otp({"phone": NEW, "token": code_of(twilio.last),
                                 "type": "phone_change"})
    assert changed.user.phone == NEW
    assert user_by_id(server.app, user_id).phone == NEW
    assert [log_row(entry)[0] for entry in sms_log(server.app)] == [
        "confirmation", "confirmation", "phone_change", "phone_change"]


def test_whatsapp_through_twilio(start, twilio):
    server, client = start(twilio, content_sid="HX1")
    sent = client.sign_in_with_otp({"phone": f"+{PHONE}", "options": {"channel": "whatsapp"}})
    assert sent.message_id == "SM1"
    assert twilio.last.text.startswith("Channel=whatsapp&ContentSid=HX1&")
    assert twilio.last.text.endswith(f"&To=whatsapp%3A%2B{PHONE}")
    code = code_of(twilio.last, "ContentVariables")
    verified = client.verify_otp({"phone": PHONE, "token": code, "type": "sms"})
    assert verified.session is not None and verified.user.phone == PHONE
    assert [log_row(entry) for entry in sms_log(server.app)] == [
        ("confirmation", PHONE, "whatsapp", "twilio", "sent", "SM1")]


def test_whatsapp_with_a_provider_that_cannot(start, servers):
    vonage = servers(FakeVonage())
    server, client = start(vonage)
    with pytest.raises(AuthApiError) as raised:
        client.sign_in_with_otp({"phone": f"+{PHONE}", "options": {"channel": "whatsapp"}})
    assert _api_error(raised) == (400, "validation_failed")
    assert vonage.received == [] and user_by_phone(server.app, PHONE) is None


def test_a_failed_send_is_sms_send_failed(start, twilio):
    server, client = start(twilio)
    twilio.script(400, {"code": 21211, "message": "Invalid 'To'", "more_info": "u",
                        "status": 400})
    with pytest.raises(AuthApiError) as raised:
        client.sign_in_with_otp({"phone": f"+{PHONE}"})
    assert _api_error(raised) == (422, "sms_send_failed")
    assert raised.value.message.startswith("Error sending confirmation OTP to provider: ")
    assert user_by_phone(server.app, PHONE) is None
    assert [log_row(entry)[4] for entry in sms_log(server.app)] == ["failed"]


def test_a_test_otp_number_signs_in_without_a_text(start, twilio):
    server, client = start(twilio, **{"sms.test_otp": {PHONE: "123456"}})
    sent = client.sign_in_with_otp({"phone": f"+{PHONE}"})
    assert sent.message_id == "test-otp"
    verified = client.verify_otp({"phone": PHONE, "token": "123456", "type": "sms"})
    assert verified.session is not None and verified.user.phone == PHONE
    assert verified.user.phone_confirmed_at is not None
    assert twilio.received == []
    assert [log_row(entry) for entry in sms_log(server.app)] == [
        ("confirmation", PHONE, "sms", "twilio", "test_otp", "test-otp")]


def test_a_gunicorn_server_configured_by_environment(start_gunicorn, app, twilio):
    """The same flow against ``gunicorn wsgi:app`` set up only through GoTrue's variables."""
    server = start_gunicorn(
        GOTRUE_EXTERNAL_PHONE_ENABLED="true", GOTRUE_SMS_PROVIDER="twilio",
        GOTRUE_SMS_TWILIO_ACCOUNT_SID="AC1", GOTRUE_SMS_TWILIO_AUTH_TOKEN="tok",
        GOTRUE_SMS_TWILIO_MESSAGE_SERVICE_SID="MG123", GOTRUE_SMS_TWILIO_URL=twilio.url,
        GOTRUE_SMS_TEST_OTP=f"+{NEW}:654321")
    client = SyncGoTrueClient(url=server.url, headers={"apikey": "anon-key"},
                              auto_refresh_token=False)
    try:
        assert client.sign_in_with_otp({"phone": f"+{PHONE}"}).message_id == "SM1"
        assert twilio.last.headers["Authorization"] == "Basic QUMxOnRvaw=="
        verified = client.verify_otp({"phone": PHONE, "token": code_of(twilio.last),
                                      "type": "sms"})
        assert verified.session is not None and verified.user.phone == PHONE
        # A test number: nothing texted, the configured code signs in.
        assert client.sign_in_with_otp({"phone": NEW}).message_id == "test-otp"
        assert len(twilio.received) == 1
        assert client.verify_otp({"phone": NEW, "token": "654321", "type": "sms"}).session
    finally:
        client.close()
    # The rows, read through the test app on the same database.
    assert user_by_phone(app, PHONE).phone_confirmed_at is not None
    assert user_by_phone(app, NEW).phone_confirmed_at is not None
    assert sorted(log_row(entry)[1:] for entry in sms_log(app)) == [
        (PHONE, "sms", "twilio", "sent", "SM1"), (NEW, "sms", "twilio", "test_otp", "test-otp")]
