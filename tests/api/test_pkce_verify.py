"""A PKCE email flow gives its link's session only through the code verifier (issue: abuse
defences, finding 7). Before this defence, POST /verify with the token of the emailed link
returned a session to anyone holding the link (a URL in a history, a log, a proxy), so the flow's
code_challenge protected nothing.

What stays as the official clients expect: GET /verify turns the link into ``?code=``; the flow's
TokenHash (templates, e.g. Supabase's server-side ``verifyOtp({token_hash, type})``) and its typed
code still give a session through POST /verify.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest

from ..conftest import api_for
from ..factories import create_user, mail_to, path_of, query, user_row
from ..support import smtp as smtp_support

CALLBACK = "https://app.example.com/cb"
VERIFIER = secrets.token_urlsafe(48)
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()
                                     ).rstrip(b"=").decode()
PKCE = {"code_challenge": CHALLENGE, "code_challenge_method": "s256"}
# Supabase's SSR guide links to the app, whose server calls verifyOtp({token_hash, type}).
SSR_TEMPLATE = ('<a href="{{ .ConfirmationURL }}">Sign in</a> '
                '<a href="{{ .SiteURL }}/auth/confirm?token_hash={{ .TokenHash }}&type=email">'
                'Confirm</a> <p>Or enter this code: {{ .Token }}</p>')
NEEDS_VERIFIER = {"code": "bad_code_verifier",
                  "message": "This link belongs to a PKCE flow: open it (GET /verify) and "
                             "exchange the code it gives with the code verifier"}


@pytest.fixture
def mail_app(make_mail_app, template_server):
    template_server.pages["/magic.html"] = SSR_TEMPLATE
    return make_mail_app(**{"uri_allow_list": ("https://app.example.com/**",),
                            "mailer.templates": {"magic_link": template_server.url
                                                 + "/magic.html"}})


def _magic_link(app, smtp_server, email: str) -> tuple[str, str, str]:
    """Start a PKCE magic link for ``email``: the emailed link, its TokenHash and the code."""
    response = api_for(app).post(f"/otp?redirect_to={CALLBACK}", json={"email": email, **PKCE})
    assert response.status_code == 200, response.get_json()
    message = mail_to(smtp_server, email)
    link, confirm = smtp_support.links(message)
    token_hash = parse_qs(urlsplit(confirm).query)["token_hash"][0]
    return link, token_hash, smtp_support.code(message)


def _code_from(response) -> str:
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return parse_qs(urlsplit(location).query)["code"][0]


@pytest.mark.parametrize("strip_marker", [False, True])
def test_link_token_through_post_needs_the_verifier(mail_app, mail_api, smtp_server,
                                                    strip_marker):
    email = "pkce.link@example.com"
    create_user(mail_api, email, password="password-123")
    link, _, _ = _magic_link(mail_app, smtp_server, email)
    token = query(link)["token"]
    assert token.startswith("pkce_")
    if strip_marker:
        token = token.removeprefix("pkce_")

    attacker = api_for(mail_app)
    for verify_type in ("magiclink", "email"):
        refused = attacker.post("/verify", json={"type": verify_type, "token_hash": token})
        assert refused.status_code == 400
        assert refused.get_json() == NEEDS_VERIFIER
    assert user_row(mail_app, email).recovery_token != ""

    # The owner's browser: the link gives a code, the verifier turns it into a session.
    owner = api_for(mail_app)
    auth_code = _code_from(owner.get(path_of(link)))
    exchanged = owner.post("/token?grant_type=pkce",
                           json={"auth_code": auth_code, "code_verifier": VERIFIER})
    assert exchanged.status_code == 200, exchanged.get_json()
    assert exchanged.get_json()["user"]["email"] == email


def test_token_hash_of_the_template_still_signs_in_server_side(mail_app, mail_api, smtp_server):
    email = "pkce.ssr@example.com"
    create_user(mail_api, email, password="password-123")
    link, token_hash, _ = _magic_link(mail_app, smtp_server, email)
    assert token_hash.startswith("pkce_") and token_hash != query(link)["token"]

    verified = api_for(mail_app).post("/verify", json={"type": "email",
                                                       "token_hash": token_hash})

    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["user"]["email"] == email
    # One flow, one use: the emailed link is spent with it.
    followed = api_for(mail_app).get(path_of(link))
    assert "error_code=otp_expired" in followed.headers["Location"]


def test_token_hash_through_get_verify_gives_a_code(mail_app, mail_api, smtp_server):
    email = "pkce.get@example.com"
    create_user(mail_api, email, password="password-123")
    _, token_hash, _ = _magic_link(mail_app, smtp_server, email)

    followed = api_for(mail_app).get(
        f"/verify?token={token_hash}&type=magiclink&redirect_to={CALLBACK}")

    auth_code = _code_from(followed)
    exchanged = api_for(mail_app).post("/token?grant_type=pkce",
                                       json={"auth_code": auth_code, "code_verifier": VERIFIER})
    assert exchanged.status_code == 200


def test_typed_code_still_signs_in(mail_app, mail_api, smtp_server):
    email = "pkce.code@example.com"
    create_user(mail_api, email, password="password-123")
    _, _, code = _magic_link(mail_app, smtp_server, email)

    verified = api_for(mail_app).post("/verify", json={"type": "email", "email": email,
                                                       "token": code})

    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["user"]["email"] == email
