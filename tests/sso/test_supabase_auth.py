"""The official Python client (PyPI ``supabase_auth``) signing in with SAML over real HTTP:
sign_in_with_sso by domain (implicit) and by provider id (PKCE, then
exchange_code_for_session), and GoTrue's errors as the client raises them. The client has no
admin SSO API, so providers are made through the admin API as in the other tests."""

from __future__ import annotations

import pytest
from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError

from ..factories import verified_claims
from .conftest import DOMAIN, SITE

WELCOME = SITE + "/welcome"


@pytest.fixture
def make_client():
    clients = []

    def build(url: str, flow_type: str = "implicit") -> SyncGoTrueClient:
        client = SyncGoTrueClient(url=url, headers={"apikey": "anon-key"},
                                  auto_refresh_token=False, flow_type=flow_type)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def test_sign_in_with_sso_by_domain(site, browser, make_client):
    provider = site.create_provider()
    client = make_client(site.url)
    started = client.sign_in_with_sso({"domain": DOMAIN,
                                       "options": {"redirect_to": WELCOME}})
    assert started.url.startswith(site.idp.url + "/sso/redirect?SAMLRequest=")
    landed_at = browser.follow(browser.go("GET", started.url)).headers["Location"]
    assert landed_at.startswith(WELCOME + "#access_token=")
    client.initialize_from_url(landed_at)
    session = client.get_session()
    assert session is not None
    user = session.user
    assert user.email == "alice@example.com"
    assert user.app_metadata["provider"] == f"sso:{provider['id']}"
    assert [identity.provider for identity in user.identities] == [f"sso:{provider['id']}"]
    amr = verified_claims(session.access_token)["amr"]
    assert amr[0]["method"] == "sso/saml" and amr[0]["provider"] == provider["id"]
    assert client.get_user().user.id == user.id


def test_sign_in_with_sso_by_provider_id_with_pkce(site, browser, make_client):
    provider = site.create_provider(domains=[])
    client = make_client(site.url, flow_type="pkce")
    started = client.sign_in_with_sso({"provider_id": provider["id"]})
    landed_at = browser.follow(browser.go("GET", started.url)).headers["Location"]
    assert landed_at.startswith(SITE + "?code=")
    code = landed_at.split("code=", 1)[1]
    exchanged = client.exchange_code_for_session({"auth_code": code})
    assert exchanged.session is not None
    assert exchanged.user.email == "alice@example.com"
    assert verified_claims(exchanged.session.access_token)["amr"][0]["method"] == "sso/saml"


def test_errors_reach_the_client(site, make_client):
    site.create_provider()
    client = make_client(site.url)
    with pytest.raises(AuthApiError) as caught:
        client.sign_in_with_sso({"domain": "nobody.example"})
    assert caught.value.code == "sso_provider_not_found"
    assert caught.value.status == 404
