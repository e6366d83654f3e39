"""Fixtures for the SAML tests: this server served over HTTP with SAML on (its EntityID and ACS
on its real loopback URL), pysaml2's identity provider on another port (tests/support/
fake_saml_idp.py), and a browser that follows redirects and posts the IdP's forms."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import urljoin

import pytest
import requests
from cryptography import x509

from gotrue_web.extensions import db
from gotrue_web.services.sso import service_provider

from ..conftest import ApiClient, ServedApp
from ..support.fake_saml_idp import FakeSAMLIdP, form_of, sp_private_key_setting

SITE = "http://localhost:3000"
DOMAIN = "example.com"


@pytest.fixture(scope="session")
def saml_private_key() -> str:
    return sp_private_key_setting()


def saml_overrides(private_key: str, **overrides) -> dict:
    return {"saml.enabled": True, "saml.private_key": private_key,
            "saml.allow_http_metadata_urls": True, "mailer.autoconfirm": True, **overrides}


@dataclass
class SamlSite:
    """Our app served on ``url``, its admin API client, and the IdP that knows it."""

    app: object
    url: str
    api: ApiClient
    idp: FakeSAMLIdP
    rt: object
    another_idp: object  # () -> a second FakeSAMLIdP that knows this site

    def create_provider(self, **body) -> dict:
        body = {"type": "saml", "metadata_url": self.idp.url + "/metadata",
                "domains": [DOMAIN], **body}
        response = self.api.admin("POST", "/admin/sso/providers", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def sp_certificate(self):
        return service_provider.of(self.rt.settings).certificate


@pytest.fixture
def make_saml_site(make_app, saml_private_key, service_role_token, servers):
    """``make_saml_site(**overrides)``: the app (SAML on) served on a loopback port whose URL is
    its GOTRUE_SAML_EXTERNAL_URL, and a started FakeSAMLIdP given its metadata."""
    started = []

    def build(**overrides) -> SamlSite:
        holder = {}
        served = ServedApp(lambda environ, start: holder["app"](environ, start))
        url = served.url
        app = make_app(**saml_overrides(saml_private_key, **{"saml.external_url": url,
                                                              **overrides}))
        holder["app"] = app
        started.append(served)
        rt = app.extensions["gotrue"]
        metadata = app.test_client().get("/sso/saml/metadata").get_data(as_text=True)
        sp = service_provider.of(rt.settings)

        def another_idp() -> FakeSAMLIdP:
            return servers(FakeSAMLIdP(metadata, sp_certificate=sp.certificate))

        return SamlSite(app=app, url=url, api=ApiClient(app.test_client(), service_role_token),
                        idp=another_idp(), rt=rt, another_idp=another_idp)

    yield build
    for served in started:
        served.stop()


@pytest.fixture
def site(make_saml_site) -> SamlSite:
    return make_saml_site()


class Browser:
    """requests with redirects followed by hand (each hop is looked at), posting IdP forms."""

    def __init__(self):
        self.session = requests.Session()
        self.hops: list[requests.Response] = []

    def go(self, method: str, url: str, **kwargs) -> requests.Response:
        response = self.session.request(method, url, allow_redirects=False, timeout=30,
                                        **kwargs)
        self.hops.append(response)
        return response

    def follow(self, response: requests.Response, *, stop_at: str = SITE) -> requests.Response:
        """Follow redirects and auto-post forms until a Location leads to ``stop_at``."""
        for _ in range(10):
            if response.is_redirect:
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(stop_at):
                    return response
                response = self.go("GET", location)
            elif "<form" in response.text:
                action, fields = form_of(response.text)
                response = self.go("POST", urljoin(response.url, action), data=fields)
            else:
                return response
        raise AssertionError("too many hops")


@pytest.fixture
def browser() -> Browser:
    return Browser()


def rows(app, model, **filters) -> list:
    with app.app_context():
        query = db.session.query(model).filter_by(**filters)
        found = list(query)
        db.session.expunge_all()
        return found


def certificate_of_metadata(text: str) -> x509.Certificate:
    """The first signing certificate of a metadata document."""
    found = re.search(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", text).group(1)
    return x509.load_der_x509_certificate(base64.b64decode(found))
