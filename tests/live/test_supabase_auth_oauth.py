"""The official Python client (PyPI ``supabase_auth``) doing OAuth against the server over real
HTTP: sign_in_with_oauth (implicit and PKCE), exchange_code_for_session, sign_in_with_id_token,
link_identity, get_user_identities and unlink_identity (spec oauth-sso.md sections 1, 3, 4).

The providers are fakes on loopback (tests/support/fake_oauth.py); the browser's part of the
dance is played with ``requests`` one hop at a time (oauth_dance.follow), and the URL the
server finally redirects to is handed to the client as a browser would hand it over.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError, AuthImplicitGrantRedirectError

from gotrue_web.models import Session, User

from ..conftest import table_rows
from ..factories import unique_email, verified_claims
from .oauth_dance import (WELCOME, OAuthServers, flow_states, follow, github_fake, google_fake,
                          google_id_token, identity_rows, params)

pytestmark = pytest.mark.live

PASSWORD = "password-123"
LINKING = {"security.manual_linking_enabled": True}
VERIFIER_KEY = "supabase.auth.token-code-verifier"


@pytest.fixture
def github(servers):
    return github_fake(servers)


@pytest.fixture
def google(servers):
    return google_fake(servers)


@pytest.fixture
def start_server(make_app, settings):
    servers = OAuthServers(make_app, settings)
    yield servers.start
    servers.close()


@pytest.fixture
def make_client():
    clients = []

    def build(server, flow_type: str = "implicit") -> SyncGoTrueClient:
        client = SyncGoTrueClient(url=server.url, headers={"apikey": "anon-key"},
                                  auto_refresh_token=False, flow_type=flow_type)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _signed_up(client, email: str) -> str:
    response = client.sign_up({"email": email, "password": PASSWORD})
    assert response.session is not None
    return response.user.id


@pytest.mark.parametrize("prefix", ["", "/auth/v1"], ids=["root", "auth-v1"])
def test_implicit_sign_in_with_oauth_lands_with_the_session_in_the_fragment(
        start_server, make_client, github, prefix):
    server = start_server({"github": github}, prefix=prefix)
    client = make_client(server)
    started = client.sign_in_with_oauth({"provider": "github", "options": {
        "redirect_to": WELCOME, "scopes": "repo"}})
    assert started.provider == "github"
    assert started.url.startswith(server.url + "/authorize?")
    assert _query(started.url) == {"provider": "github", "redirect_to": WELCOME,
                                   "scopes": "repo"}

    landed_at = follow(started.url, server, github)
    assert landed_at.startswith(WELCOME + "#access_token=")
    (authorize,) = github.requests_to("/login/oauth/authorize")
    assert "repo" in authorize["args"]["scope"].split()
    # Implicit: the flow's row is gone once the tokens are handed out.
    assert flow_states(server.app) == []

    client.initialize_from_url(landed_at)
    session = client.get_session()
    assert session is not None
    assert session.provider_token in github.access_tokens
    assert session.provider_refresh_token == "provider-refresh-1"
    user = session.user
    assert user.email == "octo@example.com" and user.email_confirmed_at is not None
    assert user.app_metadata == {"provider": "github", "providers": ["github"]}
    assert [i.provider for i in user.identities] == ["github"]
    assert user.identities[0].identity_data["user_name"] == "octocat"
    claims = verified_claims(session.access_token)
    assert claims["sub"] == user.id
    assert [entry["method"] for entry in claims["amr"]] == ["oauth"]
    assert [(row.provider, row.provider_id, row.email)
            for row in identity_rows(server.app, user.id)] == [
        ("github", "4242", "octo@example.com")]


def test_pkce_sign_in_with_oauth_then_exchange_code_for_session(start_server, make_client,
                                                               github):
    server = start_server({"github": github})
    client = make_client(server, flow_type="pkce")
    started = client.sign_in_with_oauth({"provider": "github",
                                         "options": {"redirect_to": WELCOME}})
    sent = _query(started.url)
    assert sent["code_challenge_method"] == "s256" and sent["code_challenge"]
    # The verifier stays with the client, the challenge goes to the server.
    assert client._storage.get_item(VERIFIER_KEY)

    landed_at = follow(started.url, server, github)
    (flow,) = flow_states(server.app)
    assert landed_at == f"{WELCOME}?code={flow.auth_code}"
    assert flow.user_id is not None and flow.code_challenge_method.value == "s256"
    # The provider never sees our PKCE parameters.
    (authorize,) = github.requests_to("/login/oauth/authorize")
    assert "code_challenge" not in authorize["args"]

    # Someone holding the code but not the verifier gets nothing, and the flow survives.
    stranger = make_client(server, flow_type="pkce")
    with pytest.raises(AuthApiError) as refused:
        stranger.exchange_code_for_session({"auth_code": flow.auth_code,
                                            "code_verifier": "x" * 43})
    assert (refused.value.status, refused.value.code) == (400, "bad_code_verifier")
    assert len(flow_states(server.app)) == 1

    exchanged = client.exchange_code_for_session({"auth_code": params(landed_at)["code"]})
    session = exchanged.session
    assert session.provider_token == flow.provider_access_token
    assert session.provider_refresh_token == "provider-refresh-1"
    assert session.user.id == str(flow.user_id) == exchanged.user.id
    assert session.user.email == "octo@example.com"
    assert client.get_session().access_token == session.access_token
    assert client._storage.get_item(VERIFIER_KEY) is None
    assert flow_states(server.app) == []
    assert table_rows(server.app, sa.select(Session.id)
                      .where(Session.user_id == flow.user_id))[0].id == uuid.UUID(
        verified_claims(session.access_token)["session_id"])

    # The code is single use.
    with pytest.raises(AuthApiError) as again:
        make_client(server, flow_type="pkce").exchange_code_for_session(
            {"auth_code": flow.auth_code, "code_verifier": "y" * 43})
    assert (again.value.status, again.value.code) == (404, "flow_state_not_found")


def test_pkce_through_an_oidc_provider(start_server, make_client, google):
    server = start_server({"google": google})
    client = make_client(server, flow_type="pkce")
    started = client.sign_in_with_oauth({"provider": "google"})
    landed_at = follow(started.url, server, google)
    assert landed_at.startswith("http://localhost:3000?code=")
    exchanged = client.exchange_code_for_session({"auth_code": params(landed_at)["code"]})
    assert exchanged.user.email == "gina@example.com"
    assert [i.provider for i in exchanged.user.identities] == ["google"]
    assert exchanged.session.provider_token in google.access_tokens
    assert [(row.provider, row.provider_id)
            for row in identity_rows(server.app, exchanged.user.id)] == [
        ("google", "google-sub-1")]


def test_a_provider_refusal_reaches_the_client_as_a_redirect_error(start_server, make_client,
                                                                  github):
    github.deny = True
    server = start_server({"github": github})
    client = make_client(server)
    started = client.sign_in_with_oauth({"provider": "github",
                                         "options": {"redirect_to": WELCOME}})
    landed_at = follow(started.url, server, github)
    # The provider's error is echoed without an error_code (spec 1.3, as GoTrue does) ...
    assert landed_at.startswith(WELCOME + "?")
    assert params(landed_at) == {"error": "access_denied", "error_description": "The user said no",
                                 "sb": ""}
    # ... which this client reports as such.
    with pytest.raises(AuthImplicitGrantRedirectError) as refused:
        client.initialize_from_url(landed_at)
    assert refused.value.message == "No error_code detected."
    assert client.get_session() is None
    assert table_rows(server.app, sa.select(User.id)) == []


def test_sign_in_with_id_token(start_server, make_client, google):
    server = start_server({"google": google})
    client = make_client(server)
    token = google_id_token(google, nonce="raw-nonce-1")
    answer = client.sign_in_with_id_token({"provider": "google", "token": token,
                                           "nonce": "raw-nonce-1"})
    session = answer.session
    assert session is not None and session.provider_token is None
    assert answer.user.email == "gina@example.com"
    assert answer.user.app_metadata == {"provider": "google", "providers": ["google"]}
    assert [entry["method"] for entry in verified_claims(session.access_token)["amr"]] == [
        "oauth"]
    assert client.get_session().user.id == answer.user.id
    assert [(row.provider, row.provider_id)
            for row in identity_rows(server.app, answer.user.id)] == [
        ("google", "google-sub-1")]

    # The raw nonce must hash to the token's; the client surfaces the OAuth-shaped refusal.
    with pytest.raises(AuthApiError) as refused:
        make_client(server).sign_in_with_id_token({"provider": "google", "token": token,
                                                   "nonce": "another-nonce"})
    assert refused.value.status == 400
    assert refused.value.message == "Nonces mismatch"
    other = google_id_token(google, nonce="n", aud="someone-else")
    with pytest.raises(AuthApiError) as audience:
        make_client(server).sign_in_with_id_token({"provider": "google", "token": other,
                                                   "nonce": "n"})
    assert audience.value.status == 400
    assert audience.value.message == "Unacceptable audience in id_token: [someone-else]"
    assert len(table_rows(server.app, sa.select(User.id))) == 1


def test_link_identity_get_user_identities_and_unlink_identity(start_server, make_client,
                                                               github):
    server = start_server({"github": github}, **LINKING)
    client = make_client(server)
    email = unique_email("py")
    user_id = _signed_up(client, email)

    started = client.link_identity({"provider": "github", "options": {"redirect_to": WELCOME}})
    assert started.provider == "github"
    # The server answered the URL as JSON (skip_http_redirect): it is the provider's page.
    assert started.url.startswith(github.url + "/login/oauth/authorize?")
    landed_at = follow(started.url, server, github)
    assert landed_at.startswith(WELCOME + "#access_token=")
    client.initialize_from_url(landed_at)
    assert client.get_session().user.id == user_id
    assert client.get_session().provider_token in github.access_tokens

    linked = client.get_user_identities().identities
    assert sorted(i.provider for i in linked) == ["email", "github"]
    assert {i.user_id for i in linked} == {user_id}
    assert [(row.provider, row.provider_id) for row in identity_rows(server.app, user_id)] == [
        ("email", user_id), ("github", "4242")]
    user = client.get_user().user
    assert user.app_metadata["providers"] == ["email", "github"]
    # Manual linking leaves the user's metadata as it was.
    assert "user_name" not in user.user_metadata and user.email == email

    # The same identity again: the callback refuses it and the client raises the redirect error.
    again = client.link_identity({"provider": "github", "options": {"redirect_to": WELCOME}})
    refused_at = follow(again.url, server, github)
    assert params(refused_at)["error_code"] == "identity_already_exists"
    with pytest.raises(AuthImplicitGrantRedirectError) as already:
        make_client(server).initialize_from_url(refused_at)
    assert already.value.message == "Identity is already linked"
    assert already.value.details["code"] == "identity_already_exists"
    assert [row.provider for row in identity_rows(server.app, user_id)] == ["email", "github"]

    # Unlinking the email identity moves the address to the one github has (spec section 4).
    (email_identity,) = [i for i in linked if i.provider == "email"]
    client.unlink_identity(email_identity)
    remaining = client.get_user_identities().identities
    assert [i.provider for i in remaining] == ["github"]
    assert [row.provider for row in identity_rows(server.app, user_id)] == ["github"]
    after = client.get_user().user
    assert after.email == "octo@example.com" and after.email_confirmed_at is not None
    assert after.app_metadata["providers"] == ["github"]

    # The last identity stays.
    with pytest.raises(AuthApiError) as last:
        client.unlink_identity(remaining[0])
    assert (last.value.status, last.value.code) == (422, "single_identity_not_deletable")
    assert [row.provider for row in identity_rows(server.app, user_id)] == ["github"]


def test_link_identity_with_pkce_and_another_users_identity(start_server, make_client, github):
    server = start_server({"github": github}, **LINKING)
    owner = make_client(server, flow_type="pkce")
    owner_id = _signed_up(owner, unique_email("py"))
    started = owner.link_identity({"provider": "github", "options": {"redirect_to": WELCOME}})
    landed_at = follow(started.url, server, github)
    assert landed_at.startswith(WELCOME + "?code=")
    exchanged = owner.exchange_code_for_session({"auth_code": params(landed_at)["code"]})
    assert exchanged.user.id == owner_id
    assert exchanged.session.provider_token in github.access_tokens
    assert sorted(i.provider for i in exchanged.user.identities) == ["email", "github"]
    assert flow_states(server.app) == []

    # Another user tries to link the github account the owner has.
    other = make_client(server, flow_type="pkce")
    other_id = _signed_up(other, unique_email("py"))
    started = other.link_identity({"provider": "github", "options": {"redirect_to": WELCOME}})
    refused_at = follow(started.url, server, github)
    assert params(refused_at)["error_code"] == "identity_already_exists"
    assert params(refused_at)["error_description"] == "Identity is already linked to another user"
    assert [row.provider for row in identity_rows(server.app, other_id)] == ["email"]
    # Another user's identity cannot be unlinked either.
    (owners_github,) = [i for i in exchanged.user.identities if i.provider == "github"]
    assert [i.provider for i in other.get_user_identities().identities] == ["email"]
    # With one identity the count rule answers first (spec 4: before ownership).
    with pytest.raises(AuthApiError) as not_theirs:
        other.unlink_identity(owners_github)
    assert (not_theirs.value.status, not_theirs.value.code) == (
        422, "single_identity_not_deletable")
    assert sorted(row.provider for row in identity_rows(server.app, owner_id)) == [
        "email", "github"]


def test_link_identity_is_refused_when_manual_linking_is_off(start_server, make_client, github):
    server = start_server({"github": github})
    client = make_client(server)
    user_id = _signed_up(client, unique_email("py"))
    with pytest.raises(AuthApiError) as refused:
        client.link_identity({"provider": "github"})
    assert (refused.value.status, refused.value.code) == (404, "manual_linking_disabled")
    assert refused.value.message == "Manual linking is disabled"
    # Unlinking is part of manual linking: refused before any other rule.
    (only,) = client.get_user_identities().identities
    with pytest.raises(AuthApiError) as unlink_refused:
        client.unlink_identity(only)
    assert (unlink_refused.value.status, unlink_refused.value.code) == (
        404, "manual_linking_disabled")
    assert [row.provider for row in identity_rows(server.app, user_id)] == ["email"]
    assert flow_states(server.app) == []
