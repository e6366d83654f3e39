"""POST /logout?scope=global|local|others (contract sections 3 and 12.12)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.models import AMRClaim, AuditLogEntry, RefreshToken

from ..conftest import make_jwt, table_rows
from ..factories import session_ids, verified_claims


def _session_id(session: dict) -> uuid.UUID:
    return uuid.UUID(verified_claims(session["access_token"])["session_id"])


@pytest.fixture
def three_sessions(api):
    """Three sessions of one user (signup + two logins) and one session of a bystander."""
    first = api.session("logout@example.com")
    second = api.login("logout@example.com").get_json()
    third = api.login("logout@example.com").get_json()
    bystander = api.session("bystander@example.com")
    return [first, second, third], bystander


def _token_sessions(app) -> set[uuid.UUID]:
    return {row.session_id for row in table_rows(app, sa.select(RefreshToken.session_id))}


def _amr_sessions(app) -> set[uuid.UUID]:
    return {row.session_id for row in table_rows(app, sa.select(AMRClaim.session_id))}


@pytest.mark.parametrize("scope, survivors", [
    (None, set()),
    ("global", set()),
    ("", set()),
    ("local", {1, 2}),
    ("others", {0}),
])
def test_logout_scopes(app, api, three_sessions, scope, survivors):
    sessions, bystander = three_sessions
    path = "/logout" if scope is None else f"/logout?scope={scope}"
    response = api.post(path, token=sessions[0]["access_token"])
    assert response.status_code == 204
    assert response.get_data() == b""
    expected = {_session_id(sessions[i]) for i in survivors} | {_session_id(bystander)}
    assert session_ids(app) == expected
    assert _token_sessions(app) == expected
    assert _amr_sessions(app) == expected
    for index, session in enumerate(sessions):
        user = api.get("/user", token=session["access_token"])
        refresh = api.refresh(session["refresh_token"])
        if index in survivors:
            assert user.status_code == 200
            assert refresh.status_code == 200
        else:
            assert user.status_code == 403
            assert user.get_json()["code"] == "session_not_found"
            assert refresh.get_json()["code"] == "refresh_token_not_found"
    assert api.get("/user", token=bystander["access_token"]).status_code == 200


def test_logout_is_audited(app, api):
    session = api.session("audited@example.com")
    assert api.post("/logout", token=session["access_token"]).status_code == 204
    [payload] = [row.payload for row in table_rows(app, sa.select(AuditLogEntry.payload))
                 if row.payload["action"] == "logout"]
    assert payload["actor_id"] == session["user"]["id"]
    assert payload["actor_username"] == "audited@example.com"
    assert payload["log_type"] == "account"


def test_unknown_scope_is_400_and_ends_nothing(app, api):
    session = api.session("scope@example.com")
    response = api.post("/logout?scope=everything", token=session["access_token"])
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    assert session_ids(app) == {_session_id(session)}


@pytest.mark.parametrize("scope", ["local", "others"])
def test_token_without_a_session_logs_out_everywhere(app, api, scope):
    first = api.session("nosid@example.com")
    api.login("nosid@example.com")
    token = make_jwt({"sub": first["user"]["id"], "aud": "authenticated",
                      "role": "authenticated",
                      "exp": int(datetime.now(timezone.utc).timestamp()) + 60})
    response = api.post(f"/logout?scope={scope}", token=token)
    assert response.status_code == 204
    assert session_ids(app) == set()


def test_logout_requires_a_bearer(api):
    response = api.post("/logout")
    assert response.status_code == 401
    assert response.get_json()["code"] == "no_authorization"


def test_second_logout_with_the_same_token_is_session_not_found(api):
    session = api.session("twice@example.com")
    assert api.post("/logout", token=session["access_token"]).status_code == 204
    again = api.post("/logout", token=session["access_token"])
    assert again.status_code == 403
    assert again.get_json()["code"] == "session_not_found"
