"""MFA phone factors (spec phone-sms §3, api-contract §3): enrolment texts nothing and stores
the normalised number, a challenge texts one code from the MFA template through the SMS
provider, the right code steps the session up to aal2 with amr "mfa/phone", and a verified
factor is unenrolled from an aal2 session."""

from __future__ import annotations

import uuid

import pytest

from gotrue_web.models import AAL, Challenge, Factor, FactorStatus, FactorType

from ...factories import (add_factor, audit_entries, count, freeze_clock, session_ids, sign_in,
                          verified_claims)
from ...support.fake_sms import FakeTwilio
from ..phone.send_support import OTHER, PHONE, digest, form, log_row, sms_log
from .phone_support import (CLIENT, challenged_phone, enroll_phone, enrolled_phone, factors_of,
                            member, mfa_phone_app, texted_code, user_id_of)
from .support import (amr_methods, challenge, challenge_row, factor_row, session_id_of,
                      session_row, unenroll, verify)


@pytest.fixture
def fake(servers):
    return servers(FakeTwilio())


# --- enrol ---------------------------------------------------------------------------------------


def test_enrol_answers_the_number_as_sent_and_texts_nothing(make_app, fake, service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    response = enroll_phone(api, session["access_token"], "+1 555 123 4567",
                            friendly_name="my phone")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body == {"id": body["id"], "type": "phone", "friendly_name": "my phone",
                    "phone": "+1 555 123 4567"}
    assert fake.received == [] and sms_log(app) == []
    [factor] = factors_of(app, user_id_of(session)).values()
    assert str(factor.id) == body["id"]
    assert (factor.factor_type, factor.status, factor.phone, factor.friendly_name) == (
        FactorType.phone, FactorStatus.unverified, PHONE, "my phone")
    assert factor.last_challenged_at is None
    [entry] = audit_entries(app, "factor_in_progress")
    assert entry["actor_id"] == session["user"]["id"]


def test_enrol_is_off_by_default(make_app, fake, service_role_token):
    app = mfa_phone_app(make_app, fake, phone_mfa={})
    api, session = member(app, service_role_token)
    response = enroll_phone(api, session["access_token"])
    assert response.status_code == 422
    assert response.get_json() == {"code": "mfa_phone_enroll_not_enabled",
                                   "message": "MFA enroll is disabled for Phone"}
    assert count(app, Factor) == 0


def test_enrol_needs_only_its_own_switch(make_app, fake, service_role_token):
    """Verification off does not stop enrolment (the challenge is what it stops)."""
    app = mfa_phone_app(make_app, fake, phone_mfa={"mfa.phone_enroll_enabled": True})
    api, session = member(app, service_role_token)
    assert enroll_phone(api, session["access_token"]).status_code == 200


@pytest.mark.parametrize("phone", [None, ""])
def test_enrol_needs_a_number(make_app, fake, service_role_token, phone):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    response = enroll_phone(api, session["access_token"], phone)
    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed",
                                   "message": "Phone number required to enroll Phone factor"}
    assert count(app, Factor) == 0


@pytest.mark.parametrize("phone", ["+1-555-123-4567", "0044123456", "++15551234567", "1",
                                   "+1555123456789012", "phone"])
def test_enrol_needs_an_e164_number(make_app, fake, service_role_token, phone):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    response = enroll_phone(api, session["access_token"], phone)
    assert response.status_code == 400
    assert response.get_json() == {"code": "validation_failed",
                                   "message": "Invalid phone number format (E.164 required)"}
    assert count(app, Factor) == 0


def test_a_number_with_a_verified_factor_cannot_be_enrolled_again(make_app, fake,
                                                                  service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    user_id = user_id_of(session)
    factor_id = add_factor(app, user_id, factor_type=FactorType.phone, phone=PHONE, name="old")
    # The same number written otherwise is the same number.
    response = enroll_phone(api, session["access_token"], "+1 555 123 4567")
    assert response.status_code == 422
    assert response.get_json()["code"] == "mfa_verified_factor_exists"
    assert set(factors_of(app, user_id)) == {factor_id}


def test_a_number_with_an_unverified_factor_replaces_it(make_app, fake, service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token, user_id = session["access_token"], user_id_of(session)
    first = enrolled_phone(api, token, friendly_name="phone")
    other = enrolled_phone(api, token, f"+{OTHER}", friendly_name="other")
    # The same name is free again: the factor holding it goes first.
    second = enrolled_phone(api, token, f"+{PHONE}", friendly_name="phone")
    assert second != first
    factors = factors_of(app, user_id)
    assert set(factors) == {uuid.UUID(second), uuid.UUID(other)}
    assert factors[uuid.UUID(second)].phone == PHONE
    assert fake.received == []


def test_another_users_factor_on_the_same_number_is_no_obstacle(make_app, fake,
                                                                service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    _, other = member(app, service_role_token)
    add_factor(app, user_id_of(other), factor_type=FactorType.phone, phone=PHONE)
    assert enroll_phone(api, session["access_token"]).status_code == 200
    assert count(app, Factor) == 2


# --- challenge -----------------------------------------------------------------------------------


def test_a_challenge_texts_one_code_from_the_mfa_template(make_app, fake, service_role_token):
    # The sign-in template is not the MFA one.
    app = mfa_phone_app(make_app, fake, **{"sms.template": "Sign in with {{ .Code }}"})
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token)
    clock = freeze_clock(app)
    response = challenge(api, token, factor_id)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body == {"id": body["id"], "type": "phone",
                    "expires_at": int(clock.now.timestamp()) + 300}
    [request] = fake.received
    code = texted_code(request)
    assert len(code) == 6
    assert request.method == "POST" and request.path == "/2010-04-01/Accounts/AC1/Messages.json"
    assert request.headers["Authorization"] == "Basic QUMxOnRvaw=="
    assert request.text == f"Body=Your+code+is+{code}&Channel=sms&From=MG123&To=%2B{PHONE}"
    [entry] = sms_log(app)
    assert log_row(entry) == ("mfa", PHONE, "sms", "twilio", "sent", "SM1")
    assert entry.user_id == user_id_of(session)
    row = challenge_row(app, body["id"])
    # Stored as the keyed digest of every texted code (README "Secrets at rest"), not in clear.
    assert str(row.factor_id) == factor_id and row.otp_code == digest(PHONE, code)
    assert (row.created_at, row.verified_at, row.ip_address) == (clock.now, None, CLIENT)
    assert factor_row(app, factor_id).last_challenged_at == clock.now
    [audited] = audit_entries(app, "challenge_created")
    assert audited["actor_id"] == session["user"]["id"]


def test_a_custom_template_and_code_length(make_app, fake, service_role_token):
    app = mfa_phone_app(make_app, fake, **{"mfa.phone_template": "Acme: {{ .Code }} is yours",
                                           "mfa.phone_otp_length": 8})
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token)
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    assert len(code) == 8
    assert form(fake.last)["Body"] == f"Acme: {code} is yours"
    assert challenge_row(app, challenge_id).otp_code == digest(PHONE, code)


def test_a_challenge_by_whatsapp_through_twilio(make_app, fake, service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token)
    _, code = challenged_phone(api, token, factor_id, fake, channel="whatsapp")
    # An MG... sender is sent as it is; the number gets the whatsapp: prefix.
    assert fake.last.text == (f"Body=Your+code+is+{code}&Channel=whatsapp&From=MG123"
                              f"&To=whatsapp%3A%2B{PHONE}")
    assert log_row(sms_log(app)[0]) == ("mfa", PHONE, "whatsapp", "twilio", "sent", "SM1")


def test_the_challenge_of_the_second_factor_goes_to_its_number(make_app, fake,
                                                               service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token = session["access_token"]
    enrolled_phone(api, token)
    second = enrolled_phone(api, token, f"+{OTHER}")
    challenged_phone(api, token, second, fake)
    assert form(fake.last)["To"] == f"+{OTHER}"


# --- verify --------------------------------------------------------------------------------------


def test_the_right_code_steps_the_session_up_to_aal2(make_app, fake, service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token, user_id = session["access_token"], user_id_of(session)
    session_id = session_id_of(session)
    elsewhere = session_id_of(sign_in(api, session["user"]["email"]))
    factor_id = enrolled_phone(api, token)
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    response = verify(api, token, factor_id, challenge_id, code)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert {"access_token", "token_type", "expires_in", "expires_at", "refresh_token",
            "user"} <= set(body)
    assert body["token_type"] == "bearer" and body["refresh_token"] != session["refresh_token"]
    jwt = verified_claims(body["access_token"])
    assert jwt["aal"] == "aal2" and jwt["session_id"] == str(session_id)
    assert [claim["method"] for claim in jwt["amr"]] == ["mfa/phone", "password"]
    row = session_row(app, session_id)
    assert row.aal == AAL.aal2 and str(row.factor_id) == factor_id
    assert amr_methods(app, session_id) == {"password", "mfa/phone"}
    # The other aal1 session is gone.
    assert elsewhere != session_id and session_ids(app, user_id) == {session_id}
    assert factor_row(app, factor_id).status == FactorStatus.verified
    assert challenge_row(app, challenge_id).verified_at is not None
    [listed] = body["user"]["factors"]
    assert (listed["id"], listed["factor_type"], listed["status"], listed["phone"]) == (
        factor_id, "phone", "verified", PHONE)
    assert len(audit_entries(app, "verification_attempted")) == 1


def test_verifying_drops_the_users_other_unverified_phone_factors(make_app, fake,
                                                                  service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token, user_id = session["access_token"], user_id_of(session)
    factor_id = enrolled_phone(api, token)
    enrolled_phone(api, token, f"+{OTHER}")
    totp_id = add_factor(app, user_id, status=FactorStatus.unverified, name="app")
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    assert verify(api, token, factor_id, challenge_id, code).status_code == 200
    # Unverified factors of another type stay.
    assert set(factors_of(app, user_id)) == {uuid.UUID(factor_id), totp_id}


def test_the_code_of_a_later_challenge_is_the_one_that_counts(make_app, fake,
                                                              service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token)
    clock = freeze_clock(app)
    first_id, first_code = challenged_phone(api, token, factor_id, fake)
    clock.advance(seconds=61)
    second_id, second_code = challenged_phone(api, token, factor_id, fake)
    assert count(app, Challenge) == 2
    if first_code != second_code:
        refused = verify(api, token, factor_id, second_id, first_code)
        assert refused.status_code == 422
        assert refused.get_json()["code"] == "mfa_verification_failed"
    assert verify(api, token, factor_id, second_id, second_code).status_code == 200
    assert challenge_row(app, first_id).verified_at is None


# --- unenrol -------------------------------------------------------------------------------------


def test_a_verified_phone_factor_is_unenrolled_from_an_aal2_session(make_app, fake,
                                                                    service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token)
    challenge_id, code = challenged_phone(api, token, factor_id, fake)
    stepped_up = verify(api, token, factor_id, challenge_id, code).get_json()
    aal2_id = session_id_of(stepped_up)
    # A later password sign-in is aal1: it may not remove the verified factor.
    aal1 = sign_in(api, session["user"]["email"])
    refused = unenroll(api, aal1["access_token"], factor_id)
    assert refused.status_code == 422
    assert refused.get_json() == {"code": "insufficient_aal",
                                  "message": "AAL2 required to unenroll verified factor"}
    assert factor_row(app, factor_id) is not None

    response = unenroll(api, stepped_up["access_token"], factor_id)
    assert response.status_code == 200 and response.get_json() == {"id": factor_id}
    assert factor_row(app, factor_id) is None and challenge_row(app, challenge_id) is None
    row = session_row(app, aal2_id)
    assert row.aal == AAL.aal1 and row.factor_id is None
    assert amr_methods(app, aal2_id) == {"password"}
    assert len(audit_entries(app, "factor_unenrolled")) == 1
    refreshed = api.refresh(stepped_up["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    jwt = verified_claims(refreshed.get_json()["access_token"])
    assert jwt["aal"] == "aal1" and [c["method"] for c in jwt["amr"]] == ["password"]


def test_an_unverified_phone_factor_is_unenrolled_from_an_aal1_session(make_app, fake,
                                                                       service_role_token):
    app = mfa_phone_app(make_app, fake)
    api, session = member(app, service_role_token)
    token = session["access_token"]
    factor_id = enrolled_phone(api, token)
    response = unenroll(api, token, factor_id)
    assert response.status_code == 200 and response.get_json() == {"id": factor_id}
    assert count(app, Factor) == 0
