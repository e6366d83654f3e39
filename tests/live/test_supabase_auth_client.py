"""The official Python client (PyPI ``supabase_auth``) against the server over real HTTP.

Every flow runs twice: with the API at the root and under the /auth/v1 prefix. The assertions
are on what the client parses (its models and its error classes and codes) and on the rows the
server wrote.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from supabase_auth import SyncGoTrueAdminAPI, SyncGoTrueClient
from supabase_auth.errors import AuthApiError, AuthSessionMissingError, AuthWeakPasswordError

from gotrue_web.models import Identity, RefreshToken, Session, User

from ..conftest import table_rows
from ..factories import refresh_token_hash, unique_email, verified_claims

pytestmark = pytest.mark.live

PASSWORD = "password-123"


@pytest.fixture(params=["", "/auth/v1"], ids=["root", "auth-v1"])
def base_url(request, live_server) -> str:
    return live_server.url + request.param


@pytest.fixture
def make_client(base_url):
    clients = []

    def build(**headers) -> SyncGoTrueClient:
        client = SyncGoTrueClient(url=base_url, headers={"apikey": "anon-key", **headers},
                                  auto_refresh_token=False, persist_session=False)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def admin(base_url, service_role_token):
    with SyncGoTrueAdminAPI(url=base_url, headers={
            "apikey": service_role_token, "Authorization": f"Bearer {service_role_token}"},
    ) as api:
        yield api


def token_rows(app, session_id: str):
    return table_rows(app, sa.select(RefreshToken.token, RefreshToken.parent,
                                     RefreshToken.revoked)
                      .where(RefreshToken.session_id == uuid.UUID(session_id))
                      .order_by(RefreshToken.id))


def test_sign_up_sign_in_and_read_the_user(live_server, make_client):
    client = make_client()
    email = unique_email("py")
    signed_up = client.sign_up({"email": email, "password": PASSWORD,
                                "options": {"data": {"full_name": "Ada Lovelace"}}})
    user = signed_up.user
    assert signed_up.session is not None
    assert signed_up.session.token_type == "bearer"
    assert user.email == email
    assert user.aud == "authenticated" and user.role == "authenticated"
    assert user.email_confirmed_at is not None
    assert user.user_metadata["full_name"] == "Ada Lovelace"
    assert user.user_metadata["sub"] == user.id
    assert user.user_metadata["email_verified"] is True  # autoconfirm confirms at once
    assert user.app_metadata == {"provider": "email", "providers": ["email"]}
    assert [identity.provider for identity in user.identities] == ["email"]
    assert user.identities[0].identity_data["email"] == email
    assert client.get_session().access_token == signed_up.session.access_token

    signed_in = client.sign_in_with_password({"email": email.upper(), "password": PASSWORD})
    session = signed_in.session
    assert session.user.id == user.id
    assert session.expires_in == 3600
    assert abs(session.expires_at - (datetime.now(timezone.utc).timestamp() + 3600)) < 60
    assert session.refresh_token != signed_up.session.refresh_token
    claims = verified_claims(session.access_token)
    assert claims["sub"] == user.id and claims["email"] == email
    assert claims["role"] == "authenticated" and claims["aal"] == "aal1"
    assert [entry["method"] for entry in claims["amr"]] == ["password"]

    fetched = client.get_user()
    assert fetched.user.id == user.id
    assert fetched.user.last_sign_in_at is not None

    app = live_server.app
    rows = table_rows(app, sa.select(User.email, User.raw_user_meta_data)
                      .where(User.id == uuid.UUID(user.id)))
    assert [(row.email, row.raw_user_meta_data["full_name"]) for row in rows] == [
        (email, "Ada Lovelace")]
    assert table_rows(app, sa.select(Identity.provider)
                      .where(Identity.user_id == uuid.UUID(user.id)))[0].provider == "email"
    sessions = table_rows(app, sa.select(Session.id).where(Session.user_id == uuid.UUID(user.id)))
    assert {str(row.id) for row in sessions} == {
        claims["session_id"], verified_claims(signed_up.session.access_token)["session_id"]}


def test_wrong_password_and_unknown_user_are_invalid_credentials(make_client):
    client = make_client()
    email = unique_email("py")
    client.sign_up({"email": email, "password": PASSWORD})
    for credentials in ({"email": email, "password": "not-the-password"},
                        {"email": unique_email("py"), "password": PASSWORD}):
        with pytest.raises(AuthApiError) as failure:
            client.sign_in_with_password(credentials)
        assert failure.value.code == "invalid_credentials"
        assert failure.value.status == 400
        assert failure.value.message == "Invalid login credentials"


def test_sign_up_twice_under_autoconfirm_is_user_already_exists(make_client):
    client = make_client()
    email = unique_email("py")
    client.sign_up({"email": email, "password": PASSWORD})
    with pytest.raises(AuthApiError) as failure:
        make_client().sign_up({"email": email, "password": PASSWORD})
    assert (failure.value.status, failure.value.code) == (422, "user_already_exists")


def test_weak_passwords_raise_the_weak_password_error_with_reasons(live_server, make_client):
    client = make_client()
    email = unique_email("py")
    with pytest.raises(AuthWeakPasswordError) as at_signup:
        client.sign_up({"email": email, "password": "abc"})
    assert at_signup.value.status == 422
    assert at_signup.value.code == "weak_password"
    assert at_signup.value.reasons == ["length"]
    assert table_rows(live_server.app, sa.select(User.id).where(User.email == email)) == []

    client.sign_up({"email": email, "password": PASSWORD})
    with pytest.raises(AuthWeakPasswordError) as at_update:
        client.update_user({"password": "abc"})
    assert (at_update.value.status, at_update.value.reasons) == (422, ["length"])


def test_update_user_merges_data_and_changes_the_password(live_server, make_client):
    app = live_server.app
    client = make_client()
    email = unique_email("py")
    first = client.sign_up({"email": email, "password": PASSWORD,
                            "options": {"data": {"full_name": "Ada", "plan": "free"}}})
    # A second device, signed in before the password change.
    other = make_client()
    other_session = other.sign_in_with_password({"email": email, "password": PASSWORD}).session

    updated = client.update_user({"data": {"plan": "pro", "full_name": None}})
    assert updated.user.user_metadata["plan"] == "pro"
    assert "full_name" not in updated.user.user_metadata
    assert client.get_session().user.user_metadata["plan"] == "pro"
    stored = table_rows(app, sa.select(User.raw_user_meta_data).where(User.email == email))
    assert stored[0].raw_user_meta_data["plan"] == "pro"
    assert "full_name" not in stored[0].raw_user_meta_data

    with pytest.raises(AuthApiError) as same:
        client.update_user({"password": PASSWORD})
    assert (same.value.status, same.value.code) == (422, "same_password")

    client.update_user({"password": "new-password-456"})
    with pytest.raises(AuthApiError) as old_password:
        make_client().sign_in_with_password({"email": email, "password": PASSWORD})
    assert old_password.value.code == "invalid_credentials"
    assert make_client().sign_in_with_password(
        {"email": email, "password": "new-password-456"}).session is not None
    # The password change ended the other device's session; this one lives on.
    with pytest.raises(AuthApiError) as ended:
        other.refresh_session(other_session.refresh_token)
    assert (ended.value.status, ended.value.code) == (400, "refresh_token_not_found")
    surviving = {str(row.id) for row in table_rows(
        app, sa.select(Session.id).where(Session.user_id == uuid.UUID(first.user.id)))}
    assert verified_claims(first.session.access_token)["session_id"] in surviving
    assert verified_claims(other_session.access_token)["session_id"] not in surviving
    assert client.get_user().user.id == first.user.id


def test_refresh_session_rotates_and_reuse_fails(live_server, make_client):
    client = make_client()
    signed_up = client.sign_up({"email": unique_email("py"), "password": PASSWORD})
    first = signed_up.session
    refreshed = client.refresh_session()
    second = refreshed.session
    assert second.refresh_token != first.refresh_token
    assert refreshed.user.id == signed_up.user.id
    assert client.get_session().refresh_token == second.refresh_token
    session_id = verified_claims(first.access_token)["session_id"]
    assert verified_claims(second.access_token)["session_id"] == session_id
    first_hash, second_hash = (refresh_token_hash(first.refresh_token),
                               refresh_token_hash(second.refresh_token))
    assert token_rows(live_server.app, session_id) == [
        (first_hash, None, True), (second_hash, first_hash, False)]

    # The parent of the live token hands the live token out again (a lost response).
    again = client.refresh_session(first.refresh_token)
    assert again.session.refresh_token == second.refresh_token
    third = client.refresh_session().session

    with pytest.raises(AuthApiError) as reuse:
        client.refresh_session(first.refresh_token)
    assert (reuse.value.status, reuse.value.code) == (400, "refresh_token_already_used")
    assert reuse.value.message == "Invalid Refresh Token: Already Used"
    assert all(row.revoked for row in token_rows(live_server.app, session_id))
    with pytest.raises(AuthApiError) as newest:
        client.refresh_session(third.refresh_token)
    assert newest.value.code == "refresh_token_already_used"

    with pytest.raises(AuthApiError) as unknown:
        client.refresh_session("abcdefghijkl")
    assert (unknown.value.status, unknown.value.code) == (400, "refresh_token_not_found")
    with pytest.raises(AuthApiError) as malformed:
        client.refresh_session("short")
    assert (malformed.value.status, malformed.value.code) == (400, "validation_failed")


def test_sign_out_ends_the_session_everywhere(live_server, make_client):
    app = live_server.app
    client = make_client()
    signed_up = client.sign_up({"email": unique_email("py"), "password": PASSWORD})
    session = signed_up.session
    user_id = uuid.UUID(signed_up.user.id)

    client.sign_out()
    assert client.get_session() is None
    assert client.get_user() is None
    assert table_rows(app, sa.select(Session.id).where(Session.user_id == user_id)) == []
    assert table_rows(app, sa.select(RefreshToken.id)
                      .where(RefreshToken.user_id == str(user_id))) == []

    with pytest.raises(AuthApiError) as refresh:
        client.refresh_session(session.refresh_token)
    assert (refresh.value.status, refresh.value.code) == (400, "refresh_token_not_found")
    # The Python client does not map session_not_found to AuthSessionMissingError (auth-js does).
    with pytest.raises(AuthApiError) as stale:
        client.get_user(session.access_token)
    assert (stale.value.status, stale.value.code) == (403, "session_not_found")
    # With no session left the client refuses locally, before any request.
    with pytest.raises(AuthSessionMissingError):
        client.refresh_session()
    with pytest.raises(AuthSessionMissingError):
        client.update_user({"data": {"x": 1}})


def test_sign_out_local_keeps_other_sessions(live_server, make_client):
    email = unique_email("py")
    laptop = make_client()
    laptop.sign_up({"email": email, "password": PASSWORD})
    phone = make_client()
    phone_session = phone.sign_in_with_password({"email": email, "password": PASSWORD}).session
    laptop.sign_out({"scope": "local"})
    assert laptop.get_session() is None
    assert phone.get_user().user.email == email
    assert phone.refresh_session(phone_session.refresh_token).session is not None
    user_id = uuid.UUID(phone_session.user.id)
    assert len(table_rows(live_server.app,
                          sa.select(Session.id).where(Session.user_id == user_id))) == 1


def test_admin_creates_lists_reads_bans_and_deletes_users(live_server, admin, make_client):
    app = live_server.app
    emails = [unique_email("py") for _ in range(3)]
    created = [admin.create_user({
        "email": email, "password": PASSWORD, "email_confirm": True,
        "user_metadata": {"n": index}, "app_metadata": {"tier": "gold"},
    }).user for index, email in enumerate(emails)]
    for index, (user, email) in enumerate(zip(created, emails, strict=True)):
        assert user.email == email and user.email_confirmed_at is not None
        # Confirming the email records it in the metadata, as a signup confirmation does.
        assert user.user_metadata == {"n": index, "email_verified": True}
        assert user.app_metadata == {"provider": "email", "providers": ["email"], "tier": "gold"}
    ids = {user.id for user in created}
    assert {str(row.id) for row in table_rows(app, sa.select(User.id))} == ids

    with pytest.raises(AuthApiError) as duplicate:
        admin.create_user({"email": emails[0], "password": PASSWORD})
    assert (duplicate.value.status, duplicate.value.code) == (422, "email_exists")

    first_page = admin.list_users(page=1, per_page=2)
    second_page = admin.list_users(page=2, per_page=2)
    assert len(first_page) == 2 and len(second_page) == 1
    assert {user.id for user in first_page + second_page} == ids
    assert admin.list_users(page=3, per_page=2) == []
    assert all(user.identities is None for user in first_page)
    assert {user.id for user in admin.list_users()} == ids

    target = created[0]
    fetched = admin.get_user_by_id(target.id).user
    assert fetched.email == emails[0]
    assert [identity.provider for identity in fetched.identities] == ["email"]

    user_client = make_client()
    user_session = user_client.sign_in_with_password(
        {"email": emails[0], "password": PASSWORD}).session

    banned = admin.update_user_by_id(target.id, {"ban_duration": "24h",
                                                 "user_metadata": {"note": "spam"}}).user
    banned_until = datetime.fromisoformat(banned.banned_until.replace("Z", "+00:00"))
    assert banned_until > datetime.now(timezone.utc) + timedelta(hours=23)
    assert banned.user_metadata == {"n": 0, "email_verified": True, "note": "spam"}
    stored = table_rows(app, sa.select(User.banned_until).where(User.id == uuid.UUID(target.id)))
    assert stored[0].banned_until is not None
    with pytest.raises(AuthApiError) as login:
        make_client().sign_in_with_password({"email": emails[0], "password": PASSWORD})
    assert (login.value.status, login.value.code) == (400, "user_banned")
    with pytest.raises(AuthApiError) as refresh:
        user_client.refresh_session(user_session.refresh_token)
    assert (refresh.value.status, refresh.value.code) == (400, "user_banned")
    with pytest.raises(AuthApiError) as read:
        user_client.get_user(user_session.access_token)
    assert (read.value.status, read.value.code) == (403, "user_banned")

    unbanned = admin.update_user_by_id(target.id, {"ban_duration": "none"}).user
    assert unbanned.banned_until is None
    assert make_client().sign_in_with_password(
        {"email": emails[0], "password": PASSWORD}).session is not None

    admin.delete_user(target.id)
    with pytest.raises(AuthApiError) as gone:
        admin.get_user_by_id(target.id)
    assert (gone.value.status, gone.value.code) == (404, "user_not_found")
    target_id = uuid.UUID(target.id)
    assert table_rows(app, sa.select(User.id).where(User.id == target_id)) == []
    assert table_rows(app, sa.select(Session.id).where(Session.user_id == target_id)) == []
    assert {user.id for user in admin.list_users()} == ids - {target.id}


def test_client_admin_uses_the_clients_service_role_headers(make_client, service_role_token):
    client = make_client(Authorization=f"Bearer {service_role_token}")
    user = client.admin.create_user({"email": unique_email("py"), "password": PASSWORD,
                                     "email_confirm": True}).user
    assert client.admin.get_user_by_id(user.id).user.id == user.id


def test_admin_api_refuses_a_user_token(make_client, base_url):
    client = make_client()
    session = client.sign_up({"email": unique_email("py"), "password": PASSWORD}).session
    with SyncGoTrueAdminAPI(url=base_url, headers={
            "Authorization": f"Bearer {session.access_token}"}) as not_admin:
        with pytest.raises(AuthApiError) as refused:
            not_admin.list_users()
    assert (refused.value.status, refused.value.code) == (403, "not_admin")
    with SyncGoTrueAdminAPI(url=base_url, headers={}) as anonymous:
        with pytest.raises(AuthApiError) as missing:
            anonymous.list_users()
    assert (missing.value.status, missing.value.code) == (401, "no_authorization")


def test_signed_refresh_tokens_through_the_client(make_app, serve):
    """GOTRUE_SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION=2: the client keeps the longer tokens
    as it keeps any, and gets the server's errors with their codes."""
    app = make_app(**{"mailer.autoconfirm": True,
                      "security.refresh_token_algorithm_version": 2,
                      "security.refresh_token_reuse_interval": 10})
    server = serve(app)
    with SyncGoTrueClient(url=server.url, headers={"apikey": "anon-key"},
                          auto_refresh_token=False, persist_session=False) as client:
        first = client.sign_up({"email": unique_email("pyv2"), "password": PASSWORD}).session
        second = client.refresh_session().session
        assert len(first.refresh_token) > 12 and second.refresh_token != first.refresh_token
        session_id = verified_claims(second.access_token)["session_id"]
        assert verified_claims(first.access_token)["session_id"] == session_id
        # One behind, inside the reuse interval: the current token again.
        assert client.refresh_session(first.refresh_token).session.refresh_token == \
            second.refresh_token
        third = client.refresh_session().session
        with pytest.raises(AuthApiError) as reuse:
            client.refresh_session(first.refresh_token)
        assert (reuse.value.status, reuse.value.code) == (400, "refresh_token_already_used")
        with pytest.raises(AuthApiError) as gone:
            client.refresh_session(third.refresh_token)
        assert (gone.value.status, gone.value.code) == (400, "refresh_token_not_found")
    assert table_rows(app, sa.select(Session.id)
                      .where(Session.id == uuid.UUID(session_id))) == []
    assert table_rows(app, sa.select(RefreshToken.id)) == []
