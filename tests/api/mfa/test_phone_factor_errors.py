"""MFA phone factors refused (spec phone-sms §3, §1.1-§1.2): challenges spaced by
MFA_PHONE_MAX_FREQUENCY, the verification switch, channels, provider failures (500, nothing
stored), the sign-in SMS rules that do not apply to MFA, wrong, expired and moved codes, and
codes checked by Twilio Verify."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gotrue_web.models import AAL, Challenge, FactorStatus

from ...conftest import api_for
from ...factories import audit_entries, count, freeze_clock
from ...support.fake_sms import FakeTwilio, FakeTwilioVerify, FakeVonage
from ..phone.send_support import PHONE, log_row, sms_log
from ..phone.verify_support import CODE_INVALID, assert_one_verification_check, wrong
from .phone_support import (CLIENT, ELSEWHERE, NOT_VERIFIED, SEND_FAILED,
                            challenged_phone, challenges_of, enrolled_phone, member,
                            mfa_phone_app)
from .support import challenge, challenge_row, factor_row, session_id_of, session_row, verify

INVALID_CHANNEL = {
    "code": "validation_failed",
    "message": "Invalid channel, supported values are 'sms' or 'whatsapp'. 'whatsapp' is only "
               "supported if Twilio or Twilio Verify is used as the provider."}


def _too_soon(seconds: int) -> dict:
    return {"code": "over_sms_send_rate_limit",
            "message": f"For security purposes, you can only request this after {seconds} "
                       "seconds."}


def _factor(app, service_role_token):
    """A member of ``app`` with one unverified phone factor: (api, token, factor id)."""
    api, session = member(app, service_role_token)
    token = session["access_token"]
    return api, token, enrolled_phone(api, token)


# --- challenge -----------------------------------------------------------------------------------


def test_a_second_challenge_within_a_minute_is_refused(make_app, servers, service_role_token):
    fake = servers(FakeTwilio())
    app = mfa_phone_app(make_app, fake)
    api, token, factor_id = _factor(app, service_role_token)
    clock = freeze_clock(app)
    challenged_phone(api, token, factor_id, fake)
    clock.advance(seconds=20)
    refused = challenge(api, token, factor_id)
    assert refused.status_code == 429 and refused.get_json() == _too_soon(40)
    assert len(fake.received) == 1 and count(app, Challenge) == 1
    assert factor_row(app, factor_id).last_challenged_at == clock.now - timedelta(seconds=20)
    clock.advance(seconds=41)
    challenged_phone(api, token, factor_id, fake)
    assert count(app, Challenge) == 2
    assert factor_row(app, factor_id).last_challenged_at == clock.now


def test_the_mfa_spacing_is_its_own_setting(make_app, servers, service_role_token):
    """MFA_PHONE_MAX_FREQUENCY counts; SMS_MAX_FREQUENCY (sign-in codes) does not."""
    fake = servers(FakeTwilio())
    app = mfa_phone_app(make_app, fake, **{"mfa.phone_max_frequency": timedelta(seconds=30),
                                           "sms.max_frequency": timedelta(minutes=10)})
    api, token, factor_id = _factor(app, service_role_token)
    clock = freeze_clock(app)
    challenged_phone(api, token, factor_id, fake)
    clock.advance(seconds=10)
    assert challenge(api, token, factor_id).get_json() == _too_soon(20)
    clock.advance(seconds=21)
    challenged_phone(api, token, factor_id, fake)


def test_verification_off_refuses_challenges_and_codes(make_app, servers, service_role_token):
    fake = servers(FakeTwilio())
    app = mfa_phone_app(make_app, fake)
    api, token, factor_id = _factor(app, service_role_token)
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    # The same database, served with phone verification turned off.
    off = mfa_phone_app(make_app, fake, phone_mfa={"mfa.phone_enroll_enabled": True})
    off_api = api_for(off)
    disabled = {"code": "mfa_phone_verify_not_enabled",
                "message": "MFA verification is disabled for Phone"}
    refused = challenge(off_api, token, factor_id)
    assert refused.status_code == 422 and refused.get_json() == disabled
    refused = verify(off_api, token, factor_id, challenge_id, code)
    assert refused.status_code == 422 and refused.get_json() == disabled
    assert len(fake.received) == 1 and count(app, Challenge) == 1
    assert factor_row(app, factor_id).status == FactorStatus.unverified


@pytest.mark.parametrize(("fake_class", "channel"), [
    (FakeVonage, "whatsapp"), (FakeTwilio, "fax"), (FakeTwilio, "SMS")])
def test_channels_are_checked(make_app, servers, service_role_token, fake_class, channel):
    fake = servers(fake_class())
    app = mfa_phone_app(make_app, fake)
    api, token, factor_id = _factor(app, service_role_token)
    refused = challenge(api, token, factor_id, channel=channel)
    assert refused.status_code == 400 and refused.get_json() == INVALID_CHANNEL
    assert fake.received == [] and count(app, Challenge) == 0


@pytest.mark.parametrize("answer", [
    (200, {"status": "failed", "error_code": "30007", "error_message": "x", "sid": "SM9"}),
    (400, {"code": 21211, "message": "Invalid 'To'", "more_info": "u", "status": 400}),
    (502, "<html>bad gateway</html>"),
])
def test_a_failed_send_is_a_500_and_stores_nothing(make_app, servers, service_role_token,
                                                   answer):
    fake = servers(FakeTwilio())
    app = mfa_phone_app(make_app, fake)
    api, token, factor_id = _factor(app, service_role_token)
    status, body = answer
    fake.script(status, body, content_type="text/html" if isinstance(body, str) else
                "application/json")
    response = challenge(api, token, factor_id)
    assert response.status_code == 500 and response.get_json() == SEND_FAILED
    assert len(fake.received) == 1 and count(app, Challenge) == 0
    assert factor_row(app, factor_id).last_challenged_at is None
    assert audit_entries(app, "challenge_created") == []
    [entry] = sms_log(app)
    assert (entry.kind, entry.recipient, entry.status) == ("mfa", PHONE, "failed")
    # Nothing was sent, so nothing holds the next challenge back.
    challenged_phone(api, token, factor_id, fake)


def test_a_refused_connection_is_a_500(make_app, closed_port, service_role_token):
    app = mfa_phone_app(make_app, f"http://127.0.0.1:{closed_port}", "twilio")
    api, token, factor_id = _factor(app, service_role_token)
    response = challenge(api, token, factor_id)
    assert response.status_code == 500 and response.get_json() == SEND_FAILED
    assert count(app, Challenge) == 0
    assert factor_row(app, factor_id).last_challenged_at is None
    assert [entry.status for entry in sms_log(app)] == ["failed"]


def test_a_failed_resend_keeps_the_last_challenge(make_app, servers, service_role_token):
    fake = servers(FakeVonage())
    app = mfa_phone_app(make_app, fake)
    api, token, factor_id = _factor(app, service_role_token)
    clock = freeze_clock(app)
    first = challenge(api, token, factor_id)
    assert first.status_code == 200, first.get_data(as_text=True)
    sent_at = clock.now
    clock.advance(seconds=61)
    fake.script(200, {"messages": []})
    response = challenge(api, token, factor_id)
    assert response.status_code == 500 and response.get_json() == SEND_FAILED
    assert [str(row.id) for row in challenges_of(app, factor_id)] == [first.get_json()["id"]]
    assert factor_row(app, factor_id).last_challenged_at == sent_at
    assert [entry.status for entry in sms_log(app)] == ["sent", "failed"]


def test_sign_in_sms_rules_do_not_apply(make_app, servers, service_role_token):
    """No SMS budget, test OTP or autoconfirm for MFA: a real code is texted and only it
    passes (spec §3)."""
    fake = servers(FakeTwilio())
    app = mfa_phone_app(make_app, fake, **{"rate_limit.sms_sent": "0", "sms.autoconfirm": True,
                                           "sms.test_otp": {PHONE: "000000"}})
    api, token, factor_id = _factor(app, service_role_token)
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    assert log_row(sms_log(app)[0]) == ("mfa", PHONE, "sms", "twilio", "sent", "SM1")
    if code != "000000":
        refused = verify(api, token, factor_id, challenge_id, "000000")
        assert refused.status_code == 422 and refused.get_json() == NOT_VERIFIED
    assert verify(api, token, factor_id, challenge_id, code).status_code == 200


def test_the_mfa_limiter_counts_challenges_and_codes(make_app, servers, service_role_token):
    """GOTRUE_MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY=1: two requests per client in two minutes."""
    fake = servers(FakeTwilio())
    app = mfa_phone_app(make_app, fake, **{"rate_limit.mfa_challenge_and_verify": 1})
    api, token, factor_id = _factor(app, service_role_token)
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    assert verify(api, token, factor_id, challenge_id, wrong(code)).status_code == 422
    limited = verify(api, token, factor_id, challenge_id, code)
    assert limited.status_code == 429
    assert limited.get_json()["code"] == "over_request_rate_limit"
    assert factor_row(app, factor_id).status == FactorStatus.unverified
    # Another client is not held back.
    elsewhere = verify(api, token, factor_id, challenge_id, code, environ_base=ELSEWHERE)
    assert elsewhere.get_json()["code"] == "mfa_ip_address_mismatch"


# --- verify --------------------------------------------------------------------------------------


def test_a_wrong_code_is_refused_and_the_challenge_stays(make_app, servers, service_role_token):
    fake = servers(FakeTwilio())
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token)
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    refused = verify(api, token, factor_id, challenge_id, wrong(code))
    assert refused.status_code == 422 and refused.get_json() == NOT_VERIFIED
    assert factor_row(app, factor_id).status == FactorStatus.unverified
    assert challenge_row(app, challenge_id).verified_at is None
    assert session_row(app, session_id_of(session)).aal == AAL.aal1
    assert len(fake.received) == 1
    assert verify(api, token, factor_id, challenge_id, code).status_code == 200


def test_an_expired_challenge_is_refused_and_deleted(make_app, servers, service_role_token):
    fake = servers(FakeTwilio())
    app = mfa_phone_app(make_app, fake)
    api, token, factor_id = _factor(app, service_role_token)
    clock = freeze_clock(app)
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    clock.advance(seconds=301)
    refused = verify(api, token, factor_id, challenge_id, code)
    assert refused.status_code == 422
    assert refused.get_json() == {
        "code": "mfa_challenge_expired",
        "message": f"MFA challenge {challenge_id} has expired, verify against another challenge "
                   "or create a new challenge."}
    assert challenge_row(app, challenge_id) is None
    assert factor_row(app, factor_id).status == FactorStatus.unverified


def test_a_challenge_lives_its_full_expiry(make_app, servers, service_role_token):
    fake = servers(FakeTwilio())
    app = mfa_phone_app(make_app, fake)
    api, token, factor_id = _factor(app, service_role_token)
    clock = freeze_clock(app)
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    clock.advance(seconds=300)
    response = verify(api, token, factor_id, challenge_id, code)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_code_from_another_address_is_refused(make_app, servers, service_role_token):
    fake = servers(FakeTwilio())
    app = mfa_phone_app(make_app, fake)
    api, token, factor_id = _factor(app, service_role_token)
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    assert challenge_row(app, challenge_id).ip_address == CLIENT
    mismatch = {"code": "mfa_ip_address_mismatch",
                "message": "Challenge and verify IP addresses mismatch."}
    refused = verify(api, token, factor_id, challenge_id, code, environ_base=ELSEWHERE)
    assert refused.status_code == 422 and refused.get_json() == mismatch
    assert factor_row(app, factor_id).status == FactorStatus.unverified
    stepped_up = verify(api, token, factor_id, challenge_id, code)
    assert stepped_up.status_code == 200
    # A verified challenge is spent.
    again = verify(api, stepped_up.get_json()["access_token"], factor_id, challenge_id, code)
    assert again.status_code == 422 and again.get_json() == mismatch


# --- Twilio Verify -------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_twilio_verify_starts_a_verification_and_checks_the_code(make_app, servers,
                                                                 service_role_token, channel):
    fake = servers(FakeTwilioVerify())
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token, "+1 555 123 4567")
    response = challenge(api, token, factor_id, channel=channel)
    assert response.status_code == 200, response.get_data(as_text=True)
    challenge_id = response.get_json()["id"]
    [start] = fake.received
    assert start.method == "POST" and start.path == "/v2/Services/VA1/Verifications"
    assert start.headers["Authorization"] == "Basic QUMxOnRvaw=="
    assert start.text == f"Channel={channel}&To=%2B{PHONE}"
    assert log_row(sms_log(app)[0]) == ("mfa", PHONE, channel, "twilio_verify", "sent", "VE1")
    assert challenge_row(app, challenge_id) is not None
    fake.received.clear()
    # Twilio chose the code; the server asks Twilio about it.
    stepped_up = verify(api, token, factor_id, challenge_id, "424242")
    assert stepped_up.status_code == 200, stepped_up.get_data(as_text=True)
    assert_one_verification_check(fake, PHONE, "424242")
    assert factor_row(app, factor_id).status == FactorStatus.verified
    assert session_row(app, session_id_of(session)).aal == AAL.aal2


@pytest.mark.parametrize("answer", [
    (200, {"sid": "VE1", "status": "pending", "valid": False}),
    (200, {"sid": "VE1", "status": "approved", "valid": False}),
    (404, {"code": 20404, "message": "not found", "more_info": "u", "status": 404}),
    (500, {"code": 20500, "message": "oops", "more_info": "u", "status": 500}),
])
def test_twilio_verify_refusing_the_code_is_403(make_app, servers, service_role_token, answer):
    fake = servers(FakeTwilioVerify())
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token)
    response = challenge(api, token, factor_id)
    assert response.status_code == 200, response.get_data(as_text=True)
    challenge_id = response.get_json()["id"]
    fake.received.clear()
    fake.script(*answer)
    refused = verify(api, token, factor_id, challenge_id, "123456")
    assert refused.status_code == 403 and refused.get_json() == CODE_INVALID
    assert_one_verification_check(fake, PHONE, "123456")
    assert factor_row(app, factor_id).status == FactorStatus.unverified
    assert session_row(app, session_id_of(session)).aal == AAL.aal1
    assert count(app, Challenge) == 1
