"""The official JavaScript client (npm ``@supabase/auth-js``) signing in with SAML over real
HTTP: signInWithSSO by domain (implicit: the session lands in the URL fragment) and by provider
id (PKCE: the landing page exchanges the code with the verifier auth-js kept), and GoTrue's
error as the client returns it. The identity provider is the pysaml2 one of tests/sso; the
browser's part between the client's calls is played by tests/sso's Browser."""

from __future__ import annotations

import pytest

from ..factories import verified_claims

# The SAML site, its identity provider and the browser are tests/sso's fixtures.
from ..sso.conftest import (  # noqa: F401
    DOMAIN,
    SITE,
    browser,
    make_saml_site,
    saml_private_key,
    site,
)
from .test_auth_js_oauth import AuthJs

pytestmark = pytest.mark.live

WELCOME = SITE + "/welcome"


@pytest.fixture
def js(site, auth_js, tmp_path):  # noqa: F811
    driver = AuthJs(auth_js, site.url, tmp_path / "node.log")
    yield driver
    driver.close()


def _url_of(answer: dict) -> str:
    assert answer["error"] is None, answer
    return answer["data"]["url"]


def test_sign_in_with_sso_by_domain(site, browser, js):  # noqa: F811
    provider = site.create_provider()
    js.new("a")
    url = _url_of(js.call("a", "signInWithSSO",
                          {"domain": DOMAIN, "options": {"redirectTo": WELCOME}}))
    assert url.startswith(site.idp.url + "/sso/redirect?SAMLRequest=")
    landed_at = browser.follow(browser.go("GET", url)).headers["Location"]
    assert landed_at.startswith(WELCOME + "#access_token=")
    landed = js.land("a", landed_at)
    assert landed["error"] is None, landed
    session = landed["session"]
    assert session["user"]["email"] == "alice@example.com"
    assert session["user"]["app_metadata"]["provider"] == f"sso:{provider['id']}"
    amr = verified_claims(session["access_token"])["amr"]
    assert amr[0]["method"] == "sso/saml" and amr[0]["provider"] == provider["id"]


def test_sign_in_with_sso_by_provider_id_with_pkce(site, browser, js):  # noqa: F811
    provider = site.create_provider(domains=[])
    js.new("p", "pkce")
    url = _url_of(js.call("p", "signInWithSSO", {"providerId": provider["id"]}))
    landed_at = browser.follow(browser.go("GET", url)).headers["Location"]
    assert landed_at.startswith(SITE + "?code=")
    landed = js.land("p", landed_at)
    assert landed["error"] is None, landed
    assert landed["session"]["user"]["email"] == "alice@example.com"
    assert verified_claims(landed["session"]["access_token"])["amr"][0]["method"] == "sso/saml"
    assert "code=" not in landed["url_after"]


def test_an_unknown_domain_is_the_clients_error(site, js):  # noqa: F811
    site.create_provider()
    js.new("a")
    answer = js.call("a", "signInWithSSO", {"domain": "nobody.example"})
    assert answer["data"] is None
    assert answer["error"]["status"] == 404
    assert answer["error"]["code"] == "sso_provider_not_found"
