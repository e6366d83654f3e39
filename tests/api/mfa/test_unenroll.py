"""DELETE /factors/{id} (api-contract section 3, MFA): who may unenroll what, and what the
sessions that used the factor become."""

from __future__ import annotations

from datetime import timedelta

from gotrue_web.models import AAL, FactorStatus

from ...factories import (
    audit_actions,
    factor_ids,
    freeze_clock,
    sign_in,
    unique_email,
    verified_claims,
)
from .support import (
    amr_methods,
    app_now,
    assert_error,
    challenge,
    challenge_row,
    challenged,
    enrolled_totp,
    factor_row,
    session_id_of,
    session_row,
    signed_in,
    totp_code,
    unenroll,
    verified_totp,
    verify,
)


def test_unverified_factor_is_unenrolled_from_aal1(app, api):
    session = signed_in(api)
    token = session["access_token"]
    factor = enrolled_totp(api, token)
    chal = challenged(api, token, factor["id"])
    response = unenroll(api, token, factor["id"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"id": factor["id"]}
    assert factor_row(app, factor["id"]) is None
    assert factor_ids(app, session["user"]["id"]) == set()
    assert "factor_unenrolled" in audit_actions(app, session["user"]["id"])
    # Its challenges went with it.
    assert challenge_row(app, chal["id"]) is None
    assert_error(challenge(api, token, factor["id"]), 404, "mfa_factor_not_found")


def test_verified_factor_needs_aal2(app, api):
    email = unique_email("unenroll")
    factor, _ = verified_totp(api, app, signed_in(api, email))
    aal1 = sign_in(api, email)
    response = unenroll(api, aal1["access_token"], factor["id"])
    assert_error(response, 422, "insufficient_aal", "AAL2 required to unenroll verified factor")
    assert factor_row(app, factor["id"]).status == FactorStatus.verified


def test_unenrolling_from_aal2_drops_the_session_to_aal1(app, api):
    session = signed_in(api)
    session_id = session_id_of(session)
    factor, stepped = verified_totp(api, app, session)
    response = unenroll(api, stepped["access_token"], factor["id"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"id": factor["id"]}
    assert factor_row(app, factor["id"]) is None
    row = session_row(app, session_id)
    assert row is not None
    assert row.aal == AAL.aal1
    assert row.factor_id is None
    assert amr_methods(app, session_id) == {"password"}
    assert "factor_unenrolled" in audit_actions(app, session["user"]["id"])
    refreshed = api.refresh(stepped["refresh_token"])
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    claims = verified_claims(refreshed.get_json()["access_token"])
    assert claims["session_id"] == str(session_id)
    assert claims["aal"] == "aal1"
    assert [entry["method"] for entry in claims["amr"]] == ["password"]


def test_unenrolling_one_factor_leaves_sessions_of_another(app, api):
    email = unique_email("two")
    first_session = signed_in(api, email)
    first, stepped = verified_totp(api, app, first_session, friendly_name="first")
    second = enrolled_totp(api, stepped["access_token"], friendly_name="second")
    response = unenroll(api, stepped["access_token"], second["id"])
    assert response.status_code == 200, response.get_data(as_text=True)
    row = session_row(app, session_id_of(first_session))
    assert row.aal == AAL.aal2
    assert str(row.factor_id) == first["id"]
    assert factor_row(app, first["id"]) is not None


def test_after_unenrolling_the_last_factor_aal1_may_change_the_password(app, api):
    email = unique_email("last")
    factor, stepped = verified_totp(api, app, signed_in(api, email))
    assert unenroll(api, stepped["access_token"], factor["id"]).status_code == 200
    aal1 = sign_in(api, email)
    response = api.put("/user", token=aal1["access_token"], json={"password": "new-password-9"})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_every_session_stepped_up_with_the_factor_drops_to_aal1(app, api):
    freeze_clock(app)
    email = unique_email("many")
    first = signed_in(api, email)
    factor, stepped = verified_totp(api, app, first)
    second = sign_in(api, email)
    chal = challenged(api, second["access_token"], factor["id"])
    later_code = totp_code(factor["totp"]["secret"], app_now(app) + timedelta(seconds=30))
    response = verify(api, second["access_token"], factor["id"], chal["id"], later_code)
    assert response.status_code == 200, response.get_data(as_text=True)
    ids = [session_id_of(first), session_id_of(second)]
    assert [session_row(app, sid).aal for sid in ids] == [AAL.aal2, AAL.aal2]
    assert unenroll(api, stepped["access_token"], factor["id"]).status_code == 200
    for sid in ids:
        row = session_row(app, sid)
        assert (row.aal, row.factor_id) == (AAL.aal1, None)
        assert amr_methods(app, sid) == {"password"}
