"""The admin factor API (api-contract section 3, admin): GET /admin/users/{id}/factors,
PUT and DELETE /admin/users/{id}/factors/{fid}, on factors enrolled through the API."""

from __future__ import annotations

import uuid

import pytest

from gotrue_web.models import AAL, FactorStatus

from ...factories import audit_actions, audit_entries, factor_ids, verified_claims
from .support import (
    amr_methods,
    assert_error,
    enrolled_totp,
    factor_row,
    session_id_of,
    session_row,
    signed_in,
    verified_totp,
)

FACTOR_KEYS = {"id", "created_at", "updated_at", "status", "friendly_name", "factor_type",
               "phone", "last_challenged_at"}


def _factors_url(user_id, factor_id=None) -> str:
    return f"/admin/users/{user_id}/factors" + (f"/{factor_id}" if factor_id else "")


def test_list_answers_the_users_factors(app, api):
    session = signed_in(api)
    user_id = session["user"]["id"]
    factor, stepped = verified_totp(api, app, session, friendly_name="main")
    spare = enrolled_totp(api, stepped["access_token"], friendly_name="spare")
    signed_in_other = signed_in(api)
    enrolled_totp(api, signed_in_other["access_token"], friendly_name="not listed")
    response = api.admin("GET", _factors_url(user_id))
    assert response.status_code == 200, response.get_data(as_text=True)
    listed = response.get_json()
    assert {f["id"] for f in listed} == {factor["id"], spare["id"]}
    assert all(set(f) == FACTOR_KEYS for f in listed)
    by_id = {f["id"]: f for f in listed}
    assert by_id[factor["id"]]["status"] == "verified"
    assert by_id[spare["id"]]["status"] == "unverified"
    assert by_id[spare["id"]]["friendly_name"] == "spare"
    # The same JSON as GET /user.
    own = api.get("/user", token=stepped["access_token"]).get_json()["factors"]
    assert sorted(own, key=lambda f: f["id"]) == sorted(listed, key=lambda f: f["id"])


def test_list_of_a_user_without_factors_is_empty(api):
    session = signed_in(api)
    response = api.admin("GET", _factors_url(session["user"]["id"]))
    assert response.status_code == 200
    assert response.get_json() == []


def test_update_renames_the_factor(app, api):
    session = signed_in(api)
    factor = enrolled_totp(api, session["access_token"], friendly_name="old name")
    response = api.admin("PUT", _factors_url(session["user"]["id"], factor["id"]),
                         json={"friendly_name": "new name"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == FACTOR_KEYS
    assert body["id"] == factor["id"]
    assert body["friendly_name"] == "new name"
    assert body["factor_type"] == "totp"
    assert body["status"] == "unverified"
    assert factor_row(app, factor["id"]).friendly_name == "new name"
    assert "factor_updated" in audit_actions(app)
    [entry] = audit_entries(app, "factor_updated")
    assert entry["actor_id"] != session["user"]["id"]
    # The old name is free again.
    assert enrolled_totp(api, session["access_token"], friendly_name="old name")


def test_update_to_a_name_in_use_is_422(app, api):
    session = signed_in(api)
    user_id = session["user"]["id"]
    enrolled_totp(api, session["access_token"], friendly_name="taken")
    factor = enrolled_totp(api, session["access_token"], friendly_name="mine")
    response = api.admin("PUT", _factors_url(user_id, factor["id"]),
                         json={"friendly_name": "taken"})
    assert_error(response, 422, "mfa_factor_name_conflict",
                 'A factor with the friendly name "taken" for this user already exists')
    assert factor_row(app, factor["id"]).friendly_name == "mine"
    assert "factor_updated" not in audit_actions(app)


def test_update_to_a_name_another_user_has_is_fine(app, api):
    other = signed_in(api)
    enrolled_totp(api, other["access_token"], friendly_name="shared")
    session = signed_in(api)
    factor = enrolled_totp(api, session["access_token"], friendly_name="mine")
    response = api.admin("PUT", _factors_url(session["user"]["id"], factor["id"]),
                         json={"friendly_name": "shared"})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_delete_answers_the_factor_and_removes_it(app, api):
    session = signed_in(api)
    user_id = session["user"]["id"]
    factor = enrolled_totp(api, session["access_token"], friendly_name="gone")
    listed = api.admin("GET", _factors_url(user_id)).get_json()
    response = api.admin("DELETE", _factors_url(user_id, factor["id"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == listed[0]
    assert factor_ids(app, user_id) == set()
    assert "factor_deleted" in audit_actions(app)
    again = api.admin("DELETE", _factors_url(user_id, factor["id"]))
    assert_error(again, 404, "mfa_factor_not_found", "Factor not found")


def test_delete_of_a_verified_factor_drops_its_sessions_to_aal1(app, api):
    session = signed_in(api)
    session_id = session_id_of(session)
    factor, stepped = verified_totp(api, app, session)
    response = api.admin("DELETE", _factors_url(session["user"]["id"], factor["id"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "verified"
    row = session_row(app, session_id)
    assert row.aal == AAL.aal1
    assert amr_methods(app, session_id) == {"password"}
    refreshed = api.refresh(stepped["refresh_token"]).get_json()
    assert verified_claims(refreshed["access_token"])["aal"] == "aal1"


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_unknown_factor_is_404(api, method):
    session = signed_in(api)
    response = api.admin(method, _factors_url(session["user"]["id"], uuid.uuid4()),
                         json={"friendly_name": "x"})
    assert_error(response, 404, "mfa_factor_not_found", "Factor not found")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_factor_of_another_user_is_404(app, api, method):
    owner = signed_in(api)
    factor = enrolled_totp(api, owner["access_token"], friendly_name="owned")
    other = signed_in(api)
    response = api.admin(method, _factors_url(other["user"]["id"], factor["id"]),
                         json={"friendly_name": "stolen"})
    assert_error(response, 404, "mfa_factor_not_found", "Factor not found")
    row = factor_row(app, factor["id"])
    assert row is not None and row.friendly_name == "owned"
    assert row.status == FactorStatus.unverified


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_malformed_factor_id_is_404_validation_failed(api, method):
    session = signed_in(api)
    response = api.admin(method, _factors_url(session["user"]["id"], "not-a-uuid"),
                         json={"friendly_name": "x"})
    assert_error(response, 404, "validation_failed", "factor_id must be an UUID")


@pytest.mark.parametrize("method,suffix", [("GET", ""), ("PUT", "/{fid}"), ("DELETE", "/{fid}")])
def test_unknown_user_is_404_user_not_found(api, method, suffix):
    path = _factors_url(uuid.uuid4()) + suffix.format(fid=uuid.uuid4())
    response = api.admin(method, path, json={"friendly_name": "x"})
    assert_error(response, 404, "user_not_found", "User not found")


@pytest.mark.parametrize("method,suffix", [("GET", ""), ("PUT", "/{fid}"), ("DELETE", "/{fid}")])
def test_a_user_token_is_not_admin(app, api, method, suffix):
    session = signed_in(api)
    factor = enrolled_totp(api, session["access_token"])
    path = _factors_url(session["user"]["id"]) + suffix.format(fid=factor["id"])
    response = api.request(method, path, token=session["access_token"],
                           json={"friendly_name": "mine now"})
    assert_error(response, 403, "not_admin", "User not allowed")
    assert factor_row(app, factor["id"]) is not None
