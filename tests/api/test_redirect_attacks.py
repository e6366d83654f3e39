"""Redirects an attacker crafts (abuse defences, findings 2 and 6): with the allow-list entry
``https://*.example.com/**``, a redirect_to that a browser reads as another host must end at
the site URL, tokens included; one with a line break must not make a 500 after the link is
spent."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from ..conftest import api_for
from ..factories import create_user, fragment, path_of, query

SITE = "http://localhost:3000"
ALLOW = {"uri_allow_list": ("https://*.example.com/**",)}


@pytest.fixture
def allow_app(make_app):
    return make_app(**ALLOW)


def _magic_link(app, service_role_token, email: str, redirect_to: str) -> dict:
    api = api_for(app, service_role_token)
    create_user(api, email, password="password-123")
    response = api.admin("POST", "/admin/generate_link",
                         json={"type": "magiclink", "email": email, "redirect_to": redirect_to})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.parametrize("evil", [
    "https://evil\uff0ecom\\.example.com/",
    "https://evil.com\\.example.com/",
])
def test_tokens_never_travel_to_a_host_the_allow_list_did_not_match(allow_app,
                                                                     service_role_token, evil):
    link = _magic_link(allow_app, service_role_token, "victim@example.com", evil)
    assert link["redirect_to"] == SITE
    # The link itself names the evil target in its query: /verify judges it again.
    token = query(link["action_link"])["token"]
    response = api_for(allow_app).get(
        f"/verify?token={token}&type=magiclink&redirect_to={quote(evil, safe='')}")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(SITE + "#")
    assert fragment(location)["access_token"]


def test_an_allowed_host_still_gets_its_tokens(allow_app, service_role_token):
    target = "https://app.example.com/welcome"
    link = _magic_link(allow_app, service_role_token, "owner@example.com", target)
    assert link["redirect_to"] == target
    response = api_for(allow_app).get(path_of(link["action_link"]))
    assert response.status_code == 303
    assert response.headers["Location"].startswith(target + "#")


def test_a_line_break_in_redirect_to_is_not_a_500(allow_app, service_role_token):
    link = _magic_link(allow_app, service_role_token, "crlf@example.com",
                       "https://app.example.com/")
    token = query(link["action_link"])["token"]
    injected = quote("https://app.example.com/\r\nSet-Cookie: stolen=1", safe="")
    response = api_for(allow_app).get(
        f"/verify?token={token}&type=magiclink&redirect_to={injected}")
    # The link was spent, so the session it made must reach the user: at the site URL.
    assert response.status_code == 303
    assert response.headers["Location"].startswith(SITE + "#")
    assert fragment(response.headers["Location"])["access_token"]
    assert "Set-Cookie" not in response.headers
