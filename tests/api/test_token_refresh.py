"""POST /token?grant_type=refresh_token: rotation, the parent chain and reuse detection."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AuditLogEntry, RefreshToken, Session, User

from ..conftest import api_for, table_rows
from ..factories import refresh_token_hash, verified_claims


def test_refresh_rotates_and_links_parent(app, api):
    first = api.session()
    response = api.refresh(first["refresh_token"])
    assert response.status_code == 200
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"]["id"] == first["user"]["id"]
    rows = table_rows(app, sa.select(RefreshToken.token, RefreshToken.parent, RefreshToken.revoked)
                      .order_by(RefreshToken.id))
    assert [(r.token, r.parent, r.revoked) for r in rows] == [
        (refresh_token_hash(first["refresh_token"]), None, True),
        (refresh_token_hash(second["refresh_token"]), refresh_token_hash(first["refresh_token"]),
         False),
    ]


def test_refresh_with_parent_of_live_token_returns_the_live_token(api):
    first = api.session()
    second = api.refresh(first["refresh_token"]).get_json()
    again = api.refresh(first["refresh_token"])
    assert again.status_code == 200
    assert again.get_json()["refresh_token"] == second["refresh_token"]


def test_reuse_of_an_older_token_revokes_the_session(app, api):
    first = api.session()
    second = api.refresh(first["refresh_token"]).get_json()
    third = api.refresh(second["refresh_token"]).get_json()
    reuse = api.refresh(first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.get_json() == {"code": "refresh_token_already_used",
                                "message": "Invalid Refresh Token: Already Used"}
    assert reuse.headers["x-sb-error-code"] == "refresh_token_already_used"
    live = table_rows(app, sa.select(RefreshToken).where(RefreshToken.revoked.is_(False)))
    assert live == []
    after = api.refresh(third["refresh_token"])
    assert after.status_code == 400
    assert after.get_json()["code"] == "refresh_token_already_used"
    assert len(table_rows(app, sa.select(Session.id))) == 1


# --- contract section 6 through the API -------------------------------------------------------

REFRESH_KEYS = ["access_token", "token_type", "expires_in", "expires_at", "refresh_token",
                "user"]
NOT_VALID = {"code": "validation_failed", "message": "Refresh token is not valid"}


def _live_tokens(app, session_id) -> list[str]:
    return [row.token for row in table_rows(
        app, sa.select(RefreshToken.token).where(RefreshToken.session_id == session_id,
                                                 RefreshToken.revoked.is_(False)))]


def test_refresh_response_keeps_amr_and_updates_the_session(app, api, rt):
    first = api.session()
    session_id = uuid.UUID(verified_claims(first["access_token"])["session_id"])
    later = datetime.now(timezone.utc) + timedelta(minutes=5)
    rt.clock = lambda: later
    response = api.post("/token?grant_type=refresh_token",
                        json={"refresh_token": first["refresh_token"]},
                        headers={"User-Agent": "refreshing-agent/2.0"})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == REFRESH_KEYS
    claims = verified_claims(body["access_token"], clock_moved=True)
    assert claims["session_id"] == str(session_id)
    assert claims["amr"] == verified_claims(first["access_token"])["amr"]
    assert claims["iat"] == int(later.timestamp())
    [session] = [row[0] for row in table_rows(app, sa.select(Session))]
    assert session.user_agent == "refreshing-agent/2.0"
    assert abs((session.refreshed_at - later).total_seconds()) < 1
    actions = [row.payload["action"] for row in table_rows(app, sa.select(AuditLogEntry.payload))]
    assert "token_refreshed" in actions


@pytest.mark.parametrize("presented", ["", "short", "ABCDEFGHIJKL", "abcdefghijk-",
                                       "abcdefghijk_", "abcdéfghijkl"[:12]])
def test_malformed_refresh_token_is_validation_failed(api, presented):
    response = api.refresh(presented)
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"
    if presented:
        assert response.get_json() == NOT_VALID


def test_missing_refresh_token_is_400(api):
    response = api.post("/token?grant_type=refresh_token", json={})
    assert response.status_code == 400
    assert response.get_json()["code"] == "validation_failed"


@pytest.mark.parametrize("presented", ["abcdefghijkl", "a" * 40, "0123456789ab"])
def test_unknown_refresh_token_is_not_found(api, presented):
    api.session()
    response = api.refresh(presented)
    assert response.status_code == 400
    assert response.get_json() == {"code": "refresh_token_not_found",
                                   "message": "Invalid Refresh Token: Refresh Token Not Found"}


def test_refresh_of_a_banned_user(app, api):
    first = api.session()
    banned = api.admin("PUT", f"/admin/users/{first['user']['id']}",
                       json={"ban_duration": "1h"})
    assert banned.status_code == 200
    response = api.refresh(first["refresh_token"])
    assert response.status_code == 400
    assert response.get_json() == {"code": "user_banned",
                                   "message": "Invalid Refresh Token: User Banned"}
    # Nothing was rotated.
    assert _live_tokens(app, uuid.UUID(verified_claims(first["access_token"])["session_id"])) == [
        refresh_token_hash(first["refresh_token"])]


def test_refresh_of_a_user_banned_in_the_database(app, api):
    first = api.session()
    with app.app_context():
        db.session.execute(sa.update(User).values(
            banned_until=datetime.now(timezone.utc) + timedelta(days=1)))
        db.session.commit()
    response = api.refresh(first["refresh_token"])
    assert response.status_code == 400
    assert response.get_json()["code"] == "user_banned"


def test_refresh_after_logout_is_not_found(api):
    first = api.session()
    assert api.post("/logout", token=first["access_token"]).status_code == 204
    response = api.refresh(first["refresh_token"])
    assert response.status_code == 400
    assert response.get_json()["code"] == "refresh_token_not_found"


def test_token_without_a_session_is_session_not_found(app, api):
    user = api.session()["user"]
    with app.app_context():
        db.session.add(RefreshToken(token=refresh_token_hash("orphantoken1"),
                                    user_id=user["id"], revoked=False,
                                    created_at=datetime.now(timezone.utc),
                                    updated_at=datetime.now(timezone.utc), session_id=None))
        db.session.commit()
    response = api.refresh("orphantoken1")
    assert response.status_code == 400
    assert response.get_json() == {"code": "session_not_found",
                                   "message": "Invalid Refresh Token: No Valid Session Found"}


def test_timebox_expires_the_session(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "sessions.timebox": timedelta(hours=1)})
    rt = app.extensions["gotrue"]
    client = api_for(app)
    start = datetime.now(timezone.utc)
    rt.clock = lambda: start
    first = client.session()
    rt.clock = lambda: start + timedelta(minutes=59)
    second = client.refresh(first["refresh_token"])
    assert second.status_code == 200
    rt.clock = lambda: start + timedelta(minutes=61)
    expired = client.refresh(second.get_json()["refresh_token"])
    assert expired.status_code == 400
    assert expired.get_json() == {"code": "session_expired",
                                  "message": "Invalid Refresh Token: Session Expired"}


def test_inactivity_timeout_counts_from_the_last_refresh(make_app):
    app = make_app(**{"mailer.autoconfirm": True,
                      "sessions.inactivity_timeout": timedelta(minutes=30)})
    rt = app.extensions["gotrue"]
    client = api_for(app)
    start = datetime.now(timezone.utc)
    rt.clock = lambda: start
    token = client.session()["refresh_token"]
    for minutes in (20, 45):
        rt.clock = lambda m=minutes: start + timedelta(minutes=m)
        response = client.refresh(token)
        assert response.status_code == 200, minutes
        token = response.get_json()["refresh_token"]
    rt.clock = lambda: start + timedelta(minutes=76)
    expired = client.refresh(token)
    assert expired.status_code == 400
    assert expired.get_json() == {"code": "session_expired",
                                  "message": "Invalid Refresh Token: Session Expired (Inactivity)"}


def test_not_after_expires_the_session(app, api):
    first = api.session()
    with app.app_context():
        db.session.execute(sa.update(Session).values(
            not_after=datetime.now(timezone.utc) - timedelta(seconds=1)))
        db.session.commit()
    response = api.refresh(first["refresh_token"])
    assert response.status_code == 400
    assert response.get_json()["code"] == "session_expired"


def test_reuse_interval(make_app):
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.refresh_token_reuse_interval": 10})
    rt = app.extensions["gotrue"]
    client = api_for(app)
    start = datetime.now(timezone.utc)
    rt.clock = lambda: start
    first = client.session()
    session_id = uuid.UUID(verified_claims(first["access_token"])["session_id"])
    second = client.refresh(first["refresh_token"]).get_json()
    third = client.refresh(second["refresh_token"]).get_json()

    # Inside the interval a revoked token that is not the live token's parent gets a new child.
    rt.clock = lambda: start + timedelta(seconds=5)
    within = client.refresh(first["refresh_token"])
    assert within.status_code == 200
    child = within.get_json()["refresh_token"]
    assert child not in (first["refresh_token"], second["refresh_token"],
                         third["refresh_token"])
    [parent] = [row.parent for row in table_rows(
        app, sa.select(RefreshToken.parent).where(
            RefreshToken.token == refresh_token_hash(child)))]
    assert parent == refresh_token_hash(first["refresh_token"])

    # Well after it, reuse revokes every live token of the session.
    rt.clock = lambda: start + timedelta(hours=1)
    after = client.refresh(second["refresh_token"])
    assert after.status_code == 400
    assert after.get_json()["code"] == "refresh_token_already_used"
    assert _live_tokens(app, session_id) == []
    # The revocation restarts each token's interval (GoTrue sets updated_at too); after it,
    # none of them works.
    rt.clock = lambda: start + timedelta(hours=2)
    for token in (third["refresh_token"], child, first["refresh_token"]):
        response = client.refresh(token)
        assert response.status_code == 400
        assert response.get_json()["code"] == "refresh_token_already_used"


def test_reuse_after_the_interval_is_audited(app, api):
    first = api.session()
    second = api.refresh(first["refresh_token"]).get_json()
    api.refresh(second["refresh_token"])
    assert api.refresh(first["refresh_token"]).status_code == 400
    actions = [row.payload["action"] for row in table_rows(app, sa.select(AuditLogEntry.payload))]
    assert "token_revoked" in actions


def test_rotation_disabled_still_rotates_but_does_not_revoke_on_reuse(make_app):
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.refresh_token_rotation_enabled": False})
    client = api_for(app)
    first = client.session()
    session_id = uuid.UUID(verified_claims(first["access_token"])["session_id"])
    second = client.refresh(first["refresh_token"]).get_json()
    assert second["refresh_token"] != first["refresh_token"]
    third = client.refresh(second["refresh_token"]).get_json()
    reuse = client.refresh(first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.get_json()["code"] == "refresh_token_already_used"
    # Without rotation the family is not revoked: the newest token still works.
    assert _live_tokens(app, session_id) == [refresh_token_hash(third["refresh_token"])]
    assert client.refresh(third["refresh_token"]).status_code == 200


def test_rotation_disabled_repeated_refresh_keeps_one_live_token(make_app):
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.refresh_token_rotation_enabled": False})
    client = api_for(app)
    first = client.session()
    session_id = uuid.UUID(verified_claims(first["access_token"])["session_id"])
    live_before = _live_tokens(app, session_id)
    for _ in range(2):
        assert client.refresh(first["refresh_token"]).status_code == 200
    assert len(_live_tokens(app, session_id)) == len(live_before) == 1
