"""GET /oauth/userinfo: sub plus the claims of the scopes the session was granted (its
sessions.scopes), nothing more for a session no OAuth client holds."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from gotrue_web import API_PREFIX
from gotrue_web.extensions import db
from gotrue_web.models import Session

from ..conftest import api_for
from ..factories import claims, update_user
from ..openapi.support import checked
from .conftest import SITE, register_client
from .test_consent import User

UPDATED_AT = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=timezone.utc)


def granted(app, user, scopes: str | None, client_id: str | None = None) -> None:
    """The caller's session as a code exchange for ``scopes`` leaves it."""
    with app.app_context():
        db.session.execute(sa.update(Session).where(
            Session.id == uuid.UUID(claims(user.token)["session_id"])).values(
            scopes=scopes, oauth_client_id=uuid.UUID(client_id) if client_id else None))
        db.session.commit()


def userinfo(api, user):
    response = checked(api, "GET", "/oauth/userinfo", 200, token=user.token)
    return response.get_json()


@pytest.fixture
def user(oauth_api) -> User:
    return User(oauth_api)


@pytest.fixture
def profiled(oauth_app, oauth_api, user) -> User:
    """A user with a name, an avatar, a username and a confirmed phone."""
    response = oauth_api.put("/user", token=user.token, json={"data": {
        "name": "Ada Lovelace", "avatar_url": "https://img.example.com/ada.png",
        "username": "ada"}})
    assert response.status_code == 200
    update_user(oauth_app, user.id, phone="15555550100", phone_confirmed_at=UPDATED_AT,
                updated_at=UPDATED_AT)
    return user


def test_a_session_no_client_holds_gets_only_sub(oauth_api, profiled):
    assert userinfo(oauth_api, profiled) == {"sub": profiled.id}


def test_the_email_scope(oauth_app, oauth_api, confidential_client, profiled):
    granted(oauth_app, profiled, "openid email", confidential_client.client_id)
    body = userinfo(oauth_api, profiled)
    assert body == {"email": profiled.email, "email_verified": True, "sub": profiled.id}
    assert list(body) == ["email", "email_verified", "sub"]


def test_an_unconfirmed_email_has_no_email_verified(oauth_app, oauth_api, user):
    granted(oauth_app, user, "email")
    update_user(oauth_app, user.id, email_confirmed_at=None)
    assert userinfo(oauth_api, user) == {"email": user.email, "sub": user.id}


def test_the_profile_scope(oauth_app, oauth_api, profiled):
    granted(oauth_app, profiled, "profile")
    body = userinfo(oauth_api, profiled)
    assert body == {
        "name": "Ada Lovelace", "picture": "https://img.example.com/ada.png",
        "preferred_username": "ada", "sub": profiled.id,
        "updated_at": int(UPDATED_AT.timestamp()),
        "user_metadata": body["user_metadata"]}
    assert body["user_metadata"]["name"] == "Ada Lovelace"
    assert body["user_metadata"]["username"] == "ada"
    assert list(body) == sorted(body)


def test_profile_claims_prefer_picture_and_preferred_username_and_fall_back_to_email(
        oauth_app, oauth_api, user):
    granted(oauth_app, user, "profile")
    update_user(oauth_app, user.id, raw_user_meta_data={
        "picture": "https://img.example.com/p.png", "avatar_url": "https://img.example.com/a",
        "preferred_username": "pref", "username": "plain"})
    body = userinfo(oauth_api, user)
    assert (body["name"], body["picture"], body["preferred_username"]) == (
        user.email, "https://img.example.com/p.png", "pref")


def test_the_phone_scope(oauth_app, oauth_api, profiled):
    granted(oauth_app, profiled, "phone")
    assert userinfo(oauth_api, profiled) == {"phone": "15555550100", "phone_verified": True,
                                             "sub": profiled.id}
    update_user(oauth_app, profiled.id, phone_confirmed_at=None)
    assert userinfo(oauth_api, profiled) == {"phone": "15555550100", "sub": profiled.id}


def test_every_scope(oauth_app, oauth_api, profiled):
    granted(oauth_app, profiled, "openid email profile phone offline_access")
    assert set(userinfo(oauth_api, profiled)) == {
        "email", "email_verified", "name", "phone", "phone_verified", "picture",
        "preferred_username", "sub", "updated_at", "user_metadata"}


def test_the_user_and_the_switch(make_app, oauth_api):
    assert oauth_api.get("/oauth/userinfo").status_code == 401
    off = api_for(make_app(**{"site_url": SITE, "mailer.autoconfirm": True}))
    response = off.get("/oauth/userinfo", token=User(off).token)
    assert response.status_code == 404
    assert response.get_json()["code"] == "feature_disabled"


def test_served_under_the_prefix(oauth_app):
    api = api_for(oauth_app)
    api.prefix = API_PREFIX
    user = User(api)
    granted(oauth_app, user, "email", register_client(oauth_app).client_id)
    assert userinfo(api, user)["email"] == user.email


def test_a_user_without_phone_gets_no_phone_claims(oauth_app, oauth_api, user):
    granted(oauth_app, user, "email phone")
    assert userinfo(oauth_api, user) == {"email": user.email, "email_verified": True,
                                         "sub": user.id}
