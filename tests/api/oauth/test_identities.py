"""Manual identity linking (GET /user/identities/authorize and the callback's linking branch)
and unlinking (DELETE /user/identities/{id}): spec oauth-sso.md section 4."""

from __future__ import annotations

import base64
import hashlib
import uuid
from urllib.parse import urlsplit

import sqlalchemy as sa

from gotrue_web.models import FlowState, Identity, User

from ...conftest import api_for, smtp_settings
from ...factories import (audit_actions, audit_entries, claims, identities, make_user, mail_to,
                          update_user, user_row)
from .conftest import Browser, entities, fragment, query

PASSWORD = "password-123"
WELCOME = "http://localhost:3000/welcome"
LINKING = {"security.manual_linking_enabled": True}


def _app(oauth_app, github, **overrides):
    return oauth_app({"github": github}, **{**LINKING, **overrides})


def _token(app, email: str) -> str:
    answer = api_for(app).login(email, PASSWORD)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["access_token"]


def _anonymous_token(app) -> tuple[str, str]:
    answer = api_for(app).post("/signup", json={})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    return body["access_token"], body["user"]["id"]


def _start(browser: Browser, token: str, **params):
    return browser.client.get("/user/identities/authorize",
                              query_string={"provider": "github", **params},
                              headers={"Authorization": f"Bearer {token}"})


def _link(app, token: str, **params):
    """The whole dance: our JSON answer, the provider, and back to /callback."""
    browser = Browser(app)
    started = _start(browser, token, skip_http_redirect="true", **params)
    assert started.status_code == 200, started.get_data(as_text=True)
    return browser.callback(browser.at_provider(started.get_json()["url"]))


def _error(answer) -> dict:
    assert answer.status_code == 302
    values = query(answer.headers["Location"])
    return {key: values[key] for key in ("error", "error_code", "error_description")}


def _unlink(app, token: str, identity_id, **headers):
    return api_for(app).delete(f"/user/identities/{identity_id}", token=token, headers=headers)


def _code(answer) -> str:
    """The error code in either wire format (the API-version header picks {"code"})."""
    body = answer.get_json()
    return body.get("error_code") or body["code"]


def _identity_id(app, user_id, provider: str) -> uuid.UUID:
    return next(i.id for i in identities(app, user_id) if i.provider == provider)


# --- linking --------------------------------------------------------------------------------


def test_a_password_user_links_github(oauth_app, github):
    app = _app(oauth_app, github)
    user_id = make_user(app, "pat@example.com", password=PASSWORD, name="Pat")
    answer = _link(app, _token(app, "pat@example.com"), redirect_to=WELCOME)
    location = answer.headers["Location"]
    assert location.startswith(WELCOME + "#")
    # The session is the signed-in user's, not a new account for octo@example.com.
    assert claims(fragment(location)["access_token"])["sub"] == str(user_id)
    assert len(entities(app, sa.select(User))) == 1
    assert [i.provider for i in identities(app, user_id)] == ["email", "github"]
    user = user_row(app, user_id)
    assert user.email == "pat@example.com"
    assert user.raw_app_meta_data["providers"] == ["email", "github"]
    # Linking leaves user_metadata alone.
    assert user.raw_user_meta_data == {"full_name": "Pat"}
    assert audit_actions(app, user_id).count("identity_linked") == 1
    assert entities(app, sa.select(FlowState)) == []


def test_without_skip_http_redirect_the_browser_is_sent_to_the_provider(oauth_app, github):
    app = _app(oauth_app, github)
    user_id = make_user(app, "pat@example.com", password=PASSWORD)
    browser = Browser(app)
    started = _start(browser, _token(app, "pat@example.com"))
    assert started.status_code == 302
    location = started.headers["Location"]
    assert location.startswith(github.url + "/login/oauth/authorize?")
    state = query(location)["state"]
    (flow,) = entities(app, sa.select(FlowState))
    assert str(flow.id) == state and flow.linking_target_id == user_id
    # Our own switch is not handed to the provider.
    assert "skip_http_redirect" not in query(_start(
        browser, _token(app, "pat@example.com"), skip_http_redirect="true",
    ).get_json()["url"])


def test_linking_with_pkce_ends_in_a_code_for_the_same_user(oauth_app, github):
    app = _app(oauth_app, github)
    user_id = make_user(app, "pat@example.com", password=PASSWORD)
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    answer = _link(app, _token(app, "pat@example.com"), code_challenge=challenge,
                   code_challenge_method="s256")
    code = query(answer.headers["Location"])["code"]
    exchanged = api_for(app).post("/token?grant_type=pkce",
                                  json={"auth_code": code, "code_verifier": verifier})
    assert exchanged.status_code == 200, exchanged.get_data(as_text=True)
    assert exchanged.get_json()["user"]["id"] == str(user_id)
    assert [i.provider for i in identities(app, user_id)] == ["email", "github"]


def test_manual_linking_is_off_by_default(oauth_app, github):
    app = oauth_app({"github": github})
    user_id = make_user(app, "pat@example.com", password=PASSWORD)
    token = _token(app, "pat@example.com")
    for answer in (_start(Browser(app), token, skip_http_redirect="true"),
                   _unlink(app, token, _identity_id(app, user_id, "email"))):
        assert answer.status_code == 404
        assert _code(answer) == "manual_linking_disabled"
    assert entities(app, sa.select(FlowState)) == []


def test_the_routes_need_a_signed_in_user(oauth_app, github):
    app = _app(oauth_app, github)
    client = app.test_client()
    for answer in (client.get("/user/identities/authorize?provider=github"),
                   client.delete(f"/user/identities/{uuid.uuid4()}")):
        assert answer.status_code == 401
        assert _code(answer) == "no_authorization"


def test_an_unknown_provider_is_refused(oauth_app, github):
    app = _app(oauth_app, github)
    make_user(app, "pat@example.com", password=PASSWORD)
    answer = _start(Browser(app), _token(app, "pat@example.com"), provider="nope",
                    skip_http_redirect="true")
    assert answer.status_code == 400
    assert _code(answer) == "validation_failed"


def test_an_identity_of_another_user_cannot_be_linked(oauth_app, github):
    app = _app(oauth_app, github)
    Browser(app).sign_in(provider="github")
    owner = user_row(app, "octo@example.com").id
    user_id = make_user(app, "pat@example.com", password=PASSWORD)
    answer = _link(app, _token(app, "pat@example.com"), redirect_to=WELCOME)
    assert _error(answer) == {"error": "server_error", "error_code": "identity_already_exists",
                              "error_description": "Identity is already linked to another user"}
    assert [i.provider for i in identities(app, user_id)] == ["email"]
    assert [i.provider for i in identities(app, owner)] == ["github"]


def test_linking_the_same_identity_twice(oauth_app, github):
    app = _app(oauth_app, github)
    user_id = make_user(app, "pat@example.com", password=PASSWORD)
    token = _token(app, "pat@example.com")
    _link(app, token)
    answer = _link(app, token, redirect_to=WELCOME)
    assert _error(answer)["error_description"] == "Identity is already linked"
    assert [i.provider for i in identities(app, user_id)] == ["email", "github"]


def test_an_anonymous_user_becomes_permanent(oauth_app, github):
    app = _app(oauth_app, github, **{"external.anonymous_users_enabled": True})
    token, user_id = _anonymous_token(app)
    answer = _link(app, token)
    assert claims(fragment(answer.headers["Location"])["access_token"])["sub"] == user_id
    user = user_row(app, user_id)
    assert user.is_anonymous is False
    assert user.email == "octo@example.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data["providers"] == ["github"]
    assert len(entities(app, sa.select(User))) == 1


def test_an_anonymous_user_with_an_unverified_provider_email_must_confirm_it(
        oauth_app, github, smtp_server):
    github.documents["/api/v3/user/emails"] = [
        {"email": "new@example.com", "verified": False, "primary": True}]
    app = _app(oauth_app, github, **{"external.anonymous_users_enabled": True},
               **smtp_settings(smtp_server.port))
    token, user_id = _anonymous_token(app)
    answer = _link(app, token, redirect_to=WELCOME)
    assert _error(answer) == {
        "error": "server_error", "error_code": "email_not_confirmed",
        "error_description": "Unverified email with github. A confirmation email has been sent "
                             "to your github email"}
    # The link is kept and the user stays anonymous until the address is confirmed.
    user = user_row(app, user_id)
    assert user.is_anonymous is True and user.email_confirmed_at is None
    assert user.email == "new@example.com"
    assert [i.provider for i in identities(app, user_id)] == ["github"]
    assert mail_to(smtp_server, "new@example.com")


def test_an_anonymous_user_cannot_take_an_address_someone_has(oauth_app, github):
    app = _app(oauth_app, github, **{"external.anonymous_users_enabled": True})
    make_user(app, "octo@example.com", password=PASSWORD)
    token, user_id = _anonymous_token(app)
    answer = _link(app, token, redirect_to=WELCOME)
    assert _error(answer) == {
        "error": "invalid_request", "error_code": "email_exists",
        "error_description": "A user with this email address has already been registered"}
    user = user_row(app, user_id)
    assert user.is_anonymous is True and user.email is None
    assert identities(app, user_id) == []


def test_an_address_held_in_another_audience_is_refused_not_a_500(oauth_app, github):
    app = _app(oauth_app, github, **{"external.anonymous_users_enabled": True})
    elsewhere = make_user(app, "octo@example.com")
    update_user(app, elsewhere, aud="other-app")
    token, user_id = _anonymous_token(app)
    answer = _link(app, token, redirect_to=WELCOME)
    # users.email is unique across audiences: the database has the last word.
    assert _error(answer)["error_code"] == "email_exists"
    user = user_row(app, user_id)
    assert user.is_anonymous is True and user.email is None
    assert identities(app, user_id) == []


# --- unlinking ------------------------------------------------------------------------------


def _linked_user(app, email: str = "pat@example.com", **columns):
    user_id = make_user(app, email, password=PASSWORD, **columns)
    token = _token(app, email)
    assert "access_token" in fragment(_link(app, token).headers["Location"])
    return user_id, token


def test_unlinking_github(oauth_app, github):
    app = _app(oauth_app, github)
    user_id, token = _linked_user(app)
    github_id = _identity_id(app, user_id, "github")
    answer = _unlink(app, token, github_id)
    assert answer.status_code == 200 and answer.get_json() == {}
    assert [i.provider for i in identities(app, user_id)] == ["email"]
    user = user_row(app, user_id)
    assert user.email == "pat@example.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data["providers"] == ["email"]
    assert user.raw_app_meta_data["provider"] == "email"
    (entry,) = audit_entries(app, "identity_unlinked")
    assert entry["actor_id"] == str(user_id)
    assert entry["traits"] == {"identity_id": str(github_id), "provider": "github",
                               "provider_id": "4242"}


def test_unlinking_the_email_identity_moves_the_email_to_github(oauth_app, github):
    app = _app(oauth_app, github)
    user_id, token = _linked_user(app)
    assert _unlink(app, token, _identity_id(app, user_id, "email")).status_code == 200
    user = user_row(app, user_id)
    # GitHub vouches for its address, so the user stays confirmed.
    assert user.email == "octo@example.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data["providers"] == ["github"]


def test_an_unverified_remaining_email_is_not_confirmed(oauth_app, github):
    github.documents["/api/v3/user/emails"] = [
        {"email": "octo@example.com", "verified": False, "primary": True}]
    app = _app(oauth_app, github)
    user_id, token = _linked_user(app)
    assert _unlink(app, token, _identity_id(app, user_id, "email")).status_code == 200
    user = user_row(app, user_id)
    assert user.email == "octo@example.com" and user.email_confirmed_at is None
    assert user.raw_user_meta_data["email_verified"] is False


def test_an_email_someone_else_has_blocks_the_unlink(oauth_app, github):
    app = _app(oauth_app, github)
    user_id, token = _linked_user(app)
    make_user(app, "octo@example.com")
    email_id = _identity_id(app, user_id, "email")
    answer = _unlink(app, token, email_id)
    assert answer.status_code == 422
    assert _code(answer) == "email_conflict_identity_not_deletable"
    assert [i.provider for i in identities(app, user_id)] == ["email", "github"]
    assert user_row(app, user_id).email == "pat@example.com"
    assert audit_entries(app, "identity_unlinked") == []


def test_an_email_held_in_another_audience_blocks_the_unlink_too(oauth_app, github):
    app = _app(oauth_app, github)
    user_id, token = _linked_user(app)
    update_user(app, make_user(app, "octo@example.com"), aud="other-app")
    answer = _unlink(app, token, _identity_id(app, user_id, "email"))
    assert answer.status_code == 422
    assert _code(answer) == "email_conflict_identity_not_deletable"
    assert [i.provider for i in identities(app, user_id)] == ["email", "github"]
    assert user_row(app, user_id).email == "pat@example.com"


def test_unlinking_the_phone_identity_clears_the_phone(oauth_app, github):
    app = _app(oauth_app, github)
    user_id = make_user(app, "pat@example.com", phone="15550001111", password=PASSWORD)
    answer = _unlink(app, _token(app, "pat@example.com"), _identity_id(app, user_id, "phone"))
    assert answer.status_code == 200
    user = user_row(app, user_id)
    assert user.phone is None and user.phone_confirmed_at is None
    assert user.email == "pat@example.com" and user.email_confirmed_at is not None
    assert [i.provider for i in identities(app, user_id)] == ["email"]


def test_the_last_identity_cannot_be_removed(oauth_app, github):
    app = _app(oauth_app, github)
    user_id = make_user(app, "pat@example.com", password=PASSWORD)
    token = _token(app, "pat@example.com")
    for target in (_identity_id(app, user_id, "email"), uuid.uuid4()):
        answer = _unlink(app, token, target)
        assert answer.status_code == 422
        assert _code(answer) == "single_identity_not_deletable"
    assert len(identities(app, user_id)) == 1


def test_only_own_identities_can_be_removed(oauth_app, github):
    app = _app(oauth_app, github)
    user_id, token = _linked_user(app)
    other = make_user(app, "other@example.com", phone="15550002222")
    for target in (_identity_id(app, other, "email"), uuid.uuid4()):
        answer = _unlink(app, token, target)
        assert answer.status_code == 422
        assert _code(answer) == "identity_not_found"
    assert len(identities(app, other)) == 2 and len(identities(app, user_id)) == 2


def test_bad_identity_ids_are_404_not_500(oauth_app, github):
    app = _app(oauth_app, github)
    user_id, token = _linked_user(app)
    for target in ("not-a-uuid", "authorize", "1%00", "%27%3B--", "x" * 300):
        answer = _unlink(app, token, target)
        assert answer.status_code == 404, target
        assert _code(answer) == "validation_failed"
    assert len(identities(app, user_id)) == 2


def test_the_audience_must_match(oauth_app, github):
    app = _app(oauth_app, github)
    user_id, token = _linked_user(app)
    answer = _unlink(app, token, _identity_id(app, user_id, "github"), **{"X-JWT-AUD": "other"})
    assert answer.status_code == 403
    assert _code(answer) == "unexpected_audience"
    assert len(identities(app, user_id)) == 2


def test_an_unlinked_identity_can_sign_in_as_a_new_account(oauth_app, github):
    github.documents["/api/v3/user/emails"] = [
        {"email": "elsewhere@example.com", "verified": True, "primary": True}]
    app = _app(oauth_app, github)
    user_id, token = _linked_user(app)
    assert _unlink(app, token, _identity_id(app, user_id, "github")).status_code == 200
    answer = Browser(app).sign_in(provider="github")
    assert claims(fragment(answer.headers["Location"])["access_token"])["sub"] != str(user_id)
    assert [i.provider for i in identities(app, user_id)] == ["email"]
    (moved,) = entities(app, sa.select(Identity).where(Identity.provider == "github"))
    assert moved.user_id != user_id
    assert urlsplit(answer.headers["Location"]).fragment
