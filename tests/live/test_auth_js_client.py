"""The official JavaScript client (npm ``@supabase/auth-js``) against the server over real HTTP.

tests/live/js/driver.mjs runs the flows with the real client in Node and prints what the client
returned; this test asserts on that output and on the rows the server wrote. The client is
installed with npm from tests/live/js/package.json (version pinned in package-lock.json) once per
run; a missing node/npm or an unreachable registry fails the test, it never skips.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.models import RefreshToken, Session, User

from ..conftest import table_rows
from ..factories import refresh_token_hash, verified_claims

pytestmark = pytest.mark.live

DRIVER_SECONDS = 120


def _drive(auth_js, base_url: str, service_role_token: str) -> dict:
    try:
        run = subprocess.run(["node", "driver.mjs", base_url, service_role_token],
                             cwd=auth_js, capture_output=True, text=True, timeout=DRIVER_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the auth-js driver did not finish in {DRIVER_SECONDS}s")
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.fixture(params=["", "/auth/v1"], ids=["root", "auth-v1"])
def driven(request, auth_js, live_server, service_role_token) -> dict:
    """The driver's results against the live server (API at the root or under /auth/v1)."""
    return _drive(auth_js, live_server.url + request.param, service_role_token)


def api_error(result: dict) -> tuple:
    error = result["error"]
    assert error is not None, result
    return error["name"], error["status"], error["code"]


def test_auth_js_user_flows(driven, live_server):
    app = live_server.app
    results = driven
    email = results["email"]

    signed_up = results["sign_up"]
    assert signed_up["error"] is None
    user = signed_up["user"]
    assert user["email"] == email and user["aud"] == "authenticated"
    assert user["user_metadata"]["full_name"] == "Ada Lovelace"
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["identities"] == ["email"]
    assert signed_up["session"]["token_type"] == "bearer"
    user_id = user["id"]

    weak = results["sign_up_weak"]
    assert api_error(weak) == ("AuthWeakPasswordError", 422, "weak_password")
    assert weak["error"]["reasons"] == ["length"]
    assert api_error(results["sign_up_again"]) == ("AuthApiError", 422, "user_already_exists")
    wrong = results["sign_in_wrong_password"]
    assert api_error(wrong) == ("AuthApiError", 400, "invalid_credentials")
    assert wrong["error"]["message"] == "Invalid login credentials"

    signed_in = results["sign_in"]
    assert signed_in["error"] is None
    # The password grant reports weak_password as null for a strong password.
    assert signed_in["weak_password"] is None
    session = signed_in["session"]
    assert session["user_id"] == user_id and session["expires_in"] == 3600
    claims = verified_claims(session["access_token"])
    assert claims["sub"] == user_id and claims["session_id"]
    assert results["get_user"]["user"]["id"] == user_id

    updated = results["update_data"]["user"]
    assert updated["user_metadata"]["plan"] == "pro"
    assert "full_name" not in updated["user_metadata"]
    weak_update = results["update_weak_password"]
    assert api_error(weak_update) == ("AuthWeakPasswordError", 422, "weak_password")
    assert weak_update["error"]["reasons"] == ["length"]
    assert results["update_password"]["error"] is None
    assert api_error(results["sign_in_old_password"]) == (
        "AuthApiError", 400, "invalid_credentials")
    assert results["sign_in_new_password"]["error"] is None

    refreshed = results["refresh"]["session"]
    assert refreshed["refresh_token"] != session["refresh_token"]
    assert verified_claims(refreshed["access_token"])["session_id"] == claims["session_id"]
    # The parent of the live token gets the live token again.
    assert results["refresh_parent_again"]["session"]["refresh_token"] == (
        refreshed["refresh_token"])
    newest = results["refresh_next"]["session"]["refresh_token"]
    reuse = results["refresh_reuse"]
    assert api_error(reuse) == ("AuthApiError", 400, "refresh_token_already_used")
    assert reuse["error"]["message"] == "Invalid Refresh Token: Already Used"
    assert api_error(results["refresh_newest_after_reuse"]) == (
        "AuthApiError", 400, "refresh_token_already_used")
    assert api_error(results["refresh_unknown"]) == ("AuthApiError", 400,
                                                     "refresh_token_not_found")
    chain = table_rows(app, sa.select(RefreshToken.token, RefreshToken.parent,
                                      RefreshToken.revoked)
                       .where(RefreshToken.session_id == uuid.UUID(claims["session_id"]))
                       .order_by(RefreshToken.id))
    assert [(row.token, row.parent) for row in chain] == [
        (refresh_token_hash(session["refresh_token"]), None),
        (refresh_token_hash(refreshed["refresh_token"]),
         refresh_token_hash(session["refresh_token"])),
        (refresh_token_hash(newest), refresh_token_hash(refreshed["refresh_token"])),
    ]
    assert all(row.revoked for row in chain)

    # Local sign out: that session is gone, the others stay; auth-js maps the server's
    # session_not_found to AuthSessionMissingError.
    assert results["sign_out"]["error"] is None
    assert results["session_after_sign_out"] is None
    assert api_error(results["refresh_after_sign_out"]) == (
        "AuthApiError", 400, "refresh_token_not_found")
    assert api_error(results["get_user_after_sign_out"])[0] == "AuthSessionMissingError"
    remaining = {str(row.id) for row in table_rows(
        app, sa.select(Session.id).where(Session.user_id == uuid.UUID(user_id)))}
    assert remaining == {
        claims["session_id"],
        verified_claims(results["sign_in_new_password"]["session"]["access_token"])["session_id"],
    }


def test_auth_js_admin_flows(driven, live_server):
    app = live_server.app
    results = driven
    created = results["admin_create"]
    assert [entry["error"] for entry in created] == [None, None, None]
    for index, entry in enumerate(created):
        assert entry["user"]["email_confirmed_at"] is not None
        assert entry["user"]["user_metadata"] == {"n": index, "email_verified": True}
        assert entry["user"]["app_metadata"]["tier"] == "gold"
    admin_ids = results["admin_ids"]
    assert api_error(results["admin_create_duplicate"]) == ("AuthApiError", 422, "email_exists")

    # The driver's own signed-up user plus the three admin-created ones.
    everyone = {results["sign_up"]["user"]["id"], *admin_ids}
    assert len(everyone) == 4
    page_1, page_2 = results["admin_list_page_1"], results["admin_list_page_2"]
    assert page_1["error"] is None and page_2["error"] is None
    assert len(page_1["ids"]) == 2 and len(page_2["ids"]) == 2
    assert set(page_1["ids"]) | set(page_2["ids"]) == everyone
    # auth-js reads X-Total-Count and the Link header for the pagination fields.
    assert (page_1["total"], page_1["next_page"], page_1["last_page"]) == (4, 2, 2)
    assert (page_2["total"], page_2["next_page"], page_2["last_page"]) == (4, None, 2)
    assert page_1["identities"] == [None, None] and page_1["aud"] == "authenticated"
    assert set(results["admin_list_all"]["ids"]) == everyone

    target = admin_ids[0]
    assert results["admin_get"]["user"]["id"] == target
    banned = results["admin_ban"]
    assert banned["error"] is None
    banned_until = datetime.fromisoformat(banned["user"]["banned_until"].replace("Z", "+00:00"))
    assert banned_until > datetime.now(timezone.utc) + timedelta(hours=23)
    assert api_error(results["sign_in_banned"]) == ("AuthApiError", 400, "user_banned")
    assert api_error(results["refresh_banned"]) == ("AuthApiError", 400, "user_banned")
    assert results["admin_unban"]["user"]["banned_until"] is None
    assert results["sign_in_unbanned"]["error"] is None
    assert results["admin_delete"]["error"] is None
    assert api_error(results["admin_get_deleted"]) == ("AuthApiError", 404, "user_not_found")
    assert {str(row.id) for row in table_rows(app, sa.select(User.id))} == everyone - {target}
    assert table_rows(app, sa.select(Session.id)
                      .where(Session.user_id == uuid.UUID(target))) == []

    assert api_error(results["admin_list_as_user"]) == ("AuthApiError", 403, "not_admin")


def test_auth_js_with_signed_refresh_tokens(auth_js, make_app, serve, service_role_token):
    """GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION=2 (reuse interval 10 s): the client
    keeps the longer tokens as it keeps any; the same driver, the signed tokens' rules."""
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.refresh_token_algorithm_version": 2,
                      "security.refresh_token_reuse_interval": 10})
    results = _drive(auth_js, serve(app).url, service_role_token)
    assert len(results["sign_in"]["session"]["refresh_token"]) > 12
    refreshed = results["refresh"]["session"]["refresh_token"]
    # The token just behind, inside the interval: the current one again.
    assert results["refresh_parent_again"]["session"]["refresh_token"] == refreshed
    assert results["refresh_next"]["error"] is None
    # Two behind: reuse, and the session is gone with it.
    assert api_error(results["refresh_reuse"]) == ("AuthApiError", 400,
                                                   "refresh_token_already_used")
    assert api_error(results["refresh_newest_after_reuse"]) == ("AuthApiError", 400,
                                                                "refresh_token_not_found")
    assert api_error(results["refresh_after_sign_out"]) == ("AuthApiError", 400,
                                                            "refresh_token_not_found")
    session_id = verified_claims(results["refresh"]["session"]["access_token"])["session_id"]
    assert table_rows(app, sa.select(Session.id)
                      .where(Session.id == uuid.UUID(session_id))) == []
    assert table_rows(app, sa.select(RefreshToken.id)) == []
