"""GET and DELETE /user/oauth/grants: the apps the user consented to (newest first, deleted
clients left out), and revoking one: the consent is revoked, the user's sessions of that client
are deleted (others stay), and the revocation is audited."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gotrue_web import API_PREFIX
from gotrue_web.extensions import db
from gotrue_web.models import OAuthClient, OAuthConsent, RefreshToken, Session

from ..conftest import api_for, table_rows
from ..factories import audit_entries, claims, freeze_clock, session_ids
from ..openapi.support import checked
from .conftest import register_client
from .test_consent import User, _approve


def grants(api, user):
    return api.get("/user/oauth/grants", token=user.token)


def revoke(api, user, client_id: str | None):
    path = "/user/oauth/grants" + ("" if client_id is None else f"?client_id={client_id}")
    return api.delete(path, token=user.token)


def assert_error(response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json() == {"code": code, "message": message}


def set_client(app, session_id: uuid.UUID, client_id: str, scopes: str = "email") -> None:
    """Make a session one the client holds, as the code exchange leaves it."""
    with app.app_context():
        db.session.execute(sa.update(Session).where(Session.id == session_id).values(
            oauth_client_id=uuid.UUID(client_id), scopes=scopes))
        db.session.commit()


def new_session(api, email: str) -> uuid.UUID:
    response = api.login(email)
    assert response.status_code == 200, response.get_data(as_text=True)
    return uuid.UUID(claims(response.get_json()["access_token"])["session_id"])


def test_no_grants_is_an_empty_list(oauth_api):
    response = checked(oauth_api, "GET", "/user/oauth/grants", 200,
                       token=User(oauth_api).token)
    assert response.get_json() == []


def test_the_list_newest_first_without_deleted_clients_or_revoked_grants(oauth_app, oauth_api):
    clock = freeze_clock(oauth_app)
    user = User(oauth_api)
    older = register_client(oauth_app, name="Older")
    newer = register_client(oauth_app, name=None)
    disabled = register_client(oauth_app, name="Paused")
    deleted = register_client(oauth_app, name="Gone")
    revoked = register_client(oauth_app, name="Revoked")
    granted = {}
    for client, scope in ((older, "openid email"), (newer, "profile"), (disabled, "email"),
                          (deleted, "email"), (revoked, "phone")):
        clock.now += timedelta(seconds=1)
        _approve(oauth_api, user, client, scope=scope)
        granted[client.client_id] = clock.now
    with oauth_app.app_context():
        for client, column in ((disabled, "disabled_at"), (deleted, "deleted_at")):
            db.session.execute(sa.update(OAuthClient).where(
                OAuthClient.id == uuid.UUID(client.client_id)).values({column: clock.now}))
        db.session.commit()
    assert revoke(oauth_api, user, revoked.client_id).status_code == 204
    # Another user's grant is not listed.
    _approve(oauth_api, User(oauth_api), older)
    response = checked(oauth_api, "GET", "/user/oauth/grants", 200, token=user.token)

    def stamp(client) -> str:
        return granted[client.client_id].strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    assert response.get_json() == [
        {"client": {"id": disabled.client_id, "name": "Paused"}, "scopes": ["email"],
         "granted_at": stamp(disabled)},
        {"client": {"id": newer.client_id}, "scopes": ["profile"], "granted_at": stamp(newer)},
        {"client": {"id": older.client_id, "name": "Older"}, "scopes": ["openid", "email"],
         "granted_at": stamp(older)},
    ]
    assert list(response.get_json()[0]) == ["client", "scopes", "granted_at"]


def test_revoking_deletes_the_clients_sessions_of_the_user_only(oauth_app, oauth_api):
    client = register_client(oauth_app)
    other_client = register_client(oauth_app)
    email = f"grant-{uuid.uuid4().hex[:8]}@example.com"
    user = User.__new__(User)
    session = oauth_api.session(email)
    user.token, user.id = session["access_token"], session["user"]["id"]
    _approve(oauth_api, user, client, scope="openid email")
    _approve(oauth_api, user, other_client)
    current = uuid.UUID(claims(user.token)["session_id"])
    held = [new_session(oauth_api, email), new_session(oauth_api, email)]
    held_by_other_client = new_session(oauth_api, email)
    plain = new_session(oauth_api, email)
    for session_id in held:
        set_client(oauth_app, session_id, client.client_id)
    set_client(oauth_app, held_by_other_client, other_client.client_id)
    someone = User(oauth_api)
    someone_session = uuid.UUID(claims(someone.token)["session_id"])
    set_client(oauth_app, someone_session, client.client_id)

    response = checked(oauth_api, "DELETE", f"/user/oauth/grants?client_id={client.client_id}",
                       204, token=user.token)
    assert response.get_data() == b""
    assert session_ids(oauth_app, user.id) == {current, held_by_other_client, plain}
    assert session_ids(oauth_app, someone.id) == {someone_session}
    # Their refresh tokens went with them.
    assert table_rows(oauth_app, sa.select(RefreshToken.id).where(
        RefreshToken.session_id.in_(held))) == []
    [consent] = [row for (row,) in table_rows(oauth_app, sa.select(OAuthConsent).where(
        OAuthConsent.client_id == uuid.UUID(client.client_id)))]
    assert consent.revoked_at is not None
    assert [grant["client"]["id"] for grant in grants(oauth_api, user).get_json()] == [
        other_client.client_id]
    [entry] = audit_entries(oauth_app, "token_revoked")
    assert entry["actor_id"] == user.id and entry["actor_username"] == email
    assert entry["log_type"] == "token"
    assert entry["traits"] == {"oauth_client_id": client.client_id,
                               "action": "revoke_oauth_grant"}
    assert entry["ip_address"] == "127.0.0.1"


def test_a_session_of_the_client_revoking_its_own_grant_ends(oauth_app, oauth_api):
    client = register_client(oauth_app)
    user = User(oauth_api)
    _approve(oauth_api, user, client)
    set_client(oauth_app, uuid.UUID(claims(user.token)["session_id"]), client.client_id)
    assert revoke(oauth_api, user, client.client_id).status_code == 204
    assert session_ids(oauth_app, user.id) == set()
    assert grants(oauth_api, user).status_code == 403


@pytest.mark.parametrize(("client_id", "status", "code", "message"), [
    (None, 400, "validation_failed", "client_id query parameter is required"),
    ("", 400, "validation_failed", "client_id query parameter is required"),
    ("nope", 400, "validation_failed", "invalid client_id format"),
    ("7b1d5a3e-2f4c-4e8a-9b6d-0c3e5f7a9b21", 404, "oauth_consent_not_found",
     "No active grant found for this client"),
])
def test_revoke_errors(oauth_api, client_id, status, code, message):
    assert_error(revoke(oauth_api, User(oauth_api), client_id), status, code, message)


def test_a_grant_is_revoked_once_and_only_by_its_user(oauth_app, oauth_api, confidential_client):
    user = User(oauth_api)
    _approve(oauth_api, user, confidential_client)
    assert_error(revoke(oauth_api, User(oauth_api), confidential_client.client_id), 404,
                 "oauth_consent_not_found", "No active grant found for this client")
    assert revoke(oauth_api, user, confidential_client.client_id).status_code == 204
    checked(oauth_api, "DELETE", f"/user/oauth/grants?client_id={confidential_client.client_id}",
            404, "oauth_consent_not_found", token=user.token)
    assert len(audit_entries(oauth_app, "token_revoked")) == 1


def test_served_under_the_prefix(oauth_app, confidential_client):
    api = api_for(oauth_app)
    api.prefix = API_PREFIX
    user = User(api)
    _approve(api, user, confidential_client)
    assert len(checked(api, "GET", "/user/oauth/grants", 200, token=user.token).get_json()) == 1
    checked(api, "DELETE", f"/user/oauth/grants?client_id={confidential_client.client_id}", 204,
            token=user.token)
    checked(api, "DELETE", "/user/oauth/grants", 400, "validation_failed", token=user.token)
