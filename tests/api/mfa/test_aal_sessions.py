"""What a TOTP verification does to sessions and tokens (api-contract sections 3, 5 and 6):
aal2 and amr in the JWT, refresh tokens, the user's other sessions, PUT and GET /user, and
SESSIONS_ALLOW_LOW_AAL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AAL, FactorStatus, FactorType, Session

from ...conftest import api_for
from ...factories import (
    add_factor,
    audit_actions,
    freeze_clock,
    session_ids,
    sign_in,
    unique_email,
    verified_claims,
)
from .support import (
    amr_methods,
    app_now,
    assert_error,
    challenge_row,
    challenged,
    enrolled_totp,
    factor_row,
    session_id_of,
    session_row,
    signed_in,
    totp_code,
    verified_totp,
    verify,
)

SESSION_KEYS = ["access_token", "token_type", "expires_in", "expires_at", "refresh_token",
                "user"]
FACTOR_KEYS = {"id", "created_at", "updated_at", "status", "friendly_name", "factor_type",
               "phone", "last_challenged_at"}
LOW_AAL_EXPIRED = "Invalid Refresh Token: Session Expired (Low AAL: User Needs MFA Verification)"


def _set_aal2(app, session_id) -> None:
    with app.app_context():
        db.session.execute(sa.update(Session).where(Session.id == session_id)
                           .values(aal=AAL.aal2))
        db.session.commit()


def _methods(access_token: str) -> list[str]:
    return [entry["method"] for entry in
            verified_claims(access_token, clock_moved=True)["amr"]]


# --- verify -----------------------------------------------------------------------------------


def test_verify_steps_the_same_session_up_to_aal2(app, api):
    email = unique_email("stepup")
    session = signed_in(api, email)
    session_id = session_id_of(session)
    token = session["access_token"]
    factor = enrolled_totp(api, token, friendly_name="main")
    chal = challenged(api, token, factor["id"])
    response = verify(api, token, factor["id"], chal["id"],
                      totp_code(factor["totp"]["secret"], app_now(app)))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert list(body) == SESSION_KEYS
    assert body["token_type"] == "bearer"
    assert body["refresh_token"] != session["refresh_token"]
    claims = verified_claims(body["access_token"])
    assert claims["session_id"] == str(session_id)
    assert claims["sub"] == session["user"]["id"]
    assert claims["aal"] == "aal2"
    assert [entry["method"] for entry in claims["amr"]] == ["totp", "password"]
    assert all(isinstance(entry["timestamp"], int) for entry in claims["amr"])
    assert body["expires_at"] == claims["exp"]
    [listed] = body["user"]["factors"]
    assert (listed["id"], listed["status"]) == (factor["id"], "verified")
    row = session_row(app, session_id)
    assert row.aal == AAL.aal2
    assert str(row.factor_id) == factor["id"]
    assert amr_methods(app, session_id) == {"password", "totp"}
    assert factor_row(app, factor["id"]).status == FactorStatus.verified
    assert challenge_row(app, chal["id"]).verified_at is not None
    assert "verification_attempted" in audit_actions(app, session["user"]["id"])


def test_the_new_refresh_token_keeps_aal2(app, api):
    session = signed_in(api)
    _, stepped = verified_totp(api, app, session)
    response = api.refresh(stepped["refresh_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    claims = verified_claims(response.get_json()["access_token"])
    assert claims["session_id"] == str(session_id_of(session))
    assert claims["aal"] == "aal2"
    assert [entry["method"] for entry in claims["amr"]] == ["totp", "password"]


def test_the_aal1_refresh_token_no_longer_gives_a_session(app, api):
    session = signed_in(api)
    verified_totp(api, app, session)
    response = api.refresh(session["refresh_token"])
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["code"] in {"refresh_token_already_used",
                                           "refresh_token_not_found"}


def test_verify_deletes_the_users_other_aal1_sessions(app, api):
    email = unique_email("others")
    session = signed_in(api, email)
    other_aal1 = session_id_of(sign_in(api, email))
    other_aal2 = session_id_of(sign_in(api, email))
    _set_aal2(app, other_aal2)
    bystander = signed_in(api)
    verified_totp(api, app, session)
    user_id = session["user"]["id"]
    assert session_ids(app, user_id) == {session_id_of(session), other_aal2}
    assert other_aal1 not in session_ids(app)
    assert session_ids(app, bystander["user"]["id"]) == {session_id_of(bystander)}


def test_verify_deletes_the_users_other_unverified_totp_factors(app, api):
    session = signed_in(api)
    token = session["access_token"]
    spare = enrolled_totp(api, token, friendly_name="spare")
    factor, _ = verified_totp(api, app, session, friendly_name="main")
    assert factor_row(app, spare["id"]) is None
    assert factor_row(app, factor["id"]).status == FactorStatus.verified
    other = signed_in(api)
    others = enrolled_totp(api, other["access_token"], friendly_name="spare")
    verified_totp(api, app, signed_in(api), friendly_name="someone else")
    assert factor_row(app, others["id"]) is not None


def test_verify_keeps_unverified_factors_of_another_type(app, api):
    session = signed_in(api)
    phone_factor = add_factor(app, session["user"]["id"], factor_type=FactorType.phone,
                              status=FactorStatus.unverified, name="phone",
                              phone="15550001234")
    verified_totp(api, app, session)
    assert factor_row(app, phone_factor) is not None


def test_a_later_aal1_session_steps_up_and_keeps_the_aal2_one(app, api):
    clock = freeze_clock(app)
    email = unique_email("later")
    first = signed_in(api, email)
    factor, _ = verified_totp(api, app, first)
    second = sign_in(api, email)
    third = sign_in(api, email)
    assert verified_claims(second["access_token"])["aal"] == "aal1"
    clock.advance(seconds=30)
    token = second["access_token"]
    chal = challenged(api, token, factor["id"])
    response = verify(api, token, factor["id"], chal["id"],
                      totp_code(factor["totp"]["secret"], clock.now))
    assert response.status_code == 200, response.get_data(as_text=True)
    claims = verified_claims(response.get_json()["access_token"], clock_moved=True)
    assert (claims["session_id"], claims["aal"]) == (str(session_id_of(second)), "aal2")
    assert session_ids(app, first["user"]["id"]) == {session_id_of(first),
                                                     session_id_of(second)}
    assert session_row(app, session_id_of(third)) is None


def test_a_second_factor_verified_from_aal2_keeps_the_first(app, api):
    clock = freeze_clock(app)
    session = signed_in(api)
    first, stepped = verified_totp(api, app, session, friendly_name="first")
    token = stepped["access_token"]
    second = enrolled_totp(api, token, friendly_name="second")
    clock.advance(seconds=30)
    chal = challenged(api, token, second["id"])
    response = verify(api, token, second["id"], chal["id"],
                      totp_code(second["totp"]["secret"], clock.now))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert factor_row(app, first["id"]).status == FactorStatus.verified
    assert factor_row(app, second["id"]).status == FactorStatus.verified
    row = session_row(app, session_id_of(session))
    assert (row.aal, str(row.factor_id)) == (AAL.aal2, second["id"])
    assert _methods(response.get_json()["access_token"]) == ["totp", "password"]


def test_verifying_again_keeps_one_totp_claim(app, api):
    session = signed_in(api)
    factor, stepped = verified_totp(api, app, session)
    token = stepped["access_token"]
    freeze_clock(app, app_now(app) + timedelta(seconds=60))
    chal = challenged(api, token, factor["id"])
    again = verify(api, token, factor["id"], chal["id"],
                   totp_code(factor["totp"]["secret"], app_now(app)))
    assert again.status_code == 200, again.get_data(as_text=True)
    assert _methods(again.get_json()["access_token"]) == ["totp", "password"]
    assert amr_methods(app, session_id_of(session)) == {"password", "totp"}


# --- PUT /user and GET /user ------------------------------------------------------------------


def test_password_change_needs_aal2_once_a_factor_is_verified(app, api):
    email = unique_email("pw")
    _, stepped = verified_totp(api, app, signed_in(api, email))
    aal1 = sign_in(api, email)
    response = api.put("/user", token=aal1["access_token"], json={"password": "new-password-1"})
    assert_error(response, 401, "insufficient_aal")
    assert api.login(email, "new-password-1").status_code == 400
    response = api.put("/user", token=stepped["access_token"],
                       json={"password": "new-password-1"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert api.login(email, "new-password-1").status_code == 200


def test_email_change_needs_aal2_once_a_factor_is_verified(app, api):
    email = unique_email("mail")
    verified_totp(api, app, signed_in(api, email))
    aal1 = sign_in(api, email)
    response = api.put("/user", token=aal1["access_token"],
                       json={"email": unique_email("new")})
    assert_error(response, 401, "insufficient_aal")
    # Metadata needs no aal2.
    response = api.put("/user", token=aal1["access_token"], json={"data": {"k": "v"}})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_an_unverified_factor_does_not_ask_for_aal2(app, api):
    email = unique_email("pw")
    session = signed_in(api, email)
    enrolled_totp(api, session["access_token"])
    response = api.put("/user", token=session["access_token"],
                       json={"password": "new-password-1"})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_get_user_lists_the_factors(app, api):
    session = signed_in(api)
    token = session["access_token"]
    assert "factors" not in api.get("/user", token=token).get_json()
    factor = enrolled_totp(api, token, friendly_name="listed")
    [listed] = api.get("/user", token=token).get_json()["factors"]
    assert set(listed) == FACTOR_KEYS
    assert listed["id"] == factor["id"]
    assert listed["status"] == "unverified"
    assert listed["factor_type"] == "totp"
    assert listed["friendly_name"] == "listed"
    assert listed["phone"] == ""
    assert listed["last_challenged_at"] is None
    chal = challenged(api, token, factor["id"])
    stepped = verify(api, token, factor["id"], chal["id"],
                     totp_code(factor["totp"]["secret"], app_now(app))).get_json()
    [listed] = api.get("/user", token=stepped["access_token"]).get_json()["factors"]
    assert listed["status"] == "verified"
    assert listed["last_challenged_at"] is not None


# --- SESSIONS_ALLOW_LOW_AAL -------------------------------------------------------------------

LOW = timedelta(minutes=10)


@pytest.fixture
def low_app(make_app):
    return make_app(**{"mailer.autoconfirm": True, "sessions.allow_low_aal": LOW})


@pytest.fixture
def low_api(low_app, service_role_token):
    return api_for(low_app, service_role_token)


def test_aal1_session_of_an_mfa_user_is_capped(low_app, low_api):
    clock = freeze_clock(low_app)
    email = unique_email("low")
    verified_totp(low_api, low_app, signed_in(low_api, email))
    aal1 = sign_in(low_api, email)
    start = int(clock.now.timestamp())
    claims = verified_claims(aal1["access_token"])
    assert claims["aal"] == "aal1"
    assert claims["exp"] == start + 600
    assert aal1["expires_at"] == start + 600
    clock.advance(minutes=5)
    refreshed = low_api.refresh(aal1["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    assert verified_claims(refreshed.get_json()["access_token"],
                           clock_moved=True)["exp"] == start + 600
    clock.advance(minutes=5, seconds=1)
    expired = low_api.refresh(refreshed.get_json()["refresh_token"])
    assert_error(expired, 400, "session_expired", LOW_AAL_EXPIRED)


def test_aal2_session_is_not_capped(low_app, low_api):
    clock = freeze_clock(low_app)
    _, stepped = verified_totp(low_api, low_app, signed_in(low_api))
    claims = verified_claims(stepped["access_token"])
    assert claims["exp"] == claims["iat"] + 3600
    clock.advance(minutes=11)
    refreshed = low_api.refresh(stepped["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    claims = verified_claims(refreshed.get_json()["access_token"], clock_moved=True)
    assert claims["aal"] == "aal2"
    assert claims["exp"] == int(clock.now.timestamp()) + 3600


def test_capped_session_can_still_step_up(low_app, low_api):
    clock = freeze_clock(low_app)
    email = unique_email("low")
    factor, _ = verified_totp(low_api, low_app, signed_in(low_api, email))
    aal1 = sign_in(low_api, email)
    clock.advance(minutes=5)
    token = aal1["access_token"]
    chal = challenged(low_api, token, factor["id"])
    stepped = verify(low_api, token, factor["id"], chal["id"],
                     totp_code(factor["totp"]["secret"], clock.now))
    assert stepped.status_code == 200, stepped.get_data(as_text=True)
    claims = verified_claims(stepped.get_json()["access_token"], clock_moved=True)
    assert claims["aal"] == "aal2"
    assert claims["exp"] == int(clock.now.timestamp()) + 3600
    clock.advance(minutes=6)
    assert low_api.refresh(stepped.get_json()["refresh_token"]).status_code == 200


def test_users_without_a_verified_factor_are_not_capped(low_app, low_api):
    clock = freeze_clock(low_app)
    session = signed_in(low_api)
    enrolled_totp(low_api, session["access_token"])
    claims = verified_claims(session["access_token"])
    assert claims["exp"] == claims["iat"] + 3600
    clock.advance(minutes=11)
    assert low_api.refresh(session["refresh_token"]).status_code == 200


def test_without_the_setting_aal1_sessions_are_not_capped(app, api):
    clock = freeze_clock(app)
    email = unique_email("nolow")
    verified_totp(api, app, signed_in(api, email))
    aal1 = sign_in(api, email)
    claims = verified_claims(aal1["access_token"])
    assert claims["exp"] == claims["iat"] + 3600
    clock.advance(minutes=30)
    assert api.refresh(aal1["refresh_token"]).status_code == 200

