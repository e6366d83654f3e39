"""POST /factors for TOTP factors (api-contract section 3, MFA): the enrolment JSON, the
otpauth URI and QR code, the stored row, and every refusal."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from gotrue_web.models import FactorStatus, FactorType

from ...conftest import api_for
from ...factories import (
    add_factor,
    audit_actions,
    factor_ids,
    freeze_clock,
    make_user,
    unique_email,
)
from .support import (
    app_now,
    assert_error,
    challenged,
    enroll,
    enroll_totp,
    enrolled_totp,
    factor_row,
    signed_in,
    totp_code,
    verified_totp,
)

BASE32_SECRET = re.compile(r"^[A-Z2-7]{32}$")


def _uri_parts(uri: str) -> tuple[str, dict[str, str]]:
    """(the unquoted label, the query parameters) of an otpauth:// URI."""
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp"), uri
    params = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return unquote(parts.path.lstrip("/")), params


@pytest.fixture
def site_app(make_app):
    return make_app(**{"mailer.autoconfirm": True, "site_url": "https://app.example.com"})


@pytest.fixture
def site_api(site_app, service_role_token):
    return api_for(site_app, service_role_token)


# --- success ----------------------------------------------------------------------------------


def test_enroll_answers_the_factor_with_secret_uri_and_qr_code(site_app, site_api):
    email = unique_email("enroll")
    session = signed_in(site_api, email)
    response = enroll_totp(site_api, session["access_token"], friendly_name="My phone")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"id", "type", "friendly_name", "totp"}
    uuid.UUID(body["id"])
    assert body["type"] == "totp"
    assert body["friendly_name"] == "My phone"
    assert set(body["totp"]) == {"qr_code", "secret", "uri"}
    secret = body["totp"]["secret"]
    assert BASE32_SECRET.match(secret), secret
    assert body["totp"]["qr_code"].lstrip().startswith(("<svg", "<?xml"))
    assert "</svg>" in body["totp"]["qr_code"]
    label, params = _uri_parts(body["totp"]["uri"])
    assert label == f"app.example.com:{email}"
    assert params["secret"] == secret
    assert params["issuer"] == "app.example.com"
    # The URI is one an authenticator app reads: pyotp parses it back to the same secret.
    parsed = pyotp.parse_uri(body["totp"]["uri"])
    assert parsed.secret == secret and parsed.digits == 6 and parsed.interval == 30


def test_enroll_stores_an_unverified_factor_and_audits_it(site_app, site_api):
    session = signed_in(site_api)
    user_id = session["user"]["id"]
    before = app_now(site_app)
    body = enrolled_totp(site_api, session["access_token"], friendly_name="laptop")
    row = factor_row(site_app, body["id"])
    assert row is not None
    assert str(row.user_id) == user_id
    assert row.status == FactorStatus.unverified
    assert row.factor_type == FactorType.totp
    assert row.friendly_name == "laptop"
    assert row.secret  # stored (possibly encrypted), never empty
    assert row.last_challenged_at is None
    assert row.created_at >= before - timedelta(seconds=1)
    assert "factor_in_progress" in audit_actions(site_app, user_id)


def test_custom_issuer_names_the_uri(site_api):
    email = unique_email("issuer")
    session = signed_in(site_api, email)
    body = enrolled_totp(site_api, session["access_token"], issuer="Acme Corp")
    label, params = _uri_parts(body["totp"]["uri"])
    assert label == f"Acme Corp:{email}"
    assert params["issuer"] == "Acme Corp"


def test_each_enrolment_gets_its_own_secret(api):
    session = signed_in(api)
    first = enrolled_totp(api, session["access_token"], friendly_name="one")
    second = enrolled_totp(api, session["access_token"], friendly_name="two")
    assert first["id"] != second["id"]
    assert first["totp"]["secret"] != second["totp"]["secret"]


def test_blank_friendly_names_never_conflict(app, api):
    session = signed_in(api)
    first = enroll_totp(api, session["access_token"])
    second = enroll_totp(api, session["access_token"], friendly_name="")
    third = enroll_totp(api, session["access_token"], friendly_name="")
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert len(factor_ids(app, session["user"]["id"])) == 3


def test_whitespace_names_count_as_blank(api):
    session = signed_in(api)
    for _ in range(2):
        assert enroll_totp(api, session["access_token"], friendly_name="   ").status_code == 200


def test_a_user_without_email_is_named_by_phone(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "external.phone_enabled": True,
                      "site_url": "https://app.example.com"})
    api = api_for(app, service_role_token)
    created = api.admin("POST", "/admin/users", json={
        "phone": "+15550007777", "password": "password-123", "phone_confirm": True})
    assert created.status_code == 200, created.get_data(as_text=True)
    login = api.post("/token?grant_type=password",
                     json={"phone": "+15550007777", "password": "password-123"})
    assert login.status_code == 200, login.get_data(as_text=True)
    body = enrolled_totp(api, login.get_json()["access_token"])
    label, params = _uri_parts(body["totp"]["uri"])
    issuer, account = label.split(":", 1)
    assert issuer == params["issuer"] == "app.example.com"
    assert account.lstrip("+") == "15550007777"


def test_the_same_name_for_two_users_is_fine(api):
    for _ in range(2):
        session = signed_in(api)
        assert enroll_totp(api, session["access_token"], friendly_name="phone").status_code == 200


# --- refusals ---------------------------------------------------------------------------------


def test_without_a_token_is_401(api):
    response = api.post("/factors", json={"factor_type": "totp"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "no_authorization"


@pytest.mark.parametrize("method,path", [
    ("POST", "/factors"),
    ("POST", "/factors/{fid}/challenge"),
    ("POST", "/factors/{fid}/verify"),
    ("DELETE", "/factors/{fid}"),
])
def test_anonymous_users_are_403_no_authorization(make_app, method, path):
    app = make_app(**{"external.anonymous_users_enabled": True})
    client = api_for(app)
    signup = client.post("/signup", json={})
    assert signup.status_code == 200, signup.get_data(as_text=True)
    session = signup.get_json()
    assert session["user"]["is_anonymous"] is True
    factor_id = add_factor(app, session["user"]["id"], status=FactorStatus.unverified)
    response = client.request(method, path.format(fid=factor_id), token=session["access_token"],
                              json={"factor_type": "totp", "challenge_id": str(uuid.uuid4()),
                                    "code": "123456"})
    assert_error(response, 403, "no_authorization",
                 "Anonymous user not allowed to perform these actions")
    assert factor_ids(app, session["user"]["id"]) == {factor_id}


@pytest.mark.parametrize("factor_type", ["sms", "TOTP", "", None, "password"])
def test_unknown_factor_type_is_400(app, api, factor_type):
    session = signed_in(api)
    response = enroll(api, session["access_token"], factor_type=factor_type)
    assert_error(response, 400, "validation_failed",
                 "factor_type needs to be totp, phone, or webauthn")
    assert factor_ids(app, session["user"]["id"]) == set()


def test_totp_enrolment_disabled_is_422(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "mfa.totp_enroll_enabled": False})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    response = enroll_totp(api, session["access_token"])
    assert_error(response, 422, "mfa_totp_enroll_not_enabled", "MFA enroll is disabled for TOTP")
    assert factor_ids(app, session["user"]["id"]) == set()


def test_webauthn_enrolment_is_disabled(app, api):
    session = signed_in(api)
    response = enroll(api, session["access_token"], factor_type="webauthn")
    assert_error(response, 422, "mfa_webauthn_enroll_not_enabled",
                 "MFA enroll is disabled for WebAuthn")
    assert factor_ids(app, session["user"]["id"]) == set()


def test_duplicate_friendly_name_is_422(app, api):
    session = signed_in(api)
    enrolled_totp(api, session["access_token"], friendly_name="work phone")
    response = enroll_totp(api, session["access_token"], friendly_name="work phone")
    assert_error(response, 422, "mfa_factor_name_conflict",
                 'A factor with the friendly name "work phone" for this user already exists')
    assert len(factor_ids(app, session["user"]["id"])) == 1


def test_max_enrolled_factors(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "mfa.max_enrolled_factors": 2})
    api = api_for(app, service_role_token)
    session = signed_in(api)
    for name in ("one", "two"):
        enrolled_totp(api, session["access_token"], friendly_name=name)
    response = enroll_totp(api, session["access_token"], friendly_name="three")
    assert_error(response, 422, "too_many_enrolled_mfa_factors",
                 "Maximum number of enrolled factors reached, unenroll to continue")
    assert len(factor_ids(app, session["user"]["id"])) == 2


def test_max_verified_factors(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "mfa.max_verified_factors": 1})
    api = api_for(app, service_role_token)
    _, aal2 = verified_totp(api, app, signed_in(api), friendly_name="first")
    response = enroll_totp(api, aal2["access_token"], friendly_name="second")
    assert_error(response, 422, "too_many_enrolled_mfa_factors",
                 "Maximum number of verified factors reached, unenroll to continue")
    assert len(factor_ids(app, aal2["user"]["id"])) == 1


def test_second_factor_needs_aal2(app, api):
    email = unique_email("aal")
    factor, aal2 = verified_totp(api, app, signed_in(api, email), friendly_name="first")
    aal1 = api.login(email, "password-123").get_json()
    response = enroll_totp(api, aal1["access_token"], friendly_name="second")
    assert_error(response, 403, "insufficient_aal", "AAL2 required to enroll a new factor")
    assert factor_ids(app, aal2["user"]["id"]) == {uuid.UUID(factor["id"])}
    # From the stepped-up session the second factor enrols.
    assert enroll_totp(api, aal2["access_token"], friendly_name="second").status_code == 200


def test_an_unverified_factor_needs_no_aal2(app, api):
    session = signed_in(api)
    enrolled_totp(api, session["access_token"], friendly_name="first")
    assert enroll_totp(api, session["access_token"], friendly_name="second").status_code == 200


# --- expired unverified factors -----------------------------------------------------------------


def test_expired_unverified_factors_are_deleted_at_enrolment(app, api):
    clock = freeze_clock(app)
    session = signed_in(api)
    token = session["access_token"]
    stale = enrolled_totp(api, token, friendly_name="stale")
    challenged_late = enrolled_totp(api, token, friendly_name="challenged late")
    other_user = make_user(app, unique_email("other"))
    others_stale = add_factor(app, other_user, status=FactorStatus.unverified, name="old",
                              created_at=clock.now)
    others_verified = add_factor(app, other_user, status=FactorStatus.verified, name="kept",
                                 created_at=clock.now)
    clock.advance(seconds=200)
    challenged(api, token, challenged_late["id"])
    clock.advance(seconds=110)  # 310 s after the enrolments, 110 s after the challenge
    fresh = enrolled_totp(api, token, friendly_name="stale")  # the old name is free again
    assert factor_row(app, stale["id"]) is None
    assert factor_row(app, others_stale) is None
    assert factor_row(app, challenged_late["id"]) is not None
    assert factor_row(app, others_verified) is not None
    assert factor_row(app, fresh["id"]) is not None


def test_unverified_factors_within_the_expiry_are_kept(app, api):
    clock = freeze_clock(app)
    session = signed_in(api)
    young = enrolled_totp(api, session["access_token"], friendly_name="young")
    clock.advance(seconds=290)
    enrolled_totp(api, session["access_token"], friendly_name="younger")
    assert factor_row(app, young["id"]) is not None


def test_factor_expiry_setting_is_used(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True, "mfa.factor_expiry": timedelta(hours=1)})
    api = api_for(app, service_role_token)
    clock = freeze_clock(app)
    session = signed_in(api)
    first = enrolled_totp(api, session["access_token"], friendly_name="first")
    clock.advance(seconds=1800)
    enrolled_totp(api, session["access_token"], friendly_name="second")
    assert factor_row(app, first["id"]) is not None
    clock.advance(seconds=1801)
    # The first access token has expired by now: sign in again.
    again = api.login(session["user"]["email"], "password-123").get_json()
    enrolled_totp(api, again["access_token"], friendly_name="third")
    assert factor_row(app, first["id"]) is None


def test_the_enrolled_secret_yields_codes_the_server_accepts(app, api):
    session = signed_in(api)
    factor = enrolled_totp(api, session["access_token"])
    chal = challenged(api, session["access_token"], factor["id"])
    response = api.post(f"/factors/{factor['id']}/verify", token=session["access_token"],
                        json={"challenge_id": chal["id"],
                              "code": totp_code(factor["totp"]["secret"], app_now(app))})
    assert response.status_code == 200, response.get_data(as_text=True)
